// Carries out a prune: removes snapshots outside the policy, or those forget names (commit record first, then the data no remaining snapshot names), incomplete leftovers, stale uploads and expired leases.

import pLimit from 'p-limit';
import { leaseHolder, leaseParents, leaseTtlMs } from '../backup/lease.js';
import { DEFAULTS } from '../defaults.js';
import { isCassetteError } from '../errors.js';
import { isSnapshotId } from '../format/snapshot-id.js';
import type { CommitRecord } from '../format/types.js';
import type { Retention } from '../plan/plan.js';
import { commitKey, DATA_PREFIX, leaseKey, listSnapshotIds, listSnapshots, LOCKS_PREFIX, readCommitRecord } from '../repository.js';
import type { ObjectInfo, ObjectStore, PendingUpload } from '../store/object-store.js';
import { dataIdOf, parentsInUse, planLeftovers, type ListedLease } from './plan-leftovers.js';
import { keptSummary, liveObjects, splitObjects, type KeptSummary } from './plan-objects.js';
import { checkPolicy, planPrune, type PruneDecision } from './plan-prune.js';
import { matchesFilter, type SnapshotFilter } from '../snapshot-filter.js';
import { ClockMarker, isClockMarker } from './store-clock.js';

export interface PruneOptions extends Omit<RemoveOptions, 'decide' | 'recordsOnly'> {
  policy: Retention;
  /**
   * Apply the policy to the snapshots this selects only (--host, --tag, --path, like restic's
   * `forget --host X --keep-last 2`); the others are kept, untouched, and what they name stays.
   * Default: every snapshot.
   */
  filter?: SnapshotFilter;
  /** `host`: apply the policy to each host's snapshots apart (keep-last 7 keeps 7 of each host), as restic groups by host. Default: one group. */
  groupBy?: 'host';
}

/** Which snapshots go, given every committed one (oldest first) and those running backups reuse (`pinned`: id → reason, to be kept). Pure. */
export type RemovalDecision = (records: readonly CommitRecord[], pinned: ReadonlyMap<string, string>) => PruneDecision & { untouched?: string[] };

export interface RemoveOptions {
  store: ObjectStore;
  decide: RemovalDecision;
  /**
   * Delete the removed snapshots' commit records only (`forget` without --prune): their data, and
   * every incomplete leftover, upload and lease, stay for a later prune. The report's
   * `leftObjects`/`leftBytes` say what stays.
   */
  recordsOnly?: boolean;
  /** Report, delete nothing (prune still writes and deletes its clock marker). */
  dryRun?: boolean;
  /**
   * Incomplete snapshots and multipart uploads with a sign of life younger than this, by the
   * store's clock, are left alone even without a fresh lease (backups by Cassette versions
   * before leases). Default 24 h.
   */
  graceMs?: number;
}

/** A snapshot prune removes (or would, with dryRun). */
export interface RemovedSnapshot extends KeptSummary {
  id: string;
  /** Objects deleted: its commit record and every object under its data/<id>/ that no kept snapshot names. */
  objects: number;
  /** Bytes of the deleted objects under data/<id>/. */
  bytes: number;
  /** recordsOnly: the objects under its data/<id>/ no kept snapshot names, left in place for a later prune (then `objects` is 1, its record, and `bytes` 0). */
  leftObjects?: number;
  leftBytes?: number;
}

/** Data of an incomplete snapshot (no commit record) that prune removes, or keeps because kept snapshots reference it. */
export interface LeftoverData extends KeptSummary {
  id: string;
  /** Objects and bytes deleted. */
  objects: number;
  bytes: number;
}

