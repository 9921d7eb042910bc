import { randomBytes } from 'node:crypto';
import { compress } from 'zstd-napi';
import { describe, expect, it } from 'vitest';
import { CassetteError } from '../../src/errors.js';
import { decompressText } from '../../src/zstd/text.js';
import { cut, rejection } from '../helpers/rejection.js';

const failure = (chunks: Buffer[]): Promise<CassetteError> => rejection(textOf(chunks), 'decompressText');

async function textOf(chunks: Buffer[]): Promise<{ text: string; pieces: number }> {
  let text = '';
  let pieces = 0;
  for await (const piece of decompressText(
    (async function* () {
      yield* chunks;
    })(),
    'index test.idx.zst',
  )) {
    text += piece;
    pieces++;
  }
  return { text, pieces };
}

describe('decompressText', () => {
  it('gives back the text of concatenated frames, whatever the cut of the input, with multi-byte characters split across steps', async () => {
    // 3-byte and 4-byte UTF-8 characters, so that 64 KiB steps end inside characters.
    const first = 'état/ü/€/𝄞 '.repeat(40_000);
    const second = '{"path":"naïve/日本語.txt"}\n'.repeat(20_000);
    const compressed = Buffer.concat([compress(Buffer.from(first, 'utf8')), compress(Buffer.from(second, 'utf8'))]);
    for (const size of [1, 7, 4096, 1 << 20]) {
      const chunks = size === 1 ? cut(compressed, 97) : cut(compressed, size);
      const { text, pieces } = await textOf(chunks);
      expect(text === first + second, `input cut into ${size}-byte pieces`).toBe(true);
      expect(pieces).toBeGreaterThan(10);
    }
  });

  it('gives nothing for an empty stream', async () => {
    expect(await textOf([])).toEqual({ text: '', pieces: 0 });
  });

  it('refuses data that is not zstd with E_INTEGRITY naming the object', async () => {
    const error = await failure([Buffer.from('{"format":"cassette-index"}\n')]);
    expect(error).toBeInstanceOf(CassetteError);
    expect(error.code).toBe('E_INTEGRITY');
    expect(error.message).toContain('index test.idx.zst');
  });

  it('refuses a frame whose checksum does not match', async () => {
    const compressed = Buffer.from(compress(Buffer.from(randomBytes(200_000).toString('hex')), { checksumFlag: true }));
    compressed[compressed.length - 2]! ^= 0xff; // inside the 4-byte checksum at the end of the frame
    const error = await failure([compressed]);
    expect(error.code).toBe('E_INTEGRITY');
    expect(error.message).toContain('index test.idx.zst');
  });

  it('refuses a stream that ends inside a frame', async () => {
    const compressed = compress(Buffer.from('x'.repeat(300_000) + randomBytes(50_000).toString('hex')));
    const error = await failure([compressed.subarray(0, compressed.length - 100)]);
    expect(error.code).toBe('E_INTEGRITY');
    expect(error.message).toMatch(/index test\.idx\.zst.*ends in the middle of a zstd frame/);
  });

  it('passes on an error of the compressed stream itself', async () => {
    const broken = (async function* () {
      yield compress(Buffer.from('partial'));
      throw new Error('connection reset');
    })();
    const consume = async (): Promise<void> => {
      for await (const _ of decompressText(broken, 'index x')) void _;
    };
    await expect(consume()).rejects.toThrow('connection reset');
  });
});
