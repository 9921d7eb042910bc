// Renders engine progress: one status line redrawn on a terminal, NDJSON with --json, and log lines (warnings, hooks, steps, -v entries) on stderr.
// The line's text, rates and ETA are pure (progress-line.ts); this module owns the clock, the timer and the terminal.

import type { Phase, Progress, ProgressEvent } from '../progress.js';
import {
  backupEtaMs,
  backupView,
  EtaSmoother,
  humanBytes,
  progressLine,
  RateWindow,
  restoreEtaMs,
  restoreView,
  type BackupCounters,
  type RestoreCounters,
} from './progress-line.js';

export { humanBytes };

export function humanDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/** The line for a kept directory symlink (a `keep-symlink` event). */
export function keptSymlinkLine(event: { path: string; target: string }): string {
  return `keep directory symlink ${event.path} -> ${event.target}\n`;
}

/** How much a command prints (on stderr; stdout carries data): see common.ts withOutputOptions. */
export type Verbosity = 'quiet' | 'normal' | 'verbose';

export interface RendererOptions {
  json: boolean;
  verbosity?: Verbosity;
  /** Where human output goes (stderr, so stdout stays clean for data). */
  stream?: NodeJS.WriteStream;
  /** The clock (ms); tests give their own. */
  now?: () => number;
}

/** A Progress that prints. Call `stop()` before printing the final summary: it clears the status line for good. */
export interface Renderer extends Progress {
  stop(): void;
}

/** Redraws of the status line at most this often (and this often while nothing happens, so the rate and ETA follow a stall). */
const REDRAW_MS = 250;

/** Events --json leaves out: one per entry would swamp the log (use `cassette ls` for the entries). */
const PER_ENTRY: ReadonlySet<ProgressEvent['type']> = new Set(['entry-stored', 'entry-restored']);

/** The status line on the terminal now, if any: interruptSignal clears it before saying it stops. */
let activeLine: StatusLine | undefined;

/** Clear the status line and stop redrawing it (Ctrl-C: the message goes on a clean line). */
export function stopStatusLine(): void {
  activeLine?.stop();
}

export function createRenderer(options: RendererOptions): Renderer {
  const stream = options.stream ?? process.stderr;
  if (options.json) {
    return {
      event: (event: ProgressEvent) => {
        if (PER_ENTRY.has(event.type)) return;
        process.stdout.write(jsonLine(event));
      },
      stop: () => undefined,
    };
  }
  const verbosity = options.verbosity ?? 'normal';
  const line = stream.isTTY && verbosity !== 'quiet' ? new StatusLine(stream, options.now ?? Date.now) : undefined;
  if (line) activeLine = line;
  const print = (text: string): void => {
    line?.clear();
    stream.write(text);
  };
  return {
    event: (event: ProgressEvent) => {
      const text = logLine(event, verbosity);
      if (text !== undefined) print(text);
      line?.event(event);
    },
    stop: () => {
      line?.stop();
      if (activeLine === line) activeLine = undefined;
    },
  };
}

/** An event as one NDJSON line; an artifact's record is summed up rather than printed whole. */
export function jsonLine(event: ProgressEvent): string {
  if (event.type === 'artifact-done') {
    return (
      JSON.stringify({
        type: event.type,
        artifact: event.artifact,
        storedBytes: event.record.storedBytes,
        tarBytes: event.record.tarBytes,
        entries: event.record.entryCount,
        warnings: event.record.warningCount,
      }) + '\n'
    );
  }
  return JSON.stringify(event) + '\n';
}

/** The log line an event prints at this verbosity (warnings always; notes unless quiet; entries when verbose), or undefined. */
export function logLine(event: ProgressEvent, verbosity: Verbosity): string | undefined {
  switch (event.type) {
    case 'warning': {
      const where = event.warning.path ? `${event.artifact}/${event.warning.path}` : event.artifact;
      return `warning: ${where}: ${event.warning.message}\n`;
    }
    case 'restore-warning':
      return `warning: ${event.artifact}/${event.path}: ${event.message}\n`;
    default:
  }
  if (verbosity === 'quiet') return undefined;
  switch (event.type) {
    case 'keep-symlink':
      return keptSymlinkLine(event);
    case 'step':
      return `${event.step}${event.detail ? `: ${event.detail}` : ''}\n`;
    case 'hook-start':
      return `running ${event.hook} hook: ${event.command}\n`;
    case 'hook-done':
      return `${event.hook} hook finished (exit ${event.exitCode}, ${humanDuration(event.durationMs)})\n`;
    default:
  }
  if (verbosity !== 'verbose') return undefined;
  switch (event.type) {
    case 'entry-stored':
      return `${event.reused ? '=' : '+'} ${event.artifact}/${event.path}${event.entryType === 'dir' ? '/' : ''}\n`;
    case 'entry-restored':
      return `+ ${event.artifact}/${event.path}\n`;
    default:
      return undefined;
  }
}

