// The progress line's pure parts: a rate over a sliding window, an ETA that converges, which stage a line shows, and the line's text for a width.
// No I/O and no clock of its own: every function is given the time (render.ts owns the terminal and the clock).

import { humanBytes } from '../human-units.js';
import type { Phase } from '../progress.js';

export { humanBytes };

/** Bytes per second over the last `windowMs` of samples of a growing counter. */
export class RateWindow {
  private samples: Array<{ at: number; done: number }> = [];

  /** `windowMs`: how far back the rate looks; `minSpanMs`: less history than this gives no rate yet. */
  constructor(
    private readonly windowMs = 5000,
    private readonly minSpanMs = 1000,
  ) {}

  /** Record the counter's value at time `at` (ms). Call it also when nothing changed, so a stall shows as a falling rate. */
  add(at: number, done: number): void {
    const last = this.samples.at(-1);
    if (last && at < last.at) return;
    this.samples.push({ at, done });
    // Keep one sample older than the window, so the window is covered from its start.
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) this.samples.shift();
  }

  /** Bytes per second over the window ending at the newest sample, or undefined before minSpanMs of history. */
  rate(): number | undefined {
    const last = this.samples.at(-1);
    if (!last) return undefined;
    const start = Math.max(this.samples[0]!.at, last.at - this.windowMs);
    const first = this.valueAt(start);
    const span = last.at - start;
    if (span < this.minSpanMs) return undefined;
    return Math.max(0, ((last.done - first) * 1000) / span);
  }

  /** The counter at time `at`, interpolated between the samples around it. */
  private valueAt(at: number): number {
    let before = this.samples[0]!;
    for (const sample of this.samples) {
      if (sample.at >= at) {
        if (sample.at === before.at) return sample.done;
        return before.done + ((sample.done - before.done) * (at - before.at)) / (sample.at - before.at);
      }
      before = sample;
    }
    return before.done;
  }
}

/** ETAs above this are not shown (a stalled transfer, a tiny rate). */
export const MAX_ETA_MS = 100 * 3600_000;

/**
 * An ETA that counts down and converges: each new estimate moves the shown ETA from where it
 * would be by now (the last one, minus the time since) toward the estimate, by the fraction
 * `elapsed / smoothingMs` (all of it after smoothingMs). A rate that wobbles moves it a little; a
 * lasting change moves it within a few seconds; it never jumps.
 */
export class EtaSmoother {
  private shown: { at: number; eta: number } | undefined;

  constructor(private readonly smoothingMs = 4000) {}

  /** The ETA to show at `at` given the raw estimate (ms), or undefined when there is none. */
  next(at: number, estimate: number | undefined): number | undefined {
    if (estimate === undefined || !Number.isFinite(estimate) || estimate > MAX_ETA_MS) {
      this.shown = undefined;
      return undefined;
    }
    const raw = Math.max(0, estimate);
    if (!this.shown) {
      this.shown = { at, eta: raw };
      return raw;
    }
    const elapsed = Math.max(0, at - this.shown.at);
    const expected = Math.max(0, this.shown.eta - elapsed);
    const eta = expected + (raw - expected) * Math.min(1, elapsed / this.smoothingMs);
    this.shown = { at, eta };
    return eta;
  }
}

/** What a backup's progress events said last. */
export interface BackupCounters {
  phase: Phase;
  bytesRead: number;
  /** Estimated bytes to read; undefined until known. */
  totalHint?: number;
  bytesStored: number;
  bytesUploaded: number;
  allRead: boolean;
  /** Every artifact being stored is a database dump. */
  dumping: boolean;
}

/** What a restore's progress events said last. */
export interface RestoreCounters {
  phase: Phase;
  bytesWritten: number;
  /** The selection's total, from the planning pass; else the bytes of the batches placed so far. */
  bytesTotal: number;
  bytesDownloaded: number;
  downloadTotal: number;
  /** True when the totals are the whole selection's (a planning pass ran). */
  totalsKnown: boolean;
}

