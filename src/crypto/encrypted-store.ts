// A store wrapper for encrypted repositories: objects under data/ are age v1 objects read and written by plaintext offset, commit records are sealed, and everything else passes through.

import { Readable } from 'node:stream';
import { CassetteError, isCassetteError } from '../errors.js';
import type { CommitRecord } from '../format/types.js';
import { SNAPSHOTS_PREFIX } from '../repository.js';
import { writeStream, type GetOptions, type ObjectInfo, type ObjectStore, type ObjectWriter, type PendingUpload, type PutOptions } from '../store/object-store.js';
import {
  AGE_MAGIC,
  CHUNK_SIZE,
  headerLength,
  isAgeObject,
  newObject,
  NONCE_SIZE,
  Opener,
  openChunk,
  openObject,
  openPayload,
  plainSize,
  SEALED_CHUNK_SIZE,
  sealedRange,
  sealObject,
  type PayloadKey,
} from './age.js';
import type { Keys } from './keys.js';
import { sealThread } from './seal-thread.js';
import type { MetadataCache } from './metadata-cache.js';
import { publicRecord, sealedDigest } from './seal-record.js';

/** Bytes read to find an object's header: enough for about 40 X25519 recipients. */
const HEADER_PROBE = 4096;
/** A header longer than this is not one Cassette wrote. */
const MAX_HEADER = 64 * 1024;

/** What reading an object needs: its payload key, or nothing when it is stored in plain text. */
type ObjectKey = PayloadKey | 'plain';

/** The encryption a repository's store applies. */
export interface StoreEncryption {
  /** Recipients of what this store writes; empty: it writes plain text (a command that only reads). */
  recipients: readonly string[];
  /** Their fingerprint (recipientsFingerprint), undefined when it writes plain text. */
  fingerprint?: string;
  /** Where identities were given, for messages; undefined when none. */
  identitySource?: string;
}

/** Whether objects under `key` are encrypted (archives, indexes, recipes). */
function isDataKey(key: string): boolean {
  return key.startsWith('data/');
}

function isCommitKey(key: string): boolean {
  return key.startsWith(SNAPSHOTS_PREFIX) && key.endsWith('.json');
}

/** Metadata this host wrote and may read back without an identity: commit records, indexes and recipes, never archives. */
function isCachedKey(key: string): boolean {
  return isCommitKey(key) || key.endsWith('.idx.zst') || key.endsWith('.recipe');
}

export class EncryptedStore implements ObjectStore {
  readonly url: string;
  readonly encryption: StoreEncryption;
  private readonly opener: Opener | undefined;
  private readonly objectKeys = new Map<string, Promise<ObjectKey>>();
  /** Stored bytes read from encrypted objects (headers, whole chunks): what a restore downloaded for them, which is more than the plaintext it asked for. */
  encryptedBytesRead = 0;
  /** Shared memory that ranged reads into shared memory download stored bytes into, reused. */
  private readonly scratch = new ScratchMemory();
  /** Commit records this store sealed and put, by key: a read-back after a PUT whose answer was lost opens them without an identity. */
  private readonly sealedHere = new Map<string, { digest: string; body: Buffer }>();

  constructor(
    private readonly inner: ObjectStore,
    private readonly keys: Keys,
    fingerprint: string | undefined,
    private readonly cache?: MetadataCache,
  ) {
    this.url = inner.url;
    this.encryption = { recipients: keys.recipients, fingerprint: keys.recipients.length > 0 ? fingerprint : undefined, identitySource: keys.identitySource };
    this.opener = keys.identities.length > 0 ? new Opener(keys.identities) : undefined;
  }

  private encrypts(key: string): boolean {
    return this.keys.recipients.length > 0 && isDataKey(key);
  }

  /** The error for an encrypted object and no identity. */
  private noIdentity(what: string): CassetteError {
    return new CassetteError(
      'E_KEY',
      `${what} is encrypted and no identity was given: pass --identity FILE (an age identity file, as \`cassette key generate\` writes it), set CASSETTE_IDENTITY=FILE, or give the passphrase with --passphrase-file FILE or CASSETTE_PASSPHRASE`,
    );
  }

