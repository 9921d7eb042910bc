import { DEFAULTS } from '../../src/defaults.js';
import { describe, expect, it } from 'vitest';
import type { FrameRecord } from '../../src/format/types.js';
import { framesForRanges, planReads, plannedBytes, type ReadRequest, type TarRange } from '../../src/restore/plan.js';

/** Builds a frame table from [volume, compressed size, tar size] triples: offsets restart at each volume, tar offsets run on. */
function makeFrames(specs: ReadonlyArray<readonly [volume: number, size: number, tarSize: number]>): FrameRecord[] {
  const frames: FrameRecord[] = [];
  let tarOffset = 0;
  let offset = 0;
  let volume = -1;
  specs.forEach(([v, size, tarSize], frame) => {
    if (v !== volume) {
      volume = v;
      offset = 0;
    }
    frames.push({ frame, volume: v, offset, size, tarOffset, tarSize });
    offset += size;
    tarOffset += tarSize;
  });
  return frames;
}

// 10 frames over 2 volumes.
//  frame vol  compressed    tar
//    0    0     0..99       0..1000
//    1    0   100..299   1000..2000
//    2    0   300..349   2000..3000
//    3    0   350..749   3000..4000
//    4    0   750..849   4000..5000
//    5    0   850..1149  5000..6000
//    6    1     0..99    6000..7000
//    7    1   100..349   7000..8000
//    8    1   350..499   8000..9000
//    9    1   500..999   9000..9500
const FRAMES = makeFrames([
  [0, 100, 1000],
  [0, 200, 1000],
  [0, 50, 1000],
  [0, 400, 1000],
  [0, 100, 1000],
  [0, 300, 1000],
  [1, 100, 1000],
  [1, 250, 1000],
  [1, 150, 1000],
  [1, 500, 500],
]);

const req = (volume: number, start: number, end: number, firstFrame: number, lastFrame: number): ReadRequest => ({ volume, start, end, firstFrame, lastFrame });