/** One stage of the pipeline as a line shows it. */
export interface StageView {
  done: number;
  /** Undefined when unknown (no percentage, no bar). */
  total?: number;
  /** What its bytes are, after the numbers: "read", "uploaded", "written", "downloaded". */
  unit: string;
}

/** What a line shows: a label, the stage of the bar, and another stage as text. */
export interface LineView {
  label: string;
  main?: StageView;
  other?: StageView;
}

/** Rates (bytes/s over the window) of each stage; undefined while unknown. */
export interface StageRates {
  read?: number;
  upload?: number;
  write?: number;
  download?: number;
}

/**
 * Whether the upload limits the backup: every source is read and only uploads remain, or the
 * bytes produced but not yet acknowledged take clearly longer to upload (at the upload's rate)
 * than the rest of the reading takes at the reading's rate. While reading, the upload trails
 * the reading by the parts in flight, so a small lead of the upload's time is not enough.
 */
export function uploadLimits(counters: BackupCounters, rates: StageRates): boolean {
  if (counters.allRead) return counters.bytesUploaded < counters.bytesStored;
  const backlog = counters.bytesStored - counters.bytesUploaded;
  if (backlog <= 0 || !rates.upload || !rates.read || counters.totalHint === undefined) return false;
  const readMs = (Math.max(0, counters.totalHint - counters.bytesRead) * 1000) / rates.read;
  const backlogMs = (backlog * 1000) / rates.upload;
  return backlogMs > readMs * 1.25 + 2000;
}

/** The line of a backup: reading against the estimate, then (when the upload limits) uploaded against produced. */
export function backupView(counters: BackupCounters, rates: StageRates): LineView {
  const total = counters.totalHint !== undefined ? Math.max(counters.totalHint, counters.bytesRead) : undefined;
  const read: StageView = { done: counters.bytesRead, total: counters.allRead ? counters.bytesRead : total, unit: 'read' };
  const upload: StageView = { done: Math.min(counters.bytesUploaded, counters.bytesStored), total: counters.bytesStored, unit: 'uploaded' };
  if (counters.phase !== 'backing up') return { label: counters.phase, main: read, other: upload };
  if (uploadLimits(counters, rates)) return { label: 'uploading', main: upload, other: read };
  return { label: counters.dumping ? 'dumping database' : 'backing up', main: read, other: upload };
}

/**
 * The time a backup still needs: until the upload has taken everything, at its rate (what is
 * produced but not acknowledged, plus the rest of the reading at the compression so far), and at
 * least the rest of the reading at the reading's rate. Undefined while the total is unknown.
 */
export function backupEtaMs(counters: BackupCounters, rates: StageRates): number | undefined {
  const backlog = Math.max(0, counters.bytesStored - counters.bytesUploaded);
  if (counters.allRead) return rates.upload ? (backlog * 1000) / rates.upload : backlog === 0 ? 0 : undefined;
  if (counters.totalHint === undefined || !rates.read) return undefined;
  const toRead = Math.max(0, counters.totalHint - counters.bytesRead);
  const readMs = (toRead * 1000) / rates.read;
  if (!rates.upload || counters.bytesRead === 0) return readMs;
  const ratio = counters.bytesStored / counters.bytesRead;
  return Math.max(readMs, ((backlog + toRead * ratio) * 1000) / rates.upload);
}

/**
 * The line of a restore: the bar is of the bytes written (the last stage: it never goes back),
 * with the bytes downloaded beside it; labelled downloading while downloads are outstanding, then
 * writing. Bytes arrive well before a request's frames can be written, so on a slow link the
 * downloaded bytes are what moves.
 */
export function restoreView(counters: RestoreCounters): LineView {
  const written: StageView = { done: counters.bytesWritten, total: counters.totalsKnown ? Math.max(counters.bytesTotal, counters.bytesWritten) : undefined, unit: 'written' };
  const downloaded: StageView = {
    done: counters.bytesDownloaded,
    total: counters.totalsKnown ? Math.max(counters.downloadTotal, counters.bytesDownloaded) : undefined,
    unit: 'downloaded',
  };
  if (counters.phase !== 'restoring') return { label: counters.phase, main: written, other: downloaded };
  return { label: !counters.totalsKnown || counters.bytesDownloaded < counters.downloadTotal ? 'downloading' : 'writing', main: written, other: downloaded };
}

