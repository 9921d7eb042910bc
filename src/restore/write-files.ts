// Writes the pieces of each frame into the files' temporary names and yields each file once all of it is written, with its SHA-256.
// Small and sparse files are written and hashed here; larger ones on the writer thread (slice-writer.ts).
//
// Memory: a frame's memory goes back to the pool once nothing reads it any more, so the frames held
// here are the one being written plus at most FRAMES_IN_WRITER in the writer thread; open
// descriptors are at most MAX_OPEN_FILES.

import { createHash } from 'node:crypto';
import fsSync from 'node:fs';
import { openTemp, targetError, type ArtifactState, type PendingFile } from './destination.js';
import type { SlicedFrame } from './slice-frames.js';
import type { Slice, SliceWriter } from './slice-writer.js';

/**
 * Frames handed to the writer thread and not yet written: each holds its decoded frame's memory
 * (≈ 4 MiB) until then. Four keep the writer busy while the restoring thread prepares the next.
 */
const FRAMES_IN_WRITER = 4;

/**
 * Files up to this size are written and hashed on the restoring thread, larger ones on the writer
 * thread. Their bytes are few (≈ 100 MB of the bench tree's 5.1 GB) but their count is large: a
 * message per file would cost more than the write, and a restore of a few small files starts no
 * thread at all (it added ≈ 40 ms to restoring one file).
 */
const INLINE_FILE_BYTES = 256 * 1024;

/**
 * Temporary files open at once: files stay open until the writer has written their last slice, and
 * a frame can hold thousands of small files; beyond this many, the restoring thread waits for the
 * writer before it opens another (far below common descriptor limits).
 */
const MAX_OPEN_FILES = 512;

/** A file whose bytes are all written: the SHA-256 of what was written (lower-case hex). */
export interface WrittenFile {
  file: PendingFile;
  digest: string;
}

export interface WriteFilesOptions {
  /** Where the files go: their temporary names are made there (parents checked and made). */
  state: ArtifactState;
  /** Temporary files not yet renamed: each one made here is added. */
  temps: Set<string | Buffer>;
  /** The run's open files. */
  open: OpenFiles;
  /** The writer thread, started on first use. */
  writer: () => Pick<SliceWriter, 'write'>;
  /** Called after each frame (progress; throttled by the caller). */
  report: () => void;
  /** Called with the number of content bytes just written (here, or by the writer thread once its part settles). */
  onWritten?: (bytes: number) => void;
}

/**
 * Files whose temporary name is open (at most MAX_OPEN_FILES), by the id the writer thread knows
 * them by: ids are unique in a run, and a restore that fails closes whatever is still open.
 */
export class OpenFiles {
  private readonly files = new Map<number, PendingFile>();
  private nextId = 0;

  get size(): number {
    return this.files.size;
  }

  /** Gives an opened file its id. */
  add(file: PendingFile): void {
    file.id = this.nextId++;
    this.files.set(file.id, file);
  }

  /** The file is written: whoever finishes it closes it. */
  delete(file: PendingFile): void {
    this.files.delete(file.id);
  }

  get(id: number): PendingFile | undefined {
    return this.files.get(id);
  }

  /** On failure: closes every descriptor still open. */
  closeAll(): void {
    for (const file of this.files.values()) if (file.fd !== undefined) fsSync.closeSync(file.fd);
    this.files.clear();
  }
}

export async function* writeFiles(frames: AsyncIterable<SlicedFrame>, options: WriteFilesOptions): AsyncGenerator<WrittenFile> {
  const { state, temps, open } = options;
  const inWriter = new PartsInWriter();
  try {
    for await (const sliced of frames) {
      let slices: Slice[] = [];
      let ending: PendingFile[] = [];
      // Hands the slices gathered so far to the writer, as one part of this frame.
      const handOver = (): void => {
        if (slices.length > 0) inWriter.push(sliced, options.writer().write(sliced.data, slices), ending, bytesOf(slices));
        slices = [];
        ending = [];
      };
      for (const { file, start, length, position, last } of sliced.pieces) {
        if (file.fd === undefined) {
          if (open.size >= MAX_OPEN_FILES) {
            handOver();
            while (open.size >= MAX_OPEN_FILES && inWriter.length > 0) yield* inWriter.settleOldest(open, options.onWritten);
          }
          file.fd = await openTemp(file, state, temps);
          open.add(file);
          // Sparse files are written here too: only their blocks that are not all zero.
          if (file.entry.size <= INLINE_FILE_BYTES || file.entry.sparse) file.hash = createHash('sha256');
        }
        if (file.hash) {
          // A small file: written and hashed here, done at once.
          writeHere(file, sliced.data.subarray(start, start + length), position);
          options.onWritten?.(length);
          if (last) {
            open.delete(file);
            yield { file, digest: file.hash.digest('hex') };
          }
        } else {
          slices.push({ file: file.id, fd: file.fd, start, length, position, last });
          if (last) ending.push(file);
        }
      }
      handOver();
      inWriter.releaseWhenWritten(sliced);
      while (inWriter.length > FRAMES_IN_WRITER) yield* inWriter.settleOldest(open, options.onWritten);
      options.report();
    }
    while (inWriter.length > 0) yield* inWriter.settleOldest(open, options.onWritten);
  } finally {
    // On failure, let every part already handed over end before the caller removes files.
    await inWriter.allSettled();
  }
}

