// One storage contract suite, run against every store: the local directory, s3rver, moto and Ceph RGW.

import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { isCassetteError } from '../../src/errors.js';
import { LocalStore, TEMP_PREFIX } from '../../src/store/local-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { openStore, parseRepositoryUrl } from '../../src/store/open-store.js';
import { S3Store } from '../../src/store/s3-store.js';
import { createBucket, makeS3Store, s3Server, s3Servers, TEST_AWS_ENV, TEST_CREDENTIALS } from '../helpers/s3.js';
import { pattern } from '../helpers/pattern.js';

const MiB = 1024 * 1024;

/** Resolves once `onProgress` has reported at least `bytes` (for puts: a part has been stored). */
function progressPast(bytes: number): { onProgress: (n: number) => void; reached: Promise<void> } {
  let resolve!: () => void;
  const reached = new Promise<void>((r) => {
    resolve = r;
  });
  return { onProgress: (n) => void (n >= bytes && resolve()), reached };
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );
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
  [
    'local directory',
    async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-contract-'));
      tempDirs.push(dir);
      return { store: new LocalStore(dir), multipart: 'none' };
    },
  ],
  ...s3Servers().map((server): [string, Factory] => [
    `S3 on ${server.name}`,
    async () => {
      const bucket = await createBucket(server.endpoint);
      // s3rver cannot list or abort multipart uploads (NOTES.md); moto and RGW can.
      return { store: makeS3Store(server.endpoint, bucket, 'repo/prefix'), multipart: server.name === 's3rver' ? 'no-abort' : 'abortable' };
    },
  ]),
];

