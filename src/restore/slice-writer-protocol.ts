// The messages between SliceWriter (slice-writer.ts) and its writer thread (slice-writer-worker.ts).
// Types only: both sides import them, so tsc checks both ends of every message.

/** A range of a decoded frame to write into a file. */
export interface Slice {
  /** The parent's id of the file (unique within this writer). */
  file: number;
  fd: number;
  /** Where the slice starts in the frame's buffer. */
  start: number;
  length: number;
  /** Where it goes in the file. */
  position: number;
  /** The file's last slice: its digest comes back with this message. */
  last: boolean;
}

/**
 * Parent → thread: write each slice at `position` of `fd` from `memory[start, start + length)`, in
 * order, and hash it into file `file`'s SHA-256. `memory` is a SharedArrayBuffer (the pool's decoded
 * frame, read in place) or an ArrayBuffer the parent transferred.
 */
export interface WriteMessage {
  seq: number;
  memory: SharedArrayBuffer | ArrayBuffer;
  slices: Slice[];
}

/**
 * Thread → parent, once every slice of message `seq` is written: the hex SHA-256 of each file
 * whose last slice was in it.
 */
export interface WrittenReply {
  seq: number;
  digests: Array<[file: number, hex: string]>;
}

/** Thread → parent: a write failed; the thread writes nothing more for that file. */
export interface WriteFailedReply {
  seq: number;
  error: { file: number; message: string; code?: string };
}

export type WriteReply = WrittenReply | WriteFailedReply;
