// The commit record's PUT through the fault proxy (moto behind it), with the real CLI: a lost answer is read back (exit 0, committed); a refusal or a failure that read-back confirms leaves no data behind (exit 1).

import { createCipheriv } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../src/crypto/keys.js';
import { listSnapshotIds, readCommitRecord, objectKeysOf } from '../../src/repository.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { cassette } from '../helpers/cli.js';
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

  /** `cassette backup` of the tree into a fresh bucket through the proxy, with `rules`; and the bucket seen directly. */
  async function backupThrough(rules: FaultRule[], extra: string[] = []) {
    const bucket = await createBucket(moto!.endpoint);
    const direct = makeS3Store(moto!.endpoint, bucket, 'p');
    stores.push(direct);
    proxy.setFaults(rules);
    const result = await cassette(['backup', tree, '--repo', `s3://${bucket}/p`, '--endpoint', proxy.endpoint, '--json', ...extra], { env: s3Env(moto!.endpoint) });
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

  it('encrypted, with the public key only: every answer to the commit PUT lost, the sealed record read back is recognised (the metadata cache opens it), exit 0, and verify --read-data passes with the identity', async () => {
    const key = await generateKey();
    const identity = path.join(work, 'commit-key.txt');
    await fs.writeFile(identity, key.text, { mode: 0o600 });
    const { bucket, result, id } = await backupThrough([{ ...commitPut, fault: { kind: 'lose-response' } }], ['--encrypt-to', key.recipient]);
    expect(result.exitCode, result.stderr as string).toBe(0);
    expect(result.stdout).toContain('"commitReadBack":true');
    expect(commitRequests('GET')).toBe(1);
    const verify = await cassette(['verify', id!, '--read-data', '--identity', identity, '--repo', `s3://${bucket}/p`, '--endpoint', moto!.endpoint], {
      env: s3Env(moto!.endpoint),
    });
    expect(verify.exitCode, `${verify.stdout as string}${verify.stderr as string}`).toBe(0);
  });

  it.each<[string, FaultRule, number]>([
    ['answered 403 AccessDenied (a definite refusal: nothing to read back)', { ...commitPut, fault: accessDenied }, 0],
    ['answered 500 on every attempt (read back: absent)', { ...commitPut, fault: internalError }, 1],
  ])('the commit PUT %s: exit 1, no data/<id>/ objects, no open upload, no lease left', async (_label, rule, readBacks) => {
    const { direct, result } = await backupThrough([rule]);
    expect(result.exitCode, result.stderr as string).toBe(1);
    expect(result.stderr).toMatch(/PUT s3:\/\/\S+\/p\/snapshots\/\S+\.json failed \(HTTP (403|500)\)/);
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
