// The planning pass of a restore: what restoring the selection will write and download, from one read of the indexes (no file is touched).
// Progress only: it does not look at the destination (--skip-existing may write less) nor at hard links whose target is left out.

import { DEFAULTS } from '../defaults.js';
import type { CommitRecord } from '../format/types.js';
import { openIndex } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';
import { plannedDownload, tarRangesOf } from './batch-reads.js';
import type { TarRange } from './plan.js';
import { artifactMayMatch, compileSelector, type SelectOptions } from './select.js';

export interface RestoreTotals {
  /** Entries selected. */
  entries: number;
  /** Bytes of the selected regular files' content. */
  bytes: number;
  /** Compressed bytes the restore's GETs will download (indexes not counted). */
  downloadBytes: number;
}

/** Totals of restoring `selection` from `record` (tree artifacts only, as restoreRecord restores them). */
export async function estimateRestore(record: CommitRecord, store: Pick<ObjectStore, 'get'>, selection: SelectOptions, signal?: AbortSignal): Promise<RestoreTotals> {
  const selected = compileSelector(selection);
  const totals: RestoreTotals = { entries: 0, bytes: 0, downloadBytes: 0 };
  for (const artifact of record.artifacts) {
    if (artifact.kind !== 'tree' || !artifactMayMatch(selection, artifact.name)) continue;
    signal?.throwIfAborted();
    const index = await openIndex(store, artifact);
    try {
      let lastFrame = -1;
      let ranges: TarRange[] = [];
      let batchEntries = 0;
      let batchBytes = 0;
      const count = (): void => {
        const download = plannedDownload(index.frames, ranges, lastFrame);
        totals.downloadBytes += download.bytes;
        lastFrame = download.lastFrame;
        ranges = [];
        batchEntries = 0;
        batchBytes = 0;
      };
      for await (const entry of index.entries) {
        if (!selected(artifact.name, entry.path)) continue;
        totals.entries++;
        batchEntries++;
        batchBytes += entry.size;
        if (entry.type === 'file') {
          totals.bytes += entry.size;
          if (entry.size > 0) ranges.push(...tarRangesOf([{ entry }]));
        }
        // The restore's batches (restore.ts), counted as its dry run counts them.
        if (batchEntries >= DEFAULTS.restoreBatchEntries || batchBytes >= 1 << 30) count();
      }
      count();
    } finally {
      index.close();
    }
  }
  return totals;
}
