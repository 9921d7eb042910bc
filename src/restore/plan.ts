// Pure planning of ranged reads: which frames hold the wanted tar ranges, grouped into as few GETs as pay off. No I/O.
//
// Algorithm:
//   frames needed   = for each non-empty tar range, binary-search the frames holding its first and
//                     last byte; mark [first, last] in a difference array; prefix-sum it
//                     (O(R log F + F) for R ranges over F frames, whatever the overlaps)
//   read requests   = walk the needed frames in order; extend the current GET with the next frame
//                     when it is in the same volume, the compressed gap is ≤ maxGapBytes and the
//                     GET stays ≤ maxRequestBytes; otherwise start a new GET
// A merged GET also downloads the frames in its gaps: `firstFrame..lastFrame` lists them all.

import { DEFAULTS } from '../defaults.js';
import type { FrameRecord } from '../format/types.js';

/** A range of the uncompressed tar stream; end exclusive. */
export interface TarRange {
  start: number;
  end: number;
}

/** One ranged GET of a volume. */
export interface ReadRequest {
  volume: number;
  /** Compressed byte range in the volume object, inclusive end (HTTP style). */
  start: number;
  end: number;
  /** Frames covered, first..last inclusive (frame numbers). */
  firstFrame: number;
  lastFrame: number;
}

export interface PlanOptions {
  /** Merge two requests when the compressed bytes between them are at most this (default 1 MiB: cheaper to download than another request's latency). 0 merges only adjacent frames; Infinity merges a whole volume. */
  maxGapBytes?: number;
  /** Split requests larger than this into several (for parallel fetching and bounded memory; default DEFAULTS.restoreRequestBytes, 8 MiB); splits happen only at frame boundaries, so a single frame larger than this is still one request. */
  maxRequestBytes?: number;
}

// The defaults every reader gets, also those that pass no options (database restore did, and so
// fetched 4 × 64 MiB at once: 421 MiB peak RSS).
const DEFAULT_MAX_GAP_BYTES = DEFAULTS.restoreMaxGapBytes;
const DEFAULT_MAX_REQUEST_BYTES = DEFAULTS.restoreRequestBytes;

/** Checks the preconditions the binary search relies on: frame i is numbered i and starts where frame i-1 ends. */
function checkFrameTable(frames: readonly FrameRecord[]): void {
  let tarOffset = frames.length > 0 ? frames[0]!.tarOffset : 0;
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i]!;
    if (frame.frame !== i) throw new RangeError(`frame table is not sorted: position ${i} holds frame ${frame.frame}`);
    if (frame.tarOffset !== tarOffset || !(frame.tarSize >= 0)) {
      throw new RangeError(`frame table is not contiguous: frame ${i} covers tar bytes ${frame.tarOffset}+${frame.tarSize}, expected it to start at ${tarOffset}`);
    }
    tarOffset += frame.tarSize;
  }
}

/** Index of the last frame whose tar range starts at or before `offset` (skips empty frames). */
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

/**
 * Frames needed for the given tar ranges (ranges may be unsorted, overlapping, empty — empty
 * ranges need no frame), as sorted, unique frame numbers. Frames must be sorted by frame number
 * and contiguous; throws a RangeError naming the bad range if a range lies outside the archive.
 */
export function framesForRanges(frames: readonly FrameRecord[], ranges: readonly TarRange[]): number[] {
  checkFrameTable(frames);
  const archiveStart = frames.length > 0 ? frames[0]!.tarOffset : 0;
  const archiveEnd = frames.length > 0 ? frames.at(-1)!.tarOffset + frames.at(-1)!.tarSize : 0;
  // cover[f] - cover[f-1] = ranges starting at frame f minus ranges that ended before it.
  const cover = new Int32Array(frames.length + 1);
  let any = false;
  for (const range of ranges) {
    const { start, end } = range;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
      throw new RangeError(`tar range ${start}-${end} is not a pair of integer offsets`);
    }
    if (end < start) throw new RangeError(`tar range ${start}-${end} ends before it starts`);
    if (start < archiveStart || end > archiveEnd) {
      throw new RangeError(`tar range ${start}-${end} lies outside the archive (tar bytes ${archiveStart}-${archiveEnd})`);
    }
    if (end === start) continue;
    cover[frameAt(frames, start)]!++;
    cover[frameAt(frames, end - 1) + 1]!--;
    any = true;
  }
  const needed: number[] = [];
  if (!any) return needed;
  let depth = 0;
  for (let f = 0; f < frames.length; f++) {
    depth += cover[f]!;
    if (depth > 0 && frames[f]!.tarSize > 0) needed.push(f);
  }
  return needed;
}

function checkLimit(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    throw new RangeError(`Expected \`${name}\` to be a number from ${min} and up, got ${String(value)}`);
  }
  return value;
}

/**
 * Group needed frames into ranged GETs per object, merging across gaps ≤ maxGapBytes (never
 * across objects, and only forward in an object), splitting above maxRequestBytes. Sorted by frame
 * number (tar order). `needed` may be
 * unsorted and hold duplicates; a frame number outside the table is a RangeError.
 */
export function planReads(frames: readonly FrameRecord[], needed: readonly number[], options: PlanOptions = {}): ReadRequest[] {
  const maxGap = checkLimit('maxGapBytes', options.maxGapBytes, DEFAULT_MAX_GAP_BYTES, 0);
  const maxSize = checkLimit('maxRequestBytes', options.maxRequestBytes, DEFAULT_MAX_REQUEST_BYTES, 1);
  // Sort and de-duplicate by marking: O(F + N), no comparison sort.
  const wanted = new Uint8Array(frames.length);
  for (const n of needed) {
    if (!Number.isInteger(n) || n < 0 || n >= frames.length) throw new RangeError(`frame ${n} does not exist (the archive has ${frames.length} frames)`);
    if (frames[n]!.frame !== n) throw new RangeError(`frame table is not sorted: position ${n} holds frame ${frames[n]!.frame}`);
    wanted[n] = 1;
  }
  const requests: ReadRequest[] = [];
  let current: ReadRequest | undefined;
  for (let n = 0; n < frames.length; n++) {
    const frame = frames[n]!;
    if (current !== undefined && frame.volume !== current.volume) current = undefined;
    if (wanted[n] === 0) continue;
    const frameEnd = frame.offset + frame.size - 1;
    if (current !== undefined) {
      const gap = frame.offset - (current.end + 1);
      if (gap >= 0 && gap <= maxGap && frameEnd - current.start + 1 <= maxSize) {
        current.end = frameEnd;
        current.lastFrame = n;
        continue;
      }
    }
    current = { volume: frame.volume, start: frame.offset, end: frameEnd, firstFrame: n, lastFrame: n };
    requests.push(current);
  }
  // In frame order, which is tar order: in version 2 consecutive frames may lie in different objects.
  return requests.sort((a, b) => a.firstFrame - b.firstFrame);
}

/** Bytes downloaded by a plan. */
export function plannedBytes(plan: readonly ReadRequest[]): number {
  let total = 0;
  for (const request of plan) total += request.end - request.start + 1;
  return total;
}