export interface PruneReport {
  /** The selected snapshots kept (with a filter, those it selects; forget: the named ones a running backup reuses). */
  kept: Array<{ id: string; reasons: string[] }>;
  /** With a filter: the snapshots it does not select, left as they are. */
  untouched: string[];
  /** Snapshots removed; `kept*` are the objects under their data/<id>/ that stay because kept snapshots reference them. */
  removed: RemovedSnapshot[];
  /** Snapshot ids with data but no commit record, no fresh lease and nothing newer than the grace period: removed, except objects kept snapshots reference. */
  leftovers: LeftoverData[];
  /** Ids without a commit record past the grace period whose every object stays because kept snapshots reference it (what is left of pruned snapshots). */
  referenced: Array<{ id: string } & KeptSummary>;
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
  checkPolicy(options.policy);
  return removeSnapshots({ ...options, decide: (records, pinned) => policyDecision(records, options.policy, options.filter, pinned, options.groupBy) });
}

/** The policy over the snapshots the filter selects, as one group or per host; the others are untouched. Pure. */
export function policyDecision(
  records: readonly CommitRecord[],
  policy: Retention,
  filter: SnapshotFilter | undefined,
  pinned: ReadonlyMap<string, string>,
  groupBy?: 'host',
): PruneDecision & { untouched: string[] } {
  const groups = new Map<string, CommitRecord[]>();
  for (const record of records.filter((r) => matchesFilter(r, filter))) {
    const group = groupBy === 'host' ? record.host : '';
    groups.set(group, [...(groups.get(group) ?? []), record]);
  }
  const decision: PruneDecision = { keep: [], remove: [] };
  for (const [group, members] of groups) {
    const part = planPrune(
      members.map((r) => ({ id: r.id, time: new Date(r.startedAt) })),
      policy,
      pinned,
    );
    decision.keep.push(
      ...part.keep.map((k) => (groupBy === 'host' ? { id: k.id, reasons: k.reasons.map((reason) => (reason === pinned.get(k.id) ? reason : `${reason} of host ${group}`)) } : k)),
    );
    decision.remove.push(...part.remove);
  }
  return { ...decision, untouched: records.filter((r) => !matchesFilter(r, filter)).map((r) => r.id) };
}

/**
 * Remove the snapshots `decide` picks (prune's policy, forget's list): commit records first, then
 * (unless recordsOnly) the data no snapshot that stays names, and incomplete leftovers.
 */
export async function removeSnapshots(options: RemoveOptions): Promise<PruneReport> {
  const { store } = options;
  const grace = options.graceMs ?? 24 * 3600 * 1000;

  const data = await listDataById(store);
  const uploads = await collect(store.listPendingUploads(DATA_PREFIX));

  const marker = await ClockMarker.write(store);
  try {
    const locks = await collect(store.list(LOCKS_PREFIX));
    const storeNow = await marker.time(locks);
    const leases = await readLeases(store, locks);
    const records = await listSnapshots(store);

    // A running backup reuses frames of its parents, in their objects and in those they reference: while
    // its lease is fresh, a parent stays whole, commit record included, so that what it references stays too.
    const inUse = parentsInUse(leases, storeNow);
    const pinned = new Map([...inUse].map(([parent, backups]) => [parent, `reused by running backup ${backups.join(', ')}`]));
    const decision = options.decide(records, pinned);
    const removing = new Set(decision.remove);
    let staying = records.filter((r) => !removing.has(r.id));
    if (!options.dryRun && removing.size > 0) {
      // Commit records first: from that moment those snapshots are incomplete and never restored.
      await store.delete(decision.remove.map(commitKey));
      // A backup that committed since the listing may reference objects of the removed snapshots
      // (its check that they exist ran before any was deleted): what it names stays too.
      staying = [...staying, ...(await recordsCommittedSince(store, records))];
    }
    // Objects are deleted only when no snapshot that stays names them: commit records alone decide.
    const live = liveObjects(staying);
    // A parent whose commit record an earlier prune (or another tool) removed: what is left under its prefix stays.
    for (const [parent, backups] of inUse) {
      for (const object of data.get(parent) ?? []) if (!live.has(object.key)) live.set(object.key, { namedBy: backups, usedBytes: object.size });
    }
    const committed = new Set([...records, ...staying].map((r) => r.id));
    const leftovers = planLeftovers({ data, uploads, leases, committed, live, storeNow, graceMs: grace });
    const report: PruneReport = {
      kept: decision.keep,
      untouched: decision.untouched ?? [],
      removed: [],
      leftovers: [],
      referenced: leftovers.referenced.map((r) => ({ id: r.id, ...keptSummary(r.kept) })),
      leased: leftovers.leased,
      abortedUploads: [],
      expiredLeases: [],
      dryRun: !!options.dryRun,
    };

    for (const id of decision.remove) {
      const split = splitObjects(data.get(id) ?? [], live);
      if (options.recordsOnly) {
        const leftBytes = split.remove.reduce((sum, o) => sum + o.size, 0);
        report.removed.push({ id, objects: 1, bytes: 0, leftObjects: split.remove.length, leftBytes, ...keptSummary(split.keep) });
        continue;
      }
      report.removed.push({ id, objects: split.remove.length + 1, bytes: split.remove.reduce((sum, o) => sum + o.size, 0), ...keptSummary(split.keep) });
      if (!options.dryRun) await store.delete(split.remove.map((o) => o.key));
    }
    if (options.recordsOnly) return { ...report, referenced: [], leased: [] };
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
      report.leftovers.push({ id: leftover.id, objects: leftover.keys.length, bytes: leftover.bytes, ...keptSummary(leftover.kept) });
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
      const staleMarkers = locks.filter(
        (o) => isClockMarker(o.key) && o.key !== marker.key && o.lastModified && storeNow.getTime() - o.lastModified.getTime() >= DEFAULTS.clockMarkerMaxAgeMs,
      );
      await store.delete(staleMarkers.map((o) => o.key));
    }
    return report;
  } finally {
    await marker.remove();
  }
}

