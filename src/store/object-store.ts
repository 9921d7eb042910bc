// The storage contract: the narrow interface every repository backend implements (S3, local directory).

import type { Readable } from 'node:stream';
import type { CassetteError } from '../errors.js';

/** One stored object as a listing reports it. */
export interface ObjectInfo {
  /** Key relative to the repository root, with `/` separators (never a leading `/`). */
  key: string;
  /** Size in bytes. */
  size: number;
  /** Last modification time, when the store reports one. */
  lastModified?: Date;
}

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  /** First byte, 0-based. */
  start: number;
  /** Last byte, inclusive; must be >= start. */
  end: number;
}

/** A multipart upload that was started and never completed nor aborted. */
export interface PendingUpload {
  key: string;
  uploadId: string;
  initiated?: Date;
}

export interface PutOptions {
  /**
   * Part size for multipart uploads, in bytes. Stores that do not upload in parts ignore it.
   * Memory used by one put is about (queueSize + 1) × partSize.
   */
  partSize?: number;
  /** Parts uploaded at once for this put. Default 4. */
  queueSize?: number;
  /** Aborting the signal fails the put; no object becomes visible and a multipart upload is aborted. */
  signal?: AbortSignal;
  /** Called with the running count of body bytes accepted by the store. */
  onProgress?: (bytesStored: number) => void;
}

/**
 * A streamed upload written piece by piece. `write` copies the bytes before it resolves (the
 * caller may reuse its buffer at once) and waits while the store is busy (backpressure).
 * `finish` makes the object visible whole; until then nothing is visible. After a failed write or
 * finish, or after `abort`, the upload is cleaned up (no object, no open multipart upload) and
 * every later call rejects with that failure. An aborted `signal` fails it with E_ABORTED.
 */
export interface ObjectWriter {
  write(chunk: Buffer): Promise<void>;
  /** Complete the object; resolves with its size. */
  finish(): Promise<{ size: number }>;
  /** Give up: nothing becomes visible. Resolves once cleaned up; never rejects. */
  abort(reason?: unknown): Promise<void>;
}

/**
 * What every ObjectWriter shares: calls after a failure or after finish are refused, and the
 * first failure is cleaned up once (`cleanUp`) and becomes the error every later call rejects
 * with. Stores implement append, complete, cleanUp and check.
 */
export abstract class GuardedWriter implements ObjectWriter {
  private failing: Promise<CassetteError> | undefined;
  private finished = false;

  constructor(protected readonly key: string) {}

  /** Append a chunk; copied before this resolves. */
  protected abstract append(chunk: Buffer): Promise<void>;
  /** Make the object visible; resolves with its size. */
  protected abstract complete(): Promise<number>;
  /** Undo what was stored after a failure; resolves with the error to report. */
  protected abstract cleanUp(error: unknown): Promise<CassetteError>;
  /** Throws when the upload cannot go on (its signal was aborted, a part failed…). */
  protected abstract check(): void;
  /** What abort() without a reason fails with. */
  protected abstract abortReason(): unknown;

  write(chunk: Buffer): Promise<void> {
    return this.guarded(() => this.append(chunk));
  }

  async finish(): Promise<{ size: number }> {
    return { size: await this.guarded(() => this.complete(), true) };
  }

  async abort(reason?: unknown): Promise<void> {
    await this.fail(reason ?? this.abortReason());
  }

  /** Stop, clean up once, and give the error every caller sees from now on. */
  fail(error: unknown): Promise<CassetteError> {
    this.failing ??= this.cleanUp(error);
    return this.failing;
  }

  /** Run one step of the upload (the last one when `finishing`); any failure fails the writer. */
  protected async guarded<T>(step: () => Promise<T>, finishing = false): Promise<T> {
    try {
      if (this.failing) throw new Error('upload already failed');
      if (this.finished) throw new Error(`upload of ${this.key} already finished`);
      this.check();
      if (finishing) this.finished = true;
      return await step();
    } catch (error) {
      throw await this.fail(error);
    }
  }
}

export interface GetOptions {
  /** Only these bytes; the whole object when absent. */
  range?: ByteRange;
  signal?: AbortSignal;
  /**
   * getBuffer only: read the bytes into this buffer (a view of it is returned) rather than into a
   * new one; more bytes than it holds is an error. Restores download into reused shared memory.
   */
  into?: Buffer;
  /** getBuffer only: called with the size of each piece of the body as it arrives (progress). A store that cannot tell may not call it. */
  onProgress?: (bytes: number) => void;
}

/** The bytes of `body`, in `into` (a view of it) when given, else in a new buffer. */
export async function readBody(body: AsyncIterable<unknown>, into?: Buffer, onProgress?: (bytes: number) => void): Promise<Buffer> {
  if (!into) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      onProgress?.((chunk as Buffer).length);
    }
    return Buffer.concat(chunks);
  }
  let filled = 0;
  for await (const chunk of body) {
    const bytes = chunk as Buffer;
    if (filled + bytes.length > into.length) throw new Error(`the object sent more than the ${into.length} bytes asked for`);
    bytes.copy(into, filled);
    filled += bytes.length;
    onProgress?.(bytes.length);
  }
  return into.subarray(0, filled);
}

