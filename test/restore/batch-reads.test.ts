// What a batch reads (batch-reads.ts): its files' tar ranges, and the download a dry run counts, each frame once over the batches.

import { describe, expect, it } from 'vitest';
import type { FrameRecord } from '../../src/format/types.js';
import { plannedDownload, RESTORE_READS, tarRangesOf } from '../../src/restore/batch-reads.js';
import type { TarRange } from '../../src/restore/plan.js';

// 6 frames of 1000 tar bytes; frames 0-2 in volume 0 (compressed 100 bytes each, back to back),
// frames 3-5 in volume 1.
const FRAMES: FrameRecord[] = [0, 1, 2, 3, 4, 5].map((frame) => ({
  frame,
  volume: frame < 3 ? 0 : 1,
  offset: (frame % 3) * 100,
  size: 100,
  tarOffset: frame * 1000,
  tarSize: 1000,
}));

describe('tarRangesOf', () => {
  it('gives each file the range of its bytes, in the files’ order', () => {
    const files = [{ entry: { dataOffset: 1536, size: 10 } }, { entry: { dataOffset: 512, size: 700 } }, { entry: { dataOffset: 3072, size: 0 } }];
    expect(tarRangesOf(files)).toEqual([
      { start: 1536, end: 1546 },
      { start: 512, end: 1212 },
      { start: 3072, end: 3072 },
    ]);
  });
});

describe('plannedDownload', () => {
  it.each<{ name: string; ranges: TarRange[]; lastCounted: number; expected: { bytes: number; requests: number; lastFrame: number } }>([
    { name: 'nothing to read counts nothing and keeps the last frame', ranges: [], lastCounted: 2, expected: { bytes: 0, requests: 0, lastFrame: 2 } },
    { name: 'one frame', ranges: [{ start: 10, end: 20 }], lastCounted: -1, expected: { bytes: 100, requests: 1, lastFrame: 0 } },
    {
      name: 'adjacent frames of one volume are one GET',
      ranges: [
        { start: 10, end: 20 },
        { start: 1500, end: 1600 },
      ],
      lastCounted: -1,
      expected: { bytes: 200, requests: 1, lastFrame: 1 },
    },
    { name: 'a range across volumes is one GET per volume', ranges: [{ start: 2500, end: 3500 }], lastCounted: -1, expected: { bytes: 200, requests: 2, lastFrame: 3 } },
    { name: 'a frame an earlier batch counted is not counted again', ranges: [{ start: 1900, end: 2100 }], lastCounted: 1, expected: { bytes: 100, requests: 1, lastFrame: 2 } },
    { name: 'a batch whose frames were all counted adds nothing', ranges: [{ start: 1100, end: 1200 }], lastCounted: 1, expected: { bytes: 0, requests: 0, lastFrame: 1 } },
  ])('$name', ({ ranges, lastCounted, expected }) => {
    expect(plannedDownload(FRAMES, ranges, lastCounted)).toEqual(expected);
  });

  it('counts a frame shared by two batches once', () => {
    // A file ends in frame 1 in the first batch; the next batch starts in the same frame.
    const first = plannedDownload(FRAMES, [{ start: 500, end: 1500 }], -1);
    const second = plannedDownload(FRAMES, [{ start: 1600, end: 2200 }], first.lastFrame);
    expect([first, second]).toEqual([
      { bytes: 200, requests: 1, lastFrame: 1 },
      { bytes: 100, requests: 1, lastFrame: 2 },
    ]);
  });

  it('merges a gap the restore’s limits allow: frames 0 and 2 come in one GET, with frame 1', () => {
    expect(RESTORE_READS.maxGapBytes).toBeGreaterThanOrEqual(100);
    expect(
      plannedDownload(
        FRAMES,
        [
          { start: 10, end: 20 },
          { start: 2010, end: 2020 },
        ],
        -1,
      ),
    ).toEqual({ bytes: 300, requests: 1, lastFrame: 2 });
  });
});
