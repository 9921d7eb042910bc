// Pure planning of what prune removes besides snapshots: data of incomplete snapshots, stale multipart uploads, expired leases — all judged by the store's clock.

import { DATA_PREFIX } from '../repository.js';
import type { ObjectInfo, PendingUpload } from '../store/object-store.js';
import { splitObjects, type KeptObject, type LiveObject } from './plan-objects.js';

/** A lease object as listed, with what its content says. */
export interface ListedLease {
  id: string;
  /** The object's LastModified, in the store's clock. */
  lastModified?: Date;
  /** How long it is honoured (lease.ts leaseTtlMs). */
  ttlMs: number;
  host?: string;
  pid?: number;
  /** Snapshots whose objects the running backup reuses (its parents, FORMAT.md §1): kept while the lease is fresh. */
  parents?: string[];
}

/** A lease is fresh while storeNow − its LastModified < its TTL; a store that reports no time for it keeps it fresh. Pure. */
export function leaseIsFresh(lease: Pick<ListedLease, 'lastModified' | 'ttlMs'>, storeNow: Date): boolean {
  return (lease.lastModified ? storeNow.getTime() - lease.lastModified.getTime() : 0) < lease.ttlMs;
}

/** The snapshots that running backups reuse: parent id → ids of the backups whose fresh lease names it. Pure. */
export function parentsInUse(leases: readonly ListedLease[], storeNow: Date): Map<string, string[]> {
  const parents = new Map<string, string[]>();
  for (const lease of leases) {
    if (!leaseIsFresh(lease, storeNow)) continue;
    for (const parent of new Set(lease.parents ?? [])) parents.set(parent, [...(parents.get(parent) ?? []), lease.id]);
  }
  return parents;
}

export interface LeftoverInput {
  /** Objects under data/, grouped by their first key segment (the snapshot id). */
  data: ReadonlyMap<string, readonly ObjectInfo[]>;
  uploads: readonly PendingUpload[];
  leases: readonly ListedLease[];
  /** Ids that have a commit record. */
  committed: ReadonlySet<string>;
  /**
   * Objects that committed snapshots which stay name (plan-objects.ts liveObjects): never removed,
   * wherever they lie. After a snapshot is pruned, the objects of its data/<id>/ that a kept
   * snapshot references are left without a commit record; they must outlive it. Default: none.
   */
  live?: ReadonlyMap<string, LiveObject>;
  /** "Now" in the store's clock: the LastModified of the marker this prune just wrote. */
  storeNow: Date;
  /** Uncommitted data and uploads whose newest sign of life is younger than this are left alone. */
  graceMs: number;
}

export interface LeftoverPlan {
  /**
   * Incomplete snapshots whose data goes: no fresh lease, nothing newer than the grace period.
   * `keys` and `bytes` are what goes; `kept`, the objects under the same data/<id>/ that live
   * snapshots name, stay.
   */
  remove: Array<{ id: string; keys: string[]; bytes: number; kept: KeptObject[] }>;
  /** Ids without a commit record, past their grace period, whose every object stays because live snapshots name it (what is left of a pruned snapshot). */
  referenced: Array<{ id: string; kept: KeptObject[] }>;
  /** Incomplete snapshots kept because a backup holds a fresh lease on them. */
  leased: Array<{ id: string; host?: string; pid?: number }>;
  /** Multipart uploads to abort: under an id that has no fresh lease and no recent sign of life. */
  abort: PendingUpload[];
  /** Ids whose expired lease goes: the snapshot is committed, or its data goes now, or it has none left. */
  expiredLeases: string[];
}

/** Id of a key under data/ (`data/<id>/…` → `<id>`). */
export function dataIdOf(key: string): string {
  return key.slice(DATA_PREFIX.length).split('/')[0]!;
}

/**
 * Everything is judged by times the store set (LastModified, Initiated) compared with `storeNow`,
 * never with the local clock, and never by the time in a snapshot id (that is the backing-up
 * host's clock, which may be behind, and the start of a backup that may run for days).
 *
 * - A lease is fresh while storeNow − its LastModified < its TTL. A store that reports no time
 *   for it keeps it fresh.
 * - An id's last sign of life is the newest LastModified of its objects, its lease and the
 *   Initiated of its uploads (unknown times count as now). Caveat: moto reports every upload as
 *   initiated in 2010, and S3 gives a completed multipart object the time its upload started, so
 *   the lease is what protects a running backup; the grace period covers backups written
 *   without one (Cassette before leases).
 * - An id is active when its lease is fresh or its last sign of life is younger than the grace
 *   period. Data of an uncommitted id that is not active is removed, except the objects in
 *   `live`; uploads under an id that is not active are aborted.
 */
export function planLeftovers(input: LeftoverInput): LeftoverPlan {
  const now = input.storeNow.getTime();
  const leases = new Map(input.leases.map((lease) => [lease.id, lease]));
  const fresh = (id: string): boolean => {
    const lease = leases.get(id);
    return !!lease && leaseIsFresh(lease, input.storeNow);
  };
  const newest = new Map<string, number>();
  const seen = (id: string, time: Date | undefined): void => {
    const t = time?.getTime() ?? now;
    newest.set(id, Math.max(newest.get(id) ?? -Infinity, t));
  };
  for (const [id, objects] of input.data) for (const object of objects) seen(id, object.lastModified);
  for (const lease of input.leases) seen(lease.id, lease.lastModified);
  const uploadIds = input.uploads.map((upload) => dataIdOf(upload.key));
  input.uploads.forEach((upload, i) => seen(uploadIds[i]!, upload.initiated));
  const active = (id: string): boolean => fresh(id) || now - (newest.get(id) ?? -Infinity) < input.graceMs;

  const plan: LeftoverPlan = { remove: [], referenced: [], leased: [], abort: [], expiredLeases: [] };
  for (const [id, objects] of input.data) {
    if (input.committed.has(id)) continue;
    if (fresh(id)) {
      const { host, pid } = leases.get(id)!;
      plan.leased.push({ id, ...(host !== undefined ? { host } : {}), ...(pid !== undefined ? { pid } : {}) });
    } else if (!active(id)) {
      const split = splitObjects(objects, input.live ?? new Map());
      if (split.remove.length > 0) plan.remove.push({ id, keys: split.remove.map((o) => o.key), bytes: split.remove.reduce((sum, o) => sum + o.size, 0), kept: split.keep });
      else plan.referenced.push({ id, kept: split.keep });
    }
  }
  input.uploads.forEach((upload, i) => {
    if (!active(uploadIds[i]!)) plan.abort.push(upload);
  });
  for (const lease of input.leases) {
    if (fresh(lease.id)) continue;
    if (input.committed.has(lease.id) || !active(lease.id)) plan.expiredLeases.push(lease.id);
  }
  return plan;
}
