// verify of version-2 snapshots: referenced objects of earlier snapshots and the recipe are checked, each object is hashed once, and what only a full read finds is found in referenced objects too.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compress, decompress } from 'zstd-napi';
import type { CommitRecord, FrameRecord } from '../../src/format/types.js';
import { commitKey } from '../../src/repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { GetOptions } from '../../src/store/object-store.js';
import { frameRuns, parseRecipe, recipeDifference, verifySnapshot, type VerifyProblem } from '../../src/verify.js';
import { cassette } from '../helpers/cli.js';
import { buildChain, type HandBuiltRepo } from '../helpers/hand-built-repo.js';
import { pattern } from '../helpers/pattern.js';

const KiB = 1024;
const S1 = '20261201T010000Z-b00001';
const S2 = '20261202T010000Z-b00002';
const S3 = '20261203T010000Z-b00003';
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

const frame = (n: number, volume: number, offset: number, size: number): FrameRecord => ({ frame: n, volume, offset, size, tarOffset: n * 100, tarSize: 100 });
const OBJECTS = [{ key: 'data/S3/etc.tar.zst' }, { key: 'data/S1/etc.tar.zst' }, { key: 'data/S2/etc.tar.zst' }];

describe('frameRuns', () => {
  it.each<[string, FrameRecord[], string[]]>([
    ['frames back to back in one object: one run', [frame(0, 0, 0, 10), frame(1, 0, 10, 5), frame(2, 0, 15, 7)], ['data/S3/etc.tar.zst 0-21']],
    [
      'a reference between new frames: three runs',
      [frame(0, 0, 0, 10), frame(1, 1, 400, 30), frame(2, 0, 10, 5)],
      ['data/S3/etc.tar.zst 0-9', 'data/S1/etc.tar.zst 400-429', 'data/S3/etc.tar.zst 10-14'],
    ],
    [
      'reused frames back to back in the referenced object: merged',
      [frame(0, 1, 100, 30), frame(1, 1, 130, 20), frame(2, 2, 0, 8)],
      ['data/S1/etc.tar.zst 100-149', 'data/S2/etc.tar.zst 0-7'],
    ],
    ['reused frames of one object with a gap: not merged', [frame(0, 1, 100, 30), frame(1, 1, 140, 20)], ['data/S1/etc.tar.zst 100-129', 'data/S1/etc.tar.zst 140-159']],
    ['reused frames of one object out of order: not merged', [frame(0, 1, 130, 20), frame(1, 1, 100, 30)], ['data/S1/etc.tar.zst 130-149', 'data/S1/etc.tar.zst 100-129']],
    ['the same frame twice in a row: two runs', [frame(0, 1, 100, 30), frame(1, 1, 100, 30)], ['data/S1/etc.tar.zst 100-129', 'data/S1/etc.tar.zst 100-129']],
    ['two objects whose ranges happen to continue each other: not merged', [frame(0, 1, 0, 10), frame(1, 2, 10, 10)], ['data/S1/etc.tar.zst 0-9', 'data/S2/etc.tar.zst 10-19']],
    ['no frames', [], []],
  ])('%s', (_label, frames, expected) => {
    const runs = frameRuns(frames, OBJECTS);
    expect(runs.map((r) => `${r.key} ${r.first}-${r.last}`)).toEqual(expected);
    expect(runs.flatMap((r) => r.frames)).toEqual(frames);
  });
});

