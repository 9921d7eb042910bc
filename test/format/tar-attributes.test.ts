// encodeTarHeader's names as bytes (pathBytes, linkBytes) and extended attribute records, checked
// by what other tools do with them: GNU tar extracts the exact bytes and restores the attributes
// (user., trusted., security., ACLs) as getfattr sees them on the originals, Python's tarfile reads
// the same bytes, and GNU tar itself writes the same records for the same files. Runs as root
// (trusted.*, security.*, setcap, chown), here and in CI.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTarHeader, xattrKeyword, type TarMember } from '../../src/format/tar-header.js';
import { getXattr, listXattrNames } from '../../src/fs/native.js';
import { UserDatabase } from '../../src/fs/owners.js';
import { readXattrs } from '../../src/fs/xattrs.js';
import { archive, decodeWithTarStream, ENV, GNU_PAX, headerGroups, member, paxRecordsOf, type Spec } from '../helpers/tar.js';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-tarattr-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
/** `dir/name` as bytes. */
const join = (dir: string, name: Buffer | string): Buffer => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]);

/**
 * GNU tar 1.34 does not know pax's `hdrcharset` keyword: it prints this warning once per member
 * that has it, and then takes path and linkpath as raw bytes anyway (which is what BINARY means).
 */
const HDRCHARSET_WARNING = "tar: Ignoring unknown extended header keyword 'hdrcharset'";

/** Extract `stream` with GNU tar into a new directory; `stderr` lines other than the hdrcharset warning fail the test. */
async function gnuExtract(stream: Buffer, name: string, args: string[] = []): Promise<{ dir: string; warnings: number }> {
  const dir = path.join(tmp, name);
  await fs.mkdir(dir);
  const { stderr } = await execa('tar', [...args, '-xf', '-', '-C', dir], { input: stream, env: ENV });
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect(lines.filter((l) => l !== HDRCHARSET_WARNING)).toEqual([]);
  return { dir, warnings: lines.length };
}

/** Each member as Python's tarfile reads it (surrogateescape, so names come back as their bytes). */
async function pythonRead(stream: Buffer): Promise<Array<{ name: Buffer; type: string; link: Buffer }>> {
  const script = [
    'import json, sys, tarfile',
    "t = tarfile.open(fileobj=sys.stdin.buffer, mode='r|', encoding='utf-8', errors='surrogateescape')",
    "enc = lambda s: s.encode('utf-8', 'surrogateescape').hex()",
    "print(json.dumps([{'name': enc(m.name), 'type': m.type.decode(), 'link': enc(m.linkname)} for m in t]))",
  ].join('\n');
  const { stdout } = await execa('python3', ['-c', script], { input: stream });
  return (JSON.parse(stdout) as Array<{ name: string; type: string; link: string }>).map((m) => ({
    name: Buffer.from(m.name, 'hex'),
    type: m.type,
    link: Buffer.from(m.link, 'hex'),
  }));
}

/** The pax records of the first member of a header, as [keyword, value]. */
const records = (m: TarMember): Array<[string, Buffer]> => paxRecordsOf(headerGroups(Buffer.concat([encodeTarHeader(m), Buffer.alloc(1024)]))[0]!);
const keywords = (m: TarMember): string[] => records(m).map(([k]) => k);
const ustarField = (header: Buffer, start: number, length: number): string => {
  const ustar = header.subarray(header.length - 512);
  return ustar.toString('latin1', start, start + length).replace(/\0+$/, '');
};

/** Names in a directory as bytes. */
const listing = (dir: string | Buffer): Buffer[] => fsSync.readdirSync(dir, { encoding: 'buffer' }).sort((a, b) => Buffer.compare(a, b));

