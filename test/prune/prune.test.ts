// prune against real stores: removes exactly what the policy says, with data; leftovers and stale uploads go after the grace period.

import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSnapshotId } from '../../src/format/snapshot-id.js';
import type { CommitRecord } from '../../src/format/types.js';
import { prune } from '../../src/prune/prune.js';
import { commitKey, listSnapshotIds } from '../../src/repository.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { LocalStore } from '../../src/store/local-store.js';
import { cassette } from '../helpers/cli.js';
import { createBucket, makeS3Store, s3Server, testClient } from '../helpers/s3.js';

/** A minimal committed snapshot at a given time (prune only reads records and lists data). */
async function fakeSnapshot(store: ObjectStore, id: string, time: string): Promise<void> {
  const record: CommitRecord = {
    format: 'cassette-snapshot',
    version: 1,
    id,
    host: 'h',
    tags: [],
    startedAt: time,
    finishedAt: time,
    cassetteVersion: 'test',
    compressionLevel: 3,
    artifacts: [],
  };
  await store.put(`data/${id}/etc.tar.zst`, Buffer.from('archive'));
  await store.put(`data/${id}/etc.idx.zst`, Buffer.from('index'));
  await store.put(commitKey(id), Buffer.from(JSON.stringify(record)));
}

const DAYS = ['2026-11-10', '2026-11-11', '2026-11-12', '2026-11-13', '2026-11-14'];

async function seed(store: ObjectStore): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, day] of DAYS.entries()) {
    for (const hour of ['01', '13']) {
      const id = `${day.replace(/-/g, '')}T${hour}0000Z-00000${i}`;
      await fakeSnapshot(store, id, `${day}T${hour}:00:00.000Z`);
      ids.push(id);
    }
  }
  return ids;
}

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

describe('prune on a local repository', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-prune-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps exactly the policy, removes the rest with its data, and --dry-run removes nothing', async () => {
    const store = new LocalStore(path.join(dir, 'a'));
    const ids = await seed(store);
    const dry = await prune({ store, policy: { keepLast: 2, keepDaily: 3 }, dryRun: true });
    expect(dry.removed.map((r) => r.id).sort()).toEqual([ids[0], ids[1], ids[2], ids[3], ids[4], ids[6]].sort());
    expect((await listSnapshotIds(store)).length).toBe(10);
    const report = await prune({ store, policy: { keepLast: 2, keepDaily: 3 } });
    expect(report.kept.map((k) => k.id)).toEqual([ids[9], ids[8], ids[7], ids[5]]);
    expect(await listSnapshotIds(store)).toEqual([ids[5], ids[7], ids[8], ids[9]]);
    const data = await keys(store, 'data/');
    expect(data.every((k) => [ids[5], ids[7], ids[8], ids[9]].some((id) => k.startsWith(`data/${id}/`)))).toBe(true);
    expect(data).toHaveLength(8);
  });

  it("removes incomplete leftovers only once their newest object is older than the grace period by the store's clock, whatever the id says", async () => {
    const store = new LocalStore(path.join(dir, 'b'));
    await seed(store);
    // Started "in 2026-11-10" by a host whose clock is behind, written just now: kept.
    await store.put('data/20261110T000000Z-fedcba/etc.tar.zst', Buffer.from('running, host clock behind'));
    // An id of this very second, but its objects are 25 hours old in the store (a host clock ahead): removed.
    const ahead = newSnapshotId();
    await store.put(`data/${ahead}/etc.tar.zst`, Buffer.from('old partial'));
    await store.put(`data/${ahead}/etc.idx.zst`, Buffer.from('old partial index'));
    const old = new Date(Date.now() - 25 * 3600_000);
    for (const key of await keys(store, `data/${ahead}/`)) await fs.utimes(store.fileFor(key), old, old);
    const report = await prune({ store, policy: { keepLast: 100 } });
    expect(report.leftovers).toEqual([{ id: ahead, objects: 2, bytes: 28, keptObjects: 0, keptBytes: 0, keptUsedBytes: 0, kept: [] }]);
    expect(await keys(store, `data/${ahead}/`)).toEqual([]);
    expect(await keys(store, 'data/20261110T000000Z-fedcba/')).toHaveLength(1);
    // Its clock marker is gone.
    expect(await keys(store, 'locks/')).toEqual([]);
  });

  it('refuses to run without a policy (CLI exit 2)', async () => {
    const result = await cassette(['prune', '--repo', path.join(dir, 'a')]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('prune needs a policy');
  });
});

const moto = s3Server('moto');
describe.runIf(moto)('prune on S3 (moto)', () => {
  it('aborts stale multipart uploads under the prefix', async () => {
    const bucket = await createBucket(moto!.endpoint);
    const store = makeS3Store(moto!.endpoint, bucket, 'repo');
    const client = testClient(moto!.endpoint);
    try {
      await seed(store);
      await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'repo/data/20261101T000000Z-aaaaaa/etc.tar.zst' }));
      const pending = [];
      for await (const upload of store.listPendingUploads('data/')) pending.push(upload);
      expect(pending).toHaveLength(1);
      // Nothing else under that id, no lease, and moto says the upload began in 2010: it is stale.
      const report = await prune({ store, policy: { keepLast: 3 } });
      expect(report.abortedUploads.map((u) => u.key)).toEqual(['data/20261101T000000Z-aaaaaa/etc.tar.zst']);
      expect(report.removed).toHaveLength(7);
      const after = [];
      for await (const upload of store.listPendingUploads('data/')) after.push(upload);
      expect(after).toEqual([]);
    } finally {
      client.destroy();
      await store.close();
    }
  });
});
