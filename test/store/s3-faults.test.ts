// S3Store against real S3 servers (s3rver, moto, Ceph RGW) through the fault proxy: stalled requests time out and are retried, dropped GET bodies resume from their first missing byte, and what cannot be saved fails with a message that says what happened.

import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { startFaultProxy, type Fault, type FaultProxy, type ProxiedRequest } from '../helpers/fault-proxy.js';
import { rejection } from '../helpers/rejection.js';
import { createBucket, makeS3Store, s3Servers } from '../helpers/s3.js';
import { pattern } from '../helpers/pattern.js';

const MiB = 1024 * 1024;
/** A stall costs about a second; a run of failures three attempts. */
const FAST = { idleTimeoutMs: 1000, connectTimeoutMs: 1000, maxAttempts: 3, resumeDelayMs: 20 };
/** A client without timeouts would hang on these tests: they fail instead. */
const NO_HANG = { timeout: 30_000 };

function inPieces(data: Buffer, size = MiB): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
    })(),
  );
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const gets = (proxy: FaultProxy): ProxiedRequest[] => proxy.requests().filter((r) => r.method === 'GET');

/**
 * Timeouts are the client's: they are tested on one server (moto, whose multipart uploads can be
 * listed, when it runs). Resumed bodies are tested on every server, since s3rver ignores If-Match.
 */
const timeoutServer = s3Servers().some((s) => s.name === 'moto') ? 'moto' : 's3rver';

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

  if (name === timeoutServer)
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
        expect(gets(proxy).map((r) => [r.range, r.fault])).toEqual([
          [`bytes=1000-${2 * MiB}`, 'stall'],
          [`bytes=1000-${2 * MiB}`, undefined],
        ]);
      });

      it('a ranged GET whose body stalls is asked again from its first missing byte, If-Match its ETag', NO_HANG, async () => {
        proxy.setFaults([{ method: 'GET', range: true, nth: 1, fault: { kind: 'stall-body', afterBytes: 100_000 } }]);
        const bytes = await through().getBuffer('obj.bin', { range: { start: 1000, end: 2 * MiB } });
        expect(bytes.equals(object.subarray(1000, 2 * MiB + 1))).toBe(true);
        const [first, second] = gets(proxy);
        expect(first).toMatchObject({ range: `bytes=1000-${2 * MiB}`, fault: 'stall-body', ifMatch: undefined });
        expect(second).toMatchObject({ range: `bytes=101000-${2 * MiB}`, ifMatch: expect.stringMatching(/^"[^"]+"$/) });
        expect(second!.fault).toBeUndefined();
      });

      it('a GET that is never answered on any attempt fails naming the key and the attempts', NO_HANG, async () => {
        proxy.setFaults([{ method: 'GET', fault: { kind: 'stall' } }]);
        const never = await rejection(through().getBuffer('obj.bin', { range: { start: 0, end: 99_999 } }));
        expect(never.code, never.message).toBe('E_STORAGE');
        expect(never.message).toBe(`GET s3://${bucket}/repo/obj.bin timed out after 1 s without a response, 3 attempts`);
        expect(gets(proxy)).toHaveLength(3);
      });

      it('a GET whose body stalls on every attempt fails saying after how many bytes', NO_HANG, async () => {
        proxy.setFaults([
          { method: 'GET', nth: 1, fault: { kind: 'stall-body', afterBytes: 1000 } },
          { method: 'GET', fault: { kind: 'stall-body', afterBytes: 0 } },
        ]);
        const midway = await rejection(through().getBuffer('obj.bin', { range: { start: 0, end: 99_999 } }));
        expect(midway.code, midway.message).toBe('E_STORAGE');
        expect(midway.message).toBe(`GET s3://${bucket}/repo/obj.bin bytes 0-99999: no data for 1 s after 1000 bytes (of 100000), 3 attempts`);
      });

      it('a connection that times out while the reader has paused the body costs no attempt: the rest is asked for when the reader reads on', NO_HANG, async () => {
        // 2 MiB arrive, more than the stream buffers for a reader that does not read, then nothing.
        proxy.setFaults([{ method: 'GET', nth: 1, fault: { kind: 'stall-body', afterBytes: 2 * MiB } }]);
        const stream = await through({ maxAttempts: 1 }).get('obj.bin');
        // The client's idle timeout closes the connection while nobody reads.
        await gets(proxy)[0]!.closed;
        expect((await readAll(stream)).equals(object)).toBe(true);
        expect(gets(proxy)).toHaveLength(2);
      });
    });

  describe('dropped connections', () => {
    const drops: Array<Fault['kind']> = ['reset', 'truncate'];
    it.each(drops)('a %s in the middle of a ranged body is resumed and the bytes are exact', NO_HANG, async (kind) => {
      proxy.setFaults([{ method: 'GET', nth: 1, fault: { kind, afterBytes: MiB + 7 } as Fault }]);
      const range = { start: 5, end: 3 * MiB - 10 };
      const bytes = await through().getBuffer('obj.bin', { range });
      expect(bytes.equals(object.subarray(range.start, range.end + 1))).toBe(true);
      const [first, second, ...more] = gets(proxy);
      expect(first!.fault).toBe(kind);
      expect(second!.range).toMatch(new RegExp(`^bytes=\\d+-${range.end}$`));
      if (kind === 'truncate') expect(second!.range).toBe(`bytes=${range.start + MiB + 7}-${range.end}`);
      expect(second!.ifMatch).toBeDefined();
      expect(more).toEqual([]);
    });

    it.each(drops)('a %s in the middle of a whole-object body (as an index is read) is resumed and the bytes are exact', NO_HANG, async (kind) => {
      proxy.setFaults([{ method: 'GET', nth: 1, fault: { kind, afterBytes: MiB + 7 } as Fault }]);
      expect((await readAll(await through().get('obj.bin'))).equals(object)).toBe(true);
      const [first, second] = gets(proxy);
      expect(first).toMatchObject({ fault: kind, range: undefined });
      expect(second!.range).toMatch(new RegExp(`^bytes=\\d+-${object.length - 1}$`));
      if (kind === 'truncate') expect(second!.range).toBe(`bytes=${MiB + 7}-${object.length - 1}`);
    });

    it('when every attempt drops, the message says after how many bytes of the range', NO_HANG, async () => {
      const dropping: Fault = { kind: 'truncate', afterBytes: 0 };
      proxy.setFaults([
        { method: 'GET', nth: 1, fault: { kind: 'truncate', afterBytes: 1000 } },
        { method: 'GET', fault: dropping },
      ]);
      const ranged = await rejection(through().getBuffer('obj.bin', { range: { start: 0, end: 99_999 } }));
      expect(ranged.code, ranged.message).toBe('E_STORAGE');
      expect(ranged.message).toMatch(
        new RegExp(`^GET s3://${bucket}/repo/obj\\.bin bytes 0-99999: connection dropped after 1000 bytes \\(of 100000\\), 3 attempts \\(last: .+\\)$`),
      );
      await store.close();

      proxy.setFaults([
        { method: 'GET', nth: 1, fault: { kind: 'truncate', afterBytes: 1000 } },
        { method: 'GET', fault: dropping },
      ]);
      const whole = await rejection(readAll(await through().get('obj.bin')));
      expect(whole.code, whole.message).toBe('E_STORAGE');
      expect(whole.message).toMatch(new RegExp(`^GET s3://${bucket}/repo/obj\\.bin: connection dropped after 1000 bytes \\(of ${object.length}\\), 3 attempts`));
    });

    it('an object replaced between two attempts fails with E_INTEGRITY instead of mixing the two versions', NO_HANG, async () => {
      const before = pattern(200_000, 4);
      const after = pattern(200_000, 5);
      await direct.put('changing.bin', before);
      proxy.setFaults([
        { method: 'GET', nth: 1, fault: { kind: 'truncate', afterBytes: 50_000 } },
        // Replaced behind the client's back before its second request reaches the server.
        { method: 'GET', nth: 2, before: async () => void (await direct.put('changing.bin', after)) },
      ]);
      const error = await rejection(through().getBuffer('changing.bin'));
      expect(error.code, error.message).toBe('E_INTEGRITY');
      expect(error.message).toMatch(/^object changing\.bin in s3:\/\/.* changed while it was read \(GET .*, after 50000 bytes\)/);
      expect(gets(proxy)[1]!.ifMatch).toBeDefined();
    });
  });

  describe('whether a failed PUT is a definite refusal (the commit record reads back the others)', () => {
    const accessDenied: Fault = { kind: 'error', status: 403, code: 'AccessDenied', message: 'Access Denied (fault proxy)' };
    const internal: Fault = { kind: 'error', status: 500, code: 'InternalError', message: 'internal error (fault proxy)' };
    it.each<[string, Array<{ nth?: number; fault: Fault }>, boolean]>([
      ['403 on the only attempt: refused', [{ fault: accessDenied }], true],
      ['500 on every attempt: unknown (the store may have stored it)', [{ fault: internal }], false],
      [
        '500, then 403 on the retry: unknown (the first attempt may have stored it)',
        [
          { nth: 1, fault: internal },
          { nth: 2, fault: accessDenied },
        ],
        false,
      ],
    ])('%s', async (_label, faults, refused) => {
      proxy.setFaults(faults.map((f) => ({ method: 'PUT', path: /refusal\.json/, ...f })));
      const error = await rejection(through().put('refusal.json', Buffer.from('{}')));
      expect(error.code, error.message).toBe('E_STORAGE');
      expect(error.refused).toBe(refused);
    });
  });
});

