import { createHash, randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { packFrames, type PackOptions } from '../../src/backup/pack.js';
import { matchParent } from '../../src/backup/parent.js';
import { walk, type WalkItem } from '../../src/backup/walk.js';
import type { BackupWarning, IndexEntry } from '../../src/format/types.js';
import { restore } from '../../src/restore/restore.js';
import { LocalStore } from '../../src/store/local-store.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-pack-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function freshDir(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.mkdir(dir, { recursive: true });
  return dir;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) out.push(value);
  return out;
}

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

interface PackResult {
  frames: Buffer[];
  entries: IndexEntry[];
  warnings: BackupWarning[];
}

/** Frame limits scaled to a test's frame size (the defaults assume 4 MiB frames). */
function limitsFor(frameSize: number): Pick<PackOptions, 'smallFrames' | 'chunks'> {
  const bits = Math.max(4, Math.floor(Math.log2(frameSize)) - 1);
  return { smallFrames: { min: frameSize / 16, average: frameSize / 16 }, chunks: { min: frameSize / 8, normal: 2 ** bits, bits } };
}

/** packFrames without a parent: every frame is new; yields their bytes and hands each member's entry to onEntry, in tar order. */
async function* packBuffers(
  items: AsyncIterable<WalkItem>,
  options: { frameSize: number; onEntry: (entry: IndexEntry) => void; onWarning: (warning: BackupWarning) => void; onBytesRead?: (bytes: number) => void; recycle?: boolean },
): AsyncGenerator<Buffer> {
  const { frameSize, onWarning, onBytesRead } = options;
  // Gigabytes in fresh 4 MiB buffers keep the collector busy; a consumer that is done with each
  // frame before asking for the next can take them from a small ring (the packer holds at most two).
  const ring = Array.from({ length: 4 }, () => Buffer.allocUnsafeSlow(frameSize));
  let next = 0;
  const allocate = options.recycle ? (): Buffer => ring[next++ % ring.length]! : undefined;
  for await (const frame of packFrames(matchParent(items, undefined, false), { frameSize, ...limitsFor(frameSize), onWarning, onBytesRead, allocate })) {
    if (frame.kind !== 'new') throw new Error('without a parent every frame is new');
    for (const entry of frame.entries) options.onEntry(entry);
    yield frame.data;
  }
}

async function pack(items: AsyncIterable<WalkItem>, frameSize: number): Promise<PackResult> {
  const entries: IndexEntry[] = [];
  const warnings: BackupWarning[] = [];
  const frames = await collect(packBuffers(items, { frameSize, onEntry: (e) => entries.push(e), onWarning: (w) => warnings.push(w) }));
  return { frames, entries, warnings };
}

interface Member {
  header: tar.Header;
  data: Buffer;
}

/** Decodes a whole tar stream with tar-stream (an independent reader); rejects on any malformed header. */
async function decodeTar(stream: Buffer): Promise<Member[]> {
  const extract = tar.extract();
  const members: Member[] = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      members.push({ header: entry.header, data: Buffer.concat(chunks) });
    }
  })();
  extract.end(stream);
  await reading;
  return members;
}