describe('framesForRanges', () => {
  it.each<{ name: string; ranges: TarRange[]; expected: number[] }>([
    { name: 'no ranges need no frame', ranges: [], expected: [] },
    { name: 'an empty range needs no frame', ranges: [{ start: 500, end: 500 }], expected: [] },
    { name: 'a zero-size file on a frame boundary needs no frame', ranges: [{ start: 1000, end: 1000 }], expected: [] },
    { name: 'a zero-size file at the very end of the archive needs no frame', ranges: [{ start: 9500, end: 9500 }], expected: [] },
    { name: 'a small file inside one frame', ranges: [{ start: 10, end: 20 }], expected: [0] },
    { name: 'a range exactly on frame boundaries needs only that frame', ranges: [{ start: 1000, end: 2000 }], expected: [1] },
    { name: 'a range ending exactly at a boundary does not need the next frame', ranges: [{ start: 0, end: 1000 }], expected: [0] },
    { name: 'a range starting exactly at a boundary does not need the previous frame', ranges: [{ start: 2000, end: 2001 }], expected: [2] },
    { name: 'a range straddling a boundary by one byte needs both frames', ranges: [{ start: 999, end: 1001 }], expected: [0, 1] },
    { name: 'one big file spanning frames 2..7 (across volumes)', ranges: [{ start: 2500, end: 7600 }], expected: [2, 3, 4, 5, 6, 7] },
    { name: 'the last byte of the archive', ranges: [{ start: 9499, end: 9500 }], expected: [9] },
    { name: 'the whole archive', ranges: [{ start: 0, end: 9500 }], expected: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] },
    {
      name: 'unsorted, overlapping and duplicate ranges give sorted unique frames',
      ranges: [
        { start: 8100, end: 8200 },
        { start: 10, end: 20 },
        { start: 3500, end: 5500 },
        { start: 4500, end: 4600 },
        { start: 10, end: 20 },
        { start: 3000, end: 3000 },
      ],
      expected: [0, 3, 4, 5, 8],
    },
  ])('$name', ({ ranges, expected }) => {
    expect(framesForRanges(FRAMES, ranges)).toEqual(expected);
  });

  it.each<{ name: string; range: TarRange; message: RegExp }>([
    { name: 'refuses a range past the end of the archive, naming it', range: { start: 9000, end: 9501 }, message: /tar range 9000-9501 lies outside the archive/ },
    { name: 'refuses a range starting past the end, even when empty', range: { start: 9600, end: 9600 }, message: /tar range 9600-9600 lies outside/ },
    { name: 'refuses a negative start', range: { start: -1, end: 5 }, message: /tar range -1-5 lies outside/ },
    { name: 'refuses a range that ends before it starts', range: { start: 50, end: 10 }, message: /tar range 50-10 ends before it starts/ },
    { name: 'refuses a NaN offset', range: { start: Number.NaN, end: 10 }, message: /tar range NaN-10 is not a pair of integer offsets/ },
    { name: 'refuses a fractional offset', range: { start: 1.5, end: 10 }, message: /not a pair of integer offsets/ },
  ])('$name', ({ range, message }) => {
    expect(() => framesForRanges(FRAMES, [range])).toThrow(RangeError);
    expect(() => framesForRanges(FRAMES, [range])).toThrow(message);
  });

  it('refuses any non-empty range over an empty archive', () => {
    expect(framesForRanges([], [{ start: 0, end: 0 }])).toEqual([]);
    expect(() => framesForRanges([], [{ start: 0, end: 1 }])).toThrow(/tar range 0-1 lies outside the archive/);
  });

  it('refuses a frame table that is not contiguous in tar space', () => {
    const gappy = FRAMES.map((f) => (f.frame === 4 ? { ...f, tarOffset: f.tarOffset + 1 } : f));
    expect(() => framesForRanges(gappy, [{ start: 0, end: 1 }])).toThrow(/not contiguous: frame 4/);
  });

  it('refuses a frame table that is not sorted by frame number', () => {
    const swapped = [FRAMES[1]!, FRAMES[0]!, ...FRAMES.slice(2)];
    expect(() => framesForRanges(swapped, [{ start: 0, end: 1 }])).toThrow(/not sorted: position 0 holds frame 1/);
  });

  it('skips frames that hold no tar bytes', () => {
    const frames = makeFrames([
      [0, 10, 100],
      [0, 10, 0],
      [0, 10, 100],
    ]);
    expect(framesForRanges(frames, [{ start: 50, end: 150 }])).toEqual([0, 2]);
    expect(framesForRanges(frames, [{ start: 100, end: 101 }])).toEqual([2]);
  });

  it('maps 500,000 ranges over 250,000 frames into requests of at most the default size', () => {
    const frames: FrameRecord[] = Array.from({ length: 250_000 }, (_, i) => ({
      frame: i,
      volume: Math.floor(i / 100_000),
      offset: (i % 100_000) * 1000,
      size: 1000,
      tarOffset: i * 4096,
      tarSize: 4096,
    }));
    const total = 250_000 * 4096;
    let seed = 42;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const ranges: TarRange[] = Array.from({ length: 500_000 }, () => {
      const start = Math.floor(random() * (total - 20_000));
      return { start, end: start + Math.floor(random() * 20_000) };
    });
    ranges.push({ start: 0, end: total });
    const needed = framesForRanges(frames, ranges);
    const plan = planReads(frames, needed);
    expect(needed).toHaveLength(250_000);
    // Volumes of 100 MB, 100 MB and 50 MB in requests of at most 8 MiB (DEFAULTS.restoreRequestBytes), every frame once.
    const perVolume = plan.reduce<Record<number, number>>((counts, r) => ({ ...counts, [r.volume]: (counts[r.volume] ?? 0) + 1 }), {});
    expect(perVolume).toEqual({ 0: 12, 1: 12, 2: 6 });
    for (const r of plan) expect(r.end - r.start + 1).toBeLessThanOrEqual(DEFAULTS.restoreRequestBytes);
    expect(plan.reduce((sum, r) => sum + r.lastFrame - r.firstFrame + 1, 0)).toBe(250_000);
  });
});

