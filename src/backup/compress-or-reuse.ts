// The stage after pack: new frames are hashed and compressed in the pool, unless an earlier snapshot stored a frame with the same SHA-256; frames pack took from the parent pass through.

import { CassetteError } from '../errors.js';
import type { IndexEntry } from '../format/types.js';
import { mapOrdered, type FramePool } from '../zstd/pool.js';
import type { StoredFrameRef } from './archive-writer.js';
import type { PackedFrame } from './pack.js';

/** A frame ready for the archive writer. */
export type ReadyFrame =
  { kind: 'reused'; frame: StoredFrameRef; entries: IndexEntry[] } | { kind: 'compressed'; data: Buffer; tarSize: number; digest: string; entries: IndexEntry[] };

/** Frames stored by earlier snapshots, by the SHA-256 of their uncompressed bytes: every copy, in the order they were added. */
export type FrameCatalog = Map<string, StoredFrameRef[]>;

export interface CompressOrReuseOptions {
  /** The pool whose knownDigests() are the catalog's keys. */
  pool: Pick<FramePool, 'compressFrame'>;
  catalog: FrameCatalog;
  /** Frames in the pool at once (memory ≈ concurrency × 2 frames). */
  concurrency: number;
  signal?: AbortSignal;
}

/** In frame order. A compressed frame's `data` is the pool's: give it back with pool.release() once written. */
export async function* compressOrReuse(frames: AsyncIterable<PackedFrame>, options: CompressOrReuseOptions): AsyncGenerator<ReadyFrame> {
  const ready = mapOrdered(
    frames,
    async (frame): Promise<ReadyFrame | { kind: 'known'; digest: string; entries: IndexEntry[] }> => {
      if (frame.kind === 'reuse') return { kind: 'reused', frame: frame.frame, entries: frame.entries };
      const tarSize = frame.data.length;
      const result = await options.pool.compressFrame(frame.data);
      if (result.data) return { kind: 'compressed', data: result.data, tarSize, digest: result.digest, entries: frame.entries };
      return { kind: 'known', digest: result.digest, entries: frame.entries };
    },
    options.concurrency,
    options.signal,
  );
  // Where the previous frame ended in its object: of several stored copies of a frame (runs of
  // zeros in an image), the one that follows it keeps a restore's reads sequential and downloads
  // each copy once, where always the first copy would be fetched again for every occurrence.
  let after: { key: string; offset: number } | undefined;
  for await (const frame of ready) {
    let out: ReadyFrame;
    if (frame.kind === 'known') {
      const copies = options.catalog.get(frame.digest);
      // The pool skips only digests it was told of, and every one of them is in the catalog.
      if (!copies || copies.length === 0) throw new CassetteError('E_FORMAT', `frame digest ${frame.digest} was taken as stored, but no earlier frame has it`);
      const next = after && copies.find((c) => c.object.key === after!.key && c.record.offset === after!.offset);
      out = { kind: 'reused', frame: next ?? copies[0]!, entries: frame.entries };
    } else {
      out = frame;
    }
    after = out.kind === 'reused' ? { key: out.frame.object.key, offset: out.frame.record.offset + out.frame.record.size } : undefined;
    yield out;
  }
}
