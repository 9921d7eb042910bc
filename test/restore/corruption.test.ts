// Damaged repositories: restore refuses with a clear, coded error naming what is wrong, and never leaves a half-written file under its real name.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { compress, decompress } from 'zstd-napi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { CassetteError } from '../../src/errors.js';
import type { ArtifactRecord, CommitRecord, FrameRecord, IndexEntry } from '../../src/format/types.js';
import { commitKey } from '../../src/repository.js';
import { restore } from '../../src/restore/restore.js';
import { LocalStore } from '../../src/store/local-store.js';
import { FaultyStore } from '../helpers/faulty-store.js';
import { rejection } from '../helpers/rejection.js';

const FRAME_SIZE = 256 * 1024;

let work: string;
let pristine: string;
let record: CommitRecord;
let artifact: ArtifactRecord;
/** Source files by path relative to the source root. */
const contents = new Map<string, Buffer>();

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-corruption-'));
  const source = path.join(work, 'source');
  const files: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['small.txt', Buffer.from('hello, cassette\n')],
    ['medium.bin', randomBytes(100_000)],
    ['big.bin', randomBytes(3 * 1024 * 1024)],
    ['sub/a.txt', Buffer.from('a'.repeat(5000))],
    ['sub/b.bin', randomBytes(600_000)],
    ['sub/deeper/c.txt', Buffer.from('see\n')],
  ];
  for (const [rel, data] of files) {
    await fs.mkdir(path.dirname(path.join(source, rel)), { recursive: true });
    await fs.writeFile(path.join(source, rel), data);
    contents.set(rel, data);
  }
  pristine = path.join(work, 'pristine-repo');
  const result = await backup({ store: new LocalStore(pristine), sources: [{ kind: 'tree', path: source }], frameSize: FRAME_SIZE });
  record = result.record;
  artifact = record.artifacts[0]!;
  expect(artifact.frameCount).toBeGreaterThan(10);
}, 120_000);

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

let counter = 0;

/** A fresh copy of the pristine repository and a fresh, empty restore target. */
async function damagedCopy(): Promise<{ dir: string; store: LocalStore; target: string }> {
  const n = counter++;
  const dir = path.join(work, `repo-${n}`);
  await fs.cp(pristine, dir, { recursive: true });
  const target = path.join(work, `target-${n}`);
  await fs.mkdir(target);
  return { dir, store: new LocalStore(dir), target };
}

const objectFile = (dir: string, key: string): string => path.join(dir, ...key.split('/'));

function readIndexLines(compressed: Buffer): { header: Record<string, unknown>; frames: FrameRecord[]; entries: IndexEntry[] } {
  const lines = decompress(compressed)
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '');
  const header = JSON.parse(lines[0]!) as { frameCount: number };
  return {
    header,
    frames: lines.slice(1, 1 + header.frameCount).map((l) => JSON.parse(l) as FrameRecord),
    entries: lines.slice(1 + header.frameCount).map((l) => JSON.parse(l) as IndexEntry),
  };
}

async function* walkFiles(dir: string, rel = ''): AsyncGenerator<{ rel: string; full: string; kind: 'file' | 'dir' | 'other' }> {
  for (const dirent of await fs.readdir(dir, { withFileTypes: true })) {
    const r = rel ? `${rel}/${dirent.name}` : dirent.name;
    const full = path.join(dir, dirent.name);
    if (dirent.isDirectory()) {
      yield { rel: r, full, kind: 'dir' };
      yield* walkFiles(full, r);
    } else {
      yield { rel: r, full, kind: dirent.isFile() ? 'file' : 'other' };
    }
  }
}

/** No temporary file remains, and every regular file under its real name holds its full, correct content. */
async function expectNoHalfWrittenFile(target: string): Promise<void> {
  const root = path.join(target, artifact.name);
  for await (const item of walkFiles(target)) {
    expect(path.basename(item.rel).startsWith('.cassette-tmp-'), `temporary file left behind: ${item.rel}`).toBe(false);
    if (item.kind !== 'file') continue;
    const rel = path.relative(root, item.full).split(path.sep).join('/');
    const expected = contents.get(rel);
    expect(expected, `unexpected file ${item.rel}`).toBeDefined();
    const actual = await fs.readFile(item.full);
    expect(actual.equals(expected!), `${rel} exists with ${actual.length} bytes that are not its content (${expected!.length} bytes)`).toBe(true);
  }
}

