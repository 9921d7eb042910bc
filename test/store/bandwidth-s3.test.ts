// Bandwidth limits on a real S3 server: concurrent uploads and a download held back by the limit for longer than the idle timeout still succeed on their first attempt, byte for byte.

import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/store/bandwidth.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { createBucket, getObject, makeS3Store, s3Server } from '../helpers/s3.js';

const server = s3Server('s3rver')!;
const KiB = 1024;

describe('an S3 store with bandwidth limits', () => {
  let bucket: string;
  beforeAll(async () => {
    bucket = await createBucket(server.endpoint, 'bandwidth');
  });

  // The idle timeout is 300 ms and there is no retry, so a timer the limit lets fire fails the request.
  const limited = (limits: { upload?: TokenBucket; download?: TokenBucket }): S3Store =>
    makeS3Store(server.endpoint, bucket, 'limited', { limits, idleTimeoutMs: 300, maxAttempts: 1 });
  let store: S3Store | undefined;
  afterAll(async () => {
    await store?.close();
  });

  it('four concurrent uploads, each waiting longer than the idle timeout between its slices', async () => {
    // 16 KiB/s in 2 KiB slices: four uploads at once each get a slice about every half second.
    store = limited({ upload: new TokenBucket(16 * KiB) });
    const bodies = [0, 1, 2, 3].map(() => randomBytes(8 * KiB));
    await Promise.all(bodies.map((body, i) => store!.put(`up-${i}`, body)));
    for (const [i, body] of bodies.entries()) expect((await getObject(server.endpoint, bucket, `limited/up-${i}`)).equals(body)).toBe(true);
  });

  it('a multipart upload whose parts are larger than the burst', async () => {
    // 8 MiB/s: a burst of 2 MiB, and 5 MiB parts; a bucket that waited to hold a whole part would never send one.
    store = limited({ upload: new TokenBucket(8 * 1024 * KiB) });
    const body = randomBytes(6 * 1024 * KiB);
    await store.put('multipart', Readable.from([body.subarray(0, 3 * 1024 * KiB), body.subarray(3 * 1024 * KiB)]), { partSize: 5 * 1024 * KiB });
    expect((await getObject(server.endpoint, bucket, 'limited/multipart')).equals(body)).toBe(true);
  });

  it('a download held back for longer than the idle timeout', async () => {
    // 128 KiB/s in 16 KiB slices: each 64 KiB the socket hands over takes half a second to let
    // through, while the socket is not read; the object is larger than one read, so the response
    // is not complete before that.
    const body = randomBytes(256 * KiB);
    await makeS3Store(server.endpoint, bucket, 'limited').put('down', body);
    store = limited({ download: new TokenBucket(128 * KiB) });
    expect((await store.getBuffer('down')).equals(body)).toBe(true);
  });
});