describe('parseRecipe and recipeDifference', () => {
  const expected = frameRuns([frame(0, 0, 0, 10), frame(1, 1, 400, 30), frame(2, 1, 430, 10)], OBJECTS);
  it.each<[string, string, string | undefined]>([
    ['the recipe the frame table implies', 'data/S3/etc.tar.zst 0 9\ndata/S1/etc.tar.zst 400 439\n', undefined],
    ['a run split in two segments: the same bytes', 'data/S3/etc.tar.zst 0 9\ndata/S1/etc.tar.zst 400 429\ndata/S1/etc.tar.zst 430 439\n', undefined],
    ['a run split inside a frame: the same bytes', 'data/S3/etc.tar.zst 0 4\ndata/S3/etc.tar.zst 5 9\ndata/S1/etc.tar.zst 400 439\n', undefined],
    ['another object', 'data/S3/etc.tar.zst 0 9\ndata/S2/etc.tar.zst 400 439\n', 'run 2 is data/S2/etc.tar.zst 400-439, the frame table gives data/S1/etc.tar.zst 400-439'],
    ['a byte short', 'data/S3/etc.tar.zst 0 9\ndata/S1/etc.tar.zst 400 438\n', 'run 2 is data/S1/etc.tar.zst 400-438, the frame table gives data/S1/etc.tar.zst 400-439'],
    ['the runs swapped', 'data/S1/etc.tar.zst 400 439\ndata/S3/etc.tar.zst 0 9\n', 'run 1 is data/S1/etc.tar.zst 400-439, the frame table gives data/S3/etc.tar.zst 0-9'],
    ['a run missing', 'data/S3/etc.tar.zst 0 9\n', 'it has 1 runs of bytes, the frame table gives 2'],
    ['a run too many', 'data/S3/etc.tar.zst 0 9\ndata/S1/etc.tar.zst 400 439\ndata/S1/etc.tar.zst 0 9\n', 'it has 3 runs of bytes, the frame table gives 2'],
    ['no newline at the end', 'data/S3/etc.tar.zst 0 9\ndata/S1/etc.tar.zst 400 439', 'its last line has no newline'],
    ['a range backwards', 'data/S3/etc.tar.zst 9 0\ndata/S1/etc.tar.zst 400 439\n', 'line 1 is not "<key> <first byte> <last byte>": "data/S3/etc.tar.zst 9 0"'],
    ['two spaces', 'data/S3/etc.tar.zst  0 9\n', 'line 1 is not "<key> <first byte> <last byte>": "data/S3/etc.tar.zst  0 9"'],
    ['a CR before the newline', 'data/S3/etc.tar.zst 0 9\r\n', 'line 1 is not "<key> <first byte> <last byte>": "data/S3/etc.tar.zst 0 9\\r"'],
    ['a leading zero', 'data/S3/etc.tar.zst 00 9\n', 'line 1 is not "<key> <first byte> <last byte>": "data/S3/etc.tar.zst 00 9"'],
    ['an empty line', 'data/S3/etc.tar.zst 0 9\n\ndata/S1/etc.tar.zst 400 439\n', 'line 2 is not "<key> <first byte> <last byte>": ""'],
    ['empty', '', 'it has 0 runs of bytes, the frame table gives 2'],
  ])('%s', (_label, text, difference) => {
    expect(recipeDifference(text, expected)).toBe(difference);
  });

  it('parses numbers up to 2^53 - 1 and refuses larger ones', () => {
    expect(parseRecipe('k 0 9007199254740991\n')).toEqual([{ key: 'k', first: 0, last: 9007199254740991 }]);
    expect(() => parseRecipe('k 0 9007199254740992\n')).toThrow('line 1 is not');
  });
});

/** A LocalStore that counts whole-object reads (GET without a range) per key. */
class CountingStore extends LocalStore {
  wholeReads = new Map<string, number>();
  override async get(key: string, options?: GetOptions): Promise<Readable> {
    if (!options?.range) this.wholeReads.set(key, (this.wholeReads.get(key) ?? 0) + 1);
    return super.get(key, options);
  }
}

