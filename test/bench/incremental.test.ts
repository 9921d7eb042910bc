// The incremental bench's pure parts: which files it changes and where in the image, restic's summary, and issue 15's targets judged from measurements.

import { describe, expect, it } from 'vitest';
import { incrementalTargets, type StepMeasurement, type TreeChangeInfo } from '../../bench/incremental-report.js';
import { parseResticSummary, resticRepository } from '../../bench/restic.js';
import { changedText, middleAligned, pickEvery } from '../../bench/tree-changes.js';

describe('pickEvery', () => {
  it('takes every k-th item from the first, k = ⌊length / count⌋', () => {
    const items = Array.from({ length: 1667 }, (_, i) => i);
    const { picked, every } = pickEvery(items, 100);
    expect(every).toBe(16);
    expect(picked).toHaveLength(100);
    expect(picked.slice(0, 3)).toEqual([0, 16, 32]);
    expect(picked[99]).toBe(1584);
  });

  it('takes all items when there are no more than asked for', () => {
    expect(pickEvery(['a', 'b'], 100)).toEqual({ picked: ['a', 'b'], every: 1 });
    expect(pickEvery([1, 2, 3], 3)).toEqual({ picked: [1, 2, 3], every: 1 });
  });
});

describe('middleAligned', () => {
  it('centres the range and rounds down to 4 KiB', () => {
    expect(middleAligned(2 ** 30, 8 * 2 ** 20)).toBe(512 * 2 ** 20 - 4 * 2 ** 20);
    expect(middleAligned(3 * 4096 + 100, 4096)).toBe(4096);
    expect(middleAligned(5000, 4096)).toBe(0);
    expect(middleAligned(100, 10, 1)).toBe(45);
  });

  it('refuses a range larger than the file', () => {
    expect(() => middleAligned(4096, 8192)).toThrow('does not fit');
  });
});

describe('changedText', () => {
  it('has exactly the asked length, is the same for the same seed and label, and differs otherwise', () => {
    for (const length of [1, 200, 9199]) expect(changedText(1, 'etc/a.conf', length)).toHaveLength(length);
    expect(changedText(1, 'etc/a.conf', 500).equals(changedText(1, 'etc/a.conf', 500))).toBe(true);
    expect(changedText(1, 'etc/a.conf', 500).equals(changedText(1, 'etc/b.conf', 500))).toBe(false);
    expect(changedText(2, 'etc/a.conf', 500).equals(changedText(1, 'etc/a.conf', 500))).toBe(false);
  });
});

describe('restic', () => {
  it('names an S3 repository by endpoint, bucket and prefix', () => {
    expect(resticRepository('http://127.0.0.1:9000/', 'b', 'p/restic')).toBe('s3:http://127.0.0.1:9000/b/p/restic');
  });

  it('reads the last summary line of backup --json, past status lines and text', () => {
    const stdout = [
      '{"message_type":"status","percent_done":0.5,"total_files":10}',
      'not json',
      '{"message_type":"summary","files_new":3,"files_changed":1,"files_unmodified":6,"dirs_new":1,"dirs_changed":0,"dirs_unmodified":2,"data_blobs":4,"tree_blobs":2,"data_added":1234,"total_files_processed":10,"total_bytes_processed":99999,"total_duration":1.25,"snapshot_id":"0123abcd"}',
    ].join('\n');
    expect(parseResticSummary(stdout)).toEqual({
      snapshotId: '0123abcd',
      dataAdded: 1234,
      dataAddedPacked: undefined,
      totalBytesProcessed: 99999,
      counts: { files_new: 3, files_changed: 1, files_unmodified: 6, dirs_new: 1, dirs_changed: 0, dirs_unmodified: 2, data_blobs: 4, tree_blobs: 2, total_files_processed: 10 },
    });
    expect(parseResticSummary('{"message_type":"summary","data_added":5,"data_added_packed":2}')?.dataAddedPacked).toBe(2);
  });

  it('has no summary without a summary line', () => {
    expect(parseResticSummary('{"message_type":"status"}\n')).toBeUndefined();
    expect(parseResticSummary('')).toBeUndefined();
  });
});

