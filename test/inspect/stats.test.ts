import { describe, expect, it } from 'vitest';
import { countEntry, emptyCounts, heldTotals, storedTotals } from '../../src/inspect/stats.js';
import { artifact, dir, entry } from '../helpers/index-entries.js';

describe('countEntry', () => {
  it('counts files with their bytes, directories, and every other type as others', () => {
    const counts = emptyCounts();
    for (const e of [
      dir('a'),
      entry('a/x', { size: 5 }),
      entry('a/y', { size: 0 }),
      entry('l', { type: 'symlink', size: 0 }),
      entry('h', { type: 'hardlink', size: 0 }),
      entry('p', { type: 'fifo', size: 0 }),
    ])
      countEntry(counts, e);
    expect(counts).toEqual({ files: 2, directories: 1, others: 3, fileBytes: 5 });
  });
});

describe('storedTotals', () => {
  it.each([
    { name: 'no snapshot', records: [], expected: { snapshots: 0, bytesRead: 0, tarBytes: 0, storedBytes: 0, reusedBytes: 0, newFrames: 0, reusedFrames: 0, compressionRatio: 0 } },
    {
      name: 'version 1: all frames new, from the volumes',
      records: [{ artifacts: [artifact('etc', { bytesRead: 90, tarBytes: 100, storedBytes: 25, volumes: [{ key: 'k', size: 25, sha256: '', frames: 3 }] })] }],
      expected: { snapshots: 1, bytesRead: 90, tarBytes: 100, storedBytes: 25, reusedBytes: 0, newFrames: 3, reusedFrames: 0, compressionRatio: 4 },
    },
    {
      name: 'version 2: the counters, summed over artifacts and snapshots',
      records: [
        {
          artifacts: [
            artifact('etc', { tarBytes: 100, storedBytes: 10, reusedBytes: 40, newFrames: 1, reusedFrames: 4 }),
            artifact('srv', { tarBytes: 50, storedBytes: 25, reusedBytes: 0, newFrames: 2, reusedFrames: 0 }),
          ],
        },
        { artifacts: [artifact('etc', { tarBytes: 150, storedBytes: 0, reusedBytes: 50, newFrames: 0, reusedFrames: 5 })] },
      ],
      expected: { snapshots: 2, bytesRead: 0, tarBytes: 300, storedBytes: 35, reusedBytes: 90, newFrames: 3, reusedFrames: 9, compressionRatio: 300 / 125 },
    },
    {
      name: 'version 2 without counters: the references say what was reused',
      records: [{ artifacts: [artifact('etc', { tarBytes: 60, storedBytes: 10, references: [{ key: 'data/o/x', size: 99, sha256: '', frames: 2, bytes: 20 }] })] }],
      expected: { snapshots: 1, bytesRead: 0, tarBytes: 60, storedBytes: 10, reusedBytes: 20, newFrames: 0, reusedFrames: 2, compressionRatio: 2 },
    },
  ])('$name', ({ records, expected }) => {
    expect(storedTotals(records)).toEqual(expected);
  });
});

describe('heldTotals', () => {
  it('sums what data/ holds, names what no snapshot does, and compares with the logical size', () => {
    const objects = [
      { key: 'data/a/etc.tar.zst', size: 100 },
      { key: 'data/a/etc.idx.zst', size: 10 },
      { key: 'data/b/etc.tar.zst', size: 40 },
      { key: 'data/c/etc.tar.zst', size: 50 },
    ];
    const named = new Set(['data/a/etc.tar.zst', 'data/a/etc.idx.zst', 'data/b/etc.tar.zst']);
    expect(heldTotals(objects, named, 800)).toEqual({ objects: 4, bytes: 200, unreferencedObjects: 1, unreferencedBytes: 50, ratio: 4 });
    expect(heldTotals([], named, 800)).toEqual({ objects: 0, bytes: 0, unreferencedObjects: 0, unreferencedBytes: 0, ratio: 0 });
  });
});
