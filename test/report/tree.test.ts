import { describe, expect, it } from 'vitest';
import type { IndexEntry } from '../../src/format/types.js';
import { largestCap, TreeCollector } from '../../src/report/tree.js';

function entry(path: string, type: IndexEntry['type'] = 'file', size = 0): IndexEntry {
  return { path, type, size: type === 'file' ? size : 0, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: '1764170000.5', offset: 0, dataOffset: 512 };
}

/** a/ (a/x 10, a/b/ (a/b/y 20, a/b/c/ (a/b/c/z 30))), top 5 */
const SAMPLE: IndexEntry[] = [
  entry('a', 'dir'),
  entry('a/x', 'file', 10),
  entry('a/b', 'dir'),
  entry('a/b/y', 'file', 20),
  entry('a/b/c', 'dir'),
  entry('a/b/c/z', 'file', 30),
  entry('top', 'file', 5),
];

function collect(limit: number, entries = SAMPLE): TreeCollector {
  const tree = new TreeCollector(limit);
  for (const e of entries) tree.add('etc', e);
  return tree;
}

describe('TreeCollector', () => {
  it('lists every entry, parents first, when they fit, with directory totals', () => {
    const listing = collect(100).listing();
    expect(listing).toMatchObject({ total: 7, shown: 7 });
    expect(listing.depth).toBeUndefined();
    expect(listing.entries.map((e) => e.path)).toEqual(['a', 'top', 'a/x', 'a/b', 'a/b/y', 'a/b/c', 'a/b/c/z']);
    const a = listing.entries.find((e) => e.path === 'a')!;
    expect(a).toMatchObject({ type: 'dir', size: 60, entries: 5 });
    expect(listing.entries.find((e) => e.path === 'a/b/c')).toMatchObject({ size: 30, entries: 1 });
    expect(listing.entries.find((e) => e.path === 'top')).toMatchObject({ size: 5, mode: 0o644, mtime: '1764170000.5' });
  });

  it('cuts the deepest level to the first entries of each directory when they do not all fit', () => {
    // 7 entries > 6: the cut aims at 5 (nine tenths); depth 3 cannot keep one entry for a/b/c and goes; depth 2 keeps one of a/b's two.
    const listing = collect(6).listing();
    expect(listing).toMatchObject({ total: 7, shown: 5, depth: 2, perDirectory: 1 });
    expect(listing.entries.map((e) => e.path)).toEqual(['a', 'top', 'a/x', 'a/b', 'a/b/y']);
    // A directory whose entries are not all listed still has its totals, and says how many it holds.
    expect(listing.entries.find((e) => e.path === 'a/b')).toMatchObject({ size: 50, entries: 3, children: 2 });
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('with room for %i entries: whole levels, then the first entries of each directory, in index order', (limit) => {
    const listing = collect(limit).listing();
    expect(listing.total).toBe(7);
    expect(listing.shown).toBe(listing.entries.length);
    expect(listing.shown).toBeLessThanOrEqual(limit);
    const depthOf = (path: string): number => path.split('/').length - 1;
    const listed = new Set(listing.entries.map((e) => e.path));
    if (listing.depth === undefined) {
      expect(listed.size).toBe(7);
      return;
    }
    for (const e of SAMPLE) {
      const d = depthOf(e.path);
      if (d < listing.depth) expect(listed.has(e.path), e.path).toBe(true);
      if (d > listing.depth) expect(listed.has(e.path), e.path).toBe(false);
    }
    // At the last depth: per directory, a prefix (in index order) of at most perDirectory entries.
    const parents = new Map<string, string[]>();
    for (const e of SAMPLE.filter((e) => depthOf(e.path) === listing.depth)) {
      const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
      parents.set(parent, [...(parents.get(parent) ?? []), e.path]);
    }
    for (const [, paths] of parents) {
      const shown = paths.filter((p) => listed.has(p));
      expect(shown).toEqual(paths.slice(0, shown.length));
      if (listing.perDirectory !== undefined) expect(shown.length).toBeLessThanOrEqual(listing.perDirectory);
      else expect(shown).toEqual(paths);
    }
    // Parents before children.
    const seen = new Set<string>();
    for (const e of listing.entries) {
      const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
      if (parent) expect(seen.has(parent), e.path).toBe(true);
      seen.add(e.path);
    }
  });

  it('keeps one top-level entry per artifact even when the limit is smaller', () => {
    const tree = new TreeCollector(1);
    tree.add('etc', entry('hosts', 'file', 1));
    tree.add('etc', entry('passwd', 'file', 1));
    tree.add('srv', entry('data', 'dir'));
    const listing = tree.listing();
    expect(listing).toMatchObject({ depth: 0, perDirectory: 1 });
    expect(listing.entries.map((e) => `${e.artifact}/${e.path}`)).toEqual(['etc/hosts', 'srv/data']);
    expect(listing.tops).toEqual([
      { artifact: 'etc', children: 2, entries: 2, bytes: 2 },
      { artifact: 'srv', children: 1, entries: 1, bytes: 0 },
    ]);
  });

  it('stays within its limit over a snapshot of 500,000 entries: every directory listed, each with its first files', () => {
    const tree = new TreeCollector(50_000);
    let n = 0;
    for (let d = 0; d < 50; d++) {
      tree.add('srv', entry(`d${d}`, 'dir'));
      n++;
      for (let s = 0; s < 100; s++) {
        tree.add('srv', entry(`d${d}/s${s}`, 'dir'));
        n++;
        for (let f = 0; f < 99; f++, n++) tree.add('srv', entry(`d${d}/s${s}/f${f}`, 'file', 1));
      }
    }
    expect(n).toBe(500_050);
    const listing = tree.listing();
    expect(listing).toMatchObject({ total: 500_050, depth: 2 });
    expect(listing.shown).toBeLessThanOrEqual(50_000);
    expect(listing.entries.filter((e) => e.type === 'dir')).toHaveLength(5_050);
    expect(listing.perDirectory).toBeGreaterThanOrEqual(7);
    for (const dir of ['d0/s0', 'd49/s99'])
      expect(listing.entries.filter((e) => e.path.startsWith(`${dir}/`)).map((e) => e.path)).toEqual(Array.from({ length: listing.perDirectory! }, (_, f) => `${dir}/f${f}`));
    expect(listing.entries.find((e) => e.path === 'd7')).toMatchObject({ size: 9_900, entries: 10_000, children: 100 });
    expect(tree.largestDirectories(3).map((d) => d.path)).toEqual(['d0', 'd1', 'd10']);
  });

  it('counts directories that have no entry of their own, and ranks directories by the file bytes below them', () => {
    const tree = collect(100, [entry('x/y/big', 'file', 1000), entry('x/small', 'file', 1), entry('z', 'dir'), entry('z/f', 'file', 50)]);
    expect(tree.largestDirectories()).toEqual([
      { artifact: 'etc', path: 'x', bytes: 1001, files: 2, entries: 2, children: 1 },
      { artifact: 'etc', path: 'x/y', bytes: 1000, files: 1, entries: 1, children: 1 },
      { artifact: 'etc', path: 'z', bytes: 50, files: 1, entries: 1, children: 1 },
    ]);
  });

  it('keeps the owner, the link target and whether the name is not UTF-8', () => {
    const tree = new TreeCollector(10);
    tree.add('etc', { ...entry('l', 'symlink'), link: 'target', uname: 'root', gname: 'wheel' });
    tree.add('etc', { ...entry('n\uFFFD', 'file', 3), pathBytes: 'bv8=' });
    expect(tree.listing().entries).toEqual([
      expect.objectContaining({ path: 'l', type: 'symlink', link: 'target', owner: 'root', group: 'wheel' }),
      expect.objectContaining({ path: 'n\uFFFD', size: 3, nameNotUtf8: true }),
    ]);
  });

  it.each([0, -1, 1.5, NaN])('refuses a limit of %s', (limit) => {
    expect(() => new TreeCollector(limit)).toThrow(/Expected `limit` to be an integer from 1 and up/);
  });
});

describe('largestCap', () => {
  it.each([
    [[10, 10, 10], 30, 10],
    [[10, 10, 10], 29, 9],
    [[100, 1, 1], 12, 10],
    [[5, 5], 1, 0],
    [[5, 5], 2, 1],
    [[], 0, 1],
    [[3], 100, 3],
  ])('counts %j within %i: %i each', (counts, budget, cap) => {
    expect(largestCap(counts, budget)).toBe(cap);
  });
});