/** A WalkItem for `absPath` whose stats are the real lstat but with `size` replaced (prototype kept, so isFile() etc. still work). */
async function itemWithClaimedSize(absPath: string, relPath: string, size: bigint, statsOf = absPath): Promise<WalkItem> {
  const real = await fs.lstat(statsOf, { bigint: true });
  const stats = Object.assign(Object.create(Object.getPrototypeOf(real) as object) as object, real, { size }) as BigIntStats;
  return { path: relPath, absPath, stats, type: 'file' };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const padding = (size: number): number => (512 - (size % 512)) % 512;

describe('packFrames: a file larger than 8 GiB', () => {
  it('stores a sparse 8 GiB + 3 MiB + 5 B file with a pax size record, GNU base-256 size, exact offsets and SHA-256, in frames of at most 4 MiB', async () => {
    const dir = await freshDir('huge');
    const size = 8 * GiB + 3 * MiB + 5;
    const file = path.join(dir, 'huge.bin');
    await fs.writeFile(file, '');
    await fs.truncate(file, size);
    try {
      const frameSize = 4 * MiB;
      const entries: IndexEntry[] = [];
      const warnings: BackupWarning[] = [];
      let first: Buffer | undefined;
      let second: Buffer | undefined;
      let frameCount = 0;
      let total = 0;
      let largest = 0;
      let bytesRead = 0;
      // Bytes read from the file but not yet handed to the consumer: the packer should hold
      // about one frame (its doc: "the packer holds one frame buffer of this size").
      let peakHeld = 0;
      for await (const frame of packBuffers(walk({ root: dir }), {
        frameSize,
        recycle: true,
        onEntry: (e) => entries.push(e),
        onWarning: (w) => warnings.push(w),
        onBytesRead: (n) => {
          bytesRead += n;
          peakHeld = Math.max(peakHeld, bytesRead - total);
        },
      })) {
        if (first === undefined) first = Buffer.from(frame);
        else if (second === undefined) second = Buffer.from(frame.subarray(0, 4096));
        frameCount++;
        total += frame.length;
        largest = Math.max(largest, frame.length);
      }
      expect(warnings).toEqual([]);
      expect(entries).toHaveLength(1);
      const entry = entries[0]!;
      expect(entry.path).toBe('huge.bin');
      expect(entry.type).toBe('file');
      expect(entry.size).toBe(size);
      expect(entry.offset).toBe(0);
      // pax header block + one block of records + ustar header.
      expect(entry.dataOffset).toBe(1536);

      const zeros = Buffer.alloc(4 * MiB);
      const expected = createHash('sha256');
      for (let left = size; left > 0; left -= zeros.length) expected.update(zeros.subarray(0, Math.min(left, zeros.length)));
      expect(entry.sha256).toBe(expected.digest('hex'));

      expect(bytesRead).toBe(size);
      expect(largest).toBeLessThanOrEqual(frameSize);
      expect(total).toBe(entry.dataOffset + size + padding(size) + 1024);
      // Headers alone, then the content in chunks of at most a frame each.
      expect(frameCount).toBeGreaterThanOrEqual(Math.ceil(total / frameSize));
      expect(first!.length).toBe(entry.dataOffset);

      // The first frame's bytes: pax header with a size record, then a ustar header holding GNU base-256.
      const head = first!;
      expect(head.toString('latin1', 156, 157)).toBe('x');
      const paxLength = parseInt(head.toString('latin1', 124, 135), 8);
      const records = head.toString('utf8', 512, 512 + paxLength);
      expect(records).toContain(` size=${size}\n`);
      const sizeRecord = records.split('\n').find((r) => r.includes(' size='))! + '\n';
      expect(Number(sizeRecord.split(' ')[0])).toBe(Buffer.byteLength(sizeRecord));
      const ustar = head.subarray(1024, 1536);
      expect(ustar.toString('latin1', 257, 263)).toBe('ustar\0');
      expect(ustar.toString('latin1', 156, 157)).toBe('0');
      expect(ustar[124]).toBe(0x80);
      let base256 = 0n;
      for (let i = 125; i < 136; i++) base256 = (base256 << 8n) | BigInt(ustar[i]!);
      expect(base256).toBe(BigInt(size));
      // The content starts in the next frame and is all zeros.
      expect(second!.every((b) => b === 0)).toBe(true);

      // Memory bound: frames must be handed out while a large file is read, not after it.
      expect.soft(peakHeld, 'bytes read but not yet yielded (whole file buffered in memory?)').toBeLessThanOrEqual(2 * frameSize);
    } finally {
      await fs.rm(file, { force: true });
    }
  }, 180_000);
});

describe('packFrames: frames are yielded while a large file is read', () => {
  it('never holds more than about one frame of a 64 MiB file', async () => {
    const dir = await freshDir('bounded');
    const size = 64 * MiB + 7;
    await fs.writeFile(path.join(dir, 'big.bin'), '');
    await fs.truncate(path.join(dir, 'big.bin'), size);
    const frameSize = 1 * MiB;
    let bytesRead = 0;
    let yielded = 0;
    let peakHeld = 0;
    for await (const frame of packBuffers(walk({ root: dir }), {
      frameSize,
      onEntry: () => undefined,
      onWarning: () => undefined,
      onBytesRead: (n) => {
        bytesRead += n;
        peakHeld = Math.max(peakHeld, bytesRead - yielded);
      },
    })) {
      yielded += frame.length;
    }
    expect(bytesRead).toBe(size);
    expect(peakHeld).toBeLessThanOrEqual(2 * frameSize);
  });
});

describe('backup → restore keeps owners and times', () => {
  it('uid/gid above 262143, an mtime before 1970 and a sub-second mtime survive through LocalStore', async () => {
    const source = await freshDir('owners-src');
    const repo = await freshDir('owners-repo');
    const target = await freshDir('owners-target');
    const big = path.join(source, 'bigids.txt');
    const old = path.join(source, 'before1970.txt');
    const frac = path.join(source, 'subsecond.txt');
    await fs.writeFile(big, 'owned by a large uid\n');
    await fs.writeFile(old, 'older than the epoch\n');
    await fs.writeFile(frac, 'sub-second\n');
    await fs.chown(big, 3000000, 3000001);
    // Node's utimes turns a negative *number* into "now"; a decimal string is taken as is.
    await fs.utimes(old, '-86400.5', '-86400.5');
    await fs.utimes(frac, 1764170000.123456, 1764170000.123456);
    await fs.utimes(big, 1700000000.25, 1700000000.25);
    const before = {
      big: await fs.lstat(big),
      old: await fs.lstat(old),
      frac: await fs.lstat(frac),
    };
    expect(before.old.mtimeMs).toBe(-86400500);
    expect(before.big.uid).toBe(3000000);

    const store = new LocalStore(repo);
    const result = await backup({ store, sources: [{ kind: 'tree', path: source, name: 'owners' }], threads: 1 });
    expect(result.warningCount).toBe(0);
    await restore({ store, snapshot: 'latest', target });

    const names = [
      ['bigids.txt', before.big],
      ['before1970.txt', before.old],
      ['subsecond.txt', before.frac],
    ] as const;
    const expected = names.map(([name, stats]) => ({ name, uid: stats.uid, gid: stats.gid, mtimeMs: stats.mtimeMs }));
    const actual = [];
    for (const [name] of names) {
      const after = await fs.lstat(path.join(target, 'owners', name));
      actual.push({ name, uid: after.uid, gid: after.gid, mtimeMs: after.mtimeMs });
    }
    expect(actual).toEqual(expected);
    expect(result.record.artifacts[0]!.entryCount).toBe(3);
  });
});

describe('packFrames: files that change while read', () => {
  it('zero-pads a file that shrank to the size in its header and warns W_CHANGED', async () => {
    const dir = await freshDir('shrink');
    const real = randomBytes(3000);
    const file = path.join(dir, 'shrink.bin');
    await fs.writeFile(file, real);
    const after = path.join(dir, 'after.txt');
    await fs.writeFile(after, 'the member after it\n');
    const claimed = 10_000;
    const items = [await itemWithClaimedSize(file, 'shrink.bin', BigInt(claimed)), await itemWithClaimedSize(after, 'after.txt', 20n)];
    const { frames, entries, warnings } = await pack(fromArray(items), 4096);

    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'W_CHANGED', path: 'shrink.bin' });
    expect(warnings[0]!.message).toMatch(/shr[a-z]*/);
    const expectedContent = Buffer.concat([real, Buffer.alloc(claimed - real.length)]);
    expect(entries[0]).toMatchObject({ path: 'shrink.bin', size: claimed, sha256: sha256(expectedContent) });
    for (const frame of frames) expect(frame.length).toBeLessThanOrEqual(4096);

    const stream = Buffer.concat(frames);
    expect(stream.subarray(entries[0]!.dataOffset, entries[0]!.dataOffset + claimed).equals(expectedContent)).toBe(true);
    const members = await decodeTar(stream);
    expect(members.map((m) => [m.header.name, m.header.size, m.data.length])).toEqual([
      ['shrink.bin', claimed, claimed],
      ['after.txt', 20, 20],
    ]);
    expect(members[0]!.data.equals(expectedContent)).toBe(true);
    expect(members[1]!.data.toString()).toBe('the member after it\n');
    expect(stream.length).toBe(entries[1]!.dataOffset + 512 + 1024);
  });

  it('cuts a file that grew at the size in its header and warns W_CHANGED (grew)', async () => {
    const dir = await freshDir('grow');
    const real = randomBytes(9000);
    const file = path.join(dir, 'grow.bin');
    await fs.writeFile(file, real);
    const after = path.join(dir, 'after.txt');
    await fs.writeFile(after, 'still valid\n');
    const claimed = 1000;
    const items = [await itemWithClaimedSize(file, 'grow.bin', BigInt(claimed)), await itemWithClaimedSize(after, 'after.txt', 12n)];
    const { frames, entries, warnings } = await pack(fromArray(items), 4096);

    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'W_CHANGED', path: 'grow.bin' });
    expect(warnings[0]!.message).toMatch(/grew/);
    expect(entries[0]).toMatchObject({ path: 'grow.bin', size: claimed, sha256: sha256(real.subarray(0, claimed)) });
    const members = await decodeTar(Buffer.concat(frames));
    expect(members.map((m) => [m.header.name, m.header.size, m.data.length])).toEqual([
      ['grow.bin', claimed, claimed],
      ['after.txt', 12, 12],
    ]);
    expect(members[0]!.data.equals(real.subarray(0, claimed))).toBe(true);
    expect(members[1]!.data.toString()).toBe('still valid\n');
  });

  it('skips a file that cannot be opened (vanished) with W_VANISHED and writes no member for it', async () => {
    const dir = await freshDir('vanished');
    const kept = path.join(dir, 'kept.txt');
    await fs.writeFile(kept, 'kept\n');
    const gone = await itemWithClaimedSize(path.join(dir, 'does-not-exist'), 'does-not-exist', 5n, kept);
    const { frames, entries, warnings } = await pack(fromArray([gone, await itemWithClaimedSize(kept, 'kept.txt', 5n)]), 64 * KiB);
    expect(warnings).toEqual([expect.objectContaining({ code: 'W_VANISHED', path: 'does-not-exist' })]);
    expect(entries.map((e) => e.path)).toEqual(['kept.txt']);
    expect(entries[0]!.offset).toBe(0);
    const members = await decodeTar(Buffer.concat(frames));
    expect(members.map((m) => m.header.name)).toEqual(['kept.txt']);
  });

  it('a vanished file alone leaves just the end-of-archive blocks', async () => {
    const dir = await freshDir('vanished-alone');
    const real = path.join(dir, 'real');
    await fs.writeFile(real, 'x');
    const gone = await itemWithClaimedSize(path.join(dir, 'nope'), 'nope', 1n, real);
    const { frames, entries, warnings } = await pack(fromArray([gone]), 64 * KiB);
    expect(warnings.map((w) => w.code)).toEqual(['W_VANISHED']);
    expect(entries).toEqual([]);
    const stream = Buffer.concat(frames);
    expect(stream.length).toBe(1024);
    expect(stream.every((b) => b === 0)).toBe(true);
  });
});

