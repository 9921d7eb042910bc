// The sealing thread: encrypting a backup's archives on the main thread cost it more in garbage collection (OpenSSL returns a new buffer per 64 KiB chunk) than in the cipher; a thread of its own keeps both off the thread that walks, packs and uploads, and off the one that restores.

import type { Worker } from 'node:worker_threads';
import { startWorker, workerUrl } from '../zstd/worker-thread.js';
import { CassetteError } from '../errors.js';
import type { OpenRequest, SealReply, SealRequest } from './seal-worker.js';

const SEAL_WORKER = workerUrl(new URL('./seal-worker.js', import.meta.url));

interface Pending {
  resolve: (bytes: number) => void;
  reject: (error: Error) => void;
  /** Names the object in an integrity error. */
  what: string;
}

/** One thread for the process, started on first use; it does not keep the process alive while idle. */
class SealThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker(SEAL_WORKER, { name: 'cassette-seal' });
    worker.unref();
    worker.on('message', (reply: SealReply) => {
      const waiting = this.pending.get(reply.seq);
      if (!waiting) return;
      this.pending.delete(reply.seq);
      if (this.pending.size === 0) worker.unref();
      if (reply.damaged !== undefined) waiting.reject(new CassetteError('E_INTEGRITY', `${waiting.what}: ${reply.damaged}`));
      else if (reply.error !== undefined) waiting.reject(new Error(`${waiting.what}: ${reply.error}`));
      else waiting.resolve(reply.bytes!);
    });
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', (code) => this.failAll(new Error(`the sealing thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private failAll(error: Error): void {
    this.worker = undefined;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }

  /** Seal `bytes` bytes of `plain` as chunks from `firstChunk` into `sealed`; resolves with the stored bytes written. */
  seal(request: Omit<SealRequest, 'seq' | 'op'>, what: string): Promise<number> {
    return this.send({ ...request, op: 'seal', seq: this.seq++ }, what);
  }

  /** Open stored chunks into shared memory (OpenRequest); resolves with the plaintext bytes written; a damaged chunk is E_INTEGRITY naming `what`. */
  open(request: Omit<OpenRequest, 'seq' | 'op'>, what: string): Promise<number> {
    return this.send({ ...request, op: 'open', seq: this.seq++ }, what);
  }

  private send(request: SealRequest | OpenRequest, what: string): Promise<number> {
    const worker = this.start();
    return new Promise<number>((resolve, reject) => {
      this.pending.set(request.seq, { resolve, reject, what });
      worker.ref();
      worker.postMessage(request);
    });
  }
}

let thread: SealThread | undefined;

export function sealThread(): SealThread {
  thread ??= new SealThread();
  return thread;
}
