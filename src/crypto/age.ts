// age v1 objects (https://age-encryption.org/v1): headers made and opened by the reference implementation (age-encryption), and the STREAM payload in 64 KiB ChaCha20-Poly1305 chunks through Node's OpenSSL, which any chunk can be decrypted alone with.

import { createCipheriv, createDecipheriv, hkdfSync, type CipherChaCha20Poly1305, type DecipherChaCha20Poly1305 } from 'node:crypto';
import { CassetteError } from '../errors.js';
import { HeaderError, openX25519Header, x25519Identity, type X25519Identity } from './x25519-header.js';

/** Plaintext bytes per payload chunk. */
export const CHUNK_SIZE = 64 * 1024;
/** Poly1305 tag after each chunk. */
export const TAG_SIZE = 16;
/** Stored bytes of one full chunk. */
export const SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
/** The nonce between the header and the payload, from which the payload key is derived. */
export const NONCE_SIZE = 16;
/** Every age v1 object starts with this line. */
export const AGE_MAGIC = Buffer.from('age-encryption.org/v1\n');

/** What it takes to read an object's payload: where it starts, and its key. */
export interface PayloadKey {
  /** Bytes before the payload: the header and the nonce. */
  payloadStart: number;
  /** The ChaCha20-Poly1305 key of the payload (HKDF-SHA-256 of the file key, salted with the nonce). */
  key: Buffer;
}

/** A new object's beginning (header and nonce, to be stored first) and the key to encrypt its payload with. */
export interface NewObject extends PayloadKey {
  head: Buffer;
}

function payloadKeyOf(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

/**
 * Start an object for `recipients` (age1… strings): the reference implementation wraps a fresh
 * file key for each and writes the header with its MAC; the file key is taken from it by a
 * recipient that adds no stanza, and an empty payload is encrypted to get the header and nonce.
 */
export async function newObject(recipients: readonly string[]): Promise<NewObject> {
  if (recipients.length === 0) throw new Error('an encrypted object needs at least one recipient');
  // Loaded when first needed: commands that only read do not pay for it (x25519-header.ts).
  const { Encrypter } = await import('age-encryption');
  const encrypter = new Encrypter();
  for (const recipient of recipients) encrypter.addRecipient(recipient);
  let fileKey: Uint8Array | undefined;
  encrypter.addRecipient({
    wrapFileKey: (key: Uint8Array) => {
      fileKey = key.slice();
      return [];
    },
  });
  const empty = Buffer.from(await encrypter.encrypt(new Uint8Array(0)));
  if (!fileKey) throw new Error('age-encryption did not give the file key to every recipient');
  // An empty payload is one final chunk of nothing: its tag alone.
  const head = empty.subarray(0, empty.length - TAG_SIZE);
  return { head: Buffer.from(head), payloadStart: head.length, key: payloadKeyOf(fileKey, head.subarray(head.length - NONCE_SIZE)) };
}

/** Whether `bytes` (an object's first bytes) begin an age v1 object. */
export function isAgeObject(bytes: Buffer): boolean {
  return bytes.length >= AGE_MAGIC.length && bytes.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC);
}

/**
 * Length of the header (through the MAC line) when `bytes` hold all of it, else undefined: read
 * more. Throws E_INTEGRITY when the bytes are not an age v1 header.
 */
export function headerLength(bytes: Buffer, what: string): number | undefined {
  if (!isAgeObject(bytes)) throw new CassetteError('E_INTEGRITY', `${what} is not an age-encrypted object (it does not start with "age-encryption.org/v1")`);
  const mac = bytes.indexOf('\n--- ');
  if (mac === -1) return undefined;
  const end = bytes.indexOf(0x0a, mac + 1);
  return end === -1 ? undefined : end + 1;
}

/** The identities that open objects: age X25519 identity strings (AGE-SECRET-KEY-1…), tried in turn. */
export class Opener {
  private readonly keys: X25519Identity[];

  constructor(readonly identities: readonly string[]) {
    this.keys = identities.map((identity) => {
      const key = x25519Identity(identity);
      if (!key) throw new CassetteError('E_USAGE', 'an identity is not an age X25519 identity (AGE-SECRET-KEY-1…)');
      return key;
    });
  }

