// The change the incremental bench makes between its second and third backups: config files under etc/ rewritten with new text of the same size, and random bytes written in place in the middle of a disk image; and how large that change is compressed.

import { createHash } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pseudoRandom } from '../src/demo/sample-tree.js';
import { sh } from './exec.js';
import type { TreeChangeInfo } from './incremental-report.js';
import { messageOf } from '../src/errors.js';

export interface ChangeOptions {
  /** Root of the tree to change (the bench's copy). */
  root: string;
  /** Same seed, same new bytes. */
  seed: number;
  /** How many config files to rewrite. */
  files: number;
  /** The disk image to write into, relative to root. */
  imageRel: string;
  /** Bytes of random data written in place in the image's middle. */
  imageBytes: number;
  /** Scratch directory for the concatenation that is compressed (removed afterwards). */
  scratch: string;
}

/** What the change did, and the digests a restore of either state is checked against. */
export interface TreeChange {
  info: TreeChangeInfo;
  /** SHA-256 of each rewritten file before and after, by path relative to root. */
  fileDigests: Map<string, { before: string; after: string }>;
  imageDigest: { before: string; after: string };
}

/** `count` items spread evenly over `items`: every k-th from the first, k = ⌊length / count⌋ (all of them when there are fewer). */
export function pickEvery<T>(items: readonly T[], count: number): { picked: T[]; every: number } {
  if (items.length <= count) return { picked: [...items], every: 1 };
  const every = Math.floor(items.length / count);
  return { picked: Array.from({ length: count }, (_, j) => items[j * every]!), every };
}

/** The offset of a `length`-byte range centred in `size` bytes, rounded down to `align`. */
export function middleAligned(size: number, length: number, align = 4096): number {
  if (length > size) throw new Error(`a range of ${length} bytes does not fit in ${size}`);
  return Math.floor((size - length) / 2 / align) * align;
}

/** Paths relative to root of the `.conf` files under root/etc, in natural order (item2 before item10). */
export async function configFiles(root: string): Promise<string[]> {
  const entries = await fs.readdir(path.join(root, 'etc'), { recursive: true, withFileTypes: true });
  const rels = entries.filter((e) => e.isFile() && e.name.endsWith('.conf')).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
  return rels.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

const KEYS = ['tier', 'image', 'controller', 'switch', 'provision', 'vlan', 'agent', 'mount'];

/** Config-like text of exactly `length` bytes, different from the generator's (its keys start with `changed.`). */
export function changedText(seed: number, label: string, length: number): Buffer {
  const random = pseudoRandom(seed, `changed:${label}`, Math.ceil(length / 4) + 16);
  let out = '';
  for (let i = 0; out.length < length; i += 2) {
    const a = random[i % random.length]!;
    const b = random[(i + 1) % random.length]!;
    out += `changed.${KEYS[a % KEYS.length]}.${KEYS[b % KEYS.length]} = ${a * 257 + b}\n`;
  }
  return Buffer.from(out.slice(0, length));
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fsSync.createReadStream(file, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/** Applies the change to options.root and measures it; the compressed size is `zstd -3` of the new bytes, concatenated in the order they were written. */
export async function changeTree(options: ChangeOptions): Promise<TreeChange> {
  const all = await configFiles(options.root);
  const { picked, every } = pickEvery(all, options.files);
  const concat = path.join(options.scratch, 'changed.bin');
  const out = await fs.open(concat, 'w');
  const fileDigests = new Map<string, { before: string; after: string }>();
  let fileBytes = 0;
  try {
    for (const rel of picked) {
      const file = path.join(options.root, rel);
      const old = await fs.readFile(file);
      const content = changedText(options.seed, rel, old.length);
      await fs.writeFile(file, content);
      await out.write(content);
      fileDigests.set(rel, { before: sha256(old), after: sha256(content) });
      fileBytes += content.length;
    }
    const image = path.join(options.root, options.imageRel);
    const imageSize = (await fs.stat(image)).size;
    const offset = middleAligned(imageSize, options.imageBytes);
    const before = await fileDigest(image);
    const data = pseudoRandom(options.seed, 'incremental:image', options.imageBytes);
    const handle = await fs.open(image, 'r+');
    try {
      await handle.write(data, 0, data.length, offset);
    } finally {
      await handle.close();
    }
    await out.write(data);
    await out.close();
    const after = await fileDigest(image);
    await sh(['zstd', '-q', '-3', '-f', concat, '-o', `${concat}.zst`]);
    const compressedBytes = (await fs.stat(`${concat}.zst`)).size;
    return {
      info: {
        files: picked.length,
        every,
        configFiles: all.length,
        fileBytes,
        firstFile: picked[0] ?? '',
        lastFile: picked[picked.length - 1] ?? '',
        image: { rel: options.imageRel, offset, bytes: data.length },
        changedBytes: fileBytes + data.length,
        compressedBytes,
        method: `\`zstd -3\` (CLI, one frame) of the ${picked.length} new file contents in the order above followed by the ${data.length} new image bytes, as one file`,
      },
      fileDigests,
      imageDigest: { before, after },
    };
  } finally {
    await out.close().catch(() => undefined);
    await fs.rm(concat, { force: true });
    await fs.rm(`${concat}.zst`, { force: true });
  }
}

/**
 * Checks a restore against one state of the change (`before` or `after`): the image and every
 * rewritten file; `locate` maps a path relative to the tree's root to the restored file. Throws on
 * a difference.
 */
export async function checkRestored(locate: (rel: string) => string, change: TreeChange, state: 'before' | 'after', what: string): Promise<void> {
  const image = locate(change.info.image.rel);
  const digest = await fileDigest(image).catch((e: unknown) => `unreadable (${messageOf(e)})`);
  if (digest !== change.imageDigest[state]) throw new Error(`${what}: ${image} has SHA-256 ${digest}, expected the ${state}-change ${change.imageDigest[state]}`);
  for (const [rel, digests] of change.fileDigests) {
    const got = sha256(await fs.readFile(locate(rel)).catch(() => Buffer.alloc(0)));
    if (got !== digests[state]) throw new Error(`${what}: ${rel} differs from its ${state}-change content`);
  }
}
