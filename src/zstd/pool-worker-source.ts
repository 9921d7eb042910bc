// Source of the FramePool worker (plain CommonJS), started with `new Worker(source, { eval: true })` so
// the same code runs from TypeScript sources under vitest and from tsc's dist/ (tsc copies no .js file,
// and Node cannot start a .ts worker).
//
// Protocol, parent → worker:
// - { op: 'share', slab, memory: SharedArrayBuffer }: remember shared memory under the id `slab`;
// - { op: 'known', digests: string[] }: SHA-256 digests of frames stored already (also workerData.known);
// - a compress task with `digest: true` hashes its input first: a known digest is answered
//   { id, skipped: true, digest } without compressing; otherwise the answer carries `digest`;
// - { id, op: 'compress' | 'decompress', data: ArrayBuffer, length, expectedSize?, output? } (the worker
//   owns `data` from then on; the input is its first `length` bytes), or the same with
//   { slab, offset, length } instead of `data` (the input lies in shared memory);
//   `output`, for compress, names a slab to write the frame into (it holds the compression bound).
// Worker → parent: { ready: true } once zstd-napi is loaded; then per task either
// { id, data: ArrayBuffer, length } (ownership moves to the parent), { id, output, length } (the frame
// is in the output slab) or { id, error: { message, integrity } }.
//
// workerData: { zstdPath, bindingPath, level, checksum, slabs: [{ id, memory }] } (slabs made before
// this worker started).
//
// The source must run both as CommonJS and as an ES module: an eval worker inherits the parent's
// execArgv, and a parent started with `--input-type=module` makes it a module, where `require` is not
// defined. So it reaches everything through dynamic import() and module.createRequire.