describe('incrementalTargets', () => {
  const m = (step: StepMeasurement['step'], fields: Partial<StepMeasurement>, run = 1): StepMeasurement => ({
    step,
    tool: 'cassette',
    run,
    wallS: 1,
    clientCpuS: 1,
    otherCpuS: 0,
    load1: 0,
    peakRssKiB: 100 * 1024,
    procs: [],
    ...fields,
  });
  const objects = (volumes: number, indexes: number, recipes: number): StepMeasurement['objects'] => ({ volumes, indexes, recipes, other: 0, count: 3 });
  const change: TreeChangeInfo = {
    files: 100,
    every: 16,
    configFiles: 1667,
    fileBytes: 470_000,
    firstFile: 'a',
    lastFile: 'b',
    image: { rel: 'i', offset: 0, bytes: 8 << 20 },
    changedBytes: 8_860_000,
    compressedBytes: 8_000_000,
    method: 'zstd',
  };
  const backups = (unchanged: Partial<StepMeasurement>, changed: Partial<StepMeasurement>): StepMeasurement[] => [
    m('full backup', { wallS: 100, uploadedBytes: 1_000_000_000 }),
    m('unchanged backup', unchanged),
    m('changed backup', changed),
  ];
  const verdicts = (ms: StepMeasurement[], c: TreeChangeInfo | undefined = change): Array<boolean | undefined> =>
    incrementalTargets({ measurements: ms, change: c }).map((t) => t.met);

  it('meets the backup targets at their bounds and misses them just above', () => {
    // 10 s of 100 s, 10 MB of 1 GB; 3 × 8 MB + 2 MB + 1 MB = 27 MB; 25 s of 100 s.
    const atBounds = backups({ wallS: 10, uploadedBytes: 10_000_000 }, { wallS: 25, uploadedBytes: 27_000_000, objects: objects(24_000_000, 2_000_000, 1_000_000) });
    expect(verdicts(atBounds).slice(0, 4)).toEqual([true, true, true, true]);
    const above = backups({ wallS: 10.01, uploadedBytes: 10_000_001 }, { wallS: 25.01, uploadedBytes: 27_000_001, objects: objects(24_000_001, 2_000_000, 1_000_000) });
    expect(verdicts(above).slice(0, 4)).toEqual([false, false, false, false]);
  });

  it('judges the restore medians within ±5% either way', () => {
    const restores = (changed: number[], full: number[]): StepMeasurement[] => [
      ...changed.map((wallS, i) => m('restore changed', { wallS }, i + 1)),
      ...full.map((wallS, i) => m('restore full', { wallS }, i + 1)),
    ];
    expect(verdicts(restores([10.5, 30, 9], [10, 10, 1]))[4]).toBe(true);
    expect(verdicts(restores([9.5, 9.5, 9.5], [10, 10, 10]))[4]).toBe(true);
    expect(verdicts(restores([10.6, 10.6, 10.6], [10, 10, 10]))[4]).toBe(false);
    expect(verdicts(restores([9.4], [10]))[4]).toBe(false);
  });

  it('puts each scale backup against 300 MiB', () => {
    const ms = [m('scale: full backup', { peakRssKiB: 300 * 1024, counts: { files: 500000 } }), m('scale: incremental backup', { peakRssKiB: 300 * 1024 + 1 })];
    expect(verdicts(ms).slice(5)).toEqual([true, false]);
  });

  it('says n/a for what was not measured, or failed, and not met for a change that was not measured', () => {
    expect(verdicts([])).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
    const failed = backups({ wallS: 1, uploadedBytes: 1, exitCode: 1 }, { wallS: 1, uploadedBytes: 1, objects: objects(0, 0, 0) });
    expect(verdicts(failed).slice(0, 2)).toEqual([undefined, undefined]);
    const partial = backups({ wallS: 1, uploadedBytes: 1, exitCode: 3 }, { wallS: 1, uploadedBytes: 1, objects: objects(0, 0, 0) });
    expect(verdicts(partial).slice(0, 2)).toEqual([true, true]);
    expect(verdicts(backups({ wallS: 1, uploadedBytes: 1 }, { wallS: 1, uploadedBytes: 1 }), undefined)[2]).toBe(false);
  });
});
