import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { StoredFrameRef } from '../../src/backup/archive-writer.js';
import { compressOrReuse, type ReadyFrame } from '../../src/backup/compress-or-reuse.js';
import type { PackedFrame } from '../../src/backup/pack.js';
import { FramePool } from '../../src/zstd/pool.js';

const pool = new FramePool({ threads: 2 });
afterAll(() => pool.close());

const digest = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function copy(key: string, offset: number, data: Buffer): StoredFrameRef {
  return { record: { offset, size: 100, tarSize: data.length, sha256: digest(data) }, object: { key, size: 1_000_000, sha256: '0'.repeat(64) } };
}

async function* frames(...datas: Buffer[]): AsyncGenerator<PackedFrame> {
  for (const data of datas) {
    const buffer = pool.frameBuffer(data.length);
    data.copy(buffer);
    yield { kind: 'new', data: buffer.subarray(0, data.length), entries: [] };
  }
}

describe('compressOrReuse', () => {
  it('compresses new frames, and takes a stored frame for a known digest, preferring the copy that follows the previous frame', async () => {
    const zeros = Buffer.alloc(4096);
    const other = randomBytes(4096);
    const fresh = randomBytes(4096);
    // Three stored copies of the zero frame: at 0 and 300 of object a, after `other` (at 100..199) in object a.
    const catalog = new Map([
      [digest(zeros), [copy('a', 0, zeros), copy('b', 0, zeros), copy('a', 200, zeros)]],
      [digest(other), [copy('a', 100, other)]],
    ]);
    pool.knownDigests(catalog.keys());
    const out: ReadyFrame[] = [];
    for await (const frame of compressOrReuse(frames(zeros, other, zeros, fresh, zeros), { pool, catalog, concurrency: 3 })) out.push(frame);
    const where = out.map((f) => (f.kind === 'reused' ? `${f.frame.object.key}@${f.frame.record.offset}` : `new ${f.tarSize}`));
    // zeros: the first copy; other at a@100; zeros again: the copy right after it (a@200), not a@0; new; zeros with no predecessor in an object: the first copy.
    expect(where).toEqual(['a@0', 'a@100', 'a@200', 'new 4096', 'a@0']);
    const compressed = out[3]!;
    expect(compressed.kind === 'compressed' && compressed.digest).toBe(digest(fresh));
    if (compressed.kind === 'compressed') pool.release(compressed.data);
  });
});
