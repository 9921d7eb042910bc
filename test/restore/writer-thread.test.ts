// File data is written and hashed on the restore writer thread: many files in one frame keep the
// open descriptors bounded, and a write that fails there names the file and leaves nothing behind.

import { randomBytes } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import type { CommitRecord } from '../../src/format/types.js';
import { restore } from '../../src/restore/restore.js';
import { LocalStore } from '../../src/store/local-store.js';
import { SliceWriter } from '../../src/restore/slice-writer.js';
import { CLI } from '../helpers/cli.js';

let work: string;
let source: string;
let repo: string;
let record: CommitRecord;
const contents = new Map<string, Buffer>();
const SMALL_FILES = 1500;
const MID_FILES = 700;
const MID_SIZE = 256 * 1024 + 100;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-writer-thread-'));
  source = path.join(work, 'source');
  for (let i = 0; i < SMALL_FILES; i++) {
    const rel = `many/d${i % 7}/f${i}.txt`;
    contents.set(rel, Buffer.from(`file ${i} ${'x'.repeat(i % 300)}\n`));
  }
  contents.set('big/image.bin', randomBytes(3 * 1024 * 1024 + 12345));
  contents.set('big/empty', Buffer.alloc(0));
  // Just above the size written on the restoring thread: these go through the writer thread.
  for (let i = 0; i < MID_FILES; i++) contents.set(`mid/m${i}.bin`, Buffer.alloc(MID_SIZE, `mid ${i} `));
  for (const [rel, data] of contents) {
    await fs.mkdir(path.dirname(path.join(source, rel)), { recursive: true });
    await fs.writeFile(path.join(source, rel), data);
  }
  repo = path.join(work, 'repo');
  // 64 MiB frames: the 1500 small files share one frame, the 700 middle-sized ones (180 MB of
  // repeated text) fill three, so hundreds of them are open at once on the writer's side.
  record = (
    await backup({
      store: new LocalStore(repo),
      sources: [{ kind: 'tree', path: source }],
      frameSize: 64 * 1024 * 1024,
      smallFrames: { min: 16 * 1024 * 1024, average: 64 * 1024 * 1024 },
    })
  ).record;
}, 120_000);

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

function openDescriptors(): number {
  return fsSync.readdirSync('/proc/self/fd').length;
}

async function leftovers(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir, { recursive: true });
  return names.filter((n) => path.basename(n).startsWith('.cassette-tmp-'));
}

