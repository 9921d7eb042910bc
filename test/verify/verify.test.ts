// verify catches missing, truncated and corrupted objects; --read-data catches what only a full read can.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compress, decompress } from 'zstd-napi';
import { backup } from '../../src/backup/backup.js';
import type { CommitRecord } from '../../src/format/types.js';
import { LocalStore } from '../../src/store/local-store.js';
import { verifySnapshot } from '../../src/verify.js';
import { cassette } from '../helpers/cli.js';

/**
 * A different, valid index of exactly `original.length` bytes: one entry's mode changed (same
 * number of digits), recompressed at the first level that gives the same size.
 */
/**
 * A valid index of exactly the original's size whose one entry has another mode: recompressed
 * (a size that matches by chance is used as it is), else padded to the size with a zstd
 * skippable frame (8 bytes of header and any content), which every zstd reader skips.
 */
function sameSizeIndexWithOneModeChanged(original: Buffer): Buffer {
  const lines = decompress(original).toString('utf8').split('\n');
  const SKIPPABLE_HEADER = 8;
  for (let level = 1; level <= 19; level++) {
    for (const [i, line] of lines.entries()) {
      for (const mode of ['416', '384', '436', '292']) {
        const changed = line.replace(/"mode":\d{3},/, `"mode":${mode},`);
        if (changed === line) continue;
        const candidate = compress(Buffer.from([...lines.slice(0, i), changed, ...lines.slice(i + 1)].join('\n')), { compressionLevel: level, checksumFlag: true });
        if (candidate.length === original.length) return candidate;
        const room = original.length - candidate.length - SKIPPABLE_HEADER;
        if (room < 0) continue;
        const skippable = Buffer.alloc(SKIPPABLE_HEADER + room);
        skippable.writeUInt32LE(0x184d2a50, 0);
        skippable.writeUInt32LE(room, 4);
        return Buffer.concat([candidate, skippable]);
      }
    }
  }
  throw new Error(`no same-size replacement found for an index of ${original.length} bytes`);
}

