// Carries out a prune: removes snapshots outside the policy (commit record first, then data), incomplete leftovers and stale uploads.

import { isSnapshotId, snapshotIdTime } from '../format/snapshot-id.js';
import type { Retention } from '../plan/plan.js';
import { commitKey, DATA_PREFIX, listSnapshots } from '../repository.js';
import type { ObjectStore, PendingUpload } from '../store/object-store.js';
import { planPrune } from './plan-prune.js';

export interface PruneOptions {
  store: ObjectStore;
  policy: Retention;
  /** Report, delete nothing. */
  dryRun?: boolean;
  /** Incomplete snapshots and multipart uploads younger than this are left alone (a backup may be running). Default 24 h. */
  graceMs?: number;
  now?: Date;
}

export interface PruneReport {
  kept: Array<{ id: string; reasons: string[] }>;
  removed: Array<{ id: string; objects: number; bytes: number }>;
  /** Snapshot ids with data but no commit record, older than the grace period. */
  leftovers: Array<{ id: string; objects: number; bytes: number }>;
  abortedUploads: PendingUpload[];
  dryRun: boolean;
}

export async function prune(options: PruneOptions): Promise<PruneReport> {
  const { store } = options;
  const now = options.now ?? new Date();
  const grace = options.graceMs ?? 24 * 3600 * 1000;
  const records = await listSnapshots(store);
  const decision = planPrune(records.map((r) => ({ id: r.id, time: new Date(r.startedAt) })), options.policy);
  const report: PruneReport = { kept: decision.keep, removed: [], leftovers: [], abortedUploads: [], dryRun: !!options.dryRun };

  // Objects under data/, grouped by snapshot id.
  const data = new Map<string, { keys: string[]; bytes: number }>();
  for await (const object of store.list(DATA_PREFIX)) {
    const id = object.key.slice(DATA_PREFIX.length).split('/')[0]!;
    const group = data.get(id) ?? { keys: [], bytes: 0 };
    group.keys.push(object.key);
    group.bytes += object.size;
    data.set(id, group);
  }
  const committed = new Set(records.map((r) => r.id));

  for (const id of decision.remove) {
    const group = data.get(id) ?? { keys: [], bytes: 0 };
    report.removed.push({ id, objects: group.keys.length + 1, bytes: group.bytes });
    if (options.dryRun) continue;
    // Commit record first: from that moment the snapshot is incomplete and never restored.
    await store.delete([commitKey(id)]);
    await store.delete(group.keys);
  }
  for (const [id, group] of data) {
    if (committed.has(id)) continue;
    const age = isSnapshotId(id) ? now.getTime() - snapshotIdTime(id).getTime() : Infinity;
    if (age < grace) continue;
    report.leftovers.push({ id, objects: group.keys.length, bytes: group.bytes });
    if (!options.dryRun) await store.delete(group.keys);
  }
  for await (const upload of store.listPendingUploads(DATA_PREFIX)) {
    const started = upload.initiated?.getTime() ?? 0;
    if (now.getTime() - started < grace) continue;
    report.abortedUploads.push(upload);
    if (!options.dryRun) await store.abortPendingUpload(upload);
  }
  return report;
}
