import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileExcludes, walk, type WalkItem, type WalkOptions } from '../../src/backup/walk.js';
import type { BackupWarning } from '../../src/format/types.js';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-walk-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function tree(name: string, files: Record<string, string | null>): Promise<string> {
  const root = path.join(tmp, name);
  await fs.mkdir(root, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, rel);
    if (content === null) await fs.mkdir(abs, { recursive: true });
    else {
      await fs.mkdir(path.dirname(abs), { recursive: true });
      await fs.writeFile(abs, content);
    }
  }
  return root;
}

async function run(options: WalkOptions): Promise<{ items: WalkItem[]; paths: string[]; warnings: BackupWarning[] }> {
  const warnings: BackupWarning[] = [];
  const items: WalkItem[] = [];
  for await (const item of walk({ ...options, onWarning: (w) => warnings.push(w) })) items.push(item);
  return { items, paths: items.map((i) => i.path), warnings };
}

describe('walk order', () => {
  it('yields parents before children, siblings in byte order of their names, not the root itself', async () => {
    const root = await tree('order', {
      'b/z.txt': 'z',
      'b/a.txt': 'a',
      'a/c/d.txt': 'd',
      'a/B.txt': 'B',
      'a.txt': 'a',
      'A.txt': 'A',
      _x: '_',
      'a-b': '-',
      'é.txt': 'e',
      empty: null,
    });
    const { items, paths, warnings } = await run({ root });
    expect(warnings).toEqual([]);
    expect(paths).toEqual(['A.txt', '_x', 'a', 'a/B.txt', 'a/c', 'a/c/d.txt', 'a-b', 'a.txt', 'b', 'b/a.txt', 'b/z.txt', 'empty', 'é.txt']);
    // Byte order: every sibling list is sorted by its UTF-8 bytes.
    const seen = new Set<string>();
    for (const item of items) {
      const parent = path.posix.dirname(item.path);
      if (parent !== '.') expect(seen.has(parent)).toBe(true);
      seen.add(item.path);
      expect(item.absPath).toBe(path.join(root, item.path));
      expect(item.stats.ino).toBeTypeOf('bigint');
    }
    expect(items.find((i) => i.path === 'a')!.type).toBe('dir');
    expect(items.find((i) => i.path === 'a.txt')!.type).toBe('file');
  });

  it('reports symlinks as symlinks without following them', async () => {
    const root = await tree('links', { 'dir/inside.txt': 'x' });
    await fs.symlink('dir', path.join(root, 'link-to-dir'));
    await fs.symlink('/nonexistent/target', path.join(root, 'dangling'));
    const { items, warnings } = await run({ root });
    expect(warnings).toEqual([]);
    expect(items.map((i) => [i.path, i.type])).toEqual([
      ['dangling', 'symlink'],
      ['dir', 'dir'],
      ['dir/inside.txt', 'file'],
      ['link-to-dir', 'symlink'],
    ]);
  });

  it('a root that is a single file yields just that file', async () => {
    const root = await tree('single', { 'only.txt': 'x' });
    const { items } = await run({ root: path.join(root, 'only.txt') });
    expect(items.map((i) => [i.path, i.type])).toEqual([['only.txt', 'file']]);
  });
});

