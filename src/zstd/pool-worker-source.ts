// Source of the compression worker, run with `new Worker(source, { eval: true })` so it works from TypeScript sources and from dist/ alike.

export const POOL_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zstd = require(workerData.zstdPath);
const compressor = new zstd.Compressor();
compressor.setParameters({ compressionLevel: workerData.level, checksumFlag: workerData.checksum, contentSizeFlag: true });
const decompressor = new zstd.Decompressor();
parentPort.on('message', (task) => {
  try {
    const input = Buffer.from(task.data, task.offset, task.length);
    let output;
    if (task.op === 'compress') {
      output = compressor.compress(input);
    } else {
      output = decompressor.decompress(input);
      if (task.expectedSize !== undefined && output.length !== task.expectedSize) {
        throw new Error('decompressed ' + output.length + ' bytes, expected ' + task.expectedSize);
      }
    }
    // Never transfer a slice of Node's shared allocation pool: copy into memory of its own.
    let owned = output;
    if (output.byteOffset !== 0 || output.byteLength !== output.buffer.byteLength) {
      owned = Buffer.allocUnsafeSlow(output.length);
      output.copy(owned);
    }
    parentPort.postMessage({ id: task.id, data: owned.buffer, length: owned.length }, [owned.buffer]);
  } catch (error) {
    parentPort.postMessage({ id: task.id, error: String(error && error.message || error) });
  }
});
`;
