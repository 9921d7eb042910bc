// Gathers a report's data from a repository, reading only: commit records, one snapshot's indexes, the listings of data/, locks/ and uploads, and the leases.

import { isSnapshotId, snapshotIdTime } from '../format/snapshot-id.js';
import type { CommitRecord } from '../format/types.js';
import { countEntry, emptyCounts, storedTotals } from '../inspect/stats.js';
import type { Retention } from '../plan/plan.js';
import { leaseIsFresh, parentsInUse, planLeftovers, type ListedLease } from '../prune/plan-leftovers.js';
import { keptSummary, liveObjects, splitObjects } from '../prune/plan-objects.js';
import { listDataById, policyDecision, readLeases } from '../prune/prune.js';
import { DATA_PREFIX, listSnapshots, LOCKS_PREFIX, objectKeysOf, openIndex, resolveSnapshot } from '../repository.js';
import { describeFilter, matchesFilter, type SnapshotFilter } from '../snapshot-filter.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { notStoredOf, runStatus, seriesOf, type ArtifactDetail, type Leftover, type PruneForecast, type ReportData, type Run, type SnapshotDetail } from './report-data.js';
import { restoreCommand } from './restore-command.js';
import { TreeCollector, type TreeListing } from './tree.js';

export interface ReportOptions {
  /** Read from only: the command hands a store that refuses writes. */
  store: ObjectStore;
  /** The snapshots the report is about (--host, --tag, --path); the totals count every one. */
  filter?: SnapshotFilter;
  /** How many of the newest selected snapshots the timeline shows. */
  last: number;
  /** The snapshot detailed: an id, a unique prefix, or `latest` (of those selected). */
  snapshot: string;
  /** The retention prune would apply, and where it comes from; none: no forecast. */
  retention?: { policy: Retention; from: string; groupBy?: 'host' };
  /** Prune's grace period for incomplete snapshots and uploads. */
  graceMs: number;
  /** Entries the listing holds at most (TreeCollector). */
  treeLimit: number;
  /** "Now": the ages of leftovers and prune's forecast are judged by it. */
  now: Date;
  cassetteVersion: string;
}

/** A committed record no key given opens (encrypted to other keys): it carries only its public part. */
const isSealed = (record: CommitRecord): boolean => record.sealed !== undefined;

export async function collectReport(options: ReportOptions): Promise<ReportData> {
  const { store } = options;
  // The same order as prune's: data and uploads, then leases, then commit records.
  const data = await listDataById(store);
  const uploads = await collect(store.listPendingUploads(DATA_PREFIX));
  const leases = await readLeases(store, await collect(store.list(LOCKS_PREFIX)));
  const records = await listSnapshots(store);
  const selected = records.filter((record) => matchesFilter(record, options.filter));

  const shown = selected.slice(-options.last);
  const leftovers = leftoversOf(data, leases, records, options);
  const firstShown = shown[0] ? Date.parse(shown[0].startedAt) : -Infinity;
  const runs: Run[] = [
    ...shown.map(runOf),
    // Incomplete runs belong to no host the repository knows: shown whatever the filter, within the span of the timeline.
    ...leftovers.filter((l) => !l.referenced && snapshotIdTime(l.id).getTime() >= firstShown).map(incompleteRun),
  ].sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || (a.id < b.id ? -1 : 1));

  const detail = await detailOf(store, selected, options);
  const held = [...data.values()].flat();
  const named = new Set(records.flatMap((record) => objectKeysOf(record)));
  const storedBytes = held.reduce((sum, o) => sum + o.size, 0);
  const tarBytes = storedTotals(records).tarBytes;
  const oldestUpload = uploads
    .map((u) => u.initiated)
    .filter((t): t is Date => t !== undefined)
    .sort((a, b) => a.getTime() - b.getTime())[0];
  return {
    format: 'cassette-report',
    version: 1,
    generatedAt: options.now.toISOString(),
    cassetteVersion: options.cassetteVersion,
    ...(options.filter ? { filter: describeFilter(options.filter) } : {}),
    timeline: { runs, shown: shown.length, total: selected.length },
    ...detail,
    repository: {
      url: store.url,
      snapshots: records.length,
      selected: selected.length,
      sealed: records.filter(isSealed).length,
      objects: held.length,
      storedBytes,
      tarBytes,
      ratio: storedBytes > 0 ? tarBytes / storedBytes : 0,
      unreferencedBytes: held.filter((o) => !named.has(o.key)).reduce((sum, o) => sum + o.size, 0),
      leftovers,
      pendingUploads: uploads.length,
      ...(oldestUpload ? { oldestUpload: oldestUpload.toISOString() } : {}),
      ...(records.length > 0 ? { firstSnapshot: records[0]!.startedAt, lastSnapshot: records.at(-1)!.startedAt } : {}),
      ...(options.retention ? { prune: forecast(records, data, uploads, leases, options.retention, options) } : {}),
      graceHours: options.graceMs / 3600_000,
    },
  };
}

