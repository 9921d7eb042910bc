// Bandwidth limits (--limit-upload, --limit-download): one token bucket per direction shared by every transfer of the process, and the streams that draw from it.

import type { Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { DEFAULTS } from '../defaults.js';

const KiB = 1024;
/** Largest slice of a limited transfer: a socket write or read of this size is already efficient. */
const MAX_SLICE = 64 * KiB;

/**
 * A token bucket that never refuses: `reserve(n)` takes n bytes' worth at once and says how long
 * to wait before sending them. A taker that asks for more than the bucket holds (a part larger
 * than the burst) is not refused or kept waiting for a full bucket, which could never come: it
 * puts the bucket in debt and waits until the debt is paid, and later takers wait behind it, in
 * the order they reserved. Over any span the bytes let through are at most burst + rate × span.
 */
export class TokenBucket {
  /** Bytes a transfer should reserve at a time (see DEFAULTS.bandwidthSliceSeconds). */
  readonly slice: number;
  private readonly burst: number;
  private tokens: number;
  private at: number;

  constructor(
    /** Bytes per second; a positive number. */
    readonly rate: number,
    /** Milliseconds on a monotonic clock; injectable for tests. */
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`Expected the rate to be a positive number of bytes per second, got ${rate}`);
    this.slice = Math.max(1, Math.min(MAX_SLICE, Math.floor(rate * DEFAULTS.bandwidthSliceSeconds)));
    this.burst = Math.max(this.slice, rate * DEFAULTS.bandwidthBurstSeconds);
    this.tokens = this.burst;
    this.at = now();
  }

  /** Takes `bytes` bytes' worth; returns the milliseconds to wait before they may go (0: at once). */
  reserve(bytes: number): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rate;
  }
}

/** The buckets of a process: each absent direction is unlimited. */
export interface BandwidthLimits {
  upload?: TokenBucket;
  download?: TokenBucket;
}

const shared = new Map<string, TokenBucket>();

/**
 * The process's buckets for limits in KiB/s (restic's unit): every store opened with the same
 * limit in the same direction draws from the same bucket, so all concurrent requests together
 * stay under it.
 */
export function processLimits(limits: { uploadKiBps?: number; downloadKiBps?: number }): BandwidthLimits {
  const bucket = (direction: string, kibps: number | undefined): TokenBucket | undefined => {
    if (kibps === undefined) return undefined;
    const key = `${direction} ${kibps}`;
    let found = shared.get(key);
    if (!found) shared.set(key, (found = new TokenBucket(kibps * KiB)));
    return found;
  };
  return { upload: bucket('upload', limits.uploadKiBps), download: bucket('download', limits.downloadKiBps) };
}

/** Waits until `bytes` bytes' worth has been reserved in `bucket`, a slice at a time. */
export async function waitForBytes(bucket: TokenBucket, bytes: number): Promise<void> {
  for (let left = bytes; left > 0; left -= bucket.slice) {
    const wait = bucket.reserve(Math.min(left, bucket.slice));
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/**
 * A pass-through stream that lets bytes through at the bucket's pace, a slice at a time. The
 * socket, when given, is the connection the bytes travel on: while the stream holds bytes back,
 * it re-arms that socket's idle timer (the HTTP client's socketTimeout, see s3-store.ts) at
 * least every third of its duration, so a wait the limit causes is never taken for a dead
 * connection; a real stall is still caught one timeout after the wait ends.
 */
export class Throttle extends Transform {
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** Set while a pushed slice waits for its reader: a slice is reserved only once the one before it is wanted. */
  private wanted: (() => void) | undefined;

  constructor(
    private readonly bucket: TokenBucket,
    /** The connection's socket, once it has one (an upload learns it when its request pipes it); absent for transfers without an idle timer. */
    private readonly socket?: () => Socket | null | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pass(chunk).then(() => {
      callback();
    }, callback);
  }

  private async pass(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; at += this.bucket.slice) {
      const piece = chunk.subarray(at, at + this.bucket.slice);
      await this.hold(this.bucket.reserve(piece.length));
      if (this.destroyed) return;
      if (!this.push(piece)) await new Promise<void>((resolve) => (this.wanted = resolve));
    }
  }

  override _read(size: number): void {
    const wanted = this.wanted;
    this.wanted = undefined;
    wanted?.();
    super._read(size);
  }

  /** Re-arms the socket's idle timer, if it has one: Node restarts it from now. */
  private keepAlive(): void {
    const socket = this.socket?.();
    if (socket && !socket.destroyed && socket.timeout) socket.setTimeout(socket.timeout);
  }

  /**
   * How often a wait re-arms the idle timer: a third of the timer, so it never runs out. A socket
   * not known yet (the request has not piped its body) is looked for every 25 ms, under the
   * shortest --timeout (0.1 s). Without a socket there is nothing to re-arm.
   */
  private keepAliveInterval(): number {
    if (!this.socket) return Infinity;
    const timeout = this.socket()?.timeout;
    return timeout ? Math.max(5, timeout / 3) : 25;
  }

  private hold(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    const end = performance.now() + ms;
    return new Promise((resolve) => {
      this.wake = resolve;
      const step = (): void => {
        this.keepAlive();
        const left = end - performance.now();
        if (left <= 0 || this.destroyed) {
          this.wake = undefined;
          resolve();
          return;
        }
        this.timer = setTimeout(step, Math.min(left, this.keepAliveInterval()));
      };
      step();
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.wake?.();
    this.wanted?.();
    callback(error);
  }
}
