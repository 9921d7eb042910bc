// `cassette bench`: measures the user's own disks, CPU and storage, and recommends settings.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Readable } from 'node:stream';
import { packFrames } from '../backup/pack.js';
import { prefetch } from '../backup/prefetch.js';
import { matchParent } from '../backup/parent.js';
import { walk } from '../backup/walk.js';
import { DEFAULTS } from '../defaults.js';
import type { ObjectStore } from '../store/object-store.js';
import { FramePool, mapOrdered } from '../zstd/pool.js';

const MiB = 1024 * 1024;

export interface BenchOptions {
  store: ObjectStore;
  /** Directory to read (and to take compression samples from); none: read speed is skipped and samples are synthetic. */
  path?: string;
  /** Bytes read from the path at most. */
  readLimit: number;
  /** Bytes per upload/download trial. */
  transferBytes: number;
  levels: number[];
  partSizes: number[];
  concurrencies: number[];
  onResult?: (result: BenchResult) => void;
}

export interface BenchResult {
  test: 'read' | 'compress' | 'upload' | 'download';
  settings: Record<string, number | string>;
  bytes: number;
  seconds: number;
  /** Megabytes (10^6) per second of input. */
  mbPerSecond: number;
  /** Compressed / input, for compression trials. */
  ratio?: number;
}

export interface BenchReport {
  results: BenchResult[];
  recommendation: { compressionLevel: number; threads: number; partSize: number; uploadConcurrency: number; reasons: string[] };
}

function result(test: BenchResult['test'], settings: BenchResult['settings'], bytes: number, started: bigint, ratio?: number): BenchResult {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { test, settings, bytes, seconds, mbPerSecond: bytes / 1e6 / Math.max(seconds, 1e-9), ...(ratio !== undefined ? { ratio } : {}) };
}

/** Tar frames of the path (up to limit bytes), or synthetic mixed data. */
async function sampleFrames(options: BenchOptions, results: BenchResult[]): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  let total = 0;
  if (options.path) {
    const started = process.hrtime.bigint();
    for await (const packed of packFrames(prefetch(matchParent(walk({ root: options.path, oneFileSystem: true }), undefined, false), { maxFileSize: DEFAULTS.prefetchFileSize }), {
      frameSize: DEFAULTS.frameSize,
      smallFrames: DEFAULTS.smallFrames,
      chunks: DEFAULTS.chunks,
      onWarning: () => undefined,
    })) {
      if (packed.kind !== 'new') continue;
      const frame = packed.data;
      frames.push(frame);
      total += frame.length;
      if (total >= options.readLimit) break;
    }
    const read = result('read', { path: options.path }, total, started);
    results.push(read);
    options.onResult?.(read);
  } else {
    const text = Buffer.from('tier.count = 4\nswitch.0 = 10.0.0.2\n'.repeat(64 * 1024));
    for (let i = 0; total < Math.min(options.readLimit, 256 * MiB); i++) {
      const frame = i % 3 === 0 ? randomBytes(DEFAULTS.frameSize) : i % 3 === 1 ? Buffer.alloc(DEFAULTS.frameSize) : text.subarray(0, DEFAULTS.frameSize);
      frames.push(frame);
      total += frame.length;
    }
  }
  return frames;
}

