// Stores an artifact's index: its NDJSON text compressed in the pool as independent frames, uploaded within the backup's memory budget.

import { createHash } from 'node:crypto';
import { DEFAULTS } from '../defaults.js';
import type { IndexObjectRecord } from '../format/types.js';
import type { ObjectStore } from '../store/object-store.js';
import { mapOrdered, type FramePool } from '../zstd/pool.js';
import { FrameFiller } from './frame-filler.js';
import { uploadQueueSize } from './part-size.js';

/**
 * Compress the index text in the pool (independent frames, one stream) and store it, within the
 * same memory rules as the archives: frames in the pool's shared buffers, a budgeted part queue.
 * The SHA-256 is of the stored bytes, hashed as they are written.
 */
export async function storeIndex(
  store: Pick<ObjectStore, 'openWriter'>,
  key: string,
  text: AsyncIterable<Buffer>,
  pool: FramePool,
  signal: AbortSignal,
  concurrentUploads: number,
): Promise<IndexObjectRecord> {
  async function* frames(): AsyncGenerator<Buffer> {
    const filler = new FrameFiller(DEFAULTS.frameSize, (size) => pool.frameBuffer(size));
    for await (const piece of text) yield* filler.add(piece);
    const last = filler.rest();
    if (last) yield last;
  }
  const partSize = DEFAULTS.minPartSize;
  const writer = store.openWriter(key, { partSize, queueSize: uploadQueueSize(partSize, concurrentUploads), signal });
  const hash = createHash('sha256');
  try {
    for await (const compressed of mapOrdered(frames(), (frame: Buffer) => pool.compress(frame, { ownsBuffer: true }), pool.threads + DEFAULTS.framesQueued, signal)) {
      hash.update(compressed);
      await writer.write(compressed);
      pool.release(compressed);
    }
    const { size } = await writer.finish();
    return { key, size, sha256: hash.digest('hex') };
  } catch (error) {
    await writer.abort(error);
    throw error;
  }
}
