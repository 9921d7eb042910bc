// aclText turns the kernel's binary POSIX ACL (system.posix_acl_access / _default) into the text
// GNU tar stores in SCHILY.acl.*: checked on values built byte by byte, against getfacl on real
// files, and on values that are not ACLs.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aclText } from '../../src/format/acl.js';
import { readXattrs } from '../../src/fs/xattrs.js';

const USER_OBJ = 0x01;
const USER = 0x02;
const GROUP_OBJ = 0x04;
const GROUP = 0x08;
const MASK = 0x10;
const OTHER = 0x20;
const UNDEFINED = 0xffffffff;

/** One entry: tag, permission bits (r 4, w 2, x 1), qualifier (UNDEFINED for the *_OBJ, MASK and OTHER entries). */
type Entry = [tag: number, perm: number, id?: number];

/** The kernel's form: u32 LE version, then per entry u16 LE tag, u16 LE perm, u32 LE id. */
function aclValue(entries: Entry[], version = 2): Buffer {
  const value = Buffer.alloc(4 + 8 * entries.length);
  value.writeUInt32LE(version, 0);
  for (const [i, [tag, perm, id = UNDEFINED]] of entries.entries()) {
    value.writeUInt16LE(tag, 4 + 8 * i);
    value.writeUInt16LE(perm, 6 + 8 * i);
    value.writeUInt32LE(id, 8 + 8 * i);
  }
  return value;
}

const MINIMAL: Entry[] = [
  [USER_OBJ, 6],
  [GROUP_OBJ, 4],
  [OTHER, 4],
];

describe('aclText on values built byte by byte', () => {
  it.each<[string, Entry[], string]>([
    ['the three base entries', MINIMAL, 'user::rw-\ngroup::r--\nother::r--\n'],
    [
      'every permission combination on one entry each',
      [
        [USER_OBJ, 7],
        [GROUP_OBJ, 5],
        [OTHER, 0],
      ],
      'user::rwx\ngroup::r-x\nother::---\n',
    ],
    [
      'w alone and x alone',
      [
        [USER_OBJ, 2],
        [GROUP_OBJ, 1],
        [OTHER, 3],
      ],
      'user::-w-\ngroup::--x\nother::-wx\n',
    ],
    [
      'named user and group with a mask',
      [
        [USER_OBJ, 6],
        [USER, 5, 1000],
        [GROUP_OBJ, 4],
        [GROUP, 7, 50],
        [MASK, 7],
        [OTHER, 4],
      ],
      'user::rw-\nuser:1000:r-x\ngroup::r--\ngroup:50:rwx\nmask::rwx\nother::r--\n',
    ],
    [
      'qualifier 0 is printed, not dropped',
      [
        [USER_OBJ, 6],
        [USER, 4, 0],
        [GROUP_OBJ, 4],
        [GROUP, 4, 0],
        [MASK, 4],
        [OTHER, 0],
      ],
      'user::rw-\nuser:0:r--\ngroup::r--\ngroup:0:r--\nmask::r--\nother::---\n',
    ],
    [
      'the largest qualifier that is an id (0xFFFFFFFE)',
      [
        [USER_OBJ, 6],
        [USER, 4, 0xfffffffe],
        [GROUP_OBJ, 4],
        [MASK, 4],
        [OTHER, 4],
      ],
      'user::rw-\nuser:4294967294:r--\ngroup::r--\nmask::r--\nother::r--\n',
    ],
    // A stray id on an entry that takes none (the kernel writes UNDEFINED there) is not printed.
    [
      'an id on USER_OBJ, GROUP_OBJ, MASK, OTHER is ignored',
      [
        [USER_OBJ, 6, 5],
        [GROUP_OBJ, 4, 6],
        [MASK, 4, 7],
        [OTHER, 4, 8],
      ],
      'user::rw-\ngroup::r--\nmask::r--\nother::r--\n',
    ],
    // Only r, w, x count: higher permission bits are not part of the text form.
    [
      'bits above rwx are ignored',
      [
        [USER_OBJ, 0xfff8 | 6],
        [GROUP_OBJ, 0x10 | 4],
        [OTHER, 0x8],
      ],
      'user::rw-\ngroup::r--\nother::---\n',
    ],
    [
      'entries are printed in stored order',
      [
        [OTHER, 4],
        [USER, 1, 7],
        [USER_OBJ, 6],
      ],
      'other::r--\nuser:7:--x\nuser::rw-\n',
    ],
    ['no entries at all', [], ''],
  ])('%s', (_, entries, text) => {
    expect(aclText(aclValue(entries))).toBe(text);
  });
});

