import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ts from 'typescript';
import { FramePool, mapOrdered } from '../../src/zstd/pool.js';

const MiB = 1024 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;

let pool: FramePool;
let noChecksumPool: FramePool;
let tmp: string;
beforeAll(async () => {
  pool = new FramePool({ threads: 2, level: 3 });
  noChecksumPool = new FramePool({ threads: 1, level: 3, checksum: false });
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-pool-'));
});
afterAll(async () => {
  await pool.close();
  await noChecksumPool.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Compress a private copy (compress() may transfer the input's memory to a worker). */
const compressCopy = (p: FramePool, data: Buffer): Promise<Buffer> => p.compress(Buffer.from(data));

async function zstdDecode(input: Buffer): Promise<Buffer> {
  const { stdout } = await execa('zstd', ['-dc'], { input, encoding: 'buffer', stripFinalNewline: false });
  return Buffer.from(stdout);
}

const INPUTS: Array<[string, () => Buffer]> = [
  ['empty', () => Buffer.alloc(0)],
  ['1 byte', () => Buffer.from([0x42])],
  ['4 MiB random', () => randomBytes(4 * MiB)],
  ['4 MiB zeros', () => Buffer.alloc(4 * MiB)],
];

describe('FramePool compress / decompress', () => {
  it.each(INPUTS)('round trip: %s', async (_name, make) => {
    const data = make();
    const frame = await compressCopy(pool, data);
    const back = await pool.decompress(frame, data.length);
    expect(back.length).toBe(data.length);
    expect(back.equals(data)).toBe(true);
  });

  it.each(INPUTS)('one zstd frame with its content size, that the zstd CLI decodes: %s', async (name, make) => {
    const data = make();
    const frame = await compressCopy(pool, data);
    expect(frame.readUInt32LE(0)).toBe(ZSTD_MAGIC);
    // Frame_Header_Descriptor: Single_Segment (bit 5) or a non-zero FCS flag (bits 6-7) means the content size is present.
    const descriptor = frame[4]!;
    expect((descriptor & 0x20) !== 0 || descriptor >> 6 !== 0).toBe(true);
    expect((await zstdDecode(frame)).equals(data)).toBe(true);
    const file = path.join(tmp, `${name.replace(/\W/g, '_')}.zst`);
    await fs.writeFile(file, frame);
    const { stdout } = await execa('zstd', ['-lv', file]);
    expect(stdout).toMatch(/# Zstandard Frames: 1\b/);
    expect(stdout).toMatch(/Check: XXH64/);
  });

  it('independent frames concatenated decode as one stream with zstd -dc and with decompress()', async () => {
    const parts = [Buffer.from('one '.repeat(500)), randomBytes(10_000), Buffer.alloc(0), Buffer.alloc(70_000, 1)];
    const frames = await Promise.all(parts.map((p) => compressCopy(pool, p)));
    const joined = Buffer.concat(frames);
    expect((await zstdDecode(joined)).equals(Buffer.concat(parts))).toBe(true);
    expect((await pool.decompress(Buffer.from(joined))).equals(Buffer.concat(parts))).toBe(true);
  });

  it('a flipped byte in the middle of a frame makes decompress reject (checksum on by default)', async () => {
    const data = randomBytes(100_000); // incompressible: stored as raw blocks, only the checksum can tell
    const frame = await compressCopy(pool, data);
    expect(frame[4]! & 0x04).toBe(0x04); // Content_Checksum_flag
    expect((await pool.decompress(Buffer.from(frame))).equals(data)).toBe(true);
    const bad = Buffer.from(frame);
    bad[Math.floor(bad.length / 2)] ^= 0x01;
    // The CLI agrees the frame is corrupt.
    const file = path.join(tmp, 'flipped.zst');
    await fs.writeFile(file, bad);
    await expect(execa('zstd', ['-t', file])).rejects.toThrow();
    const error = await pool.decompress(bad).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_INTEGRITY', message: expect.stringMatching(/checksum mismatch/) });
  });

  it('checksum: false writes no checksum; a frame that has one is still checked', async () => {
    const data = randomBytes(50_000);
    const frame = await compressCopy(noChecksumPool, data);
    expect(frame[4]! & 0x04).toBe(0);
    expect((await pool.decompress(Buffer.from(frame), data.length)).equals(data)).toBe(true);
    const bad = await compressCopy(pool, data);
    bad[Math.floor(bad.length / 2)] ^= 0x10;
    await expect(noChecksumPool.decompress(bad)).rejects.toThrow(/checksum/);
  });

  it('skippable frames are ignored', async () => {
    const skippable = Buffer.alloc(8 + 16, 0xee);
    skippable.writeUInt32LE(0x184d2a5e, 0);
    skippable.writeUInt32LE(16, 4);
    const a = await compressCopy(pool, Buffer.from('first '));
    const b = await compressCopy(pool, Buffer.from('second'));
    const out = await pool.decompress(Buffer.concat([a, skippable, b, skippable]), 12);
    expect(out.toString()).toBe('first second');
  });

  it('a truncated frame rejects', async () => {
    const data = Buffer.from('truncate me please '.repeat(20_000));
    const frame = await compressCopy(pool, data);
    for (const cut of [frame.length - 1, Math.floor(frame.length / 2), 10]) {
      await expect(pool.decompress(Buffer.from(frame.subarray(0, cut)))).rejects.toMatchObject({ code: 'E_INTEGRITY', message: expect.stringMatching(/truncated/) });
      await expect(pool.decompress(Buffer.from(frame.subarray(0, cut)), data.length)).rejects.toThrow(/truncated/);
    }
    const random = await compressCopy(pool, randomBytes(200_000));
    await expect(pool.decompress(Buffer.from(random.subarray(0, random.length - 100)))).rejects.toThrow(/truncated/);
    // The second of two frames cut short.
    await expect(pool.decompress(Buffer.concat([frame, frame.subarray(0, 20)]))).rejects.toThrow(/truncated/);
    await expect(pool.decompress(Buffer.alloc(0))).rejects.toThrow(/truncated/);
  });

  it('garbage rejects as not a zstd frame', async () => {
    await expect(pool.decompress(Buffer.from('definitely not zstd data'))).rejects.toMatchObject({ code: 'E_INTEGRITY', message: expect.stringMatching(/not a zstd frame/) });
  });

  it('an expectedSize other than the content size rejects', async () => {
    const frame = await compressCopy(pool, Buffer.from('twelve bytes'));
    await expect(pool.decompress(Buffer.from(frame), 13)).rejects.toMatchObject({ code: 'E_INTEGRITY', message: expect.stringMatching(/expected 13/) });
    await expect(pool.decompress(Buffer.from(frame), 11)).rejects.toThrow(/expected 11/);
    await expect(pool.decompress(Buffer.from(frame), -1)).rejects.toThrow(RangeError);
    expect((await pool.decompress(Buffer.from(frame), 12)).toString()).toBe('twelve bytes');
  });

  it('the pool keeps working after a rejected task', async () => {
    await expect(pool.decompress(Buffer.from('not zstd at all'))).rejects.toThrow();
    const frame = await pool.compress(Buffer.from('still fine'));
    expect((await pool.decompress(frame)).toString()).toBe('still fine');
  });

  it('regression: many small Buffers from the shared pool compressed concurrently round-trip, and other live small Buffers are not corrupted', async () => {
    expect(Buffer.poolSize).toBeGreaterThan(64);
    // Live small Buffers made before: they share Node's allocation pool with the inputs below.
    const live = Array.from({ length: 500 }, (_, i) => Buffer.from(`live-${i}`));
    const inputs: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      inputs.push(Buffer.from(`abc${i}`));
      if (i % 4 === 0) inputs.push(Buffer.concat([Buffer.from('x'), Buffer.from(String(i)), Buffer.from('y')]));
      if (i % 7 === 0) {
        const b = Buffer.allocUnsafe(40);
        b.fill(i % 256);
        inputs.push(b);
      }
    }
    // The premise: these really are slices of a shared pool.
    expect(inputs.filter((b) => b.buffer.byteLength === Buffer.poolSize && b.byteLength < 100).length).toBeGreaterThan(1000);
    const expected = inputs.map((b) => Buffer.from(b)); // private copies, not pooled (length ≥ poolSize / 2 is not required)
    const liveExpected = live.map((b) => b.toString());
    const frames = await Promise.all(inputs.map((b) => pool.compress(b)));
    const back = await Promise.all(frames.map((f, i) => pool.decompress(f, expected[i]!.length)));
    for (let i = 0; i < inputs.length; i++) {
      if (!back[i]!.equals(expected[i]!)) throw new Error(`input ${i} came back as ${JSON.stringify(back[i]!.toString())}, expected ${JSON.stringify(expected[i]!.toString())}`);
    }
    // Nothing in the shared pool was detached or overwritten.
    for (let i = 0; i < live.length; i++) {
      expect(live[i]!.buffer.byteLength).toBeGreaterThan(0);
      expect(live[i]!.toString()).toBe(liveExpected[i]);
    }
    for (let i = 0; i < inputs.length; i++) {
      expect(inputs[i]!.buffer.byteLength).toBeGreaterThan(0);
      expect(inputs[i]!.equals(expected[i]!)).toBe(true);
    }
    // Small results handed back must not be corrupted by later allocations either.
    const after = Array.from({ length: 2000 }, (_, i) => Buffer.from(`later-${i}`));
    for (let i = 0; i < inputs.length; i++) expect(back[i]!.equals(expected[i]!)).toBe(true);
    expect(after[1999]!.toString()).toBe('later-1999');
  });

  it('decompressed small outputs are independent of each other', async () => {
    const texts = Array.from({ length: 300 }, (_, i) => `small-output-${i}`);
    const frames = await Promise.all(texts.map((t) => pool.compress(Buffer.from(t))));
    const outs = await Promise.all(frames.map((f) => pool.decompress(f)));
    outs[0]!.fill(0);
    expect(outs.slice(1).map((o) => o.toString())).toEqual(texts.slice(1));
  });

  it('a pooled Buffer (Buffer.from) works and is copied, not detached', async () => {
    const abc = Buffer.from('abc');
    expect(abc.buffer.byteLength).toBeGreaterThan(abc.length); // the premise: a slice of the shared pool
    const frame = await pool.compress(abc);
    expect(abc.toString()).toBe('abc');
    expect((await pool.decompress(frame, 3)).toString()).toBe('abc');
  });

  it('a Buffer that owns its ArrayBuffer moves to the worker; a view into a larger one is copied', async () => {
    const owned = Buffer.alloc(1 * MiB, 7);
    const frame = await pool.compress(owned);
    expect(owned.buffer.byteLength).toBe(0); // transferred (detached), no copy
    expect((await pool.decompress(frame, 1 * MiB)).equals(Buffer.alloc(1 * MiB, 7))).toBe(true);

    const big = Buffer.alloc(2 * MiB);
    big.fill(1, 0, MiB);
    big.fill(2, MiB);
    const [first, second] = [big.subarray(0, MiB), big.subarray(MiB)];
    const frames = await Promise.all([pool.compress(second), pool.compress(first)]);
    expect(big.buffer.byteLength).toBe(2 * MiB); // not detached: both views were copied
    expect((await pool.decompress(frames[0])).equals(Buffer.alloc(MiB, 2))).toBe(true);
    expect((await pool.decompress(frames[1])).equals(Buffer.alloc(MiB, 1))).toBe(true);
  });

  it('ownsBuffer: frames from frameBuffer() live in shared memory, go to the worker without a move, and come back for the next frame', async () => {
    const own = new FramePool({ threads: 2 });
    try {
      const size = 256 * 1024;
      const first = own.frameBuffer(size);
      expect(first.buffer).toBeInstanceOf(SharedArrayBuffer);
      first.fill(9);
      const frame = await own.compress(first.subarray(0, 1000), { ownsBuffer: true });
      expect(first.buffer.byteLength).toBe(size); // shared, not detached
      expect((await own.decompress(Buffer.from(frame), 1000)).equals(Buffer.alloc(1000, 9))).toBe(true);
      // The same memory is handed out again once its frame was compressed.
      const again = own.frameBuffer(size);
      expect(again.buffer).toBe(first.buffer);
      // While it is out, another request gets other memory; other sizes too.
      expect(own.frameBuffer(size).buffer).not.toBe(first.buffer);
      expect(own.frameBuffer(size / 2).length).toBe(size / 2);
    } finally {
      await own.close();
    }
  });

  it('release(): the next compression writes into the released result; an unreleased one is never overwritten', async () => {
    const own = new FramePool({ threads: 1 });
    try {
      const size = 512 * 1024;
      const data = randomBytes(size);
      const frameOf = (bytes: Buffer): Buffer => {
        const frame = own.frameBuffer(size);
        bytes.copy(frame);
        return frame.subarray(0, bytes.length);
      };
      const first = await own.compress(frameOf(data), { ownsBuffer: true });
      expect(first.buffer).toBeInstanceOf(SharedArrayBuffer);
      const firstCopy = Buffer.from(first);
      // Not released: a second frame goes elsewhere and the first result stays intact.
      const second = await own.compress(frameOf(data.subarray(0, 1000)), { ownsBuffer: true });
      expect(second.buffer).not.toBe(first.buffer);
      expect(first.equals(firstCopy)).toBe(true);
      // Released: the next result is written into that memory.
      own.release(first);
      const third = await own.compress(frameOf(data.subarray(0, 5000)), { ownsBuffer: true });
      expect(third.buffer).toBe(first.buffer);
      expect((await own.decompress(Buffer.from(third), 5000)).equals(data.subarray(0, 5000))).toBe(true);
      expect((await own.decompress(Buffer.from(second), 1000)).equals(data.subarray(0, 1000))).toBe(true);
      // Without ownsBuffer, results are ordinary memory of their own.
      const plain = await own.compress(Buffer.from(data));
      expect(plain.buffer).toBeInstanceOf(ArrayBuffer);
    } finally {
      await own.close();
    }
  });

  it('decompress shared: input copied (the caller keeps it), result in shared memory reused after release(), failures still reject', async () => {
    const own = new FramePool({ threads: 1 });
    try {
      const data = randomBytes(300 * 1024);
      const frame = await own.compress(Buffer.from(data));
      const download = Buffer.concat([Buffer.from('xx'), frame, Buffer.from('yy')]);
      const view = download.subarray(2, 2 + frame.length);
      const first = await own.decompress(view, data.length, { shared: true });
      expect(first.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(first.equals(data)).toBe(true);
      expect(download.buffer.byteLength).toBeGreaterThan(0); // not detached
      expect(view.equals(frame)).toBe(true);
      own.release(first);
      const second = await own.decompress(view, data.length, { shared: true });
      expect(second.buffer).toBe(first.buffer);
      // Corrupt input and a wrong size still reject, and the pool keeps working.
      const corrupt = Buffer.from(frame);
      corrupt[Math.floor(corrupt.length / 2)]! ^= 0xff;
      await expect(own.decompress(corrupt, data.length, { shared: true })).rejects.toThrow(/zstd decompression failed/);
      await expect(own.decompress(view, data.length - 1, { shared: true })).rejects.toThrow(/expected/);
      expect((await own.decompress(view, data.length, { shared: true })).equals(data)).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('inputBuffer(): frames downloaded into it decompress where they lie, and after release() it serves the next download', async () => {
    const own = new FramePool({ threads: 2 });
    try {
      const parts = [randomBytes(200 * 1024), Buffer.alloc(500 * 1024, 7), randomBytes(64 * 1024)];
      const frames = await Promise.all(parts.map((p) => own.compress(Buffer.from(p))));
      const total = frames.reduce((n, f) => n + f.length, 0);
      const input = own.inputBuffer(total);
      expect(input.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(input.length).toBe(total);
      let at = 0;
      const views = frames.map((f) => {
        f.copy(input, at);
        at += f.length;
        return input.subarray(at - f.length, at);
      });
      const decoded = await Promise.all(views.map((v, i) => own.decompress(v, parts[i]!.length, { shared: true })));
      decoded.forEach((d, i) => expect(d.equals(parts[i]!), `frame ${i}`).toBe(true));
      // The frames were read in place: the input is intact, and it is still in use until released.
      expect(Buffer.compare(input.subarray(0, frames[0]!.length), frames[0]!)).toBe(0);
      expect(own.inputBuffer(total).buffer).not.toBe(input.buffer);
      own.release(input);
      expect(own.inputBuffer(total).buffer).toBe(input.buffer);
    } finally {
      await own.close();
    }
  });

  it('frames in shared memory survive a worker crash: the replacement knows every slab', async () => {
    const own = new FramePool({ threads: 1 });
    try {
      const frame = own.frameBuffer(64 * 1024);
      frame.fill(3);
      await own.compress(frame, { ownsBuffer: true });
      const worker = (own as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots[0]!.worker;
      await worker.terminate();
      await sleep(50);
      const again = own.frameBuffer(64 * 1024);
      again.fill(4);
      const result = await own.compress(again, { ownsBuffer: true });
      expect((await own.decompress(Buffer.from(result), 64 * 1024)).equals(Buffer.alloc(64 * 1024, 4))).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('a crashed worker rejects its task and is replaced', async () => {
    const p = new FramePool({ threads: 1, level: 19 });
    try {
      await p.compress(Buffer.from('warm up'));
      const slow = p.compress(Buffer.from('some text that compresses slowly at level 19 '.repeat(200_000)));
      const queued = p.compress(Buffer.from('queued behind the crash'));
      await sleep(30);
      const internals = p as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> };
      await internals.slots[0]!.worker.terminate();
      await expect(slow).rejects.toThrow(/worker crashed during compress/);
      // The queued task runs on the replacement.
      expect((await p.decompress(await queued)).toString()).toBe('queued behind the crash');
      expect(p.threads).toBe(1);
    } finally {
      await p.close();
    }
  });

  it('starts one worker at once and the others only when tasks wait for them', async () => {
    const p = new FramePool({ threads: 3 });
    const started = (): number => (p as unknown as { slots: unknown[] }).slots.length;
    try {
      expect(p.threads).toBe(3);
      expect(started()).toBe(1);
      // One task at a time (a restore of one small file) never needs a second worker.
      for (let i = 0; i < 3; i++) await p.decompress(await p.compress(Buffer.from(`one at a time ${i}`)));
      expect(started()).toBe(1);
      // Tasks waiting together start workers up to the pool's size, no more.
      const data = Array.from({ length: 6 }, (_, i) => Buffer.alloc(MiB, i));
      const frames = await Promise.all(data.map((d) => p.compress(Buffer.from(d))));
      expect(started()).toBe(3);
      const back = await Promise.all(frames.map((f) => p.decompress(f)));
      back.forEach((b, i) => expect(b.equals(data[i]!)).toBe(true));
      expect(started()).toBe(3);
    } finally {
      await p.close();
    }
  });

  it('rejects a bad thread count', () => {
    expect(() => new FramePool({ threads: 0 })).toThrow(RangeError);
  });

  it('close() rejects queued and running tasks, and later calls', async () => {
    const p = new FramePool({ threads: 1, level: 19 });
    const tasks = Array.from({ length: 6 }, () => p.compress(randomBytes(2 * MiB)));
    const settled = Promise.allSettled(tasks);
    await sleep(20);
    await p.close();
    const results = await settled;
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect((results[5] as PromiseRejectedResult).reason).toMatchObject({ code: 'E_ABORTED' });
    await expect(p.compress(Buffer.from('late'))).rejects.toMatchObject({ code: 'E_ABORTED' });
    await expect(p.decompress(Buffer.from('late'))).rejects.toMatchObject({ code: 'E_ABORTED' });
  });
});

describe('FramePool and process exit', () => {
  // The pool's modules, transpiled to plain JS in a temp dir, run in a child Node process: does it exit by itself?
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-pool-exit-'));
    for (const file of ['src/errors.ts', 'src/zstd/pool.ts', 'src/zstd/pool-worker.ts', 'src/zstd/worker-thread.ts']) {
      const source = await fs.readFile(path.join(import.meta.dirname, '../..', file), 'utf8');
      const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
      const out = path.join(dir, file.replace(/\.ts$/, '.js'));
      await fs.mkdir(path.dirname(out), { recursive: true });
      await fs.writeFile(out, outputText);
    }
    await fs.writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const run = (body: string) =>
    execa('node', ['--input-type=module', '-e', `import { FramePool } from ${JSON.stringify(path.join(dir, 'src/zstd/pool.js'))};\n${body}`], {
      // The transpiled worker resolves zstd-napi from its temp dir: point it at this project's copy.
      env: { NODE_PATH: path.join(import.meta.dirname, '../../node_modules') },
      timeout: 20_000,
    });

  it('an idle pool that was never closed does not keep the process alive', async () => {
    const { stdout } = await run(`
      const pool = new FramePool({ threads: 2 });
      const frame = await pool.compress(Buffer.from('x'.repeat(100000)));
      const back = await pool.decompress(frame, 100000);
      console.log('done', back.length);`);
    expect(stdout).toBe('done 100000');
  });

  it('a busy pool keeps the process alive until its tasks finish', async () => {
    const { stdout } = await run(`
      const pool = new FramePool({ threads: 1, level: 19 });
      pool.compress(Buffer.from('text '.repeat(400000))).then((f) => console.log('finished', f.readUInt32LE(0).toString(16)));`);
    expect(stdout).toBe('finished fd2fb528');
  });

  it('close() rejects pending tasks and the process exits', async () => {
    const { stdout } = await run(`
      const pool = new FramePool({ threads: 1, level: 19 });
      const tasks = [1, 2, 3].map(() => pool.compress(Buffer.from('text '.repeat(400000))).then(() => 'ok', (e) => e.code));
      await pool.close();
      console.log((await Promise.all(tasks)).join(','));`);
    expect(stdout).toBe('E_ABORTED,E_ABORTED,E_ABORTED');
  });
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) out.push(value);
  return out;
}

describe('mapOrdered', () => {
  it('yields results in source order despite random delays', async () => {
    const source = Array.from({ length: 60 }, (_, i) => i);
    const results = await collect(
      mapOrdered(
        source,
        async (x, index) => {
          expect(index).toBe(x);
          await sleep(Math.floor(Math.random() * 15));
          return x * 2;
        },
        5,
      ),
    );
    expect(results).toEqual(source.map((x) => x * 2));
  });

  it('accepts async iterables', async () => {
    async function* gen(): AsyncGenerator<string> {
      for (const s of ['a', 'b', 'c']) {
        await sleep(1);
        yield s;
      }
    }
    expect(await collect(mapOrdered(gen(), async (s) => s.toUpperCase(), 2))).toEqual(['A', 'B', 'C']);
  });

  it('keeps at most `concurrency` calls in flight, and uses that many', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await collect(
      mapOrdered(
        Array.from({ length: 40 }, (_, i) => i),
        async (x) => {
          inFlight++;
          peak = Math.max(peak, inFlight);
          await sleep(Math.floor(Math.random() * 10) + 1);
          inFlight--;
          return x;
        },
        4,
      ),
    );
    expect(results).toHaveLength(40);
    expect(peak).toBe(4);
  });

  it('stops pulling the source while results wait to be consumed', async () => {
    let pulled = 0;
    function* source(): Generator<number> {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield i;
      }
    }
    const iterator = mapOrdered(source(), async (x) => x, 3)[Symbol.asyncIterator]();
    await iterator.next();
    await sleep(20);
    expect(pulled).toBeLessThanOrEqual(1 + 3);
    await iterator.return(undefined);
  });

  it('propagates an error from fn, after the results before it', async () => {
    const seen: number[] = [];
    const run = (async () => {
      for await (const x of mapOrdered(
        Array.from({ length: 20 }, (_, i) => i),
        async (x) => {
          await sleep(x === 5 ? 1 : 5);
          if (x === 5) throw new Error('boom at 5');
          return x;
        },
        3,
      ))
        seen.push(x);
    })();
    await expect(run).rejects.toThrow('boom at 5');
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('propagates an error from the source', async () => {
    async function* source(): AsyncGenerator<number> {
      yield 1;
      throw new Error('source failed');
    }
    await expect(collect(mapOrdered(source(), async (x) => x, 2))).rejects.toThrow('source failed');
  });

  it('stops pulling the source and closes it on early return', async () => {
    let pulled = 0;
    let closed = false;
    async function* source(): AsyncGenerator<number> {
      try {
        for (let i = 0; i < 1000; i++) {
          pulled++;
          yield i;
        }
      } finally {
        closed = true;
      }
    }
    const got: number[] = [];
    for await (const x of mapOrdered(source(), async (v) => v, 4)) {
      got.push(x);
      if (got.length === 3) break;
    }
    expect(got).toEqual([0, 1, 2]);
    expect(closed).toBe(true);
    expect(pulled).toBeLessThanOrEqual(3 + 4);
    const pulledAtBreak = pulled;
    await sleep(20);
    expect(pulled).toBe(pulledAtBreak);
  });

  it('stops with the abort reason when its signal is aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('stop now');
    const got: number[] = [];
    const run = (async () => {
      for await (const x of mapOrdered(
        Array.from({ length: 100 }, (_, i) => i),
        async (v) => v,
        2,
        controller.signal,
      )) {
        got.push(x);
        if (x === 4) controller.abort(reason);
      }
    })();
    await expect(run).rejects.toBe(reason);
    expect(got.length).toBeLessThan(10);
  });

  it('starts no further calls once one has failed', async () => {
    const started: number[] = [];
    const run = collect(
      mapOrdered(
        Array.from({ length: 50 }, (_, i) => i),
        async (x) => {
          started.push(x);
          if (x === 2) throw new Error('fail at 2');
          await sleep(30);
          return x;
        },
        3,
      ),
    );
    await expect(run).rejects.toThrow('fail at 2');
    expect(Math.max(...started)).toBeLessThan(2 + 3 + 1);
  });

  it('an abort while waiting for a slow result throws its reason once the call in flight settles', async () => {
    const controller = new AbortController();
    const reason = new Error('aborted while waiting');
    setTimeout(() => controller.abort(reason), 20);
    let settled = false;
    await expect(
      collect(
        mapOrdered(
          [1],
          async (v) => {
            await sleep(200);
            settled = true;
            return v;
          },
          1,
          controller.signal,
        ),
      ),
    ).rejects.toBe(reason);
    // The generator still lets the call in flight settle before it finishes.
    expect(settled).toBe(true);
  });

  it('rejects a bad concurrency', async () => {
    await expect(collect(mapOrdered([1], async (x) => x, 0))).rejects.toThrow(RangeError);
  });

  it('works end to end with the pool: frames come back in order', async () => {
    const chunks = Array.from({ length: 30 }, (_, i) => Buffer.from(`chunk ${i} `.repeat(100 + ((i * 37) % 200))));
    const frames = await collect(mapOrdered(chunks, (c) => pool.compress(Buffer.from(c)), 4));
    expect((await zstdDecode(Buffer.concat(frames))).equals(Buffer.concat(chunks))).toBe(true);
  });
});