export const POOL_WORKER_SOURCE = String.raw`
'use strict';
(async () => {
const { parentPort, workerData } = await import('node:worker_threads');
const { createRequire } = await import('node:module');
const { createHash } = await import('node:crypto');
const requireZstd = createRequire(workerData.zstdPath);
const zstd = requireZstd(workerData.zstdPath);
const binding = requireZstd(workerData.bindingPath);

// One context of each kind per worker, parameters set once.
const cctx = new binding.CCtx();
cctx.setParameter(binding.CParameter.compressionLevel, workerData.level);
cctx.setParameter(binding.CParameter.checksumFlag, workerData.checksum ? 1 : 0);
cctx.setParameter(binding.CParameter.contentSizeFlag, 1);
// Frames are compressed into this buffer, kept for the worker's life, and only the compressed bytes
// are copied out: a fresh worst-case buffer per frame left megabytes of garbage per frame for the
// collector (and for malloc, which kept it: backup RSS fell by tens of MiB without it).
let scratch = Buffer.alloc(0);
const slabs = new Map();
for (const { id, memory } of workerData.slabs) slabs.set(id, Buffer.from(memory));
// Digests of frames stored already: a compress task with digest set skips them.
const known = new Set(workerData.known || []);

function compress(input) {
  const bound = binding.compressBound(input.length);
  if (scratch.length < bound) scratch = Buffer.allocUnsafeSlow(bound);
  const length = cctx.compress2(scratch, input);
  const output = Buffer.allocUnsafeSlow(length);
  scratch.copy(output, 0, 0, length);
  return output;
}
const dctx = new binding.DCtx();
let streamingDecompressor; // only for frames whose header has no content size (not written by this pool)

// A Buffer with this many bytes or more never comes from Node's shared allocation pool.
const POOLED_BELOW = Buffer.poolSize >>> 1;

class IntegrityError extends Error {}

function describe(zstdMessage) {
  if (/checksum/i.test(zstdMessage)) return 'checksum mismatch, the data is corrupt';
  if (/src size is incorrect|truncated/i.test(zstdMessage)) return 'truncated frame';
  if (/destination buffer is too small|dstSize_tooSmall/i.test(zstdMessage)) return 'the data is larger than its expected size';
  if (/header|frame descriptor|prefix|magic/i.test(zstdMessage)) return 'not a zstd frame, or its header is corrupt';
  return 'corrupt data';
}

function integrity(zstdMessage, context) {
  return new IntegrityError('zstd decompression failed: ' + describe(zstdMessage) + ' (' + (context ? context + ': ' : '') + 'zstd says "' + zstdMessage + '")');
}

// Walks the frames without decoding them: a truncated or garbled stream is named as such, and the
// sizes declared by the frame headers are known (null when a header omits it) before anything is allocated.
function declaredSize(input) {
  if (input.length === 0) throw new IntegrityError('zstd decompression failed: truncated frame (0 bytes of input)');
  let total = 0;
  let offset = 0;
  while (offset < input.length) {
    const rest = input.subarray(offset);
    let frameSize;
    let contentSize;
    try {
      frameSize = binding.findFrameCompressedSize(rest);
      contentSize = binding.getFrameContentSize(rest); // 0 for a skippable frame
    } catch (error) {
      throw integrity(error.message, 'frame at byte ' + offset);
    }
    if (contentSize === null) total = null;
    else if (total !== null) total += contentSize;
    offset += frameSize;
  }
  return total;
}

function decompress(input, expectedSize, target) {
  const declared = declaredSize(input);
  if (expectedSize !== undefined && declared !== null && declared !== expectedSize) {
    throw new IntegrityError('zstd decompression failed: the frame headers declare ' + declared + ' bytes, expected ' + expectedSize);
  }
  const size = expectedSize !== undefined ? expectedSize : declared;
  if (size === null) {
    streamingDecompressor ??= new zstd.Decompressor();
    try {
      return streamingDecompressor.decompress(input);
    } catch (error) {
      throw integrity(error.message);
    }
  }
  // Single pass into a buffer of exactly the known size: memory never exceeds what the caller expects,
  // whatever a corrupt header says, and the result owns its whole ArrayBuffer (moves without a copy).
  // With a target (the parent's shared output memory, at least expectedSize long) it goes there.
  const output = target ? target.subarray(0, size) : Buffer.allocUnsafeSlow(size);
  let written;
  try {
    written = dctx.decompress(output, input);
  } catch (error) {
    throw integrity(error.message);
  }
  if (written !== size) {
    throw new IntegrityError('zstd decompression failed: decompressed ' + written + ' bytes, expected ' + size);
  }
  return output;
}

function reply(id, output, digest) {
  let buffer = output.buffer;
  // Move the result's memory to the parent. A small result may be a slice of Node's shared pool,
  // which must not move: copy it into memory of its own.
  if (output.byteOffset !== 0 || output.length < POOLED_BELOW || buffer instanceof SharedArrayBuffer) {
    const owned = Buffer.allocUnsafeSlow(output.length);
    output.copy(owned);
    buffer = owned.buffer;
  }
  parentPort.postMessage({ id, data: buffer, length: output.length, digest }, [buffer]);
}

parentPort.on('message', (task) => {
  try {
    if (task.op === 'share') {
      slabs.set(task.slab, Buffer.from(task.memory));
      return;
    }
    if (task.op === 'known') {
      for (const digest of task.digests) known.add(digest);
      return;
    }
    const input = task.slab === undefined ? Buffer.from(task.data, 0, task.length) : slabs.get(task.slab).subarray(task.offset, task.offset + task.length);
    const digest = task.digest ? createHash('sha256').update(input).digest('hex') : undefined;
    if (digest !== undefined && input.length > 0 && known.has(digest)) {
      parentPort.postMessage({ id: task.id, skipped: true, digest });
    } else if (task.op === 'compress' && task.output !== undefined) {
      // Straight into the parent's shared output buffer: nothing is allocated or moved.
      const length = cctx.compress2(slabs.get(task.output), input);
      parentPort.postMessage({ id: task.id, output: task.output, length, digest });
    } else if (task.op === 'compress') {
      reply(task.id, compress(input), digest);
    } else if (task.output !== undefined) {
      const output = decompress(input, task.expectedSize, slabs.get(task.output));
      parentPort.postMessage({ id: task.id, output: task.output, length: output.length });
    } else {
      reply(task.id, decompress(input, task.expectedSize));
    }
  } catch (error) {
    const message = error && error.message ? error.message : String(error);
    parentPort.postMessage({ id: task.id, error: { message, integrity: error instanceof IntegrityError } });
  }
});

parentPort.postMessage({ ready: true });
})().catch((error) => {
  // zstd-napi failed to load: crash the worker, the parent reports it.
  process.nextTick(() => {
    throw error;
  });
});
`;