describe('names as bytes', () => {
  const fileBytes = latin1('dir-\xff/latin1-\xe9.txt');
  const dirBytes = latin1('dir-\xff');
  const linkTarget = latin1('../target-\xe9\xfe');
  const specs: Spec[] = [
    { member: member({ path: dirBytes.toString(), pathBytes: dirBytes, type: 'dir', mode: 0o755 }) },
    { member: member({ path: fileBytes.toString(), pathBytes: fileBytes, type: 'file', size: 5 }), content: Buffer.from('bytes') },
    { member: member({ path: 'dir-\uFFFD/link', pathBytes: latin1('dir-\xff/link'), type: 'symlink', mode: 0o777, link: linkTarget.toString(), linkBytes: linkTarget }) },
    { member: member({ path: 'ascii-link', type: 'symlink', mode: 0o777, link: linkTarget.toString(), linkBytes: linkTarget }) },
    { member: member({ path: 'hard', type: 'hardlink', link: fileBytes.toString(), linkBytes: fileBytes }) },
  ];
  const stream = archive(specs);

  it('a non-UTF-8 path: hdrcharset=BINARY first, then the raw bytes in path; an ASCII stand-in in ustar', () => {
    const m = specs[1]!.member;
    expect(records(m)).toEqual([
      ['hdrcharset', Buffer.from('BINARY')],
      ['path', fileBytes],
    ]);
    expect(ustarField(encodeTarHeader(m), 0, 100)).toBe('dir-_/latin1-_.txt');
  });

  it('a directory with pathBytes keeps its trailing slash in the path record', () => {
    expect(records(specs[0]!.member)).toEqual([
      ['hdrcharset', Buffer.from('BINARY')],
      ['path', Buffer.concat([dirBytes, Buffer.from('/')])],
    ]);
    expect(ustarField(encodeTarHeader(specs[0]!.member), 0, 100)).toBe('dir-_/');
  });

  it('linkBytes go raw into linkpath, with hdrcharset even when the path itself is ASCII', () => {
    expect(records(specs[3]!.member)).toEqual([
      ['hdrcharset', Buffer.from('BINARY')],
      ['linkpath', linkTarget],
    ]);
    expect(ustarField(encodeTarHeader(specs[3]!.member), 157, 100)).toBe('../target-__');
    expect(records(specs[4]!.member)).toEqual([
      ['hdrcharset', Buffer.from('BINARY')],
      ['linkpath', fileBytes],
    ]);
  });

  it('GNU tar extracts the exact bytes: names, the directory, the symlink target and the hard link', async () => {
    const { dir, warnings } = await gnuExtract(stream, 'bytes');
    expect(warnings).toBe(specs.length);
    const dirBuf = Buffer.from(dir);
    expect(listing(dir)).toEqual([Buffer.from('ascii-link'), dirBytes, Buffer.from('hard')].sort((a, b) => Buffer.compare(a, b)));
    const inner = join(dir, dirBytes);
    expect(fsSync.lstatSync(inner).isDirectory()).toBe(true);
    expect(listing(inner)).toEqual([latin1('latin1-\xe9.txt'), Buffer.from('link')]);
    const file = Buffer.concat([dirBuf, Buffer.from('/'), fileBytes]);
    expect(fsSync.readFileSync(file, 'utf8')).toBe('bytes');
    expect(fsSync.readlinkSync(join(dir, latin1('dir-\xff/link')), { encoding: 'buffer' })).toEqual(linkTarget);
    expect(fsSync.readlinkSync(join(dir, 'ascii-link'), { encoding: 'buffer' })).toEqual(linkTarget);
    expect(fsSync.statSync(join(dir, 'hard')).ino).toBe(fsSync.statSync(file).ino);
  });

  it("Python's tarfile reads the same bytes", async () => {
    const read = await pythonRead(stream);
    expect(read).toEqual([
      { name: dirBytes, type: '5', link: Buffer.alloc(0) },
      { name: fileBytes, type: '0', link: Buffer.alloc(0) },
      { name: latin1('dir-\xff/link'), type: '2', link: linkTarget },
      { name: Buffer.from('ascii-link'), type: '2', link: linkTarget },
      { name: Buffer.from('hard'), type: '1', link: fileBytes },
    ]);
  });

  it('tar-stream reads the members in order, with their types and the directory slash', async () => {
    const decoded = await decodeWithTarStream(stream);
    expect(decoded.map(({ header }) => [header.name, header.type])).toEqual([
      ['dir-\uFFFD/', 'directory'],
      ['dir-\uFFFD/latin1-\uFFFD.txt', 'file'],
      ['dir-\uFFFD/link', 'symlink'],
      ['ascii-link', 'symlink'],
      ['hard', 'link'],
    ]);
    expect(decoded[1]!.data.toString()).toBe('bytes');
  });

  it('a path that is valid UTF-8 but holds U+FFFD itself is stored as UTF-8, without hdrcharset', () => {
    const m = member({ path: 'real-\uFFFD.txt', type: 'file' });
    expect(records(m)).toEqual([['path', Buffer.from('real-\uFFFD.txt')]]);
  });
});