/** From startedAt to finishedAt, in seconds; 0 when the clocks say less. */
function durationOf(record: Pick<CommitRecord, 'startedAt' | 'finishedAt'>): number {
  return Math.max(0, (Date.parse(record.finishedAt) - Date.parse(record.startedAt)) / 1000);
}

function runOf(record: CommitRecord): Run {
  const totals = storedTotals([record]);
  const durationSeconds = durationOf(record);
  return {
    id: record.id,
    time: record.startedAt,
    finishedAt: record.finishedAt,
    host: record.host,
    tags: record.tags,
    series: seriesOf(record),
    status: runStatus(record),
    bytesRead: totals.bytesRead,
    tarBytes: totals.tarBytes,
    storedBytes: totals.storedBytes,
    reusedBytes: totals.reusedBytes,
    newFrames: totals.newFrames,
    reusedFrames: totals.reusedFrames,
    durationSeconds,
    bytesPerSecond: durationSeconds > 0 ? totals.bytesRead / durationSeconds : 0,
    warnings: record.artifacts.reduce((sum, a) => sum + a.warningCount, 0),
    notStored: record.artifacts.reduce((sum, a) => sum + notStoredOf(a), 0),
    failedHooks: (record.hooks ?? []).filter((h) => h.exitCode !== 0).length,
    ...(record.sealed !== undefined ? { sealed: true as const } : {}),
  };
}

function incompleteRun(leftover: Leftover): Run {
  return {
    id: leftover.id,
    time: snapshotIdTime(leftover.id).toISOString(),
    tags: [],
    series: 'incomplete',
    status: 'incomplete',
    bytesRead: 0,
    tarBytes: 0,
    storedBytes: leftover.bytes,
    reusedBytes: 0,
    newFrames: 0,
    reusedFrames: 0,
    durationSeconds: 0,
    bytesPerSecond: 0,
    warnings: 0,
    notStored: 0,
    failedHooks: 0,
    ...(leftover.running ? { running: true as const } : {}),
  };
}

