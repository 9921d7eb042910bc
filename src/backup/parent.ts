// The parent of an incremental backup: which earlier snapshot an artifact is compared with, and its index — frames by tar offset and by digest, entries streamed in walk order.
//
// Nothing but the parent's commit record and index is read. The entries are never held in a map:
// the walk visits paths in the same order as the parent's tar (parents before children, siblings in
// byte order), so one cursor over the parent's entry stream finds each path's old entry, or learns
// that it had none, in O(1) amortised memory.

import type { BigIntStats } from 'node:fs';
import { entryPathBytes } from '../format/entry-bytes.js';
import type { IndexReader } from '../format/index-file.js';
import { mtimeFromNs } from '../format/tar-header.js';
import { objectsOf, type ArtifactKind, type ArtifactRecord, type CommitRecord, type FrameRecord, type IndexEntry } from '../format/types.js';
import { compareSnapshots, openIndex } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';
import type { WalkItem } from './walk.js';

/** An object a reused frame lies in, as the commit record that stored it described it. */
export interface StoredObject {
  key: string;
  size: number;
  sha256: string;
}

/** A frame of the parent, where it is stored. */
export interface ParentFrame {
  record: FrameRecord;
  object: StoredObject;
}

/**
 * Order of paths in a tree's tar stream (walk.ts): component by component, each compared as bytes;
 * a path sorts before its children. Comparing whole paths as bytes would not do: `a-b` < `a/b` in
 * bytes, yet the walk emits `a/` and all below it first. Here `/` ranks below every other byte.
 */
