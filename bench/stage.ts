// Cassette's own pipeline stages in isolation, run as a child process by the bench (so /usr/bin/time sees only this stage):
//   node dist/bench/stage.js pack DIR...              walk + prefetch + packFrames, frames consumed and dropped
//   node dist/bench/stage.js compress TARFILE         FramePool.compress over 4 MiB chunks of a tar file
//   node dist/bench/stage.js decompress TARFILE       FramePool.decompress of the same frames into shared memory (compression not counted)
//   node dist/bench/stage.js put FILE s3://b/key      S3Store.put of a file with the backup's part size and queue depth
//   node dist/bench/stage.js get s3://b/key           S3Store.get of a whole object, consumed and dropped
// Prints one JSON line: {seconds, cpuS, bytes, outBytes} for the measured phase (process-wide CPU, all threads).

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import { packFrames } from '../src/backup/pack.js';
import { planPartSize, uploadQueueSize } from '../src/backup/part-size.js';
import { prefetch } from '../src/backup/prefetch.js';
import { matchParent } from '../src/backup/parent.js';
import { walk } from '../src/backup/walk.js';
import { DEFAULTS } from '../src/defaults.js';
import { S3Store } from '../src/store/s3-store.js';
import { FramePool, mapOrdered } from '../src/zstd/pool.js';

const [op, ...args] = process.argv.slice(2);

function chunksOf(file: string, size: number): Iterable<Buffer> {
  const fd = fsSync.openSync(file, 'r');
  return {
    *[Symbol.iterator]() {
      try {
        for (;;) {
          // A fresh, unpooled buffer per frame: the pool transfers it to a worker without a copy.
          const buffer = Buffer.allocUnsafeSlow(size);
          let filled = 0;
          while (filled < size) {
            const n = fsSync.readSync(fd, buffer, filled, size - filled, null);
            if (n === 0) break;
            filled += n;
          }
          if (filled === 0) return;
          yield filled === size ? buffer : buffer.subarray(0, filled);
          if (filled < size) return;
        }
      } finally {
        fsSync.closeSync(fd);
      }
    },
  };
}

function parseS3(url: string): { bucket: string; key: string } {
  const rest = url.replace(/^s3:\/\//, '');
  const slash = rest.indexOf('/');
  return { bucket: rest.slice(0, slash), key: rest.slice(slash + 1) };
}

async function measure(fn: () => Promise<{ bytes: number; outBytes?: number }>): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ op, seconds, cpuS: (cpu.user + cpu.system) / 1e6, ...result }) + '\n');
}

const threads = DEFAULTS.threads;
const inFlight = threads + DEFAULTS.framesQueued;

switch (op) {
  case 'pack':
    await measure(async () => {
      let bytes = 0;
      for (const root of args) {
        const frames = packFrames(prefetch(matchParent(walk({ root }), undefined, false), { maxFileSize: DEFAULTS.prefetchFileSize }), {
          frameSize: DEFAULTS.frameSize,
          smallFrames: DEFAULTS.smallFrames,
          chunks: DEFAULTS.chunks,
          onWarning() {},
        });
        for await (const frame of frames) if (frame.kind === 'new') bytes += frame.data.length;
      }
      return { bytes };
    });
    break;
  case 'compress': {
    const pool = new FramePool({ threads, level: DEFAULTS.compressionLevel });
    await measure(async () => {
      let bytes = 0;
      let outBytes = 0;
      const chunks = (function* () {
        for (const chunk of chunksOf(args[0]!, DEFAULTS.frameSize)) {
          bytes += chunk.length;
          yield chunk;
        }
      })();
      for await (const frame of mapOrdered(chunks, (chunk) => pool.compress(chunk), inFlight)) outBytes += frame.length;
      return { bytes, outBytes };
    });
    await pool.close();
    break;
  }
  case 'decompress': {
    // Compress in batches (not measured), then time the decompression of each batch.
    const pool = new FramePool({ threads, level: DEFAULTS.compressionLevel });
    let seconds = 0;
    let cpuS = 0;
    let bytes = 0;
    let batch: Array<{ frame: Buffer; size: number }> = [];
    const flush = async (): Promise<void> => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      // Into shared memory, given back once counted: as the restore does.
      for await (const out of mapOrdered(batch, (b) => pool.decompress(b.frame, b.size, { shared: true }), inFlight)) {
        bytes += out.length;
        pool.release(out);
      }
      seconds += (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      cpuS += (cpu.user + cpu.system) / 1e6;
      batch = [];
    };
    for await (const item of mapOrdered(chunksOf(args[0]!, DEFAULTS.frameSize), async (chunk) => ({ size: chunk.length, frame: await pool.compress(chunk) }), inFlight)) {
      batch.push(item);
      if (batch.length >= 64) await flush();
    }
    await flush();
    await pool.close();
    process.stdout.write(JSON.stringify({ op, seconds, cpuS, bytes }) + '\n');
    break;
  }
  case 'put': {
    const { bucket, key } = parseS3(args[1]!);
    const store = new S3Store({ bucket, prefix: '', endpoint: process.env.AWS_ENDPOINT_URL });
    const size = (await fs.stat(args[0]!)).size;
    const partSize = planPartSize(size);
    await measure(async () => {
      const result = await store.put(key, fsSync.createReadStream(args[0]!, { highWaterMark: 1 << 20 }), { partSize, queueSize: uploadQueueSize(partSize) });
      return { bytes: result.size };
    });
    await store.close();
    break;
  }
  case 'get': {
    const { bucket, key } = parseS3(args[0]!);
    const store = new S3Store({ bucket, prefix: '', endpoint: process.env.AWS_ENDPOINT_URL });
    await measure(async () => {
      let bytes = 0;
      for await (const chunk of await store.get(key)) bytes += (chunk as Buffer).length;
      return { bytes };
    });
    await store.close();
    break;
  }
  default:
    process.stderr.write(`unknown stage ${op}\n`);
    process.exit(2);
}
