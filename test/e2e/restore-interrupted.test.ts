// Restores pointed at a target that cannot exist, through the built CLI: /proc fails fast.

import { createCipheriv } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { LocalStore } from '../../src/store/local-store.js';
import { cassette } from '../helpers/cli.js';

let work: string;
let source: string;
let repo: string;
let artifact: string;

async function writeRandom(file: string, bytes: number): Promise<void> {
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 9), Buffer.alloc(16));
  await fs.writeFile(file, cipher.update(Buffer.alloc(bytes)));
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-interrupted-'));
  source = path.join(work, 'source');
  // Small files first, then a big incompressible one: its temporary file exists for a while.
  for (const dir of ['a', 'b', 'big']) await fs.mkdir(path.join(source, dir), { recursive: true });
  for (let i = 0; i < 40; i++) await fs.writeFile(path.join(source, i % 2 ? 'a' : 'b', `f${i}.txt`), `file ${i}\n`.repeat(i + 1));
  await writeRandom(path.join(source, 'big', 'image.bin'), 160 * 1024 * 1024);
  repo = path.join(work, 'repo');
  const { record } = await backup({ store: new LocalStore(repo), sources: [{ kind: 'tree', path: source }] });
  artifact = record.artifacts[0]!.name;
}, 120_000);

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('a target that cannot be created', () => {
  it('restore --target /proc/x fails at once with exit 1 naming the target (it spun at 100% CPU, deaf to signals)', async () => {
    const result = await cassette(['restore', 'latest', '--repo', repo, '--target', '/proc/cassette-x'], { timeout: 30_000 });
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/cannot create directory \/proc\/cassette-x\/.*ENOENT/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('backup --repo /proc/x fails at once with exit 1 naming the repository (it spun too, and a first SIGINT could not stop it)', async () => {
    const result = await cassette(['backup', path.join(source, 'a'), '--repo', '/proc/cassette-x'], { timeout: 30_000 });
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/\/proc\/cassette-x.*ENOENT/);
  });
});
