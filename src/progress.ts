// Progress reporting interface: the engine emits typed events and never prints; the CLI renders them.

import type { ArtifactRecord, BackupWarning } from './format/types.js';

export type ProgressEvent =
  | { type: 'backup-start'; snapshot: string; artifacts: Array<{ name: string; source: string; sizeHint?: number }> }
  | { type: 'artifact-start'; artifact: string; source: string }
  | { type: 'warning'; artifact: string; warning: BackupWarning }
  | { type: 'artifact-done'; artifact: string; record: ArtifactRecord }
  | { type: 'bytes'; bytesRead: number; bytesStored: number; files: number; totalHint?: number }
  | { type: 'restore-start'; snapshot: string; entries: number; bytes: number; downloadBytes: number }
  | { type: 'restore-bytes'; bytesWritten: number; bytesDownloaded: number; files: number }
  /** Something the target refused (an attribute kind, reported once); the restore goes on and exits 3. */
  | { type: 'restore-warning'; artifact: string; path: string; message: string }
  /** An in-place restore keeps the directory symlink at `path` (target as written) and writes below it into where it points. */
  | { type: 'keep-symlink'; artifact: string; path: string; target: string }
  | { type: 'step'; step: string; detail?: string };

export interface Progress {
  event(event: ProgressEvent): void;
}

/** The default: reports nothing. */
export const silentProgress: Progress = { event: () => undefined };

/** Emits at most one event per interval of the events produced by `make` (byte counters), plus a final one on flush. */
export class Throttle {
  private last = 0;

  constructor(private readonly intervalMs: number) {}

  /** True when enough time has passed since the last accepted call. */
  ready(now: number = Date.now()): boolean {
    if (now - this.last < this.intervalMs) return false;
    this.last = now;
    return true;
  }
}
