// Backup, restore, verify and ls against moto through the fault proxy: storage errors and stalls are retried or fail cleanly (no snapshot, no open upload), dropped downloads resume.

import { createCipheriv } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { compareTrees } from '../../src/demo/compare-trees.js';
import { listSnapshotIds, resolveSnapshot } from '../../src/repository.js';
import { restore } from '../../src/restore/restore.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { verifySnapshot } from '../../src/verify.js';
import { cassette } from '../helpers/cli.js';
import { internalError, serviceUnavailable, slowDown, startFaultProxy, type Fault, type FaultProxy, type FaultRule } from '../helpers/fault-proxy.js';
import { rejection } from '../helpers/rejection.js';
import { createBucket, makeS3Store, s3Env, s3Server } from '../helpers/s3.js';

const moto = s3Server('moto');
/** A stall costs about a second; a run of failures three attempts. */
const FAST = { idleTimeoutMs: 1000, connectTimeoutMs: 1000, maxAttempts: 3, resumeDelayMs: 20 };
/** A client without timeouts would hang on these tests: they fail instead. */
const NO_HANG = { timeout: 60_000 };

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function writeRandom(file: string, bytes: number): Promise<void> {
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 3), Buffer.alloc(16));
  await fs.writeFile(file, cipher.update(Buffer.alloc(bytes)));
}

const uploadPart = { method: 'PUT', path: /partNumber=/ };
const completeUpload = { method: 'POST', path: /uploadId=/ };