describe.each(factories)('storage contract: %s', (_name, factory) => {
  it('puts and gets a buffer and a stream, whole', async () => {
    const { store } = await factory();
    const small = pattern(1000);
    expect(await store.put('a/small.bin', small)).toEqual({ size: 1000 });
    expect(Buffer.compare(await store.getBuffer('a/small.bin'), small)).toBe(0);
    const big = pattern(13 * MiB, 2);
    const result = await store.put(
      'a/big.bin',
      Readable.from(
        (function* () {
          for (let i = 0; i < big.length; i += 1 * MiB) yield big.subarray(i, i + 1 * MiB);
        })(),
      ),
      { partSize: 5 * MiB },
    );
    expect(result.size).toBe(big.length);
    expect(Buffer.compare(await store.getBuffer('a/big.bin'), big)).toBe(0);
    expect((await store.head('a/big.bin'))?.size).toBe(big.length);
    await store.close();
  });

  it('serves exact byte ranges, clipped at the end', async () => {
    const { store } = await factory();
    const data = pattern(100_000, 3);
    await store.put('r.bin', data);
    const cases: Array<[number, number]> = [
      [0, 0],
      [0, 99],
      [1, 1],
      [5000, 70000],
      [99_999, 99_999],
      [90_000, 99_999],
    ];
    for (const [start, end] of cases) {
      expect(Buffer.compare(await store.getBuffer('r.bin', { range: { start, end } }), data.subarray(start, end + 1))).toBe(0);
    }
    expect(Buffer.compare(await store.getBuffer('r.bin', { range: { start: 99_000, end: 150_000 } }), data.subarray(99_000))).toBe(0);
    // A range that starts past the end is clipped to nothing.
    expect((await store.getBuffer('r.bin', { range: { start: 100_000, end: 100_010 } })).length).toBe(0);
    // As a stream, too, and read in full.
    const chunks: Buffer[] = [];
    for await (const chunk of await store.get('r.bin', { range: { start: 10, end: 60_009 } })) chunks.push(chunk as Buffer);
    expect(Buffer.compare(Buffer.concat(chunks), data.subarray(10, 60_010))).toBe(0);
    await store.close();
  });

  it('getBuffer into a given buffer: a view of it holding the bytes, and an error when more arrive than it holds', async () => {
    const { store } = await factory();
    const data = pattern(200_000, 5);
    await store.put('into.bin', data);
    const into = Buffer.alloc(100_000, 0xee);
    const got = await store.getBuffer('into.bin', { range: { start: 1000, end: 60_999 }, into });
    expect(got.buffer).toBe(into.buffer);
    expect(got.byteOffset).toBe(into.byteOffset);
    expect(Buffer.compare(got, data.subarray(1000, 61_000))).toBe(0);
    expect(into[60_000]).toBe(0xee);
    // Shared memory too (the restore's case).
    const shared = Buffer.from(new SharedArrayBuffer(70_000));
    expect(Buffer.compare(await store.getBuffer('into.bin', { range: { start: 0, end: 69_999 }, into: shared }), data.subarray(0, 70_000))).toBe(0);
    await expect(store.getBuffer('into.bin', { range: { start: 0, end: 149_999 }, into })).rejects.toThrow(/more than the 100000 bytes asked for/);
    await store.close();
  });

  it('reports a missing object as E_NOT_FOUND naming the key, and head as undefined', async () => {
    const { store } = await factory();
    const attempts = [() => store.getBuffer('no/such.key'), () => store.get('no/such.key'), () => store.get('no/such.key', { range: { start: 0, end: 9 } })];
    for (const attempt of attempts) {
      const error = await errorOf(attempt());
      expect(isCassetteError(error, 'E_NOT_FOUND')).toBe(true);
      expect((error as Error).message).toContain('no/such.key');
    }
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

  it('reports progress and the stored size, and heads what it stored', async () => {
    const { store } = await factory();
    const seen: number[] = [];
    const data = pattern(11 * MiB, 6);
    const result = await store.put('p/progress.bin', Readable.from([data.subarray(0, 6 * MiB), data.subarray(6 * MiB)]), { partSize: 5 * MiB, onProgress: (n) => seen.push(n) });
    expect(result.size).toBe(data.length);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe(data.length);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(await store.head('p/progress.bin')).toMatchObject({ key: 'p/progress.bin', size: data.length });
    await store.close();
  });

  it('leaves nothing behind when a put is aborted mid-stream, even if the producer never ends the body', async () => {
    const { store, multipart } = await factory();
    const controller = new AbortController();
    const body = new PassThrough();
    const progress = progressPast(5 * MiB);
    const put = store.put('aborted.bin', body, { partSize: 5 * MiB, signal: controller.signal, onProgress: progress.onProgress });
    body.write(pattern(12 * MiB, 4));
    // Abort once a part is stored: the multipart upload exists and must be aborted.
    await progress.reached;
    controller.abort();
    const error = await errorOf(put);
    expect(isCassetteError(error, 'E_ABORTED')).toBe(true);
    expect((error as Error).message).toContain('aborted.bin');
    expect(body.destroyed).toBe(true);
    expect(await store.head('aborted.bin')).toBeUndefined();
    if (multipart !== 'no-abort') expect(await collect(store.listPendingUploads(''))).toEqual([]);
    expect(await collect(store.list(''))).toEqual([]);
    await store.close();
  });

  it('refuses a put whose signal is already aborted, for buffers and streams', async () => {
    const { store } = await factory();
    const signal = AbortSignal.abort();
    expect(isCassetteError(await errorOf(store.put('pre/small.bin', Buffer.from('x'), { signal })), 'E_ABORTED')).toBe(true);
    expect(isCassetteError(await errorOf(store.put('pre/stream.bin', Readable.from([pattern(1000)]), { signal })), 'E_ABORTED')).toBe(true);
    expect(await collect(store.list('pre/'))).toEqual([]);
    await store.close();
  });

  it('openWriter: stores what was written (copied before write resolves), appears only on finish', async () => {
    const { store } = await factory();
    const writer = store.openWriter('w/written.bin', { partSize: 5 * MiB, queueSize: 2 });
    const expected: Buffer[] = [];
    const scratch = Buffer.alloc(3 * MiB + 17);
    for (let i = 0; i < 5; i++) {
      pattern(scratch.length, 40 + i).copy(scratch);
      expected.push(Buffer.from(scratch));
      await writer.write(scratch);
      scratch.fill(0); // the writer must already have copied it
    }
    expect(await store.head('w/written.bin')).toBeUndefined();
    expect(await writer.finish()).toEqual({ size: 5 * scratch.length });
    expect((await store.getBuffer('w/written.bin')).equals(Buffer.concat(expected))).toBe(true);
    // An object smaller than one part, and an empty one.
    const small = store.openWriter('w/small.bin', { partSize: 5 * MiB });
    await small.write(Buffer.from('tiny'));
    expect(await small.finish()).toEqual({ size: 4 });
    expect((await store.getBuffer('w/small.bin')).toString()).toBe('tiny');
    expect(await store.openWriter('w/empty.bin').finish()).toEqual({ size: 0 });
    expect(await store.head('w/empty.bin')).toMatchObject({ size: 0 });
    await store.close();
  });

  it('openWriter: abort after parts were stored leaves nothing, and later calls reject', async () => {
    const { store, multipart } = await factory();
    const progress = progressPast(5 * MiB);
    const writer = store.openWriter('w/aborted.bin', { partSize: 5 * MiB, onProgress: progress.onProgress });
    await writer.write(pattern(11 * MiB, 7));
    await progress.reached;
    await writer.abort(new Error('given up (test)'));
    await writer.abort(); // twice is fine
    expect(await errorOf(writer.write(Buffer.from('more')))).toBeInstanceOf(Error);
    expect(await errorOf(writer.finish())).toBeInstanceOf(Error);
    expect(await store.head('w/aborted.bin')).toBeUndefined();
    if (multipart !== 'no-abort') expect(await collect(store.listPendingUploads(''))).toEqual([]);
    expect(await collect(store.list('w/'))).toEqual([]);
    await store.close();
  });

  it('openWriter: an aborted signal fails the writer with E_ABORTED naming the key', async () => {
    const { store } = await factory();
    const controller = new AbortController();
    const writer = store.openWriter('w/signalled.bin', { partSize: 5 * MiB, signal: controller.signal });
    await writer.write(pattern(6 * MiB, 3));
    controller.abort();
    const error = await errorOf(
      (async () => {
        await writer.write(pattern(6 * MiB, 4));
        await writer.finish();
      })(),
    );
    expect(isCassetteError(error, 'E_ABORTED')).toBe(true);
    expect((error as Error).message).toContain('signalled.bin');
    expect(await store.head('w/signalled.bin')).toBeUndefined();
    await store.close();
  });

  it('copy: from another store of its kind, whole; undefined from another kind; a missing source is E_NOT_FOUND', async () => {
    const { store } = await factory();
    const { store: source } = await factory();
    const body = pattern(3 * MiB + 17, 5);
    await source.put('data/x/obj.bin', body);
    expect(typeof store.copy).toBe('function');
    expect(await store.copy!('data/y/copied.bin', { store: source, key: 'data/x/obj.bin', size: body.length })).toEqual({ size: body.length });
    expect(Buffer.compare(await store.getBuffer('data/y/copied.bin'), body)).toBe(0);
    expect((await store.head('data/y/copied.bin'))?.size).toBe(body.length);
    // The source is left as it was, and nothing else appears in the target.
    expect(Buffer.compare(await source.getBuffer('data/x/obj.bin'), body)).toBe(0);
    expect((await collect(store.list(''))).map((o) => o.key)).toEqual(['data/y/copied.bin']);
    const missing = await errorOf(store.copy!('data/y/none.bin', { store: source, key: 'data/x/none.bin', size: 1 }));
    expect(isCassetteError(missing, 'E_NOT_FOUND')).toBe(true);
    expect((missing as Error).message).toContain('data/x/none.bin');
    expect(await store.head('data/y/none.bin')).toBeUndefined();
    const other = store instanceof LocalStore ? makeS3Store('http://127.0.0.1:1', 'no-such-bucket') : new LocalStore(os.tmpdir());
    expect(await store.copy!('data/y/other.bin', { store: other, key: 'data/x/obj.bin', size: body.length })).toBeUndefined();
    await other.close();
  });

  it('leaves nothing behind when the body fails mid-stream, and reports the body failure', async () => {
    const { store, multipart } = await factory();
    const body = new PassThrough();
    const progress = progressPast(5 * MiB);
    const put = store.put('failed.bin', body, { partSize: 5 * MiB, onProgress: progress.onProgress });
    body.write(pattern(11 * MiB, 5));
    await progress.reached;
    body.destroy(new Error('disk read error (injected)'));
    const error = await errorOf(put);
    expect(isCassetteError(error, 'E_STORAGE')).toBe(true);
    expect((error as Error).message).toContain('failed.bin');
    expect((error as Error).message).toContain('disk read error (injected)');
    expect(await store.head('failed.bin')).toBeUndefined();
    if (multipart !== 'no-abort') expect(await collect(store.listPendingUploads(''))).toEqual([]);
    await store.close();
  });
});

describe('LocalStore specifics', () => {
  it('hides temporary files from listings and reports them as pending uploads', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-local-'));
    tempDirs.push(dir);
    const store = new LocalStore(dir);
    expect(store.url).toBe(`file://${dir}`);
    await store.put('data/a.bin', Buffer.from('a'));
    const stale = `${TEMP_PREFIX}deadbeef`;
    await fs.writeFile(path.join(dir, 'data', stale), 'half a put');
    expect((await collect(store.list(''))).map((o) => o.key)).toEqual(['data/a.bin']);
    const pending = await collect(store.listPendingUploads('data/'));
    expect(pending).toMatchObject([{ key: `data/${stale}`, uploadId: stale }]);
    expect(await collect(store.listPendingUploads('other/'))).toEqual([]);
    await store.abortPendingUpload(pending[0]!);
    expect(await fs.readdir(path.join(dir, 'data'))).toEqual(['a.bin']);
  });
});

describe.each(s3Servers())('S3Store specifics on $name', ({ endpoint }) => {
  it('joins prefix and key without doubled slashes, with or without a prefix', () => {
    expect(makeS3Store(endpoint, 'bucket-x', 'repo/').keyFor('snapshots/a.json')).toBe('repo/snapshots/a.json');
    expect(makeS3Store(endpoint, 'bucket-x', '/repo/p/').keyFor('/data/x')).toBe('repo/p/data/x');
    const bare = makeS3Store(endpoint, 'bucket-x', '');
    expect(bare.keyFor('snapshots/a.json')).toBe('snapshots/a.json');
    expect(bare.url).toBe('s3://bucket-x');
  });

  it('lists keys relative to an empty prefix', async () => {
    const bucket = await createBucket(endpoint);
    const store = makeS3Store(endpoint, bucket, '');
    await store.put('snapshots/a.json', Buffer.from('{}'));
    expect((await collect(store.list('snapshots/'))).map((o) => o.key)).toEqual(['snapshots/a.json']);
    expect(await store.getBuffer('snapshots/a.json')).toEqual(Buffer.from('{}'));
    await store.close();
  });

  it('names the operation, the bucket and key, and the server message when a request fails', async () => {
    const store = makeS3Store(endpoint, 'no-such-bucket-cassette', 'repo', { maxAttempts: 1 });
    const small = await errorOf(store.put('k.bin', Buffer.from('x')));
    expect(isCassetteError(small, 'E_STORAGE')).toBe(true);
    expect((small as Error).message).toMatch(/PUT s3:\/\/no-such-bucket-cassette\/repo\/k\.bin failed.*NoSuchBucket|bucket does not exist/i);
    expect((small as Error).cause).toBeDefined();
    const big = await errorOf(store.put('big.bin', Readable.from([pattern(6 * MiB)]), { partSize: 5 * MiB }));
    expect(isCassetteError(big, 'E_STORAGE')).toBe(true);
    expect((big as Error).message).toContain('s3://no-such-bucket-cassette/repo/big.bin');
    const listing = await errorOf(collect(store.list('')));
    expect(isCassetteError(listing, 'E_STORAGE')).toBe(true);
    await store.close();
  });

  it('stops at the first failed part, aborts the multipart upload and reports that part failure', async () => {
    const bucket = await createBucket(endpoint);
    const store = makeS3Store(endpoint, bucket, 'repo', { maxAttempts: 1 });
    const partsTried: number[] = [];
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand') {
          const part = Number((args.input as { PartNumber?: number }).PartNumber);
          partsTried.push(part);
          if (part === 2) throw Object.assign(new Error('We encountered an internal error (injected)'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failSecondPart' },
    );
    const parts = 12;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < parts; i++) yield pattern(5 * MiB, i);
      })(),
    );
    const error = await errorOf(store.put('part-failure.bin', body, { partSize: 5 * MiB, queueSize: 2 }));
    expect(isCassetteError(error, 'E_STORAGE')).toBe(true);
    expect((error as Error).message).toMatch(/UploadPart of s3:\/\/.*\/repo\/part-failure\.bin failed \(HTTP 500\): InternalError: We encountered an internal error \(injected\)/);
    // The other worker stops too, instead of uploading the rest of the stream.
    expect(partsTried.length).toBeLessThan(parts);
    expect(body.destroyed).toBe(true);
    expect(await store.head('part-failure.bin')).toBeUndefined();
    expect(await collect(store.listPendingUploads(''))).toEqual([]);
    await store.close();
  });

  it('sends a streamed body as plain bytes, which the server stores as sent', async () => {
    // The SDK's default for a stream (aws-chunked with a trailing checksum) gets 411 from RGW,
    // 400 from s3rver (see the RGW quirks below): S3Store asks for checksums only when required.
    const bucket = await createBucket(endpoint);
    const store = makeS3Store(endpoint, bucket, '');
    const data = pattern(100_000, 8);
    await store.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'streamed.bin', Body: Readable.from([data]), ContentLength: data.length }));
    expect((await store.getBuffer('streamed.bin')).equals(data)).toBe(true);
    await store.close();
  });

  it('copies a large object server-side in parts (UploadPartCopy), and not across credentials', async () => {
    const from = makeS3Store(endpoint, await createBucket(endpoint), 'src');
    const to = makeS3Store(endpoint, await createBucket(endpoint), 'dst', { singleCopyLimit: 6 * MiB, copyPartSize: 5 * MiB });
    const body = pattern(13 * MiB + 1, 9);
    await from.put('data/a/big.bin', body);
    expect(await to.copy('data/a/big.bin', { store: from, key: 'data/a/big.bin', size: body.length })).toEqual({ size: body.length });
    expect(Buffer.compare(await to.getBuffer('data/a/big.bin'), body)).toBe(0);
    // Other credentials (another object, even with the same values): the caller must stream.
    const stranger = makeS3Store(endpoint, to.bucket, 'dst', { credentials: { ...TEST_CREDENTIALS } });
    expect(await stranger.copy('data/a/again.bin', { store: from, key: 'data/a/big.bin', size: body.length })).toBeUndefined();
    await Promise.all([from.close(), to.close(), stranger.close()]);
  });

  it('uses the client it exposes, and closes it', async () => {
    const store = makeS3Store(endpoint, 'bucket-x', 'p');
    expect(store).toBeInstanceOf(S3Store);
    expect(await store.client.config.region()).toBe('us-east-1');
    expect(store.client.config.forcePathStyle).toBe(true);
    await store.close();
  });
});

