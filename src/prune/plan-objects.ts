// Pure planning of which stored objects prune may delete: an object stays while a kept snapshot names it (docs/FORMAT.md §7), decided from commit records alone.

import type { CommitRecord } from '../format/types.js';
import type { ObjectInfo } from '../store/object-store.js';

/** An object that kept snapshots name, and how much of it they read. */
export interface LiveObject {
  /** Ids of the kept snapshots that name it, each once, in the order they were given (or of the running backups that reuse it). */
  namedBy: string[];
  /**
   * Compressed bytes of it that are in use: its recorded size when a snapshot names it as its own
   * volume, index or recipe; otherwise the largest `references[].bytes` among the artifacts that
   * read from it. A lower bound of the bytes in use when several snapshots read different frames
   * of it; exact in a chain of incrementals, where each snapshot reuses frames of its parent only,
   * so the frames a later snapshot reads from an object are among those an earlier one reads.
   */
  usedBytes: number;
}

/** An object under a removed snapshot's (or an incomplete one's) `data/<id>/` that stays because kept snapshots still name it. */
export interface KeptObject {
  key: string;
  /** Its size as listed: all of it stays. */
  size: number;
  /** Of `size`, the bytes kept snapshots read (LiveObject.usedBytes, at most `size`). The rest stays only because it shares the object. */
  usedBytes: number;
  /** Ids of the kept snapshots that reference it (or of the running backups that reuse it: LiveObject.namedBy). */
  referencedBy: string[];
}

/** What happens to the objects under one `data/<id>/`. */
export interface ObjectSplit {
  /** Objects no kept snapshot names: they go. */
  remove: ObjectInfo[];
  /** Objects kept snapshots name: they stay, whole. */
  keep: KeptObject[];
}

/**
 * Every object the given snapshots name (FORMAT.md §7: volumes, indexes, recipes and references),
 * with who names it and how much of it they read. Pass the snapshots that stay.
 */
export function liveObjects(snapshots: Iterable<Pick<CommitRecord, 'id' | 'artifacts'>>): Map<string, LiveObject> {
  const live = new Map<string, LiveObject>();
  const name = (key: string, id: string, usedBytes: number): void => {
    const object = live.get(key);
    if (!object) {
      live.set(key, { namedBy: [id], usedBytes });
      return;
    }
    if (!object.namedBy.includes(id)) object.namedBy.push(id);
    object.usedBytes = Math.max(object.usedBytes, usedBytes);
  };
  for (const snapshot of snapshots) {
    for (const artifact of snapshot.artifacts) {
      for (const volume of artifact.volumes) name(volume.key, snapshot.id, volume.size);
      name(artifact.index.key, snapshot.id, artifact.index.size);
      if (artifact.recipe) name(artifact.recipe.key, snapshot.id, artifact.recipe.size);
      for (const reference of artifact.references ?? []) name(reference.key, snapshot.id, reference.bytes);
    }
  }
  return live;
}

/** Split the listed objects of one `data/<id>/` into those that go and those that `live` objects keep. */
export function splitObjects(objects: readonly ObjectInfo[], live: ReadonlyMap<string, LiveObject>): ObjectSplit {
  const split: ObjectSplit = { remove: [], keep: [] };
  for (const object of objects) {
    const named = live.get(object.key);
    if (!named) split.remove.push(object);
    else split.keep.push({ key: object.key, size: object.size, usedBytes: Math.min(object.size, named.usedBytes), referencedBy: [...named.namedBy] });
  }
  return split;
}

/** Totals of what stays under one `data/<id>/`, for reports. */
export interface KeptSummary {
  /** Objects that stay because kept snapshots reference them, and their whole sizes. */
  keptObjects: number;
  keptBytes: number;
  /** Of keptBytes, the bytes those snapshots read (the rest stays only because it shares an object with them). */
  keptUsedBytes: number;
  kept: KeptObject[];
}

export function keptSummary(kept: readonly KeptObject[]): KeptSummary {
  return {
    keptObjects: kept.length,
    keptBytes: kept.reduce((sum, k) => sum + k.size, 0),
    keptUsedBytes: kept.reduce((sum, k) => sum + k.usedBytes, 0),
    kept: [...kept],
  };
}