describe('restore writer thread', () => {
  it('restores thousands of files (hundreds per frame through the writer thread) with at most 512 temporary files open at once, every byte in place', async () => {
    const target = path.join(work, 'target-many');
    const before = openDescriptors();
    // Count the temporary files open at once by watching the calls restore makes (node:fs's
    // default export is the object restore.ts calls through).
    const { openSync, closeSync } = fsSync;
    const temps = new Set<number>();
    let most = 0;
    fsSync.openSync = ((file: fsSync.PathLike, ...rest: unknown[]) => {
      const fd = (openSync as (...args: unknown[]) => number)(file, ...rest);
      if (String(file).includes('.cassette-tmp-')) {
        temps.add(fd);
        most = Math.max(most, temps.size);
      }
      return fd;
    }) as typeof fsSync.openSync;
    fsSync.closeSync = ((fd: number) => {
      temps.delete(fd);
      closeSync(fd);
    }) as typeof fsSync.closeSync;
    let summary;
    try {
      summary = await restore({ store: new LocalStore(repo), snapshot: record.id, target });
    } finally {
      fsSync.openSync = openSync;
      fsSync.closeSync = closeSync;
    }
    expect(summary.files).toBe(contents.size);
    expect(most).toBeGreaterThan(100);
    expect(most).toBeLessThanOrEqual(512);
    expect(temps.size).toBe(0);
    const root = path.join(target, record.artifacts[0]!.name);
    for (const [rel, data] of contents) expect((await fs.readFile(path.join(root, rel))).equals(data), rel).toBe(true);
    expect(await leftovers(target)).toEqual([]);
    expect(openDescriptors()).toBeLessThanOrEqual(before + 2);
  });

  it('a write that fails on the writer thread (file size limit) fails the restore naming the file, with no temporary file left', async () => {
    const target = path.join(work, 'target-limited');
    await fs.mkdir(target);
    // `ulimit -f 1024`: no file may grow past 1 MiB (Node ignores SIGXFSZ, so the write fails with EFBIG).
    const result = await execa('bash', ['-c', `ulimit -f 1024; exec node "${CLI}" restore ${record.id} --repo "file://${repo}" --target "${target}"`], {
      reject: false,
      env: { CASSETTE_REPO: '' },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/cannot write .*big\/image\.bin: .*(too large|EFBIG)/i);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await leftovers(target)).toEqual([]);
    await expect(fs.stat(path.join(target, record.artifacts[0]!.name, 'big/image.bin'))).rejects.toThrow();
  });

  it('a directory where a file goes fails the restore with E_TARGET, leaving the directory as it was and no temporary file', async () => {
    const target = path.join(work, 'target-dir-in-way');
    const inTheWay = path.join(target, record.artifacts[0]!.name, 'big/image.bin');
    await fs.mkdir(inTheWay, { recursive: true });
    await fs.writeFile(path.join(inTheWay, 'keep.txt'), 'mine');
    await expect(restore({ store: new LocalStore(repo), snapshot: record.id, target, include: ['**/big/**'] })).rejects.toMatchObject({
      code: 'E_TARGET',
      message: expect.stringMatching(/cannot restore file .*big\/image\.bin: a directory is in the way/),
    });
    expect(await fs.readFile(path.join(inTheWay, 'keep.txt'), 'utf8')).toBe('mine');
    expect(await leftovers(target)).toEqual([]);
  });

  it('gives back digests of the files that end in a write, and reads shared memory in place', async () => {
    const dir = await fs.mkdtemp(path.join(work, 'slices-'));
    const writer = new SliceWriter((id) => `file ${id}`);
    try {
      const memory = Buffer.from(new SharedArrayBuffer(64));
      memory.write('hello, world and more', 0);
      const a = fsSync.openSync(path.join(dir, 'a'), 'w');
      const b = fsSync.openSync(path.join(dir, 'b'), 'w');
      const first = await writer.write(memory.subarray(0, 21), [
        { file: 1, fd: a, start: 0, length: 5, position: 0, last: false },
        { file: 2, fd: b, start: 7, length: 5, position: 0, last: true },
      ]);
      expect([...first.keys()]).toEqual([2]);
      const second = await writer.write(memory.subarray(5, 12), [{ file: 1, fd: a, start: 0, length: 7, position: 5, last: true }]);
      fsSync.closeSync(a);
      fsSync.closeSync(b);
      expect(await fs.readFile(path.join(dir, 'a'), 'utf8')).toBe('hello, world');
      expect(await fs.readFile(path.join(dir, 'b'), 'utf8')).toBe('world');
      const { createHash } = await import('node:crypto');
      expect(second.get(1)).toBe(createHash('sha256').update('hello, world').digest('hex'));
      expect(first.get(2)).toBe(createHash('sha256').update('world').digest('hex'));
    } finally {
      await writer.close();
    }
  });

  it('a write to a closed descriptor rejects with E_TARGET naming the file; later writes of other files still work', async () => {
    const dir = await fs.mkdtemp(path.join(work, 'slices-'));
    const writer = new SliceWriter((id) => `file number ${id}`);
    try {
      const fd = fsSync.openSync(path.join(dir, 'gone'), 'w');
      fsSync.closeSync(fd);
      await expect(writer.write(Buffer.from('data'), [{ file: 7, fd, start: 0, length: 4, position: 0, last: true }])).rejects.toMatchObject({
        code: 'E_TARGET',
        message: expect.stringContaining('file number 7'),
      });
      const ok = fsSync.openSync(path.join(dir, 'ok'), 'w');
      const digests = await writer.write(Buffer.from('fine'), [{ file: 8, fd: ok, start: 0, length: 4, position: 0, last: true }]);
      fsSync.closeSync(ok);
      expect(digests.has(8)).toBe(true);
      expect(await fs.readFile(path.join(dir, 'ok'), 'utf8')).toBe('fine');
    } finally {
      await writer.close();
    }
  });
});