describe('aclText refuses what is not a version-2 ACL', () => {
  const good = aclValue([
    [USER_OBJ, 6],
    [USER, 5, 1000],
    [GROUP_OBJ, 4],
    [MASK, 5],
    [OTHER, 4],
  ]);
  it.each<[string, Buffer]>([
    ['an empty value', Buffer.alloc(0)],
    ['a value shorter than the version', Buffer.from([2, 0, 0])],
    ['version 1', aclValue(MINIMAL, 1)],
    ['version 3', aclValue(MINIMAL, 3)],
    ['version 2 big-endian', Buffer.concat([Buffer.from([0, 0, 0, 2]), aclValue(MINIMAL).subarray(4)])],
    ['an entry cut short by one byte', good.subarray(0, good.length - 1)],
    ['an entry cut after its tag', good.subarray(0, 4 + 8 + 2)],
    ['one byte too many', Buffer.concat([good, Buffer.from([0])])],
    [
      'an unknown tag (0x40)',
      aclValue([
        [USER_OBJ, 6],
        [0x40, 4],
        [OTHER, 4],
      ]),
    ],
    [
      'tag 0 (ACL_UNDEFINED_TAG)',
      aclValue([
        [USER_OBJ, 6],
        [0, 4],
        [OTHER, 4],
      ]),
    ],
    [
      'two tag bits at once (USER_OBJ | USER)',
      aclValue([
        [USER_OBJ | USER, 6],
        [OTHER, 4],
      ]),
    ],
    ['an unknown tag as the last entry', aclValue([...MINIMAL, [0x8000, 7]])],
    ['text, not binary', Buffer.from('user::rw-\ngroup::r--\nother::r--\n')],
  ])('%s → undefined', (_, value) => {
    expect(aclText(value)).toBeUndefined();
  });
});

describe('aclText on the ACLs the kernel stores for setfacl', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-acl-'));
  });
  afterAll(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  /** What getfacl prints for one ACL of a path: numeric ids, no header, no "#effective" comments. */
  async function getfacl(file: string, which: '--access' | '--default'): Promise<string> {
    const { stdout } = await execa('getfacl', ['-n', '--omit-header', '--no-effective', which, file], { stripFinalNewline: false });
    // getfacl ends its listing with an empty line; aclText does not.
    return stdout.replace(/\n\n$/, '\n');
  }

  /** The raw value, through `getfattr -e hex` (independent of the addon). */
  async function rawFromGetfattr(file: string, name: string): Promise<Buffer> {
    const { stdout } = await execa('getfattr', ['-h', '--absolute-names', '-e', 'hex', '-n', name, file]);
    const hex = /=0x([0-9a-f]+)$/m.exec(stdout)?.[1];
    expect(hex, stdout).toBeDefined();
    return Buffer.from(hex!, 'hex');
  }

  it.each<[string, string[]]>([
    ['a named user with a mask that restricts it', ['-m', 'u:1234:rwx,m::r-x']],
    ['named users and groups, ids out of order, one of them 0', ['-m', 'u:4000:r,g:300:rw,u:0:x,g:0:-,u:70000:rwx']],
    ['a group entry only', ['-m', 'g:65534:rx']],
    ['a large id', ['-m', 'u:4294967294:r']],
  ])('access ACL with %s: same text as getfacl -n', async (name, args) => {
    const file = path.join(tmp, name.replace(/\W+/g, '-'));
    await fs.writeFile(file, '');
    await execa('setfacl', [...args, file]);
    const raw = readXattrs(file).xattrs.find(([n]) => n === 'system.posix_acl_access')?.[1];
    expect(raw).toBeDefined();
    expect(raw!.equals(await rawFromGetfattr(file, 'system.posix_acl_access'))).toBe(true);
    const expected = await getfacl(file, '--access');
    expect(expected).toMatch(/^user::/);
    expect(aclText(raw!)).toBe(expected);
  });

  it('default ACL of a directory: same text as getfacl -n --default', async () => {
    const dir = path.join(tmp, 'default-acl');
    await fs.mkdir(dir);
    await execa('setfacl', ['-d', '-m', 'u:1234:rwx,g:5678:r-x,o::-', dir]);
    await execa('setfacl', ['-m', 'u:42:r', dir]);
    const xattrs = new Map(readXattrs(dir).xattrs);
    const access = xattrs.get('system.posix_acl_access');
    const def = xattrs.get('system.posix_acl_default');
    expect(def!.equals(await rawFromGetfattr(dir, 'system.posix_acl_default'))).toBe(true);
    expect(aclText(def!)).toBe(await getfacl(dir, '--default'));
    expect(aclText(def!)).toBe('user::rwx\nuser:1234:rwx\ngroup::r-x\ngroup:5678:r-x\nmask::rwx\nother::---\n');
    expect(aclText(access!)).toBe(await getfacl(dir, '--access'));
  });
});
