// Writing frames' pieces (write-files.ts) against a writer thread stand-in: a frame's memory goes back once, and only when nothing reads it any more, with few frames held; a failed write surfaces after every part handed over has ended.
// The stand-in reads a part's memory as late as the real thread may (when it answers), and the pool poisons memory given back: a frame released too early gives wrong digests.

import { createHash } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CassetteError } from '../../src/errors.js';
import type { ArtifactRecord, FrameRecord } from '../../src/format/types.js';
import type { ArtifactState, PendingFile } from '../../src/restore/destination.js';
import type { DecodedFrame } from '../../src/restore/read-frames.js';
import { sliceFrames } from '../../src/restore/slice-frames.js';
import type { Slice } from '../../src/restore/slice-writer.js';
import { OpenFiles, writeFiles, type WrittenFile } from '../../src/restore/write-files.js';
import { pattern } from '../helpers/pattern.js';
import { rejection } from '../helpers/rejection.js';

const KiB = 1024;
/** Frames held at most: FRAMES_IN_WRITER (4) in the writer, and the one being cut. */
const MAX_FRAMES_HELD = 5;

let root: string;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-write-files-'));
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function stateFor(dir: string): ArtifactState {
  const artifact = { name: 'tree', kind: 'tree', source: dir, volumes: [] } as unknown as ArtifactRecord;
  return {
    artifact,
    root: dir,
    safeDirs: new Set(),
    dirs: [],
    symlinks: [],
    links: [],
    specials: [],
    orphanLinks: new Map(),
    symlinkPaths: new Set(),
    cleanDirs: new Set(),
    lastFrame: -1,
  };
}

/**
 * A tar stream stand-in: the files' bytes one after the other (with a 512-byte gap for each header),
 * cut into frames of `frameSize`. Small files go inline, those above 256 KiB to the writer.
 */
function archive(sizes: Array<[name: string, size: number]>, frameSize: number): { files: PendingFile[]; contents: Map<string, Buffer>; stream: Buffer; frames: FrameRecord[] } {
  const files: PendingFile[] = [];
  const contents = new Map<string, Buffer>();
  const chunks: Buffer[] = [];
  let at = 0;
  sizes.forEach(([name, size], i) => {
    const data = pattern(size, i + 1);
    const dataOffset = at + 512;
    files.push({ id: -1, entry: { path: name, type: 'file', size, mode: 0o644, uid: 0, gid: 0, mtime: '0', offset: at, dataOffset }, dest: '', temp: '', written: 0 });
    contents.set(name, data);
    chunks.push(Buffer.alloc(512), data);
    at = dataOffset + size;
  });
  const stream = Buffer.concat(chunks);
  const frames: FrameRecord[] = [];
  for (let tarOffset = 0, frame = 0; tarOffset < stream.length; tarOffset += frameSize, frame++) {
    frames.push({ frame, volume: 0, offset: 0, size: 0, tarOffset, tarSize: Math.min(frameSize, stream.length - tarOffset) });
  }
  return { files, contents, stream, frames };
}

/** What happened, in order: frames pulled and released, parts written. */
type Event = `pull ${number}` | `release ${number}` | `written ${number}`;

/**
 * The writer thread's stand-in: hashes each part's slices when it answers, on a later turn of the
 * event loop (after `delayMs`), as the thread may read the frame's memory until then. `fail` makes
 * one part fail as the thread does (E_TARGET).
 */
class WriterStandIn {
  private readonly hashes = new Map<number, ReturnType<typeof createHash>>();
  parts = 0;
  pending = 0;

  constructor(
    private readonly events: Event[],
    private readonly frameOf: (data: Buffer) => number,
    private readonly options: { delayMs?: (part: number) => number; fail?: number } = {},
  ) {}

  write(data: Buffer, slices: Slice[]): Promise<Map<number, string>> {
    const part = this.parts++;
    this.pending++;
    return new Promise((resolve, reject) => {
      setTimeout(
        () => {
          this.pending--;
          this.events.push(`written ${this.frameOf(data)}`);
          if (part === this.options.fail) return reject(new CassetteError('E_TARGET', `cannot write part ${part}: disk full`));
          const digests = new Map<number, string>();
          for (const s of slices) {
            let hash = this.hashes.get(s.file);
            if (!hash) this.hashes.set(s.file, (hash = createHash('sha256')));
            hash.update(data.subarray(s.start, s.start + s.length));
            if (s.last) digests.set(s.file, hash.digest('hex'));
          }
          resolve(digests);
        },
        this.options.delayMs?.(part) ?? 0,
      );
    });
  }
}

