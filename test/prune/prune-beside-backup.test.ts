// prune beside a running backup, on real stores (a directory, s3rver, moto): the backup's lease keeps its data whatever the clocks say, an expired lease does not, and a backup that lost objects refuses to commit.

import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, type BackupOptions, type BackupResult } from '../../src/backup/backup.js';
import { leaseRecord } from '../../src/backup/lease.js';
import { newSnapshotId, snapshotIdTime } from '../../src/format/snapshot-id.js';
import type { LeaseRecord } from '../../src/format/types.js';
import type { ProgressEvent } from '../../src/progress.js';
import { prune } from '../../src/prune/prune.js';
import { leaseKey, listSnapshotIds } from '../../src/repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { verifySnapshot } from '../../src/verify.js';
import { gatedSource } from '../helpers/gated-source.js';
import { rejection } from '../helpers/rejection.js';
import { createBucket, makeS3Store, s3Servers, testClient, type S3Server } from '../helpers/s3.js';

const MiB = 1024 * 1024;
const HOUR = 3600_000;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const keys = async (store: ObjectStore, prefix: string): Promise<string[]> => (await collect(store.list(prefix))).map((o) => o.key);

/** Polls `check` until it holds: waiting for an event the code under test does not announce (an upload being opened). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Repo {
  store: ObjectStore;
  /** Multipart uploads are listed (moto; the directory's temporary files): the running upload can be checked. */
  listsUploads: boolean;
  /** Create a multipart upload under `key` behind the code's back (moto only). */
  openUpload?: (key: string) => Promise<void>;
}

const dirs: string[] = [];
const stores: ObjectStore[] = [];
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

const localRepo = async (): Promise<Repo> => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-lease-'));
  dirs.push(dir);
  return { store: new LocalStore(dir), listsUploads: true };
};

const s3Repo = (server: S3Server) => async (): Promise<Repo> => {
  const bucket = await createBucket(server.endpoint);
  const store = makeS3Store(server.endpoint, bucket, 'repo');
  stores.push(store);
  if (server.name !== 'moto') return { store, listsUploads: false };
  const openUpload = async (key: string): Promise<void> => {
    const client = testClient(server.endpoint);
    try {
      await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `repo/${key}` }));
    } finally {
      client.destroy();
    }
  };
  return { store, listsUploads: true, openUpload };
};

const repos: Array<[string, () => Promise<Repo>]> = [
  ['a directory', localRepo],
  ...s3Servers().map((server): [string, () => Promise<Repo>] => [`S3 on ${server.name}`, s3Repo(server)]),
];

let tree: string;
beforeAll(async () => {
  tree = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-lease-tree-'));
  dirs.push(tree);
  for (let i = 0; i < 20; i++) await fs.writeFile(path.join(tree, `file-${i}.txt`), `file ${i}\n`.repeat(100 * (i + 1)));
});

interface Paused {
  id: string;
  running: Promise<BackupResult>;
  resume: () => void;
}

/**
 * A backup of two artifacts, `etc` (a small tree: stored whole) and `slow` (24 MiB, of which the
 * first 20 MiB are produced before it waits), held while the test acts: `etc`'s volume and index
 * are in the store, and `slow`'s multipart upload is open with parts stored. With one compression
 * thread the pipeline holds back two of slow's five 4 MiB frames (mapOrdered's look-ahead), so
 * 12 MiB reach the upload: more than one 8 MiB part.
 */
async function pausedBackup(repo: Repo, options: Partial<BackupOptions> = {}): Promise<Paused> {
  const gated = gatedSource('slow', 20 * MiB, 4 * MiB);
  let id = '';
  let etcDone!: () => void;
  const etcStored = new Promise<void>((resolve) => {
    etcDone = resolve;
  });
  const running = backup({
    store: repo.store,
    sources: [{ kind: 'tree', path: tree, name: 'etc' }, gated.source],
    artifactConcurrency: 2,
    threads: 1,
    onSnapshotId: (snapshot) => {
      id = snapshot;
    },
    progress: { event: (event: ProgressEvent) => void (event.type === 'artifact-done' && event.artifact === 'etc' && etcDone()) },
    ...options,
  });
  const ended = running.then(
    () => {
      throw new Error('the backup ended before it paused');
    },
    (error: unknown) => {
      throw error;
    },
  );
  await Promise.race([Promise.all([gated.paused, etcStored]), ended]);
  if (repo.listsUploads) {
    await until("the slow artifact's upload to be open", async () => (await collect(repo.store.listPendingUploads(`data/${id}/`))).length > 0);
  }
  return { id, running, resume: gated.resume };
}

