// In-place restores keep a directory symlink already on the target (GNU tar's --keep-directory-symlink)
// when it resolves to a directory inside the restore root; every other symlink is still refused or replaced.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import type { CommitRecord } from '../../src/format/types.js';
import type { ProgressEvent } from '../../src/progress.js';
import { restoreRecord, type RestoreOptions } from '../../src/restore/restore.js';
import { LocalStore } from '../../src/store/local-store.js';
import { cassette } from '../helpers/cli.js';
import { buildRepo, type HandBuiltMember } from '../helpers/hand-built-repo.js';
import { rejection } from '../helpers/rejection.js';

let work: string;
let store: LocalStore;
let record: CommitRecord;
let targets = 0;

const LIBC = 'libc 2.36\n';
const MODULE = 'e1000 module\n';

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-keep-symlink-'));
  // The backed-up node: /lib a real directory (as before merged /usr), with a hard link in it.
  const source = path.join(work, 'source');
  await fs.mkdir(path.join(source, 'lib/modules/6.1'), { recursive: true });
  await fs.mkdir(path.join(source, 'etc'));
  await fs.writeFile(path.join(source, 'lib/libc.so.6'), LIBC);
  await fs.link(path.join(source, 'lib/libc.so.6'), path.join(source, 'lib/libc-2.36.so'));
  await fs.writeFile(path.join(source, 'lib/modules/6.1/x.ko'), MODULE);
  await fs.writeFile(path.join(source, 'etc/hostname'), 'node1\n');
  await fs.chmod(path.join(source, 'lib'), 0o700);
  await fs.chmod(path.join(source, 'lib/modules'), 0o750);
  store = new LocalStore(path.join(work, 'repo'));
  record = (await backup({ store, sources: [{ kind: 'tree', path: source, name: 'rootfs' }] })).record;
});

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** A fresh target: `root` (a merged-/usr node with usr/lib/keep.txt, plus `links` made in it) next to an empty `outside`. */
async function target(links: Record<string, string> = {}): Promise<{ root: string; outside: string }> {
  const dir = path.join(work, `target-${targets++}`);
  const root = path.join(dir, 'root');
  const outside = path.join(dir, 'outside');
  await fs.mkdir(path.join(root, 'usr/lib'), { recursive: true });
  await fs.chmod(path.join(root, 'usr/lib'), 0o755);
  await fs.writeFile(path.join(root, 'usr/lib/keep.txt'), 'from the installed system\n');
  await fs.mkdir(outside);
  for (const [name, link] of Object.entries(links)) await fs.symlink(link.replace('<root>', root).replace('<outside>', outside), path.join(root, name));
  return { root, outside };
}

/** Restores `rec` in place with every artifact rooted at `root`; the keep-symlink events it reported. */
async function restoreInPlace(root: string, options: Partial<RestoreOptions> = {}, rec = record, from = store): Promise<Array<Extract<ProgressEvent, { type: 'keep-symlink' }>>> {
  const events: ProgressEvent[] = [];
  await restoreRecord(rec, { store: from, snapshot: rec.id, inPlace: true, inPlaceRoot: () => root, progress: { event: (e) => events.push(e) }, ...options });
  return events.filter((e) => e.type === 'keep-symlink');
}

const read = (p: string): Promise<string> => fs.readFile(p, 'utf8');
const mode = async (p: string): Promise<number> => (await fs.stat(p)).mode & 0o7777;