/** Binary POSIX ACL: version 2, then (tag, perm, id) entries. */
function aclValue(entries: Array<[number, number, number?]>): Buffer {
  const value = Buffer.alloc(4 + 8 * entries.length);
  value.writeUInt32LE(2, 0);
  for (const [i, [tag, perm, id = 0xffffffff]] of entries.entries()) {
    value.writeUInt16LE(tag, 4 + 8 * i);
    value.writeUInt16LE(perm, 6 + 8 * i);
    value.writeUInt32LE(id, 8 + 8 * i);
  }
  return value;
}

describe('extended attribute records', () => {
  const access = aclValue([
    [1, 6],
    [2, 5, 1000],
    [4, 4],
    [0x10, 5],
    [0x20, 4],
  ]);
  const deflt = aclValue([
    [1, 7],
    [8, 5, 50],
    [4, 5],
    [0x10, 5],
    [0x20, 0],
  ]);
  const label = Buffer.from('system_u:object_r:etc_t:s0\0');

  it('in GNU tar order: ACL texts, the SELinux label without its NUL, then every attribute raw as SCHILY.xattr', () => {
    const binary = Buffer.from([0, 1, 0, 0xff, 0x0a, 0]);
    const m = member({
      path: 'f',
      type: 'file',
      // Default ACL listed before the access ACL and the label in the middle: the order of the
      // SCHILY.acl records is fixed, the SCHILY.xattr records keep the given order.
      xattrs: [
        ['user.bin', binary],
        ['system.posix_acl_default', deflt],
        ['security.selinux', label],
        ['system.posix_acl_access', access],
        ['trusted.t', Buffer.alloc(0)],
      ],
    });
    expect(records(m)).toEqual([
      ['SCHILY.acl.access', Buffer.from('user::rw-\nuser:1000:r-x\ngroup::r--\nmask::r-x\nother::r--\n')],
      ['SCHILY.acl.default', Buffer.from('user::rwx\ngroup:50:r-x\ngroup::r-x\nmask::r-x\nother::---\n')],
      ['RHT.security.selinux', Buffer.from('system_u:object_r:etc_t:s0')],
      ['SCHILY.xattr.user.bin', binary],
      ['SCHILY.xattr.system.posix_acl_default', deflt],
      ['SCHILY.xattr.security.selinux', label],
      ['SCHILY.xattr.system.posix_acl_access', access],
      ['SCHILY.xattr.trusted.t', Buffer.alloc(0)],
    ]);
  });

  it('a label without a trailing NUL is stored as it is', () => {
    const m = member({ path: 'f', type: 'file', xattrs: [['security.selinux', Buffer.from('unconfined_u:object_r:user_home_t:s0')]] });
    expect(records(m)).toEqual([
      ['RHT.security.selinux', Buffer.from('unconfined_u:object_r:user_home_t:s0')],
      ['SCHILY.xattr.security.selinux', Buffer.from('unconfined_u:object_r:user_home_t:s0')],
    ]);
  });

  it('an ACL value that is not a version-2 ACL gets no SCHILY.acl text, but is still stored raw', () => {
    const bad = Buffer.concat([access, Buffer.from([1])]);
    const m = member({ path: 'f', type: 'file', xattrs: [['system.posix_acl_access', bad]] });
    expect(records(m)).toEqual([['SCHILY.xattr.system.posix_acl_access', bad]]);
  });

  it('% and = in a name are escaped as %25 and %3D, % first', () => {
    expect(xattrKeyword('user.a=b%c')).toBe('SCHILY.xattr.user.a%3Db%25c');
    expect(xattrKeyword('user.%3D')).toBe('SCHILY.xattr.user.%253D');
    expect(xattrKeyword('user.==%%')).toBe('SCHILY.xattr.user.%3D%3D%25%25');
    expect(keywords(member({ path: 'f', type: 'file', xattrs: [['user.a=b%c', Buffer.from('v')]] }))).toEqual(['SCHILY.xattr.user.a%3Db%25c']);
  });

  it('GNU tar restores names with % and =, and binary values with NUL and newline, exactly', async () => {
    const xattrs: Array<[string, Buffer]> = [
      ['user.a=b%c', Buffer.from('equals and percent')],
      ['user.%3D', Buffer.from('a literal %3D')],
      ['user.%', Buffer.from('%')],
      ['user.bin', Buffer.from([0, 0x0a, 0, 0xff, 0x3d, 0x25, 0])],
      ['trusted.newline', Buffer.from('line one\nline two=\n')],
      ['user.empty', Buffer.alloc(0)],
    ];
    const stream = archive([{ member: member({ path: 'f', type: 'file', size: 1, xattrs }), content: Buffer.from('x') }]);
    const { dir } = await gnuExtract(stream, 'escaped', ['--xattrs', '--xattrs-include=*']);
    const restored = readXattrs(path.join(dir, 'f'));
    expect(restored.problems).toEqual([]);
    expect(new Map(restored.xattrs)).toEqual(new Map(xattrs));
  });
});

