import { describe, expect, it } from 'vitest';
import { recommend, type BenchResult } from '../../src/bench/user-bench.js';

const compress = (level: number, threads: number, mbPerSecond: number, ratio: number): BenchResult => ({
  test: 'compress',
  settings: { level, threads },
  bytes: 1e8,
  seconds: 1e8 / (mbPerSecond * 1e6),
  mbPerSecond,
  ratio,
});
const upload = (mbPerSecond: number): BenchResult => ({ test: 'upload', settings: { partSize: '16 MiB', concurrency: 4 }, bytes: 1e8, seconds: 1, mbPerSecond });

describe('recommend', () => {
  it('recommends the thread count that measured faster, not the core count (issue 17: it said --threads 2 after measuring 1 faster)', () => {
    const results = [compress(3, 1, 210, 0.3), compress(3, 2, 150, 0.3), upload(400)];
    const r = recommend(results, 2);
    expect(r.threads).toBe(1);
    expect(r.compressionLevel).toBe(3);
    expect(r.reasons.join('\n')).toMatch(/on 1 thread to/);
    expect(r.reasons.join('\n')).toMatch(/2 threads measured slower \(150 MB\/s\)/);
  });

  it('recommends all cores when they measured faster', () => {
    const r = recommend([compress(3, 1, 200, 0.3), compress(3, 4, 700, 0.3), upload(400)], 4);
    expect(r.threads).toBe(4);
    expect(r.reasons.join('\n')).not.toMatch(/measured slower/);
  });

  it('picks the level by the fastest thread count of each level', () => {
    // Level 6 on 1 thread keeps up with a 100 MB/s upload and compresses better; its 2-thread run was slow.
    const results = [compress(1, 1, 500, 0.4), compress(1, 2, 900, 0.4), compress(6, 1, 120, 0.25), compress(6, 2, 60, 0.25), upload(100)];
    const r = recommend(results, 2);
    expect(r).toEqual(expect.objectContaining({ compressionLevel: 6, threads: 1 }));
  });
});