export function compareWalkOrder(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (x === 0x2f) return -1;
    if (y === 0x2f) return 1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Whether a file's content is taken to be the one its parent entry describes without reading it:
 * the metadata fast path of restic and Kopia. Size, mtime, ctime, inode and device must all match;
 * ctime changes with any write, chmod, chown or xattr change, and cannot be set from user space.
 */
export function unchangedSince(stats: BigIntStats, parent: IndexEntry | undefined): parent is IndexEntry & { sha256: string } {
  return (
    parent !== undefined &&
    parent.type === 'file' &&
    parent.sha256 !== undefined &&
    parent.ctime !== undefined &&
    parent.size === Number(stats.size) &&
    parent.mtime === mtimeFromNs(stats.mtimeNs) &&
    parent.ctime === mtimeFromNs(stats.ctimeNs) &&
    parent.ino === String(stats.ino) &&
    parent.dev === String(stats.dev)
  );
}

export class ParentArtifact {
  readonly snapshot: string;
  readonly artifact: ArtifactRecord;
  private readonly framesTable: readonly FrameRecord[];
  private readonly objects: StoredObject[];
  private readonly byDigest = new Map<string, number>();
  private readonly entries: AsyncIterator<IndexEntry>;
  private current: { entry: IndexEntry; key: Buffer } | undefined;
  private ended = false;

  private constructor(
    snapshot: string,
    artifact: ArtifactRecord,
    private readonly index: IndexReader,
  ) {
    this.snapshot = snapshot;
    this.artifact = artifact;
    this.framesTable = index.frames;
    this.objects = objectsOf(artifact);
    for (const [i, frame] of index.frames.entries()) if (frame.sha256 && frame.tarSize > 0) this.byDigest.set(frame.sha256, i);
    this.entries = index.entries[Symbol.asyncIterator]();
  }

  static async open(store: Pick<ObjectStore, 'get'>, record: CommitRecord, artifact: ArtifactRecord): Promise<ParentArtifact> {
    return new ParentArtifact(record.id, artifact, await openIndex(store, artifact));
  }

  /** Digests of every parent frame (for the pool's knownDigests). */
  digests(): IterableIterator<string> {
    return this.byDigest.keys();
  }

  /** Every parent frame that has a digest, in frame order. */
  *frames(): Generator<ParentFrame> {
    for (let i = 0; i < this.frameCount; i++) {
      const frame = this.frame(i);
      if (frame.record.sha256 && frame.record.tarSize > 0) yield frame;
    }
  }

  get frameCount(): number {
    return this.framesTable.length;
  }

  /** The parent frame whose uncompressed bytes have this SHA-256. */
  byContent(digest: string): ParentFrame | undefined {
    const i = this.byDigest.get(digest);
    return i === undefined ? undefined : this.frame(i);
  }

  frame(i: number): ParentFrame {
    const record = this.framesTable[i]!;
    return { record, object: this.objects[record.volume]! };
  }

  /** Number of the parent frame that starts at this tar offset, or -1. */
  frameStartingAt(tarOffset: number): number {
    let lo = 0;
    let hi = this.framesTable.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.framesTable[mid]!.tarOffset;
      if (at === tarOffset) return this.framesTable[mid]!.tarSize > 0 ? mid : -1;
      if (at < tarOffset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /**
   * Frames `[first, last]` of the parent that hold exactly the tar bytes `[start, end)`, or undefined
   * when frame boundaries do not fall at both ends.
   */
  framesCovering(start: number, end: number): { first: number; last: number } | undefined {
    const first = this.frameStartingAt(start);
    if (first < 0) return undefined;
    let last = first;
    while (last < this.framesTable.length && this.framesTable[last]!.tarOffset + this.framesTable[last]!.tarSize < end) last++;
    if (last >= this.framesTable.length || this.framesTable[last]!.tarOffset + this.framesTable[last]!.tarSize !== end) return undefined;
    return { first, last };
  }

  /** The parent's entry for `key` (a path's exact bytes); keys must be asked in walk order. */
  async entryFor(key: Buffer): Promise<IndexEntry | undefined> {
    for (;;) {
      if (!this.current) {
        if (this.ended) return undefined;
        const step = await this.entries.next();
        if (step.done) {
          this.ended = true;
          return undefined;
        }
        this.current = { entry: step.value, key: entryPathBytes(step.value) ?? Buffer.from(step.value.path) };
      }
      const order = compareWalkOrder(this.current.key, key);
      if (order > 0) return undefined;
      const { entry } = this.current;
      this.current = undefined;
      if (order === 0) return entry;
    }
  }

  close(): void {
    this.index.close();
  }
}

/** What identifies the same artifact across snapshots. */
export interface ArtifactIdentity {
  name: string;
  kind: ArtifactKind;
  source: string;
}

/** What a parent must share with the backup besides the artifact. */
export interface ParentRun {
  host: string;
  /** zstd level. */
  level: number;
  /** The recipients' fingerprint of an encrypted backup; undefined for an unencrypted one. */
  encryption?: string;
}

/**
 * The parent of each artifact (docs/FORMAT.md §7): the newest committed snapshot of version 2 or
 * later of the same host, written with the same compression level and encrypted to the same
 * recipients (or both unencrypted; §8), that has an artifact of the same name, kind and source. A
 * record still sealed (no key opened it) cannot be matched. Pure: `records` are the committed
 * snapshots' commit records, any order.
 */
export function chooseParents(
  records: readonly CommitRecord[],
  run: ParentRun,
  artifacts: readonly ArtifactIdentity[],
): Map<string, { record: CommitRecord; artifact: ArtifactRecord }> {
  const candidates = records
    .filter((r) => r.version >= 2 && r.host === run.host && r.compressionLevel === run.level && r.encryption?.recipients === run.encryption && r.sealed === undefined)
    .sort(compareSnapshots)
    .reverse();
  const parents = new Map<string, { record: CommitRecord; artifact: ArtifactRecord }>();
  for (const wanted of artifacts) {
    for (const record of candidates) {
      const artifact = record.artifacts.find((a) => a.name === wanted.name && a.kind === wanted.kind && a.source === wanted.source);
      if (artifact) {
        parents.set(wanted.name, { record, artifact });
        break;
      }
    }
  }
  return parents;
}

/** A walked item with its parent entry, if the parent had the path. */
export interface MatchedItem {
  item: WalkItem;
  /** The parent's entry for the same path. */
  parent?: IndexEntry;
  /** A file whose metadata says its content is the parent's (unchangedSince): not read unless its frame must be rebuilt. */
  unchanged?: boolean;
}

/** Pairs each walked item with the parent's entry for its path; with `forceRead` no file counts as unchanged. */
export async function* matchParent(items: AsyncIterable<WalkItem>, parent: ParentArtifact | undefined, forceRead: boolean): AsyncGenerator<MatchedItem> {
  for await (const item of items) {
    if (!parent) {
      yield { item };
      continue;
    }
    const old = await parent.entryFor(item.pathBytes ?? Buffer.from(item.path));
    const matched: MatchedItem = { item };
    if (old) matched.parent = old;
    if (!forceRead && item.type === 'file' && unchangedSince(item.stats, old)) matched.unchanged = true;
    yield matched;
  }
}