describe('end to end: attributes restored by GNU tar are the originals', () => {
  const T = '1764170000';
  /** Ids that have no name on a Linux system, and 0, which is root's. */
  const UID = 61234;
  const GID = 64321;
  /** The source's entries in archive order, for shell commands (a glob for each name that is not UTF-8). */
  const GLOBS = 'f d d/child sl latin1-* link-* pct';

  /** Source tree: every kind of attribute a root backup reads, on files, a directory, a symlink, non-UTF-8 names. */
  async function sourceTree(): Promise<{ root: string; names: Buffer[] }> {
    const root = path.join(tmp, 'e2e-src');
    await fs.mkdir(root);
    const sh = (script: string): Promise<unknown> => execa('bash', ['-c', `set -e\n${script}`], { cwd: root });
    await sh(`
      printf 'content of f' > f
      # chown first: it clears security.capability.
      chown ${UID}:${GID} f
      setfattr -n user.plain -v hello f
      setfattr -n user.bin -v 0x000aff003d00 f
      setfattr -n trusted.t -v 0xdeadbeef f
      # A label as SELinux stores it, with its NUL (GNU tar restores RHT.security.selinux with one).
      setfattr -n security.selinux -v 0x$(printf 'system_u:object_r:etc_t:s0' | od -An -tx1 | tr -d ' \\n')00 f
      setfacl -m u:${UID}:rx,g:0:r,g:${GID}:w f
      setcap cap_net_raw+ep f
      mkdir d
      printf 'child' > d/child
      setfacl -m u:${UID}:rwx -d -m u:0:rx,g:${GID}:rx d
      setfattr -n user.on-dir -v 1 d
      ln -s f sl
      setfattr -h -n trusted.on-link -v 0x00 sl
      printf 'latin' > $'latin1-\\xe9'
      setfattr -n user.x -v 1 $'latin1-\\xe9'
      setfacl -m g:${GID}:rx $'latin1-\\xe9'
      ln -s $'target-\\xff' $'link-\\xfe'
      printf 'pct' > pct
      setfattr -n 'user.a=b%c' -v 1 pct
    `);
    const names = [Buffer.from('f'), Buffer.from('d'), Buffer.from('d/child'), Buffer.from('sl'), latin1('latin1-\xe9'), latin1('link-\xfe'), Buffer.from('pct')];
    // Names that are not UTF-8 cannot be argument strings: the shell's globs name them.
    await sh(`touch -h -d @${T} ${GLOBS}`);
    return { root, names };
  }

  /** The member encodeTarHeader gets for a path of the source tree, as the backup builds it. */
  function memberOf(root: string, name: Buffer): Spec {
    const abs = join(root, name);
    const stats = fsSync.lstatSync(abs, { bigint: true });
    const type: TarMember['type'] = stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : 'file';
    const { xattrs, problems } = readXattrs(abs);
    expect(problems).toEqual([]);
    const m: TarMember = {
      path: name.toString(),
      type,
      size: type === 'file' ? Number(stats.size) : 0,
      mode: Number(stats.mode) & 0o7777,
      uid: Number(stats.uid),
      gid: Number(stats.gid),
      mtime: String(stats.mtimeMs / 1000n),
    };
    if (!name.equals(Buffer.from(m.path))) m.pathBytes = name;
    if (type === 'symlink') {
      const target = fsSync.readlinkSync(abs, { encoding: 'buffer' });
      m.link = target.toString();
      if (!target.equals(Buffer.from(m.link))) m.linkBytes = target;
    }
    if (xattrs.length > 0) m.xattrs = xattrs;
    return { member: m, content: type === 'file' ? fsSync.readFileSync(abs) : undefined };
  }

  /** getfattr's dump of every attribute of `names` (symlinks themselves), in hex; names through a glob. */
  async function dump(dir: string): Promise<string> {
    const { stdout } = await execa('bash', ['-c', `getfattr -h -d -m - -e hex -- ${GLOBS}`], { cwd: dir, env: { ...ENV, LC_ALL: 'C' } });
    return stdout;
  }

  let root: string;
  let names: Buffer[];
  let specs: Spec[];
  beforeAll(async () => {
    ({ root, names } = await sourceTree());
    specs = names.map((name) => memberOf(root, name));
  });

  it('the source has every kind of attribute (so the comparison below compares something)', async () => {
    const source = await dump(root);
    for (const name of [
      'user.plain',
      'user.bin',
      'trusted.t',
      'security.selinux',
      'security.capability',
      'system.posix_acl_access',
      'system.posix_acl_default',
      'user.on-dir',
      'trusted.on-link',
      'user.x',
      'user.a\\075b%c',
    ]) {
      expect(source).toContain(`\n${name}=0x`);
    }
  });

  it('tar --xattrs --xattrs-include=* --acls --selinux -xp of our archive gives exactly the attributes of the originals', async () => {
    const stream = archive(specs);
    const { dir, warnings } = await gnuExtract(stream, 'e2e-out', ['--xattrs', '--xattrs-include=*', '--acls', '--selinux', '-p']);
    expect(warnings).toBe(2); // the two members with names as bytes
    expect(await dump(dir)).toBe(await dump(root));
    // And the rest came through: contents, owners, byte names, the link target.
    expect(fsSync.readFileSync(path.join(dir, 'f'), 'utf8')).toBe('content of f');
    expect([fsSync.statSync(path.join(dir, 'f')).uid, fsSync.statSync(path.join(dir, 'f')).gid]).toEqual([UID, GID]);
    expect(fsSync.readFileSync(join(dir, latin1('latin1-\xe9')), 'utf8')).toBe('latin');
    expect(fsSync.readlinkSync(join(dir, latin1('link-\xfe')), { encoding: 'buffer' })).toEqual(latin1('target-\xff'));
    expect(getXattr(join(dir, 'sl'), 'trusted.on-link')).toEqual(Buffer.from([0]));
    expect(listXattrNames(join(dir, 'd/child'))).toEqual([]);
  });

  it('GNU tar writes the same pax keywords in the same order; ACL texts differ only in names GNU puts for ids', async () => {
    const users = new UserDatabase();
    // The ids chosen to have no names, and 0 named root: the one difference below is then exact.
    expect([users.userName(UID), users.groupName(GID), users.userName(0), users.groupName(0)]).toEqual([undefined, undefined, 'root', 'root']);
    const options = [...GNU_PAX, '--xattrs', '--xattrs-include=*', '--acls', '--selinux'].map((a) => `'${a}'`).join(' ');
    const { stdout } = await execa('bash', ['-c', `tar ${options} --no-recursion -cf - -- ${GLOBS}`], { cwd: root, encoding: 'buffer', env: ENV });
    const gnu = headerGroups(Buffer.from(stdout));
    expect(gnu).toHaveLength(specs.length);
    const named = (text: Buffer): string => text.toString().replace(/^(user|group):0:/gm, '$1:root:');
    for (const [i, { member: m }] of specs.entries()) {
      const ours = records(m);
      const theirs = paxRecordsOf(gnu[i]!);
      const label = m.path;
      if (m.pathBytes || m.linkBytes) {
        // GNU tar 1.34 writes raw bytes without hdrcharset, and a short link target raw in the
        // ustar linkname field (no linkpath record); we always say BINARY and keep ustar ASCII.
        expect(ours[0], label).toEqual(['hdrcharset', Buffer.from('BINARY')]);
        const rest = ours.slice(1).filter(([k]) => !(k === 'linkpath' && !theirs.some(([t]) => t === 'linkpath')));
        expect(rest, label).toEqual(theirs);
        continue;
      }
      expect(
        ours.map(([k]) => k),
        label,
      ).toEqual(theirs.map(([k]) => k));
      for (const [j, [keyword, value]] of ours.entries()) {
        if (keyword.startsWith('SCHILY.acl.')) {
          // We write numeric qualifiers (getfacl -n), GNU tar names where the id has one.
          expect(named(value), `${label} ${keyword}`).toBe(theirs[j]![1].toString());
        } else {
          expect(value.equals(theirs[j]![1]), `${label} ${keyword}`).toBe(true);
        }
      }
    }
    // The difference is real (not vacuous): f's ACL has group 0, d's default ACL user 0.
    const f = records(specs[0]!.member);
    expect(f.find(([k]) => k === 'SCHILY.acl.access')![1].toString()).toContain('group:0:r--');
    expect(
      paxRecordsOf(gnu[0]!)
        .find(([k]) => k === 'SCHILY.acl.access')![1]
        .toString(),
    ).toContain('group:root:r--');
    const d = paxRecordsOf(gnu[1]!)
      .find(([k]) => k === 'SCHILY.acl.default')![1]
      .toString();
    expect(d).toContain('user:root:r-x');
    expect(d).toContain(`group:${GID}:r-x`);
  });
});

