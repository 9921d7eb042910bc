// A pool of worker threads that compress and decompress independent zstd frames, and an order-preserving concurrent map.
// zstd never runs on the calling thread: zstd-napi is synchronous and would stall the event loop (NOTES.md).

import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { CassetteError } from '../errors.js';
import type { FromWorker, Operation, PoolWorkerData, ToWorker } from './pool-protocol.js';
import { startWorker, workerUrl } from './worker-thread.js';

export interface FramePoolOptions {
  /** Worker threads; default os.availableParallelism(). */
  threads?: number;
  /** zstd level, default 3. */
  level?: number;
  /**
   * Write zstd's per-frame content checksum (XXH64), default true: a flipped byte fails
   * decompression. Frames that carry one are always checked when decompressed, whatever this says.
   */
  checksum?: boolean;
}

interface Task {
  id: number;
  op: Operation;
  data: Buffer;
  expectedSize?: number;
  /** The caller hands data over for good: a shared frame buffer returns to the free list when the task ends. */
  handOver: boolean;
  /** The result may go into a shared output buffer, which the caller gives back with release(). */
  shared: boolean;
  /** The input was copied into a staging slab by the pool (freed when the task ends). */
  staged?: boolean;
  /** Shared buffers this task uses, freed or handed to the caller when it ends. */
  input?: Slab;
  output?: Slab;
  /** Compress only: the worker hashes the input (SHA-256) first, and skips compressing it when the digest is a known one. */
  digest?: boolean;
  resolve: (value: TaskResult) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  /** The task this worker runs; undefined when idle. */
  task?: Task;
  /** zstd-napi loaded: a worker that dies before this is a broken installation, not a crash. */
  ready: boolean;
  /** Exited, or being replaced: its events no longer count. */
  gone: boolean;
}

interface TaskResult {
  /** The result; empty when the input's digest was a known one and nothing was compressed. */
  buffer: Buffer;
  digest?: string;
}

/** What compressFrame() gives: the frame's SHA-256, and its compressed bytes unless the digest was a known one. */
export interface CompressedFrame {
  /** Lower-case hex SHA-256 of the uncompressed frame. */
  digest: string;
  /** Absent when `digest` is among knownDigests(): the frame is stored already. Give it back with release(). */
  data?: Buffer;
}

/**
 * A SharedArrayBuffer known to every worker (sent once, then named by id): frames and compressed
 * results travel as (id, offset, length) with no transfer. Transferring ArrayBuffers instead made
 * each received buffer count as new external memory, and V8 ran a full mark-compact every ~64 MiB:
 * 141 of them in a 5 GB backup (≈ 10% of its CPU, in the collector's threads).
 */
interface Slab {
  id: number;
  kind: 'frame' | 'output';
  memory: SharedArrayBuffer;
  view: Buffer;
}

/** Smallest slab made to stage a decompression's input or hold its output: one default frame, so it serves later ones. */
const STAGING_SLAB = 4 * 1024 * 1024 + 128 * 1024;

const MiB = 1024 * 1024;

/** Shared memory the pool may hold in slabs; beyond it, buffers are ordinary (transferred) memory. */
const MAX_SLAB_BYTES = 128 * 1024 * 1024;

/** The worker threads' module (pool-worker.ts); worker-thread.ts says where it is found under vitest. */
const POOL_WORKER = workerUrl(new URL('./pool-worker.js', import.meta.url));

/**
 * Worker threads (one zstd context each) that turn Buffers into independent zstd frames and back.
 * Tasks wait in one FIFO queue and go to the first idle worker. Buffers are moved to the worker, not
 * copied, when they own their whole ArrayBuffer; results come back the same way.
 *
 * Idle workers do not keep the process alive; still, call close() when done.
 */
export class FramePool {
  private readonly slots: Slot[] = [];
  /** Workers the pool may run; slots grows to it as tasks wait. */
  private readonly size: number;
  private readonly queue: Task[] = [];
  private readonly level: number;
  private readonly checksum: boolean;
  private nextId = 0;
  private closed = false;
  /** Largest frame slab made so far: output slabs are sized for it. */
  private largestFrame = 0;
  /** Every slab, by its memory; free frame slabs by size; free output slabs. */
  private readonly slabs = new Map<SharedArrayBuffer, Slab>();
  private readonly freeFrames = new Map<number, Slab[]>();
  private readonly freeOutputs: Slab[] = [];
  private slabBytes = 0;
  /** Set when workers cannot start at all (zstd-napi fails to load): every task rejects with it. */
  private broken?: Error;
  /** Digests of frames stored already (knownDigests): compressFrame skips them. */
  private readonly known: string[] = [];

