import { describe, expect, it } from 'vitest';
import { nextVolumePartSize, planPartSize, simulateVolumes, uploadQueueSize, volumeCapacity } from '../../src/backup/part-size.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const FRAME = 4 * MiB;
/** Seek table reserve for a full volume: 8 + 8 × frames + 9 bytes, generously. */
const RESERVE = 1 * MiB;

describe('planPartSize', () => {
  it.each([
    [undefined, 8 * MiB],
    [0, 8 * MiB],
    [-5, 8 * MiB],
    [Number.NaN, 8 * MiB],
    [1 * MiB, 8 * MiB],
    [50 * GiB, 8 * MiB],
    [100 * GiB, 12 * MiB],
    [200 * GiB, 23 * MiB],
    [1 * TiB, 32 * MiB],
    [40 * TiB, 32 * MiB],
  ])('hint %s → %s bytes per part', (hint, expected) => {
    expect(planPartSize(hint)).toBe(expected);
  });

  it('never plans a part under the S3 minimum of 5 MiB, even when asked to', () => {
    expect(planPartSize(1, { minPartSize: 5 * MiB })).toBeGreaterThanOrEqual(5 * MiB);
  });

  it('leaves 10% of the parts spare when the hint is right', () => {
    for (const hint of [10 * GiB, 77 * GiB, 150 * GiB, 280 * GiB]) {
      const part = planPartSize(hint);
      expect(Math.ceil(hint / part)).toBeLessThanOrEqual(9000);
    }
  });
});

describe('volume rollover', () => {
  const sizes = [0, 1, 5 * MiB, 1 * GiB, 48.8 * GiB, 49 * GiB, 100 * GiB, 320 * GiB, 1 * TiB, 5 * TiB, 17.3 * TiB, 40 * TiB];
  const hints: Array<[string, (size: number) => number | undefined]> = [
    ['no hint', () => undefined],
    ['an exact hint', (size) => size],
    ['a hint 100× too small', (size) => size / 100],
    ['a hint 10× too large', (size) => size * 10],
  ];
  for (const [label, hintFor] of hints) {
    it(`needs at most 10,000 parts per upload from 0 B to 40 TiB with ${label}`, () => {
      for (const size of sizes) {
        const volumes = simulateVolumes(Math.floor(size), hintFor(size), FRAME, RESERVE);
        for (const volume of volumes) {
          expect(volume.parts).toBeLessThanOrEqual(10_000);
          expect(volume.partSize).toBeGreaterThanOrEqual(5 * MiB);
          expect(volume.bytes + RESERVE).toBeLessThanOrEqual(volumeCapacity(volume.partSize));
        }
        expect(volumes.reduce((sum, v) => sum + v.bytes, 0)).toBe(Math.floor(size));
      }
    });
  }

  it('uses one volume when the hint was right, and few when there was none', () => {
    expect(simulateVolumes(1 * TiB, 1 * TiB, FRAME, RESERVE)).toHaveLength(4);
    expect(simulateVolumes(100 * GiB, 100 * GiB, FRAME, RESERVE)).toHaveLength(1);
    // Without a hint the first volume has 8 MiB parts (78 GiB), later ones the largest parts.
    const unhinted = simulateVolumes(1 * TiB, undefined, FRAME, RESERVE);
    expect(unhinted[0]!.partSize).toBe(8 * MiB);
    expect(unhinted[1]!.partSize).toBe(32 * MiB);
    expect(unhinted.length).toBeLessThanOrEqual(5);
  });

  it('grows the part size after a volume fills', () => {
    expect(nextVolumePartSize(8 * MiB)).toBe(32 * MiB);
    expect(nextVolumePartSize(64 * MiB)).toBe(64 * MiB);
  });
});

describe('uploadQueueSize', () => {
  it.each([
    [8 * MiB, 1, 4],
    [8 * MiB, 2, 3],
    [16 * MiB, 1, 3],
    [16 * MiB, 2, 1],
    [32 * MiB, 1, 1],
    [32 * MiB, 2, 1],
    [128 * MiB, 1, 1],
    [512 * MiB, 1, 1],
  ])('part %s, %s uploads at once → %s parts in flight each', (part, uploads, queue) => {
    expect(uploadQueueSize(part, uploads)).toBe(queue);
  });

  it('keeps all part buffers of concurrent uploads within the budget whenever one part in flight fits', () => {
    for (const part of [5, 8, 12, 16, 24, 32].map((n) => n * MiB)) {
      for (const uploads of [1, 2, 3, 4]) {
        const queue = uploadQueueSize(part, uploads, 64 * MiB);
        if (2 * part * uploads <= 64 * MiB) expect(uploads * (queue + 1) * part).toBeLessThanOrEqual(64 * MiB);
        expect(queue).toBeGreaterThanOrEqual(1);
        expect(queue).toBeLessThanOrEqual(4);
      }
    }
  });
});
