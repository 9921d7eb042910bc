// Carries out a prune: removes snapshots outside the policy (commit record first, then data), incomplete leftovers, stale uploads and expired leases.

import pLimit from 'p-limit';
import { leaseHolder, leaseTtlMs } from '../backup/lease.js';
import { DEFAULTS } from '../defaults.js';
import { isCassetteError } from '../errors.js';
import { isSnapshotId } from '../format/snapshot-id.js';
import type { Retention } from '../plan/plan.js';
import { commitKey, DATA_PREFIX, leaseKey, listSnapshots, LOCKS_PREFIX } from '../repository.js';
import type { ObjectInfo, ObjectStore, PendingUpload } from '../store/object-store.js';
import { dataIdOf, planLeftovers, type ListedLease } from './plan-leftovers.js';
import { checkPolicy, planPrune } from './plan-prune.js';
import { ClockMarker, isClockMarker } from './store-clock.js';

export interface PruneOptions {
  store: ObjectStore;
  policy: Retention;
  /** Report, delete nothing (prune still writes and deletes its clock marker). */
  dryRun?: boolean;
  /**
   * Incomplete snapshots and multipart uploads with a sign of life younger than this, by the
   * store's clock, are left alone even without a fresh lease (backups by Cassette versions
   * before leases). Default 24 h.
   */
  graceMs?: number;
}

export interface PruneReport {
  kept: Array<{ id: string; reasons: string[] }>;
  removed: Array<{ id: string; objects: number; bytes: number }>;
  /** Snapshot ids with data but no commit record, no fresh lease and nothing newer than the grace period: removed. */
  leftovers: Array<{ id: string; objects: number; bytes: number }>;
  /** Snapshot ids with data but no commit record, kept because a running backup holds a fresh lease. */
  leased: Array<{ id: string; host?: string; pid?: number }>;
  abortedUploads: PendingUpload[];
  /** Ids whose expired lease was removed (a crashed backup's). */
  expiredLeases: string[];
  dryRun: boolean;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * The order of the listings is what makes prune safe beside a running backup, which writes its
 * lease before any data and deletes it only after its commit record: data and uploads are
 * listed first, then the leases, then the commit records. So the data of any backup seen here
 * has its lease in the later listing, unless that backup has finished — and then its commit
 * record is in the listing after that, or it failed and removed its data itself.
 */
export async function prune(options: PruneOptions): Promise<PruneReport> {
  const { store } = options;
  const grace = options.graceMs ?? 24 * 3600 * 1000;
  checkPolicy(options.policy);

  // Objects under data/, grouped by snapshot id.
  const data = new Map<string, ObjectInfo[]>();
  for await (const object of store.list(DATA_PREFIX)) {
    const id = dataIdOf(object.key);
    data.set(id, [...(data.get(id) ?? []), object]);
  }
  const uploads = await collect(store.listPendingUploads(DATA_PREFIX));

  const marker = await ClockMarker.write(store);
  try {
    const locks = await collect(store.list(LOCKS_PREFIX));
    const storeNow = await marker.time(locks);
    const leases = await readLeases(store, locks);
    const records = await listSnapshots(store);

    const decision = planPrune(records.map((r) => ({ id: r.id, time: new Date(r.startedAt) })), options.policy);
    const leftovers = planLeftovers({ data, uploads, leases, committed: new Set(records.map((r) => r.id)), storeNow, graceMs: grace });
    const report: PruneReport = { kept: decision.keep, removed: [], leftovers: [], leased: leftovers.leased, abortedUploads: [], expiredLeases: [], dryRun: !!options.dryRun };

    for (const id of decision.remove) {
      const objects = data.get(id) ?? [];
      report.removed.push({ id, objects: objects.length + 1, bytes: objects.reduce((sum, o) => sum + o.size, 0) });
      if (options.dryRun) continue;
      // Commit record first: from that moment the snapshot is incomplete and never restored.
      await store.delete([commitKey(id)]);
      await store.delete(objects.map((o) => o.key));
    }
    const listedLease = new Map(leases.map((lease) => [lease.id, lease]));
    const revived = new Set<string>();
    for (const leftover of leftovers.remove) {
      // A backup whose lease had expired (a suspended host) may have come back and rewritten it since
      // the listing: its data stays, and its own check before the commit decides.
      if (await leaseRenewed(store, leftover.id, listedLease.get(leftover.id))) {
        revived.add(leftover.id);
        report.leased.push({ id: leftover.id });
        continue;
      }
      report.leftovers.push({ id: leftover.id, objects: leftover.keys.length, bytes: leftover.bytes });
      if (!options.dryRun) await store.delete(leftover.keys);
    }
    for (const upload of leftovers.abort) {
      if (revived.has(dataIdOf(upload.key))) continue;
      report.abortedUploads.push(upload);
      if (!options.dryRun) await store.abortPendingUpload(upload);
    }
    for (const id of leftovers.expiredLeases) {
      if (revived.has(id)) continue;
      report.expiredLeases.push(id);
      if (!options.dryRun) await store.delete([leaseKey(id)]);
    }
    if (!options.dryRun) {
      const staleMarkers = locks.filter((o) => isClockMarker(o.key) && o.key !== marker.key && o.lastModified && storeNow.getTime() - o.lastModified.getTime() >= DEFAULTS.clockMarkerMaxAgeMs);
      await store.delete(staleMarkers.map((o) => o.key));
    }
    return report;
  } finally {
    await marker.remove();
  }
}

/** The leases among the objects under locks/, with the TTL and holder their content gives. */
async function readLeases(store: Pick<ObjectStore, 'getBuffer'>, locks: readonly ObjectInfo[]): Promise<ListedLease[]> {
  const limit = pLimit(8);
  const leases = await Promise.all(locks.map((object) => limit(async (): Promise<ListedLease | undefined> => {
    const name = object.key.slice(LOCKS_PREFIX.length);
    if (!name.endsWith('.json') || !isSnapshotId(name.slice(0, -'.json'.length))) return undefined;
    let content: Buffer | undefined;
    try {
      content = await store.getBuffer(object.key);
    } catch (error) {
      // Deleted since the listing: that backup has finished (committed, or failed and cleaned up).
      if (isCassetteError(error, 'E_NOT_FOUND')) return undefined;
      throw error;
    }
    return { id: name.slice(0, -'.json'.length), lastModified: object.lastModified, ttlMs: leaseTtlMs(content), ...leaseHolder(content) };
  })));
  return leases.filter((lease): lease is ListedLease => lease !== undefined);
}

/** Whether the lease of `id` was written again (or first) after the listing prune judged by. */
async function leaseRenewed(store: Pick<ObjectStore, 'head'>, id: string, listed: ListedLease | undefined): Promise<boolean> {
  const now = await store.head(leaseKey(id));
  if (!now) return false;
  if (!listed?.lastModified || !now.lastModified) return true;
  return now.lastModified.getTime() > listed.lastModified.getTime();
}