describe.each(repos)('prune beside a running backup: %s', (_name, makeRepo) => {
  it('a backup that runs longer than --grace-hours 0 keeps its data and its open upload through a prune, commits, and verifies', async () => {
    const repo = await makeRepo();
    const { store } = repo;
    const paused = await pausedBackup(repo);
    const uploadsOf = async (): Promise<string[]> => (await collect(store.listPendingUploads('data/'))).map((u) => `${u.key} ${u.uploadId}`);
    const uploads = await uploadsOf();
    const report = await prune({ store, policy: { keepLast: 10 }, graceMs: 0 });
    expect(report.leftovers).toEqual([]);
    expect(report.abortedUploads).toEqual([]);
    expect(report.leased).toEqual([{ id: paused.id, host: os.hostname(), pid: process.pid }]);
    // moto reports this upload as begun in 2010: the lease, not a date, kept it. Where uploads are
    // not awaited (RGW lists none to wait for), the backup may open its upload during the prune.
    expect(await uploadsOf()).toEqual(expect.arrayContaining(uploads));
    // Only the backup's lease is under locks/: the prune's clock marker is gone.
    expect(await keys(store, 'locks/')).toEqual([leaseKey(paused.id)]);
    paused.resume();
    const result = await paused.running;
    expect(await listSnapshotIds(store)).toEqual([paused.id]);
    const verify = await verifySnapshot({ store, record: result.record, readData: true });
    expect(verify.problems).toEqual([]);
    expect(verify.files).toBe(21);
    expect(await keys(store, 'locks/')).toEqual([]);
  });

  it('a backup on a host whose clock is 48 hours behind keeps its data through a prune with the default grace period', async () => {
    const repo = await makeRepo();
    const { store } = repo;
    const behind = (): Date => new Date(Date.now() - 48 * HOUR);
    // The id comes from the same clock (plannedBackup makes it from the host's clock).
    const paused = await pausedBackup(repo, { clock: behind, snapshotId: newSnapshotId(behind()) });
    expect(Date.now() - snapshotIdTime(paused.id).getTime()).toBeGreaterThan(47 * HOUR);
    const report = await prune({ store, policy: { keepLast: 10 } });
    expect(report.leftovers).toEqual([]);
    expect(report.abortedUploads).toEqual([]);
    // The lease says it was refreshed two days ago, in the backup host's clock; prune went by the store's.
    const lease = JSON.parse((await store.getBuffer(leaseKey(paused.id))).toString()) as LeaseRecord;
    expect(Date.now() - Date.parse(lease.refreshed)).toBeGreaterThan(47 * HOUR);
    paused.resume();
    const result = await paused.running;
    expect(await listSnapshotIds(store)).toEqual([paused.id]);
    expect((await verifySnapshot({ store, record: result.record, readData: true })).problems).toEqual([]);
  });

  it('a backup whose objects were deleted before its commit refuses to commit, names them, and removes the rest', async () => {
    const repo = await makeRepo();
    const { store } = repo;
    const paused = await pausedBackup(repo);
    const etc = `data/${paused.id}/etc.tar.zst`;
    expect(await keys(store, `data/${paused.id}/`)).toEqual(expect.arrayContaining([etc, `data/${paused.id}/etc.idx.zst`]));
    await store.delete([etc]);
    paused.resume();
    const error = await rejection(paused.running, 'the backup');
    expect(error.code, error.message).toBe('E_STORAGE');
    expect(error.message).toContain(`snapshot ${paused.id} not committed`);
    expect(error.message).toContain(`${etc} is missing`);
    expect(error.message).toContain('a prune may have removed them');
    expect(await listSnapshotIds(store)).toEqual([]);
    expect(await keys(store, 'data/')).toEqual([]);
    expect(await keys(store, 'locks/')).toEqual([]);
    expect(await collect(store.listPendingUploads(''))).toEqual([]);
  });

  it('an expired lease (a crashed backup) lets prune remove its data, upload and lease; a fresh one beside it keeps its own', async () => {
    const { store, openUpload } = await makeRepo();
    const crashed = newSnapshotId();
    const running = newSnapshotId();
    for (const id of [crashed, running]) {
      await store.put(`data/${id}/etc.tar.zst`, Buffer.from(`archive of ${id}`));
      await openUpload?.(`data/${id}/pg.tar.zst`);
    }
    const write = async (id: string, ttlMs: number): Promise<void> => {
      const record = leaseRecord({ id, host: 'db1', pid: 4242, started: new Date(), refreshed: new Date(), refreshMs: 60_000, ttlMs });
      await store.put(leaseKey(id), Buffer.from(JSON.stringify(record)));
    };
    await write(running, 3600_000);
    if (store instanceof LocalStore) {
      // A directory's "LastModified" is the file's mtime: the crashed backup's lease was last written two hours ago.
      await write(crashed, 30 * 60_000);
      const old = new Date(Date.now() - 2 * HOUR);
      await fs.utimes(store.fileFor(leaseKey(crashed)), old, old);
    } else {
      // S3 sets LastModified itself: a lease of one second expires a second after it is written, by the store's clock.
      await write(crashed, 1000);
      await until("the one-second lease to expire by the store's clock", async () =>
        (await prune({ store, policy: { keepLast: 10 }, graceMs: 0, dryRun: true })).leftovers.some((l) => l.id === crashed),
      );
    }
    const report = await prune({ store, policy: { keepLast: 10 }, graceMs: 0 });
    expect(report.leftovers.map((l) => l.id)).toEqual([crashed]);
    expect(report.leased).toEqual([{ id: running, host: 'db1', pid: 4242 }]);
    expect(report.expiredLeases).toEqual([crashed]);
    expect(await keys(store, 'data/')).toEqual([`data/${running}/etc.tar.zst`]);
    expect(await keys(store, 'locks/')).toEqual([leaseKey(running)]);
    if (openUpload) {
      expect(report.abortedUploads.map((u) => u.key)).toEqual([`data/${crashed}/pg.tar.zst`]);
      expect((await collect(store.listPendingUploads('data/'))).map((u) => u.key)).toEqual([`data/${running}/pg.tar.zst`]);
    }
  });
});
