// Keeps snapshots from being pruned while a command rewrites their commit records (tag): a lease naming them as parents, and no prune running.

import os from 'node:os';
import { BackupLease } from '../backup/lease.js';
import { DEFAULTS } from '../defaults.js';
import { CassetteError } from '../errors.js';
import { newSnapshotId } from '../format/snapshot-id.js';
import { isClockMarker } from '../prune/store-clock.js';
import { leaseKey, LOCKS_PREFIX } from '../repository.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';

/**
 * Hold `ids`: write a lease (`locks/<new id>.json`, an id that is never committed) naming them as
 * its parents, so that a prune or forget that lists it keeps them whole (FORMAT.md §1, §7); then
 * list locks/ and refuse when a prune or forget is running (its clock marker is there and younger
 * than DEFAULTS.clockMarkerMaxAgeMs by the store's clock): it may have listed the leases before
 * this one and be about to remove one of them. From then on no prune removes them until
 * `release`, so a rewritten commit record can never bring back a snapshot whose data is gone.
 */
export async function holdSnapshots(store: Pick<ObjectStore, 'url' | 'put' | 'delete' | 'list' | 'head'>, ids: readonly string[]): Promise<{ release(): Promise<void> }> {
  const id = newSnapshotId();
  const lease = await BackupLease.acquire({ store, id, host: os.hostname(), parents: ids });
  try {
    const locks: ObjectInfo[] = [];
    for await (const object of store.list(LOCKS_PREFIX)) locks.push(object);
    const ours = locks.find((o) => o.key === leaseKey(id))?.lastModified ?? (await store.head(leaseKey(id)))?.lastModified;
    const running = locks.filter((o) => isClockMarker(o.key) && (!ours || !o.lastModified || ours.getTime() - o.lastModified.getTime() < DEFAULTS.clockMarkerMaxAgeMs));
    if (running.length > 0)
      throw new CassetteError(
        'E_STORAGE',
        `a prune or forget is running on ${store.url} (${running[0]!.key}): try again when it has ended (a marker left by a crashed one stops counting an hour after it was written)`,
      );
    return lease;
  } catch (error) {
    await lease.release();
    throw error;
  }
}
