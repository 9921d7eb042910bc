// Renders engine progress: a bar on a terminal, NDJSON with --json, only warnings when piped.

import cliProgress from 'cli-progress';
import type { Progress, ProgressEvent } from '../progress.js';

export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

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

export interface RendererOptions {
  json: boolean;
  /** Where human output goes (stderr, so stdout stays clean for data). */
  stream?: NodeJS.WriteStream;
  /** Total expected bytes for the bar, when known. */
}

/** A Progress that prints. Call `stop()` before printing the final summary. */
export interface Renderer extends Progress {
  stop(): void;
}

export function createRenderer(options: RendererOptions): Renderer {
  const stream = options.stream ?? process.stderr;
  if (options.json) {
    return {
      event: (event: ProgressEvent) => {
        if (event.type === 'artifact-done') {
          process.stdout.write(
            JSON.stringify({
              type: event.type,
              artifact: event.artifact,
              storedBytes: event.record.storedBytes,
              tarBytes: event.record.tarBytes,
              entries: event.record.entryCount,
              warnings: event.record.warningCount,
            }) + '\n',
          );
          return;
        }
        process.stdout.write(JSON.stringify(event) + '\n');
      },
      stop: () => undefined,
    };
  }
  // Printed even when piped: warnings, and directory symlinks a restore keeps.
  const warnings = (event: ProgressEvent): void => {
    if (event.type === 'warning') {
      const where = event.warning.path ? `${event.artifact}/${event.warning.path}` : event.artifact;
      stream.write(`warning: ${where}: ${event.warning.message}\n`);
    }
    if (event.type === 'restore-warning') stream.write(`warning: ${event.artifact}/${event.path}: ${event.message}\n`);
    if (event.type === 'keep-symlink') stream.write(keptSymlinkLine(event));
  };
  if (!stream.isTTY) {
    return { event: warnings, stop: () => undefined };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: ' {phase} |{bar}| {read} read, {stored} stored | {rate}/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      barsize: 24,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let startTime = Date.now();
  let total = 0;
  return {
    event: (event: ProgressEvent) => {
      if (event.type === 'warning' || event.type === 'restore-warning' || event.type === 'keep-symlink') {
        if (started) bar.stop();
        warnings(event);
        if (started) bar.start(total || 1, 0, { phase: event.type === 'warning' ? 'backup ' : 'restore', read: '', stored: '', rate: '' });
        return;
      }
      if (event.type === 'bytes' || event.type === 'restore-bytes') {
        const done = event.type === 'bytes' ? event.bytesRead : event.bytesWritten;
        const stored = event.type === 'bytes' ? event.bytesStored : event.bytesDownloaded;
        if (event.type === 'bytes' && event.totalHint) total = event.totalHint;
        const phase = event.type === 'bytes' ? 'backup ' : 'restore';
        if (!started) {
          startTime = Date.now();
          bar.start(total || Math.max(done, 1), 0, { phase, read: humanBytes(0), stored: humanBytes(0), rate: humanBytes(0) });
          started = true;
        }
        bar.setTotal(total || Math.max(done * 2, 1));
        const seconds = Math.max((Date.now() - startTime) / 1000, 0.001);
        bar.update(done, {
          phase,
          read: humanBytes(done),
          stored: humanBytes(stored),
          rate: humanBytes(Math.round(done / seconds)),
        });
      }
      if (event.type === 'restore-start') total = event.bytes;
      if (event.type === 'step') {
        if (started) bar.stop();
        stream.write(`${event.step}${event.detail ? `: ${event.detail}` : ''}\n`);
        started = false;
      }
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}