/** Ids with data and no commit record, with their age and what prune would do with them now. */
function leftoversOf(data: ReadonlyMap<string, readonly ObjectInfo[]>, leases: readonly ListedLease[], records: readonly CommitRecord[], options: ReportOptions): Leftover[] {
  const committed = new Set(records.map((r) => r.id));
  const live = liveObjects(records);
  const plan = planLeftovers({ data, uploads: [], leases, committed, live, storeNow: options.now, graceMs: options.graceMs });
  const removes = new Set(plan.remove.map((r) => r.id));
  const leaseOf = new Map(leases.map((l) => [l.id, l]));
  const out: Leftover[] = [];
  for (const [id, objects] of data) {
    if (committed.has(id) || !isSnapshotId(id)) continue;
    const times = [...objects.map((o) => o.lastModified), leaseOf.get(id)?.lastModified].filter((t): t is Date => t !== undefined).map((t) => t.getTime());
    const newest = times.length > 0 ? Math.max(...times) : undefined;
    const lease = leaseOf.get(id);
    out.push({
      id,
      objects: objects.length,
      bytes: objects.reduce((sum, o) => sum + o.size, 0),
      ...(newest !== undefined ? { newest: new Date(newest).toISOString(), ageSeconds: Math.max(0, Math.round((options.now.getTime() - newest) / 1000)) } : {}),
      running: !!lease && leaseIsFresh(lease, options.now),
      ...(objects.some((o) => live.has(o.key)) ? { referenced: true as const } : {}),
      pruneRemoves: removes.has(id),
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** What prune would remove now with this retention: prune's own planning (policyDecision, liveObjects, planLeftovers), without its writes. */
function forecast(
  records: readonly CommitRecord[],
  data: ReadonlyMap<string, readonly ObjectInfo[]>,
  uploads: Parameters<typeof planLeftovers>[0]['uploads'],
  leases: readonly ListedLease[],
  retention: NonNullable<ReportOptions['retention']>,
  options: ReportOptions,
): PruneForecast {
  const inUse = parentsInUse(leases, options.now);
  const pinned = new Map([...inUse].map(([parent, backups]) => [parent, `reused by running backup ${backups.join(', ')}`]));
  const decision = policyDecision(records, retention.policy, options.filter, pinned, retention.groupBy);
  const removing = new Set(decision.remove);
  const live = liveObjects(records.filter((r) => !removing.has(r.id)));
  for (const [parent, backups] of inUse) for (const object of data.get(parent) ?? []) if (!live.has(object.key)) live.set(object.key, { namedBy: backups, usedBytes: object.size });
  const leftovers = planLeftovers({ data, uploads, leases, committed: new Set(records.map((r) => r.id)), live, storeNow: options.now, graceMs: options.graceMs });
  const time = new Map(records.map((r) => [r.id, r.startedAt]));
  const remove = decision.remove.map((id) => {
    const split = splitObjects(data.get(id) ?? [], live);
    return { id, time: time.get(id)!, objects: split.remove.length + 1, bytes: split.remove.reduce((sum, o) => sum + o.size, 0), keptBytes: keptSummary(split.keep).keptBytes };
  });
  return {
    retention: retention.policy,
    from: retention.from,
    ...(retention.groupBy ? { groupBy: retention.groupBy } : {}),
    keep: decision.keep,
    remove,
    freedBytes: remove.reduce((sum, r) => sum + r.bytes, 0) + leftovers.remove.reduce((sum, r) => sum + r.bytes, 0),
    abortUploads: leftovers.abort.length,
  };
}

/** The detailed snapshot, or why there is none. */
async function detailOf(store: ObjectStore, selected: readonly CommitRecord[], options: ReportOptions): Promise<Pick<ReportData, 'snapshot' | 'snapshotNote'>> {
  if (selected.length === 0) return { snapshotNote: 'no committed snapshot' + (options.filter ? ` has ${describeFilter(options.filter)}` : ' yet') };
  const record = options.snapshot === 'latest' ? selected.at(-1)! : await resolveSnapshot(store, options.snapshot, options.filter);
  if (isSealed(record))
    return {
      snapshotNote: `snapshot ${record.id} is encrypted: its artifacts and files show with --identity FILE (or CASSETTE_IDENTITY, or the passphrase); the timeline and totals need no key`,
    };
  return { snapshot: await snapshotDetail(store, record, options) };
}

async function snapshotDetail(store: ObjectStore, record: CommitRecord, options: ReportOptions): Promise<SnapshotDetail> {
  const tree = new TreeCollector(options.treeLimit);
  const artifacts: ArtifactDetail[] = [];
  for (const artifact of record.artifacts) {
    const counts = emptyCounts();
    const index = await openIndex(store, artifact);
    try {
      for await (const entry of index.entries) {
        countEntry(counts, entry);
        tree.add(artifact.name, entry);
      }
    } finally {
      index.close();
    }
    const totals = storedTotals([{ artifacts: [artifact] }]);
    artifacts.push({
      name: artifact.name,
      kind: artifact.kind,
      source: artifact.source,
      bytesRead: artifact.bytesRead,
      tarBytes: artifact.tarBytes,
      storedBytes: artifact.storedBytes,
      reusedBytes: totals.reusedBytes,
      ratio: totals.compressionRatio,
      frames: artifact.frameCount,
      newFrames: totals.newFrames,
      reusedFrames: totals.reusedFrames,
      counts,
      warnings: artifact.warnings,
      warningCount: artifact.warningCount,
      notStored: notStoredOf(artifact),
      ...(artifact.parent !== undefined ? { parent: artifact.parent } : {}),
      ...(artifact.database ? { database: artifact.database } : {}),
    });
  }
  return {
    id: record.id,
    time: record.startedAt,
    finishedAt: record.finishedAt,
    host: record.host,
    tags: record.tags,
    ...(record.profile !== undefined ? { profile: record.profile } : {}),
    ...(record.role !== undefined ? { role: record.role } : {}),
    version: record.version,
    status: runStatus(record),
    durationSeconds: durationOf(record),
    encrypted: record.encryption !== undefined,
    artifacts,
    hooks: record.hooks ?? [],
    largestDirectories: tree.largestDirectories(),
    tree: withRestoreCommands(tree.listing(), store.url, record.id),
    repository: store.url,
  };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** The listing with each file's restore command, as the page gives it. */
function withRestoreCommands(listing: TreeListing, repository: string, id: string): TreeListing {
  return {
    ...listing,
    entries: listing.entries.map((entry) =>
      entry.type === 'file' && !entry.nameNotUtf8 ? { ...entry, restore: restoreCommand(repository, id, entry.artifact, entry.path) } : entry,
    ),
  };
}