describe('walk excludes', () => {
  it('`*.tmp` excludes by name at any depth', async () => {
    const root = await tree('ex-name', { 'x.tmp': '1', 'keep.txt': '2', 'a/b/y.tmp': '3', 'a/b/keep.tmp.txt': '4', 'dir.tmp/inner.txt': '5' });
    const { paths } = await run({ root, exclude: ['*.tmp'] });
    expect(paths).toEqual(['a', 'a/b', 'a/b/keep.tmp.txt', 'keep.txt']);
  });

  it('`rel/dir/**` excludes everything below a path relative to the root', async () => {
    const root = await tree('ex-rel', { 'rel/dir/a.txt': '1', 'rel/dir/sub/b.txt': '2', 'rel/other.txt': '3', 'x/rel/dir/c.txt': '4' });
    const { paths } = await run({ root, exclude: ['rel/dir/**'] });
    expect(paths.filter((p) => p.startsWith('rel/dir/'))).toEqual([]);
    expect(paths).toContain('rel/other.txt');
    // Relative patterns are anchored at the source root: a deeper rel/dir is kept.
    expect(paths).toContain('x/rel/dir/c.txt');
  });

  it('`/abs/path` excludes one absolute path (a directory with its contents, or a file)', async () => {
    const root = await tree('ex-abs', { 'cache/a.bin': '1', 'cache/sub/b.bin': '2', 'keep/cache/c.txt': '3', 'secret.key': 'k', 'other.key': 'o' });
    const { paths } = await run({ root, exclude: [path.join(root, 'cache'), path.join(root, 'secret.key')] });
    expect(paths).toEqual(['keep', 'keep/cache', 'keep/cache/c.txt', 'other.key']);
  });

  it('an absolute pattern with a trailing slash still matches the directory', async () => {
    const root = await tree('ex-abs-slash', { 'cache/a.bin': '1', 'keep.txt': '2' });
    const { paths } = await run({ root, exclude: [`${path.join(root, 'cache')}/`] });
    expect(paths).toEqual(['keep.txt']);
  });

  it('a bare directory name excludes that directory at any depth, with its contents; ./name only at the top', async () => {
    const root = await tree('ex-dir-name', { 'cache/a': '1', 'x/cache/b': '2', 'x/cachet/c': '3', 'y/cache': 'a file named cache' });
    expect((await run({ root, exclude: ['cache'] })).paths).toEqual(['x', 'x/cachet', 'x/cachet/c', 'y']);
    expect((await run({ root, exclude: ['./cache'] })).paths).toEqual(['x', 'x/cache', 'x/cache/b', 'x/cachet', 'x/cachet/c', 'y', 'y/cache']);
  });

  it('a name with glob metacharacters is excluded by escaping them', async () => {
    const root = await tree('ex-meta', { '[1].log': '1', '1.log': '2', 'a*b': '3', axb: '4' });
    expect((await run({ root, exclude: ['\\[1\\].log', 'a\\*b'] })).paths).toEqual(['1.log', 'axb']);
  });

  it("an absolute pattern naming a directory above the source root excludes nothing (a plan excludes another role's source so)", async () => {
    const root = await tree('ex-above', { 'a.txt': '1', 'sub/b.txt': '2' });
    expect((await run({ root, exclude: [tmp, path.dirname(root)] })).paths).toEqual(['a.txt', 'sub', 'sub/b.txt']);
  });

  it('compileExcludes refuses a negated pattern rather than excluding everything else', () => {
    expect(() => compileExcludes(['!*.log'])).toThrow(/exclude pattern "!\*\.log" is negated/);
  });

  it('compileExcludes rejects an empty pattern', () => {
    expect(() => compileExcludes(['  '])).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });
});

describe('walk skip set (nested sources)', () => {
  it('keeps a nested source directory as an empty entry and leaves out its contents', async () => {
    const root = await tree('skip', { 'a/nested/deep/x.txt': '1', 'a/nested/y.txt': '2', 'a/z.txt': '3', 'b.txt': '4' });
    const { items, paths } = await run({ root, skip: new Set([path.join(root, 'a', 'nested')]) });
    expect(paths).toEqual(['a', 'a/nested', 'a/z.txt', 'b.txt']);
    expect(items.find((i) => i.path === 'a/nested')!.type).toBe('dir');
  });

  it('a nested source that is a file is left out entirely', async () => {
    const root = await tree('skip-file', { 'a/f.txt': '1', 'a/g.txt': '2' });
    const { paths } = await run({ root, skip: new Set([path.join(root, 'a', 'f.txt')]) });
    expect(paths).toEqual(['a', 'a/g.txt']);
  });
});