describe('restore from a damaged repository', () => {
  it('sanity: the undamaged copy restores every file', async () => {
    const { store, target } = await damagedCopy();
    await restore({ store, snapshot: 'latest', target });
    for (const [rel, data] of contents) expect((await fs.readFile(path.join(target, artifact.name, rel))).equals(data), rel).toBe(true);
    await expectNoHalfWrittenFile(target);
  });

  it('refuses a flipped byte in the middle of a frame (E_INTEGRITY naming the archive object)', async () => {
    const { dir, store, target } = await damagedCopy();
    const volume = artifact.volumes[0]!;
    const index = readIndexLines(await fs.readFile(objectFile(dir, artifact.index.key)));
    const big = index.entries.find((e) => e.path === 'big.bin')!;
    // A frame wholly inside big.bin's content.
    const frame = index.frames.find((f) => f.tarOffset > big.dataOffset && f.tarOffset + f.tarSize < big.dataOffset + big.size)!;
    expect(frame).toBeDefined();
    const file = objectFile(dir, volume.key);
    const bytes = await fs.readFile(file);
    const at = frame.offset + Math.floor(frame.size / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    await fs.writeFile(file, bytes);

    const error = await rejection(restore({ store, snapshot: 'latest', target }));
    expect(error).toBeInstanceOf(CassetteError);
    expect(error.code, error.message).toBe('E_INTEGRITY');
    expect(error.message).toContain(volume.key);
    await expectNoHalfWrittenFile(target);
  });

  it('refuses a truncated archive (last 100 KB cut: E_INTEGRITY or E_FORMAT naming the object)', async () => {
    const { dir, store, target } = await damagedCopy();
    const volume = artifact.volumes[0]!;
    const file = objectFile(dir, volume.key);
    await fs.truncate(file, volume.size - 100_000);

    const error = await rejection(restore({ store, snapshot: 'latest', target }));
    expect(error).toBeInstanceOf(CassetteError);
    expect(['E_INTEGRITY', 'E_FORMAT'], error.message).toContain(error.code);
    expect(error.message).toContain(volume.key);
    await expectNoHalfWrittenFile(target);
  });

  it('refuses a deleted archive (E_NOT_FOUND naming the object)', async () => {
    const { dir, store, target } = await damagedCopy();
    const volume = artifact.volumes[0]!;
    await fs.rm(objectFile(dir, volume.key));

    const error = await rejection(restore({ store, snapshot: 'latest', target }));
    expect(error).toBeInstanceOf(CassetteError);
    expect(error.code, error.message).toBe('E_NOT_FOUND');
    expect(error.message).toContain(volume.key);
    await expectNoHalfWrittenFile(target);
  });

  it('refuses a deleted index (E_NOT_FOUND naming the index)', async () => {
    const { dir, store, target } = await damagedCopy();
    await fs.rm(objectFile(dir, artifact.index.key));

    const error = await rejection(restore({ store, snapshot: 'latest', target }));
    expect(error).toBeInstanceOf(CassetteError);
    expect(error.code, error.message).toBe('E_NOT_FOUND');
    expect(error.message).toContain(artifact.index.key);
    await expectNoHalfWrittenFile(target);
  });

  it.each<[string, (bytes: Buffer) => Buffer]>([
    [
      'a flipped byte',
      (bytes) => {
        bytes[Math.floor(bytes.length / 2)]! ^= 0x20;
        return bytes;
      },
    ],
    ['its last 10 bytes cut', (bytes) => bytes.subarray(0, bytes.length - 10)],
  ])('refuses an index with %s (E_INTEGRITY naming the index)', async (_damage, damage) => {
    const { dir, store, target } = await damagedCopy();
    const file = objectFile(dir, artifact.index.key);
    await fs.writeFile(file, damage(await fs.readFile(file)));

    const error = await rejection(restore({ store, snapshot: 'latest', target }));
    expect(error).toBeInstanceOf(CassetteError);
    expect(error.code, error.message).toBe('E_INTEGRITY');
    expect(error.message).toContain(artifact.index.key);
    await expectNoHalfWrittenFile(target);
  });

  it('refuses a snapshot whose commit record was deleted (E_SNAPSHOT_NOT_FOUND)', async () => {
    const { dir, store, target } = await damagedCopy();
    await fs.rm(objectFile(dir, commitKey(record.id)));

    const error = await rejection(restore({ store, snapshot: record.id, target }));
    expect(error).toBeInstanceOf(CassetteError);
    expect(error.code, error.message).toBe('E_SNAPSHOT_NOT_FOUND');
    expect(error.message).toContain(record.id);
    expect(await fs.readdir(target)).toEqual([]);
  });

  it("refuses a file whose index sha256 was altered (E_INTEGRITY naming the file's path)", async () => {
    const { dir, store, target } = await damagedCopy();
    const file = objectFile(dir, artifact.index.key);
    const lines = decompress(await fs.readFile(file))
      .toString('utf8')
      .split('\n');
    const at = lines.findIndex((line) => line.includes('"path":"sub/b.bin"'));
    expect(at).toBeGreaterThan(0);
    const entry = JSON.parse(lines[at]!) as IndexEntry;
    entry.sha256 = (entry.sha256!.startsWith('0') ? '1' : '0') + entry.sha256!.slice(1);
    lines[at] = JSON.stringify(entry);
    await fs.writeFile(file, compress(Buffer.from(lines.join('\n'), 'utf8')));

    const error = await rejection(restore({ store, snapshot: 'latest', target }));
    expect(error).toBeInstanceOf(CassetteError);
    expect(error.code, error.message).toBe('E_INTEGRITY');
    expect(error.message).toContain('sub/b.bin');
    // The damaged file must not exist under its real name at all.
    await expect(fs.lstat(path.join(target, artifact.name, 'sub/b.bin'))).rejects.toThrow();
    await expectNoHalfWrittenFile(target);
  });
});

describe('reading an index over a connection that drops', () => {
  it('fails with E_STORAGE naming the index, near its start or near its end', async () => {
    const size = (await fs.stat(objectFile(pristine, artifact.index.key))).size;
    for (const bytes of [10, size - 10]) {
      const { store, target } = await damagedCopy();
      const dropping = new FaultyStore(store, { breakGet: { match: (key) => key === artifact.index.key, bytes } });
      const error = await rejection(restore({ store: dropping, snapshot: 'latest', target }));
      expect(error).toBeInstanceOf(CassetteError);
      expect(error.code, error.message).toBe('E_STORAGE');
      expect(error.message).toContain(artifact.index.key);
      expect(error.message).toContain('ECONNRESET');
      await expectNoHalfWrittenFile(target);
    }
  });
});
