// Builds the awkward tree of the backup issue: nested and empty dirs, empty files, a file over 100 MiB,
// a path over 100 bytes, non-ASCII names, symlinks, hard links, unusual modes, a fifo.

import { execFileSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export const BIG_FILE = 'images/big.img';
export const LONG_DIR = 'deep/' + 'a-rather-long-directory-name-'.repeat(3) + '/second-level-with-more-characters';
export const LONG_FILE = `${LONG_DIR}/and-a-file-name-that-is-also-long-enough-to-need-pax.txt`;

function random(length: number, label: string): Buffer {
  const key = Buffer.alloc(32);
  key.write(label);
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

export interface AwkwardTreeOptions {
  /** Size of the big file; default 101 MiB. */
  bigFileBytes?: number;
}

export async function makeAwkwardTree(root: string, options: AwkwardTreeOptions = {}): Promise<void> {
  const w = async (rel: string, data: string | Buffer, mode?: number): Promise<void> => {
    const file = path.join(root, rel);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, data);
    if (mode !== undefined) await fs.chmod(file, mode);
  };
  await fs.mkdir(root, { recursive: true });
  await w('etc/hosts', '127.0.0.1 localhost\n');
  await w('etc/ssh/sshd_config', 'PermitRootLogin no\n'.repeat(50));
  await w('etc/ssh/ssh_host_key', random(1675, 'key'), 0o600);
  await w('etc/empty.conf', '');
  await w('etc/sudoers', 'root ALL=(ALL) ALL\n', 0o440);
  await w('bin/setuid-tool', random(5000, 'suid'), 0o4755);
  await w('bin/no-perms', 'secret\n', 0o000);
  await w('shared/sticky/readme', 'sticky\n');
  await fs.chmod(path.join(root, 'shared/sticky'), 0o1777);
  await fs.mkdir(path.join(root, 'empty/nested/dirs'), { recursive: true });
  await fs.mkdir(path.join(root, 'var/empty'), { recursive: true });
  await w('unicode/café/naïve résumé.txt', 'accents\n');
  await w('unicode/日本語/ファイル.txt', 'japanese\n');
  await w('unicode/emoji 🎞️.txt', 'emoji\n');
  await w(LONG_FILE, 'long path content\n');
  for (let i = 0; i < 200; i++) await w(`many/file-${String(i).padStart(3, '0')}.txt`, `file ${i}\n`.repeat(i));
  // A big file: mixed compressible and random blocks, over 100 MiB.
  const bigSize = options.bigFileBytes ?? 101 * 1024 * 1024;
  await fs.mkdir(path.join(root, path.dirname(BIG_FILE)), { recursive: true });
  const handle = await fs.open(path.join(root, BIG_FILE), 'w');
  const block = 1 << 20;
  for (let offset = 0, n = 0; offset < bigSize; offset += block, n++) {
    const length = Math.min(block, bigSize - offset);
    const data = n % 3 === 0 ? random(length, `big${n}`) : Buffer.alloc(length, n % 3 === 1 ? 0 : 0x41);
    await handle.write(data, 0, length, offset);
  }
  await handle.close();
  await fs.symlink('hosts', path.join(root, 'etc/hosts.link'));
  await fs.symlink('/usr/share/zoneinfo/UTC', path.join(root, 'etc/localtime'));
  await fs.symlink('../' + LONG_FILE, path.join(root, 'etc/long.link'));
  await fs.symlink('does-not-exist', path.join(root, 'etc/dangling'));
  await fs.link(path.join(root, 'etc/hosts'), path.join(root, 'etc/hosts.hard'));
  await fs.link(path.join(root, 'etc/hosts'), path.join(root, 'var/hosts.hard2'));
  execFileSync('mkfifo', [path.join(root, 'var/pipe')]);
  // Fixed mtimes on a few entries, including sub-second ones.
  await fs.utimes(path.join(root, 'etc/hosts'), 1_700_000_000.25, 1_700_000_000.25);
  await fs.utimes(path.join(root, 'etc/ssh'), 1_600_000_000, 1_600_000_000);
}