  constructor(options: FramePoolOptions = {}) {
    const threads = options.threads ?? os.availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(`Expected \`threads\` to be an integer from 1 and up, got ${threads}`);
    }
    const level = options.level ?? 3;
    if (!Number.isInteger(level)) throw new RangeError(`Expected \`level\` to be an integer, got ${level}`);
    this.level = level;
    this.checksum = options.checksum ?? true;
    this.size = threads;
    // One worker starts at once, so that it boots while the caller gets its first task ready; the
    // others start when tasks wait for them. A restore of one small file decompresses one frame:
    // booting a second worker (about 0.1 CPU-s) only competed with the main thread for the cores.
    this.slots.push(this.spawn());
  }

  /**
   * A buffer of `size` bytes for the next frame, in memory shared with the workers: a frame that
   * was compressed with `ownsBuffer` comes back here, so steady-state compression allocates nothing.
   * Beyond the pool's shared-memory budget it is ordinary memory.
   */
  frameBuffer(size: number): Buffer {
    const reused = this.freeFrames.get(size)?.pop();
    if (reused) return reused.view;
    return this.newSlab('frame', size)?.view ?? Buffer.allocUnsafeSlow(size);
  }

  /** A free frame slab of at least `size` bytes (a new one of at least `atLeast` within the budget), to stage a decompression's input. */
  private stagingFor(size: number, atLeast: number): Slab | undefined {
    let best: Slab | undefined;
    for (const list of this.freeFrames.values()) {
      const last = list.at(-1);
      if (last && last.memory.byteLength >= size && (!best || last.memory.byteLength < best.memory.byteLength)) best = last;
    }
    if (best) return this.freeFrames.get(best.memory.byteLength)!.pop();
    return this.newSlab('frame', Math.max(size, atLeast));
  }

  /**
   * Memory of at least `size` bytes, shared with the workers, to receive compressed frames (a
   * download) that are then decompressed where they lie: no copy into staging memory, no new
   * buffer per request. Give it back with release() once every frame in it is decompressed.
   * Beyond the pool's shared-memory budget it is ordinary memory.
   */
  inputBuffer(size: number): Buffer {
    const slab = this.stagingFor(size, Math.ceil(size / MiB) * MiB);
    return slab ? slab.view.subarray(0, size) : Buffer.allocUnsafeSlow(size);
  }

  /**
   * The caller is done with a Buffer that compress(…, { ownsBuffer: true }) or
   * decompress(…, { shared: true }) returned, or that inputBuffer() gave: its memory serves a later
   * task. Any other Buffer is ignored. Using the Buffer afterwards reads whatever is written there next.
   */
  release(buffer: Buffer): void {
    const slab = this.slabs.get(buffer.buffer as SharedArrayBuffer);
    if (!slab || this.closed) return;
    if (slab.kind === 'output') {
      if (!this.freeOutputs.includes(slab)) this.freeOutputs.push(slab);
      return;
    }
    let free = this.freeFrames.get(slab.memory.byteLength);
    if (!free) this.freeFrames.set(slab.memory.byteLength, (free = []));
    if (!free.includes(slab)) free.push(slab);
  }

  private newSlab(kind: Slab['kind'], size: number): Slab | undefined {
    if (this.closed || this.slabBytes + size > MAX_SLAB_BYTES) return undefined;
    const memory = new SharedArrayBuffer(size);
    const slab: Slab = { id: this.slabs.size, kind, memory, view: Buffer.from(memory) };
    this.slabs.set(memory, slab);
    this.slabBytes += size;
    for (const slot of this.slots) if (!slot.gone) post(slot, { op: 'share', slab: slab.id, memory });
    return slab;
  }

  /** A free output slab that can hold any frame of `size` input bytes (a new one within the budget). */
  private outputFor(size: number): Slab | undefined {
    const bound = compressBoundAtMost(size);
    const index = this.freeOutputs.findIndex((slab) => slab.memory.byteLength >= bound);
    if (index !== -1) return this.freeOutputs.splice(index, 1)[0];
    // New output slabs fit a full frame of the usual size, so they serve every later frame.
    return this.newSlab('output', compressBoundAtMost(Math.max(size, this.largestFrame)));
  }

  /** A free output slab of at least `size` bytes for a decompressed frame (a new one within the budget). */
  private decompressOutputFor(size: number): Slab | undefined {
    let best = -1;
    for (const [i, slab] of this.freeOutputs.entries()) {
      if (slab.memory.byteLength >= size && (best === -1 || slab.memory.byteLength < this.freeOutputs[best]!.memory.byteLength)) best = i;
    }
    if (best !== -1) return this.freeOutputs.splice(best, 1)[0];
    return this.newSlab('output', Math.max(size, STAGING_SLAB));
  }

  /** A task ended: its frame slab is free again (when handed over); an unused output slab too. */
  private settle(task: Task, keepOutput: boolean): void {
    if (task.input && (task.handOver || task.staged)) {
      let free = this.freeFrames.get(task.input.memory.byteLength);
      if (!free) this.freeFrames.set(task.input.memory.byteLength, (free = []));
      free.push(task.input);
    }
    if (task.output && !keepOutput) this.freeOutputs.push(task.output);
    task.input = task.output = undefined;
  }

  /** Number of worker threads the pool runs when busy (they start as tasks need them). */
  get threads(): number {
    return this.size;
  }

  /**
   * Compress `data` into exactly one complete, independent zstd frame (content size in the frame
   * header). The buffer's memory is transferred to the worker: the caller must not use it afterwards.
   * With `ownsBuffer`, the caller hands `data` over for good (a frame from frameBuffer(), possibly
   * cut short): its memory goes back to frameBuffer() once compressed, and the result may live in
   * shared memory that the caller gives back with release() once it has used it.
   */
  async compress(data: Buffer, options: { ownsBuffer?: boolean } = {}): Promise<Buffer> {
    if (options.ownsBuffer && data.buffer instanceof SharedArrayBuffer) this.largestFrame = Math.max(this.largestFrame, data.buffer.byteLength);
    return (await this.submit('compress', data, undefined, options.ownsBuffer === true, options.ownsBuffer === true)).buffer;
  }

  /**
   * compress(data, { ownsBuffer: true }) that also hashes the frame (SHA-256, in the worker, beside
   * the compression) and does not compress it when the digest is one of knownDigests(): an
   * incremental backup then reuses the stored frame. The caller hands `data` over for good.
   */
  async compressFrame(data: Buffer): Promise<CompressedFrame> {
    if (data.buffer instanceof SharedArrayBuffer) this.largestFrame = Math.max(this.largestFrame, data.buffer.byteLength);
    const result = await this.submit('compress', data, undefined, true, true, true);
    return result.buffer.length === 0 && data.length > 0 ? { digest: result.digest! } : { digest: result.digest!, data: result.buffer };
  }

  /** Digests of frames that are stored already (a parent snapshot's): compressFrame() skips compressing frames that have one. */
  knownDigests(digests: Iterable<string>): void {
    const added = [...digests];
    if (added.length === 0) return;
    this.known.push(...added);
    for (const slot of this.slots) if (!slot.gone) post(slot, { op: 'known', digests: added });
  }

  /**
   * Decompress one or more concatenated complete frames (skippable frames ignored). Rejects with an
   * E_INTEGRITY CassetteError whose message says why (corrupt data, checksum mismatch, truncated, or a
   * size other than `expectedSize`). With `expectedSize`, no more than that is ever allocated,
   * whatever the frame headers claim. Transfers `frame`: the caller must not use it afterwards.
   * With `shared` (and `expectedSize`), `frame` is copied into shared memory (the caller keeps it)
   * and the result is written into shared memory that the caller gives back with release() once used.
   */
  decompress(frame: Buffer, expectedSize?: number, options: { shared?: boolean } = {}): Promise<Buffer> {
    if (expectedSize !== undefined && (!Number.isSafeInteger(expectedSize) || expectedSize < 0)) {
      return Promise.reject(new RangeError(`Expected \`expectedSize\` to be an integer from 0 and up, got ${expectedSize}`));
    }
    return this.submit('decompress', frame, expectedSize, false, options.shared === true && expectedSize !== undefined).then((result) => result.buffer);
  }

  /** Terminate the workers; queued and running tasks reject with E_ABORTED, and so do later calls. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.freeFrames.clear();
    this.freeOutputs.length = 0;
    const error = new CassetteError('E_ABORTED', 'compression pool closed');
    for (const task of this.queue.splice(0)) task.reject(error);
    for (const slot of this.slots) {
      slot.gone = true;
      slot.task?.reject(error);
      slot.task = undefined;
    }
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private submit(op: Operation, data: Buffer, expectedSize?: number, handOver = false, shared = false, digest = false): Promise<TaskResult> {
    if (this.closed) return Promise.reject(new CassetteError('E_ABORTED', 'compression pool is closed'));
    if (this.broken) return Promise.reject(this.broken);
    if (!Buffer.isBuffer(data)) return Promise.reject(new TypeError(`Expected a Buffer, got ${typeof data}`));
    return new Promise<TaskResult>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, op, data, expectedSize, handOver, shared, digest, resolve, reject });
      this.dispatch();
    });
  }

  private spawn(): Slot {
    const workerData: PoolWorkerData = { level: this.level, checksum: this.checksum, slabs: [...this.slabs.values()].map(({ id, memory }) => ({ id, memory })), known: this.known };
    const worker = startWorker(POOL_WORKER, { name: 'cassette-zstd', workerData });
    const slot: Slot = { worker, ready: false, gone: false };
    worker.unref();
    worker.on('message', (message: FromWorker) => this.onMessage(slot, message));
    worker.on('error', (error) => this.onDeath(slot, error));
    worker.on('exit', (code) => this.onDeath(slot, new Error(`compression worker exited with code ${code}`)));
    return slot;
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    if (slot.gone) return;
    if ('ready' in message) {
      slot.ready = true;
      return;
    }
    const task = slot.task;
    slot.task = undefined;
    if (task?.id === message.id) {
      if ('error' in message) {
        this.settle(task, false);
        const { message: text, integrity } = message.error;
        task.reject(integrity ? new CassetteError('E_INTEGRITY', text) : new Error(`zstd ${task.op} failed: ${text}`));
      } else if ('skipped' in message) {
        this.settle(task, false);
        task.resolve({ buffer: EMPTY, digest: message.digest });
      } else if ('output' in message) {
        const output = task.output!;
        this.settle(task, true);
        task.resolve({ buffer: output.view.subarray(0, message.length), digest: message.digest });
      } else {
        this.settle(task, false);
        task.resolve({ buffer: Buffer.from(message.data, 0, message.length), digest: message.digest });
      }
    }
    this.dispatch();
  }

  /** A worker crashed or exited: reject its task and replace it (or, if it never started, fail the pool). */
  private onDeath(slot: Slot, error: Error): void {
    if (slot.gone) return;
    slot.gone = true;
    const task = slot.task;
    slot.task = undefined;
    void slot.worker.terminate();
    if (this.closed) return;
    if (!slot.ready) {
      this.broken = new Error(`compression worker failed to start: ${error.message}`, { cause: error });
      task?.reject(this.broken);
      for (const queued of this.queue.splice(0)) queued.reject(this.broken);
      return;
    }
    if (task) this.settle(task, false);
    task?.reject(new Error(`compression worker crashed during ${task.op}: ${error.message}`, { cause: error }));
    const index = this.slots.indexOf(slot);
    if (index !== -1) this.slots[index] = this.spawn();
    this.dispatch();
  }

  private dispatch(): void {
    if (this.slots.length < this.size) {
      const idle = this.slots.filter((slot) => !slot.task && !slot.gone).length;
      for (let waiting = this.queue.length - idle; waiting > 0 && this.slots.length < this.size; waiting--) this.slots.push(this.spawn());
    }
    for (const slot of this.slots) {
      if (slot.task || slot.gone) continue;
      const task = this.queue.shift();
      if (!task) break;
      slot.task = task;
      let data = task.data;
      task.data = EMPTY; // the task no longer holds the caller's memory
      task.input = this.slabs.get(data.buffer as SharedArrayBuffer);
      if (!task.input && task.shared) {
        // A compressed frame to decompress (usually a view into a larger download): copy it into
        // shared memory rather than into a new buffer to transfer.
        const staging = this.stagingFor(data.length, STAGING_SLAB);
        if (staging) {
          data.copy(staging.view);
          data = staging.view.subarray(0, data.length);
          task.input = staging;
          task.staged = true;
        }
      }
      if (task.shared) task.output = task.op === 'compress' ? this.outputFor(data.length) : this.decompressOutputFor(task.expectedSize!);
      const output = task.output?.id;
      try {
        if (task.input) {
          // Shared memory: only its name and the range travel.
          post(slot, { id: task.id, op: task.op, slab: task.input.id, offset: data.byteOffset, length: data.length, expectedSize: task.expectedSize, output, digest: task.digest });
        } else {
          // Only a Buffer that owns its whole ArrayBuffer moves without a copy. Anything else (a slice of
          // Node's shared allocation pool, a view into a larger buffer) is copied: transferring its
          // ArrayBuffer would detach every other Buffer that shares it.
          if (data.byteOffset !== 0 || data.length !== data.buffer.byteLength || !(data.buffer instanceof ArrayBuffer)) {
            const copy = Buffer.allocUnsafeSlow(data.length);
            data.copy(copy);
            data = copy;
          }
          const buffer = data.buffer as ArrayBuffer;
          post(slot, { id: task.id, op: task.op, data: buffer, length: data.length, expectedSize: task.expectedSize, output, digest: task.digest }, [buffer]);
        }
      } catch (error) {
        // E.g. an ArrayBuffer marked untransferable.
        this.settle(task, false);
        slot.task = undefined;
        task.reject(new Error(`cannot hand the buffer to a compression worker: ${(error as Error).message}`, { cause: error }));
        continue;
      }
    }
    // Busy workers keep the process alive until their tasks settle; idle ones do not.
    for (const slot of this.slots) {
      if (slot.task) slot.worker.ref();
      else slot.worker.unref();
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** Sends a worker a message of the protocol (pool-protocol.ts), moving `transfer` to it. */
function post(slot: Slot, message: ToWorker, transfer?: ArrayBuffer[]): void {
  slot.worker.postMessage(message, transfer);
}

/** An upper bound of ZSTD_compressBound(size) (size + size/256 + a small constant). */
function compressBoundAtMost(size: number): number {
  return size + (size >>> 8) + 64 * 1024;
}

/**
 * Runs `fn` over `source` with at most `concurrency` calls in flight and yields results in source
 * order. Backpressure: it stops pulling from `source` while `concurrency` results are pending or
 * unconsumed, so memory stays bounded by `concurrency` items. If `fn` rejects, no further items are
 * started and the generator throws that error (after yielding the results before it) once the calls in
 * flight settle. If the consumer stops early (return/throw), `source` is closed and pending results are
 * discarded (after they settle). An aborted `signal` throws its reason.
 */
export async function* mapOrdered<T, R>(
  source: AsyncIterable<T> | Iterable<T>,
  fn: (item: T, index: number) => Promise<R>,
  concurrency: number,
  signal?: AbortSignal,
): AsyncGenerator<R> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`Expected \`concurrency\` to be an integer from 1 and up, got ${concurrency}`);
  }
  const iterator: AsyncIterator<T> | Iterator<T> =
    Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();
  const pending: Array<Promise<R>> = [];
  let index = 0;
  let exhausted = false;
  let failed = false;
  try {
    for (;;) {
      while (!exhausted && !failed && pending.length < concurrency) {
        throwIfSignalled(signal);
        const step = await iterator.next();
        if (step.done) {
          exhausted = true;
          break;
        }
        let promise: Promise<R>;
        try {
          promise = Promise.resolve(fn(step.value, index++));
        } catch (error) {
          promise = Promise.reject(error instanceof Error ? error : new Error(String(error)));
        }
        // Note a failure at once (so nothing more starts); the rejection itself surfaces in order.
        promise.catch(() => {
          failed = true;
        });
        pending.push(promise);
      }
      if (pending.length === 0) return;
      const result = await untilAborted(pending[0]!, signal);
      void pending.shift();
      yield result;
    }
  } finally {
    if (!exhausted) {
      try {
        await iterator.return?.();
      } catch {
        // The source failing to close must not hide why we stopped.
      }
    }
    await Promise.allSettled(pending);
  }
}

function throwIfSignalled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new CassetteError('E_ABORTED', 'operation interrupted', { cause: signal.reason });
}

/** `promise`, or a rejection as soon as `signal` aborts. */
function untilAborted<R>(promise: Promise<R>, signal: AbortSignal | undefined): Promise<R> {
  if (!signal) return promise;
  throwIfSignalled(signal);
  return new Promise<R>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
