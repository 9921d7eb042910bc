// Cutting frames into files' pieces (slice-frames.ts): where each piece lies and goes, files across frames, the checks on the frames' order and end, and a frame's memory released once.

import { describe, expect, it } from 'vitest';
import type { FrameRecord } from '../../src/format/types.js';
import type { PendingFile } from '../../src/restore/destination.js';
import type { DecodedFrame } from '../../src/restore/read-frames.js';
import { assertAllSliced, sliceFrames, type SlicedFrame } from '../../src/restore/slice-frames.js';
import { rejection, thrown } from '../helpers/rejection.js';

/** Frames of the given tar sizes, back to back from tar offset 0. */
function framesOf(sizes: number[]): FrameRecord[] {
  let tarOffset = 0;
  return sizes.map((tarSize, frame) => {
    const record = { frame, volume: 0, offset: frame * 100, size: 100, tarOffset, tarSize };
    tarOffset += tarSize;
    return record;
  });
}

/** A file entry whose bytes are tar [dataOffset, dataOffset + size). */
function fileAt(path: string, dataOffset: number, size: number): PendingFile {
  return { id: -1, entry: { path, type: 'file', size, mode: 0o644, uid: 0, gid: 0, mtime: '0', offset: dataOffset - 512, dataOffset }, dest: '', temp: '', written: 0 };
}

async function* decoded(frames: FrameRecord[]): AsyncGenerator<DecodedFrame> {
  for (const frame of frames) yield { frame, data: Buffer.alloc(frame.tarSize) };
}

const noPool = { release: (): void => undefined };

type Piece = [path: string, start: number, length: number, position: number, last: boolean];

/** Every frame's pieces, as [path, start, length, position, last]. */
async function cut(files: PendingFile[], frames: FrameRecord[]): Promise<Piece[][]> {
  const out: Piece[][] = [];
  for await (const sliced of sliceFrames(decoded(frames), files, { artifact: 'tree', pool: noPool })) {
    out.push(sliced.pieces.map((p) => [p.file.entry.path, p.start, p.length, p.position, p.last]));
  }
  return out;
}

// Frames: tar 0-1000, 1000-2000, 2000-3000, 3000-3500.
const FRAMES = framesOf([1000, 1000, 1000, 500]);

describe('sliceFrames', () => {
  it.each<{ name: string; files: Array<[string, number, number]>; expected: Piece[][] }>([
    {
      name: 'small files inside one frame: one whole piece each, in tar order',
      files: [
        ['a', 100, 100],
        ['b', 300, 50],
      ],
      expected: [
        [
          ['a', 100, 100, 0, true],
          ['b', 300, 50, 0, true],
        ],
        [],
        [],
        [],
      ],
    },
    {
      name: 'a file over three frames: a piece in each, at its place in the file, the last one last',
      files: [['c', 500, 2100]],
      expected: [[['c', 500, 500, 0, false]], [['c', 0, 1000, 500, false]], [['c', 0, 600, 1500, true]], []],
    },
    {
      name: 'a file that ends on a frame boundary is complete in that frame',
      files: [
        ['d', 1500, 500],
        ['e', 2000, 10],
      ],
      expected: [[], [['d', 500, 500, 0, true]], [['e', 0, 10, 0, true]], []],
    },
    {
      name: 'a frame shared by the end of one file and the start of the next',
      files: [
        ['f', 200, 1000],
        ['g', 1700, 1500],
        ['h', 3300, 200],
      ],
      expected: [
        [['f', 200, 800, 0, false]],
        [
          ['f', 0, 200, 800, true],
          ['g', 700, 300, 0, false],
        ],
        [['g', 0, 1000, 300, false]],
        [
          ['g', 0, 200, 1300, true],
          ['h', 300, 200, 0, true],
        ],
      ],
    },
  ])('$name', async ({ files, expected }) => {
    const pending = files.map(([path, dataOffset, size]) => fileAt(path, dataOffset, size));
    expect(await cut(pending, FRAMES)).toEqual(expected);
    // Every byte was cut.
    expect(pending.map((f) => f.written)).toEqual(files.map(([, , size]) => size));
    expect(() => assertAllSliced(pending, 'tree')).not.toThrow();
  });

  it('refuses a frame that does not continue a file where the last one ended (E_INTEGRITY naming the file)', async () => {
    const file = fileAt('dir/c', 500, 2100);
    const error = await rejection(cut([file], [FRAMES[0]!, FRAMES[2]!]));
    expect(error.code).toBe('E_INTEGRITY');
    expect(error.message).toBe('tree/dir/c: frames arrived out of order');
  });

  it('gives each frame’s memory back once, however often release() is called', async () => {
    const released: Buffer[] = [];
    const frames: SlicedFrame[] = [];
    for await (const sliced of sliceFrames(decoded(FRAMES), [fileAt('c', 500, 2100)], { artifact: 'tree', pool: { release: (data) => released.push(data) } })) frames.push(sliced);
    expect(released).toEqual([]);
    frames[1]!.release();
    frames[1]!.release();
    frames[0]!.release();
    expect(released).toHaveLength(2);
    expect(released[0]).toBe(frames[1]!.data);
    expect(released[1]).toBe(frames[0]!.data);
  });
});

describe('assertAllSliced', () => {
  it('refuses a file the frames ended in the middle of (E_INTEGRITY with the bytes it got)', async () => {
    const files = [fileAt('a', 100, 100), fileAt('big', 500, 2100)];
    await cut(files, FRAMES.slice(0, 2));
    const error = thrown(() => assertAllSliced(files, 'tree'));
    expect(error.code).toBe('E_INTEGRITY');
    expect(error.message).toBe('tree/big: the archive ended after 1500 of 2100 bytes');
  });
});