/**
 * What Ceph RGW 16.2 does differently from AWS, pinned so that a change on either side shows.
 * S3Store lives with both; README.md ("Ceph RGW") says what they mean for users.
 */
describe.runIf(s3Server('rgw'))('Ceph RGW quirks S3Store lives with', () => {
  const endpoint = s3Server('rgw')?.endpoint ?? '';
  // A silent logger: the SDK warns on the console when a streamed request fails.
  const quiet = { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  const sdkDefaults = (): S3Client => new S3Client({ endpoint, region: TEST_AWS_ENV.AWS_REGION, forcePathStyle: true, credentials: TEST_CREDENTIALS, logger: quiet });

  it('refuses a streamed body sent aws-chunked with a trailing checksum (the SDK default) with 411', async () => {
    const bucket = await createBucket(endpoint);
    const client = sdkDefaults();
    try {
      const error = await errorOf(client.send(new PutObjectCommand({ Bucket: bucket, Key: 'chunked.bin', Body: Readable.from([pattern(1000)]), ContentLength: 1000 })));
      expect((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(411);
      expect((error as Error).name).toBe('MissingContentLength');
    } finally {
      client.destroy();
    }
  });

  it('ignores flexible checksums: a wrong CRC32 is stored without complaint (integrity rests on the index SHA-256s)', async () => {
    const bucket = await createBucket(endpoint);
    const client = sdkDefaults();
    try {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'crc.bin', Body: Buffer.from('hello'), ChecksumCRC32: 'AAAAAA==' }));
      const store = makeS3Store(endpoint, bucket, '');
      expect((await store.getBuffer('crc.bin')).toString()).toBe('hello');
      await store.close();
    } finally {
      client.destroy();
    }
  });
});

