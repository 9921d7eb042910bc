// The messages between FramePool (pool.ts) and its worker threads (pool-worker.ts), and the data a worker starts with.
// Types only: both sides import them, so tsc checks both ends of every message.

export type Operation = 'compress' | 'decompress';

/** A SharedArrayBuffer known to a worker by `id`, so that tasks can name a range of it instead of moving memory. */
export interface SharedSlab {
  id: number;
  memory: SharedArrayBuffer;
}

/** A worker's `workerData`. */
export interface PoolWorkerData {
  /** zstd compression level. */
  level: number;
  /** Write zstd's per-frame content checksum. */
  checksum: boolean;
  /** The slabs made before this worker started (later ones come as ShareMessage). */
  slabs: SharedSlab[];
  /** SHA-256 digests (hex) of frames stored already, known before this worker started (later ones come as KnownMessage). */
  known: string[];
}

/** Parent → worker: remember `memory` under the id `slab`. */
export interface ShareMessage {
  op: 'share';
  slab: number;
  memory: SharedArrayBuffer;
}

/** Parent → worker: SHA-256 digests (hex) of frames stored already, which compress tasks with `digest` skip. */
export interface KnownMessage {
  op: 'known';
  digests: string[];
}

interface TaskFields {
  id: number;
  op: Operation;
  /** Bytes of input. */
  length: number;
  /** decompress: the exact size of the result; no more than that is ever allocated. */
  expectedSize?: number;
  /**
   * A slab to write the result into instead of a new buffer: for compress it holds the
   * compression bound of the input; for decompress, at least `expectedSize` bytes.
   */
  output?: number;
  /**
   * compress: hash the input (SHA-256) first. A known digest is answered with a SkippedResult,
   * without compressing; otherwise the result carries the digest.
   */
  digest?: boolean;
}

/** Parent → worker: the input is the first `length` bytes of `data`, which the worker owns from then on (transferred). */
export interface TransferredInputTask extends TaskFields {
  data: ArrayBuffer;
  slab?: undefined;
}

/** Parent → worker: the input lies in shared memory, at [offset, offset + length) of slab `slab`. */
export interface SharedInputTask extends TaskFields {
  slab: number;
  offset: number;
  data?: undefined;
}

export type TaskMessage = TransferredInputTask | SharedInputTask;

/** Everything the parent sends a worker. */
export type ToWorker = ShareMessage | KnownMessage | TaskMessage;

/** Worker → parent, once zstd-napi is loaded: a worker that dies before this is a broken installation, not a crash. */
export interface ReadyMessage {
  ready: true;
}

/** Worker → parent: the result is the first `length` bytes of `data`, whose ownership moves to the parent. */
export interface TransferredResult {
  id: number;
  data: ArrayBuffer;
  length: number;
  /** The input's SHA-256, when the task asked for it. */
  digest?: string;
}

/** Worker → parent: the result is the first `length` bytes of the task's output slab. */
export interface SharedResult {
  id: number;
  output: number;
  length: number;
  /** The input's SHA-256, when the task asked for it. */
  digest?: string;
}

/** Worker → parent: the input's SHA-256 is a known one (KnownMessage), so it was not compressed. */
export interface SkippedResult {
  id: number;
  skipped: true;
  digest: string;
}

/** Worker → parent: the task failed; `integrity` when the input is corrupt (rather than, say, out of memory). */
export interface TaskFailure {
  id: number;
  error: { message: string; integrity: boolean };
}

/** Everything a worker sends its parent. */
export type FromWorker = ReadyMessage | TransferredResult | SharedResult | SkippedResult | TaskFailure;
