// What `cassette report` shows, as data: the timeline of runs, one snapshot's artifacts and listing, and the repository's totals with prune's forecast. The page and `--json` carry the same.

import type { BackupWarning, CommitRecord, DatabaseInfo, HookRecord } from '../format/types.js';
import { isNotStored } from '../format/types.js';
import type { Retention } from '../plan/plan.js';
import type { EntryCounts, StoredTotals } from '../inspect/stats.js';
import type { DirectoryTotals, TreeListing } from './tree.js';

/** How a run ended, as far as the repository can tell. */
export type RunStatus =
  /** Committed, nothing to report. */
  | 'ok'
  /** Committed with warnings that do not change what was stored (a skipped socket, a hook's note) or with a hook that failed. */
  | 'warnings'
  /** Committed, but entries or attributes are not stored as they were (the backup exited 3). */
  | 'partial'
  /** Data without a commit record: a backup that failed or was killed and left its objects, or one still running. */
  | 'incomplete';

/**
 * One run on the timeline. Its byte and frame counts are those of storedTotals (inspect/stats.ts);
 * for an incomplete run, storedBytes is what its objects hold and the others are 0.
 */
export interface Run extends Omit<StoredTotals, 'snapshots' | 'compressionRatio'> {
  id: string;
  /** ISO 8601: the commit record's startedAt; for an incomplete run, the time in its id. */
  time: string;
  /** Committed runs only. */
  finishedAt?: string;
  host?: string;
  tags: string[];
  /** The series it belongs to: its host and tags (`host1 nightly,etc`); `incomplete` for a run without a commit record (whose host the repository does not know). */
  series: string;
  status: RunStatus;
  /** From startedAt to finishedAt. */
  durationSeconds: number;
  /** bytesRead / durationSeconds; 0 when the duration is 0. */
  bytesPerSecond: number;
  warnings: number;
  /** Warnings that an entry is not stored as it was. */
  notStored: number;
  /** Hooks that exited non-zero. */
  failedHooks: number;
  /** An encrypted snapshot no key given opens: names are sealed, sizes are public. */
  sealed?: true;
  /** Incomplete runs: a backup holds a fresh lease on it (still running). */
  running?: true;
}

/** One artifact of the snapshot the report details. */
export interface ArtifactDetail {
  name: string;
  kind: 'tree' | 'database';
  source: string;
  bytesRead: number;
  tarBytes: number;
  storedBytes: number;
  reusedBytes: number;
  /** tarBytes / (storedBytes + reusedBytes); 0 when nothing is stored. */
  ratio: number;
  frames: number;
  newFrames: number;
  reusedFrames: number;
  counts: EntryCounts;
  /** The first warnings the commit record keeps (at most 1000), and how many there were. */
  warnings: BackupWarning[];
  warningCount: number;
  notStored: number;
  /** The snapshot this artifact was compared with (an incremental backup). */
  parent?: string;
  database?: DatabaseInfo;
}

export interface SnapshotDetail {
  id: string;
  time: string;
  finishedAt: string;
  host: string;
  tags: string[];
  profile?: string;
  role?: string;
  version: number;
  status: RunStatus;
  durationSeconds: number;
  encrypted: boolean;
  artifacts: ArtifactDetail[];
  hooks: HookRecord[];
  largestDirectories: DirectoryTotals[];
  tree: TreeListing;
  /** The commands that get a file back start so: `cassette restore <id> --include <pattern> --stdout --repo <url>` (restore-command.ts). */
  repository: string;
}

/** An id with data under data/ and no commit record. */
export interface Leftover {
  id: string;
  objects: number;
  bytes: number;
  /** The newest LastModified of its objects and lease, and its age by this machine's clock at report time. */
  newest?: string;
  ageSeconds?: number;
  /** A fresh lease: a backup is writing it now. */
  running: boolean;
  /** What is left of a pruned snapshot: objects committed snapshots still read frames from. Not a run. */
  referenced?: true;
  /** Prune with its grace period would remove it now (objects committed snapshots reference excepted). */
  pruneRemoves: boolean;
}

/** What prune with the configured retention would do now: a dry run, judged by this machine's clock. */
export interface PruneForecast {
  retention: Retention;
  /** Where the retention comes from: `--keep-*`, a runbook or a plan file. */
  from: string;
  groupBy?: 'host';
  keep: Array<{ id: string; reasons: string[] }>;
  remove: Array<{ id: string; time: string; objects: number; bytes: number; keptBytes: number }>;
  /** Bytes the removed snapshots and leftovers free. */
  freedBytes: number;
  /** Multipart uploads prune would abort. */
  abortUploads: number;
}

export interface RepositoryTotals {
  url: string;
  /** Committed snapshots, all of them; and those the filter selects. */
  snapshots: number;
  selected: number;
  /** Of the committed snapshots, those whose names no key given opens. */
  sealed: number;
  /** Objects and stored bytes under data/ (after compression and reuse). */
  objects: number;
  storedBytes: number;
  /** Sum of every snapshot's tar bytes: what they hold uncompressed and apart. */
  tarBytes: number;
  /** tarBytes / storedBytes; 0 when nothing is stored. */
  ratio: number;
  /** Of storedBytes, the bytes in objects no committed snapshot names (leftovers, running backups). */
  unreferencedBytes: number;
  leftovers: Leftover[];
  /** Multipart uploads not completed, with the oldest one's start. */
  pendingUploads: number;
  oldestUpload?: string;
  firstSnapshot?: string;
  lastSnapshot?: string;
  /** Undefined when no retention is configured (no --keep-*, runbook or plan). */
  prune?: PruneForecast;
  graceHours: number;
}

export interface ReportData {
  format: 'cassette-report';
  version: 1;
  generatedAt: string;
  cassetteVersion: string;
  /** The snapshots the report is about: describeFilter's words, or undefined for all. */
  filter?: string;
  timeline: {
    /** Oldest first: the last `shown` committed snapshots selected, with the incomplete runs of the same span. */
    runs: Run[];
    /** Committed snapshots on the timeline, and selected in all (`--last` cuts the rest). */
    shown: number;
    total: number;
  };
  /** The snapshot detailed: `--snapshot`, else the latest selected; undefined when there is none. */
  snapshot?: SnapshotDetail;
  /** Why the snapshot is not detailed (encrypted to keys not given), when it is not. */
  snapshotNote?: string;
  repository: RepositoryTotals;
}

/** The series of a committed snapshot: its host, then its tags sorted. */
export function seriesOf(record: Pick<CommitRecord, 'host' | 'tags'>): string {
  const tags = [...record.tags].sort();
  return tags.length > 0 ? `${record.host} ${tags.join(',')}` : record.host;
}

/** How a committed run ended, from its record: partial when entries are not stored as they were, warnings for other warnings or a failed hook. Pure. */
export function runStatus(record: Pick<CommitRecord, 'artifacts' | 'hooks'>): RunStatus {
  if (record.artifacts.some((a) => notStoredOf(a) > 0)) return 'partial';
  if (record.artifacts.some((a) => a.warningCount > 0) || (record.hooks ?? []).some((h) => h.exitCode !== 0)) return 'warnings';
  return 'ok';
}

/** Entries not stored as they were: the counter, or (records before it) the warnings kept that say so. */
export function notStoredOf(artifact: Pick<CommitRecord['artifacts'][number], 'notStored' | 'warnings'>): number {
  return artifact.notStored ?? artifact.warnings.filter(isNotStored).length;
}