describe('verify', () => {
  let work: string;
  let repoDir: string;
  let store: LocalStore;
  let record: CommitRecord;

  beforeEach(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-verify-'));
    const tree = path.join(work, 'tree');
    await fs.mkdir(path.join(tree, 'sub'), { recursive: true });
    for (let i = 0; i < 50; i++) await fs.writeFile(path.join(tree, 'sub', `f${i}.txt`), `file ${i}\n`.repeat(200 + i * 50));
    await fs.writeFile(path.join(tree, 'big.bin'), Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 2654435761) >>> 24)));
    repoDir = path.join(work, 'repo');
    store = new LocalStore(repoDir);
    ({ record } = await backup({ store, sources: [{ kind: 'tree', path: tree, name: 'tree' }], frameSize: 256 * 1024 }));
  });

  afterEach(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  const volumeFile = (): string => path.join(repoDir, record.artifacts[0]!.volumes[0]!.key);
  const indexFile = (): string => path.join(repoDir, record.artifacts[0]!.index.key);

  it('passes an intact snapshot, quickly and with --read-data', async () => {
    expect((await verifySnapshot({ store, record })).problems).toEqual([]);
    const full = await verifySnapshot({ store, record, readData: true });
    expect(full.problems).toEqual([]);
    expect(full.files).toBe(51);
    expect(full.frames).toBe(record.artifacts[0]!.frameCount);
    const cli = await cassette(['verify', 'latest', '--read-data', '--repo', repoDir]);
    expect(cli.exitCode).toBe(0);
    expect(cli.stdout).toContain(': OK');
  });

  it('names a deleted archive object, exit 4', async () => {
    await fs.rm(volumeFile());
    const report = await verifySnapshot({ store, record });
    expect(report.problems).toEqual([expect.objectContaining({ object: record.artifacts[0]!.volumes[0]!.key, problem: 'archive object is missing' })]);
    const cli = await cassette(['verify', 'latest', '--repo', repoDir]);
    expect(cli.exitCode).toBe(4);
    expect(cli.stderr).toContain('archive object is missing');
  });

  it('names a deleted index', async () => {
    await fs.rm(path.join(repoDir, record.artifacts[0]!.index.key));
    const report = await verifySnapshot({ store, record });
    expect(report.problems[0]!.problem).toBe('index object is missing');
  });

  it('names a truncated archive, exit 5', async () => {
    const bytes = await fs.readFile(volumeFile());
    await fs.writeFile(volumeFile(), bytes.subarray(0, bytes.length - 1000));
    const report = await verifySnapshot({ store, record });
    expect(report.problems[0]!.problem).toMatch(/archive size is \d+, commit record says \d+ \(truncated or replaced\)/);
    const cli = await cassette(['verify', 'latest', '--repo', repoDir]);
    expect(cli.exitCode).toBe(5);
  });

  it('finds a flipped byte only by reading the data, and names the object and the file', async () => {
    const bytes = await fs.readFile(volumeFile());
    // A byte in the middle of the archive: inside the compressed data of some frame.
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x5a;
    await fs.writeFile(volumeFile(), bytes);
    expect((await verifySnapshot({ store, record })).problems).toEqual([]);
    const report = await verifySnapshot({ store, record, readData: true });
    expect(report.problems.length).toBeGreaterThan(0);
    const text = report.problems.map((p) => `${p.object ?? ''} ${p.path ?? ''} ${p.problem}`).join('\n');
    expect(text).toContain(record.artifacts[0]!.volumes[0]!.key);
    expect(text).toMatch(/object SHA-256 is [0-9a-f]{64}, commit record says/);
    expect(text).toMatch(/frame \d+ .* is corrupt|file hash mismatch/);
    const cli = await cassette(['verify', 'latest', '--read-data', '--repo', repoDir]);
    expect(cli.exitCode).toBe(5);
    expect(cli.stderr).toContain('failed verification');
  });

  it('finds a seek table that does not match the index', async () => {
    const bytes = await fs.readFile(volumeFile());
    // The first seek-table entry's compressed size sits 8 bytes after the skippable frame header.
    const tableStart = bytes.length - (8 + 8 * record.artifacts[0]!.frameCount + 9);
    bytes.writeUInt32LE(bytes.readUInt32LE(tableStart + 8) + 1, tableStart + 8);
    await fs.writeFile(volumeFile(), bytes);
    const report = await verifySnapshot({ store, record });
    expect(report.problems[0]!.problem).toMatch(/seek table .* does not match the index/);
  });

  it('records the SHA-256 of the stored index', async () => {
    const { index } = record.artifacts[0]!;
    expect(index.sha256).toBe(
      createHash('sha256')
        .update(await fs.readFile(indexFile()))
        .digest('hex'),
    );
  });

  it('names an index of the wrong size without reading data, exit 5', async () => {
    const bytes = await fs.readFile(indexFile());
    await fs.writeFile(indexFile(), bytes.subarray(0, bytes.length - 1));
    const report = await verifySnapshot({ store, record });
    expect(report.problems[0]).toEqual({
      artifact: 'tree',
      object: record.artifacts[0]!.index.key,
      problem: `index size is ${bytes.length - 1}, commit record says ${bytes.length}`,
    });
    const cli = await cassette(['verify', 'latest', '--repo', repoDir]);
    expect(cli.exitCode).toBe(5);
  });

  it('with --read-data, names an index replaced by another valid index of the same size, exit 5', async () => {
    const original = await fs.readFile(indexFile());
    const replacement = sameSizeIndexWithOneModeChanged(original);
    expect(replacement.equals(original)).toBe(false);
    await fs.writeFile(indexFile(), replacement);
    // Same size, readable, and its frames still match the archive: nothing else can tell.
    expect((await verifySnapshot({ store, record })).problems).toEqual([]);
    const report = await verifySnapshot({ store, record, readData: true });
    const digest = createHash('sha256').update(replacement).digest('hex');
    expect(report.problems).toEqual([
      { artifact: 'tree', object: record.artifacts[0]!.index.key, problem: `index SHA-256 is ${digest}, commit record says ${record.artifacts[0]!.index.sha256!}` },
    ]);
    const cli = await cassette(['verify', 'latest', '--read-data', '--repo', repoDir]);
    expect(cli.exitCode).toBe(5);
    expect(cli.stderr).toContain(`(${record.artifacts[0]!.index.key}): index SHA-256 is ${digest}`);
  });

  it('with --read-data, names an index with a flipped byte, exit 5', async () => {
    const bytes = await fs.readFile(indexFile());
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0x01;
    await fs.writeFile(indexFile(), bytes);
    const report = await verifySnapshot({ store, record, readData: true });
    expect(report.problems[0]).toEqual({
      artifact: 'tree',
      object: record.artifacts[0]!.index.key,
      problem: expect.stringMatching(/^index SHA-256 is [0-9a-f]{64}, commit record says [0-9a-f]{64}$/),
    });
    const cli = await cassette(['verify', 'latest', '--read-data', '--repo', repoDir]);
    expect(cli.exitCode).toBe(5);
    expect(cli.stderr).toContain(`(${record.artifacts[0]!.index.key}): index SHA-256 is`);
  });

  it('still verifies a commit record written before the index had a SHA-256', async () => {
    const commitFile = path.join(repoDir, 'snapshots', `${record.id}.json`);
    const old = JSON.parse(await fs.readFile(commitFile, 'utf8')) as CommitRecord;
    delete old.artifacts[0]!.index.sha256;
    await fs.writeFile(commitFile, JSON.stringify(old, null, 2) + '\n');
    const report = await verifySnapshot({ store, record: old, readData: true });
    expect(report.problems).toEqual([]);
    expect(report.files).toBe(51);
    const cli = await cassette(['verify', 'latest', '--read-data', '--repo', repoDir]);
    expect(cli.exitCode).toBe(0);
    expect(cli.stdout).toContain(': OK');
  });
});