describe('in-place restore onto a target where lib -> usr/lib', () => {
  it('keeps the symlink and writes lib/ into usr/lib, nested directories and hard links included', async () => {
    const { root } = await target({ lib: 'usr/lib' });
    const kept = await restoreInPlace(root);
    expect((await fs.lstat(path.join(root, 'lib'))).isSymbolicLink()).toBe(true);
    expect(await fs.readlink(path.join(root, 'lib'))).toBe('usr/lib');
    expect(await read(path.join(root, 'usr/lib/libc.so.6'))).toBe(LIBC);
    expect(await read(path.join(root, 'usr/lib/modules/6.1/x.ko'))).toBe(MODULE);
    expect(await read(path.join(root, 'usr/lib/keep.txt'))).toBe('from the installed system\n');
    const [libc, hardLink] = await Promise.all([fs.stat(path.join(root, 'usr/lib/libc.so.6')), fs.stat(path.join(root, 'usr/lib/libc-2.36.so'))]);
    expect(hardLink.ino).toBe(libc.ino);
    expect(await read(path.join(root, 'etc/hostname'))).toBe('node1\n');
    // lib/'s own mode (0700) is not applied through the symlink; lib/modules/'s (0750) is, on the real directory.
    expect(await mode(path.join(root, 'usr/lib'))).toBe(0o755);
    expect(await mode(path.join(root, 'usr/lib/modules'))).toBe(0o750);
    expect(kept).toEqual([{ type: 'keep-symlink', artifact: 'rootfs', path: path.join(root, 'lib'), target: 'usr/lib' }]);
  });

  it('keeps an absolute symlink to a directory inside the root (lib -> <root>/usr/lib)', async () => {
    const { root } = await target({ lib: '<root>/usr/lib' });
    const kept = await restoreInPlace(root);
    expect((await fs.lstat(path.join(root, 'lib'))).isSymbolicLink()).toBe(true);
    expect(await read(path.join(root, 'usr/lib/modules/6.1/x.ko'))).toBe(MODULE);
    expect(kept.map((e) => [e.path, e.target])).toEqual([[path.join(root, 'lib'), path.join(root, 'usr/lib')]]);
  });

  it('writes through the symlink as a parent when the lib/ entry itself is not selected', async () => {
    const { root } = await target({ lib: 'usr/lib' });
    const kept = await restoreInPlace(root, { include: ['rootfs/lib/modules/6.1/x.ko'] });
    expect(await read(path.join(root, 'usr/lib/modules/6.1/x.ko'))).toBe(MODULE);
    expect(kept.map((e) => e.path)).toEqual([path.join(root, 'lib')]);
  });

  it('judges each kept symlink below another: usr/lib/modules -> ../../opt/modules', async () => {
    const { root } = await target({ lib: 'usr/lib' });
    await fs.mkdir(path.join(root, 'opt/modules'), { recursive: true });
    await fs.chmod(path.join(root, 'opt/modules'), 0o711);
    await fs.symlink('../../opt/modules', path.join(root, 'usr/lib/modules'));
    const kept = await restoreInPlace(root);
    expect(await read(path.join(root, 'opt/modules/6.1/x.ko'))).toBe(MODULE);
    expect((await fs.lstat(path.join(root, 'usr/lib/modules'))).isSymbolicLink()).toBe(true);
    expect(await mode(path.join(root, 'opt/modules'))).toBe(0o711);
    expect(kept.map((e) => [e.path, e.target])).toEqual([
      [path.join(root, 'lib'), 'usr/lib'],
      [path.join(root, 'lib/modules'), '../../opt/modules'],
    ]);
  });

  it('a dry run reports the symlink it would keep and writes nothing', async () => {
    const { root } = await target({ lib: 'usr/lib' });
    const kept = await restoreInPlace(root, { dryRun: true });
    expect(kept.map((e) => [e.path, e.target])).toEqual([[path.join(root, 'lib'), 'usr/lib']]);
    expect(await fs.readdir(path.join(root, 'usr/lib'))).toEqual(['keep.txt']);
    await expect(fs.access(path.join(root, 'etc'))).rejects.toThrow();
  });
});

