// Server-side encryption (--sse, --sse-kms-key-id, --sse-c-key-file) and storage classes (--storage-class, --index-storage-class) through the CLI on every server of the suite: what each server honours, ignores or refuses, and that restores read it all back.

import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTrees } from '../../src/demo/compare-trees.js';
import { cassette } from '../helpers/cli.js';
import { createBucket, RGW_KMS_KEY_ID, s3Env, s3Servers, testClient, type S3ServerName } from '../helpers/s3.js';

/**
 * What each server does with each request header, as measured (the README's table says the
 * same). `kms`: 'records' stores the key id it is given, whatever it is, and reports it; 'checks'
 * encrypts with the key and refuses ids it does not know, and a request without an id.
 */
const SERVERS: Record<S3ServerName, { sseS3: boolean; kms: 'ignores' | 'records' | 'checks'; sseC: boolean; classes: { STANDARD_IA: boolean; GLACIER_IR: boolean } }> = {
  // @20minutes/s3rver 4.0.4: no encryption at all; keeps x-amz-storage-class of the classes it knows (not GLACIER_IR).
  s3rver: { sseS3: false, kms: 'ignores', sseC: false, classes: { STANDARD_IA: true, GLACIER_IR: false } },
  // moto 5: records SSE-S3 and SSE-KMS (any key id) and storage classes; ignores SSE-C headers.
  moto: { sseS3: true, kms: 'records', sseC: false, classes: { STANDARD_IA: true, GLACIER_IR: true } },
  // Ceph RGW 16 as rgw.sh sets it up: SSE-C and SSE-KMS ("testing" backend, one key); AES256 accepted but not applied (no SSE-S3 backend before Ceph 17); STANDARD and STANDARD_IA.
  rgw: { sseS3: false, kms: 'checks', sseC: true, classes: { STANDARD_IA: true, GLACIER_IR: false } },
};

const MiB = 1024 * 1024;

interface StoredObject {
  key: string;
  serverSideEncryption: string | undefined;
  kmsKeyId: string | undefined;
  customerAlgorithm: string | undefined;
  /** As HEAD reports it; S3 leaves the header out for STANDARD. */
  storageClass: string;
}

