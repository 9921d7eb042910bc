// verify catches missing, truncated and corrupted objects; --read-data catches what only a full read can.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import type { CommitRecord } from '../../src/format/types.js';
import { LocalStore } from '../../src/store/local-store.js';
import { verifySnapshot } from '../../src/verify.js';
import { cassette } from '../helpers/cli.js';

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
    const text = report.problems.map((p) => `${p.object} ${p.path ?? ''} ${p.problem}`).join('\n');
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
});