  /** How to read `key`: probe its first bytes once, then open its header with the identities. */
  private objectKey(key: string, signal?: AbortSignal): Promise<ObjectKey> {
    let known = this.objectKeys.get(key);
    if (!known) {
      known = (async (): Promise<ObjectKey> => {
        let start = await this.inner.getBuffer(key, { range: { start: 0, end: HEADER_PROBE - 1 }, signal });
        this.encryptedBytesRead += start.length;
        if (!isAgeObject(start) && !(start.length < AGE_MAGIC.length && AGE_MAGIC.subarray(0, start.length).equals(start))) return 'plain';
        let length = headerLength(start, key);
        if (length === undefined && start.length === HEADER_PROBE) {
          start = await this.inner.getBuffer(key, { range: { start: 0, end: MAX_HEADER - 1 }, signal });
          length = headerLength(start, key);
        }
        if (length === undefined) throw new CassetteError('E_INTEGRITY', `${key}: its age header is cut short or longer than ${MAX_HEADER} bytes`);
        if (start.length < length + NONCE_SIZE) start = await this.inner.getBuffer(key, { range: { start: 0, end: length + NONCE_SIZE - 1 }, signal });
        if (!this.opener) throw this.noIdentity(key);
        return this.opener.open(start, key);
      })();
      this.objectKeys.set(key, known);
      // A failure (no such object, a dropped connection) is not remembered.
      known.catch(() => this.objectKeys.delete(key));
    }
    return known;
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<{ size: number }> {
    if (!Buffer.isBuffer(body)) {
      const writer = this.openWriter(key, options);
      return writeStream(writer, body, async (cause) => {
        await writer.abort(cause);
        return cause instanceof Error ? cause : new Error(String(cause));
      });
    }
    if (isCommitKey(key) && this.keys.recipients.length > 0) {
      const { stored, digest } = await this.sealRecord(body);
      this.sealedHere.set(key, { digest, body });
      const result = await this.inner.put(key, stored, options);
      await this.cache?.put(key, body, digest);
      return result;
    }
    if (!this.encrypts(key)) return this.inner.put(key, body, options);
    const result = await this.inner.put(key, await sealObject(this.keys.recipients, body), options);
    if (isCachedKey(key)) await this.cache?.put(key, body);
    return result;
  }

  /** A commit record as stored in an encrypted repository: its public part (no names, docs/FORMAT.md §8) and the whole record sealed. */
  private async sealRecord(body: Buffer): Promise<{ stored: Buffer; digest: string }> {
    const record = JSON.parse(body.toString('utf8')) as CommitRecord;
    const sealed = (await sealObject(this.keys.recipients, body)).toString('base64');
    return { stored: Buffer.from(JSON.stringify({ ...publicRecord(record), sealed }, null, 2) + '\n'), digest: sealedDigest(sealed) };
  }

  /** A stored commit record, unsealed when this host wrote it (this store, or the cache) or an identity opens it; else its public part, `sealed` kept. */
  private async unsealRecord(key: string, stored: Buffer): Promise<Buffer> {
    let sealed: unknown;
    try {
      sealed = (JSON.parse(stored.toString('utf8')) as { sealed?: unknown }).sealed;
    } catch {
      return stored; // parseCommitRecord reports it
    }
    if (typeof sealed !== 'string') return stored;
    const digest = sealedDigest(sealed);
    const here = this.sealedHere.get(key);
    if (here?.digest === digest) {
      // Read back after a PUT whose answer was lost: it is stored, so this host keeps it too.
      await this.cache?.put(key, here.body, digest);
      return here.body;
    }
    const cached = await this.cache?.get(key, digest);
    if (cached) return cached;
    if (!this.opener) return stored;
    try {
      return await openObject(this.opener, Buffer.from(sealed, 'base64'), `the sealed part of ${key}`);
    } catch (error) {
      // Encrypted to other keys: its public part (requireUnsealed says so to commands that need more).
      if (isCassetteError(error, 'E_KEY')) return stored;
      throw error;
    }
  }

  openWriter(key: string, options: PutOptions = {}): ObjectWriter {
    if (!this.encrypts(key)) return this.inner.openWriter(key, options);
    return new SealingWriter(this.inner.openWriter(key, options), newObject(this.keys.recipients), isCachedKey(key) ? this.cache?.writer(key) : undefined);
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    if (isCommitKey(key)) return Readable.from([await this.getBuffer(key, options)]);
    if (!isDataKey(key)) return this.inner.get(key, options);
    const cached = isCachedKey(key) ? await this.cache?.get(key) : undefined;
    if (cached) return Readable.from([sliceOf(cached, options)]);
    if (!options.range && !this.objectKeys.has(key)) return this.getWhole(key, options.signal);
    const objectKey = await this.objectKey(key, options.signal);
    if (objectKey === 'plain') return this.inner.get(key, options);
    const start = options.range?.start ?? 0;
    const end = options.range?.end ?? Number.MAX_SAFE_INTEGER - CHUNK_SIZE;
    const range = sealedRange(start, end, objectKey.payloadStart);
    const body = await this.inner.get(key, { signal: options.signal, range: { start: range.start, end: options.range ? range.end : Number.MAX_SAFE_INTEGER } });
    return Readable.from(
      openStream(this.counted(body), objectKey.key, range.firstChunk, start - range.firstChunk * CHUNK_SIZE, options.range ? end - start + 1 : undefined, key, !options.range),
    );
  }

  async getBuffer(key: string, options: GetOptions = {}): Promise<Buffer> {
    if (isCommitKey(key)) return this.unsealRecord(key, await this.inner.getBuffer(key, options));
    if (!isDataKey(key)) return this.inner.getBuffer(key, options);
    const cached = isCachedKey(key) ? await this.cache?.get(key) : undefined;
    if (cached) return into(sliceOf(cached, options), options.into);
    const objectKey = await this.objectKey(key, options.signal);
    if (objectKey === 'plain') return this.inner.getBuffer(key, options);
    if (!options.range) {
      const stored = await this.inner.getBuffer(key, { signal: options.signal });
      this.encryptedBytesRead += stored.length;
      return openPayload(objectKey.key, stored.subarray(objectKey.payloadStart), 0, key, true, { target: options.into });
    }
    const { start, end } = options.range;
    const range = sealedRange(start, end, objectKey.payloadStart);
    const skip = start - range.firstChunk * CHUNK_SIZE;
    const target = options.into;
    if (target && target.buffer instanceof SharedArrayBuffer) {
      // A restore reads into shared memory: the stored bytes are streamed through two small pieces of shared memory, and the sealing thread opens each into the target.
      return this.openIntoShared(key, objectKey.key, range, { skip, length: end - start + 1, target, signal: options.signal });
    }
    const sealed = await this.inner.getBuffer(key, { signal: options.signal, range: { start: range.start, end: range.end } });
    this.encryptedBytesRead += sealed.length;
    return openPayload(objectKey.key, sealed, range.firstChunk, key, false, { skip, length: end - start + 1, target });
  }

  /** A whole object as a stream, its header read at the same time as the object (an index: one round trip less). */
  private async getWhole(key: string, signal?: AbortSignal): Promise<Readable> {
    const [objectKey, body] = await Promise.allSettled([this.objectKey(key, signal), this.inner.get(key, { signal })]);
    if (objectKey.status === 'rejected' || body.status === 'rejected') {
      if (body.status === 'fulfilled') body.value.destroy();
      throw objectKey.status === 'rejected' ? objectKey.reason : (body as PromiseRejectedResult).reason;
    }
    if (objectKey.value === 'plain') return body.value;
    return Readable.from(openStream(this.counted(skipBytes(body.value, objectKey.value.payloadStart)), objectKey.value.key, 0, 0, undefined, key, true));
  }

  private async *counted(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of body) {
        this.encryptedBytesRead += chunk.length;
        yield chunk;
      }
    } finally {
      if (body instanceof Readable && !body.destroyed) body.destroy();
    }
  }

  /**
   * A ranged read into shared memory with bounded memory: the stored range is streamed (one GET)
   * into two pieces of PIECE_CHUNKS chunks in turn, and each full piece is opened on the sealing
   * thread straight into its place in the target while the next one fills. All chunks but an
   * object's last are full, so where each piece's plaintext goes is known before it is opened.
   */
  private async openIntoShared(
    key: string,
    payloadKey: Buffer,
    range: { start: number; end: number; firstChunk: number },
    want: { skip: number; length: number; target: Buffer; signal?: AbortSignal },
  ): Promise<Buffer> {
    const body = await this.inner.get(key, { signal: want.signal, range: { start: range.start, end: range.end } });
    const pieces = [this.scratch.take(), this.scratch.take()];
    const opening: Array<Promise<number> | undefined> = [undefined, undefined];
    let written = 0;
    let piece = 0;
    let filled = 0;
    const open = (n: number, index: number, bytes: number): void => {
      const plainStart = index * PIECE_CHUNKS * CHUNK_SIZE;
      const targetStart = Math.max(0, plainStart - want.skip);
      if (targetStart >= want.length) return;
      opening[n] = sealThread().open(
        {
          key: payloadKey,
          firstChunk: range.firstChunk + index * PIECE_CHUNKS,
          sealed: pieces[n]!.memory,
          sealedBytes: bytes,
          skip: Math.max(0, want.skip - plainStart),
          length: want.length - targetStart,
          target: want.target.buffer as SharedArrayBuffer,
          targetOffset: want.target.byteOffset + targetStart,
          targetLength: Math.max(0, want.target.length - targetStart),
        },
        key,
      );
      // Awaited by settle() or finally; until then a damaged piece must not be an unhandled rejection.
      opening[n].catch(() => undefined);
    };
    const settle = async (n: number): Promise<void> => {
      const done = opening[n];
      opening[n] = undefined;
      if (done) written += await done;
    };
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        this.encryptedBytesRead += chunk.length;
        for (let at = 0; at < chunk.length;) {
          const n = piece % 2;
          if (filled === 0) await settle(n); // the piece is free once its last opening is done
          const copied = chunk.copy(pieces[n]!.view, filled, at);
          filled += copied;
          at += copied;
          if (filled === PIECE_BYTES) {
            open(n, piece, filled);
            piece++;
            filled = 0;
          }
        }
      }
      if (filled > 0) open(piece % 2, piece, filled);
      await settle(0);
      await settle(1);
      return want.target.subarray(0, written);
    } finally {
      // A failed read leaves openings running on the pieces: they go back to the pool only once done.
      await Promise.allSettled(opening.map((o) => o ?? Promise.resolve(0)));
      for (const p of pieces) this.scratch.give(p);
      if (!body.destroyed) body.destroy();
    }
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }

  /**
   * Plaintext bytes of an object whose stored size is `storedSize` (records and listings give
   * stored sizes; offsets within an object are of its plaintext).
   */
  async contentSize(key: string, storedSize: number): Promise<number> {
    const objectKey = await this.objectKey(key);
    return objectKey === 'plain' ? storedSize : plainSize(storedSize, objectKey.payloadStart);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  delete(keys: string[]): Promise<void> {
    return this.inner.delete(keys);
  }

  listPendingUploads(prefix: string): AsyncIterable<PendingUpload> {
    return this.inner.listPendingUploads(prefix);
  }

  abortPendingUpload(upload: PendingUpload): Promise<void> {
    return this.inner.abortPendingUpload(upload);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A stream without its first `count` bytes. */
async function* skipBytes(body: Readable, count: number): AsyncGenerator<Buffer> {
  let left = count;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (left >= chunk.length) {
        left -= chunk.length;
        continue;
      }
      yield left > 0 ? chunk.subarray(left) : chunk;
      left = 0;
    }
  } finally {
    if (!body.destroyed) body.destroy();
  }
}

