// The sealing thread's module: encrypts runs of age payload chunks that the encrypting store put in shared memory, and decrypts ranges that a restore reads into shared memory (seal-thread.ts). It imports nothing of ours at runtime (zstd/worker-thread.ts says why).

import { createCipheriv, createDecipheriv, type CipherChaCha20Poly1305, type DecipherChaCha20Poly1305 } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';

/**
 * A collection every GC_EVERY bytes. OpenSSL hands back a new buffer per 64 KiB chunk; this
 * thread's heap is tiny, so V8 would wait for ~64 MiB of such garbage before collecting it, and a
 * backup's or a restore's peak memory grew by that much (measured: +70 MiB on the bench tree). A
 * collection of this heap takes about a millisecond. Without the hook (the flag refused), it only
 * costs memory.
 */
const GC_EVERY = 16 * 1024 * 1024;
const collect: (() => void) | undefined = (() => {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();
let sinceCollect = 0;

function collectNow(bytes: number): void {
  sinceCollect += bytes;
  if (sinceCollect < GC_EVERY || !collect) return;
  sinceCollect = 0;
  collect();
}

/** What the store asks: seal `bytes` plaintext bytes of `plain` as chunks `firstChunk`… into `sealed`; the last of them is the object's last chunk when `final`. */
export interface SealRequest {
  op: 'seal';
  seq: number;
  key: Uint8Array;
  firstChunk: number;
  plain: SharedArrayBuffer;
  bytes: number;
  sealed: SharedArrayBuffer;
  final: boolean;
}

/**
 * What a restore asks: open `sealedBytes` stored bytes of `sealed` (chunks from `firstChunk`), drop
 * the first `skip` plaintext bytes, and write at most `length` into `target` from `targetOffset`.
 */
export interface OpenRequest {
  op: 'open';
  seq: number;
  key: Uint8Array;
  firstChunk: number;
  sealed: SharedArrayBuffer;
  sealedBytes: number;
  skip: number;
  length: number;
  target: SharedArrayBuffer;
  targetOffset: number;
  targetLength: number;
}

export interface SealReply {
  seq: number;
  /** Bytes written (stored bytes for seal, plaintext for open), or the failure. */
  bytes?: number;
  /** A chunk failed its authentication, or bytes follow the last chunk: the data is damaged. */
  damaged?: string;
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

/** Decrypt one chunk, as a middle chunk, else as the last one (the flag is in its nonce). */
function openChunk(key: Buffer, chunk: number, sealed: Buffer): { plain: Buffer; isLast: boolean } | undefined {
  for (const last of sealed.length === CHUNK_SIZE + TAG_SIZE ? [false, true] : [true]) {
    const decipher = createDecipheriv('chacha20-poly1305', key, nonceOf(chunk, last), { authTagLength: TAG_SIZE }) as DecipherChaCha20Poly1305;
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
    const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_SIZE));
    try {
      decipher.final();
      if (last && plain.length === 0 && chunk > 0) return undefined;
      return { plain, isLast: last };
    } catch {
      // the other flag, or damaged
    }
  }
  return undefined;
}

function open(request: OpenRequest): SealReply {
  const key = Buffer.from(request.key);
  const sealed = Buffer.from(request.sealed, 0, request.sealedBytes);
  const target = Buffer.from(request.target, request.targetOffset, request.targetLength);
  let skip = request.skip;
  let written = 0;
  let isLast = false;
  for (let at = 0, chunk = request.firstChunk; at < sealed.length && written < request.length; at += CHUNK_SIZE + TAG_SIZE, chunk++) {
    if (isLast) return { seq: request.seq, damaged: 'bytes follow its last encrypted chunk' };
    const piece = sealed.subarray(at, at + CHUNK_SIZE + TAG_SIZE);
    const opened = piece.length >= TAG_SIZE ? openChunk(key, chunk, piece) : undefined;
    if (!opened) return { seq: request.seq, damaged: `encrypted chunk ${chunk} fails its authentication (the object is damaged, or was altered)` };
    isLast = opened.isLast;
    const from = Math.min(skip, opened.plain.length);
    skip -= from;
    const take = Math.min(opened.plain.length - from, request.length - written);
    if (written + take > target.length) return { seq: request.seq, error: `the object sent more than the ${target.length} bytes asked for` };
    written += opened.plain.copy(target, written, from, from + take);
  }
  return { seq: request.seq, bytes: written };
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

parentPort?.on('message', (request: SealRequest | OpenRequest) => {
  let reply: SealReply;
  try {
    reply = request.op === 'seal' ? { seq: request.seq, bytes: seal(request) } : open(request);
    collectNow(request.op === 'seal' ? request.bytes : request.sealedBytes);
  } catch (error) {
    reply = { seq: request.seq, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
