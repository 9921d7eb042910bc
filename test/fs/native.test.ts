// The native addon (src/fs/native.ts) and readXattrs/writeXattrs (src/fs/xattrs.ts) on real files:
// byte paths that are not UTF-8, descriptors, symlinks themselves, binary values, errno codes,
// mknod; checked against getfattr/setfattr, setfacl and setcap. Runs as root (trusted.*,
// security.*, mknod of a device), here and in CI.

import { execFileSync } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getXattr, listXattrNames, makeNode, setXattr } from '../../src/fs/native.js';
import { readXattrs, writeXattrs } from '../../src/fs/xattrs.js';

let tmp: string;
let tmpBytes: Buffer;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-native-'));
  tmpBytes = Buffer.from(tmp);
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** `<tmp>/<name>` as bytes, so that `name` may be any bytes. */
const at = (name: Buffer | string): Buffer => Buffer.concat([tmpBytes, Buffer.from('/'), typeof name === 'string' ? Buffer.from(name) : name]);

/** A fresh empty file at `<tmp>/<name>`; returns its byte path. */
function file(name: Buffer | string): Buffer {
  const p = at(name);
  fsSync.writeFileSync(p, '');
  return p;
}

/**
 * What `getfattr -h -d -m - -e hex` reports for the entries of `tmp` whose names match the shell
 * glob `glob` (a glob, because a name that is not UTF-8 cannot be passed as an argument string):
 * attribute name (getfattr's escaping) → value bytes, per file in getfattr's order.
 */
async function getfattr(glob: string, follow = false): Promise<Map<string, Buffer>> {
  const { stdout } = await execa('sh', ['-c', `getfattr ${follow ? '' : '-h'} -d -m - -e hex ${glob}`], { cwd: tmp });
  const attributes = new Map<string, Buffer>();
  for (const line of stdout.split('\n')) {
    const m = /^(.+?)=0x([0-9a-f]*)$/.exec(line);
    if (m) attributes.set(m[1]!, Buffer.from(m[2]!, 'hex'));
  }
  return attributes;
}

