// A GET body that survives dropped connections: when a response's body fails or ends early, the bytes not yet received are asked for again, so the reader sees exactly the bytes it asked for, once.

import { Readable } from 'node:stream';

/** One response to a GET: its body and which bytes of the object it carries. */
export interface ServedBody {
  body: Readable;
  /** Offset in the object of the body's first byte (0 when a server answered a range with the whole object). */
  offset: number;
  /** Bytes in the body (Content-Length), when known. */
  length?: number;
  /** Size of the whole object, when the response says (Content-Range total, or Content-Length of a whole-object answer). */
  objectSize?: number;
  /** The object's ETag, when the response has one. */
  etag?: string;
}

/** Why a ResumableBody gave up; the store turns it into the error the reader sees. */
export type BodyFailure =
  /** Every attempt in a row ended before a new byte arrived (`cause`: the last one's failure). */
  | { kind: 'dropped'; received: number; attempts: number; cause: unknown }
  /** Asking for the rest failed (after the store's own retries). */
  | { kind: 'refetch'; received: number; attempts: number; cause: unknown; dropped: unknown }
  /** The object is no longer the one the first response came from (another ETag, or If-Match failed). */
  | { kind: 'changed'; received: number; etag: string | undefined; now: string | undefined; cause?: unknown }
  /** The store answered with bytes that start after the first byte still missing. */
  | { kind: 'gap'; received: number; asked: number; offset: number }
  | { kind: 'aborted'; cause: unknown };

export interface ResumableBodyOptions {
  /** Offset of the first byte wanted. */
  start: number;
  /** Offset of the last byte wanted, inclusive; Infinity: up to the end of the object, whatever its size. */
  end: number;
  /** Ask for bytes `from`..end again, on condition that the object still has `etag` (If-Match). */
  refetch: (from: number, etag: string | undefined, signal: AbortSignal) => Promise<ServedBody>;
  /** Attempts in a row that bring no new byte before giving up; the first request counts as one. */
  maxAttempts: number;
  /** Backoff before the next attempt: random, up to min(resumeDelayMs × 2^(failures − 1), 20 s). */
  resumeDelayMs: number;
  signal?: AbortSignal;
  /** The error to fail the stream with. */
  fail: (failure: BodyFailure) => Error;
}

const MAX_DELAY_MS = 20_000;
/** Bytes buffered for a reader that does not keep up; a larger buffer pauses the connection less often. */
const HIGH_WATER_MARK = 1024 * 1024;

function ignore(): void {}

/**
 * The body of a GET as one stream, whatever happens to the connections underneath. A body that
 * errors (reset, idle timeout) or ends before its last byte is re-requested from the first byte
 * not yet received, If-Match the first response's ETag; a different ETag is reported as a
 * changed object, never mixed into the bytes. A server that answers with more than was asked
 * (the whole object for a range) is cut to the range. A connection that drops while the reader
 * has paused the stream costs no attempt: it is re-requested when the reader wants more.
 * Per chunk it only counts bytes and compares offsets.
 */
export class ResumableBody extends Readable {
  private source: Readable | undefined;
  /** Object offset of the next byte the source will give. */
  private sourceAt = 0;
  /** Object offset just past the source's last byte, when its length is known. */
  private sourceEnd = Infinity;
  /** Object offset of the next byte to deliver. */
  private position: number;
  private readonly etag: string | undefined;
  /** The source was paused because the reader's buffer is full. */
  private paused = false;
  /** All bytes were delivered. */
  private done = false;
  /** A re-request is due once the reader wants data; `requesting` while it is under way. */
  private due = false;
  private requesting = false;
  private failuresInARow = 0;
  private attempts = 1;
  private lastDrop: unknown;
  private timer: NodeJS.Timeout | undefined;
  private readonly cancel = new AbortController();

  constructor(
    first: ServedBody,
    private readonly options: ResumableBodyOptions,
  ) {
    super({ highWaterMark: HIGH_WATER_MARK });
    this.position = options.start;
    this.etag = first.etag;
    if (options.signal?.aborted) {
      first.body.on('error', ignore).destroy();
      this.destroy(options.fail({ kind: 'aborted', cause: options.signal.reason }));
      return;
    }
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.attach(first);
  }

  private get received(): number {
    return this.position - this.options.start;
  }

  private readonly onAbort = (): void => {
    this.destroy(this.options.fail({ kind: 'aborted', cause: this.options.signal?.reason }));
  };

