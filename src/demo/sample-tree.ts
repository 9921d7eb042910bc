// Deterministic generator of a tree shaped like a Cassatt control node (images, configs, binaries, logs, links), for the demo and the bench.

import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface SampleTreeOptions {
  /** Directory to fill (created). */
  root: string;
  /** Same seed, same bytes. */
  seed?: number;
  /** Size of each disk image under cassatt/images (the three utility images and the others). */
  imageBytes: number;
  /** Images besides the three utility images. */
  extraImages: number;
  /** Small text configuration files under etc/ and cassatt/. */
  configFiles: number;
  /** Incompressible binaries under opt/ and lib/modules/, each this large. */
  binaryBytes: number;
  binaries: number;
  /** Log files under var/log, each this large. */
  logBytes: number;
  logs: number;
}

export const SAMPLE_SIZES = {
  /** A few MB: the npm start demo. */
  demo: { imageBytes: 6 << 20, extraImages: 2, configFiles: 400, binaryBytes: 256 << 10, binaries: 8, logBytes: 1 << 20, logs: 4 },
  /** About 300 MB: a one-minute bench. */
  small: { imageBytes: 48 << 20, extraImages: 3, configFiles: 5000, binaryBytes: 2 << 20, binaries: 20, logBytes: 8 << 20, logs: 6 },
  /** About 4 GiB: the default bench. */
  default: { imageBytes: 560 << 20, extraImages: 4, configFiles: 30000, binaryBytes: 8 << 20, binaries: 40, logBytes: 64 << 20, logs: 8 },
} as const;

/** Deterministic pseudo-random bytes (AES-CTR keyed by seed and label): fast enough for gigabytes. */
export function pseudoRandom(seed: number, label: string, length: number): Buffer {
  const key = createHash('sha256').update(`${seed}:${label}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

const WORDS = [
  'tier',
  'image',
  'controller',
  'switch',
  'provision',
  'allocate',
  'node',
  'collage',
  'network',
  'storage',
  'property',
  'service',
  'mount',
  'vlan',
  'agent',
  'snapshot',
];

function text(seed: number, label: string, length: number): Buffer {
  const random = pseudoRandom(seed, label, Math.ceil(length / 4) + 16);
  let out = '';
  let i = 0;
  while (out.length < length) {
    const a = random[i++ % random.length]!;
    const b = random[i++ % random.length]!;
    out += `${WORDS[a % WORDS.length]}.${WORDS[b % WORDS.length]} = ${a * 257 + b}\n`;
  }
  return Buffer.from(out.slice(0, length));
}

/** A disk-image-like file written in 1 MiB blocks: zero runs, random blocks and repeated text. */
export async function writeImage(file: string, seed: number, size: number): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    const block = 1 << 20;
    const textBlock = text(seed, `${file}:text`, block);
    for (let offset = 0, n = 0; offset < size; offset += block, n++) {
      const length = Math.min(block, size - offset);
      const kind = n % 5;
      const data = kind === 0 || kind === 3 ? Buffer.alloc(length) : kind === 1 ? pseudoRandom(seed, `${file}:${n}`, length) : textBlock.subarray(0, length);
      await handle.write(data, 0, length, offset);
    }
  } finally {
    await handle.close();
  }
}

export const UTILITY_IMAGES = ['CollageIdle', 'CollageInventory', 'CollageDiagnostic'] as const;

/** Fill `root`; returns the number of regular files and their bytes. */
export async function generateSampleTree(options: SampleTreeOptions): Promise<{ files: number; bytes: number }> {
  const seed = options.seed ?? 1;
  const { root } = options;
  let files = 0;
  let bytes = 0;
  const write = async (rel: string, data: Buffer, mode = 0o644): Promise<void> => {
    const file = path.join(root, rel);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, data, { mode });
    await fs.chmod(file, mode);
    files++;
    bytes += data.length;
  };

  const images = [...UTILITY_IMAGES, ...Array.from({ length: options.extraImages }, (_, i) => `app${i + 1}`)];
  for (const image of images) {
    const dir = path.join(root, 'cassatt/images', image);
    await fs.mkdir(dir, { recursive: true });
    await writeImage(path.join(dir, 'disk.img'), seed, options.imageBytes);
    files++;
    bytes += options.imageBytes;
    await write(`cassatt/images/${image}/image.properties`, text(seed, image, 600));
  }
  for (let i = 0; i < options.configFiles; i++) {
    const area = i % 3 === 0 ? 'etc' : i % 3 === 1 ? 'cassatt/config' : 'usr/lib/php4';
    const ext = area === 'usr/lib/php4' ? 'php' : 'conf';
    await write(`${area}/group${i % 37}/item${i}.${ext}`, text(seed, `cfg${i}`, 200 + ((i * 7919) % 9000)));
  }
  await write('etc/hosts', Buffer.from('127.0.0.1 localhost\n10.0.0.2 controller\n'));
  await write('root/.ssh/authorized_keys', text(seed, 'keys', 800), 0o600);
  await write('root/.ssh/id_rsa', pseudoRandom(seed, 'id_rsa', 1679), 0o600);
  await fs.chmod(path.join(root, 'root/.ssh'), 0o700);
  for (let i = 0; i < options.binaries; i++) {
    const rel = i % 2 === 0 ? `opt/cassatt/bin/tool${i}` : `lib/modules/2.6.9/kernel/mod${i}.ko`;
    await write(rel, pseudoRandom(seed, `bin${i}`, options.binaryBytes), i % 2 === 0 ? 0o755 : 0o644);
  }
  for (let i = 0; i < options.logs; i++) {
    await write(`var/log/cassatt/controller.${i}.log`, text(seed, `log${i}`, options.logBytes));
  }
  await write('cassatt/database/PG_VERSION', Buffer.from('15\n'), 0o600);
  await fs.mkdir(path.join(root, 'var/spool/empty'), { recursive: true });
  await fs.symlink('../cassatt/images/app1/disk.img', path.join(root, 'opt/current-image')).catch(() => undefined);
  await fs.symlink('/usr/share/zoneinfo/UTC', path.join(root, 'etc/localtime'));
  await fs.link(path.join(root, 'etc/hosts'), path.join(root, 'etc/hosts.hardlink'));
  return { files, bytes };
}