  /**
   * The payload key of the object whose first bytes are `start` (header and nonce included).
   * Throws E_KEY when none of the identities opens it, E_INTEGRITY when the header is damaged.
   */
  open(start: Buffer, what: string): Promise<PayloadKey> {
    const length = headerLength(start, what);
    if (length === undefined || start.length < length + NONCE_SIZE) throw new CassetteError('E_INTEGRITY', `${what}: its age header is cut short`);
    let fileKey: Buffer | null;
    try {
      fileKey = openX25519Header(start.subarray(0, length), this.keys);
    } catch (error) {
      if (!(error instanceof HeaderError)) throw error;
      throw new CassetteError('E_INTEGRITY', `${what}: its age header is damaged (${error.message})`, { cause: error });
    }
    if (!fileKey) throw new CassetteError('E_KEY', `${what} is encrypted to other keys: none of the ${this.identities.length} identities given opens it`);
    return Promise.resolve({ payloadStart: length + NONCE_SIZE, key: payloadKeyOf(fileKey, start.subarray(length, length + NONCE_SIZE)) });
  }
}

function nonceOf(chunk: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  // An 11-byte big-endian counter, then the last-chunk flag. 2^53 chunks is far beyond any object.
  nonce.writeUIntBE(Math.floor(chunk / 2 ** 32), 3, 4);
  nonce.writeUInt32BE(chunk % 2 ** 32, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Encrypt one chunk (at most CHUNK_SIZE bytes) into `out` at `at`; returns the bytes written (its length + TAG_SIZE). */
export function sealChunk(key: Buffer, chunk: number, last: boolean, plain: Buffer, out: Buffer, at: number): number {
  const cipher = createCipheriv('chacha20-poly1305', key, nonceOf(chunk, last), { authTagLength: TAG_SIZE }) as CipherChaCha20Poly1305;
  let written = cipher.update(plain).copy(out, at);
  written += cipher.final().copy(out, at + written);
  return written + cipher.getAuthTag().copy(out, at + written);
}

function tryOpenChunk(key: Buffer, chunk: number, last: boolean, sealed: Buffer): Buffer | undefined {
  const decipher = createDecipheriv('chacha20-poly1305', key, nonceOf(chunk, last), { authTagLength: TAG_SIZE }) as DecipherChaCha20Poly1305;
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_SIZE));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return plain;
}

/**
 * Decrypt payload chunk number `chunk` (its stored bytes, tag included). A chunk shorter than a
 * full one must be the last; a full one is tried as a middle chunk, then as the last (the flag is
 * in its nonce, so a cut object never passes for a whole one). `isLast` tells which it was.
 */
export function openChunk(key: Buffer, chunk: number, sealed: Buffer, what: string): { plain: Buffer; isLast: boolean } {
  if (sealed.length < TAG_SIZE || sealed.length > SEALED_CHUNK_SIZE) throw new CassetteError('E_INTEGRITY', `${what}: encrypted chunk ${chunk} has ${sealed.length} bytes`);
  if (sealed.length === SEALED_CHUNK_SIZE) {
    const plain = tryOpenChunk(key, chunk, false, sealed);
    if (plain) return { plain, isLast: false };
  }
  const plain = tryOpenChunk(key, chunk, true, sealed);
  if (plain && (plain.length > 0 || chunk === 0)) return { plain, isLast: true };
  throw new CassetteError('E_INTEGRITY', `${what}: encrypted chunk ${chunk} fails its authentication (the object is damaged, or was altered)`);
}

/**
 * The stored byte range holding plaintext bytes `start`..`end` (inclusive) of an object whose
 * payload begins at `payloadStart`, and the number of its first chunk. Pure.
 */
export function sealedRange(start: number, end: number, payloadStart: number): { start: number; end: number; firstChunk: number } {
  const firstChunk = Math.floor(start / CHUNK_SIZE);
  const lastChunk = Math.floor(end / CHUNK_SIZE);
  return { start: payloadStart + firstChunk * SEALED_CHUNK_SIZE, end: payloadStart + (lastChunk + 1) * SEALED_CHUNK_SIZE - 1, firstChunk };
}

/** Plaintext bytes of an object of `storedSize` bytes whose payload begins at `payloadStart`. Pure. */
export function plainSize(storedSize: number, payloadStart: number): number {
  const payload = storedSize - payloadStart;
  const chunks = Math.max(1, Math.ceil(payload / SEALED_CHUNK_SIZE));
  return payload - chunks * TAG_SIZE;
}

/**
 * Encrypts a payload as it is written: full chunks go out as soon as more bytes follow them, and
 * `end` seals the rest (1 to CHUNK_SIZE bytes, or nothing for an empty payload) as the last chunk.
 */
