// What a batch of files reads from its archive: the tar ranges of their bytes, the limits of the ranged GETs, and what a dry run counts for them. Pure.

import { DEFAULTS } from '../defaults.js';
import type { FrameRecord, IndexEntry } from '../format/types.js';
import { plannedBytes, type PlanOptions, type TarRange } from './plan.js';
import { planForRanges } from './read-frames.js';

/** The restore's ranged GETs: gaps merged and requests split as DEFAULTS says (plan.ts explains both). */
export const RESTORE_READS: PlanOptions = { maxGapBytes: DEFAULTS.restoreMaxGapBytes, maxRequestBytes: DEFAULTS.restoreRequestBytes };

/** The tar ranges that hold the files' bytes, in the files' order. */
export function tarRangesOf(files: ReadonlyArray<{ entry: Pick<IndexEntry, 'dataOffset' | 'size'> }>): TarRange[] {
  return files.map((f) => ({ start: f.entry.dataOffset, end: f.entry.dataOffset + f.entry.size }));
}

/** What a dry run adds for one batch. */
export interface PlannedDownload {
  /** Compressed bytes its GETs would download, and how many GETs. */
  bytes: number;
  requests: number;
  /** The last frame counted now (or still the one given, when nothing was). */
  lastFrame: number;
}

/**
 * The download of reading `ranges`, counting only frames after `lastCounted`: an earlier batch
 * counted those (batches follow the tar stream, so two of them may share a frame).
 */
export function plannedDownload(frames: readonly FrameRecord[], ranges: readonly TarRange[], lastCounted: number): PlannedDownload {
  const plan = planForRanges(frames, ranges, RESTORE_READS, lastCounted + 1);
  return { bytes: plannedBytes(plan), requests: plan.length, lastFrame: plan.length > 0 ? plan.at(-1)!.lastFrame : lastCounted };
}