describe('planReads', () => {
  it.each<{ name: string; needed: number[]; options?: { maxGapBytes?: number; maxRequestBytes?: number }; expected: ReadRequest[] }>([
    { name: 'empty selection: no requests', needed: [], expected: [] },
    { name: 'one frame: one request with an inclusive end', needed: [3], expected: [req(0, 350, 749, 3, 3)] },
    { name: 'adjacent frames merge', needed: [0, 1, 2], expected: [req(0, 0, 349, 0, 2)] },
    { name: 'a small gap (200 bytes) merges under the default 1 MiB', needed: [0, 2], expected: [req(0, 0, 349, 0, 2)] },
    { name: 'a gap exactly at maxGapBytes merges', needed: [0, 2], options: { maxGapBytes: 200 }, expected: [req(0, 0, 349, 0, 2)] },
    { name: 'a gap one byte over maxGapBytes does not merge', needed: [0, 2], options: { maxGapBytes: 199 }, expected: [req(0, 0, 99, 0, 0), req(0, 300, 349, 2, 2)] },
    { name: 'maxGapBytes 0 merges only adjacent frames', needed: [0, 1, 3, 4], options: { maxGapBytes: 0 }, expected: [req(0, 0, 299, 0, 1), req(0, 350, 849, 3, 4)] },
    {
      name: 'never merges across volumes, whatever the gap allowance',
      needed: [5, 6],
      options: { maxGapBytes: Number.POSITIVE_INFINITY },
      expected: [req(0, 850, 1149, 5, 5), req(1, 0, 99, 6, 6)],
    },
    {
      name: 'an unlimited gap merges a whole volume',
      needed: [0, 5, 6, 9],
      options: { maxGapBytes: Number.POSITIVE_INFINITY },
      expected: [req(0, 0, 1149, 0, 5), req(1, 0, 999, 6, 9)],
    },
    { name: 'unsorted needed frames with duplicates', needed: [2, 0, 2, 0], expected: [req(0, 0, 349, 0, 2)] },
    {
      name: 'splits above maxRequestBytes at frame boundaries',
      needed: [0, 1, 2, 3, 4, 5],
      options: { maxRequestBytes: 400 },
      expected: [req(0, 0, 349, 0, 2), req(0, 350, 749, 3, 3), req(0, 750, 1149, 4, 5)],
    },
    { name: 'a request exactly at maxRequestBytes is not split', needed: [4, 5], options: { maxRequestBytes: 400 }, expected: [req(0, 750, 1149, 4, 5)] },
    { name: 'a single frame larger than maxRequestBytes is still one request', needed: [9], options: { maxRequestBytes: 300 }, expected: [req(1, 500, 999, 9, 9)] },
    {
      name: 'merging across a gap counts the gap towards the size limit',
      needed: [2, 4],
      options: { maxRequestBytes: 499 },
      expected: [req(0, 300, 349, 2, 2), req(0, 750, 849, 4, 4)],
    },
    {
      name: 'one big file spanning frames 2..7 becomes one request per volume',
      needed: [2, 3, 4, 5, 6, 7],
      expected: [req(0, 300, 1149, 2, 5), req(1, 0, 349, 6, 7)],
    },
    {
      name: 'scattered small files: merged by gap, split by volume',
      needed: [0, 4, 8, 9],
      options: { maxGapBytes: 300 },
      expected: [req(0, 0, 99, 0, 0), req(0, 750, 849, 4, 4), req(1, 350, 999, 8, 9)],
    },
  ])('$name', ({ needed, options, expected }) => {
    expect(planReads(FRAMES, needed, options)).toEqual(expected);
  });

  it('refuses a frame number outside the table', () => {
    expect(() => planReads(FRAMES, [10])).toThrow(RangeError);
    expect(() => planReads(FRAMES, [10])).toThrow(/frame 10 does not exist/);
    expect(() => planReads(FRAMES, [-1])).toThrow(/frame -1 does not exist/);
  });

  it.each([
    { name: 'refuses a negative maxGapBytes', options: { maxGapBytes: -1 }, message: /`maxGapBytes` to be a number from 0 and up, got -1/ },
    { name: 'refuses a NaN maxGapBytes', options: { maxGapBytes: Number.NaN }, message: /`maxGapBytes`/ },
    { name: 'refuses a zero maxRequestBytes', options: { maxRequestBytes: 0 }, message: /`maxRequestBytes` to be a number from 1 and up, got 0/ },
  ])('$name', ({ options, message }) => {
    expect(() => planReads(FRAMES, [0], options)).toThrow(message);
  });

  it('sorts requests by volume then offset', () => {
    const plan = planReads(FRAMES, [9, 0, 6, 3], { maxGapBytes: 0 });
    expect(plan.map((r) => [r.volume, r.start])).toEqual([
      [0, 0],
      [0, 350],
      [1, 0],
      [1, 500],
    ]);
  });
});

describe('framesForRanges + planReads: files to requests', () => {
  // Files as (dataOffset, size), the way restore turns index entries into ranges.
  const plan = (files: Array<[number, number]>, options?: { maxGapBytes?: number; maxRequestBytes?: number }): ReadRequest[] =>
    planReads(
      FRAMES,
      framesForRanges(
        FRAMES,
        files.map(([dataOffset, size]) => ({ start: dataOffset, end: dataOffset + size })),
      ),
      options,
    );

  it.each<{ name: string; files: Array<[number, number]>; options?: { maxGapBytes?: number }; expected: ReadRequest[] }>([
    {
      name: 'only zero-size files: no requests',
      files: [
        [512, 0],
        [2048, 0],
        [6000, 0],
      ],
      expected: [],
    },
    { name: 'one small file: one frame', files: [[7100, 300]], expected: [req(1, 100, 349, 7, 7)] },
    {
      name: 'two small files in far-apart frames of one volume, small gap allowance',
      files: [
        [100, 10],
        [5100, 10],
      ],
      options: { maxGapBytes: 100 },
      expected: [req(0, 0, 99, 0, 0), req(0, 850, 1149, 5, 5)],
    },
    {
      name: 'two small files in far-apart frames of one volume, default gap allowance',
      files: [
        [100, 10],
        [5100, 10],
      ],
      expected: [req(0, 0, 1149, 0, 5)],
    },
  ])('$name', ({ files, options, expected }) => {
    expect(plan(files, options)).toEqual(expected);
  });
});

describe('plannedBytes', () => {
  it.each([
    { name: 'an empty plan downloads nothing', plan: [], expected: 0 },
    { name: 'a one-byte request counts one byte (inclusive end)', plan: [req(0, 5, 5, 0, 0)], expected: 1 },
    { name: 'sums every request', plan: [req(0, 0, 349, 0, 2), req(1, 0, 99, 6, 6)], expected: 450 },
  ])('$name', ({ plan, expected }) => {
    expect(plannedBytes(plan)).toBe(expected);
  });
});