/** The status line of a backup or a restore on a terminal: kept from the events, redrawn by a timer. */
class StatusLine {
  private backup: BackupCounters | undefined;
  private restore: RestoreCounters | undefined;
  private phase: Phase | undefined;
  private readonly rates = { read: new RateWindow(), upload: new RateWindow(), write: new RateWindow(), download: new RateWindow() };
  private readonly eta = new EtaSmoother();
  private readonly databases = new Set<string>();
  private readonly active = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private shown = false;
  private stopped = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly now: () => number,
  ) {}

  event(event: ProgressEvent): void {
    if (this.stopped) return;
    switch (event.type) {
      case 'phase':
        this.phase = event.phase;
        if (this.backup) this.backup.phase = event.phase;
        if (this.restore) this.restore.phase = event.phase;
        break;
      case 'artifact-start':
        this.active.add(event.artifact);
        if (event.kind === 'database') this.databases.add(event.artifact);
        break;
      case 'artifact-done':
        this.active.delete(event.artifact);
        break;
      case 'bytes':
        this.backup = {
          phase: this.phase ?? 'backing up',
          bytesRead: event.bytesRead,
          totalHint: event.totalHint,
          bytesStored: event.bytesStored,
          bytesUploaded: event.bytesUploaded,
          allRead: event.allRead,
          dumping: false,
        };
        break;
      case 'restore-start':
        this.restore = { ...this.restoreOrEmpty(), bytesTotal: event.bytes, downloadTotal: event.downloadBytes, totalsKnown: true };
        break;
      case 'restore-bytes': {
        const restore = this.restoreOrEmpty();
        this.restore = {
          ...restore,
          bytesWritten: event.bytesWritten,
          bytesDownloaded: event.bytesDownloaded,
          bytesTotal: restore.totalsKnown ? restore.bytesTotal : event.bytesPlanned,
          downloadTotal: restore.totalsKnown ? restore.downloadTotal : event.downloadPlanned,
        };
        break;
      }
      default:
        return;
    }
    this.sample();
    this.timer ??= setInterval(() => {
      this.sample();
      this.draw();
    }, REDRAW_MS).unref();
  }

  private restoreOrEmpty(): RestoreCounters {
    return this.restore ?? { phase: this.phase ?? 'restoring', bytesWritten: 0, bytesTotal: 0, bytesDownloaded: 0, downloadTotal: 0, totalsKnown: false };
  }

  private sample(): void {
    const at = this.now();
    if (this.backup) {
      this.rates.read.add(at, this.backup.bytesRead);
      this.rates.upload.add(at, this.backup.bytesUploaded);
    }
    if (this.restore) {
      this.rates.write.add(at, this.restore.bytesWritten);
      this.rates.download.add(at, this.restore.bytesDownloaded);
    }
  }

  /** The line as it stands now. */
  text(): string | undefined {
    const width = this.stream.columns || 80;
    const rates = { read: this.rates.read.rate(), upload: this.rates.upload.rate(), write: this.rates.write.rate(), download: this.rates.download.rate() };
    if (this.backup) {
      const dumping = this.active.size > 0 && [...this.active].every((a) => this.databases.has(a));
      const counters = { ...this.backup, dumping };
      const view = backupView(counters, rates);
      const rate = view.main?.unit === 'uploaded' ? rates.upload : rates.read;
      return progressLine(view, rate, this.eta.next(this.now(), backupEtaMs(counters, rates)), width);
    }
    if (this.restore) {
      const view = restoreView(this.restore);
      // While downloading, the rate on the wire (the writes follow in bursts of whole requests).
      const rate = view.label === 'downloading' ? rates.download : rates.write;
      return progressLine(view, rate, this.eta.next(this.now(), restoreEtaMs(this.restore, rates)), width);
    }
    if (this.phase) return progressLine({ label: this.phase }, undefined, undefined, width);
    return undefined;
  }

  private draw(): void {
    if (this.stopped) return;
    const text = this.text();
    if (text === undefined) return;
    this.stream.write(`\r${text}\x1b[K`);
    this.shown = true;
  }

  /** Erase the line (before a log line; the timer draws it again). */
  clear(): void {
    if (!this.shown) return;
    this.stream.write('\r\x1b[K');
    this.shown = false;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
    this.stopped = true;
  }
}
