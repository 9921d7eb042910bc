// A FramePool worker thread: compresses and decompresses independent zstd frames with one zstd context of each kind.
// pool.ts starts it (through worker-thread.ts); the messages are in pool-protocol.ts. It imports nothing of
// ours at runtime, only types (worker-thread.ts relies on that).

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type * as Zstd from 'zstd-napi';
import type * as Binding from 'zstd-napi/binding.js';
import type { FromWorker, PoolWorkerData, ToWorker } from './pool-protocol.js';

if (!parentPort) throw new Error('pool-worker runs only as a worker thread of a FramePool');
const port = parentPort;
const { level, checksum, slabs: slabsAtStart, known: knownAtStart } = workerData as PoolWorkerData;

// zstd-napi is CommonJS around a native binding: required, as in text.ts. If it fails to load, this
// module throws before the ready message, and the pool reports a broken installation.
const requireHere = createRequire(import.meta.url);
const zstd = requireHere('zstd-napi') as typeof Zstd;
const binding = requireHere('zstd-napi/binding') as typeof Binding;

// One context of each kind per worker, parameters set once.
const cctx = new binding.CCtx();
cctx.setParameter(binding.CParameter.compressionLevel, level);
cctx.setParameter(binding.CParameter.checksumFlag, checksum ? 1 : 0);
cctx.setParameter(binding.CParameter.contentSizeFlag, 1);
// Frames are compressed into this buffer, kept for the worker's life, and only the compressed bytes
// are copied out: a fresh worst-case buffer per frame left megabytes of garbage per frame for the
// collector (and for malloc, which kept it: backup RSS fell by tens of MiB without it).
let scratch: Buffer = Buffer.alloc(0);
/** Shared memory by slab id. */
const slabs = new Map<number, Buffer>();
for (const { id, memory } of slabsAtStart) slabs.set(id, Buffer.from(memory));
// Digests of frames stored already: a compress task with digest set skips them.
const known = new Set(knownAtStart);

function compress(input: Buffer): Buffer {
  const bound = binding.compressBound(input.length);
  if (scratch.length < bound) scratch = Buffer.allocUnsafeSlow(bound);
  const length = cctx.compress2(scratch, input);
  const output = Buffer.allocUnsafeSlow(length);
  scratch.copy(output, 0, 0, length);
  return output;
}
const dctx = new binding.DCtx();
/** Only for frames whose header has no content size (not written by this pool). */
let streamingDecompressor: Zstd.Decompressor | undefined;

// A Buffer with this many bytes or more never comes from Node's shared allocation pool.
const POOLED_BELOW = Buffer.poolSize >>> 1;

/** The input is corrupt: the parent rejects with E_INTEGRITY. */
class IntegrityError extends Error {}

function describe(zstdMessage: string): string {
  if (/checksum/i.test(zstdMessage)) return 'checksum mismatch, the data is corrupt';
  if (/src size is incorrect|truncated/i.test(zstdMessage)) return 'truncated frame';
  if (/destination buffer is too small|dstSize_tooSmall/i.test(zstdMessage)) return 'the data is larger than its expected size';
  if (/header|frame descriptor|prefix|magic/i.test(zstdMessage)) return 'not a zstd frame, or its header is corrupt';
  return 'corrupt data';
}

function integrity(zstdMessage: string, context?: string): IntegrityError {
  return new IntegrityError(`zstd decompression failed: ${describe(zstdMessage)} (${context ? `${context}: ` : ''}zstd says "${zstdMessage}")`);
}

/** What to report of something thrown: its message, if it has one. */
function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' && message !== '' ? message : String(error);
}

