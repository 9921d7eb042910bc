// One storage contract suite, run against every store: the local directory, s3rver and moto.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { isCassetteError } from '../../src/errors.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { openStore } from '../../src/store/open-store.js';
import { createBucket, makeS3Store, s3Servers } from '../helpers/s3.js';

const MiB = 1024 * 1024;

function pattern(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

type Factory = () => Promise<{ store: ObjectStore; multipart: 'abortable' | 'none' | 'no-abort' }>;

const factories: Array<[string, Factory]> = [
  ['local directory', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-contract-'));
    tempDirs.push(dir);
    return { store: new LocalStore(dir), multipart: 'none' };
  }],
  ...s3Servers().map((server): [string, Factory] => [`S3 on ${server.name}`, async () => {
    const bucket = await createBucket(server.endpoint);
    // s3rver cannot list or abort multipart uploads (NOTES.md); moto can.
    return { store: makeS3Store(server.endpoint, bucket, 'repo/prefix'), multipart: server.name === 'moto' ? 'abortable' : 'no-abort' };
  }]),
];

describe.each(factories)('storage contract: %s', (_name, factory) => {
  it('puts and gets a buffer and a stream, whole', async () => {
    const { store } = await factory();
    const small = pattern(1000);
    expect(await store.put('a/small.bin', small)).toEqual({ size: 1000 });
    expect(Buffer.compare(await store.getBuffer('a/small.bin'), small)).toBe(0);
    const big = pattern(13 * MiB, 2);
    const result = await store.put('a/big.bin', Readable.from((function* () {
      for (let i = 0; i < big.length; i += 1 * MiB) yield big.subarray(i, i + 1 * MiB);
    })()), { partSize: 5 * MiB });
    expect(result.size).toBe(big.length);
    expect(Buffer.compare(await store.getBuffer('a/big.bin'), big)).toBe(0);
    expect((await store.head('a/big.bin'))?.size).toBe(big.length);
    await store.close();
  });

  it('serves exact byte ranges, clipped at the end', async () => {
    const { store } = await factory();
    const data = pattern(100_000, 3);
    await store.put('r.bin', data);
    const cases: Array<[number, number]> = [[0, 0], [0, 99], [1, 1], [5000, 70000], [99_999, 99_999], [90_000, 99_999]];
    for (const [start, end] of cases) {
      expect(Buffer.compare(await store.getBuffer('r.bin', { range: { start, end } }), data.subarray(start, end + 1))).toBe(0);
    }
    expect(Buffer.compare(await store.getBuffer('r.bin', { range: { start: 99_000, end: 150_000 } }), data.subarray(99_000))).toBe(0);
    await store.close();
  });

  it('reports a missing object as E_NOT_FOUND naming the key, and head as undefined', async () => {
    const { store } = await factory();
    const error = await store.getBuffer('no/such.key').catch((e: unknown) => e);
    expect(isCassetteError(error, 'E_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain('no/such.key');
    expect(await store.head('no/such.key')).toBeUndefined();
    await store.close();
  });

  it('lists by prefix in key order across pages, and deletes (missing keys are fine)', async () => {
    const { store } = await factory();
    const keys = Array.from({ length: 1105 }, (_, i) => `list/k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, Buffer.from(k))));
    await store.put('other/x', Buffer.from('x'));
    const listed = await collect(store.list('list/'));
    expect(listed.map((o) => o.key)).toEqual(keys);
    expect(listed[0]!.size).toBe(keys[0]!.length);
    await store.delete([...keys.slice(0, 1100), 'list/never-existed']);
    expect((await collect(store.list('list/'))).map((o) => o.key)).toEqual(keys.slice(1100));
    expect((await collect(store.list(''))).map((o) => o.key)).toContain('other/x');
    await store.close();
  });

  it('leaves nothing behind when a put is aborted mid-stream', async () => {
    const { store, multipart } = await factory();
    const controller = new AbortController();
    const body = new PassThrough();
    const put = store.put('aborted.bin', body, { partSize: 5 * MiB, signal: controller.signal });
    body.write(pattern(12 * MiB, 4));
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    const error = await put.catch((e: unknown) => e);
    expect(isCassetteError(error, 'E_ABORTED')).toBe(true);
    expect(await store.head('aborted.bin')).toBeUndefined();
    if (multipart !== 'no-abort') expect(await collect(store.listPendingUploads(''))).toEqual([]);
    await store.close();
  });

  it('leaves nothing behind when the body fails mid-stream', async () => {
    const { store, multipart } = await factory();
    const body = new PassThrough();
    const put = store.put('failed.bin', body, { partSize: 5 * MiB });
    body.write(pattern(11 * MiB, 5));
    setTimeout(() => body.destroy(new Error('disk read error (injected)')), 200);
    const error = await put.catch((e: unknown) => e);
    expect(isCassetteError(error)).toBe(true);
    expect((error as Error).message).toContain('disk read error (injected)');
    expect(await store.head('failed.bin')).toBeUndefined();
    if (multipart !== 'no-abort') expect(await collect(store.listPendingUploads(''))).toEqual([]);
    await store.close();
  });
});

describe('openStore', () => {
  it.each([
    ['s3://bucket-name/some/prefix', 's3://bucket-name/some/prefix'],
    ['s3://bucket-name', 's3://bucket-name'],
    ['s3://bucket-name/trailing/', 's3://bucket-name/trailing'],
    ['file:///var/backups/cassette', 'file:///var/backups/cassette'],
    ['/var/backups/cassette', 'file:///var/backups/cassette'],
  ])('opens %s as %s', (url, expected) => {
    expect(openStore(url, { endpoint: 'http://127.0.0.1:9' }).url).toBe(expected);
  });

  it.each([
    ['', /the repository is empty/],
    ['s3://', /no valid bucket name/],
    ['s3://Bad_Bucket/x', /no valid bucket name \("Bad_Bucket"\)/],
    ['ftp://host/x', /unsupported scheme "ftp:\/\/"/],
    ['gs://bucket/x', /unsupported scheme "gs:\/\/"; use s3:\/\/bucket\/prefix, file:\/\/\/absolute\/path, or a directory path/],
  ])('refuses %j with E_REPO', (url, message) => {
    let error: unknown;
    try {
      openStore(url);
    } catch (e) {
      error = e;
    }
    expect(isCassetteError(error, 'E_REPO')).toBe(true);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses an endpoint that is not a URL', () => {
    expect(() => openStore('s3://bucket/x', { endpoint: 'localhost:9000' })).toThrow(/endpoint "localhost:9000" is not an http/);
  });
});
