// Cuts decoded frames into the pieces of the files they hold, in tar order: where each piece lies in its frame and where it goes in its file.
// It writes nothing (write-files.ts does); each frame it yields owns the pool memory it was decoded into, until release().

import { CassetteError } from '../errors.js';
import type { FrameRecord } from '../format/types.js';
import type { FramePool } from '../zstd/pool.js';
import type { PendingFile } from './destination.js';
import type { DecodedFrame } from './read-frames.js';

/** A piece of one file's bytes in a frame. */
export interface FilePiece {
  file: PendingFile;
  /** Where the piece starts in the frame's data. */
  start: number;
  length: number;
  /** Where it goes in the file. */
  position: number;
  /** The file's last piece: once it is written, the file is complete. */
  last: boolean;
}

/** A decoded frame and the pieces of files it holds, in tar order. */
export interface SlicedFrame {
  frame: FrameRecord;
  /** The frame's tar bytes, in the pool's memory: valid until release(). */
  data: Buffer;
  pieces: FilePiece[];
  /** Gives the frame's memory back to the pool, once nothing reads `data` any more; later calls do nothing. */
  release(): void;
}

export interface SliceFramesOptions {
  /** The artifact's name, for messages. */
  artifact: string;
  /** The pool the frames were decoded into (readFrames with `shared`): release() gives their memory back there. */
  pool: Pick<FramePool, 'release'>;
}

/**
 * Cuts each frame into the pieces of `files` it holds. `files` are the batch's files with data, in
 * tar order, and the frames come in tar order too (readFrames); each file's `written` counts the
 * bytes cut for it so far. A frame that does not continue a file where the previous one ended is
 * E_INTEGRITY.
 */
export async function* sliceFrames(frames: AsyncIterable<DecodedFrame>, files: readonly PendingFile[], options: SliceFramesOptions): AsyncGenerator<SlicedFrame> {
  // Files before the cursor have all their bytes.
  let cursor = 0;
  for await (const { frame, data } of frames) {
    const frameEnd = frame.tarOffset + frame.tarSize;
    const pieces: FilePiece[] = [];
    for (let i = cursor; i < files.length; i++) {
      const file = files[i]!;
      const start = file.entry.dataOffset;
      const end = start + file.entry.size;
      if (start >= frameEnd) break;
      const from = Math.max(start, frame.tarOffset);
      const to = Math.min(end, frameEnd);
      if (to <= from) continue;
      if (from - start !== file.written) {
        throw new CassetteError('E_INTEGRITY', `${options.artifact}/${file.entry.path}: frames arrived out of order`);
      }
      const last = file.written + (to - from) === file.entry.size;
      pieces.push({ file, start: from - frame.tarOffset, length: to - from, position: file.written, last });
      file.written += to - from;
      if (last && i === cursor) cursor++;
    }
    while (cursor < files.length && files[cursor]!.written === files[cursor]!.entry.size) cursor++;
    yield { frame, data, pieces, release: releaseOnce(options.pool, data) };
  }
}

/** Gives `data` back to `pool` on the first call only: a second release could free memory the pool has lent out again. */
function releaseOnce(pool: Pick<FramePool, 'release'>, data: Buffer): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    pool.release(data);
  };
}

/** Once every frame is written: each file got all its bytes, or the archive ended early (E_INTEGRITY). */
export function assertAllSliced(files: readonly PendingFile[], artifact: string): void {
  const unfinished = files.find((f) => f.written !== f.entry.size);
  if (unfinished) {
    throw new CassetteError('E_INTEGRITY', `${artifact}/${unfinished.entry.path}: the archive ended after ${unfinished.written} of ${unfinished.entry.size} bytes`);
  }
}
