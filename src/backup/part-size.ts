// Pure planning of multipart part sizes and volume rollover, so that no upload ever needs more than 10,000 parts.

import { DEFAULTS } from '../defaults.js';

const MiB = 1024 * 1024;

export interface PartPlanOptions {
  /** Smallest part (S3 minimum is 5 MiB). Default DEFAULTS.minPartSize. */
  minPartSize?: number;
  /** Largest part planned; bigger streams roll over to more volumes. Default DEFAULTS.maxPartSize. */
  maxPartSize?: number;
  /** Parts one upload may have. Default 10,000. */
  maxParts?: number;
}

/**
 * Part size for the first volume of a stream whose size is estimated at `sizeHint` bytes
 * (undefined when unknown). Leaves 10% of the parts spare for an estimate that was low,
 * rounds up to whole MiB, and stays within [minPartSize, maxPartSize].
 */
export function planPartSize(sizeHint: number | undefined, options: PartPlanOptions = {}): number {
  const min = options.minPartSize ?? DEFAULTS.minPartSize;
  const max = Math.max(min, options.maxPartSize ?? DEFAULTS.maxPartSize);
  const maxParts = options.maxParts ?? DEFAULTS.maxParts;
  if (sizeHint === undefined || !Number.isFinite(sizeHint) || sizeHint <= 0) return min;
  const wanted = Math.ceil(sizeHint / (maxParts * 0.9) / MiB) * MiB;
  return Math.min(max, Math.max(min, wanted));
}

/** Part size for the volume after one that filled up: the stream was bigger than planned, so go straight to the largest part. */
export function nextVolumePartSize(previous: number, options: PartPlanOptions = {}): number {
  return Math.max(previous, options.maxPartSize ?? DEFAULTS.maxPartSize);
}

/** Bytes one volume may hold with this part size: every part full, at most maxParts parts. */
export function volumeCapacity(partSize: number, options: PartPlanOptions = {}): number {
  // Room for encryption (crypto/age.ts): a 16-byte tag per 64 KiB chunk and a header of at most 64 KiB.
  return Math.floor((partSize * (options.maxParts ?? DEFAULTS.maxParts) * 65536) / 65552) - 65536;
}

/**
 * Parts in flight for one of `uploads` concurrent uploads, so that together their
 * uploads × (queue + 1) × partSize buffers stay within the memory budget; between 1 and 4.
 */
export function uploadQueueSize(partSize: number, uploads = 1, budget: number = DEFAULTS.uploadMemoryBudget): number {
  return Math.min(4, Math.max(1, Math.floor(budget / Math.max(1, uploads) / partSize) - 1));
}

/**
 * Simulates writing a stream of `total` bytes in frames of at most `frameSize` bytes, rolling
 * over whenever the next frame would not fit: returns the part size and size of each volume.
 * Used by tests and by `cassette bench` to show the plan; the uploader applies the same rule.
 */
export function simulateVolumes(
  total: number,
  sizeHint: number | undefined,
  frameSize: number,
  reserve: number,
  options: PartPlanOptions = {},
): Array<{ partSize: number; bytes: number; parts: number }> {
  const volumes: Array<{ partSize: number; bytes: number; parts: number }> = [];
  let partSize = planPartSize(sizeHint, options);
  let remaining = total;
  for (;;) {
    const capacity = volumeCapacity(partSize, options) - reserve;
    // Whole frames only: a volume never splits a frame.
    const framesFit = Math.floor(capacity / frameSize);
    const bytes = Math.min(remaining, framesFit * frameSize);
    const stored = bytes + reserve;
    volumes.push({ partSize, bytes, parts: Math.max(1, Math.ceil(stored / partSize)) });
    remaining -= bytes;
    if (remaining <= 0) return volumes;
    partSize = nextVolumePartSize(partSize, options);
  }
}
