// A tree of many small files (100-1,100 bytes, 1,000 per directory) under bench/data/scale/, made once and shared by bench:scale and bench:incremental.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * `dir/files-<count>`, written unless `dir/files-<count>.done` says a complete one is there.
 * Every file differs (its number is in its first bytes); sizes cycle through 100-1,099 bytes.
 */
export async function ensureSmallFiles(dir: string, count: number, log: (line: string) => void): Promise<string> {
  const root = path.join(dir, `files-${count}`);
  const marker = path.join(dir, `files-${count}.done`);
  if (fsSync.existsSync(marker)) return root;
  log(`writing ${count.toLocaleString('en')} small files …`);
  await fs.rm(root, { recursive: true, force: true });
  const line = Buffer.from('setting.value = 12345 # a small configuration file line\n');
  for (let i = 0; i < count; i++) {
    const sub = path.join(root, `d${Math.floor(i / 1000)}`);
    if (i % 1000 === 0) fsSync.mkdirSync(sub, { recursive: true });
    const size = 100 + ((i * 7919) % 1000);
    const content = Buffer.alloc(size);
    for (let at = 0; at < size; at += line.length) line.copy(content, at);
    content.writeUInt32LE(i, 0); // every file differs
    fsSync.writeFileSync(path.join(sub, `f${i}.conf`), content);
  }
  await fs.writeFile(marker, `${count}\n`);
  return root;
}