function sliceOf(bytes: Buffer, options: GetOptions): Buffer {
  return options.range ? bytes.subarray(options.range.start, options.range.end + 1) : bytes;
}

function into(bytes: Buffer, target: Buffer | undefined): Buffer {
  if (!target) return bytes;
  if (bytes.length > target.length) throw new Error(`the object sent more than the ${target.length} bytes asked for`);
  bytes.copy(target);
  return target.subarray(0, bytes.length);
}

/** The plaintext of a stream of stored chunks from chunk `firstChunk`: `skip` bytes dropped, then at most `length` bytes (all when undefined). */
async function* openStream(
  body: AsyncGenerator<Buffer>,
  key: Buffer,
  firstChunk: number,
  skip: number,
  length: number | undefined,
  what: string,
  whole: boolean,
): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let chunk = firstChunk;
  let isLast = false;
  let toSkip = skip;
  let left = length ?? Infinity;
  const emit = (sealed: Buffer): Buffer | undefined => {
    if (isLast) throw new CassetteError('E_INTEGRITY', `${what}: bytes follow its last encrypted chunk`);
    const opened = openChunk(key, chunk++, sealed, what);
    isLast = opened.isLast;
    let plain = opened.plain;
    if (toSkip > 0) {
      const dropped = Math.min(toSkip, plain.length);
      plain = plain.subarray(dropped);
      toSkip -= dropped;
    }
    if (plain.length > left) plain = plain.subarray(0, left);
    left -= plain.length;
    return plain.length > 0 ? plain : undefined;
  };
  try {
    for await (const piece of body) {
      pending.push(piece);
      pendingBytes += piece.length;
      if (pendingBytes < SEALED_CHUNK_SIZE) continue;
      const joined = Buffer.concat(pending);
      let at = 0;
      for (; joined.length - at >= SEALED_CHUNK_SIZE && left > 0; at += SEALED_CHUNK_SIZE) {
        const plain = emit(joined.subarray(at, at + SEALED_CHUNK_SIZE));
        if (plain) yield plain;
      }
      if (left <= 0) return;
      pending = [joined.subarray(at)];
      pendingBytes = joined.length - at;
    }
    if (pendingBytes > 0 && left > 0) {
      const plain = emit(Buffer.concat(pending));
      if (plain) yield plain;
    }
    if (whole && !isLast) throw new CassetteError('E_INTEGRITY', `${what}: the encrypted object is cut short (its last chunk is missing)`);
  } finally {
    await body.return(undefined);
  }
}

