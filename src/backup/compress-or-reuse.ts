// The stage after pack: new frames are hashed and compressed in the pool, unless an earlier snapshot stored a frame with the same SHA-256; frames pack took from the parent pass through.

import { CassetteError } from '../errors.js';
import type { IndexEntry } from '../format/types.js';
import { mapOrdered, type FramePool } from '../zstd/pool.js';
import type { StoredFrameRef } from './archive-writer.js';
import type { PackedFrame } from './pack.js';

/** A frame ready for the archive writer. */
export type ReadyFrame =
  | { kind: 'reused'; frame: StoredFrameRef; entries: IndexEntry[] }
  | { kind: 'compressed'; data: Buffer; tarSize: number; digest: string; entries: IndexEntry[] };

/** Frames stored by earlier snapshots, by the SHA-256 of their uncompressed bytes. */
export type FrameCatalog = ReadonlyMap<string, StoredFrameRef>;

export interface CompressOrReuseOptions {
  /** The pool whose knownDigests() are the catalog's keys. */
  pool: Pick<FramePool, 'compressFrame'>;
  catalog: FrameCatalog;
  /** Frames in the pool at once (memory ≈ concurrency × 2 frames). */
  concurrency: number;
  signal?: AbortSignal;
}

/** In frame order. A compressed frame's `data` is the pool's: give it back with pool.release() once written. */
export function compressOrReuse(frames: AsyncIterable<PackedFrame>, options: CompressOrReuseOptions): AsyncGenerator<ReadyFrame> {
  return mapOrdered(frames, async (frame): Promise<ReadyFrame> => {
    if (frame.kind === 'reuse') return { kind: 'reused', frame: frame.frame, entries: frame.entries };
    const tarSize = frame.data.length;
    const result = await options.pool.compressFrame(frame.data);
    if (result.data) return { kind: 'compressed', data: result.data, tarSize, digest: result.digest, entries: frame.entries };
    const known = options.catalog.get(result.digest);
    // The pool skips only digests it was told of, and every one of them is in the catalog.
    if (!known) throw new CassetteError('E_FORMAT', `frame digest ${result.digest} was taken as stored, but no earlier frame has it`);
    return { kind: 'reused', frame: known, entries: frame.entries };
  }, options.concurrency, options.signal);
}