/** The error `call` throws. */
function thrown(call: () => unknown): NodeJS.ErrnoException {
  try {
    call();
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
  throw new Error('expected the call to throw');
}

const names = (target: Buffer | string | number): string[] => listXattrNames(target).map((n) => n.toString());

describe('a byte path that is not UTF-8', () => {
  const latin1 = Buffer.from('latin1-\xe9.txt', 'latin1');

  it('list, get and set reach the file by its exact bytes; getfattr sees the same attributes', async () => {
    const p = file(latin1);
    expect(fsSync.readdirSync(tmpBytes, { encoding: 'buffer' }).some((n) => n.equals(latin1))).toBe(true);
    setXattr(p, 'user.one', Buffer.from('first'));
    setXattr(p, 'user.two', Buffer.from([0, 1, 0xff, 0]));
    expect(names(p).sort()).toEqual(['user.one', 'user.two']);
    expect(getXattr(p, 'user.one').toString()).toBe('first');
    expect(getXattr(p, 'user.two')).toEqual(Buffer.from([0, 1, 0xff, 0]));
    const seen = await getfattr('latin1-*.txt');
    expect([...seen.keys()].sort()).toEqual(['user.one', 'user.two']);
    expect(seen.get('user.two')).toEqual(Buffer.from([0, 1, 0xff, 0]));
  });

  it('reads what setfattr wrote at those bytes', async () => {
    const p = file(Buffer.from('set-by-setfattr-\xff\xfe', 'latin1'));
    await execa('sh', ['-c', 'setfattr -n user.from-setfattr -v 0x00ff7f0080 set-by-setfattr-*'], { cwd: tmp });
    expect(getXattr(p, 'user.from-setfattr')).toEqual(Buffer.from([0, 0xff, 0x7f, 0, 0x80]));
  });

  it('the string the bytes decode to names another file: ENOENT', () => {
    const p = file(Buffer.from('decoded-\xe9', 'latin1'));
    setXattr(p, 'user.here', Buffer.from('x'));
    const decoded = p.toString(); // 'decoded-\uFFFD'
    expect(thrown(() => getXattr(decoded, 'user.here')).code).toBe('ENOENT');
    expect(thrown(() => listXattrNames(decoded)).code).toBe('ENOENT');
  });
});

describe('a descriptor', () => {
  it('list, get and set act on the open file, even after its name is gone', async () => {
    const p = file('by-fd');
    const fd = fsSync.openSync(p, 'r');
    try {
      setXattr(fd, 'user.fd', Buffer.from('on the fd'));
      expect((await getfattr('by-fd')).get('user.fd')?.toString()).toBe('on the fd');
      fsSync.unlinkSync(p);
      setXattr(fd, 'trusted.after-unlink', Buffer.from([0, 0]));
      expect(names(fd).sort()).toEqual(['trusted.after-unlink', 'user.fd']);
      expect(getXattr(fd, 'trusted.after-unlink')).toEqual(Buffer.from([0, 0]));
      expect(readXattrs(fd)).toEqual({ xattrs: listXattrNames(fd).map((n) => [n.toString(), getXattr(fd, n.toString())]), problems: [] });
    } finally {
      fsSync.closeSync(fd);
    }
  });

  it('a closed descriptor: EBADF', () => {
    const fd = fsSync.openSync(file('closed-fd'), 'r');
    fsSync.closeSync(fd);
    expect(thrown(() => listXattrNames(fd)).code).toBe('EBADF');
    expect(thrown(() => getXattr(fd, 'user.x')).code).toBe('EBADF');
    expect(thrown(() => setXattr(fd, 'user.x', Buffer.from('x'))).code).toBe('EBADF');
  });
});

describe('a symlink itself, not its target', () => {
  it('trusted.x set on the link is on the link (getfattr -h) and not on the target', async () => {
    const target = file('sl-target');
    const link = at('sl-link');
    fsSync.symlinkSync('sl-target', link);
    setXattr(target, 'trusted.on-target', Buffer.from('t'));
    setXattr(link, 'trusted.x', Buffer.from('on the link'));
    expect((await getfattr('sl-link')).get('trusted.x')?.toString()).toBe('on the link');
    expect((await getfattr('sl-link')).has('trusted.on-target')).toBe(false);
    expect((await getfattr('sl-target')).has('trusted.x')).toBe(false);
    // getfattr without -h follows the link: it sees the target's attributes only.
    expect([...(await getfattr('sl-link', true)).keys()]).toEqual(['trusted.on-target']);
    expect(names(link)).toEqual(['trusted.x']);
    expect(names(target)).toEqual(['trusted.on-target']);
    expect(getXattr(link, 'trusted.x').toString()).toBe('on the link');
    expect(thrown(() => getXattr(link, 'trusted.on-target')).code).toBe('ENODATA');
    expect(readXattrs(link)).toEqual({ xattrs: [['trusted.x', Buffer.from('on the link')]], problems: [] });
  });

  it('a dangling symlink has attributes of its own', async () => {
    const link = at('dangling');
    fsSync.symlinkSync('no-such-target', link);
    setXattr(link, 'trusted.dangling', Buffer.from('d'));
    expect(names(link)).toEqual(['trusted.dangling']);
    expect((await getfattr('dangling')).get('trusted.dangling')?.toString()).toBe('d');
  });

  it('user.* on a symlink is refused by the kernel: EPERM', () => {
    const link = at('sl-user');
    fsSync.symlinkSync('sl-target', link);
    expect(thrown(() => setXattr(link, 'user.x', Buffer.from('x'))).code).toBe('EPERM');
    expect(
      writeXattrs(link, [
        ['trusted.ok', Buffer.from('1')],
        ['user.x', Buffer.from('x')],
        ['trusted.ok2', Buffer.from('2')],
      ]),
    ).toEqual([{ name: 'user.x', code: 'EPERM' }]);
    expect(names(link).sort()).toEqual(['trusted.ok', 'trusted.ok2']);
  });
});

describe('values', () => {
  it.each<[string, Buffer]>([
    ['NUL bytes only', Buffer.alloc(7)],
    ['NUL at both ends and in the middle', Buffer.from([0, 0x41, 0, 0x42, 0])],
    ['every byte value', Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
    ['empty', Buffer.alloc(0)],
    ['3000 bytes', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256))],
  ])('%s: stored and read back exactly, as getfattr sees it', async (name, value) => {
    const label = `value-${name.replace(/\W+/g, '-')}`;
    const p = file(label);
    setXattr(p, 'user.v', value);
    expect(getXattr(p, 'user.v').equals(value)).toBe(true);
    expect((await getfattr(label)).get('user.v')?.equals(value)).toBe(true);
    expect(readXattrs(p).xattrs).toEqual([['user.v', value]]);
  });

  it('a value that grows from empty while it is read comes back as one of its values, never as other memory', async () => {
    // getXattr asks the size, then reads. Another process flips the value between empty and 3000
    // bytes; an answer "0 bytes" followed by a read of a 3000-byte value must not copy 3000 bytes
    // out of a 1-byte buffer (it did: the reads returned heap memory, about 1 in 150 here).
    const p = file('growing');
    const big = Buffer.alloc(3000, 'V');
    setXattr(p, 'user.grow', Buffer.alloc(0));
    const flipper = execa(
      'python3',
      [
        '-c',
        [
          'import os, sys',
          "p, big = sys.argv[1], b'V' * 3000",
          'print("ready", flush=True)',
          'while True:',
          "    os.setxattr(p, 'user.grow', b'')",
          "    os.setxattr(p, 'user.grow', big)",
        ].join('\n'),
        p.toString(),
      ],
      { reject: false },
    );
    try {
      await new Promise<void>((resolve) => flipper.stdout!.once('data', () => resolve()));
      const seen = { empty: 0, full: 0, other: 0 };
      // Until both values were seen often enough, or 20 s: on a loaded machine the flipper may
      // get little CPU, so a fixed number of reads could all fall between two of its writes.
      const deadline = Date.now() + 20_000;
      while ((seen.empty < 200 || seen.full < 200) && Date.now() < deadline) {
        for (let i = 0; i < 5_000; i++) {
          const value = getXattr(p, 'user.grow');
          if (value.length === 0) seen.empty++;
          else if (value.equals(big)) seen.full++;
          else seen.other++;
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      // Both values were read, so the reads did race with the writes.
      expect(seen.empty).toBeGreaterThan(0);
      expect(seen.full).toBeGreaterThan(0);
      expect(seen.other).toBe(0);
    } finally {
      flipper.kill();
      await flipper;
    }
  });

  it('setting again replaces the value, a shorter one included', () => {
    const p = file('replace');
    setXattr(p, 'user.r', Buffer.from('a long first value'));
    setXattr(p, 'user.r', Buffer.from([0]));
    expect(getXattr(p, 'user.r')).toEqual(Buffer.from([0]));
  });
});

describe('errors carry the errno name as `code`', () => {
  it.each<[string, () => unknown, string[]]>([
    ['list on a missing path', () => listXattrNames(at('missing')), ['ENOENT']],
    ['get on a missing path', () => getXattr(at('missing'), 'user.x'), ['ENOENT']],
    ['set on a missing path', () => setXattr(at('missing'), 'user.x', Buffer.from('x')), ['ENOENT']],
    ['a path through a file', () => listXattrNames(at('errors-file/below')), ['ENOTDIR']],
    ['an attribute that is not there', () => getXattr(at('errors-file'), 'user.absent'), ['ENODATA']],
    ['a name without a namespace', () => setXattr(at('errors-file'), 'nonamespace', Buffer.from('x')), ['EOPNOTSUPP', 'ENOTSUP']],
    ['an unknown namespace', () => setXattr(at('errors-file'), 'bogus.x', Buffer.from('x')), ['EOPNOTSUPP', 'ENOTSUP']],
    ['a name over 255 bytes', () => setXattr(at('errors-file'), `user.${'n'.repeat(300)}`, Buffer.from('x')), ['ERANGE']],
    ['mknod where something exists', () => makeNode(at('errors-file'), fsSync.constants.S_IFIFO | 0o644, 0, 0), ['EEXIST']],
  ])('%s', (_, call, codes) => {
    file('errors-file');
    const error = thrown(call);
    expect(error).toBeInstanceOf(Error);
    expect(codes).toContain(error.code);
    // The code names the errno the addon reported.
    expect(os.constants.errno[error.code as keyof typeof os.constants.errno]).toBe(error.errno);
  });

  it.each<[string, () => unknown]>([
    ['an empty path', () => listXattrNames(Buffer.alloc(0))],
    ['a path with a NUL byte', () => getXattr(Buffer.from('a\0b'), 'user.x')],
    ['a negative descriptor', () => listXattrNames(-1)],
    ['mknod on a descriptor', () => makeNode(3 as unknown as Buffer, fsSync.constants.S_IFIFO, 0, 0)],
  ])('%s is a TypeError, before any system call', (_, call) => {
    const error = thrown(call);
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBeUndefined();
  });
});

describe('makeNode', () => {
  it('a fifo at a path that is not UTF-8, with the mode less the umask', () => {
    const p = at(Buffer.from('fifo-\xe9\xff', 'latin1'));
    const previous = process.umask(0o027);
    try {
      makeNode(p, fsSync.constants.S_IFIFO | 0o666, 0, 0);
    } finally {
      process.umask(previous);
    }
    const stats = fsSync.lstatSync(p);
    expect(stats.isFIFO()).toBe(true);
    expect(stats.mode & 0o7777).toBe(0o640);
    expect(fsSync.readdirSync(tmpBytes, { encoding: 'buffer' }).filter((n) => n.equals(Buffer.from('fifo-\xe9\xff', 'latin1')))).toHaveLength(1);
  });

  it('character and block devices with their numbers', () => {
    const chr = at(Buffer.from('chr-\xe9', 'latin1'));
    const blk = at('blk');
    makeNode(chr, fsSync.constants.S_IFCHR | 0o600, 1, 3);
    makeNode(blk, fsSync.constants.S_IFBLK | 0o600, 259, 70000);
    const c = fsSync.lstatSync(chr, { bigint: true });
    expect(c.isCharacterDevice()).toBe(true);
    expect(c.rdev).toBe(BigInt((1 << 8) | 3));
    const b = fsSync.lstatSync(blk, { bigint: true });
    expect(b.isBlockDevice()).toBe(true);
    // glibc's makedev: minor low 8 bits at 0-7, major at 8-19, minor's upper bits from 20.
    expect(b.rdev).toBe(BigInt(((70000 & 0xff) | (259 << 8)) + ((70000 & ~0xff) << 12)));
    // stat(1) decodes major and minor itself.
    expect(execFileSync('stat', ['-c', '%Hr:%Lr', 'blk'], { cwd: tmp, encoding: 'utf8' }).trim()).toBe('259:70000');
  });
});

describe('readXattrs', () => {
  it('returns every namespace (user., trusted., security.selinux, security.capability, the ACL) with exact bytes, in the kernel order', async () => {
    const p = file('all-kinds');
    // security.capability goes last: chown and writes clear it.
    await execa('setfattr', ['-n', 'user.plain', '-v', 'hello', 'all-kinds'], { cwd: tmp });
    await execa('setfattr', ['-n', 'user.binary', '-v', '0x00010200ff', 'all-kinds'], { cwd: tmp });
    await execa('setfattr', ['-n', 'trusted.t', '-v', '0xdeadbeef00', 'all-kinds'], { cwd: tmp });
    // As SELinux stores a label: with its terminating NUL.
    await execa('setfattr', ['-n', 'security.selinux', '-v', `0x${Buffer.from('system_u:object_r:etc_t:s0\0').toString('hex')}`, 'all-kinds'], { cwd: tmp });
    await execa('setfacl', ['-m', 'u:1234:rx,g:4321:w', 'all-kinds'], { cwd: tmp });
    await execa('setcap', ['cap_net_raw+ep', 'all-kinds'], { cwd: tmp });
    const expected = await getfattr('all-kinds');
    expect([...expected.keys()].sort()).toEqual(['security.capability', 'security.selinux', 'system.posix_acl_access', 'trusted.t', 'user.binary', 'user.plain']);

    const { xattrs, problems } = readXattrs(p);
    expect(problems).toEqual([]);
    expect(xattrs.map(([name]) => name)).toEqual(names(p));
    expect(new Map(xattrs)).toEqual(expected);
    // Through a descriptor: the same.
    const fd = fsSync.openSync(p, 'r');
    try {
      expect(readXattrs(fd)).toEqual({ xattrs, problems: [] });
    } finally {
      fsSync.closeSync(fd);
    }
  });

  it('a directory with access and default ACLs', async () => {
    const dir = at('acl-dir');
    fsSync.mkdirSync(dir);
    await execa('setfacl', ['-m', 'u:1234:rwx', '-d', '-m', 'g:4321:rx', 'acl-dir'], { cwd: tmp });
    const { xattrs, problems } = readXattrs(dir);
    expect(problems).toEqual([]);
    expect(new Map(xattrs)).toEqual(await getfattr('acl-dir'));
    expect(xattrs.map(([name]) => name).sort()).toEqual(['system.posix_acl_access', 'system.posix_acl_default']);
  });

  it('a file without attributes: nothing, no problems', () => {
    expect(readXattrs(file('bare'))).toEqual({ xattrs: [], problems: [] });
  });

  it('a missing path: vanished, no attributes and no problem (the packer reports it as W_VANISHED)', () => {
    expect(readXattrs(at('gone'))).toEqual({ xattrs: [], problems: [], vanished: true });
  });

  it('an attribute whose name is not UTF-8 is a problem; the others are still read', async () => {
    const p = file('bad-name');
    await execa('bash', ['-c', "setfattr -n $'user.bad-\\xff' -v 1 bad-name && setfattr -n user.good -v 2 bad-name"], { cwd: tmp });
    expect(names(p)).toHaveLength(2);
    const { xattrs, problems } = readXattrs(p);
    expect(xattrs).toEqual([['user.good', Buffer.from('2')]]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^extended attribute name "user\.bad-\uFFFD" is not UTF-8$/);
  });

  it('an attribute removed between the listing and its read is left out, not reported', () => {
    // readXattrs lists the names, then checks each name (isUtf8) before reading it: the removal
    // is made to happen at that check, through node:buffer's isUtf8 (syncBuiltinESMExports
    // carries the replacement to `import { isUtf8 }`), so the race happens on every run.
    const p = file('vanishing');
    setXattr(p, 'user.before', Buffer.from('b'));
    setXattr(p, 'user.vanishing', Buffer.from('v'));
    setXattr(p, 'user.after', Buffer.from('a'));
    const buffer = createRequire(import.meta.url)('node:buffer') as typeof import('node:buffer');
    const original = buffer.isUtf8;
    let removed = false;
    buffer.isUtf8 = (input) => {
      if (!removed && Buffer.isBuffer(input) && input.equals(Buffer.from('user.vanishing'))) {
        removed = true;
        execFileSync('setfattr', ['-x', 'user.vanishing', p.toString()]);
      }
      return original(input);
    };
    syncBuiltinESMExports();
    let result;
    try {
      result = readXattrs(p);
    } finally {
      buffer.isUtf8 = original;
      syncBuiltinESMExports();
    }
    expect(removed).toBe(true);
    expect(names(p).sort()).toEqual(['user.after', 'user.before']);
    expect(result).toEqual({
      xattrs: [
        ['user.before', Buffer.from('b')],
        ['user.after', Buffer.from('a')],
      ],
      problems: [],
    });
  });
});

describe('writeXattrs', () => {
  it('sets every attribute in order, binary values included, and returns only the refused ones', async () => {
    const p = file(Buffer.from('write-\xe9', 'latin1'));
    const failures = writeXattrs(p, [
      ['user.a', Buffer.from([0, 1, 2])],
      ['nonamespace', Buffer.from('x')],
      ['trusted.b', Buffer.alloc(0)],
      [`user.${'n'.repeat(300)}`, Buffer.from('x')],
    ]);
    expect(failures.map((f) => f.name.slice(0, 12))).toEqual(['nonamespace', `user.${'n'.repeat(7)}`]);
    expect(['EOPNOTSUPP', 'ENOTSUP']).toContain(failures[0]!.code);
    expect(failures[1]!.code).toBe('ERANGE');
    const seen = await getfattr('write-*');
    expect([...seen.entries()].sort()).toEqual([
      ['trusted.b', Buffer.alloc(0)],
      ['user.a', Buffer.from([0, 1, 2])],
    ]);
  });
});