/** Runs sliceFrames → writeFiles over the archive with a poisoning pool; what came out, and the events. */
function run(sizes: Array<[string, number]>, frameSize: number, writerOptions?: ConstructorParameters<typeof WriterStandIn>[2]) {
  const { files, contents, stream, frames } = archive(sizes, frameSize);
  const events: Event[] = [];
  const buffers: Buffer[] = [];
  const releases = new Map<number, number>();
  let held = 0;
  let maxHeld = 0;
  async function* source(): AsyncGenerator<DecodedFrame> {
    for (const frame of frames) {
      events.push(`pull ${frame.frame}`);
      // Each frame in memory of its own, as the pool's.
      const data = Buffer.from(stream.subarray(frame.tarOffset, frame.tarOffset + frame.tarSize));
      buffers.push(data);
      maxHeld = Math.max(maxHeld, ++held);
      yield { frame, data };
    }
  }
  const frameOf = (data: Buffer): number => buffers.indexOf(data);
  const pool = {
    release: (data: Buffer): void => {
      const frame = frameOf(data);
      events.push(`release ${frame}`);
      releases.set(frame, (releases.get(frame) ?? 0) + 1);
      held--;
      // What the pool does next with the memory: another frame is decoded there.
      data.fill(0xee);
    },
  };
  const writer = new WriterStandIn(events, frameOf, writerOptions);
  const open = new OpenFiles();
  const written: WrittenFile[] = [];
  const sliced = sliceFrames(
    source(),
    files.filter((f) => f.entry.size > 0),
    { artifact: 'tree', pool },
  );
  const done = (async () => {
    try {
      for await (const file of writeFiles(sliced, { state: stateFor(root), temps: new Set(), open, writer: () => writer, report: () => undefined })) {
        written.push(file);
        fsSync.closeSync(file.file.fd!);
      }
    } finally {
      open.closeAll();
    }
  })();
  return { done, written, contents, frames, events, releases, writer, maxHeld: () => maxHeld };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('writeFiles', () => {
  // 128 KiB frames. big1 spans frames 0-5, then small files fill frames 5-7 (frame 6 holds only
  // small ones), big2 spans 7-10 and small files end it.
  const SIZES: Array<[string, number]> = [
    ['big1', 700 * KiB],
    ...Array.from({ length: 40 }, (_, i): [string, number] => [`small${i}`, 6 * KiB + i]),
    ['big2', 400 * KiB],
    ['tail0', 100],
    ['tail1', 3 * KiB],
  ];

  it('writes every file whole (the digests of what was written), each frame released once, with at most 5 frames held', async () => {
    const result = run(SIZES, 128 * KiB, { delayMs: () => 2 });
    await result.done;
    expect(result.written.map((w) => w.file.entry.path)).toEqual(expect.arrayContaining(SIZES.map(([name]) => name)));
    expect(result.written).toHaveLength(SIZES.length);
    for (const { file, digest } of result.written) expect(digest, file.entry.path).toBe(sha256(result.contents.get(file.entry.path)!));
    expect([...result.releases.entries()].sort((a, b) => a[0] - b[0])).toEqual(result.frames.map((f) => [f.frame, 1]));
    expect(result.writer.parts).toBeGreaterThan(4);
    expect(result.maxHeld()).toBeLessThanOrEqual(MAX_FRAMES_HELD);
  });

  it('gives a frame back after its last part is written, and a frame with nothing in the writer at once', async () => {
    const result = run(SIZES, 128 * KiB, { delayMs: () => 2 });
    await result.done;
    const { events } = result;
    const at = (event: Event): number => events.indexOf(event);
    for (const frame of result.frames) {
      const released = at(`release ${frame.frame}`);
      const lastWritten = events.lastIndexOf(`written ${frame.frame}`);
      if (lastWritten === -1) {
        // Only small files: released before the next frame is asked for.
        expect(released, `frame ${frame.frame}: ${events.join(', ')}`).toBeGreaterThan(at(`pull ${frame.frame}`));
        if (frame.frame + 1 < result.frames.length) expect(released, `frame ${frame.frame}`).toBeLessThan(at(`pull ${frame.frame + 1}`));
      } else {
        expect(released, `frame ${frame.frame}: ${events.join(', ')}`).toBeGreaterThan(lastWritten);
      }
    }
    // Frame 6 holds small files only, frame 0 only part of big1.
    expect(events.lastIndexOf('written 6')).toBe(-1);
    expect(events.lastIndexOf('written 0')).toBeGreaterThan(-1);
  });

  it('a part that fails fails the stage, once every part handed over has ended', async () => {
    // Part 1 fails at once; the parts after it take longer, and must have ended when the error comes.
    const result = run(SIZES, 128 * KiB, { fail: 1, delayMs: (part) => (part <= 1 ? 0 : 30) });
    const error = await rejection(result.done);
    expect(error.message).toBe('cannot write part 1: disk full');
    expect(result.writer.parts).toBeGreaterThan(2);
    expect(result.writer.pending).toBe(0);
  });
});
