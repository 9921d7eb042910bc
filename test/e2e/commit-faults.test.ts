// The commit record's PUT through the fault proxy (moto behind it), with the real CLI: a lost answer is read back (exit 0, committed; an encrypted backup's sealed record too); a refusal or a failure that read-back confirms leaves no data behind (exit 1).

import { createCipheriv } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listSnapshotIds, readCommitRecord, objectKeysOf } from '../../src/repository.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { cassette } from '../helpers/cli.js';
import { backupJson, generateKey } from '../helpers/encryption.js';
import { internalError, startFaultProxy, type FaultProxy, type FaultRule } from '../helpers/fault-proxy.js';
import { createBucket, makeS3Store, s3Env, s3Server } from '../helpers/s3.js';

const moto = s3Server('moto');

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Requests for the commit record `snapshots/<id>.json` (the lease is under locks/). */
const commitRecord = /\/snapshots\/[^/?]+\.json/;
const commitPut = { method: 'PUT', path: commitRecord };
const accessDenied = { kind: 'error', status: 403, code: 'AccessDenied', message: 'Access Denied (fault proxy)' } as const;

describe.runIf(moto)('an ambiguous or refused commit (moto through the fault proxy)', () => {
  let work: string;
  let tree: string;
  let proxy: FaultProxy;
  const stores: S3Store[] = [];

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-commit-'));
    tree = path.join(work, 'data');
    await fs.mkdir(tree);
    // Incompressible: the archive is a multipart upload of three 8 MiB parts.
    const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 5), Buffer.alloc(16));
    await fs.writeFile(path.join(tree, 'random.bin'), cipher.update(Buffer.alloc(20 * 1024 * 1024)));
    for (let i = 0; i < 20; i++) await fs.writeFile(path.join(tree, `file-${i}.txt`), `file ${i}\n`.repeat(i + 1));
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

  /** `cassette backup` of the tree into a fresh bucket through the proxy, with `rules` (and more `flags` and `env`); and the bucket seen directly. */
  async function backupThrough(rules: FaultRule[], flags: string[] = [], env: Record<string, string> = {}) {
    const bucket = await createBucket(moto!.endpoint);
    const direct = makeS3Store(moto!.endpoint, bucket, 'p');
    stores.push(direct);
    proxy.setFaults(rules);
    const result = await cassette(['backup', tree, '--repo', `s3://${bucket}/p`, '--endpoint', proxy.endpoint, '--json', ...flags], { env: { ...s3Env(moto!.endpoint), ...env } });
    proxy.setFaults([]);
    const start = (result.stdout as string)
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; snapshot?: string })
      .find((e) => e.type === 'backup-start');
    return { bucket, direct, result, id: start?.snapshot };
  }

  const commitRequests = (method: string): number => proxy.requests().filter((r) => r.method === method && commitRecord.test(r.path)).length;

  it('every answer to the commit PUT lost (the server stored it): the record is read back, exit 0, listed, verify --read-data passes', async () => {
    const { bucket, direct, result, id } = await backupThrough([{ ...commitPut, fault: { kind: 'lose-response' } }]);
    expect(result.exitCode, result.stderr as string).toBe(0);
    expect(result.stdout).toContain('"commitReadBack":true');
    // The SDK tried five times, each stored and each answer lost; then one GET read it back.
    expect(commitRequests('PUT')).toBe(5);
    expect(commitRequests('GET')).toBe(1);
    expect(await listSnapshotIds(direct)).toEqual([id]);
    expect(await collect(direct.list('locks/'))).toEqual([]);
    const verify = await cassette(['verify', id!, '--read-data', '--repo', `s3://${bucket}/p`, '--endpoint', moto!.endpoint], { env: s3Env(moto!.endpoint) });
    expect(verify.exitCode, `${verify.stdout as string}${verify.stderr as string}`).toBe(0);
  });

  it('an encrypted backup given only the public key, every answer to the commit PUT lost: the sealed record is read back too (exit 0), and the next backup is incremental', async () => {
    const key = await generateKey(work, 'commit-key.txt');
    const cache = { CASSETTE_CACHE_DIR: await fs.mkdtemp(path.join(work, 'cache-')) };
    const { bucket, direct, result, id } = await backupThrough([{ ...commitPut, fault: { kind: 'lose-response' } }], ['--encrypt-to', key.recipient], cache);
    expect(result.exitCode, result.stderr as string).toBe(0);
    expect(result.stdout).toContain('"commitReadBack":true');
    expect(commitRequests('GET')).toBe(1);
    expect(await listSnapshotIds(direct)).toEqual([id]);
    // The host's metadata cache has the record, so the next backup with the public key only is incremental.
    const next = await backupJson([tree, '--repo', `s3://${bucket}/p`, '--encrypt-to', key.recipient], { ...s3Env(moto!.endpoint), ...cache });
    expect(next.parents).toEqual([id]);
  });

  it.each<[string, FaultRule, number]>([
    ['answered 403 AccessDenied (a definite refusal: nothing to read back)', { ...commitPut, fault: accessDenied }, 0],
    ['answered 500 on every attempt (read back: absent)', { ...commitPut, fault: internalError }, 1],
  ])('the commit PUT %s: exit 1, no data/<id>/ objects, no open upload, no lease left', async (_label, rule, readBacks) => {
    const { direct, result } = await backupThrough([rule]);
    expect(result.exitCode, result.stderr as string).toBe(1);
    // A 403 comes with advice before the server's answer (store/s3-advice.ts); a 500 with the answer alone.
    expect(result.stderr).toMatch(/PUT s3:\/\/\S+\/p\/snapshots\/\S+\.json failed(: access denied to the bucket .* \(HTTP 403: AccessDenied| \(HTTP 500\))/);
    expect(result.stderr).toMatch(/snapshot \S+ was not committed and its data was removed/);
    expect(commitRequests('GET')).toBe(readBacks);
    expect(await listSnapshotIds(direct)).toEqual([]);
    expect(await collect(direct.list('data/'))).toEqual([]);
    expect(await collect(direct.listPendingUploads(''))).toEqual([]);
    expect(await collect(direct.list('locks/'))).toEqual([]);
  });

  it('answers to the commit PUT lost and the read-back failing too: exit 1, "may or may not be committed", and the data is kept (it is committed)', async () => {
    const { direct, result, id } = await backupThrough([
      { ...commitPut, fault: { kind: 'lose-response' } },
      { method: 'GET', path: commitRecord, fault: internalError },
    ]);
    expect(result.exitCode, result.stderr as string).toBe(1);
    expect(result.stderr).toContain('may or may not be committed');
    expect(await listSnapshotIds(direct)).toEqual([id]);
    const record = await readCommitRecord(direct, id!);
    // Everything the record names under its own prefix: volumes, index and recipe (objectKeysOf also has the references, none here).
    const needed = objectKeysOf(record).filter((key) => key.startsWith(`data/${id!}/`));
    expect(needed.some((key) => key.endsWith('.recipe'))).toBe(true);
    expect((await collect(direct.list(`data/${id!}/`))).map((o) => o.key).sort()).toEqual(needed.sort());
  });
});