describe('assertMember refuses bad bytes and attribute names', () => {
  it.each<[string, Partial<TarMember>]>([
    ['empty pathBytes', { pathBytes: Buffer.alloc(0) }],
    ['pathBytes with NUL', { pathBytes: latin1('a\0\xff') }],
    ['absolute pathBytes', { pathBytes: latin1('/etc/\xff') }],
    ['pathBytes ending in /', { pathBytes: latin1('dir-\xff/') }],
    ['pathBytes that are only /', { pathBytes: Buffer.from('/') }],
    ['empty linkBytes', { type: 'symlink', link: 'x', linkBytes: Buffer.alloc(0) }],
    ['linkBytes with NUL', { type: 'symlink', link: 'x', linkBytes: latin1('t\0\xff') }],
    ['an empty attribute name', { xattrs: [['', Buffer.from('v')]] }],
    ['an attribute name with NUL', { xattrs: [['user.a\0b', Buffer.from('v')]] }],
    ['an attribute name with a newline', { xattrs: [['user.a\nb', Buffer.from('v')]] }],
    [
      'a bad name after good ones',
      {
        xattrs: [
          ['user.ok', Buffer.from('v')],
          ['user.=ok%', Buffer.from('v')],
          ['\n', Buffer.from('v')],
        ],
      },
    ],
  ])('%s: RangeError', (_, change) => {
    const m = { ...member({ path: 'f\uFFFD', type: 'file' }), ...change } as TarMember;
    expect(() => encodeTarHeader(m)).toThrow(RangeError);
  });

  it('accepts what those refusals border on: a relative byte path with a slash inside, a link target starting with /, names with = and %', () => {
    expect(() => encodeTarHeader(member({ path: 'a/\uFFFD', pathBytes: latin1('a/\xff'), type: 'symlink', link: '/abs/\uFFFD', linkBytes: latin1('/abs/\xff') }))).not.toThrow();
    expect(() => encodeTarHeader(member({ path: 'f', type: 'file', xattrs: [['user.=%', Buffer.alloc(0)]] }))).not.toThrow();
  });
});
