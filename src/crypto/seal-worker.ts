// The sealing thread's module: encrypts runs of age payload chunks that the encrypting store put in shared memory (seal-thread.ts). It imports nothing of ours at runtime (zstd/worker-thread.ts says why).

import { createCipheriv, type CipherChaCha20Poly1305 } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/** What the store asks: seal `bytes` plaintext bytes of `plain` as chunks `firstChunk`… into `sealed`; the last of them is the object's last chunk when `final`. */
export interface SealRequest {
  seq: number;
  key: Uint8Array;
  firstChunk: number;
  plain: SharedArrayBuffer;
  bytes: number;
  sealed: SharedArrayBuffer;
  final: boolean;
}

export interface SealReply {
  seq: number;
  /** Stored bytes written to `sealed`, or the failure. */
  sealedBytes?: number;
  error?: string;
}

// The same layout as age.ts (CHUNK_SIZE, TAG_SIZE, nonceOf): a worker module cannot import it.
const CHUNK_SIZE = 64 * 1024;
const TAG_SIZE = 16;

function nonceOf(chunk: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(Math.floor(chunk / 2 ** 32), 3, 4);
  nonce.writeUInt32BE(chunk % 2 ** 32, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function seal(request: SealRequest): number {
  const key = Buffer.from(request.key);
  const plain = Buffer.from(request.plain, 0, request.bytes);
  const out = Buffer.from(request.sealed);
  const chunks = Math.max(1, Math.ceil(request.bytes / CHUNK_SIZE));
  let at = 0;
  for (let i = 0; i < chunks; i++) {
    const last = request.final && i === chunks - 1;
    const cipher = createCipheriv('chacha20-poly1305', key, nonceOf(request.firstChunk + i, last), { authTagLength: TAG_SIZE }) as CipherChaCha20Poly1305;
    at += cipher.update(plain.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)).copy(out, at);
    at += cipher.final().copy(out, at);
    at += cipher.getAuthTag().copy(out, at);
  }
  return at;
}

parentPort?.on('message', (request: SealRequest) => {
  let reply: SealReply;
  try {
    reply = { seq: request.seq, sealedBytes: seal(request) };
  } catch (error) {
    reply = { seq: request.seq, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
