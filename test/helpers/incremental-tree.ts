// A tree for incremental-backup tests: a large random file and a few hundred small files, deterministic in content, and one set of changes of every kind.

import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

const MiB = 1024 * 1024;

export const BIG_FILE = 'big/disk.img';
/** Small files live in conf/d00 … conf/d11, 30 each; the changes touch d00 … d06 and conf/current only. */
export const DIRS = 12;
export const FILES_PER_DIR = 30;

/** `length` bytes that do not compress, the same for the same label (AES-256-CTR of zeros). */
export function random(length: number, label: string): Buffer {
  const key = Buffer.alloc(32);
  key.write(label);
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** Text that compresses about 2:1: numbered lines of hex digests. */
function text(lines: number, label: string): string {
  let out = '';
  for (let i = 0; i < lines; i++) out += `${label} ${i} ${createHash('sha256').update(`${label}/${i}`).digest('hex')}\n`;
  return out;
}

export function smallFile(dir: number, file: number): string {
  return `conf/d${String(dir).padStart(2, '0')}/f${String(file).padStart(2, '0')}.txt`;
}

async function write(root: string, rel: string, data: string | Buffer, mode?: number): Promise<void> {
  const file = path.join(root, rel);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, data);
  if (mode !== undefined) await fs.chmod(file, mode);
}

export interface IncrementalTreeOptions {
  /** Size of big/disk.img; default 24 MiB. */
  bigFileBytes?: number;
}

/**
 * big/disk.img (random), conf/dNN/fMM.txt (text of 0.5–12 KiB, every third one random), a
 * symlink conf/current, a hard link conf/d11/f00.hard, awkward names under names/, a 0600 key and an
 * empty directory.
 */
export async function makeIncrementalTree(root: string, options: IncrementalTreeOptions = {}): Promise<void> {
  await fs.mkdir(root, { recursive: true });
  await write(root, BIG_FILE, random(options.bigFileBytes ?? 24 * MiB, 'big'));
  for (let d = 0; d < DIRS; d++) {
    for (let f = 0; f < FILES_PER_DIR; f++) {
      const n = d * FILES_PER_DIR + f;
      await write(root, smallFile(d, f), f % 3 === 2 ? random(1024 + ((n * 131) % 3072), `small${n}`) : text(6 + ((n * 37) % 140), `n${n}`));
    }
  }
  await fs.symlink('d00/f00.txt', path.join(root, 'conf/current'));
  await fs.link(path.join(root, smallFile(11, 0)), path.join(root, 'conf/d11/f00.hard'));
  // Names whose byte order differs from the order of whole paths ('a b' and 'a-b' sort before 'a/x'), and one that is not UTF-8.
  for (const name of ['names/a/x.txt', 'names/a b.txt', 'names/a-b.txt', 'names/a.b/y.txt', 'names/é.txt', 'names/Z.txt']) await write(root, name, `${name}\n`);
  await fs.writeFile(Buffer.concat([Buffer.from(path.join(root, 'names/latin1-')), Buffer.from([0xe9]), Buffer.from('.txt')]), 'not UTF-8\n');
  await write(root, 'keys/host.key', random(1675, 'key'), 0o600);
  await fs.mkdir(path.join(root, 'empty/nested'), { recursive: true });
}

/** What changeIncrementalTree did to the big file. */
export interface BigFileChange {
  offset: number;
  length: number;
}

/**
 * Changes of every kind: three small files modified (one appended to, one rewritten shorter, one
 * rewritten with the same size and its old mtime put back: only its ctime tells), one added, one
 * deleted, one renamed, one chmod, the symlink retargeted, a hard link added, and 1 MiB rewritten
 * in the middle of the big file.
 */
export async function changeIncrementalTree(root: string, bigOffset = 12 * MiB): Promise<BigFileChange> {
  const p = (rel: string): string => path.join(root, rel);
  await fs.appendFile(p(smallFile(1, 3)), 'appended line\n');
  await fs.writeFile(p(smallFile(5, 10)), 'rewritten, shorter\n');
  const sameSize = p(smallFile(6, 20));
  const before = await fs.stat(sameSize);
  const content = await fs.readFile(sameSize);
  content[0] ^= 0xff;
  await fs.writeFile(sameSize, content);
  await fs.utimes(sameSize, before.atime, before.mtime);
  await write(root, 'conf/d03/new.txt', text(40, 'added'));
  await fs.rm(p(smallFile(2, 7)));
  await fs.rename(p(smallFile(4, 11)), p('conf/d04/renamed.txt'));
  await fs.chmod(p(smallFile(6, 12)), 0o600);
  await fs.rm(p('conf/current'));
  await fs.symlink('d01/f01.txt', p('conf/current'));
  await fs.link(p(smallFile(0, 4)), p('conf/d00/f04.hard'));
  const handle = await fs.open(p(BIG_FILE), 'r+');
  try {
    await handle.write(random(MiB, 'big change'), 0, MiB, bigOffset);
  } finally {
    await handle.close();
  }
  return { offset: bigOffset, length: MiB };
}

/** Bytes of the regular files under `root`, each inode counted once (what a backup that reads every file reads). Names are taken as bytes. */
export async function fileBytes(root: string): Promise<number> {
  const seen = new Set<bigint>();
  let total = 0;
  const visit = async (dir: Buffer): Promise<void> => {
    for (const name of await fs.readdir(dir, { encoding: 'buffer' })) {
      const child = Buffer.concat([dir, Buffer.from('/'), name]);
      const stats = await fs.lstat(child, { bigint: true });
      if (stats.isDirectory()) await visit(child);
      if (!stats.isFile() || seen.has(stats.ino)) continue;
      seen.add(stats.ino);
      total += Number(stats.size);
    }
  };
  await visit(Buffer.from(root));
  return total;
}
