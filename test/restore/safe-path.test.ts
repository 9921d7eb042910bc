import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCassetteError } from '../../src/errors.js';
import {
  assertNoSymlinkParents,
  judgeExistingSymlink,
  keptSymlinkVerdict,
  linkIdentity,
  normalizeEntryPath,
  normalizeLinkTarget,
  resolveInside,
  type KeepDirectorySymlinks,
} from '../../src/restore/safe-path.js';
import { thrown } from '../helpers/rejection.js';

async function rejected(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

const hostile: Array<{ name: string; path: string; reason: RegExp }> = [
  { name: 'refuses an empty path', path: '', reason: /empty path/ },
  { name: 'refuses a leading .. component (CVE-2021-37713 style)', path: '../x', reason: /"\.\." component/ },
  { name: 'refuses a bare ..', path: '..', reason: /"\.\." component/ },
  { name: 'refuses a trailing .. component', path: 'a/..', reason: /"\.\." component/ },
  { name: 'refuses a .. component that climbs out after descending (a/../../x)', path: 'a/../../x', reason: /"\.\." component/ },
  { name: 'refuses a .. component even when the result stays inside (a/b/../c)', path: 'a/b/../c', reason: /"\.\." component/ },
  { name: 'refuses .. hidden behind ./ and repeated slashes (.//..//x)', path: './/..//x', reason: /"\.\." component/ },
  { name: 'refuses an absolute path (/etc/passwd)', path: '/etc/passwd', reason: /absolute path/ },
  { name: 'refuses an absolute path with several leading slashes (CVE-2021-32804 style)', path: '////home/user/.bashrc', reason: /absolute path/ },
  { name: 'refuses the root path /', path: '/', reason: /absolute path/ },
  { name: 'refuses a Windows drive path (C:\\x)', path: 'C:\\x', reason: /drive letter/ },
  { name: 'refuses a Windows drive path with a forward slash (c:/x)', path: 'c:/x', reason: /drive letter/ },
  { name: 'refuses a drive-relative path with .. (C:../x, CVE-2021-37713)', path: 'C:../x', reason: /drive letter/ },
  { name: 'refuses a bare drive (D:)', path: 'D:', reason: /drive letter/ },
  { name: 'refuses a UNC path (\\\\server\\share\\x)', path: '\\\\server\\share\\x', reason: /absolute path/ },
  { name: 'refuses a backslash-rooted path (\\x)', path: '\\x', reason: /absolute path/ },
  { name: 'refuses .. with backslash separators (a\\..\\..\\x)', path: 'a\\..\\..\\x', reason: /"\.\." component/ },
  { name: 'refuses a leading .. with a backslash separator (..\\x)', path: '..\\x', reason: /"\.\." component/ },
  { name: 'refuses mixed separators (a/b\\..\\../x)', path: 'a/b\\..\\../x', reason: /"\.\." component/ },
  { name: 'refuses a NUL byte', path: 'etc/passwd\0.txt', reason: /NUL byte/ },
  { name: 'refuses a NUL byte that would truncate to ..', path: '..\0/x', reason: /NUL byte/ },
  { name: 'refuses . (the restore root itself)', path: '.', reason: /restore root itself/ },
  { name: 'refuses ./ (the restore root itself)', path: './', reason: /restore root itself/ },
  { name: 'refuses ././/. (the restore root itself)', path: '././/.', reason: /restore root itself/ },
];

describe('normalizeEntryPath: hostile paths', () => {
  it.each(hostile)('$name', ({ path: entryPath, reason }) => {
    const error = thrown(() => normalizeEntryPath(entryPath));
    expect(isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
    expect(error.message).toMatch(reason);
    // The message names the entry (NUL shown as \0).
    expect(error.message).toContain(JSON.stringify(entryPath).replace(/\\u0000/g, '\\0'));
  });

  it('refuses a value that is not a string', () => {
    const error = thrown(() => normalizeEntryPath(undefined as unknown as string));
    expect(isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
  });
});

const accepted: Array<{ name: string; path: string; expected: string }> = [
  { name: 'keeps a plain relative path', path: 'etc/passwd', expected: 'etc/passwd' },
  { name: 'drops . components (a/./b)', path: 'a/./b', expected: 'a/b' },
  { name: 'drops a leading ./', path: './a/b', expected: 'a/b' },
  { name: 'collapses repeated slashes (a//b)', path: 'a//b', expected: 'a/b' },
  { name: 'drops a trailing slash', path: 'a/b/', expected: 'a/b' },
  { name: 'accepts names that merely start with dots (..foo, ...)', path: '..foo/.../.x', expected: '..foo/.../.x' },
  { name: 'accepts dot files', path: '.ssh/authorized_keys', expected: '.ssh/authorized_keys' },
  { name: 'keeps a backslash inside a name (systemd escapes)', path: 'systemd/system/dev-disk-by\\x2duuid-1.swap', expected: 'systemd/system/dev-disk-by\\x2duuid-1.swap' },
  { name: 'accepts a colon after the first character (a:b, ab:c)', path: 'ab:c/d:e', expected: 'ab:c/d:e' },
  { name: 'accepts unicode names', path: 'données/日本語/ß/😀.txt', expected: 'données/日本語/ß/😀.txt' },
  { name: 'accepts decomposed unicode as is (no normalization)', path: 'cafe\u0301', expected: 'cafe\u0301' },
  { name: 'accepts spaces, newlines and control characters other than NUL', path: 'a b/c\nd/\te', expected: 'a b/c\nd/\te' },
  {
    name: 'accepts a very long path (4096 bytes) when otherwise safe',
    path: `${'d'.repeat(200)}/`.repeat(20) + 'f'.repeat(76),
    expected: `${'d'.repeat(200)}/`.repeat(20) + 'f'.repeat(76),
  },
  { name: 'accepts a very long single name (4096 bytes: the file system, not this check, limits names)', path: 'n'.repeat(4096), expected: 'n'.repeat(4096) },
];

describe('normalizeEntryPath: accepted paths', () => {
  it.each(accepted)('$name', ({ path: entryPath, expected }) => {
    expect(normalizeEntryPath(entryPath)).toBe(expected);
    // Idempotent.
    expect(normalizeEntryPath(expected)).toBe(expected);
  });

  it('the long-path case really is 4096 bytes', () => {
    expect(Buffer.byteLength(accepted.find((c) => c.name.includes('very long path'))!.path)).toBe(4096);
  });
});

describe('normalizeLinkTarget', () => {
  it.each([
    { name: 'refuses a hard link to an absolute path outside the root (GHSA-8qq5-rm4j-mr97 style)', target: '/etc/shadow' },
    { name: 'refuses a hard link target that climbs with .. (resolved from the root, not the link directory)', target: 'a/b/c/d/../../../../../etc/passwd' },
    { name: 'refuses a hard link target with backslash .. components', target: 'x\\..\\..\\etc\\passwd' },
    { name: 'refuses an empty hard link target', target: '' },
    { name: 'refuses a hard link target with a NUL byte', target: 'a\0b' },
    { name: 'refuses a hard link target on a Windows drive', target: 'C:\\Windows\\win.ini' },
  ])('$name', ({ target }) => {
    const error = thrown(() => normalizeLinkTarget(target));
    expect(isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
    expect(error.message).toMatch(/hard link target/);
  });

  it('normalizes a safe hard link target like an entry path', () => {
    expect(normalizeLinkTarget('./usr//bin/./perl')).toBe('usr/bin/perl');
  });
});

describe('resolveInside', () => {
  it.each([
    { name: 'joins a nested path under the root', root: '/restore', rel: 'etc/ssh/sshd_config', expected: '/restore/etc/ssh/sshd_config' },
    { name: 'normalizes the root (trailing slash, . and ..)', root: '/restore/./x/../', rel: 'a', expected: '/restore/a' },
    { name: 'normalizes the entry path on the way', root: '/r', rel: './a//b/', expected: '/r/a/b' },
    { name: 'keeps a name that starts with .. inside the root', root: '/r', rel: '..foo', expected: '/r/..foo' },
  ])('$name', ({ root, rel, expected }) => {
    expect(resolveInside(root, rel)).toBe(expected);
  });

  it.each([
    { name: 'refuses .. that would escape the root', rel: '../outside' },
    { name: 'refuses an absolute entry path', rel: '/etc/passwd' },
    { name: 'refuses the root itself', rel: '.' },
  ])('$name', ({ rel }) => {
    expect(
      isCassetteError(
        thrown(() => resolveInside('/restore', rel)),
        'E_UNSAFE_PATH',
      ),
    ).toBe(true);
  });

  it('refuses a relative root with E_USAGE', () => {
    const error = thrown(() => resolveInside('relative/root', 'a'));
    expect(isCassetteError(error, 'E_USAGE')).toBe(true);
    expect(error.message).toContain('relative/root');
  });
});

describe('assertNoSymlinkParents (real directory)', () => {
  let base: string;
  let root: string;
  let outside: string;

  beforeAll(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-safe-path-'));
    root = path.join(base, 'root');
    outside = path.join(base, 'outside');
    await fs.mkdir(path.join(root, 'etc/ssh'), { recursive: true });
    await fs.mkdir(path.join(root, 'inside-dir'), { recursive: true });
    await fs.mkdir(outside, { recursive: true });
    await fs.writeFile(path.join(root, 'etc/hostname'), 'box\n');
    await fs.symlink(outside, path.join(root, 'evil'));
    await fs.symlink('/', path.join(root, 'etc/rootlink'));
    await fs.symlink('inside-dir', path.join(root, 'friendly'));
    await fs.symlink('../outside', path.join(root, 'etc/ssh/up'));
  });

  afterAll(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  it('accepts regular nested directories and returns the absolute destination', async () => {
    const safe = new Set<string>();
    await expect(assertNoSymlinkParents(root, 'etc/ssh/sshd_config', safe)).resolves.toBe(path.join(root, 'etc/ssh/sshd_config'));
    expect([...safe].sort()).toEqual([path.join(root, 'etc'), path.join(root, 'etc/ssh')]);
  });

  it('accepts parents that do not exist yet', async () => {
    await expect(assertNoSymlinkParents(root, 'etc/new/deeper/file', new Set())).resolves.toBe(path.join(root, 'etc/new/deeper/file'));
  });

  it('accepts a top-level entry (no parent below the root)', async () => {
    await expect(assertNoSymlinkParents(root, 'file', new Set())).resolves.toBe(path.join(root, 'file'));
  });

  it('does not check the final component: an existing symlink there is replaced by the caller, not written through', async () => {
    await expect(assertNoSymlinkParents(root, 'evil', new Set())).resolves.toBe(path.join(root, 'evil'));
  });

  it.each([
    { name: 'refuses writing through a parent symlink to outside the root (CVE-2021-32803 style)', rel: 'evil/payload', link: 'evil' },
    { name: 'refuses writing below a symlink deeper in the tree (CVE-2021-37701 style)', rel: 'etc/rootlink/etc/shadow', link: 'etc/rootlink' },
    { name: 'refuses writing through a relative symlink that climbs out', rel: 'etc/ssh/up/x', link: 'etc/ssh/up' },
    { name: 'refuses writing through a symlink that points inside the root (nothing is written through symlinks)', rel: 'friendly/file', link: 'friendly' },
  ])('$name', async ({ rel, link }) => {
    const safe = new Set<string>();
    const error = await rejected(assertNoSymlinkParents(root, rel, safe));
    expect(isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
    expect(error.message).toContain(JSON.stringify(rel));
    expect(error.message).toContain(path.join(root, link));
    expect(error.message).toMatch(/is a symlink/);
    expect(safe.has(path.join(root, link))).toBe(false);
  });

  it('refuses a parent component that is a regular file, with a clear error', async () => {
    const error = await rejected(assertNoSymlinkParents(root, 'etc/hostname/x', new Set()));
    expect(isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
    expect(error.message).toContain(`${path.join(root, 'etc/hostname')} exists and is not a directory`);
  });

  it('still refuses hostile entry paths before any I/O', async () => {
    const error = await rejected(assertNoSymlinkParents(root, '../outside/x', new Set()));
    expect(isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
  });

  it('trusts its cache, so callers must clear it when they create a symlink', async () => {
    const dir = path.join(root, 'swap');
    await fs.mkdir(dir);
    const safe = new Set<string>();
    await assertNoSymlinkParents(root, 'swap/a', safe);
    expect(safe.has(dir)).toBe(true);
    // The restore replaces the directory with a symlink (as when it restores a symlink entry)...
    await fs.rmdir(dir);
    await fs.symlink(outside, dir);
    // ...then clears the cache, as restore.ts does after every symlink it creates.
    safe.clear();
    const error = await rejected(assertNoSymlinkParents(root, 'swap/a', safe));
    expect(isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
  });

  it('keeps its cache bounded', async () => {
    const safe = new Set<string>(Array.from({ length: 10_000 }, (_, i) => `/nowhere/${i}`));
    await assertNoSymlinkParents(root, 'etc/ssh/x', safe);
    expect(safe.size).toBeLessThanOrEqual(10_000);
    expect(safe.has(path.join(root, 'etc/ssh'))).toBe(true);
  });
});

describe('keptSymlinkVerdict (may an in-place restore write through an existing symlink?)', () => {
  const dir = (real: string) => ({ real, isDirectory: true, created: false });
  it.each([
    { name: 'keeps a link to a directory inside the root', root: '/r', link: dir('/r/usr/lib'), keep: true },
    { name: 'keeps a link to the root itself (the root counts as inside)', root: '/r', link: dir('/r'), keep: true },
    { name: 'keeps a link to a name that merely starts with .. inside the root', root: '/r', link: dir('/r/..lib'), keep: true },
    { name: 'keeps anything that is a directory when the root is /', root: '/', link: dir('/usr/lib'), keep: true },
    { name: 'refuses a link to the parent of the root', root: '/r', link: dir('/'), keep: false, reason: /resolves to \/, outside the restore root \/r$/ },
    { name: 'refuses a link to a sibling whose name extends the root (/r2 is not inside /r)', root: '/r', link: dir('/r2/lib'), keep: false, reason: /outside the restore root/ },
    {
      name: 'refuses a link outside the root even when it is a directory (/usr/lib for a re-rooted /mnt/sysimage)',
      root: '/mnt/sysimage',
      link: dir('/usr/lib'),
      keep: false,
      reason: /resolves to \/usr\/lib, outside the restore root \/mnt\/sysimage/,
    },
    {
      name: 'refuses a link to a file inside the root',
      root: '/r',
      link: { real: '/r/etc/hostname', isDirectory: false, created: false },
      keep: false,
      reason: /which is not a directory/,
    },
    { name: 'refuses a dangling link (or a loop)', root: '/r', link: { isDirectory: false, created: false }, keep: false, reason: /does not resolve/ },
    {
      name: 'refuses a link the restore made from an archive entry, even to a directory inside the root',
      root: '/r',
      link: { real: '/r/usr/lib', isDirectory: true, created: true },
      keep: false,
      reason: /made by this restore/,
    },
  ])('$name', ({ root, link, keep, reason }) => {
    const verdict = keptSymlinkVerdict(root, link);
    expect(verdict.keep).toBe(keep);
    if (!verdict.keep) expect(verdict.reason).toMatch(reason!);
  });
});

describe('judgeExistingSymlink and assertNoSymlinkParents with keep (real directory)', () => {
  let base: string;
  let root: string;
  let outside: string;
  const kept: Array<[string, string]> = [];
  const policy = (created = new Set<string>()): KeepDirectorySymlinks => ({ created, onKeep: (link, target) => kept.push([link, target]) });

  beforeAll(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-keep-symlink-'));
    root = path.join(base, 'root');
    outside = path.join(base, 'outside');
    await fs.mkdir(path.join(root, 'usr/lib'), { recursive: true });
    await fs.mkdir(path.join(root, 'opt/modules'), { recursive: true });
    await fs.mkdir(path.join(root, 'etc'), { recursive: true });
    await fs.writeFile(path.join(root, 'etc/hostname'), 'box\n');
    await fs.mkdir(outside);
    await fs.symlink(path.join(root, 'usr/lib'), path.join(outside, 'back'));
    const links: Array<[string, string]> = [
      ['lib', 'usr/lib'],
      ['lib-abs', path.join(root, 'usr/lib')],
      ['up', '../outside'],
      ['sneaky', 'usr/../../outside'],
      ['abs-out', outside],
      ['dangling', 'nowhere'],
      ['to-file', 'etc/hostname'],
      ['chain', 'lib'],
      ['chain-out', 'up'],
      ['self', '.'],
      ['loop', 'loop'],
      ['out-and-back', path.join(outside, 'back')],
      ['usr/lib/modules', '../../opt/modules'],
      ['usr/lib/escape', '../../../outside'],
    ];
    for (const [name, target] of links) await fs.symlink(target, path.join(root, name));
    await fs.symlink(root, path.join(base, 'root-link'));
  });

  afterAll(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  it.each([
    { name: 'keeps a relative link to a directory inside the root (lib -> usr/lib)', link: 'lib', keep: true },
    { name: 'keeps an absolute link to a directory inside the root', link: 'lib-abs', keep: true },
    { name: 'keeps a chain of links that ends inside the root (chain -> lib -> usr/lib)', link: 'chain', keep: true },
    { name: 'keeps a link to the root itself (self -> .)', link: 'self', keep: true },
    { name: 'keeps a link that passes outside and comes back: the decision rests on the real path', link: 'out-and-back', keep: true },
    { name: 'refuses a relative link that climbs out with ..', link: 'up', keep: false, reason: /outside the restore root/ },
    { name: 'refuses a link that climbs out through a directory (usr/../../outside)', link: 'sneaky', keep: false, reason: /outside the restore root/ },
    { name: 'refuses an absolute link outside the root', link: 'abs-out', keep: false, reason: /outside the restore root/ },
    { name: 'refuses a chain of links that ends outside the root', link: 'chain-out', keep: false, reason: /outside the restore root/ },
    { name: 'refuses a dangling link', link: 'dangling', keep: false, reason: /does not resolve/ },
    { name: 'refuses a link that loops', link: 'loop', keep: false, reason: /does not resolve/ },
    { name: 'refuses a link to a file', link: 'to-file', keep: false, reason: /not a directory/ },
  ])('$name', async ({ link, keep, reason }) => {
    kept.length = 0;
    const at = path.join(root, link);
    const { verdict, target } = await judgeExistingSymlink(root, at, policy());
    expect(verdict.keep, JSON.stringify(verdict)).toBe(keep);
    expect(target).toBe(await fs.readlink(at));
    if (verdict.keep) expect(kept).toEqual([[at, target]]);
    else {
      expect(verdict.reason).toMatch(reason!);
      expect(kept).toEqual([]);
    }
  });

  it('judges against the real path of a root that is itself a symlink', async () => {
    const viaLink = path.join(base, 'root-link');
    expect((await judgeExistingSymlink(viaLink, path.join(viaLink, 'lib'), policy())).verdict.keep).toBe(true);
    expect((await judgeExistingSymlink(viaLink, path.join(viaLink, 'up'), policy())).verdict.keep).toBe(false);
  });

  it('refuses a link whose device and inode are in `created`, under any of its names', async () => {
    const created = new Set([await linkIdentity(path.join(root, 'lib'))]);
    const { verdict } = await judgeExistingSymlink(root, path.join(root, 'lib'), policy(created));
    expect(verdict).toEqual({ keep: false, reason: 'was made by this restore from an archive entry' });
    // A hard link gives the same symlink another name: still the restore's.
    const alias = path.join(base, 'alias-root');
    await fs.mkdir(alias);
    await fs.link(path.join(root, 'lib'), path.join(alias, 'lib'));
    try {
      expect((await judgeExistingSymlink(alias, path.join(alias, 'lib'), policy(created))).verdict.keep).toBe(false);
    } finally {
      await fs.rm(alias, { recursive: true });
    }
  });

  it('writes through a kept parent and caches it; without keep the same path is refused', async () => {
    kept.length = 0;
    const safe = new Set<string>();
    await expect(assertNoSymlinkParents(root, 'lib/firmware/x.bin', safe, policy())).resolves.toBe(path.join(root, 'lib/firmware/x.bin'));
    expect(kept).toEqual([[path.join(root, 'lib'), 'usr/lib']]);
    expect(safe.has(path.join(root, 'lib'))).toBe(true);
    await assertNoSymlinkParents(root, 'lib/firmware/y.bin', safe, policy());
    expect(kept).toHaveLength(1);
    const error = await rejected(assertNoSymlinkParents(root, 'lib/firmware/x.bin', new Set()));
    expect(isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
  });

  it('judges each kept link below another: lib -> usr/lib, then usr/lib/modules -> ../../opt/modules', async () => {
    kept.length = 0;
    await assertNoSymlinkParents(root, 'lib/modules/6.1/x.ko', new Set(), policy());
    expect(kept).toEqual([
      [path.join(root, 'lib'), 'usr/lib'],
      [path.join(root, 'lib/modules'), '../../opt/modules'],
    ]);
  });

  it.each([
    { name: 'refuses a parent link outside the root, naming the entry and the link', rel: 'up/x', link: 'up' },
    { name: 'refuses a parent link to a file', rel: 'to-file/x', link: 'to-file' },
    { name: 'refuses a dangling parent link', rel: 'dangling/x', link: 'dangling' },
    { name: 'refuses a nested link outside the root below a kept one', rel: 'lib/escape/x', link: 'lib/escape' },
  ])('$name', async ({ rel, link }) => {
    const safe = new Set<string>();
    const error = await rejected(assertNoSymlinkParents(root, rel, safe, policy()));
    expect(isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
    expect(error.message).toContain(JSON.stringify(rel));
    expect(error.message).toContain(`its parent ${path.join(root, link)} is a symlink`);
    expect(safe.has(path.join(root, link))).toBe(false);
  });
});