  private attach(served: ServedBody): void {
    if (served.offset > this.position) {
      served.body.on('error', ignore).destroy();
      this.destroy(this.options.fail({ kind: 'gap', received: this.received, asked: this.position, offset: served.offset }));
      return;
    }
    if (this.etag !== undefined && served.etag !== undefined && served.etag !== this.etag) {
      served.body.on('error', ignore).destroy();
      this.destroy(this.options.fail({ kind: 'changed', received: this.received, etag: this.etag, now: served.etag }));
      return;
    }
    this.source = served.body;
    this.sourceAt = served.offset;
    this.sourceEnd = served.length === undefined ? Infinity : served.offset + served.length;
    this.paused = false;
    served.body.on('data', this.onData);
    served.body.on('end', this.onEnd);
    served.body.on('error', this.onError);
    served.body.on('close', this.onClose);
  }

  /** Stop listening to the source; destroy it unless it ended. */
  private detach(): void {
    const source = this.source;
    if (!source) return;
    this.source = undefined;
    source.off('data', this.onData);
    source.off('end', this.onEnd);
    source.off('error', this.onError);
    source.off('close', this.onClose);
    source.on('error', ignore);
    if (!source.readableEnded) source.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    const at = this.sourceAt;
    this.sourceAt = at + chunk.length;
    let bytes = chunk;
    if (at !== this.position || this.sourceAt > this.options.end + 1) {
      // More than asked for (a whole object for a range, or bytes already delivered): keep the wanted ones.
      const from = this.position - at;
      const to = Math.min(chunk.length, this.options.end + 1 - at);
      if (to <= from) {
        if (at > this.options.end) this.finish();
        return;
      }
      bytes = chunk.subarray(from, to);
    }
    this.position += bytes.length;
    this.failuresInARow = 0;
    const more = this.push(bytes);
    if (this.position > this.options.end) this.finish();
    else if (!more && this.source) {
      this.paused = true;
      this.source.pause();
    }
  };

  private readonly onEnd = (): void => {
    if (this.done) return this.detach();
    // A complete response of an object whose size was never given: that was all of it.
    if (this.options.end === Infinity && this.sourceAt === this.sourceEnd) return this.finish();
    this.dropped(new Error('the response ended before its last byte'));
  };

  private readonly onError = (error: unknown): void => {
    if (this.done) return this.detach();
    this.dropped(error);
  };

  private readonly onClose = (): void => {
    if (this.done) return this.detach();
    this.dropped(new Error('the connection closed before the body ended'));
  };

  /** Every wanted byte was delivered: end the stream, and the source unless it ends by itself right now. */
  private finish(): void {
    if (this.done || this.destroyed) return;
    this.done = true;
    // A source with bytes beyond the range is cut off; one that is at its end is left to emit
    // 'end', so that its connection goes back to the pool.
    if (this.sourceEnd !== this.options.end + 1 || this.sourceAt !== this.sourceEnd) this.detach();
    this.push(null);
  }

  private dropped(cause: unknown): void {
    if (this.destroyed) return;
    const wasPaused = this.paused;
    this.detach();
    if (this.options.signal?.aborted) return this.onAbort();
    this.lastDrop = cause;
    // A connection closed while the reader was not reading (an idle timeout, a server closing idle
    // connections) is not a failure of the store: ask again when the reader wants more.
    if (wasPaused) {
      this.due = true;
      return;
    }
    this.failuresInARow++;
    if (this.failuresInARow >= this.options.maxAttempts) {
      this.destroy(this.options.fail({ kind: 'dropped', received: this.received, attempts: this.attempts, cause }));
      return;
    }
    const delay = Math.floor(Math.random() * Math.min(this.options.resumeDelayMs * 2 ** (this.failuresInARow - 1), MAX_DELAY_MS));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = true;
      if (this.readableLength < this.readableHighWaterMark) this.refetch();
    }, delay);
  }

  private refetch(): void {
    if (!this.due || this.requesting || this.destroyed) return;
    this.due = false;
    this.requesting = true;
    this.attempts++;
    this.options.refetch(this.position, this.etag, this.cancel.signal).then(
      (served) => {
        this.requesting = false;
        if (this.destroyed) {
          served.body.on('error', ignore).destroy();
          return;
        }
        this.attach(served);
      },
      (error: unknown) => {
        this.requesting = false;
        if (this.destroyed) return;
        if (this.options.signal?.aborted) return this.onAbort();
        this.destroy(this.options.fail({ kind: 'refetch', received: this.received, attempts: this.attempts, cause: error, dropped: this.lastDrop }));
      },
    );
  }

  override _read(): void {
    if (this.source) {
      if (this.paused) {
        this.paused = false;
        this.source.resume();
      }
    } else if (this.due) {
      this.refetch();
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.cancel.abort();
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.detach();
    callback(error);
  }
}
