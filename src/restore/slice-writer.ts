// A worker thread that writes restored file data with positional writes and hashes it, so that the
// restoring thread only creates files, finishes them and feeds the decompression pool.
//
// Why a thread: in a full restore of the bench tree (5.1 GB, 30,066 files) the restoring thread was
// busy ~16 of 20 s, and pwrite (3.9 s) plus SHA-256 (3.0 s) were the largest parts of it (perf);
// both now run here, next to the restoring thread.
//
// Protocol, parent → worker: { seq, memory, offset?, slices: [{ file, fd, start, length, position,
// last }] } where `memory` is a SharedArrayBuffer (the pool's decoded frame, read in place) or an
// ArrayBuffer the parent transferred; each slice is written at `position` of `fd` from
// `memory[start, start + length)`, in order, and hashed into file `file`'s SHA-256, whose hex digest
// comes back when the slice with `last` has been written.
// Worker → parent: { seq, digests: [[file, hex], …] } once every slice of the message is written, or
// { seq, error: { file, message, code } } (the worker writes nothing more for that file).

import { Worker } from 'node:worker_threads';
import { CassetteError } from '../errors.js';

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

type Reply =
  | { seq: number; digests: Array<[number, string]> }
  | { seq: number; error: { file: number; message: string; code?: string } };

const SOURCE = String.raw`
'use strict';
(async () => {
const { parentPort } = await import('node:worker_threads');
const { createHash } = await import('node:crypto');
const fs = await import('node:fs');
const hashes = new Map();
const failed = new Set();
parentPort.on('message', ({ seq, memory, slices }) => {
  const digests = [];
  for (const s of slices) {
    if (failed.has(s.file)) continue;
    const data = Buffer.from(memory, s.start, s.length);
    try {
      let done = 0;
      while (done < data.length) done += fs.writeSync(s.fd, data, done, data.length - done, s.position + done);
    } catch (error) {
      failed.add(s.file);
      hashes.delete(s.file);
      parentPort.postMessage({ seq, error: { file: s.file, message: error.message, code: error.code } });
      return;
    }
    let hash = hashes.get(s.file);
    if (!hash) hashes.set(s.file, (hash = createHash('sha256')));
    hash.update(data);
    if (s.last) {
      digests.push([s.file, hash.digest('hex')]);
      hashes.delete(s.file);
    }
  }
  parentPort.postMessage({ seq, digests });
});
})();
`;

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
    this.worker = new Worker(SOURCE, { eval: true, name: 'cassette-restore-writer' });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.onReply(reply));
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
    let memory: ArrayBufferLike = data.buffer;
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
    this.worker.postMessage({ seq, memory, slices: slices.map((s) => ({ ...s, start: base + s.start })) }, transfer);
    this.worker.ref();
    return promise;
  }

  private onReply(reply: Reply): void {
    const waiting = this.pending.get(reply.seq);
    if (!waiting) return;
    this.pending.delete(reply.seq);
    if (this.pending.size === 0) this.worker.unref();
    if ('error' in reply) {
      const { file, message } = reply.error;
      waiting.reject(new CassetteError('E_TARGET', `cannot write ${this.describe(file)}: ${message}`));
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