/** Stored chunks opened at once on the sealing thread when a restore reads into shared memory: about 1 MiB. */
const PIECE_CHUNKS = 16;
const PIECE_BYTES = PIECE_CHUNKS * SEALED_CHUNK_SIZE;

/** Reusable pieces of shared memory, PIECE_BYTES each: a restore makes thousands of ranged reads, a few at a time, two pieces each. */
class ScratchMemory {
  private readonly free: SharedArrayBuffer[] = [];

  take(): { memory: SharedArrayBuffer; view: Buffer } {
    const memory = this.free.pop() ?? new SharedArrayBuffer(PIECE_BYTES);
    return { memory, view: Buffer.from(memory) };
  }

  give(scratch: { memory: SharedArrayBuffer }): void {
    // Enough for the default fetch concurrency (4 reads × 2 pieces); more are let go.
    if (this.free.length < 8) this.free.push(scratch.memory);
  }
}

/** Plaintext chunks sealed at once on the sealing thread (2 MiB): each upload holds this much twice, plain and sealed, in shared memory. */
const SLOT_CHUNKS = 32;

/**
 * Seals a payload on the sealing thread (seal-thread.ts), a slot of chunks at a time: bytes are
 * copied into shared memory, a full slot is sealed once more bytes follow it (so the last chunk is
 * known at `end`), and each sealed slot is handed to `emit` (which must copy it before it resolves).
 */