function bytesOf(slices: readonly Slice[]): number {
  return slices.reduce((sum, slice) => sum + slice.length, 0);
}

/** Writes a small or sparse file's piece at `position` on this thread, and hashes it. */
function writeHere(file: PendingFile, piece: Buffer, position: number): void {
  const fd = file.fd!;
  file.hash!.update(piece);
  try {
    if (file.entry.sparse) writeSparse(fd, piece, position);
    else for (let done = 0; done < piece.length;) done += fsSync.writeSync(fd, piece, done, piece.length - done, position + done);
  } catch (error) {
    throw targetError('write', file.dest, error);
  }
}

/** Part of a frame handed to the writer thread. */
interface WriterPart {
  /** The digests of the files whose last slice is in it, once all of it is written. */
  written: Promise<Map<number, string>>;
  /** Those files. */
  ending: PendingFile[];
  /** The frame whose memory its slices read. */
  frame: SlicedFrame;
  /** The newest part of its frame: gives the frame's memory back once written. */
  releasesFrame: boolean;
  /** Content bytes its slices write. */
  bytes: number;
}

/** Parts of frames in the writer thread, oldest first. They settle in that order, so a frame's newest part settles last. */
class PartsInWriter {
  private readonly parts: WriterPart[] = [];

  get length(): number {
    return this.parts.length;
  }

  push(frame: SlicedFrame, written: Promise<Map<number, string>>, ending: PendingFile[], bytes: number): void {
    this.parts.push({ written, ending, frame, releasesFrame: false, bytes });
  }

  /**
   * Every part of `frame` is handed over: its memory goes back once the writer is done with them,
   * that is with its newest part when that is still here (a frame's parts are the newest ones), else
   * at once (none went to the writer, or all of them are written).
   */
  releaseWhenWritten(frame: SlicedFrame): void {
    const newest = this.parts.at(-1);
    if (newest?.frame === frame) newest.releasesFrame = true;
    else frame.release();
  }

  /** Waits for the oldest part to be written, then yields the files it completed. */
  async *settleOldest(open: OpenFiles, onWritten?: (bytes: number) => void): AsyncGenerator<WrittenFile> {
    const part = this.parts.shift()!;
    const digests = await part.written;
    onWritten?.(part.bytes);
    if (part.releasesFrame) part.frame.release();
    for (const file of part.ending) {
      open.delete(file);
      yield { file, digest: digests.get(file.id)! };
    }
  }

  /** Waits until every part still here has ended, written or failed. */
  async allSettled(): Promise<void> {
    await Promise.allSettled(this.parts.map((part) => part.written));
  }
}

/** Sparse blocks: a block of this many bytes (at a multiple of it in the file) that is all zeros is not written. */
const SPARSE_BLOCK = 4096;
const ZEROS = Buffer.alloc(SPARSE_BLOCK);

/** Writes `data` at `position`, leaving every whole all-zero block unwritten (a hole), in as few writes as the data allows. */
export function writeSparse(fd: number, data: Buffer, position: number): void {
  let runStart = -1;
  const flush = (end: number): void => {
    for (let done = runStart; done < end;) done += fsSync.writeSync(fd, data, done, end - done, position + done);
    runStart = -1;
  };
  for (let at = 0; at < data.length;) {
    // Blocks are aligned to the file, not to the slice.
    const end = Math.min(data.length, at + SPARSE_BLOCK - ((position + at) % SPARSE_BLOCK));
    const zero = data.subarray(at, end).equals(ZEROS.subarray(0, end - at));
    if (zero && runStart !== -1) flush(at);
    else if (!zero && runStart === -1) runStart = at;
    at = end;
  }
  if (runStart !== -1) flush(data.length);
}
