// SliceWriter: a worker thread that writes restored file data with positional writes and hashes it, so
// that the restoring thread only creates files, finishes them and feeds the decompression pool.
//
// Why a thread: in a full restore of the bench tree (5.1 GB, 30,066 files) the restoring thread was
// busy ~16 of 20 s, and pwrite (3.9 s) plus SHA-256 (3.0 s) were the largest parts of it (perf);
// both now run here, next to the restoring thread.
//
// The thread's module is slice-writer-worker.ts; the messages are in slice-writer-protocol.ts.

import type { Worker } from 'node:worker_threads';
import { CassetteError } from '../errors.js';
import { startWorker, workerUrl } from '../zstd/worker-thread.js';
import type { Slice, WriteMessage, WriteReply } from './slice-writer-protocol.js';
import { targetAdvice } from './destination.js';

export type { Slice } from './slice-writer-protocol.js';

/** The writer thread's module; worker-thread.ts says where it is found under vitest. */
const WRITER_WORKER = workerUrl(new URL('./slice-writer-worker.js', import.meta.url));

interface Pending {
  resolve: (digests: Map<number, string>) => void;
  reject: (error: Error) => void;
}

/**
 * Writes slices of decoded frames into open files and hashes them, on its own thread, in the order
 * given. `write` resolves, with the digests of the files that ended in it, once every slice is
 * written: until then the frame's memory must stay as it is. A failed write rejects with E_TARGET
 * naming the file (through `describe`).
 */
export class SliceWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private failure: Error | undefined;

  constructor(private readonly describe: (file: number) => string) {
    this.worker = startWorker(WRITER_WORKER, { name: 'cassette-restore-writer' });
    this.worker.unref();
    this.worker.on('message', (reply: WriteReply) => this.onReply(reply));
    this.worker.on('error', (error) => this.fail(new CassetteError('E_TARGET', `the restore writer thread failed: ${error.message}`, { cause: error })));
    this.worker.on('exit', (code) => this.fail(new CassetteError('E_TARGET', `the restore writer thread exited (code ${code})`)));
  }

  /**
   * Writes `slices` of `data` (shared memory is read in place; anything else is copied once and
   * moved to the thread, so the caller may reuse it at once).
   */
  write(data: Buffer, slices: Slice[]): Promise<Map<number, string>> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = this.seq++;
    let memory: SharedArrayBuffer | ArrayBuffer = data.buffer;
    let base = data.byteOffset;
    const transfer: ArrayBuffer[] = [];
    if (!(memory instanceof SharedArrayBuffer)) {
      const copy = Buffer.allocUnsafeSlow(data.length);
      data.copy(copy);
      memory = copy.buffer;
      base = 0;
      transfer.push(copy.buffer as ArrayBuffer);
    }
    const promise = new Promise<Map<number, string>>((resolve, reject) => this.pending.set(seq, { resolve, reject }));
    // Callers queue several writes and await them in order later: a rejection is theirs to see
    // then, not an unhandled one now.
    promise.catch(() => undefined);
    const message: WriteMessage = { seq, memory, slices: slices.map((s) => ({ ...s, start: base + s.start })) };
    this.worker.postMessage(message, transfer);
    this.worker.ref();
    return promise;
  }

  private onReply(reply: WriteReply): void {
    const waiting = this.pending.get(reply.seq);
    if (!waiting) return;
    this.pending.delete(reply.seq);
    if (this.pending.size === 0) this.worker.unref();
    if ('error' in reply) {
      const { file, message, code } = reply.error;
      waiting.reject(new CassetteError('E_TARGET', `cannot write ${this.describe(file)}: ${message}${targetAdvice(code)}`));
    } else {
      waiting.resolve(new Map(reply.digests));
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }

  /** Stops the thread; writes not yet answered reject. */
  async close(): Promise<void> {
    this.fail(new CassetteError('E_ABORTED', 'restore writer closed'));
    await this.worker.terminate();
  }
}