describe.runIf(moto)('storage faults in backup, restore, verify and ls (moto)', () => {
  let work: string;
  let tree: string;
  let proxy: FaultProxy;
  const stores: ObjectStore[] = [];

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-faults-'));
    tree = path.join(work, 'data');
    await fs.mkdir(path.join(tree, 'sub'), { recursive: true });
    // Incompressible: the archive is a multipart upload of three 8 MiB parts.
    await writeRandom(path.join(tree, 'random.bin'), 20 * 1024 * 1024);
    for (let i = 0; i < 50; i++) await fs.writeFile(path.join(tree, 'sub', `file-${i}.txt`), `file ${i}\n`.repeat(i + 1));
    proxy = await startFaultProxy(moto!.endpoint);
  });

  afterEach(async () => {
    proxy.setFaults([]);
    proxy.reset();
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  afterAll(async () => {
    await proxy?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** A store on a fresh bucket, through the proxy, and the same bucket without it. */
  async function repository(): Promise<{ bucket: string; store: S3Store; direct: S3Store }> {
    const bucket = await createBucket(moto!.endpoint);
    const store = makeS3Store(proxy.endpoint, bucket, 'p', FAST);
    const direct = makeS3Store(moto!.endpoint, bucket, 'p');
    stores.push(store, direct);
    return { bucket, store, direct };
  }

  async function expectNothingCommitted(direct: ObjectStore): Promise<void> {
    expect(await listSnapshotIds(direct)).toEqual([]);
    expect(await collect(direct.list('data/'))).toEqual([]);
    expect(await collect(direct.listPendingUploads(''))).toEqual([]);
  }

  const backupOf = (store: ObjectStore) => backup({ store, sources: [{ kind: 'tree', path: tree, name: 'data' }] });

  describe('errors the SDK retries', () => {
    const cases: Array<[string, string, Fault, Omit<FaultRule, 'fault'>]> = [
      ['500', 'UploadPart', internalError, uploadPart],
      ['503', 'UploadPart', serviceUnavailable, uploadPart],
      ['SlowDown', 'UploadPart', slowDown, uploadPart],
      ['500', 'CompleteMultipartUpload', internalError, completeUpload],
      ['503', 'CompleteMultipartUpload', serviceUnavailable, completeUpload],
      ['SlowDown', 'CompleteMultipartUpload', slowDown, completeUpload],
    ];
    it.each(cases)('a %s answer to the first %s is retried and the backup commits', async (_label, _operation, fault, target) => {
      const { store, direct } = await repository();
      proxy.setFaults([{ ...target, nth: 1, fault }]);
      const result = await backupOf(store);
      expect(await listSnapshotIds(direct)).toEqual([result.record.id]);
      expect(await collect(direct.listPendingUploads(''))).toEqual([]);
      expect(proxy.requests().filter((r) => r.fault === 'error')).toHaveLength(1);
    });

    it.each([
      ['every UploadPart answered 500', { ...uploadPart, fault: internalError }, /UploadPart of s3:\/\/.*\/data\.tar\.zst failed \(HTTP 500\): InternalError: .*, 3 attempts/],
      [
        'every CompleteMultipartUpload answered 503',
        { ...completeUpload, fault: serviceUnavailable },
        /CompleteMultipartUpload of s3:\/\/.*\/data\.tar\.zst failed \(HTTP 503\): ServiceUnavailable: .*, 3 attempts/,
      ],
    ] as Array<[string, FaultRule, RegExp]>)('%s: the backup fails, aborts its multipart upload and commits nothing', async (_label, rule, message) => {
      const { store, direct } = await repository();
      proxy.setFaults([rule]);
      const error = await rejection(backupOf(store));
      expect(error.code, error.message).toBe('E_STORAGE');
      expect(error.message).toMatch(message);
      await expectNothingCommitted(direct);
    });
  });

  it('an UploadPart that stalls on every attempt fails the backup with a clear message, aborts the upload and commits nothing', NO_HANG, async () => {
    const { bucket, store, direct } = await repository();
    proxy.setFaults([{ ...uploadPart, fault: { kind: 'stall' } }]);
    const error = await rejection(backupOf(store));
    expect(error.code, error.message).toBe('E_STORAGE');
    expect(error.message).toMatch(new RegExp(`^artifact data: UploadPart of s3://${bucket}/p/data/[^/]+/data\\.tar\\.zst timed out after 1 s without a response, 3 attempts`));
    await expectNothingCommitted(direct);
  });

  describe('reading a snapshot over connections that drop', () => {
    let bucket: string;

    beforeAll(async () => {
      bucket = await createBucket(moto!.endpoint);
      const direct = makeS3Store(moto!.endpoint, bucket, 'p');
      try {
        await backupOf(direct);
      } finally {
        await direct.close();
      }
    });

    const reader = (): S3Store => {
      const store = makeS3Store(proxy.endpoint, bucket, 'p', FAST);
      stores.push(store);
      return store;
    };

    it('restore resumes a dropped index read and a dropped ranged GET of the archive, and restores the exact tree', NO_HANG, async () => {
      proxy.setFaults([
        { method: 'GET', path: /\.idx\.zst/, nth: 1, fault: { kind: 'reset', afterBytes: 100 } },
        { method: 'GET', path: /\.tar\.zst/, range: true, nth: 1, fault: { kind: 'truncate', afterBytes: 100_000 } },
      ]);
      const target = path.join(work, 'restored');
      await restore({ store: reader(), snapshot: 'latest', target });
      expect(await compareTrees(tree, path.join(target, 'data'))).toEqual([]);
      expect(
        proxy
          .requests()
          .filter((r) => r.fault)
          .map((r) => r.fault),
      ).toEqual(['reset', 'truncate']);
      // Each was asked again for the rest, not from the start.
      const [index, resumedIndex] = proxy.requests().filter((r) => r.path.includes('.idx.zst'));
      expect([index!.range, resumedIndex!.range]).toEqual([undefined, expect.stringMatching(/^bytes=[1-9]\d*-\d+$/)]);
      const truncated = proxy.requests().findIndex((r) => r.fault === 'truncate');
      const asked = /^bytes=(\d+)-(\d+)$/.exec(proxy.requests()[truncated]!.range!)!;
      expect(proxy.requests().some((r) => r.range === `bytes=${Number(asked[1]) + 100_000}-${asked[2]}`)).toBe(true);
    });

    it('verify --read-data resumes a volume whose connection drops and finds no problem', NO_HANG, async () => {
      proxy.setFaults([{ method: 'GET', path: /\.tar\.zst/, range: false, nth: 1, fault: { kind: 'reset', afterBytes: 5 * 1024 * 1024 } }]);
      const store = reader();
      const record = await resolveSnapshot(store, 'latest');
      const report = await verifySnapshot({ store, record, readData: true });
      expect(report.problems).toEqual([]);
      expect(report.files).toBe(51);
      expect(proxy.requests().filter((r) => r.fault === 'reset')).toHaveLength(1);
      // Resumed requests are the ones with If-Match: one, for the rest of the volume.
      const resumed = proxy.requests().filter((r) => r.ifMatch !== undefined);
      expect(resumed.map((r) => r.range)).toEqual([expect.stringMatching(new RegExp(`^bytes=[1-9]\\d*-${record.artifacts[0]!.volumes[0]!.size - 1}$`))]);
    });

    it('ls --timeout 1 lists an index whose body stalls once', NO_HANG, async () => {
      proxy.setFaults([{ method: 'GET', path: /\.idx\.zst/, nth: 1, fault: { kind: 'stall-body', afterBytes: 100 } }]);
      const result = await cassette(['ls', 'latest', '--repo', `s3://${bucket}/p`, '--endpoint', proxy.endpoint, '--timeout', '1'], { env: s3Env(moto!.endpoint) });
      expect(result.exitCode, result.stderr as string).toBe(0);
      expect(result.stderr).toMatch(/^52 entries, \d+ bytes in snapshot \S+\n$/);
      expect((result.stdout as string).split('\n')).toContain('data/sub/file-49.txt');
      expect(
        proxy
          .requests()
          .filter((r) => r.path.includes('.idx.zst'))
          .map((r) => [r.fault, r.range]),
      ).toEqual([
        ['stall-body', undefined],
        [undefined, expect.stringMatching(/^bytes=100-\d+$/)],
      ]);
    });
  });

  it('backup --timeout 1 survives an UploadPart that is never answered', NO_HANG, async () => {
    const bucket = await createBucket(moto!.endpoint);
    proxy.setFaults([{ ...uploadPart, nth: 1, fault: { kind: 'stall' } }]);
    const result = await cassette(['backup', tree, '--repo', `s3://${bucket}/p`, '--endpoint', proxy.endpoint, '--timeout', '1', '--json'], { env: s3Env(moto!.endpoint) });
    expect(result.exitCode, result.stderr as string).toBe(0);
    const direct = makeS3Store(moto!.endpoint, bucket, 'p');
    stores.push(direct);
    expect(await listSnapshotIds(direct)).toHaveLength(1);
    expect(proxy.requests().filter((r) => r.fault === 'stall')).toHaveLength(1);
  });
});

describe('--timeout', () => {
  it('refuses a value that is not a number of seconds from 0.1 to 3600 (exit 2)', async () => {
    for (const value of ['0', 'abc', '7200']) {
      const result = await cassette(['ls', 'latest', '--repo', 's3://bucket-name/p', '--timeout', value]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`Expected \`timeout\` to be a number of seconds from 0.1 to 3600, got "${value}"`);
    }
  });
});
