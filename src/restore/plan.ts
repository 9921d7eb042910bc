// Pure planning of ranged reads: which frames hold the wanted tar ranges, grouped into as few GETs as pay off.

import type { FrameRecord } from '../format/types.js';

/** A range of the uncompressed tar stream; end exclusive. */
export interface TarRange {
  start: number;
  end: number;
}

/** One ranged GET of a volume. */
export interface ReadRequest {
  volume: number;
  /** Compressed byte range in the volume object, end inclusive (HTTP style). */
  start: number;
  end: number;
  /** Frames covered, first..last inclusive. */
  firstFrame: number;
  lastFrame: number;
}

export interface PlanOptions {
  /** Merge two requests when the bytes between them are at most this. Default 1 MiB. */
  maxGapBytes?: number;
  /** Split requests above this size, at frame boundaries. Default 64 MiB. */
  maxRequestBytes?: number;
}

/** Index of the frame holding tar offset `offset` (binary search). */
function frameAt(frames: readonly FrameRecord[], offset: number): number {
  let lo = 0;
  let hi = frames.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (frames[mid]!.tarOffset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Frame numbers needed for the ranges, sorted and unique; empty ranges need nothing. */
export function framesForRanges(frames: readonly FrameRecord[], ranges: readonly TarRange[]): number[] {
  const total = frames.length === 0 ? 0 : frames.at(-1)!.tarOffset + frames.at(-1)!.tarSize;
  const spans: Array<[number, number]> = [];
  for (const range of ranges) {
    if (range.end <= range.start) continue;
    if (range.start < 0 || range.end > total) throw new RangeError(`tar range ${range.start}-${range.end} lies outside the archive (${total} bytes)`);
    spans.push([frameAt(frames, range.start), frameAt(frames, range.end - 1)]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  let next = 0;
  for (const [first, last] of spans) {
    for (let f = Math.max(first, next); f <= last; f++) out.push(f);
    next = Math.max(next, last + 1);
  }
  return out;
}

/** Group needed frames into ranged GETs per volume: merge across small gaps, split large requests. */
export function planReads(frames: readonly FrameRecord[], needed: readonly number[], options: PlanOptions = {}): ReadRequest[] {
  const maxGap = options.maxGapBytes ?? 1024 * 1024;
  const maxSize = options.maxRequestBytes ?? 64 * 1024 * 1024;
  const sorted = [...new Set(needed)].sort((a, b) => a - b);
  const requests: ReadRequest[] = [];
  let current: ReadRequest | undefined;
  for (const n of sorted) {
    const frame = frames[n];
    if (!frame) throw new RangeError(`frame ${n} does not exist`);
    const frameEnd = frame.offset + frame.size - 1;
    if (current && current.volume === frame.volume && frame.offset - current.end - 1 <= maxGap && frameEnd - current.start + 1 <= maxSize) {
      current.end = frameEnd;
      current.lastFrame = n;
      continue;
    }
    current = { volume: frame.volume, start: frame.offset, end: frameEnd, firstFrame: n, lastFrame: n };
    requests.push(current);
  }
  return requests;
}

/** Compressed bytes a plan downloads. */
export function plannedBytes(plan: readonly ReadRequest[]): number {
  return plan.reduce((sum, r) => sum + (r.end - r.start + 1), 0);
}