describe('verify of incremental snapshots', () => {
  let work: string;
  let dirs = 0;
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-verify-v2-'));
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  interface Repo {
    dir: string;
    store: CountingStore;
    chain: [HandBuiltRepo, HandBuiltRepo, HandBuiltRepo];
    /** S3's record. */
    record: CommitRecord;
  }

  /** S1 full, S2 and S3 incremental; S3 reads `big` from S1's volume and `b` from S2's. */
  async function repo(baseVersion: 1 | 2 = 2): Promise<Repo> {
    const dir = path.join(work, `repo-${++dirs}`);
    const b2 = pattern(100 * KiB, 3);
    const chain = await buildChain(dir, { ids: [S1, S2, S3], big: pattern(300 * KiB, 1), b: [pattern(100 * KiB, 2), b2, b2], baseVersion });
    expect(chain[2].record.artifacts[0]!.references!.map((r) => r.key)).toEqual([`data/${S1}/etc.tar.zst`, `data/${S2}/etc.tar.zst`]);
    return { dir, store: new CountingStore(dir), chain, record: chain[2].record };
  }
  const file = (r: Repo, key: string): string => path.join(r.dir, key);
  const s1volume = `data/${S1}/etc.tar.zst`;
  const s2volume = `data/${S2}/etc.tar.zst`;
  const recipe = `data/${S3}/etc.recipe`;
  const problemsOf = (problems: VerifyProblem[]): string[] => problems.map((p) => `${p.object ?? ''}${p.path ? ` ${p.path}` : ''}: ${p.problem}`);
  /** Writes S3's commit record changed by `change`, and returns it. */
  async function rewriteRecord(r: Repo, change: (record: CommitRecord) => void): Promise<CommitRecord> {
    const record = structuredClone(r.record);
    change(record);
    await fs.writeFile(file(r, commitKey(S3)), JSON.stringify(record, null, 2));
    return record;
  }

  it('passes an intact chain, quickly and with --read-data, reading each object whole once', async () => {
    const r = await repo();
    for (const { record } of r.chain) expect((await verifySnapshot({ store: r.store, record })).problems).toEqual([]);
    r.store.wholeReads.clear();
    const full = await verifySnapshot({ store: r.store, record: r.record, readData: true });
    expect(full.problems).toEqual([]);
    expect(full.files).toBe(3);
    expect(full.frames).toBe(r.record.artifacts[0]!.frameCount);
    // Index, volume, recipe, two referenced objects.
    expect(full.objects).toBe(5);
    // Each archive object once (S3 reads S1's and S2's volumes in parts: hashed whole once, its runs fetched by range); the index once for its hash, once to parse.
    expect(Object.fromEntries(r.store.wholeReads)).toEqual({ [s1volume]: 1, [s2volume]: 1, [`data/${S3}/etc.tar.zst`]: 1, [recipe]: 1, [`data/${S3}/etc.idx.zst`]: 2 });
    const cli = await cassette(['verify', S3, '--read-data', '--repo', r.dir]);
    expect(cli.stderr).toBe('');
    expect(cli.exitCode).toBe(0);
    expect(cli.stdout).toContain(`snapshot ${S3}: 5 objects, ${r.record.artifacts[0]!.frameCount} frames, 3 files`);
  });

  it('hashes an object once when two artifacts read frames from it', async () => {
    const r = await repo();
    // A second artifact with the same index and objects under another name (nothing forbids two artifacts to share objects).
    const record = await rewriteRecord(r, (rec) => rec.artifacts.push({ ...structuredClone(rec.artifacts[0]!), name: 'etc-again' }));
    const report = await verifySnapshot({ store: r.store, record, readData: true });
    expect(report.problems).toEqual([]);
    expect(report.files).toBe(6);
    expect(report.frames).toBe(2 * r.record.artifacts[0]!.frameCount);
    expect(Object.fromEntries([...r.store.wholeReads].filter(([key]) => key.endsWith('.tar.zst')))).toEqual({ [s1volume]: 1, [s2volume]: 1, [`data/${S3}/etc.tar.zst`]: 1 });
  });

  it('passes an incremental snapshot on top of a version-1 one', async () => {
    const r = await repo(1);
    expect(r.chain[0].record.version).toBe(1);
    for (const { record } of r.chain) expect((await verifySnapshot({ store: r.store, record, readData: true })).problems).toEqual([]);
  });

  it('names a referenced object that is missing, exit 4, and reads no data', async () => {
    const r = await repo();
    await fs.rm(file(r, s1volume));
    const report = await verifySnapshot({ store: r.store, record: r.record, readData: true });
    expect(problemsOf(report.problems)).toEqual([`${s1volume}: referenced object is missing`, ': data not read: an archive object is missing or damaged']);
    const cli = await cassette(['verify', S3, '--repo', r.dir]);
    expect(cli.exitCode).toBe(4);
    expect(cli.stderr).toContain(`(${s1volume}): referenced object is missing`);
  });

  it('names a referenced object of the wrong size, exit 5', async () => {
    const r = await repo();
    const bytes = await fs.readFile(file(r, s2volume));
    await fs.writeFile(file(r, s2volume), bytes.subarray(0, bytes.length - 1));
    const report = await verifySnapshot({ store: r.store, record: r.record });
    expect(problemsOf(report.problems)).toEqual([`${s2volume}: referenced object size is ${bytes.length - 1}, commit record says ${bytes.length} (truncated or replaced)`]);
    expect((await cassette(['verify', S3, '--repo', r.dir])).exitCode).toBe(5);
  });

  it('finds a flipped byte in a frame S3 reuses only by reading the data, and names the referenced object', async () => {
    const r = await repo();
    const bytes = await fs.readFile(file(r, s1volume));
    // Frame 1 of S1 is one of the frames of `big` that S3 reads from S1's volume.
    const reused = r.chain[2].frames.find((f) => f.object.key === s1volume && f.offset > 0)!;
    bytes[reused.offset + 10] = bytes[reused.offset + 10]! ^ 0x5a;
    await fs.writeFile(file(r, s1volume), bytes);
    expect((await verifySnapshot({ store: r.store, record: r.record })).problems).toEqual([]);
    const report = await verifySnapshot({ store: r.store, record: r.record, readData: true });
    const text = problemsOf(report.problems).join('\n');
    expect(text).toMatch(new RegExp(`^${s1volume}: object SHA-256 is [0-9a-f]{64}, commit record says ${r.record.artifacts[0]!.references![0]!.sha256}$`, 'm'));
    expect(text).toMatch(new RegExp(`^${s1volume}: frame \\d+ \\(bytes ${reused.offset}-${reused.offset + reused.size - 1}\\) (is corrupt|holds content whose SHA-256)`, 'm'));
    expect(text).toMatch(/ big: file hash mismatch|big: the archive ended inside this file/);
    expect((await cassette(['verify', S3, '--read-data', '--repo', r.dir])).exitCode).toBe(5);
  });

  it('finds a flipped byte in a part of a referenced object that S3 does not read: the object hash fails, every frame passes', async () => {
    const r = await repo();
    const bytes = await fs.readFile(file(r, s1volume));
    // S1's last frame holds its old `b` and `c`: S3 reads neither.
    const unused = r.chain[0].frames.at(-1)!;
    expect(r.chain[2].frames.some((f) => f.object.key === s1volume && f.offset === unused.offset)).toBe(false);
    bytes[unused.offset + 10] = bytes[unused.offset + 10]! ^ 0x5a;
    await fs.writeFile(file(r, s1volume), bytes);
    const report = await verifySnapshot({ store: r.store, record: r.record, readData: true });
    expect(problemsOf(report.problems)).toEqual([`${s1volume}: object SHA-256 is ${sha256(bytes)}, commit record says ${r.record.artifacts[0]!.references![0]!.sha256}`]);
  });

  it('names a recipe that is missing (exit 4), or of another size or SHA-256 (exit 5)', async () => {
    const r = await repo();
    const original = await fs.readFile(file(r, recipe));
    await fs.rm(file(r, recipe));
    expect(problemsOf((await verifySnapshot({ store: r.store, record: r.record })).problems)).toEqual([`${recipe}: recipe object is missing`]);
    expect((await cassette(['verify', S3, '--repo', r.dir])).exitCode).toBe(4);
    await fs.writeFile(file(r, recipe), Buffer.concat([original, Buffer.from('x')]));
    expect(problemsOf((await verifySnapshot({ store: r.store, record: r.record })).problems)).toEqual([
      `${recipe}: recipe size is ${original.length + 1}, commit record says ${original.length}`,
    ]);
    const changed = Buffer.from(original);
    changed[0] = 'e'.charCodeAt(0);
    await fs.writeFile(file(r, recipe), changed);
    expect(problemsOf((await verifySnapshot({ store: r.store, record: r.record })).problems)).toEqual([
      `${recipe}: recipe SHA-256 is ${sha256(changed)}, commit record says ${sha256(original)}`,
    ]);
    expect((await cassette(['verify', S3, '--repo', r.dir])).exitCode).toBe(5);
  });

  it("names a recipe whose runs are not the frame table's, though its size and SHA-256 are the recorded ones", async () => {
    const r = await repo();
    const lines = (await fs.readFile(file(r, recipe), 'ascii')).split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const swapped = Buffer.from([lines[1], lines[0], ...lines.slice(2)].join('\n') + '\n');
    await fs.writeFile(file(r, recipe), swapped);
    const record = await rewriteRecord(r, (rec) => (rec.artifacts[0]!.recipe = { ...rec.artifacts[0]!.recipe!, size: swapped.length, sha256: sha256(swapped) }));
    const [first, second] = lines.map((line) => line.split(' '));
    expect(problemsOf((await verifySnapshot({ store: r.store, record })).problems)).toEqual([
      `${recipe}: recipe does not match the frame table: run 1 is ${second![0]} ${second![1]}-${second![2]}, the frame table gives ${first![0]} ${first![1]}-${first![2]}`,
    ]);
    expect((await cassette(['verify', S3, '--repo', r.dir])).exitCode).toBe(5);
  });

  it('names an artifact that references objects but has no recipe', async () => {
    const r = await repo();
    const record = await rewriteRecord(r, (rec) => delete rec.artifacts[0]!.recipe);
    expect(problemsOf((await verifySnapshot({ store: r.store, record })).problems)).toEqual([
      ': the commit record names no recipe, and the artifact reads frames of other snapshots',
    ]);
  });

  it('names reference and frame counts of the commit record that the index does not bear out', async () => {
    const r = await repo();
    const { references, reusedFrames, reusedBytes } = r.record.artifacts[0]!;
    const record = await rewriteRecord(r, (rec) => {
      rec.artifacts[0]!.references![1]!.bytes += 1;
      rec.artifacts[0]!.reusedFrames! += 1;
    });
    expect(problemsOf((await verifySnapshot({ store: r.store, record })).problems)).toEqual([
      `${s2volume}: the index reads ${references![1]!.frames} frames (${references![1]!.bytes} bytes) from it, commit record says ${references![1]!.frames} (${references![1]!.bytes + 1} bytes)`,
      `data/${S3}/etc.idx.zst: commit record says ${reusedFrames! + 1} reused frames, the index has ${String(reusedFrames)}`,
    ]);
    expect(reusedBytes).toBe(references!.reduce((sum, ref) => sum + ref.bytes, 0));
  });

  it('names a frame whose content is not the SHA-256 the index gives it, with --read-data', async () => {
    const r = await repo();
    const indexKey = `data/${S3}/etc.idx.zst`;
    const lines = decompress(await fs.readFile(file(r, indexKey)))
      .toString('utf8')
      .split('\n');
    // Line 1 is the header, line 2 frame 0: give it the hash of other bytes.
    const frame0 = JSON.parse(lines[1]!) as FrameRecord;
    const wrong = sha256(Buffer.from('other bytes'));
    lines[1] = JSON.stringify({ ...frame0, sha256: wrong });
    const index = compress(Buffer.from(lines.join('\n')));
    await fs.writeFile(file(r, indexKey), index);
    const record = await rewriteRecord(r, (rec) => (rec.artifacts[0]!.index = { key: indexKey, size: index.length, sha256: sha256(index) }));
    expect((await verifySnapshot({ store: r.store, record })).problems).toEqual([]);
    expect(problemsOf((await verifySnapshot({ store: r.store, record, readData: true })).problems)).toEqual([
      `${s1volume}: frame 0 (bytes ${frame0.offset}-${frame0.offset + frame0.size - 1}) holds content whose SHA-256 is ${frame0.sha256!}, the index says ${wrong}`,
    ]);
  });

  it('names a frame that lies beyond the end of a referenced object', async () => {
    const r = await repo();
    const indexKey = `data/${S3}/etc.idx.zst`;
    const lines = decompress(await fs.readFile(file(r, indexKey)))
      .toString('utf8')
      .split('\n');
    const frame0 = JSON.parse(lines[1]!) as FrameRecord;
    const size = r.record.artifacts[0]!.references![0]!.size;
    lines[1] = JSON.stringify({ ...frame0, offset: size - 1 });
    const index = compress(Buffer.from(lines.join('\n')));
    await fs.writeFile(file(r, indexKey), index);
    const record = await rewriteRecord(r, (rec) => (rec.artifacts[0]!.index = { key: indexKey, size: index.length, sha256: sha256(index) }));
    const problems = problemsOf((await verifySnapshot({ store: r.store, record, readData: true })).problems);
    expect(problems[0]).toBe(`${s1volume}: frame 0 (bytes ${size - 1}-${size + frame0.size - 2}) lies beyond the end of the object (${size} bytes)`);
    expect(problems.at(-1)).toBe(': data not read: an archive object is missing or damaged');
  });
});