describe('packFrames: frame boundaries', () => {
  it('never lets a member of at most one frame straddle frames, and cuts a 10 MiB file into content-defined chunks of at most a frame', async () => {
    const dir = await freshDir('frames');
    const frameSize = 1 * MiB;
    const contents = new Map<string, Buffer>();
    let seed = 1;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    await fs.mkdir(path.join(dir, 'small'));
    for (let i = 0; i < 400; i++) {
      const name = `small/f${String(i).padStart(4, '0')}`;
      const data = randomBytes(Math.floor(rand() * 40_000));
      contents.set(name, data);
      await fs.writeFile(path.join(dir, name), data);
    }
    const big = randomBytes(10 * MiB);
    contents.set('big.bin', big);
    await fs.writeFile(path.join(dir, 'big.bin'), big);
    // Also a member of exactly one frame (header 512 + content).
    const exact = randomBytes(frameSize - 512);
    contents.set('exact.bin', exact);
    await fs.writeFile(path.join(dir, 'exact.bin'), exact);

    const { frames, entries, warnings } = await pack(walk({ root: dir }), frameSize);
    expect(warnings).toEqual([]);
    const starts: number[] = [];
    let at = 0;
    for (const frame of frames) {
      expect(frame.length).toBeGreaterThan(0);
      expect(frame.length).toBeLessThanOrEqual(frameSize);
      starts.push(at);
      at += frame.length;
    }
    const frameOf = (offset: number): number => {
      let k = starts.length - 1;
      while (starts[k]! > offset) k--;
      return k;
    };
    for (const entry of entries) {
      const end = entry.dataOffset + entry.size + padding(entry.size); // exclusive
      if (end - entry.offset <= frameSize) {
        expect({ path: entry.path, frame: frameOf(end - 1) }).toEqual({ path: entry.path, frame: frameOf(entry.offset) });
      }
      if (entry.type === 'file') expect({ path: entry.path, sha256: entry.sha256 }).toEqual({ path: entry.path, sha256: sha256(contents.get(entry.path)!) });
    }
    const bigEntry = entries.find((e) => e.path === 'big.bin')!;
    const bigEnd = bigEntry.dataOffset + bigEntry.size;
    const first = frameOf(bigEntry.offset);
    const last = frameOf(bigEnd - 1);
    // A frame of its headers alone, then chunks of at least chunks.min and at most a frame.
    expect(starts[first]).toBe(bigEntry.offset);
    expect(frames[first]!.length).toBe(bigEntry.dataOffset - bigEntry.offset);
    expect(last - first).toBeGreaterThanOrEqual(6);
    for (let k = first + 1; k < last; k++) expect(frames[k]!.length).toBeGreaterThanOrEqual(limitsFor(frameSize).chunks.min);
    // Its last frame ends with its padding: the next member starts a frame.
    expect(starts[last]! + frames[last]!.length).toBe(bigEnd + padding(bigEntry.size));

    const members = await decodeTar(Buffer.concat(frames));
    expect(members).toHaveLength(entries.length);
    for (const [i, member] of members.entries()) {
      const entry = entries[i]!;
      expect(member.header.name.replace(/\/$/, '')).toBe(entry.path);
      if (entry.type === 'file') expect(member.data.equals(contents.get(entry.path)!)).toBe(true);
    }
  });
});

