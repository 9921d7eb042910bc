// UserDatabase maps ids and names from passwd/group files first, then asks `lookup` (getent) once
// per unknown key and believes only an answer for the key it asked about. Temp files and a
// recording lookup stand in for /etc and getent.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserDatabase } from '../../src/fs/owners.js';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-owners-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
  // Same id again: getpwuid(1000) answers the first line, alice.
  'alias-of-alice:x:1000:1000::/home/alice:/bin/sh',
  // Same name again: getpwnam answers the first line, 1000.
  'alice:x:1001:1001::/home/other:/bin/sh',
  // Commented out, as admins disable an account: glibc's files backend skips lines starting with '#'.
  '#olduser:x:2000:2000::/home/olduser:/bin/sh',
  '# a comment:x:5:5',
  '',
  'not a passwd line',
  'badid:x:12ab:1::/:/bin/sh',
  'noid:x::1::/:/bin/sh',
  ':x:1500:1::/:/bin/sh',
  // A user whose name is all digits: found by name in the file like any other.
  '4242:x:4300:4300::/:/bin/sh',
  'bob:x:2000:2000::/home/bob:/bin/sh',
  // Leading blanks are skipped, as glibc's files backend does.
  '  indented:x:3500:3500::/:/bin/sh',
].join('\n');

const GROUP = ['#disabled:x:50:', 'root:x:0:', 'staff:x:50:alice,bob', 'wheel:x:10:', 'staff:x:51:', 'bob:x:2000:'].join('\n');

interface Call {
  kind: 'passwd' | 'group';
  key: string;
}

/** A lookup that answers from `answers` (`kind key` → line) and records every call. */
function recordingLookup(answers: Record<string, string> = {}): { calls: Call[]; lookup: (kind: 'passwd' | 'group', key: string) => string | undefined } {
  const calls: Call[] = [];
  return {
    calls,
    lookup: (kind, key) => {
      calls.push({ kind, key });
      return answers[`${kind} ${key}`];
    },
  };
}

async function files(passwd: string, group: string): Promise<{ passwdFile: string; groupFile: string }> {
  const dir = await fs.mkdtemp(path.join(tmp, 'db-'));
  const passwdFile = path.join(dir, 'passwd');
  const groupFile = path.join(dir, 'group');
  await fs.writeFile(passwdFile, passwd);
  await fs.writeFile(groupFile, group);
  return { passwdFile, groupFile };
}

describe('UserDatabase from the files', () => {
  it('names by id and ids by name, the first line winning, without asking lookup', async () => {
    const { calls, lookup } = recordingLookup();
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    expect([db.userName(0), db.userName(1000)]).toEqual(['root', 'alice']);
    expect([db.uidOf('root'), db.uidOf('alice'), db.uidOf('alias-of-alice'), db.uidOf('bob')]).toEqual([0, 1000, 1000, 2000]);
    expect([db.groupName(0), db.groupName(50), db.groupName(10), db.groupName(51), db.groupName(2000)]).toEqual(['root', 'staff', 'wheel', 'staff', 'bob']);
    expect([db.gidOf('staff'), db.gidOf('wheel'), db.gidOf('bob')]).toEqual([50, 10, 2000]);
    // The second "alice" line (id 1001) is found by its id: only the name was taken.
    expect(db.userName(1001)).toBe('alice');
    expect(db.uidOf('4242')).toBe(4300);
    expect(db.userName(4300)).toBe('4242');
    expect([db.userName(3500), db.uidOf('indented')]).toEqual(['indented', 3500]);
    expect(calls).toEqual([]);
  });

  it('users and groups are separate tables: a group name is not a user name', async () => {
    const { calls, lookup } = recordingLookup();
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    expect(db.uidOf('staff')).toBeUndefined();
    expect(db.gidOf('alice')).toBeUndefined();
    expect(db.groupName(1000)).toBeUndefined();
    expect(calls).toEqual([
      { kind: 'passwd', key: 'staff' },
      { kind: 'group', key: 'alice' },
      { kind: 'group', key: '1000' },
    ]);
  });

  it('a commented-out line is not an entry: the uncommented line for the same id wins', async () => {
    const { calls, lookup } = recordingLookup();
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    expect(db.userName(2000)).toBe('bob');
    expect(db.uidOf('bob')).toBe(2000);
    expect(db.groupName(50)).toBe('staff');
    expect(calls).toEqual([]);
    expect(db.uidOf('#olduser')).toBeUndefined();
    expect(db.uidOf('olduser')).toBeUndefined();
    expect(calls.map((c) => c.key)).toEqual(['#olduser', 'olduser']);
  });

  it('lines that are not entries (comments, empty name or id, an id with letters) are not entries', async () => {
    const { calls, lookup } = recordingLookup();
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    expect(db.uidOf('badid')).toBeUndefined();
    expect(db.uidOf('noid')).toBeUndefined();
    expect(db.userName(1500)).toBeUndefined();
    expect(db.userName(5)).toBeUndefined();
    expect(db.uidOf('# a comment')).toBeUndefined();
    expect(calls.map((c) => c.key)).toEqual(['badid', 'noid', '1500', '5', '# a comment']);
  });
});

