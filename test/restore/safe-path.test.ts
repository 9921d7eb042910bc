import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCassetteError } from '../../src/errors.js';
import { assertNoSymlinkParents, normalizeEntryPath, normalizeLinkTarget, resolveInside } from '../../src/restore/safe-path.js';

/** Runs fn and returns the CassetteError it throws (fails the test when it does not throw one). */
function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

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
  { name: 'accepts a very long path (4096 bytes) when otherwise safe', path: `${'d'.repeat(200)}/`.repeat(20) + 'f'.repeat(76), expected: `${'d'.repeat(200)}/`.repeat(20) + 'f'.repeat(76) },
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
    expect(isCassetteError(thrown(() => resolveInside('/restore', rel)), 'E_UNSAFE_PATH')).toBe(true);
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