export class PayloadSealer {
  /** Bytes of the chunk in progress (fewer than a chunk, or exactly one held back for `end`). */
  private readonly held = Buffer.allocUnsafe(CHUNK_SIZE);
  private heldBytes = 0;
  private chunk = 0;
  /** Reused for every push: sealing allocates no memory of its own beyond OpenSSL's output (a backup seals gigabytes, and new buffers would cost more in garbage collection than the cipher). */
  private out = Buffer.alloc(0);

  constructor(private readonly key: Buffer) {}

  /**
   * The stored bytes for `plain`, held back by up to one chunk. `plain` is not kept (the caller
   * may reuse it); the result is valid until the next push or end.
   */
  push(plain: Buffer): Buffer {
    // Keep at least one byte back: the last chunk is only known at the end.
    const full = Math.floor((this.heldBytes + plain.length - 1) / CHUNK_SIZE);
    if (full <= 0) {
      this.heldBytes += plain.copy(this.held, this.heldBytes);
      return this.out.subarray(0, 0);
    }
    if (this.out.length < full * SEALED_CHUNK_SIZE) this.out = Buffer.allocUnsafe(Math.max(full * SEALED_CHUNK_SIZE, 2 * this.out.length));
    let used = 0;
    for (let i = 0; i < full; i++) {
      let chunk: Buffer;
      if (i === 0 && this.heldBytes > 0) {
        used = plain.copy(this.held, this.heldBytes, 0, CHUNK_SIZE - this.heldBytes);
        chunk = this.held;
      } else {
        chunk = plain.subarray(used, used + CHUNK_SIZE);
        used += CHUNK_SIZE;
      }
      sealChunk(this.key, this.chunk++, false, chunk, this.out, i * SEALED_CHUNK_SIZE);
    }
    this.heldBytes = plain.copy(this.held, 0, used);
    return this.out.subarray(0, full * SEALED_CHUNK_SIZE);
  }

  /** The last chunk's stored bytes. */
  end(): Buffer {
    const out = Buffer.allocUnsafe(this.heldBytes + TAG_SIZE);
    sealChunk(this.key, this.chunk++, true, this.held.subarray(0, this.heldBytes), out, 0);
    this.heldBytes = 0;
    return out;
  }
}

/** A whole object for `recipients` holding `plain`. */
export async function sealObject(recipients: readonly string[], plain: Buffer): Promise<Buffer> {
  const object = await newObject(recipients);
  const sealer = new PayloadSealer(object.key);
  return Buffer.concat([object.head, sealer.push(plain), sealer.end()]);
}

/** The plaintext of a whole stored object; `what` names it in errors. */
export async function openObject(opener: Opener, stored: Buffer, what: string): Promise<Buffer> {
  const { payloadStart, key } = await opener.open(stored, what);
  return openPayload(key, stored.subarray(payloadStart), 0, what, true);
}

/**
 * Decrypt consecutive stored chunks starting with chunk `firstChunk`, dropping the first `skip`
 * plaintext bytes and keeping at most `length`, straight into `target` when given (one copy, no
 * concatenation: restores read into shared memory). With `whole`, the bytes must end with the
 * last chunk (a cut object is an integrity error).
 */
export function openPayload(
  key: Buffer,
  sealed: Buffer,
  firstChunk: number,
  what: string,
  whole: boolean,
  window: { skip?: number; length?: number; target?: Buffer } = {},
): Buffer {
  const chunks = Math.ceil(sealed.length / SEALED_CHUNK_SIZE);
  let skip = window.skip ?? 0;
  const room = Math.max(0, Math.min(window.length ?? Infinity, sealed.length - chunks * TAG_SIZE - skip));
  if (window.target && window.target.length < room) throw new Error(`the object sent more than the ${window.target.length} bytes asked for`);
  const out = window.target ?? Buffer.allocUnsafe(room);
  let written = 0;
  let isLast = false;
  for (let at = 0, chunk = firstChunk; at < sealed.length && (whole || written < room); at += SEALED_CHUNK_SIZE, chunk++) {
    if (isLast) throw new CassetteError('E_INTEGRITY', `${what}: bytes follow its last encrypted chunk`);
    const opened = openChunk(key, chunk, sealed.subarray(at, at + SEALED_CHUNK_SIZE), what);
    isLast = opened.isLast;
    const from = Math.min(skip, opened.plain.length);
    skip -= from;
    written += opened.plain.copy(out, written, from, from + Math.min(opened.plain.length - from, room - written));
  }
  if (whole && !isLast) throw new CassetteError('E_INTEGRITY', `${what}: the encrypted object is cut short (its last chunk is missing)`);
  return out.subarray(0, written);
}
