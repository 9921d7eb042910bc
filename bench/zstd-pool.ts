// FramePool throughput: 512 MiB of mixed data (zeros, random bytes, repeated text) in 4 MiB frames, level 3,
// compressed and then decompressed with 1 and 2 threads, with the main thread's event-loop delay.
//   npx tsc -p tsconfig.json && node dist/bench/zstd-pool.js [totalMiB] [threads,...] [checksum on|off|both]
// Prints one JSON line per run.

import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { FramePool, mapOrdered } from '../src/zstd/pool.js';

const MiB = 1024 * 1024;
const frameSize = 4 * MiB;
const totalMiB = Number(process.argv[2] ?? 512);
const threadCounts = (process.argv[3] ?? '1,2').split(',').map(Number);
const checksumModes = { on: [true], off: [false], both: [true, false] }[process.argv[4] ?? 'on'] ?? [true];

/** Frame `i` of the data set: a mix of zeros, random bytes and repeated text inside every frame, varying by frame. */
function makeFrame(i: number): Buffer {
  const frame = Buffer.allocUnsafeSlow(frameSize);
  const text = Buffer.from(`frame ${i}: INSERT INTO events VALUES (${i}, 'control-node', 'status ok', ${i * 7919});\n`);
  const third = Math.floor(frameSize / 3);
  frame.fill(0, 0, third);
  randomBytes(third).copy(frame, third);
  frame.fill(text, 2 * third);
  return frame;
}

const frameCount = Math.ceil((totalMiB * MiB) / frameSize);
const dataset = Array.from({ length: frameCount }, (_, i) => makeFrame(i));
const bytes = frameCount * frameSize;

async function run(threads: number, checksum: boolean): Promise<void> {
  const pool = new FramePool({ threads, level: 3, checksum });
  try {
    await pool.decompress(await pool.compress(Buffer.alloc(1024)), 1024); // start the workers before timing
    const delay = monitorEventLoopDelay({ resolution: 1 });
    const inFlight = threads * 2;

    delay.enable();
    let start = performance.now();
    const frames: Buffer[] = [];
    // Copies, made outside the timed region would double memory; a copy costs ~1 ms per 4 MiB, a few % here.
    for await (const frame of mapOrdered(dataset, (data) => pool.compress(Buffer.from(data)), inFlight)) frames.push(frame);
    const compressMs = performance.now() - start;
    delay.disable();
    const compressDelay = { maxMs: delay.max / 1e6, p99Ms: delay.percentile(99) / 1e6 };
    const stored = frames.reduce((sum, frame) => sum + frame.length, 0);

    delay.reset();
    delay.enable();
    start = performance.now();
    let restored = 0;
    for await (const data of mapOrdered(frames, (frame) => pool.decompress(frame, frameSize), inFlight)) restored += data.length;
    const decompressMs = performance.now() - start;
    delay.disable();
    if (restored !== bytes) throw new Error(`restored ${restored} bytes, expected ${bytes}`);

    console.log(
      JSON.stringify({
        threads,
        level: 3,
        checksum,
        inputMiB: bytes / MiB,
        ratio: +(bytes / stored).toFixed(3),
        compressMBps: +(bytes / 1e6 / (compressMs / 1000)).toFixed(1),
        decompressMBps: +(bytes / 1e6 / (decompressMs / 1000)).toFixed(1),
        eventLoopMaxDelayMs: { compress: +compressDelay.maxMs.toFixed(1), decompress: +(delay.max / 1e6).toFixed(1) },
        eventLoopP99DelayMs: { compress: +compressDelay.p99Ms.toFixed(1), decompress: +(delay.percentile(99) / 1e6).toFixed(1) },
      }),
    );
  } finally {
    await pool.close();
  }
}

for (const threads of threadCounts) {
  for (const checksum of checksumModes) await run(threads, checksum);
}