describe('packFrames: hard links', () => {
  it('stores the second path of an inode as a hardlink to the first', async () => {
    const dir = await freshDir('hardlinks');
    await fs.writeFile(path.join(dir, 'a.txt'), 'shared content\n');
    await fs.link(path.join(dir, 'a.txt'), path.join(dir, 'b.txt'));
    await fs.mkdir(path.join(dir, 'sub'));
    await fs.link(path.join(dir, 'a.txt'), path.join(dir, 'sub', 'c.txt'));
    const { frames, entries, warnings } = await pack(walk({ root: dir }), 64 * KiB);
    expect(warnings).toEqual([]);
    expect(entries.map((e) => [e.path, e.type, e.size, e.link])).toEqual([
      ['a.txt', 'file', 15, undefined],
      ['b.txt', 'hardlink', 0, 'a.txt'],
      ['sub', 'dir', 0, undefined],
      ['sub/c.txt', 'hardlink', 0, 'a.txt'],
    ]);
    expect(entries[1]!.sha256).toBeUndefined();
    const members = await decodeTar(Buffer.concat(frames));
    expect(members.map((m) => [m.header.name, m.header.type, m.header.linkname ?? null, m.data.length])).toEqual([
      ['a.txt', 'file', null, 15],
      ['b.txt', 'link', 'a.txt', 0],
      ['sub/', 'directory', null, 0],
      ['sub/c.txt', 'link', 'a.txt', 0],
    ]);
  });
});
