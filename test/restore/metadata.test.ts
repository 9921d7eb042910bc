// Owners on restore: by name when the name exists on this system, else by number, as GNU tar does; --numeric-owner uses numbers only.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserDatabase } from '../../src/fs/owners.js';
import { MetadataWriter } from '../../src/restore/metadata.js';

let dir: string;
let users: UserDatabase;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-owners-'));
  // This "target system" gives the names other numbers than the backed-up one had.
  await fs.writeFile(path.join(dir, 'passwd'), 'root:x:0:0::/root:/bin/sh\npostgres:x:26:26::/var/lib/pgsql:/bin/sh\ncassatt:x:501:501::/home/cassatt:/bin/sh\n');
  await fs.writeFile(path.join(dir, 'group'), 'root:x:0:\npostgres:x:26:\ncassatt:x:501:\n');
  users = new UserDatabase({ passwdFile: path.join(dir, 'passwd'), groupFile: path.join(dir, 'group'), lookup: () => undefined });
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('MetadataWriter.ownerOf', () => {
  const cases = [
    { what: 'names that exist here win over the recorded numbers', entry: { uid: 113, gid: 120, uname: 'postgres', gname: 'postgres' }, expected: { uid: 26, gid: 26 } },
    { what: 'a name unknown here keeps its number', entry: { uid: 1001, gid: 1001, uname: 'olduser', gname: 'oldgroup' }, expected: { uid: 1001, gid: 1001 } },
    { what: 'no recorded name (a format-1 entry, or an id without a name) keeps the number', entry: { uid: 4242, gid: 4343 }, expected: { uid: 4242, gid: 4343 } },
    { what: 'user and group are mapped apart', entry: { uid: 1000, gid: 1000, uname: 'cassatt', gname: 'nogroup-here' }, expected: { uid: 501, gid: 1000 } },
  ];
  for (const { what, entry, expected } of cases) {
    it(what, () => {
      expect(new MetadataWriter({ owners: true, numericOwner: false, xattrs: true, users }).ownerOf(entry)).toEqual(expected);
    });
  }

  it('--numeric-owner keeps the recorded numbers even when the names exist', () => {
    const writer = new MetadataWriter({ owners: true, numericOwner: true, xattrs: true, users });
    expect(writer.ownerOf({ uid: 113, gid: 120, uname: 'postgres', gname: 'postgres' })).toEqual({ uid: 113, gid: 120 });
  });
});
