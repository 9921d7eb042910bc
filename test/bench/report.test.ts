// The bench report's account of what an unmet wall-time target would take on the measured cores.

import { describe, expect, it } from 'vitest';
import { whatItWouldTake, type Summary } from '../../bench/report.js';

function summary(op: string, tool: 'cassette' | 'baseline', wallS: number, clientCpuS: number, serverCpuS: number, otherCpuS = 0): Summary {
  return { op, tool, runs: 3, wallS, mbps: 1, storedBytes: 0, downloadBytes: 0, clientCpuS, serverCpuS, otherCpuS, peakRssKiB: 0, serverPeakRssKiB: 0, procs: [] };
}

describe('whatItWouldTake', () => {
  it('names the share of the cores a CPU-bound target needs, next to the share the run reached', () => {
    const lines = whatItWouldTake([summary('tree backup', 'cassette', 25, 24, 16), summary('tree backup', 'baseline', 23, 25, 16)], 2);
    expect(lines).toHaveLength(1);
    // 23 / 1.15 = 20 s; 40 CPU-s in 20 s on 2 cores = 100%; the run reached 40 / 50 = 80%.
    expect(lines[0]).toBe(
      'tree backup: 1.15× faster than 23.00 s is 20.00 s (measured 25.00 s); it would take the same 40.0 CPU-s (client + server) in 20.00 s: 100% of the 2 cores for the whole run, where this run reached 80%.',
    );
  });

  it('says how many CPU-seconds must go when even full use of the cores is not enough, and counts other processes separately', () => {
    const lines = whatItWouldTake([summary('full restore', 'cassette', 14, 16, 6, 3), summary('full restore', 'baseline', 11.5, 14, 5)], 2);
    // 11.5 / 1.25 = 9.2 s → 18.4 CPU-s at most on 2 cores; the run used 22.
    expect(lines).toEqual([
      'full restore: 1.25× faster than 11.50 s is 9.20 s (measured 14.00 s); even at 100% of the 2 cores it would take 3.6 CPU-s less than the 22.0 CPU-s (client + server) this run used.',
    ]);
    const db = whatItWouldTake([summary('database backup', 'cassette', 8, 6, 2, 3.2), summary('database backup', 'baseline', 6.4, 5, 2)], 2);
    expect(db[0]).toContain('no slower than 6.40 s is 6.40 s');
    expect(db[0]).toContain('where this run reached 50% (70% counting every other process on the machine');
  });

  it('leaves out targets that were met and operations without a server measurement', () => {
    expect(whatItWouldTake([summary('tree backup', 'cassette', 20, 24, 16), summary('tree backup', 'baseline', 23.5, 25, 16)], 2)).toEqual([]);
    expect(whatItWouldTake([summary('full restore', 'cassette', 14, 16, Number.NaN), summary('full restore', 'baseline', 11.5, 14, 5)], 2)).toEqual([]);
    expect(whatItWouldTake([summary('tree backup', 'cassette', 25, 24, 16)], 2)).toEqual([]);
  });
});
