// The progress line's pure parts, with the time given: windowed rate, converging ETA, which stage a line shows, the text for a width; and which events print what at each verbosity.

import { describe, expect, it } from 'vitest';
import {
  backupEtaMs,
  backupView,
  EtaSmoother,
  progressLine,
  RateWindow,
  restoreEtaMs,
  restoreView,
  uploadLimits,
  type BackupCounters,
  type RestoreCounters,
} from '../../src/cli/progress-line.js';
import { jsonLine, logLine } from '../../src/cli/render.js';
import type { ProgressEvent } from '../../src/progress.js';

const MiB = 1024 * 1024;

describe('RateWindow', () => {
  it.each([
    {
      name: 'no rate before a second of history',
      samples: [
        [0, 0],
        [500, 10 * MiB],
      ],
      rate: undefined,
    },
    {
      name: 'steady 10 MiB/s',
      samples: [
        [0, 0],
        [1000, 10 * MiB],
        [2000, 20 * MiB],
      ],
      rate: 10 * MiB,
    },
    // Since the start it would be (100 + 10) MiB / 10 s = 11 MiB/s; the window sees only the last 5 s.
    {
      name: 'only the last 5 s count, not since the start',
      samples: [
        [0, 0],
        [1000, 100 * MiB],
        [5000, 104 * MiB],
        [10000, 110 * MiB],
      ],
      rate: 1.2 * MiB,
    },
    {
      name: 'a stall brings the rate down as time passes',
      samples: [
        [0, 0],
        [5000, 50 * MiB],
        [7500, 50 * MiB],
        [10000, 50 * MiB],
      ],
      rate: 0,
    },
    {
      name: 'half the window stalled: half the rate',
      samples: [
        [0, 0],
        [5000, 50 * MiB],
        [7500, 50 * MiB],
      ],
      rate: 5 * MiB,
    },
    {
      name: 'a sample from the past is ignored',
      samples: [
        [0, 0],
        [2000, 20 * MiB],
        [1000, 99 * MiB],
      ],
      rate: 10 * MiB,
    },
  ])('$name', ({ samples, rate }) => {
    const window = new RateWindow(5000, 1000);
    for (const [at, done] of samples) window.add(at!, done!);
    if (rate === undefined) expect(window.rate()).toBeUndefined();
    else expect(window.rate()).toBeCloseTo(rate, 0);
  });
});

describe('EtaSmoother', () => {
  it('counts down with a steady estimate', () => {
    const eta = new EtaSmoother(4000);
    expect([0, 1000, 2000, 3000].map((at) => eta.next(at, 10_000 - at))).toEqual([10_000, 9000, 8000, 7000]);
  });

  it('moves toward a new estimate gradually instead of jumping', () => {
    const eta = new EtaSmoother(4000);
    eta.next(0, 10_000);
    // From 1 s on, the estimate says 100 s (and counts down): a quarter of the way per second of the 4 s smoothing.
    const estimate = (at: number): number => 100_000 - (at - 1000);
    const shown = Array.from({ length: 20 }, (_, i) => eta.next((i + 1) * 1000, estimate((i + 1) * 1000))!);
    expect(shown[0]).toBeCloseTo(9000 + (100_000 - 9000) / 4, 0);
    for (let i = 1; i < 6; i++) expect(shown[i]! - shown[i - 1]!).toBeLessThan(25_000);
    expect(Math.abs(shown.at(-1)! - estimate(20_000))).toBeLessThan(500);
  });

  it('an estimate that wobbles moves the ETA little', () => {
    const eta = new EtaSmoother(4000);
    eta.next(0, 60_000);
    const shown = eta.next(250, 30_000)!;
    expect(Math.abs(shown - 59_750)).toBeLessThan(2000);
  });

  it.each([undefined, Infinity, 200 * 3600_000])('shows none for %s, and starts afresh after', (estimate) => {
    const eta = new EtaSmoother(4000);
    eta.next(0, 10_000);
    expect(eta.next(1000, estimate)).toBeUndefined();
    expect(eta.next(2000, 50_000)).toBe(50_000);
  });
});

const backing: BackupCounters = { phase: 'backing up', bytesRead: 100 * MiB, totalHint: 400 * MiB, bytesStored: 50 * MiB, bytesUploaded: 40 * MiB, allRead: false, dumping: false };