export async function runUserBench(options: BenchOptions): Promise<BenchReport> {
  const results: BenchResult[] = [];
  const push = (r: BenchResult): void => {
    results.push(r);
    options.onResult?.(r);
  };
  const frames = await sampleFrames(options, results);
  const sampleBytes = frames.reduce((s, f) => s + f.length, 0);
  const cores = os.availableParallelism();
  const threadCounts = [...new Set([1, cores])];
  for (const level of options.levels) {
    for (const threads of threadCounts) {
      const pool = new FramePool({ threads, level });
      try {
        await pool.compress(Buffer.alloc(1024)); // start the workers before timing
        const started = process.hrtime.bigint();
        let out = 0;
        for await (const c of mapOrdered(
          frames.map((f) => Buffer.from(f)),
          (f) => pool.compress(f),
          threads * 2,
        ))
          out += c.length;
        push(result('compress', { level, threads }, sampleBytes, started, out / sampleBytes));
      } finally {
        await pool.close();
      }
    }
  }
  const payload = Buffer.concat(frames).subarray(0, options.transferBytes);
  const prefix = `bench-tmp/${Date.now()}-${randomBytes(3).toString('hex')}`;
  const keys: string[] = [];
  try {
    for (const partSize of options.partSizes) {
      for (const queueSize of options.concurrencies) {
        const key = `${prefix}/p${partSize}-q${queueSize}`;
        keys.push(key);
        let started = process.hrtime.bigint();
        const body = Readable.from(
          (function* () {
            for (let i = 0; i < payload.length; i += MiB) yield payload.subarray(i, i + MiB);
          })(),
        );
        await options.store.put(key, body, { partSize, queueSize });
        push(result('upload', { partSize: `${partSize / MiB} MiB`, concurrency: queueSize }, payload.length, started));
        started = process.hrtime.bigint();
        const chunk = partSize;
        const ranges = Array.from({ length: Math.ceil(payload.length / chunk) }, (_, i) => ({ start: i * chunk, end: Math.min(payload.length, (i + 1) * chunk) - 1 }));
        let got = 0;
        for await (const part of mapOrdered(ranges, (range) => options.store.getBuffer(key, { range }), queueSize)) got += part.length;
        push(result('download', { rangeSize: `${chunk / MiB} MiB`, concurrency: queueSize }, got, started));
      }
    }
  } finally {
    await options.store.delete(keys).catch(() => undefined);
  }
  return { results, recommendation: recommend(results, cores) };
}

/** The level whose compression keeps up with the upload, the fastest part size and concurrency. */
export function recommend(results: BenchResult[], cores: number): BenchReport['recommendation'] {
  const reasons: string[] = [];
  const uploads = results.filter((r) => r.test === 'upload').sort((a, b) => b.mbPerSecond - a.mbPerSecond);
  const bestUpload = uploads[0];
  const partSize = bestUpload ? Number(String(bestUpload.settings.partSize).split(' ')[0]) * MiB : DEFAULTS.minPartSize;
  const uploadConcurrency = bestUpload ? Number(bestUpload.settings.concurrency) : 4;
  if (bestUpload)
    reasons.push(`uploads were fastest with ${bestUpload.settings.partSize} parts, ${bestUpload.settings.concurrency} at once (${bestUpload.mbPerSecond.toFixed(0)} MB/s)`);
  // Per level, the thread count that measured fastest: more threads are not faster when the other cores are busy or the sample is small (issue 17: it recommended 2 after measuring 1 faster).
  const compress = fastestPerLevel(results.filter((r) => r.test === 'compress'));
  // Compressed output must reach the store as fast as it is made: the best ratio whose output rate the upload sustains.
  const uploadRate = bestUpload?.mbPerSecond ?? Infinity;
  const fitting = compress.filter((r) => r.mbPerSecond * (r.ratio ?? 1) <= uploadRate || r.mbPerSecond >= uploadRate);
  const pick = (fitting.length ? fitting : compress).sort((a, b) => (a.ratio ?? 1) - (b.ratio ?? 1))[0];
  const level = pick ? Number(pick.settings.level) : DEFAULTS.compressionLevel;
  const threads = pick ? Number(pick.settings.threads) : cores;
  if (pick) {
    reasons.push(
      `level ${level} compresses at ${pick.mbPerSecond.toFixed(0)} MB/s on ${threads === 1 ? '1 thread' : `${threads} threads`} to ${((pick.ratio ?? 1) * 100).toFixed(1)}% of the input`,
    );
    const other = results.find((r) => r.test === 'compress' && Number(r.settings.level) === level && Number(r.settings.threads) !== threads);
    if (other && threads < Number(other.settings.threads))
      reasons.push(
        `${other.settings.threads} threads measured slower (${other.mbPerSecond.toFixed(0)} MB/s): other processes are using the cores, or the sample is too small to spread`,
      );
  }
  const read = results.find((r) => r.test === 'read');
  if (read)
    reasons.push(`reading the path runs at ${read.mbPerSecond.toFixed(0)} MB/s${pick && read.mbPerSecond < pick.mbPerSecond ? ': the disk, not compression, bounds backups' : ''}`);
  return { compressionLevel: level, threads, partSize, uploadConcurrency, reasons };
}

/** Of the compression results, the fastest one of each level. */
function fastestPerLevel(compress: readonly BenchResult[]): BenchResult[] {
  const best = new Map<string, BenchResult>();
  for (const r of compress) {
    const level = String(r.settings.level);
    const seen = best.get(level);
    if (!seen || r.mbPerSecond > seen.mbPerSecond) best.set(level, r);
  }
  return [...best.values()];
}