/** The time a restore still needs: while downloading, the download left at its rate (the writing follows closely); then the writing left at its rate. */
export function restoreEtaMs(counters: RestoreCounters, rates: StageRates): number | undefined {
  if (!counters.totalsKnown) return undefined;
  const downloadLeft = Math.max(0, counters.downloadTotal - counters.bytesDownloaded);
  if (downloadLeft > 0) return rates.download ? (downloadLeft * 1000) / rates.download : undefined;
  return rates.write ? (Math.max(0, counters.bytesTotal - counters.bytesWritten) * 1000) / rates.write : undefined;
}

/** An ETA as a terminal shows it: `ETA 45 s`, `ETA 3 min 05 s`, `ETA 2 h 04 min`. */
export function etaText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `ETA ${s} s`;
  if (s < 3600) return `ETA ${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `ETA ${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** The longest a bar gets, and the shortest worth drawing. */
const BAR_MAX = 30;
const BAR_MIN = 10;

/**
 * The text of a progress line, at most `width - 1` characters (a line as wide as the terminal
 * wraps on some terminals). As the width shrinks it drops, in turn: bar width, the other stage,
 * the bar, the rate, the ETA; then it cuts the end.
 * `backing up  42% [############------------------] 120 MiB / 286 MiB read, 80 MiB / 96 MiB uploaded, 12.3 MiB/s, ETA 14 s`
 */
export function progressLine(view: LineView, rate: number | undefined, etaMs: number | undefined, width: number): string {
  const limit = Math.max(1, width - 1);
  const main = view.main;
  const fraction = main?.total !== undefined && main.total > 0 ? Math.min(1, main.done / main.total) : main?.total === 0 ? 1 : undefined;
  const percent = fraction === undefined ? undefined : `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const stageText = (stage: StageView): string =>
    stage.total === undefined ? `${humanBytes(stage.done)} ${stage.unit}` : `${humanBytes(stage.done)} / ${humanBytes(stage.total)} ${stage.unit}`;
  const parts = {
    main: main ? stageText(main) : undefined,
    other: view.other ? stageText(view.other) : undefined,
    rate: rate === undefined ? undefined : `${humanBytes(Math.round(rate))}/s`,
    eta: etaMs === undefined ? undefined : etaText(etaMs),
  };
  const compose = (keep: { other: boolean; eta: boolean; rate: boolean }, bar: number): string => {
    const head = [view.label, percent, bar > 0 && fraction !== undefined ? `[${'#'.repeat(Math.round(fraction * bar)).padEnd(bar, '-')}]` : undefined];
    const tail = [parts.main, keep.other ? parts.other : undefined, keep.rate ? parts.rate : undefined, keep.eta ? parts.eta : undefined];
    return [head.filter(Boolean).join(' '), tail.filter(Boolean).join(', ')].filter((s) => s !== '').join('  ');
  };
  // Most wanted first: the bar only while the rate and the ETA fit beside it.
  const choices = [
    { other: true, eta: true, rate: true, bar: true },
    { other: false, eta: true, rate: true, bar: true },
    { other: false, eta: true, rate: true, bar: false },
    { other: false, eta: true, rate: false, bar: false },
    { other: false, eta: false, rate: false, bar: false },
  ];
  for (const keep of choices) {
    const base = compose(keep, 0);
    if (!keep.bar) {
      if (base.length <= limit) return base;
      continue;
    }
    const room = limit - base.length - 3;
    if (fraction !== undefined && room >= BAR_MIN) return compose(keep, Math.min(BAR_MAX, room));
  }
  return compose(choices.at(-1)!, 0).slice(0, limit);
}