describe('in-place restore onto symlinks it must not write through', () => {
  it('replaces lib -> ../outside with a real directory, as before, and leaves the outside alone', async () => {
    const { root, outside } = await target({ lib: '../outside' });
    const kept = await restoreInPlace(root);
    expect((await fs.lstat(path.join(root, 'lib'))).isDirectory()).toBe(true);
    expect(await read(path.join(root, 'lib/modules/6.1/x.ko'))).toBe(MODULE);
    expect(await fs.readdir(outside)).toEqual([]);
    expect(await fs.readdir(path.join(root, 'usr/lib'))).toEqual(['keep.txt']);
    expect(kept).toEqual([]);
  });

  it.each([
    { name: 'an absolute link outside the root', link: '<outside>' },
    { name: 'a relative link that climbs out', link: '../outside' },
    { name: 'a link that passes through usr/ and climbs out', link: 'usr/../../outside' },
  ])('refuses an entry below $name when lib/ itself is not selected, naming the entry and the link', async ({ link }) => {
    const { root, outside } = await target({ lib: link });
    const error = await rejection(restoreInPlace(root, { include: ['rootfs/lib/modules/6.1/x.ko'] }));
    expect(error.code).toBe('E_UNSAFE_PATH');
    expect(error.message).toContain('"lib/modules/6.1/x.ko"');
    expect(error.message).toContain(`its parent ${path.join(root, 'lib')} is a symlink`);
    expect(error.message).toContain('outside the restore root');
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it.each([
    { name: 'dangles', lib: 'usr/missing' },
    { name: 'points to a file', lib: 'usr/lib/keep.txt' },
  ])('replaces a symlink at lib/ that $name with a real directory', async ({ lib }) => {
    const { root } = await target({ lib });
    const kept = await restoreInPlace(root);
    expect((await fs.lstat(path.join(root, 'lib'))).isDirectory()).toBe(true);
    expect(await read(path.join(root, 'lib/libc.so.6'))).toBe(LIBC);
    expect(await read(path.join(root, 'usr/lib/keep.txt'))).toBe('from the installed system\n');
    expect(kept).toEqual([]);
  });

  it('with --root re-rooting, an absolute lib -> /usr/lib resolves on the host, outside the root: the dry run keeps nothing', async () => {
    // Only a dry run: a real restore that followed this link would write into the host's /usr/lib.
    const { root } = await target({ lib: '/usr/lib' });
    expect(await restoreInPlace(root, { dryRun: true })).toEqual([]);
    // The same tree with a relative link is kept.
    const relative = await target({ lib: 'usr/lib' });
    expect(await restoreInPlace(relative.root, { dryRun: true })).toHaveLength(1);
  });

  it("a --target restore (a fresh tree) keeps today's rule: any symlink parent is refused", async () => {
    const dir = path.join(work, `target-${targets++}`);
    await fs.mkdir(path.join(dir, 'rootfs/usr/lib'), { recursive: true });
    await fs.symlink('usr/lib', path.join(dir, 'rootfs/lib'));
    const error = await rejection(restoreRecord(record, { store, snapshot: record.id, target: dir, include: ['rootfs/lib/modules/6.1/x.ko'] }));
    expect(error.code).toBe('E_UNSAFE_PATH');
    expect(error.message).toMatch(/nothing is written through symlinks/);
    expect(await fs.readdir(path.join(dir, 'rootfs/usr/lib'))).toEqual([]);
  });
});

describe('symlinks made by the restore itself are never kept', () => {
  /** One snapshot of two hand-built artifacts (`first`, then `second`), both restored at the same root. */
  async function twoArtifacts(first: HandBuiltMember[], second: HandBuiltMember[]): Promise<{ rec: CommitRecord; from: LocalStore }> {
    const dir = path.join(work, `repo-${targets++}`);
    const a = await buildRepo(dir, first, { artifact: 'first' });
    const b = await buildRepo(dir, second, { artifact: 'second' });
    return { rec: { ...b.record, artifacts: [...a.record.artifacts, ...b.record.artifacts] }, from: new LocalStore(dir) };
  }
  const file = (p: string): HandBuiltMember => ({ path: p, type: 'file', content: Buffer.from('pwned\n') });

  it('refuses an entry of a later artifact below a symlink an earlier artifact made, though it points inside the root', async () => {
    const { root } = await target();
    const { rec, from } = await twoArtifacts([{ path: 'a', type: 'symlink', link: 'usr/lib' }], [file('a/passwd')]);
    const error = await rejection(restoreInPlace(root, { artifactOrder: ['first', 'second'] }, rec, from));
    expect(error.code).toBe('E_UNSAFE_PATH');
    expect(error.message).toContain('"a/passwd"');
    expect(error.message).toContain('made by this restore');
    expect(await fs.readdir(path.join(root, 'usr/lib'))).toEqual(['keep.txt']);
  });

  it('replaces such a symlink with a real directory for a directory entry', async () => {
    const { root } = await target();
    const { rec, from } = await twoArtifacts([{ path: 'a', type: 'symlink', link: 'usr/lib' }], [{ path: 'a', type: 'dir' }, file('a/passwd')]);
    expect(await restoreInPlace(root, { artifactOrder: ['first', 'second'] }, rec, from)).toEqual([]);
    expect((await fs.lstat(path.join(root, 'a'))).isDirectory()).toBe(true);
    expect(await read(path.join(root, 'a/passwd'))).toBe('pwned\n');
    expect(await fs.readdir(path.join(root, 'usr/lib'))).toEqual(['keep.txt']);
  });

  it('refuses symlink-then-file within one artifact in place too (a -> /etc, then a/passwd)', async () => {
    const { root, outside } = await target();
    const dir = path.join(work, `repo-${targets++}`);
    const { record: rec } = await buildRepo(dir, [{ path: 'a', type: 'symlink', link: outside }, file('a/passwd')]);
    const error = await rejection(restoreInPlace(root, {}, rec, new LocalStore(dir)));
    expect(error.code).toBe('E_UNSAFE_PATH');
    expect(error.message).toContain('below the symlink entry "a"');
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it('applies directory metadata to the real directory it wrote, not through a chain the archive later redirects', async () => {
    // lib -> usr/lib is kept (usr -> real-usr on the target); then the archive replaces usr with a
    // link to the outside. lib/modules' mode must land on real-usr/lib/modules, not outside.
    const { root, outside } = await target();
    await fs.rm(path.join(root, 'usr'), { recursive: true });
    await fs.mkdir(path.join(root, 'real-usr/lib'), { recursive: true });
    await fs.symlink('real-usr', path.join(root, 'usr'));
    await fs.symlink('usr/lib', path.join(root, 'lib'));
    await fs.mkdir(path.join(outside, 'lib/modules'), { recursive: true });
    await fs.chmod(path.join(outside, 'lib/modules'), 0o755);
    const dir = path.join(work, `repo-${targets++}`);
    const { record: rec } = await buildRepo(dir, [
      { path: 'lib/modules', type: 'dir', mode: 0o700 },
      { path: 'usr', type: 'symlink', link: outside },
    ]);
    const kept = await restoreInPlace(root, {}, rec, new LocalStore(dir));
    expect(kept.map((e) => e.path)).toEqual([path.join(root, 'lib')]);
    expect(await fs.readlink(path.join(root, 'usr'))).toBe(outside);
    expect(await mode(path.join(root, 'real-usr/lib/modules'))).toBe(0o700);
    expect(await mode(path.join(outside, 'lib/modules'))).toBe(0o755);
  });
});

describe('cassette restore --in-place reports kept directory symlinks', () => {
  let node: string;
  let repo: string;

  beforeAll(async () => {
    // Back up a node whose lib/ is a real directory, then turn it into a merged-/usr node.
    node = path.join(work, 'cli-node');
    repo = path.join(work, 'cli-repo');
    await fs.mkdir(path.join(node, 'lib'), { recursive: true });
    await fs.writeFile(path.join(node, 'lib/libc.so.6'), LIBC);
    await backup({ store: new LocalStore(repo), sources: [{ kind: 'tree', path: node }] });
    await fs.mkdir(path.join(node, 'usr'));
    await fs.rename(path.join(node, 'lib'), path.join(node, 'usr/lib'));
    await fs.symlink('usr/lib', path.join(node, 'lib'));
  });

  it('the dry run lists "keep directory symlink" with the entries, and --json as a keep-symlink event', async () => {
    const line = `keep directory symlink ${path.join(node, 'lib')} -> usr/lib`;
    const dry = await cassette(['restore', 'latest', '--in-place', '--dry-run', '--repo', repo]);
    expect(dry.exitCode, dry.stderr as string).toBe(0);
    const lines = (dry.stdout as string).split('\n');
    expect(lines.filter((l) => l === line)).toHaveLength(1);
    // After the lib/ entry it explains.
    expect(lines.indexOf(line)).toBeGreaterThan(lines.findIndex((l) => l.startsWith('would write dir') && l.endsWith(path.join(node, 'lib'))));
    const json = await cassette(['restore', 'latest', '--in-place', '--dry-run', '--json', '--repo', repo]);
    expect(json.exitCode, json.stderr as string).toBe(0);
    const events = (json.stdout as string)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.type === 'keep-symlink');
    expect(events).toEqual([{ type: 'keep-symlink', artifact: expect.any(String), path: path.join(node, 'lib'), target: 'usr/lib' }]);
  });

  it('the restore says so once on stderr and keeps the symlink', async () => {
    await fs.writeFile(path.join(node, 'usr/lib/libc.so.6'), 'changed since the backup\n');
    const result = await cassette(['restore', 'latest', '--in-place', '--repo', repo]);
    expect(result.exitCode, result.stderr as string).toBe(0);
    expect((result.stderr as string).split('\n').filter((l) => l === `keep directory symlink ${path.join(node, 'lib')} -> usr/lib`)).toHaveLength(1);
    expect(await fs.readlink(path.join(node, 'lib'))).toBe('usr/lib');
    expect(await read(path.join(node, 'usr/lib/libc.so.6'))).toBe(LIBC);
  });
});