/** The objects under data/, grouped by their snapshot id (the key's first segment below data/). */
export async function listDataById(store: Pick<ObjectStore, 'list'>): Promise<Map<string, ObjectInfo[]>> {
  const data = new Map<string, ObjectInfo[]>();
  for await (const object of store.list(DATA_PREFIX)) {
    const id = dataIdOf(object.key);
    const objects = data.get(id);
    if (objects) objects.push(object);
    else data.set(id, [object]);
  }
  return data;
}

/** Commit records of snapshots committed since `listed` was read (a record deleted since its listing is skipped). */
async function recordsCommittedSince(store: Pick<ObjectStore, 'list' | 'getBuffer'>, listed: readonly CommitRecord[]): Promise<CommitRecord[]> {
  const known = new Set(listed.map((r) => r.id));
  const limit = pLimit(8);
  const records = await Promise.all(
    (await listSnapshotIds(store))
      .filter((id) => !known.has(id))
      .map((id) =>
        limit(async () => {
          try {
            return await readCommitRecord(store, id);
          } catch (error) {
            if (isCassetteError(error, 'E_NOT_FOUND')) return undefined;
            throw error;
          }
        }),
      ),
  );
  return records.filter((r): r is CommitRecord => r !== undefined);
}

/** The leases among the objects under locks/, with the TTL and holder their content gives (a lease deleted since the listing is skipped: that backup has finished). */
export async function readLeases(store: Pick<ObjectStore, 'getBuffer'>, locks: readonly ObjectInfo[]): Promise<ListedLease[]> {
  const limit = pLimit(8);
  const leases = await Promise.all(
    locks.map((object) =>
      limit(async (): Promise<ListedLease | undefined> => {
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
        const parents = leaseParents(content);
        return {
          id: name.slice(0, -'.json'.length),
          lastModified: object.lastModified,
          ttlMs: leaseTtlMs(content),
          ...leaseHolder(content),
          ...(parents.length > 0 ? { parents } : {}),
        };
      }),
    ),
  );
  return leases.filter((lease): lease is ListedLease => lease !== undefined);
}

/** Whether the lease of `id` was written again (or first) after the listing prune judged by. */
async function leaseRenewed(store: Pick<ObjectStore, 'head'>, id: string, listed: ListedLease | undefined): Promise<boolean> {
  const now = await store.head(leaseKey(id));
  if (!now) return false;
  if (!listed?.lastModified || !now.lastModified) return true;
  return now.lastModified.getTime() > listed.lastModified.getTime();
}
