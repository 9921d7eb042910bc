// The expected trees of the format fixtures (test/fixtures/v*-*/tree-N.json) and the check that a restore matches one.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';

export interface FixtureEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeNs: string;
  size?: number;
  sha256?: string;
  link?: string;
}

export async function checkTree(root: string, expected: readonly FixtureEntry[]): Promise<void> {
  for (const entry of expected) {
    const file = path.join(root, entry.path);
    const stats = await fs.lstat(file, { bigint: true });
    const actual: FixtureEntry = {
      path: entry.path,
      type: stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : 'file',
      mode: Number(stats.mode & 0o7777n),
      mtimeNs: String(stats.mtimeNs),
    };
    if (actual.type === 'file') {
      actual.size = Number(stats.size);
      actual.sha256 = createHash('sha256')
        .update(await fs.readFile(file))
        .digest('hex');
    }
    if (actual.type === 'symlink') actual.link = await fs.readlink(file);
    // Times to the microsecond (restore sets them through utimes); a symlink's own mtime is not compared.
    const micro = (ns: string): string => String(BigInt(ns) / 1000n);
    expect({ ...actual, mtimeNs: entry.type === 'symlink' ? '' : micro(actual.mtimeNs) }).toEqual({ ...entry, mtimeNs: entry.type === 'symlink' ? '' : micro(entry.mtimeNs) });
  }
}