describe('walk special cases', () => {
  it('skips a socket with W_SKIPPED and keeps its siblings', async () => {
    const root = await tree('socket', { 'a.txt': 'a', 'z.txt': 'z' });
    const socketPath = path.join(root, 'm.sock');
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, resolve);
    });
    try {
      const { paths, warnings } = await run({ root });
      expect(paths).toEqual(['a.txt', 'z.txt']);
      expect(warnings).toEqual([expect.objectContaining({ code: 'W_SKIPPED', path: 'm.sock' })]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('yields fifos as fifo entries', async () => {
    const root = await tree('fifo', {});
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const { items } = await run({ root });
    expect(items.map((i) => [i.path, i.type])).toEqual([['pipe', 'fifo']]);
  });

  // An unreadable directory (W_UNREADABLE, walk continues) cannot be made here: the tests run as
  // root, and root lists a directory whatever its mode (chmod 000 does not stop it). Not tested.

  it('a missing root fails with E_SOURCE', async () => {
    await expect(run({ root: path.join(tmp, 'does', 'not', 'exist') })).rejects.toMatchObject({ code: 'E_SOURCE' });
  });

  it('a root that is a socket or fifo fails with E_SOURCE', async () => {
    const root = await tree('fifo-root', {});
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [path.join(root, 'p')]);
    await expect(run({ root: path.join(root, 'p') })).rejects.toMatchObject({ code: 'E_SOURCE' });
  });

  it('stops with E_ABORTED when its signal is aborted', async () => {
    const root = await tree('abort', { 'a.txt': '1', 'b.txt': '2' });
    const controller = new AbortController();
    controller.abort();
    await expect(run({ root, signal: controller.signal })).rejects.toThrow();
  });
});

describe('walk --exclude-caches', () => {
  const TAG = 'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag.\n';

  it('keeps a tagged directory and its tag, and leaves out the rest of its contents', async () => {
    const root = await tree('caches', {
      'cache/CACHEDIR.TAG': TAG,
      'cache/blob': 'x',
      'cache/sub/deep': 'y',
      'keep/file': 'z',
      'keep/nested/CACHEDIR.TAG': TAG,
      'keep/nested/z': 'w',
    });
    expect((await run({ root, excludeCaches: true })).paths).toEqual(['cache', 'cache/CACHEDIR.TAG', 'keep', 'keep/file', 'keep/nested', 'keep/nested/CACHEDIR.TAG']);
    expect((await run({ root })).paths).toContain('cache/blob');
  });

  it.each([
    { name: 'a tag without the signature', content: 'Signature: not the right one\n' },
    { name: 'a tag with the signature cut short', content: 'Signature: 8a477f597d28d172789f06886806bc5' },
    { name: 'a tag whose signature is not at the start', content: `\n${TAG}` },
  ])('ignores $name', async ({ content }) => {
    const root = await tree(`caches-bad-${content.length}`, { 'cache/CACHEDIR.TAG': content, 'cache/blob': 'x' });
    expect((await run({ root, excludeCaches: true })).paths).toEqual(['cache', 'cache/CACHEDIR.TAG', 'cache/blob']);
  });

  it('ignores a tag that is a symlink (to a valid tag elsewhere) or a directory', async () => {
    const root = await tree('caches-link', { 'real/CACHEDIR.TAG': TAG, 'linked/blob': 'x', 'dir/CACHEDIR.TAG/inner': 'y', 'dir/blob': 'z' });
    await fs.symlink(path.join(root, 'real', 'CACHEDIR.TAG'), path.join(root, 'linked', 'CACHEDIR.TAG'));
    const { paths } = await run({ root, excludeCaches: true });
    expect(paths).toContain('linked/blob');
    expect(paths).toContain('dir/blob');
    expect(paths.filter((p) => p.startsWith('real/'))).toEqual(['real/CACHEDIR.TAG']);
  });
});

describe('walk maxFileSize (--exclude-larger-than)', () => {
  it('leaves out regular files larger than the limit, tells onLeftOut, and keeps files of exactly the limit', async () => {
    const root = await tree('larger', { 'small.txt': '1234', 'exact.txt': '12345', 'big.txt': '123456', 'dir/big2.bin': '1234567' });
    await fs.symlink('big.txt', path.join(root, 'link-to-big'));
    const leftOut: string[] = [];
    const { paths, warnings } = await run({ root, maxFileSize: 5, onLeftOut: (item) => leftOut.push(`${item.path}:${item.stats.size}`) });
    expect(paths).toEqual(['dir', 'exact.txt', 'link-to-big', 'small.txt']);
    expect(leftOut).toEqual(['big.txt:6', 'dir/big2.bin:7']);
    expect(warnings).toEqual([]);
  });
});