describe('which stage a backup line shows', () => {
  it.each([
    { name: 'reading limits: the read bar', counters: backing, rates: { read: 30 * MiB, upload: 15 * MiB }, label: 'backing up', main: 'read', upload: false },
    {
      name: 'everything read, parts still uploading: the upload bar',
      counters: { ...backing, bytesRead: 400 * MiB, allRead: true, bytesStored: 200 * MiB, bytesUploaded: 150 * MiB },
      rates: { read: 0, upload: 5 * MiB },
      label: 'uploading',
      main: 'uploaded',
      upload: true,
    },
    {
      name: 'the backlog takes far longer to upload than the rest to read: the upload bar',
      counters: { ...backing, bytesRead: 390 * MiB, bytesStored: 200 * MiB, bytesUploaded: 100 * MiB },
      rates: { read: 10 * MiB, upload: 1 * MiB },
      label: 'uploading',
      main: 'uploaded',
      upload: true,
    },
    { name: 'no upload rate yet: the read bar', counters: backing, rates: { read: 30 * MiB }, label: 'backing up', main: 'read', upload: false },
    { name: 'total unknown: the read bar', counters: { ...backing, totalHint: undefined }, rates: { read: 1, upload: 1 }, label: 'backing up', main: 'read', upload: false },
    { name: 'only databases: dumping', counters: { ...backing, dumping: true }, rates: {}, label: 'dumping database', main: 'read', upload: false },
    { name: 'committing: its own label', counters: { ...backing, phase: 'committing' as const, allRead: true }, rates: {}, label: 'committing', main: 'read', upload: true },
  ])('$name', ({ counters, rates, label, main, upload }) => {
    expect(uploadLimits(counters, rates)).toBe(upload);
    const view = backupView(counters, rates);
    expect({ label: view.label, main: view.main?.unit }).toEqual({ label, main });
  });

  it('the uploaded bytes never show above the produced ones (an encrypted store acknowledges a little more)', () => {
    const view = backupView({ ...backing, bytesStored: 10 * MiB, bytesUploaded: 10 * MiB + 32 }, {});
    expect(view.other).toEqual({ done: 10 * MiB, total: 10 * MiB, unit: 'uploaded' });
  });
});

describe('backup ETA', () => {
  it.each([
    // 300 MiB to read at 30 MiB/s = 10 s; the upload must take 10 MiB backlog + 150 MiB (at the 50% compression so far) at 15 MiB/s = 10.7 s.
    { name: 'until the upload has taken everything', counters: backing, rates: { read: 30 * MiB, upload: 15 * MiB }, eta: (160 / 15) * 1000 },
    { name: 'at least the rest of the reading', counters: backing, rates: { read: 10 * MiB, upload: 100 * MiB }, eta: 30_000 },
    { name: 'all read: the backlog at the upload rate', counters: { ...backing, allRead: true }, rates: { upload: 5 * MiB }, eta: 2000 },
    { name: 'unknown without a total', counters: { ...backing, totalHint: undefined }, rates: { read: MiB, upload: MiB }, eta: undefined },
    { name: 'unknown without a rate', counters: backing, rates: {}, eta: undefined },
  ])('$name', ({ counters, rates, eta }) => {
    const ms = backupEtaMs(counters, rates);
    if (eta === undefined) expect(ms).toBeUndefined();
    else expect(ms).toBeCloseTo(eta, -1);
  });
});

const restoring: RestoreCounters = { phase: 'restoring', bytesWritten: 100 * MiB, bytesTotal: 400 * MiB, bytesDownloaded: 30 * MiB, downloadTotal: 100 * MiB, totalsKnown: true };

describe('restore line and ETA', () => {
  it.each([
    { name: 'downloads outstanding: downloading', counters: restoring, label: 'downloading', main: 'written', total: 400 * MiB },
    { name: 'everything downloaded: writing', counters: { ...restoring, bytesDownloaded: 100 * MiB }, label: 'writing', main: 'written', total: 400 * MiB },
    { name: 'planning', counters: { ...restoring, phase: 'planning' as const }, label: 'planning', main: 'written', total: 400 * MiB },
    { name: 'setting metadata', counters: { ...restoring, phase: 'setting metadata' as const }, label: 'setting metadata', main: 'written', total: 400 * MiB },
    { name: 'no planning pass: no total', counters: { ...restoring, totalsKnown: false }, label: 'downloading', main: 'written', total: undefined },
  ])('$name', ({ counters, label, main, total }) => {
    const view = restoreView(counters);
    expect({ label: view.label, main: view.main?.unit, total: view.main?.total }).toEqual({ label, main, total });
    expect([view.main?.unit, view.other?.unit].sort()).toEqual(['downloaded', 'written']);
  });

  it.each([
    { name: 'downloading: the download left at its rate', counters: restoring, rates: { download: 7 * MiB, write: MiB }, eta: 10_000 },
    { name: 'writing: the bytes left to write at the writing rate', counters: { ...restoring, bytesDownloaded: 100 * MiB }, rates: { download: 0, write: 30 * MiB }, eta: 10_000 },
    { name: 'no total', counters: { ...restoring, totalsKnown: false }, rates: { download: MiB, write: MiB }, eta: undefined },
    { name: 'no rate yet', counters: restoring, rates: {}, eta: undefined },
  ])('ETA, $name', ({ counters, rates, eta }) => {
    expect(restoreEtaMs(counters, rates)).toBe(eta);
  });
});