/**
 * A repository backend. Guarantees, for every implementation:
 * - `put` is atomic: a reader sees the whole object or nothing; a failed or aborted put leaves
 *   no object under `key` (and, for multipart stores, no open multipart upload when the store
 *   supports aborting) — unless its outcome is unknown: a put whose request reached the store
 *   and whose answer was lost (a reset, a timeout, a 5xx after retries) may have stored the
 *   object. Only an error with `refused: true` says for certain that nothing was stored; a
 *   caller that must know reads the object back (the commit record does).
 * - `get` of a missing key fails with CassetteError `E_NOT_FOUND` naming the key.
 * - `get` with a range returns exactly those bytes (clipped at the end of the object).
 * - `list` yields every object under the prefix, in lexicographic key order, paginating as needed,
 *   each with `lastModified` as the store's own clock set it (S3: LastModified; a directory: the
 *   file's mtime). `head` reports the same time. Prune compares such times only with each other,
 *   never with the local clock.
 * - `delete` of a missing key is not an error.
 * Failures other than not-found are CassetteError `E_STORAGE` with the store's message as `cause`.
 */
export interface ObjectStore {
  /** Human-readable location for messages, e.g. `s3://bucket/prefix` or `file:///backups`. */
  readonly url: string;
  /** Store a whole object from a buffer or a stream of unknown length. Returns the stored size. */
  put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<{ size: number }>;
  /** Start a streamed upload (see ObjectWriter); `put` of a stream is the same thing fed from the stream. */
  openWriter(key: string, options?: PutOptions): ObjectWriter;
  /** Read an object, or a byte range of it, as a stream. */
  get(key: string, options?: GetOptions): Promise<Readable>;
  /** Read an object, or a byte range of it, into memory. For small objects and frames. */
  getBuffer(key: string, options?: GetOptions): Promise<Buffer>;
  /** Size of an object, or undefined when it does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Remove objects; missing keys are ignored. */
  delete(keys: string[]): Promise<void>;
  /** Multipart uploads started under the prefix and never completed (empty for stores without them). */
  listPendingUploads(prefix: string): AsyncIterable<PendingUpload>;
  /** Abort one pending multipart upload. */
  abortPendingUpload(upload: PendingUpload): Promise<void>;
  /** Release sockets and handles. */
  close(): Promise<void>;
  /**
   * Bytes of an object's content when the store keeps more than that (an encrypted store: its
   * headers and tags), given its stored size; offsets within an object are of its content. Absent:
   * the stored size is the content's.
   */
  contentSize?(key: string, storedSize: number): Promise<number>;
  /**
   * Copy an object from `from` as `key` without its bytes passing through this process (S3
   * CopyObject / UploadPartCopy on the same service with the same credentials; a copied file for
   * two local directories), atomically as `put`. Resolves with the size stored, or undefined when
   * this store cannot copy from that one (another endpoint, another kind of store): the caller
   * then streams it. Absent: never.
   */
  copy?(key: string, from: CopySource, options?: { signal?: AbortSignal }): Promise<{ size: number } | undefined>;
}

/** An object to copy from, in another store (or the same one). */
export interface CopySource {
  store: ObjectStore;
  key: string;
  /** Its size, as a listing or HEAD reported it. */
  size: number;
}

/** The content bytes of an object of `storedSize` stored bytes (ObjectStore.contentSize). */
export function contentSizeOf(store: Pick<ObjectStore, 'contentSize'>, key: string, storedSize: number): Promise<number> {
  return store.contentSize ? store.contentSize(key, storedSize) : Promise.resolve(storedSize);
}

/**
 * Feed a stream into a writer: the shared body of every store's `put` of a stream. A failing
 * stream aborts the writer through `bodyFailed` (its failure is what is reported); a failing
 * writer destroys the stream.
 */
export async function writeStream(writer: ObjectWriter, body: Readable, bodyFailed: (cause: unknown) => Promise<Error>): Promise<{ size: number }> {
  // Failures of the body reach us through its iterator; this only keeps a destroyed body that is not
  // being iterated yet from crashing the process.
  body.on('error', () => undefined);
  let chunks: AsyncIterator<Buffer> | undefined;
  try {
    chunks = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    for (;;) {
      let step: IteratorResult<Buffer>;
      try {
        step = await chunks.next();
      } catch (error) {
        // bodyFailed aborts the writer and gives the error to report.
        throw await bodyFailed(error);
      }
      if (step.done) break;
      await writer.write(step.value);
    }
    return await writer.finish();
  } finally {
    if (!body.destroyed) body.destroy();
  }
}