describe.each(s3Servers())('server-side encryption and storage classes through the CLI ($name)', (server) => {
  const { endpoint, name } = server;
  const honours = SERVERS[name];
  const env = s3Env(endpoint);
  let work: string;
  let tree: string;
  let bucket: string;
  let keyFile: string;
  let keyFileBase64: string;
  let wrongKeyFile: string;
  let key: Buffer;
  let cases = 0;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-sse-'));
    tree = path.join(work, 'tree');
    await fs.mkdir(path.join(tree, 'sub'), { recursive: true });
    await fs.writeFile(path.join(tree, 'a.txt'), 'alpha\n');
    await fs.writeFile(path.join(tree, 'sub', 'b.txt'), 'bravo '.repeat(1000));
    // Incompressible and over one 5 MiB part: the archive goes up as a multipart upload (CreateMultipartUpload, UploadPart, Complete).
    const cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
    await fs.writeFile(path.join(tree, 'sub', 'random.bin'), cipher.update(Buffer.alloc(6 * MiB)));
    key = randomBytes(32);
    keyFile = path.join(work, 'sse-c.key');
    await fs.writeFile(keyFile, key);
    keyFileBase64 = path.join(work, 'sse-c.key.b64');
    await fs.writeFile(keyFileBase64, key.toString('base64') + '\n');
    wrongKeyFile = path.join(work, 'wrong.key');
    await fs.writeFile(wrongKeyFile, randomBytes(32));
    bucket = await createBucket(endpoint, 'sse');
  });

  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  /** A fresh repository in the bucket. */
  function newRepo(): { repo: string; prefix: string } {
    const prefix = `case${++cases}`;
    return { repo: `s3://${bucket}/${prefix}`, prefix };
  }

  async function backup(repo: string, args: string[]): Promise<{ exitCode: number | undefined; stderr: string }> {
    const result = await cassette(['backup', tree, '--repo', repo, '--part-size', '5MiB', ...args], { env });
    return { exitCode: result.exitCode, stderr: result.stderr as string };
  }

  /** Restores the latest snapshot whole and compares it with the tree. */
  async function restoresTree(repo: string, args: string[] = [], extraEnv: Record<string, string> = {}): Promise<void> {
    const target = await fs.mkdtemp(path.join(work, 'restore-'));
    const result = await cassette(['restore', 'latest', '--target', target, '--repo', repo, ...args], { env: { ...env, ...extraEnv } });
    expect(result.stderr).toMatch(/^restored 4 entries/);
    expect(result.exitCode).toBe(0);
    const [artifact, ...others] = await fs.readdir(target);
    expect(others).toEqual([]);
    expect(await compareTrees(tree, path.join(target, artifact!))).toEqual([]);
  }

  async function snapshotCount(repo: string, args: string[] = []): Promise<number> {
    const result = await cassette(['snapshots', '--repo', repo, '--json', ...args], { env });
    expect(result.exitCode).toBe(0);
    return (JSON.parse(result.stdout as string) as { snapshots: unknown[] }).snapshots.length;
  }

  /** Every object under the repository's prefix as HEAD reports it, with the SSE-C key when given. */
  async function stored(prefix: string, customerKey?: Buffer): Promise<StoredObject[]> {
    const client = testClient(endpoint);
    try {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
      const keys = (listed.Contents ?? []).map((object) => object.Key!);
      const ssec = customerKey
        ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: customerKey.toString('base64'), SSECustomerKeyMD5: createHash('md5').update(customerKey).digest('base64') }
        : {};
      return await Promise.all(
        keys.map(async (full) => {
          const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: full, ...ssec }));
          return {
            key: full.slice(prefix.length + 1),
            serverSideEncryption: head.ServerSideEncryption,
            kmsKeyId: head.SSEKMSKeyId,
            customerAlgorithm: head.SSECustomerAlgorithm,
            storageClass: head.StorageClass ?? 'STANDARD',
          };
        }),
      );
    } finally {
      client.destroy();
    }
  }

  /** The objects of one committed snapshot: archive, index, recipe and commit record (the lease is gone). */
  function expectOneSnapshot(objects: StoredObject[]): void {
    expect(objects.map((o) => o.key.replace(/\d{8}T\d{6}Z-[0-9a-f]{6}/g, 'ID').replace(/\/[^/]+(\.tar\.zst|\.idx\.zst|\.recipe)$/, '/A$1')).sort()).toEqual([
      'data/ID/A.idx.zst',
      'data/ID/A.recipe',
      'data/ID/A.tar.zst',
      'snapshots/ID.json',
    ]);
  }

  it(`--sse AES256: ${honours.sseS3 ? 'recorded' : 'accepted and ignored'}; the restore reads it back`, async () => {
    const { repo, prefix } = newRepo();
    const result = await backup(repo, ['--sse', 'AES256']);
    expect(result.exitCode).toBe(0);
    const objects = await stored(prefix);
    expectOneSnapshot(objects);
    for (const object of objects) expect(object.serverSideEncryption).toBe(honours.sseS3 ? 'AES256' : undefined);
    await restoresTree(repo);
  });

  it(`--sse aws:kms --sse-kms-key-id ${RGW_KMS_KEY_ID}: ${honours.kms}; the restore reads it back`, async () => {
    const { repo, prefix } = newRepo();
    const result = await backup(repo, ['--sse', 'aws:kms', '--sse-kms-key-id', RGW_KMS_KEY_ID]);
    expect(result.exitCode).toBe(0);
    const objects = await stored(prefix);
    expectOneSnapshot(objects);
    for (const object of objects) {
      expect(object.serverSideEncryption).toBe(honours.kms === 'ignores' ? undefined : 'aws:kms');
      expect(object.kmsKeyId).toBe(honours.kms === 'ignores' ? undefined : RGW_KMS_KEY_ID);
    }
    await restoresTree(repo);
  });

  it(`--sse aws:kms without a key id, and with a key the server does not have: ${honours.kms === 'checks' ? 'refused with the server’s reason' : honours.kms}`, async () => {
    const noId = newRepo();
    const unknown = newRepo();
    const withoutId = await backup(noId.repo, ['--sse', 'aws:kms']);
    const withUnknown = await backup(unknown.repo, ['--sse', 'aws:kms', '--sse-kms-key-id', 'alias/cassette-unknown']);
    if (honours.kms === 'checks') {
      // The first write (the lease) is refused, with the server's reason and what the request asked for; nothing is committed.
      expect(withoutId.stderr).toContain(
        'requires HTTP header x-amz-server-side-encryption-aws-kms-key-id (it asked for SSE aws:kms with the default key; a store refuses encryption it is not set up for)',
      );
      expect(withoutId.exitCode).toBe(1);
      expect(withUnknown.stderr).toContain(
        '(HTTP 403): InvalidAccessKeyId: Failed to retrieve the actual key, kms-keyid: alias/cassette-unknown (it asked for SSE aws:kms with key alias/cassette-unknown;',
      );
      expect(withUnknown.exitCode).toBe(1);
      expect(await snapshotCount(noId.repo)).toBe(0);
      expect(await snapshotCount(unknown.repo)).toBe(0);
      return;
    }
    expect(withoutId.exitCode).toBe(0);
    expect(withUnknown.exitCode).toBe(0);
    const recorded = await stored(noId.prefix);
    expectOneSnapshot(recorded);
    for (const object of recorded) {
      expect(object.serverSideEncryption).toBe(honours.kms === 'records' ? 'aws:kms' : undefined);
      expect(object.kmsKeyId).toBeUndefined();
    }
    for (const object of await stored(unknown.prefix)) expect(object.kmsKeyId).toBe(honours.kms === 'records' ? 'alias/cassette-unknown' : undefined);
    await restoresTree(unknown.repo);
  });

  it(`SSE-C (--sse-c-key-file): ${honours.sseC ? 'encrypted, and every read needs the key' : 'ignored: the objects are stored and read without it'}`, async () => {
    const { repo, prefix } = newRepo();
    const result = await backup(repo, ['--sse-c-key-file', keyFile]);
    expect(result.exitCode).toBe(0);
    const objects = await stored(prefix, key);
    expectOneSnapshot(objects);
    for (const object of objects) expect(object.customerAlgorithm).toBe(honours.sseC ? 'AES256' : undefined);
    if (honours.sseC) {
      // A HEAD without the key is refused (400, no body), as S3 does.
      await expect(stored(prefix)).rejects.toMatchObject({ $metadata: { httpStatusCode: 400 } });
    } else {
      expect(await stored(prefix)).toEqual(objects);
    }

    // The same key as base64, from the environment; a whole restore (whole-object GETs).
    await restoresTree(repo, [], { CASSETTE_SSE_C_KEY_FILE: keyFileBase64 });
    // One small file: a ranged GET of its frame.
    const target = await fs.mkdtemp(path.join(work, 'one-'));
    const one = await cassette(['restore', 'latest', '--target', target, '--include', '*/a.txt', '--repo', repo, '--sse-c-key-file', keyFile], { env });
    expect(one.stderr).toMatch(/^restored 1 entry /);
    expect(one.exitCode).toBe(0);
    const [artifact] = await fs.readdir(target);
    expect(await fs.readFile(path.join(target, artifact!, 'a.txt'), 'utf8')).toBe('alpha\n');
    // verify --read-data: HEADs and GETs of every object.
    const verified = await cassette(['verify', 'latest', '--read-data', '--repo', repo, '--sse-c-key-file', keyFile], { env });
    expect(verified.stdout).toMatch(/: OK\n$/);
    expect(verified.exitCode).toBe(0);
    // A second snapshot, then prune (it reads commit records and writes its clock marker with the key).
    expect((await backup(repo, ['--sse-c-key-file', keyFile])).exitCode).toBe(0);
    const pruned = await cassette(['prune', '--keep-last', '1', '--repo', repo, '--sse-c-key-file', keyFile], { env });
    expect(pruned.exitCode).toBe(0);
    expect(await snapshotCount(repo, ['--sse-c-key-file', keyFile])).toBe(1);

    const withoutKey = await cassette(['restore', 'latest', '--target', path.join(work, 'no-key'), '--repo', repo], { env });
    const wrongKey = await cassette(['restore', 'latest', '--target', path.join(work, 'wrong-key'), '--repo', repo, '--sse-c-key-file', wrongKeyFile], { env });
    if (honours.sseC) {
      expect(withoutKey.stderr).toMatch(
        /^cassette: GET s3:\/\/\S+\/snapshots\/\S+\.json failed: the object is stored with SSE-C \(a key of your own\) and can only be read with that key: give it with --sse-c-key-file FILE \(or CASSETTE_SSE_C_KEY_FILE\) \(HTTP 400: InvalidArgument: .*\)\n$/,
      );
      expect(withoutKey.exitCode).toBe(2);
      expect(wrongKey.stderr).toContain(`failed: the object is stored with another SSE-C key than the one in ${wrongKeyFile} (--sse-c-key-file) (HTTP 400: InvalidArgument: `);
      expect(wrongKey.exitCode).toBe(2);
      // Nothing was restored.
      await expect(fs.access(path.join(work, 'no-key'))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(fs.access(path.join(work, 'wrong-key'))).rejects.toMatchObject({ code: 'ENOENT' });
    } else {
      expect(withoutKey.exitCode).toBe(0);
      expect(wrongKey.exitCode).toBe(0);
    }
  });

  it(`--storage-class STANDARD_IA --index-storage-class standard: archives in STANDARD_IA, the rest in STANDARD`, async () => {
    expect(honours.classes.STANDARD_IA).toBe(true);
    const { repo, prefix } = newRepo();
    const result = await backup(repo, ['--storage-class', 'STANDARD_IA', '--index-storage-class', 'standard']);
    expect(result.exitCode).toBe(0);
    const objects = await stored(prefix);
    expectOneSnapshot(objects);
    for (const object of objects) expect([object.key, object.storageClass]).toEqual([object.key, object.key.endsWith('.tar.zst') ? 'STANDARD_IA' : 'STANDARD']);
    await restoresTree(repo);
  });

  it(`--storage-class GLACIER_IR: ${honours.classes.GLACIER_IR ? 'recorded' : 'refused by the server, with the class named'}`, async () => {
    const { repo, prefix } = newRepo();
    const result = await backup(repo, ['--storage-class', 'glacier_ir']);
    if (!honours.classes.GLACIER_IR) {
      // s3rver refuses the multipart upload when it is completed, RGW when it is created.
      const [request, reason] =
        name === 's3rver' ? ['CompleteMultipartUpload', 'InvalidStorageClass: The storage class you specified is not valid'] : ['CreateMultipartUpload', 'InvalidArgument'];
      expect(result.stderr).toMatch(
        new RegExp(
          `${request} of s3://${bucket}/${prefix}/data/\\S+\\.tar\\.zst failed \\(HTTP 400\\): ${reason} \\(it asked for storage class GLACIER_IR; a store refuses a storage class it does not offer\\)`,
        ),
      );
      expect(result.exitCode).toBe(1);
      expect(await snapshotCount(repo)).toBe(0);
      return;
    }
    expect(result.exitCode).toBe(0);
    const objects = await stored(prefix);
    expectOneSnapshot(objects);
    for (const object of objects) expect(object.storageClass).toBe(object.key.endsWith('.tar.zst') ? 'GLACIER_IR' : 'STANDARD');
    await restoresTree(repo);
  });
});