describe('progressLine', () => {
  const view = backupView(backing, {});
  it.each([
    { width: 160, line: 'backing up  25% [########----------------------]  100 MiB / 400 MiB read, 40.0 MiB / 50.0 MiB uploaded, 12.0 MiB/s, ETA 25 s' },
    { width: 100, line: 'backing up  25% [########----------------------]  100 MiB / 400 MiB read, 12.0 MiB/s, ETA 25 s' },
    { width: 80, line: 'backing up  25% [####-----------]  100 MiB / 400 MiB read, 12.0 MiB/s, ETA 25 s' },
    { width: 60, line: 'backing up  25%  100 MiB / 400 MiB read, ETA 25 s' },
    { width: 40, line: 'backing up  25%  100 MiB / 400 MiB read' },
    { width: 20, line: 'backing up  25%  10' },
  ])('at $width columns', ({ width, line }) => {
    const text = progressLine(view, 12 * MiB, 25_000, width);
    expect(text).toBe(line);
    expect(text.length).toBeLessThan(width);
  });

  it('without a total: no percentage and no bar; without a rate or ETA: neither', () => {
    expect(progressLine({ label: 'downloading', main: { done: 5 * MiB, unit: 'written' } }, undefined, undefined, 120)).toBe('downloading  5.0 MiB written');
    expect(progressLine({ label: 'scanning' }, undefined, undefined, 120)).toBe('scanning');
  });

  it('ETAs in minutes and hours', () => {
    expect(progressLine({ label: 'writing' }, undefined, 185_000, 120)).toBe('writing  ETA 3 min 05 s');
    expect(progressLine({ label: 'writing' }, undefined, 2 * 3600_000 + 4 * 60_000, 120)).toBe('writing  ETA 2 h 04 min');
  });
});

describe('what prints at each verbosity', () => {
  const events: Array<{ event: ProgressEvent; quiet?: string; normal?: string; verbose?: string }> = [
    {
      event: { type: 'warning', artifact: 'etc', warning: { code: 'W_UNREADABLE', path: 'shadow', message: 'permission denied' } },
      quiet: 'warning: etc/shadow: permission denied\n',
      normal: 'warning: etc/shadow: permission denied\n',
      verbose: 'warning: etc/shadow: permission denied\n',
    },
    {
      event: { type: 'restore-warning', artifact: 'etc', path: 'a', message: 'refused' },
      quiet: 'warning: etc/a: refused\n',
      normal: 'warning: etc/a: refused\n',
      verbose: 'warning: etc/a: refused\n',
    },
    {
      event: { type: 'hook-start', hook: 'pre-backup', command: 'systemctl stop app' },
      normal: 'running pre-backup hook: systemctl stop app\n',
      verbose: 'running pre-backup hook: systemctl stop app\n',
    },
    {
      event: { type: 'hook-done', hook: 'post-backup', command: 'x', exitCode: 0, durationMs: 1234 },
      normal: 'post-backup hook finished (exit 0, 1.2 s)\n',
      verbose: 'post-backup hook finished (exit 0, 1.2 s)\n',
    },
    {
      event: { type: 'keep-symlink', artifact: 'root', path: '/lib', target: 'usr/lib' },
      normal: 'keep directory symlink /lib -> usr/lib\n',
      verbose: 'keep directory symlink /lib -> usr/lib\n',
    },
    { event: { type: 'entry-stored', artifact: 'etc', path: 'hosts', entryType: 'file', size: 10, reused: false }, verbose: '+ etc/hosts\n' },
    { event: { type: 'entry-stored', artifact: 'etc', path: 'ssl', entryType: 'dir', size: 0, reused: true }, verbose: '= etc/ssl/\n' },
    { event: { type: 'entry-restored', artifact: 'etc', path: 'hosts', size: 10 }, verbose: '+ etc/hosts\n' },
    { event: { type: 'phase', phase: 'committing' } },
  ];
  it.each(events)('$event.type', ({ event, quiet, normal, verbose }) => {
    expect([logLine(event, 'quiet'), logLine(event, 'normal'), logLine(event, 'verbose')]).toEqual([quiet, normal, verbose]);
  });

  it('--json keeps the old fields of the byte events and adds the new ones', () => {
    const bytes = JSON.parse(jsonLine({ type: 'bytes', bytesRead: 1, bytesStored: 2, bytesUploaded: 1, bytesReused: 0, files: 3, allRead: false, totalHint: 9 })) as Record<
      string,
      unknown
    >;
    expect(Object.keys(bytes).sort()).toEqual(['allRead', 'bytesRead', 'bytesReused', 'bytesStored', 'bytesUploaded', 'files', 'totalHint', 'type']);
  });
});
