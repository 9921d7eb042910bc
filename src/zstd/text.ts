// Decompresses a small zstd object (an index) on the calling thread into text, reusing one output buffer.

import { createRequire } from 'node:module';
import { StringDecoder } from 'node:string_decoder';
import type * as Binding from 'zstd-napi/binding.js';
import { CassetteError } from '../errors.js';

const binding = createRequire(import.meta.url)('zstd-napi/binding') as typeof Binding;

/**
 * Bytes decompressed per step. Each step becomes one string, decoded at once, so the buffer is
 * refilled for the next; below 128 KiB the string stays out of V8's large-object space.
 * (zstd-napi's DecompressStream allocated a fresh 128 KiB Buffer per step instead: listing
 * 500,000 entries left 25+ MiB of such garbage to the collector, which it freed late.)
 */
const STEP_SIZE = 64 * 1024;

/**
 * The UTF-8 text of a stream of concatenated zstd frames. Runs on the calling thread (an index
 * decompresses at hundreds of MB/s in 64 KiB steps, each far below a millisecond). Throws E_INTEGRITY
 * naming `name` when the data is not zstd, a frame's checksum does not match, or the stream ends
 * inside a frame; errors of `compressed` itself pass through.
 */
export async function* decompressText(compressed: AsyncIterable<Buffer>, name: string): AsyncGenerator<string> {
  const dctx = new binding.DCtx();
  const output = Buffer.allocUnsafeSlow(STEP_SIZE);
  const decoder = new StringDecoder('utf8');
  let inFrame = false;
  for await (const chunk of compressed) {
    let input = chunk;
    for (;;) {
      let remaining: number, produced: number, consumed: number;
      try {
        [remaining, produced, consumed] = dctx.decompressStream(output, input);
      } catch (error) {
        throw new CassetteError('E_INTEGRITY', `${name} cannot be read: zstd says "${(error as Error).message}"`, { cause: error });
      }
      if (produced > 0) yield decoder.write(output.subarray(0, produced));
      input = input.subarray(consumed);
      // Done with this chunk once it is consumed and zstd holds nothing more to flush.
      if (input.length === 0 && (produced < output.length || remaining === 0)) {
        inFrame = remaining !== 0;
        break;
      }
    }
  }
  if (inFrame) throw new CassetteError('E_INTEGRITY', `${name} cannot be read: it ends in the middle of a zstd frame`);
  const tail = decoder.end();
  if (tail) yield tail;
}
