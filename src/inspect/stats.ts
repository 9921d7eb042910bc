// How much a snapshot, or a set of them, holds and stores (`cassette stats`): counts from the indexes, bytes from the commit records and a listing of data/.

import type { ArtifactRecord, CommitRecord, IndexEntry } from '../format/types.js';

/** Entries of one or more snapshots, by type, and the content bytes of their files. */
export interface EntryCounts {
  files: number;
  directories: number;
  /** Symlinks, hard links, fifos and devices. */
  others: number;
  /** Content bytes of the files (uncompressed, holes included). */
  fileBytes: number;
}

export function emptyCounts(): EntryCounts {
  return { files: 0, directories: 0, others: 0, fileBytes: 0 };
}

/** Counts one entry into `counts`. */
export function countEntry(counts: EntryCounts, entry: Pick<IndexEntry, 'type' | 'size'>): void {
  if (entry.type === 'file') {
    counts.files++;
    counts.fileBytes += entry.size;
  } else if (entry.type === 'dir') counts.directories++;
  else counts.others++;
}

export function addCounts(a: EntryCounts, b: EntryCounts): EntryCounts {
  return { files: a.files + b.files, directories: a.directories + b.directories, others: a.others + b.others, fileBytes: a.fileBytes + b.fileBytes };
}

/** What the commit records say a set of snapshots read and stored. */
export interface StoredTotals {
  snapshots: number;
  /** Bytes read from the sources (file contents, dump bytes). */
  bytesRead: number;
  /** Uncompressed tar bytes: what a full restore of every artifact reads out. */
  tarBytes: number;
  /** Compressed bytes the snapshots stored anew in their own volumes. */
  storedBytes: number;
  /** Compressed bytes of frames the snapshots read from earlier snapshots' objects instead (version 2; 0 in version 1). */
  reusedBytes: number;
  newFrames: number;
  reusedFrames: number;
  /** tarBytes / (storedBytes + reusedBytes): how much zstd shrank the tar; 0 when nothing was stored. */
  compressionRatio: number;
}

/** What an artifact reused, from its counters or (a record without them) its references; version 1 reuses nothing. As `snapshots` reports it. */
function reusedOf(artifact: ArtifactRecord): { reusedBytes: number; newFrames: number; reusedFrames: number } {
  const references = artifact.references ?? [];
  return {
    reusedBytes: artifact.reusedBytes ?? references.reduce((s, r) => s + r.bytes, 0),
    newFrames: artifact.newFrames ?? artifact.volumes.reduce((s, v) => s + v.frames, 0),
    reusedFrames: artifact.reusedFrames ?? references.reduce((s, r) => s + r.frames, 0),
  };
}

/** The stored totals of `records`, from their commit records alone. Pure. */
export function storedTotals(records: ReadonlyArray<Pick<CommitRecord, 'artifacts'>>): StoredTotals {
  const totals: StoredTotals = { snapshots: records.length, bytesRead: 0, tarBytes: 0, storedBytes: 0, reusedBytes: 0, newFrames: 0, reusedFrames: 0, compressionRatio: 0 };
  for (const record of records) {
    for (const artifact of record.artifacts) {
      const reuse = reusedOf(artifact);
      totals.bytesRead += artifact.bytesRead;
      totals.tarBytes += artifact.tarBytes;
      totals.storedBytes += artifact.storedBytes;
      totals.reusedBytes += reuse.reusedBytes;
      totals.newFrames += reuse.newFrames;
      totals.reusedFrames += reuse.reusedFrames;
    }
  }
  const compressed = totals.storedBytes + totals.reusedBytes;
  totals.compressionRatio = compressed > 0 ? totals.tarBytes / compressed : 0;
  return totals;
}

/** What the repository holds under data/, against what its snapshots would take stored apart. */
export interface HeldTotals {
  /** Objects under data/ and their stored bytes: what the repository actually holds, after reuse between snapshots. */
  objects: number;
  bytes: number;
  /** Of those, the objects no committed snapshot names (an incomplete or running backup's, or leftovers prune removes). */
  unreferencedObjects: number;
  unreferencedBytes: number;
  /** tarBytes of every snapshot / bytes held: how many times over the data is held compactly (compression and reuse). 0 when nothing is held. */
  ratio: number;
}

/**
 * What the data/ listing `objects` says the repository holds, given the keys every committed
 * snapshot names (repository.ts objectKeysOf) and the sum of their tar bytes. Pure.
 */
export function heldTotals(objects: ReadonlyArray<{ key: string; size: number }>, named: ReadonlySet<string>, tarBytes: number): HeldTotals {
  const held: HeldTotals = { objects: 0, bytes: 0, unreferencedObjects: 0, unreferencedBytes: 0, ratio: 0 };
  for (const object of objects) {
    held.objects++;
    held.bytes += object.size;
    if (!named.has(object.key)) {
      held.unreferencedObjects++;
      held.unreferencedBytes += object.size;
    }
  }
  held.ratio = held.bytes > 0 ? tarBytes / held.bytes : 0;
  return held;
}