// Walks the frames without decoding them: a truncated or garbled stream is named as such, and the
// sizes declared by the frame headers are known (null when a header omits it) before anything is allocated.
function declaredSize(input: Buffer): number | null {
  if (input.length === 0) throw new IntegrityError('zstd decompression failed: truncated frame (0 bytes of input)');
  let total: number | null = 0;
  let offset = 0;
  while (offset < input.length) {
    const rest = input.subarray(offset);
    let frameSize: number;
    let contentSize: number | null;
    try {
      frameSize = binding.findFrameCompressedSize(rest);
      contentSize = binding.getFrameContentSize(rest); // 0 for a skippable frame
    } catch (error) {
      throw integrity(messageOf(error), `frame at byte ${offset}`);
    }
    if (contentSize === null) total = null;
    else if (total !== null) total += contentSize;
    offset += frameSize;
  }
  return total;
}

function decompress(input: Buffer, expectedSize: number | undefined, target?: Buffer): Buffer {
  const declared = declaredSize(input);
  if (expectedSize !== undefined && declared !== null && declared !== expectedSize) {
    throw new IntegrityError(`zstd decompression failed: the frame headers declare ${declared} bytes, expected ${expectedSize}`);
  }
  const size = expectedSize !== undefined ? expectedSize : declared;
  if (size === null) {
    streamingDecompressor ??= new zstd.Decompressor();
    try {
      return streamingDecompressor.decompress(input);
    } catch (error) {
      throw integrity(messageOf(error));
    }
  }
  // Single pass into a buffer of exactly the known size: memory never exceeds what the caller expects,
  // whatever a corrupt header says, and the result owns its whole ArrayBuffer (moves without a copy).
  // With a target (the parent's shared output memory, at least expectedSize long) it goes there.
  const output = target ? target.subarray(0, size) : Buffer.allocUnsafeSlow(size);
  let written: number;
  try {
    written = dctx.decompress(output, input);
  } catch (error) {
    throw integrity(messageOf(error));
  }
  if (written !== size) {
    throw new IntegrityError(`zstd decompression failed: decompressed ${written} bytes, expected ${size}`);
  }
  return output;
}

function slab(id: number): Buffer {
  const memory = slabs.get(id);
  if (!memory) throw new Error(`no shared slab ${id}`);
  return memory;
}

function send(message: FromWorker, transfer?: ArrayBuffer[]): void {
  port.postMessage(message, transfer);
}

function reply(id: number, output: Buffer, digest?: string): void {
  let owned = output;
  // Move the result's memory to the parent. A small result may be a slice of Node's shared pool,
  // which must not move: copy it into memory of its own.
  if (output.byteOffset !== 0 || output.length < POOLED_BELOW || output.buffer instanceof SharedArrayBuffer) {
    owned = Buffer.allocUnsafeSlow(output.length);
    output.copy(owned);
  }
  const buffer = owned.buffer as ArrayBuffer;
  send({ id, data: buffer, length: owned.length, digest }, [buffer]);
}

port.on('message', (task: ToWorker) => {
  if (task.op === 'share') {
    slabs.set(task.slab, Buffer.from(task.memory));
    return;
  }
  if (task.op === 'known') {
    for (const digest of task.digests) known.add(digest);
    return;
  }
  try {
    const input = task.slab === undefined ? Buffer.from(task.data, 0, task.length) : slab(task.slab).subarray(task.offset, task.offset + task.length);
    const digest = task.digest ? createHash('sha256').update(input).digest('hex') : undefined;
    if (digest !== undefined && input.length > 0 && known.has(digest)) {
      send({ id: task.id, skipped: true, digest });
    } else if (task.op === 'compress' && task.output !== undefined) {
      // Straight into the parent's shared output buffer: nothing is allocated or moved.
      const length = cctx.compress2(slab(task.output), input);
      send({ id: task.id, output: task.output, length, digest });
    } else if (task.op === 'compress') {
      reply(task.id, compress(input), digest);
    } else if (task.output !== undefined) {
      const output = decompress(input, task.expectedSize, slab(task.output));
      send({ id: task.id, output: task.output, length: output.length });
    } else {
      reply(task.id, decompress(input, task.expectedSize));
    }
  } catch (error) {
    send({ id: task.id, error: { message: messageOf(error), integrity: error instanceof IntegrityError } });
  }
});

send({ ready: true });
