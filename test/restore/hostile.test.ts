// Hostile indexes end to end: restore refuses every entry that would write outside its target, and writes nothing there.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CassetteError } from '../../src/errors.js';
import { restore } from '../../src/restore/restore.js';
import { LocalStore } from '../../src/store/local-store.js';
import { buildRepo, type HandBuiltMember } from '../helpers/hand-built-repo.js';
import { rejection } from '../helpers/rejection.js';

const cleanup: string[] = [];
afterEach(async () => {
  for (const dir of cleanup.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

interface Scene {
  store: LocalStore;
  /** Fresh directory holding only the target (and whatever a case puts there on purpose). */
  parent: string;
  target: string;
}

/** A fresh repository holding `members`, and a fresh target inside a fresh parent. */
async function scene(members: HandBuiltMember[]): Promise<Scene> {
  const repoDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-hostile-repo-'));
  const parent = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-hostile-parent-'));
  cleanup.push(repoDir, parent);
  const target = path.join(parent, 'target');
  await fs.mkdir(target);
  await buildRepo(repoDir, members);
  return { store: new LocalStore(repoDir), parent, target };
}

/** The restore is refused as unsafe, and the message names the entry (raw or JSON-quoted). */
function expectUnsafe(error: CassetteError, entryPath: string): void {
  expect(error).toBeInstanceOf(CassetteError);
  expect(error.code, error.message).toBe('E_UNSAFE_PATH');
  const named = error.message.includes(entryPath) || error.message.includes(JSON.stringify(entryPath));
  expect(named, `message ${JSON.stringify(error.message)} should name ${JSON.stringify(entryPath)}`).toBe(true);
}

/** Nothing exists outside the target: the parent holds the target (and `alsoInParent`), the target at most the artifact root. */
async function expectContained(s: Scene, alsoInParent: string[] = []): Promise<void> {
  expect((await fs.readdir(s.parent)).sort()).toEqual(['target', ...alsoInParent].sort());
  for (const name of await fs.readdir(s.target)) expect(name).toBe('evil');
}

const file = (p: string, text = 'pwned\n'): HandBuiltMember => ({ path: p, type: 'file', content: Buffer.from(text) });

describe('restore of a hostile index', () => {
  it('refuses ../escape.txt', async () => {
    const s = await scene([file('ok.txt', 'fine\n'), file('../escape.txt')]);
    expectUnsafe(await rejection(restore({ store: s.store, snapshot: 'latest', target: s.target })), '../escape.txt');
    await expectContained(s);
    expect(existsSync(path.join(s.target, 'escape.txt'))).toBe(false);
  });

  it('refuses a/../../escape.txt', async () => {
    const s = await scene([{ path: 'a', type: 'dir' }, file('a/../../escape.txt')]);
    expectUnsafe(await rejection(restore({ store: s.store, snapshot: 'latest', target: s.target })), 'a/../../escape.txt');
    await expectContained(s);
    expect(existsSync(path.join(s.target, 'escape.txt'))).toBe(false);
  });

  it('refuses an absolute path (/tmp/pwned-<random>)', async () => {
    const victim = path.join('/tmp', `pwned-${randomBytes(6).toString('hex')}`);
    cleanup.push(victim);
    const s = await scene([file(victim)]);
    expectUnsafe(await rejection(restore({ store: s.store, snapshot: 'latest', target: s.target })), victim);
    expect(existsSync(victim)).toBe(false);
    await expectContained(s);
  });

  it('refuses a Windows drive path (C:\\x)', async () => {
    const s = await scene([file('C:\\x')]);
    expectUnsafe(await rejection(restore({ store: s.store, snapshot: 'latest', target: s.target })), 'C:\\x');
    await expectContained(s);
  });

  it('refuses backslash traversal (a\\..\\..\\x)', async () => {
    const s = await scene([file('a\\..\\..\\x')]);
    expectUnsafe(await rejection(restore({ store: s.store, snapshot: 'latest', target: s.target })), 'a\\..\\..\\x');
    await expectContained(s);
  });

  it('refuses a symlink to outside followed by a file through it (symlink-then-file, CVE-2021-32803)', async () => {
    const repoDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-hostile-repo-'));
    const parent = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-hostile-parent-'));
    cleanup.push(repoDir, parent);
    const target = path.join(parent, 'target');
    await fs.mkdir(target);
    await buildRepo(repoDir, [{ path: 'link', type: 'symlink', link: parent }, file('link/pwned.txt')]);
    const s: Scene = { store: new LocalStore(repoDir), parent, target };
    const error = await rejection(restore({ store: s.store, snapshot: 'latest', target }));
    // The safety property first: nothing was written through the link.
    expect(existsSync(path.join(parent, 'pwned.txt'))).toBe(false);
    await expectContained(s);
    expectUnsafe(error, 'link/pwned.txt');
  });

  it('refuses to write through a symlink already in the target (pre-existing link -> outside)', async () => {
    const s = await scene([file('link/pwned.txt')]);
    await fs.mkdir(path.join(s.target, 'evil'));
    await fs.symlink(s.parent, path.join(s.target, 'evil', 'link'));
    expectUnsafe(await rejection(restore({ store: s.store, snapshot: 'latest', target: s.target })), 'link/pwned.txt');
    expect(existsSync(path.join(s.parent, 'pwned.txt'))).toBe(false);
    await expectContained(s);
    // The symlink itself is left as it was.
    expect(await fs.readlink(path.join(s.target, 'evil', 'link'))).toBe(s.parent);
  });

  it('refuses a hard link whose target is ../../outside-file, and leaves the outside file alone', async () => {
    const s = await scene([file('ok.txt', 'fine\n'), { path: 'hl', type: 'hardlink', link: '../../outside-file' }]);
    // <target>/evil/../../outside-file is <parent>/outside-file.
    const outside = path.join(s.parent, 'outside-file');
    await fs.writeFile(outside, 'precious\n');
    const error = await rejection(restore({ store: s.store, snapshot: 'latest', target: s.target }));
    await expectContained(s, ['outside-file']);
    const stats = await fs.stat(outside);
    expect(stats.nlink).toBe(1);
    expect(await fs.readFile(outside, 'utf8')).toBe('precious\n');
    expect(existsSync(path.join(s.target, 'evil', 'hl'))).toBe(false);
    expect(error.message).toContain('../../outside-file');
    expectUnsafe(error, 'hl');
  });

  it('refuses a hard link to an absolute path (/etc/passwd)', async () => {
    const before = await fs.stat('/etc/passwd');
    const s = await scene([{ path: 'hl', type: 'hardlink', link: '/etc/passwd' }]);
    const error = await rejection(restore({ store: s.store, snapshot: 'latest', target: s.target }));
    await expectContained(s);
    expect(existsSync(path.join(s.target, 'evil', 'hl'))).toBe(false);
    expect((await fs.stat('/etc/passwd')).nlink).toBe(before.nlink);
    expect(error.message).toContain('/etc/passwd');
    expectUnsafe(error, 'hl');
  });

  it('restores a normal 300-character path (long-name positive control: the index path is what counts)', async () => {
    const long = ['a'.repeat(100), 'b'.repeat(100), 'c'.repeat(98)].join('/');
    expect(long).toHaveLength(300);
    const s = await scene([{ path: 'a'.repeat(100), type: 'dir' }, { path: long.slice(0, 201), type: 'dir' }, file(long, 'long\n')]);
    await restore({ store: s.store, snapshot: 'latest', target: s.target });
    expect(await fs.readFile(path.join(s.target, 'evil', long), 'utf8')).toBe('long\n');
    await expectContained(s);
  });

  it("refuses a long path that climbs out (x/ + '../' × 50 + y)", async () => {
    const hostile = `x/${'../'.repeat(50)}y`;
    const s = await scene([{ path: 'x', type: 'dir' }, file(hostile)]);
    expectUnsafe(await rejection(restore({ store: s.store, snapshot: 'latest', target: s.target })), hostile);
    await expectContained(s);
    expect(existsSync('/y')).toBe(false);
  });

  it('restores a benign archive: dirs, files, a symlink with an absolute target (verbatim), a hard link', async () => {
    const s = await scene([
      { path: 'etc', type: 'dir' },
      { path: 'etc/hosts', type: 'file', content: Buffer.from('127.0.0.1 localhost\n') },
      { path: 'etc/localtime', type: 'symlink', link: '/usr/share/zoneinfo/UTC' },
      { path: 'etc/relative', type: 'symlink', link: '../elsewhere/x' },
      { path: 'etc/hosts.link', type: 'hardlink', link: 'etc/hosts' },
      { path: 'srv', type: 'dir' },
      { path: 'srv/data', type: 'dir' },
      { path: 'srv/data/blob.bin', type: 'file', content: randomBytes(200_000), mode: 0o600 },
      { path: 'srv/empty', type: 'file', content: Buffer.alloc(0) },
    ]);
    const summary = await restore({ store: s.store, snapshot: 'latest', target: s.target });
    expect(summary.entries).toBe(9);
    const root = path.join(s.target, 'evil');
    expect(await fs.readFile(path.join(root, 'etc/hosts'), 'utf8')).toBe('127.0.0.1 localhost\n');
    expect(await fs.readlink(path.join(root, 'etc/localtime'))).toBe('/usr/share/zoneinfo/UTC');
    expect(await fs.readlink(path.join(root, 'etc/relative'))).toBe('../elsewhere/x');
    const [hosts, link] = await Promise.all([fs.stat(path.join(root, 'etc/hosts')), fs.stat(path.join(root, 'etc/hosts.link'))]);
    expect(link.ino).toBe(hosts.ino);
    expect((await fs.stat(path.join(root, 'srv/data/blob.bin'))).size).toBe(200_000);
    expect((await fs.stat(path.join(root, 'srv/data/blob.bin'))).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.join(root, 'srv/empty'))).size).toBe(0);
    await expectContained(s);
  });
});