class ThreadedSealer {
  private readonly plain = new SharedArrayBuffer(SLOT_CHUNKS * CHUNK_SIZE);
  private readonly sealed = new SharedArrayBuffer(SLOT_CHUNKS * SEALED_CHUNK_SIZE);
  private readonly plainView = Buffer.from(this.plain);
  private readonly sealedView = Buffer.from(this.sealed);
  private filled = 0;
  private chunk = 0;

  constructor(
    private readonly key: Buffer,
    private readonly emit: (sealed: Buffer) => Promise<void>,
  ) {}

  async push(data: Buffer): Promise<void> {
    for (let at = 0; at < data.length;) {
      if (this.filled === this.plainView.length) await this.flush(false);
      const copied = data.copy(this.plainView, this.filled, at);
      this.filled += copied;
      at += copied;
    }
  }

  end(): Promise<void> {
    return this.flush(true);
  }

  private async flush(final: boolean): Promise<void> {
    const bytes = this.filled;
    const sealedBytes = await sealThread().seal({ key: this.key, firstChunk: this.chunk, plain: this.plain, bytes, sealed: this.sealed, final }, 'an encrypted upload');
    this.chunk += Math.max(1, Math.ceil(bytes / CHUNK_SIZE));
    this.filled = 0;
    await this.emit(this.sealedView.subarray(0, sealedBytes));
  }
}

/** An encrypting upload: the header first, then the payload sealed on the sealing thread; `tee` keeps the plaintext (the metadata cache). */
class SealingWriter implements ObjectWriter {
  private sealer: ThreadedSealer | undefined;

  constructor(
    private readonly inner: ObjectWriter,
    private readonly object: Promise<{ head: Buffer; key: Buffer }>,
    private readonly tee?: { write(chunk: Buffer): Promise<void>; commit(): Promise<void>; discard(): Promise<void> },
  ) {
    object.catch(() => undefined); // reported by the first write
  }

  private async start(): Promise<ThreadedSealer> {
    if (!this.sealer) {
      const object = await this.object;
      await this.inner.write(object.head);
      this.sealer = new ThreadedSealer(object.key, (sealed) => this.inner.write(sealed));
    }
    return this.sealer;
  }

  async write(chunk: Buffer): Promise<void> {
    try {
      await (await this.start()).push(chunk);
      await this.tee?.write(chunk);
    } catch (error) {
      await this.abort(error);
      throw error;
    }
  }

  async finish(): Promise<{ size: number }> {
    try {
      await (await this.start()).end();
      const result = await this.inner.finish();
      await this.tee?.commit();
      return result;
    } catch (error) {
      await this.tee?.discard();
      throw error;
    }
  }

  async abort(reason?: unknown): Promise<void> {
    await this.tee?.discard();
    await this.inner.abort(reason);
  }
}
