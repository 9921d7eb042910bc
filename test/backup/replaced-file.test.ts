// A file replaced between the listing and the read (by a FIFO, a symlink or another file) is recorded as W_CHANGED and skipped; the backup never blocks on a FIFO.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packFrames } from '../../src/backup/pack.js';
import { matchParent } from '../../src/backup/parent.js';
import { DEFAULTS } from '../../src/defaults.js';
import { prefetch } from '../../src/backup/prefetch.js';
import type { WalkItem } from '../../src/backup/walk.js';
import type { BackupWarning, IndexEntry } from '../../src/format/types.js';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-replaced-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function* one(item: WalkItem): AsyncGenerator<WalkItem> {
  yield item;
}

/** Lists a regular file of `size` bytes, replaces it with `replace`, then packs the listed item (through prefetch when small, as backup does). */
async function listThenReplace(name: string, size: number, replace: (file: string) => Promise<void>): Promise<{ entries: IndexEntry[]; warnings: BackupWarning[] }> {
  const file = path.join(tmp, name);
  await fs.writeFile(file, Buffer.alloc(size, 0x61));
  const item: WalkItem = { path: name, absPath: file, stats: await fs.lstat(file, { bigint: true }), type: 'file' };
  await replace(file);
  const entries: IndexEntry[] = [];
  const warnings: BackupWarning[] = [];
  const frames = packFrames(prefetch(matchParent(one(item), undefined, false), { maxFileSize: 64 * 1024 }), {
    frameSize: 1 << 20,
    smallFrames: DEFAULTS.smallFrames,
    chunks: DEFAULTS.chunks,
    onWarning: (w) => warnings.push(w),
  });
  for await (const frame of frames) {
    expect(frame.kind === 'new' && frame.data.length).toBeGreaterThan(0);
    entries.push(...frame.entries);
  }
  return { entries, warnings };
}

const replacements: Array<[string, (file: string) => Promise<void>, RegExp]> = [
  [
    'a FIFO',
    async (file) => {
      await fs.rm(file);
      execFileSync('mkfifo', [file]);
    },
    /replaced by a fifo/,
  ],
  [
    'a symlink',
    async (file) => {
      await fs.rm(file);
      await fs.symlink('/etc/hostname', file);
    },
    /replaced by a symlink/,
  ],
  // Renamed over it while the old file still exists: a new inode for sure.
  [
    'another regular file',
    async (file) => {
      await fs.writeFile(`${file}.new`, 'new inode');
      await fs.rename(`${file}.new`, file);
    },
    /replaced by another file/,
  ],
];

describe('a listed file replaced before it is opened', () => {
  for (const [what, replace, message] of replacements) {
    for (const [size, reader] of [
      [100, 'prefetch (small file)'],
      [300 * 1024, 'pack (large file)'],
    ] as const) {
      it(`by ${what}: W_CHANGED, no member, and no hang — ${reader}`, async () => {
        const { entries, warnings } = await listThenReplace(`${what.replace(/ /g, '-')}-${size}`, size, replace);
        expect(entries).toEqual([]);
        expect(warnings).toEqual([expect.objectContaining({ code: 'W_CHANGED', message: expect.stringMatching(message) })]);
      }, 10_000);
    }
  }
});
