// Failure paths of backup against moto (faithful multipart): interruption and storage errors leave no snapshot and no open upload.

import { spawn } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { isCassetteError } from '../../src/errors.js';
import { listSnapshotIds } from '../../src/repository.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { CLI } from '../helpers/cli.js';
import { FaultyStore } from '../helpers/faulty-store.js';
import { createBucket, makeS3Store, s3Env, s3Server } from '../helpers/s3.js';

const moto = s3Server('moto');

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function writeRandom(file: string, bytes: number): Promise<void> {
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), Buffer.alloc(16));
  await fs.writeFile(file, cipher.update(Buffer.alloc(bytes)));
}

describe.runIf(moto)('failure paths against moto_server', () => {
  let work: string;
  let tree: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-fail-'));
    tree = path.join(work, 'data');
    await fs.mkdir(tree);
    // Incompressible, so the upload has several 8 MiB parts and takes a moment.
    await writeRandom(path.join(tree, 'random.bin'), 96 * 1024 * 1024);
    await fs.writeFile(path.join(tree, 'small.txt'), 'small\n');
  });

  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  async function emptyRepo(store: ObjectStore): Promise<void> {
    expect(await listSnapshotIds(store)).toEqual([]);
    expect(await collect(store.list('data/'))).toEqual([]);
    expect(await collect(store.listPendingUploads(''))).toEqual([]);
  }

  it('an interrupted backup (SIGINT) commits nothing, aborts its multipart upload and exits 130', async () => {
    const bucket = await createBucket(moto!.endpoint);
    const child = spawn('node', [CLI, 'backup', tree, '--repo', `s3://${bucket}/p`, '--json'], { env: { ...process.env, ...s3Env(moto!.endpoint) } });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const interrupted = new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        // Wait until some parts are in the store, then press Ctrl-C.
        const stored = [...stdout.matchAll(/"bytesStored":(\d+)/g)].map((m) => Number(m[1]));
        if (!sent && stored.some((n) => n > 12 * 1024 * 1024)) {
          sent = true;
          child.kill('SIGINT');
          resolve();
        }
      });
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    await interrupted;
    expect({ code, stderr }).toEqual({ code: 130, stderr: expect.stringContaining('interrupted') });
    const store = makeS3Store(moto!.endpoint, bucket, 'p');
    try {
      await emptyRepo(store);
    } finally {
      await store.close();
    }
  });

  it('a storage error mid-upload fails the backup with a clear message and leaves nothing behind', async () => {
    const bucket = await createBucket(moto!.endpoint);
    const inner = makeS3Store(moto!.endpoint, bucket, 'p');
    const store = new FaultyStore(inner, { failPutAfter: { match: (key) => key.endsWith('.tar.zst'), bytes: 20 * 1024 * 1024, message: 'connection reset by peer (injected)' } });
    try {
      const error = await backup({ store, sources: [{ kind: 'tree', path: tree, name: 'data' }] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCassetteError(error)).toBe(true);
      expect((error as Error).message).toContain('artifact data');
      expect((error as Error).message).toContain('connection reset by peer (injected)');
      await emptyRepo(inner);
    } finally {
      await store.close();
    }
  });

  it('a source that does not exist fails with exit 1 and no snapshot', async () => {
    const bucket = await createBucket(moto!.endpoint);
    const child = spawn('node', [CLI, 'backup', path.join(work, 'missing'), '--repo', `s3://${bucket}/p`], { env: { ...process.env, ...s3Env(moto!.endpoint) } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot read source .*missing/);
    expect(stderr).not.toMatch(/\n\s+at /);
    const store = makeS3Store(moto!.endpoint, bucket, 'p');
    try {
      await emptyRepo(store);
    } finally {
      await store.close();
    }
  });
});

describe('a reader that goes away', () => {
  it('help piped into a reader that has already gone ends quietly with exit 0, no stack trace', async () => {
    const child = spawn('bash', ['-c', `node ${JSON.stringify(CLI)} restore --help | true; echo "status \${PIPESTATUS[0]}"`]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise((resolve) => child.on('close', resolve));
    expect(stdout.trim()).toBe('status 0');
    expect(stderr).toBe('');
  });
});
