// Progress reporting interface: the engine emits typed events and never prints; the CLI renders them.
// With --json every event but the per-entry ones (`entry-stored`, `entry-restored`) is printed as one NDJSON line; fields are only ever added.

import type { ArtifactKind, ArtifactRecord, BackupWarning, IndexEntry } from './format/types.js';
import type { HookName } from './plan/plan.js';

/** What a command is doing now; a renderer shows it as the label of its line. */
export type Phase =
  /** Backup: taking the lease, choosing parents, before the first byte is read. */
  | 'scanning'
  /** Backup: reading, compressing and uploading. */
  | 'backing up'
  /** Backup: every artifact stored; checking them and writing the commit record. */
  | 'committing'
  /** Restore: reading the indexes to total what will be written and downloaded. */
  | 'planning'
  /** Restore: downloading, decompressing and writing files. */
  | 'restoring'
  /** Restore: every file written; links, special files, then directories' modes, owners and times. */
  | 'setting metadata';

export type ProgressEvent =
  | { type: 'backup-start'; snapshot: string; artifacts: Array<{ name: string; source: string; sizeHint?: number }> }
  | { type: 'artifact-start'; artifact: string; source: string; kind?: ArtifactKind }
  | { type: 'warning'; artifact: string; warning: BackupWarning }
  | { type: 'artifact-done'; artifact: string; record: ArtifactRecord }
  | {
      type: 'bytes';
      /** Bytes read from files and dump streams so far. */
      bytesRead: number;
      /** Compressed bytes handed to the store so far (new frames and seek tables). */
      bytesStored: number;
      /** Of bytesStored, what the store acknowledged (each part once its upload succeeded); an encrypted store counts what it stored. */
      bytesUploaded: number;
      /** Compressed bytes of frames reused from parent snapshots. */
      bytesReused: number;
      files: number;
      /** Estimated bytes the trees hold, once the background walk has totalled them. */
      totalHint?: number;
      /** True once every artifact's source is read to its end (what remains is uploading). */
      allRead: boolean;
    }
  /** `bytes` and `downloadBytes` are the totals of the whole selection, from a planning pass over the indexes (absent when none ran). */
  | { type: 'restore-start'; snapshot: string; entries: number; bytes: number; downloadBytes: number }
  | {
      type: 'restore-bytes';
      /** Bytes of file content written so far. */
      bytesWritten: number;
      /** Compressed bytes downloaded so far, counted as they arrive (an encrypted store's, as each GET completes). */
      bytesDownloaded: number;
      /** Files finished (renamed onto their real names) so far. */
      files: number;
      /** Bytes of the files placed so far (the selection's batches planned up to now). */
      bytesPlanned: number;
      /** Compressed bytes the batches planned so far will download. */
      downloadPlanned: number;
    }
  /** Something the target refused (an attribute kind, reported once); the restore goes on and exits 3. */
  | { type: 'restore-warning'; artifact: string; path: string; message: string }
  /** An in-place restore keeps the directory symlink at `path` (target as written) and writes below it into where it points. */
  | { type: 'keep-symlink'; artifact: string; path: string; target: string }
  | { type: 'step'; step: string; detail?: string }
  | { type: 'phase'; phase: Phase }
  /** A backup stored an entry: in a new frame (`reused: false`), or in a frame reused from the parent (unchanged). */
  | { type: 'entry-stored'; artifact: string; path: string; entryType: IndexEntry['type']; size: number; reused: boolean }
  /** A restore finished a regular file under its real name. */
  | { type: 'entry-restored'; artifact: string; path: string; size: number }
  | { type: 'hook-start'; hook: HookName; command: string }
  | { type: 'hook-done'; hook: HookName; command: string; exitCode: number; durationMs: number };

export interface Progress {
  event(event: ProgressEvent): void;
}

/** The default: reports nothing. */
export const silentProgress: Progress = { event: () => undefined };

/**
 * Sends a counter event at most once per interval, and never loses the last state: a call held
 * back is sent when its interval ends (a backup whose reads all land within one interval, or
 * whose parts are all acknowledged together, still shows where it got to). The timer does not
 * keep the process alive; `close` drops what is pending.
 */
export class CoalescedReport {
  private last = Number.NEGATIVE_INFINITY;
  private pending: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly send: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Send now if the interval has passed (or `force`), else once it has. */
  request(force = false): void {
    const now = this.now();
    if (force || now - this.last >= this.intervalMs) {
      this.flush(now);
      return;
    }
    this.pending ??= setTimeout(() => this.flush(this.now()), this.last + this.intervalMs - now).unref();
  }

  close(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = undefined;
  }

  private flush(now: number): void {
    this.close();
    this.last = now;
    this.send();
  }
}
