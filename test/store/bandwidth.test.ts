// The bandwidth limiter: the token bucket on an injected clock (tables, no timing), the throttled stream's bytes, and an idle socket timer kept from firing while the limit holds bytes back.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { processLimits, Throttle, TokenBucket } from '../../src/store/bandwidth.js';

const KiB = 1024;

/** A bucket on a clock the test moves. */
function bucketAt(rate: number): { bucket: TokenBucket; clock: { ms: number } } {
  const clock = { ms: 1000 };
  return { bucket: new TokenBucket(rate, () => clock.ms), clock };
}

describe('TokenBucket', () => {
  // Steps: [advance the clock by ms, reserve bytes] → the wait reserve() returns, in ms.
  it.each([
    ['within the burst: no wait', 10 * KiB, [[0, 2 * KiB, 0]]],
    [
      'the burst (a quarter second) is free, the byte after it waits for its share',
      8 * KiB,
      [
        [0, 2 * KiB, 0],
        [0, 1, 1000 / (8 * KiB)],
      ],
    ],
    [
      'a request larger than the burst is not refused: it puts the bucket in debt and waits it off',
      KiB,
      [
        [0, 256, 0],
        [0, 8 * KiB, 8000],
      ],
    ],
    [
      'takers after a debt wait behind it, in order',
      KiB,
      [
        [0, 256 + KiB, 1000],
        [0, KiB, 2000],
        [500, 512, 2000],
      ],
    ],
    [
      'time refills the bucket, at most to the burst',
      4 * KiB,
      [
        [0, KiB, 0],
        [0, 1, 1000 / (4 * KiB)],
        [60_000, KiB, 0],
        [0, 1, 1000 / (4 * KiB)],
      ],
    ],
    [
      'a debt is paid off by time',
      KiB,
      [
        [0, 256 + 2 * KiB, 2000],
        [2000, 0, 0],
        [250, 256, 0],
        [0, 1, 1000 / KiB],
      ],
    ],
  ] as const)('%s', (_name, rate, steps) => {
    const { bucket, clock } = bucketAt(rate);
    for (const [advance, bytes, wait] of steps) {
      clock.ms += advance;
      expect(bucket.reserve(bytes)).toBeCloseTo(wait, 6);
    }
  });

  it.each([
    [KiB, 128],
    [100 * KiB, 12800],
    [100 * 1024 * KiB, 64 * KiB],
    [4, 1],
  ])('a %j B/s bucket hands out slices of %j bytes', (rate, slice) => {
    expect(new TokenBucket(rate).slice).toBe(slice);
  });

  it.each([0, -1, Number.NaN, Infinity])('refuses a rate of %j', (rate) => {
    expect(() => new TokenBucket(rate)).toThrow(/positive number of bytes per second/);
  });

  it('processLimits gives the same bucket for the same direction and limit, so all stores of a process share it', () => {
    const a = processLimits({ uploadKiBps: 123 });
    const b = processLimits({ uploadKiBps: 123, downloadKiBps: 123 });
    expect(a.upload).toBe(b.upload);
    expect(b.download).not.toBe(b.upload);
    expect(a.download).toBeUndefined();
    expect(a.upload!.rate).toBe(123 * KiB);
  });
});

describe('Throttle', () => {
  it('lets every byte through, in order', async () => {
    const data = randomBytes(300 * KiB + 17);
    const chunks: Buffer[] = [];
    const throttle = new Throttle(new TokenBucket(64 * 1024 * KiB));
    await pipeline(Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]), throttle, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) chunks.push(chunk);
    });
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('passes a failure of its source on, and a destroyed throttle stops waiting', async () => {
    const failing = new Readable({ read() {} });
    const throttle = new Throttle(new TokenBucket(KiB));
    const done = pipeline(failing, throttle, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) void chunk;
    });
    failing.push(Buffer.alloc(8 * KiB)); // eight seconds' worth at 1 KiB/s
    failing.destroy(new Error('source broke'));
    await expect(done).rejects.toThrow('source broke');
  });

  it("keeps a socket's idle timer from firing while it holds bytes back, for longer than the timer", async () => {
    // A server that accepts and stays silent; the client's 150 ms idle timer fires unless re-armed.
    const server = net.createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let timedOut = false;
    socket.setTimeout(150, () => {
      timedOut = true;
    });
    try {
      // 1 KiB/s: the burst is 256 bytes, then 128-byte slices every 125 ms; 1 KiB more holds for about a second.
      const throttle = new Throttle(new TokenBucket(KiB), () => socket);
      throttle.end(Buffer.alloc(256 + KiB));
      let received = 0;
      for await (const chunk of throttle as AsyncIterable<Buffer>) received += chunk.length;
      expect(received).toBe(256 + KiB);
      expect(timedOut).toBe(false);
      // The timer itself still works: with nothing held back, silence fires it.
      await new Promise((resolve) => socket.once('timeout', resolve));
      expect(timedOut).toBe(true);
    } finally {
      socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
