// Fetches the frames covering given tar ranges with bounded parallel ranged GETs and yields them decompressed, in tar order.

import { CassetteError, isCassetteError, messageOf } from '../errors.js';
import { objectsOf, type ArtifactRecord, type FrameRecord } from '../format/types.js';
import type { ObjectStore } from '../store/object-store.js';
import { mapOrdered, type FramePool } from '../zstd/pool.js';
import { framesForRanges, planReads, type PlanOptions, type ReadRequest, type TarRange } from './plan.js';

export interface DecodedFrame {
  frame: FrameRecord;
  /** The frame's uncompressed tar bytes: [frame.tarOffset, frame.tarOffset + frame.tarSize). */
  data: Buffer;
}

export interface ReadFramesOptions {
  store: Pick<ObjectStore, 'getBuffer'>;
  artifact: ArtifactRecord;
  frames: readonly FrameRecord[];
  pool: FramePool;
  /** Ranged GETs in flight. Memory ≈ concurrency × maxRequestBytes compressed, plus decompressed frames in flight. */
  concurrency: number;
  plan?: PlanOptions;
  signal?: AbortSignal;
  /** Called with compressed bytes as each GET completes. */
  onDownloaded?: (bytes: number) => void;
  /** Called with compressed bytes as they arrive (progress); by the time a GET completes, with all of its bytes. */
  onReceived?: (bytes: number) => void;
  /**
   * Decompress into the pool's shared memory: the consumer must call pool.release(frame.data) once
   * it has used each frame (before asking for the next one is fine). Saves a new buffer per frame.
   */
  shared?: boolean;
}

/** The read plan for some tar ranges; frames numbered below skipFramesBefore were counted by an earlier batch (--dry-run totals). */
export function planForRanges(frames: readonly FrameRecord[], ranges: readonly TarRange[], options?: PlanOptions, skipFramesBefore = 0): ReadRequest[] {
  const needed = framesForRanges(frames, ranges).filter((f) => f >= skipFramesBefore);
  return planReads(frames, needed, options);
}

export async function* readFrames(ranges: readonly TarRange[], options: ReadFramesOptions): AsyncGenerator<DecodedFrame> {
  const { artifact, frames, pool, signal } = options;
  const plan = planForRanges(frames, ranges, options.plan);
  // Version 2: frames may lie in earlier snapshots' objects, numbered after this snapshot's volumes.
  const objects = objectsOf(artifact);

  /** A downloaded request: its memory goes back to the pool once its last frame is decompressed. */
  interface Download {
    bytes: Buffer;
    framesLeft: number;
  }
  type Compressed = { frame: FrameRecord; key: string; compressed: Buffer; download: Download };

  const fetchRequest = async (request: ReadRequest): Promise<Compressed[]> => {
    const volume = objects[request.volume];
    if (!volume) throw new CassetteError('E_FORMAT', `artifact ${artifact.name} has no object ${request.volume} (volumes and references)`);
    const length = request.end - request.start + 1;
    if (request.end >= volume.size) {
      throw new CassetteError('E_FORMAT', `index of ${artifact.name} points past the end of ${volume.key}`);
    }
    // Shared: straight into the pool's memory, where the workers decompress it without a copy.
    const into = options.shared ? pool.inputBuffer(length) : undefined;
    let bytes: Buffer;
    let received = 0;
    const onProgress = (n: number): void => {
      received += n;
      options.onReceived?.(n);
    };
    try {
      bytes = await options.store.getBuffer(volume.key, { range: { start: request.start, end: request.end }, signal, into, onProgress });
    } catch (error) {
      if (into) pool.release(into);
      if (isCassetteError(error, 'E_NOT_FOUND')) {
        throw new CassetteError('E_NOT_FOUND', `object ${volume.key} of artifact ${artifact.name} is missing from the repository`, { cause: error });
      }
      throw error;
    }
    options.onDownloaded?.(bytes.length);
    // A store that does not report pieces (an encrypted one) reports here, all at once.
    if (bytes.length > received) options.onReceived?.(bytes.length - received);
    if (bytes.length !== length) {
      if (into) pool.release(into);
      throw new CassetteError('E_INTEGRITY', `object ${volume.key} is truncated: asked for bytes ${request.start}-${request.end}, got ${bytes.length} of ${length}`);
    }
    const download: Download = { bytes, framesLeft: request.lastFrame - request.firstFrame + 1 };
    const out: Compressed[] = [];
    for (let n = request.firstFrame; n <= request.lastFrame; n++) {
      const frame = frames[n]!;
      const start = frame.offset - request.start;
      out.push({ frame, key: volume.key, compressed: bytes.subarray(start, start + frame.size), download });
    }
    return out;
  };

  // Fetched requests, frame by frame; decompression then runs a few frames ahead, so memory holds
  // at most `concurrency` compressed requests plus `decompressAhead` decompressed frames, however
  // well the data compressed (one 8 MiB request of zeros can hold a hundred 4 MiB frames).
  async function* compressedFrames(): AsyncGenerator<Compressed> {
    for await (const fetched of mapOrdered(plan, fetchRequest, options.concurrency, signal)) yield* fetched;
  }
  const decompressAhead = Math.max(2, pool.threads * 2);
  yield* mapOrdered(
    compressedFrames(),
    async ({ frame, key, compressed, download }) => {
      try {
        // Shared: decompressed where the download put it, into shared memory; otherwise the pool
        // gets a copy it may move.
        const data = options.shared ? await pool.decompress(compressed, frame.tarSize, { shared: true }) : await pool.decompress(Buffer.from(compressed), frame.tarSize);
        return { frame, data };
      } catch (error) {
        throw new CassetteError('E_INTEGRITY', `frame ${frame.frame} of ${key} (bytes ${frame.offset}-${frame.offset + frame.size - 1}) is corrupt: ${messageOf(error)}`, {
          cause: error,
        });
      } finally {
        if (--download.framesLeft === 0) pool.release(download.bytes);
      }
    },
    decompressAhead,
    signal,
  );
}