describe('openStore and parseRepositoryUrl', () => {
  it.each([
    ['s3://bucket-name/some/prefix', { kind: 's3', bucket: 'bucket-name', prefix: 'some/prefix', url: 's3://bucket-name/some/prefix' }],
    ['s3://bucket-name', { kind: 's3', bucket: 'bucket-name', prefix: '', url: 's3://bucket-name' }],
    ['s3://bucket-name/', { kind: 's3', bucket: 'bucket-name', prefix: '', url: 's3://bucket-name' }],
    ['s3://bucket-name/trailing/', { kind: 's3', bucket: 'bucket-name', prefix: 'trailing', url: 's3://bucket-name/trailing' }],
    ['s3://my.bucket-1//a//b', { kind: 's3', bucket: 'my.bucket-1', prefix: 'a/b', url: 's3://my.bucket-1/a/b' }],
    ['file:///var/backups/cassette', { kind: 'local', dir: '/var/backups/cassette', url: 'file:///var/backups/cassette' }],
    ['file://localhost/var/backups', { kind: 'local', dir: '/var/backups', url: 'file:///var/backups' }],
    ['file:///var/backups/with%20space', { kind: 'local', dir: '/var/backups/with space', url: 'file:///var/backups/with space' }],
    ['/var/backups/cassette', { kind: 'local', dir: '/var/backups/cassette', url: 'file:///var/backups/cassette' }],
    ['/var/backups/cassette/', { kind: 'local', dir: '/var/backups/cassette', url: 'file:///var/backups/cassette' }],
    ['relative/repo', { kind: 'local', dir: path.resolve('relative/repo'), url: `file://${path.resolve('relative/repo')}` }],
    ['./repo', { kind: 'local', dir: path.resolve('repo'), url: `file://${path.resolve('repo')}` }],
    ['backups:2024', { kind: 'local', dir: path.resolve('backups:2024'), url: `file://${path.resolve('backups:2024')}` }],
  ])('parses %s', (url, expected) => {
    expect(parseRepositoryUrl(url)).toEqual(expected);
    expect(openStore(url, { endpoint: 'http://127.0.0.1:9' }).url).toBe(expected.url);
  });

  it('opens local repositories as LocalStore and S3 ones lazily', () => {
    expect(openStore('/tmp/x')).toBeInstanceOf(LocalStore);
    expect(openStore('s3://bucket-name/p', { endpoint: 'http://127.0.0.1:9' }).url).toBe('s3://bucket-name/p');
  });

  it.each([
    ['', /the repository is empty/],
    ['   ', /the repository is empty/],
    ['s3://', /no valid bucket name \(""\)/],
    ['s3:///prefix', /no valid bucket name \(""\)/],
    ['s3://Bad_Bucket/x', /no valid bucket name \("Bad_Bucket"\)/],
    ['s3://ab/x', /no valid bucket name \("ab"\)/],
    ['s3:bucket/x', /not a valid S3 URL: write s3:\/\/bucket\/prefix/],
    ['s3:/bucket/x', /not a valid S3 URL/],
    ['s3://bucket-name/x?versionId=1', /query or fragment/],
    ['file:relative/dir', /not a valid file URL: it needs an absolute path/],
    ['file://remote-host/dir', /not a valid file URL/],
    ['ftp://host/x', /unsupported scheme "ftp:\/\/"/],
    ['https://s3.example.com/bucket', /unsupported scheme "https:\/\/".*--endpoint/],
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
    if (url.trim() !== '') expect((error as Error).message).toContain(url);
  });

  it('refuses an endpoint that is not a URL', () => {
    let error: unknown;
    try {
      openStore('s3://bucket-name/x', { endpoint: 'localhost:9000' });
    } catch (e) {
      error = e;
    }
    expect(isCassetteError(error, 'E_REPO')).toBe(true);
    expect((error as Error).message).toMatch(/endpoint "localhost:9000" is not an http/);
  });
});
