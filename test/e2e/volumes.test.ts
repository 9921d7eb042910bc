// The 10,000-part safety net: an archive that outgrows its volume rolls over to further objects, and still restores.

import { GetObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { compareTrees } from '../../src/demo/compare-trees.js';
import { parseSeekTable, parseSeekTableFooter } from '../../src/format/seek-table.js';
import { restore } from '../../src/restore/restore.js';
import { verifySnapshot } from '../../src/verify.js';
import { createBucket, makeS3Store, s3Server, testClient } from '../helpers/s3.js';

const moto = s3Server('moto');
const MiB = 1024 * 1024;

describe.runIf(moto)('volume rollover (moto)', () => {
  let work: string;
  let tree: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-volumes-'));
    tree = path.join(work, 'tree');
    await fs.mkdir(tree);
    const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 9), Buffer.alloc(16));
    await fs.writeFile(path.join(tree, 'image.bin'), cipher.update(Buffer.alloc(38 * MiB)));
    for (let i = 0; i < 20; i++) await fs.writeFile(path.join(tree, `conf${i}.txt`), `setting ${i}\n`.repeat(100));
  });

  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('rolls over at the part limit, never splits a frame, and restores from every volume', async () => {
    const bucket = await createBucket(moto!.endpoint);
    const store = makeS3Store(moto!.endpoint, bucket, 'repo');
    try {
      // Three 5 MiB parts per upload: a 15 MiB volume, where S3 would allow 10,000 parts.
      const { record } = await backup({ store, sources: [{ kind: 'tree', path: tree, name: 'tree' }], partPlan: { minPartSize: 5 * MiB, maxPartSize: 5 * MiB, maxParts: 3 } });
      const artifact = record.artifacts[0]!;
      expect(artifact.volumes.length).toBeGreaterThanOrEqual(3);
      expect(artifact.volumes.map((v) => v.key)).toEqual(
        artifact.volumes.map((_, i) => (i === 0 ? `data/${record.id}/tree.tar.zst` : `data/${record.id}/tree.vol${i + 1}.tar.zst`)),
      );
      const client = testClient(moto!.endpoint);
      const objects: Buffer[] = [];
      try {
        for (const volume of artifact.volumes) {
          const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `repo/${volume.key}` }));
          objects.push(Buffer.from(await response.Body!.transformToByteArray()));
        }
      } finally {
        client.destroy();
      }
      let frames = 0;
      for (const [i, bytes] of objects.entries()) {
        expect(bytes.length).toBe(artifact.volumes[i]!.size);
        expect(bytes.length).toBeLessThanOrEqual(15 * MiB);
        // Each volume is a seekable zstd file of its own.
        const footer = parseSeekTableFooter(bytes.subarray(bytes.length - 9));
        const table = parseSeekTable(bytes.subarray(bytes.length - footer.tableSize));
        expect(table.length).toBe(artifact.volumes[i]!.frames);
        frames += table.length;
      }
      expect(frames).toBe(artifact.frameCount);
      // Stock tools read the volumes concatenated in order.
      const joined = path.join(work, 'joined.tar.zst');
      await fs.writeFile(joined, Buffer.concat(objects));
      const listed = execFileSync('sh', ['-c', `zstd -dc "${joined}" | tar -t`])
        .toString()
        .trim()
        .split('\n');
      expect(listed).toContain('image.bin');
      expect(listed).toHaveLength(21);
      expect((await verifySnapshot({ store, record, readData: true })).problems).toEqual([]);
      const target = path.join(work, 'restored');
      await restore({ store, snapshot: record.id, target });
      expect(await compareTrees(tree, path.join(target, 'tree'))).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
