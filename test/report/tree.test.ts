import { describe, expect, it } from 'vitest';
import type { IndexEntry } from '../../src/format/types.js';
import { TreeCollector } from '../../src/report/tree.js';

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

  it.each([
    // limit, depth the listing stops at, paths listed
    [6, 2, ['a', 'top', 'a/x', 'a/b', 'a/b/y', 'a/b/c']],
    [5, 1, ['a', 'top', 'a/x', 'a/b']],
    [4, 1, ['a', 'top', 'a/x', 'a/b']],
    [3, 0, ['a', 'top']],
    [2, 0, ['a', 'top']],
  ])('with room for %i entries, lists every level down to depth %i and none deeper', (limit, depth, paths) => {
    const listing = collect(limit).listing();
    expect(listing.depth).toBe(depth);
    expect(listing.topLevelCut).toBeUndefined();
    expect(listing.entries.map((e) => e.path)).toEqual(paths);
    expect(listing.shown).toBeLessThanOrEqual(limit);
    expect(listing.total).toBe(7);
    // A directory whose children are not listed still has its totals.
    expect(listing.entries.find((e) => e.path === 'a')).toMatchObject({ size: 60, entries: 5 });
  });

  it('keeps the first entries of the top level when even it does not fit, and says so', () => {
    const listing = collect(1).listing();
    expect(listing).toMatchObject({ depth: 0, topLevelCut: true, shown: 1, total: 7 });
    expect(listing.entries.map((e) => e.path)).toEqual(['a']);
  });

  it('stays within its limit over a snapshot of 500,000 entries, and keeps whole levels', () => {
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
    expect(listing).toMatchObject({ total: 500_050, shown: 5_050, depth: 1 });
    expect(listing.entries.find((e) => e.path === 'd7')).toMatchObject({ size: 9_900, entries: 10_000 });
    expect(tree.largestDirectories(3).map((d) => d.path)).toEqual(['d0', 'd1', 'd10']);
  });

  it('counts directories that have no entry of their own, and ranks directories by the file bytes below them', () => {
    const tree = collect(100, [entry('x/y/big', 'file', 1000), entry('x/small', 'file', 1), entry('z', 'dir'), entry('z/f', 'file', 50)]);
    expect(tree.largestDirectories()).toEqual([
      { artifact: 'etc', path: 'x', bytes: 1001, files: 2, entries: 2 },
      { artifact: 'etc', path: 'x/y', bytes: 1000, files: 1, entries: 1 },
      { artifact: 'etc', path: 'z', bytes: 50, files: 1, entries: 1 },
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