describe('UserDatabase asking lookup', () => {
  it('an unknown id is asked once, with its kind, and the answer is cached', async () => {
    const { calls, lookup } = recordingLookup({
      'passwd 7000': 'ldapuser:*:7000:7000:LDAP:/home/ldapuser:/bin/sh',
      'group 7000': 'ldapgroup:*:7000:ldapuser',
    });
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    for (let i = 0; i < 3; i++) {
      expect(db.userName(7000)).toBe('ldapuser');
      expect(db.groupName(7000)).toBe('ldapgroup');
    }
    expect(calls).toEqual([
      { kind: 'passwd', key: '7000' },
      { kind: 'group', key: '7000' },
    ]);
  });

  it('an unknown name is asked once and cached', async () => {
    const { calls, lookup } = recordingLookup({ 'passwd carol': 'carol:x:3000:3000::/home/carol:/bin/sh', 'group devs': 'devs:x:3100:carol' });
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    for (let i = 0; i < 3; i++) {
      expect(db.uidOf('carol')).toBe(3000);
      expect(db.gidOf('devs')).toBe(3100);
    }
    expect(calls).toEqual([
      { kind: 'passwd', key: 'carol' },
      { kind: 'group', key: 'devs' },
    ]);
  });

  it('a miss is cached too: a second question about the same id or name does not ask again', async () => {
    const { calls, lookup } = recordingLookup();
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    for (let i = 0; i < 3; i++) {
      expect(db.userName(9999)).toBeUndefined();
      expect(db.groupName(9999)).toBeUndefined();
      expect(db.uidOf('nobody-here')).toBeUndefined();
      expect(db.gidOf('nobody-here')).toBeUndefined();
    }
    expect(calls).toEqual([
      { kind: 'passwd', key: '9999' },
      { kind: 'group', key: '9999' },
      { kind: 'passwd', key: 'nobody-here' },
      { kind: 'group', key: 'nobody-here' },
    ]);
  });

  it('a numeric "name" never goes to lookup (getent would read it as an id)', async () => {
    // getent would answer "1000" with alice's line; the name "1000" is not alice.
    const { calls, lookup } = recordingLookup({ 'passwd 1000': 'alice:x:1000:1000::/:/bin/sh', 'group 50': 'staff:x:50:' });
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    expect(db.uidOf('1000')).toBeUndefined();
    expect(db.gidOf('50')).toBeUndefined();
    expect(db.uidOf('0')).toBeUndefined();
    expect(calls).toEqual([]);
    // Not all digits: asked.
    expect(db.uidOf('1000a')).toBeUndefined();
    expect(calls).toEqual([{ kind: 'passwd', key: '1000a' }]);
  });

  it.each<[string, string]>([
    ['an entry with another id', 'eve:x:8001:8001::/:/bin/sh'],
    ['an entry with the id as a prefix', 'eve:x:80000:80000::/:/bin/sh'],
    ['a line that is not an entry', 'garbage'],
    ['an empty answer', ''],
  ])('an answer for an id that is %s is ignored (and cached as a miss)', async (_, answer) => {
    const { calls, lookup } = recordingLookup({ 'passwd 8000': answer, 'group 8000': answer });
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    expect(db.userName(8000)).toBeUndefined();
    expect(db.groupName(8000)).toBeUndefined();
    expect(db.userName(8000)).toBeUndefined();
    expect(calls).toHaveLength(2);
  });

  it.each<[string, string]>([
    ['another name (LDAP matching without case)', 'Frank:x:8100:8100::/:/bin/sh'],
    ['a name with the asked one as a prefix', 'frankie:x:8100:8100::/:/bin/sh'],
    ['an entry whose id has letters', 'frank:x:81x0:1::/:/bin/sh'],
  ])('an answer for a name that is %s is ignored', async (_, answer) => {
    const { calls, lookup } = recordingLookup({ 'passwd frank': answer, 'group frank': answer });
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    expect(db.uidOf('frank')).toBeUndefined();
    expect(db.gidOf('frank')).toBeUndefined();
    expect(db.uidOf('frank')).toBeUndefined();
    expect(calls).toHaveLength(2);
  });

  it('a name found through lookup may differ from the file for another id: each question gets its own answer', async () => {
    const { lookup } = recordingLookup({ 'passwd 6000': 'remote:x:6000:6000::/:/bin/sh' });
    const db = new UserDatabase({ ...(await files(PASSWD, GROUP)), lookup });
    expect(db.userName(6000)).toBe('remote');
    expect(db.userName(1000)).toBe('alice');
  });
});

describe('UserDatabase without files', () => {
  it('missing passwd and group files: every question goes to lookup', async () => {
    const { calls, lookup } = recordingLookup({
      'passwd 0': 'root:x:0:0:root:/root:/bin/bash',
      'passwd root': 'root:x:0:0:root:/root:/bin/bash',
      'group 0': 'root:x:0:',
      'group wheel': 'wheel:x:10:',
    });
    const missing = path.join(tmp, 'does-not-exist');
    const db = new UserDatabase({ passwdFile: path.join(missing, 'passwd'), groupFile: path.join(missing, 'group'), lookup });
    expect(db.userName(0)).toBe('root');
    expect(db.uidOf('root')).toBe(0);
    expect(db.groupName(0)).toBe('root');
    expect(db.gidOf('wheel')).toBe(10);
    expect(db.userName(1000)).toBeUndefined();
    expect(calls).toEqual([
      { kind: 'passwd', key: '0' },
      { kind: 'passwd', key: 'root' },
      { kind: 'group', key: '0' },
      { kind: 'group', key: 'wheel' },
      { kind: 'passwd', key: '1000' },
    ]);
  });

  it('a directory where the file should be counts as missing', async () => {
    const { calls, lookup } = recordingLookup({ 'passwd 0': 'root:x:0:0::/:/bin/sh' });
    const db = new UserDatabase({ passwdFile: tmp, groupFile: tmp, lookup });
    expect(db.userName(0)).toBe('root');
    expect(calls).toEqual([{ kind: 'passwd', key: '0' }]);
  });
});
