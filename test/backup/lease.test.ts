// The backup's lease on a real directory store: written before any data, rewritten on its timer, deleted after the commit or after a failure's cleanup; and how prune reads its TTL.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { leaseTtlMs } from '../../src/backup/lease.js';
import { DEFAULTS } from '../../src/defaults.js';
import type { LeaseRecord } from '../../src/format/types.js';
import { commitKey, leaseKey } from '../../src/repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { FaultyStore } from '../helpers/faulty-store.js';
import { gatedSource } from '../helpers/gated-source.js';
import { rejection } from '../helpers/rejection.js';

let dir: string;
let tree: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-lease-unit-'));
  tree = path.join(dir, 'tree');
  await fs.mkdir(tree);
  for (let i = 0; i < 5; i++) await fs.writeFile(path.join(tree, `f${i}.txt`), `file ${i}\n`);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const repo = async (name: string): Promise<LocalStore> => new LocalStore(path.join(dir, name));

describe('the backup lease', () => {
  it('is written before any data and deleted only after the commit record', async () => {
    const store = new FaultyStore(await repo('order'));
    const { record } = await backup({ store, sources: [{ kind: 'tree', path: tree, name: 'etc' }] });
    const calls = store.calls.filter((c) => c.method === 'put' || c.method === 'delete').map((c) => `${c.method} ${c.key}`);
    const lease = leaseKey(record.id);
    expect(calls[0]).toBe(`put ${lease}`);
    const commit = calls.indexOf(`put ${commitKey(record.id)}`);
    expect(commit).toBeGreaterThan(0);
    expect(calls.slice(commit + 1)).toEqual([`delete ${lease}`]);
    expect(await store.head(lease)).toBeUndefined();
  });

  it('is rewritten on its timer while the backup runs', async () => {
    const store = await repo('refresh');
    const gated = gatedSource('slow', 1024 * 1024, 1024 * 1024);
    let id = '';
    const running = backup({ store, sources: [gated.source], lease: { refreshMs: 20, ttlMs: 1000 }, onSnapshotId: (s) => (id = s) });
    await gated.paused;
    const first = JSON.parse((await store.getBuffer(leaseKey(id))).toString()) as LeaseRecord;
    expect(first).toMatchObject({ format: 'cassette-lease', version: 1, id, host: os.hostname(), pid: process.pid, refreshSeconds: 0.02, ttlSeconds: 1 });
    // Wait for the next rewrite (an event, not a duration): its `refreshed` moves on, `started` stays.
    for (;;) {
      const now = JSON.parse((await store.getBuffer(leaseKey(id)).catch(() => Buffer.from('{}'))).toString()) as Partial<LeaseRecord>;
      if (now.refreshed && now.refreshed > first.refreshed) {
        expect(now.started).toBe(first.started);
        expect(Date.parse(now.expires!) - Date.parse(now.refreshed)).toBe(1000);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    gated.resume();
    await running;
    expect(await store.head(leaseKey(id))).toBeUndefined();
  });

  it('names the parents of an incremental backup while it runs, so that a prune keeps them', async () => {
    const store = await repo('parents');
    const seed = gatedSource('slow', 64 * 1024, 64 * 1024);
    seed.resume();
    const { record: parent } = await backup({ store, sources: [seed.source, { kind: 'tree', path: tree, name: 'tree' }] });
    const gated = gatedSource('slow', 64 * 1024, 64 * 1024);
    let id = '';
    const running = backup({ store, sources: [gated.source, { kind: 'tree', path: tree, name: 'tree' }], onSnapshotId: (s) => (id = s) });
    await gated.paused;
    const lease = JSON.parse((await store.getBuffer(leaseKey(id))).toString()) as LeaseRecord;
    expect(lease.parents).toEqual([parent.id]);
    gated.resume();
    const { record } = await running;
    expect(record.artifacts.map((a) => a.parent)).toEqual([parent.id, parent.id]);
  });

  it('is deleted after a failed backup has removed its data', async () => {
    const store = new FaultyStore(await repo('failure'), { failPutAfter: { match: (key) => key.endsWith('.tar.zst'), bytes: 100 } });
    let id = '';
    const error = await rejection(backup({ store, sources: [{ kind: 'tree', path: tree, name: 'etc' }], onSnapshotId: (s) => (id = s) }));
    expect(error.code).toBe('E_STORAGE');
    const deletes = store.calls.filter((c) => c.method === 'delete').map((c) => c.key);
    expect(deletes.at(-1)).toBe(leaseKey(id));
    const keys: string[] = [];
    for await (const object of store.list('')) keys.push(object.key);
    expect(keys).toEqual([]);
  });
});

describe('leaseTtlMs: how long prune honours a lease, from its content', () => {
  it.each<[string, string | undefined, number]>([
    ['ttlSeconds as written', '{"ttlSeconds":1800}', 1_800_000],
    ['a fraction of a second', '{"ttlSeconds":0.5}', 500],
    ['capped at the maximum', '{"ttlSeconds":1e12}', DEFAULTS.leaseMaxTtlMs],
    ['missing: the default', '{"host":"h"}', DEFAULTS.leaseTtlMs],
    ['zero or negative: the default', '{"ttlSeconds":-5}', DEFAULTS.leaseTtlMs],
    ['not a number: the default', '{"ttlSeconds":"600"}', DEFAULTS.leaseTtlMs],
    ['not JSON: the default', 'garbage', DEFAULTS.leaseTtlMs],
    ['no content: the default', undefined, DEFAULTS.leaseTtlMs],
  ])('%s', (_label, content, expected) => {
    expect(leaseTtlMs(content === undefined ? undefined : Buffer.from(content))).toBe(expected);
  });
});