/** The contract's own reads still work through a proxy that drops every first GET of an object. */
describe.each(s3Servers())('ObjectStore reads through repeated drops on $name', ({ endpoint }) => {
  it('serves exact ranges, clipped at the end, and empty objects', NO_HANG, async () => {
    const bucket = await createBucket(endpoint);
    const direct = makeS3Store(endpoint, bucket, '');
    const proxy = await startFaultProxy(endpoint);
    const store: ObjectStore = makeS3Store(proxy.endpoint, bucket, '', FAST);
    try {
      const data = pattern(300_000, 6);
      await direct.put('r.bin', data);
      await direct.put('empty.bin', Buffer.alloc(0));
      for (const [start, end] of [
        [0, 0],
        [0, 99_999],
        [5000, 250_000],
        [299_999, 299_999],
        [290_000, 400_000],
      ] as const) {
        proxy.setFaults([{ method: 'GET', nth: 1, fault: { kind: 'truncate', afterBytes: 1 } }]);
        const got = await store.getBuffer('r.bin', { range: { start, end } });
        expect(got.equals(data.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
      }
      expect((await store.getBuffer('r.bin', { range: { start: 300_000, end: 300_010 } })).length).toBe(0);
      expect((await store.getBuffer('empty.bin')).length).toBe(0);
    } finally {
      await store.close();
      await direct.close();
      await proxy.close();
    }
  });
});
