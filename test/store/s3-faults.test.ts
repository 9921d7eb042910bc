// S3Store against real S3 servers (s3rver, moto) through the fault proxy: stalled requests time out and are retried, and what cannot be saved fails with a message that says what happened.

import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { S3Store } from '../../src/store/s3-store.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../helpers/fault-proxy.js';
import { rejection } from '../helpers/rejection.js';
import { createBucket, makeS3Store, s3Servers } from '../helpers/s3.js';

const MiB = 1024 * 1024;
/** A stall costs about a second; a run of failures three attempts. */
const FAST = { idleTimeoutMs: 1000, connectTimeoutMs: 1000, maxAttempts: 3 };
/** A client without timeouts would hang on these tests: they fail instead. */
const NO_HANG = { timeout: 30_000 };

function pattern(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function inPieces(data: Buffer, size = MiB): Readable {
  return Readable.from((function* () {
    for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
  })());
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const gets = (proxy: FaultProxy): ProxiedRequest[] => proxy.requests().filter((r) => r.method === 'GET');

describe.each(s3Servers())('S3Store through a faulty connection to $name', ({ name, endpoint }) => {
  let proxy: FaultProxy;
  let bucket: string;
  let direct: S3Store;
  let store: S3Store;
  const object = pattern(3 * MiB, 9);

  beforeAll(async () => {
    bucket = await createBucket(endpoint);
    direct = makeS3Store(endpoint, bucket, 'repo');
    proxy = await startFaultProxy(endpoint);
    await direct.put('obj.bin', object);
  });

  afterAll(async () => {
    await direct?.close();
    await proxy?.close();
  });

  // A fresh client per test, so that one test's retries cannot use up another's retry quota.
  const through = (options: Partial<typeof FAST> = {}): S3Store => {
    store = makeS3Store(proxy.endpoint, bucket, 'repo', { ...FAST, ...options });
    return store;
  };

  afterEach(async () => {
    proxy.setFaults([]);
    proxy.reset();
    await store?.close();
  });

  describe('requests that stall or break', () => {
    it('an UploadPart that is never answered times out, is retried, and the upload completes', NO_HANG, async () => {
      proxy.setFaults([{ method: 'PUT', path: /partNumber=2&/, nth: 1, fault: { kind: 'stall' } }]);
      const data = pattern(11 * MiB, 2);
      expect(await through().put('up/stalled-once.bin', inPieces(data), { partSize: 5 * MiB })).toEqual({ size: data.length });
      expect((await direct.getBuffer('up/stalled-once.bin')).equals(data)).toBe(true);
      expect(proxy.requests().filter((r) => r.fault === 'stall')).toHaveLength(1);
    });

    it('an UploadPart that stalls on every attempt fails naming UploadPart, the key and the attempts, and leaves nothing behind', NO_HANG, async () => {
      proxy.setFaults([{ method: 'PUT', path: /partNumber=2&/, fault: { kind: 'stall' } }]);
      const error = await rejection(through().put('up/stalled.bin', inPieces(pattern(11 * MiB, 3)), { partSize: 5 * MiB }));
      expect(error.code, error.message).toBe('E_STORAGE');
      expect(error.message).toMatch(new RegExp(`^UploadPart of s3://${bucket}/repo/up/stalled\\.bin timed out after 1 s without a response, 3 attempts`));
      expect(proxy.requests().filter((r) => r.fault === 'stall')).toHaveLength(3);
      expect(await direct.head('up/stalled.bin')).toBeUndefined();
      if (name === 'moto') expect(await collect(direct.listPendingUploads('up/'))).toEqual([]);
    });

    it('an UploadPart whose connection is reset while its body goes out is retried, and the upload completes', NO_HANG, async () => {
      proxy.setFaults([{ method: 'PUT', path: /partNumber=2&/, nth: 1, fault: { kind: 'reset-request', afterBytes: MiB } }]);
      const data = pattern(11 * MiB, 7);
      expect(await through().put('up/reset-once.bin', inPieces(data), { partSize: 5 * MiB })).toEqual({ size: data.length });
      expect((await direct.getBuffer('up/reset-once.bin')).equals(data)).toBe(true);
      expect(proxy.requests().filter((r) => r.fault === 'reset-request')).toHaveLength(1);
    });

    it('a ranged GET that is never answered is retried', NO_HANG, async () => {
      proxy.setFaults([{ method: 'GET', range: true, nth: 1, fault: { kind: 'stall' } }]);
      const bytes = await through().getBuffer('obj.bin', { range: { start: 1000, end: 2 * MiB } });
      expect(bytes.equals(object.subarray(1000, 2 * MiB + 1))).toBe(true);
      expect(gets(proxy).map((r) => [r.range, r.fault])).toEqual([[`bytes=1000-${2 * MiB}`, 'stall'], [`bytes=1000-${2 * MiB}`, undefined]]);
    });

    it('a GET that is never answered on any attempt fails naming the key and the attempts', NO_HANG, async () => {
      proxy.setFaults([{ method: 'GET', fault: { kind: 'stall' } }]);
      const never = await rejection(through().getBuffer('obj.bin', { range: { start: 0, end: 99_999 } }));
      expect(never.code, never.message).toBe('E_STORAGE');
      expect(never.message).toBe(`GET s3://${bucket}/repo/obj.bin timed out after 1 s without a response, 3 attempts`);
      expect(gets(proxy)).toHaveLength(3);
    });
  });
});
