// Forgets named snapshots: removes their commit records (and, with prune, the data no remaining snapshot names), through prune's engine and under its rules.

import { CassetteError } from '../errors.js';
import type { CommitRecord } from '../format/types.js';
import { removeSnapshots, type PruneReport, type RemovalDecision } from '../prune/prune.js';
import { resolveSnapshot } from '../repository.js';
import type { SnapshotFilter } from '../snapshot-filter.js';
import type { ObjectStore } from '../store/object-store.js';

export interface ForgetOptions {
  store: ObjectStore;
  /** Snapshot references: full ids, unique prefixes, or `latest` (the newest the filter selects). */
  refs: readonly string[];
  /** Only snapshots this selects may be named: a reference outside it is refused before anything is removed. */
  filter?: SnapshotFilter;
  /** Also delete the data no remaining snapshot names (FORMAT.md §7), as prune does for the snapshots it removes. */
  prune?: boolean;
  /** Report, remove nothing. */
  dryRun?: boolean;
  /** With prune: incomplete leftovers younger than this are left alone (PruneOptions.graceMs). */
  graceMs?: number;
}

export interface ForgetReport extends PruneReport {
  /** The named snapshots that a running backup reuses (its fresh lease names them): not forgotten. */
  refused: Array<{ id: string; reason: string }>;
}

/**
 * Which named snapshots go: all of them, except those a running backup reuses (`pinned`), which
 * are refused; every other snapshot stays and is not listed. Pure.
 */
export function forgetDecision(named: ReadonlySet<string>): RemovalDecision {
  return (records: readonly CommitRecord[], pinned: ReadonlyMap<string, string>) => {
    const present = records.filter((r) => named.has(r.id));
    return {
      keep: present.filter((r) => pinned.has(r.id)).map((r) => ({ id: r.id, reasons: [pinned.get(r.id)!] })),
      remove: present.filter((r) => !pinned.has(r.id)).map((r) => r.id),
    };
  };
}

/**
 * Forget snapshots. What holds beside other commands on the same repository:
 *
 * - The references are resolved first (an unknown or ambiguous one, or one outside the filter,
 *   fails the command before anything is removed).
 * - Then prune's engine runs with this list in place of a policy: it writes its clock marker,
 *   lists data/, then the leases, then the commit records, and keeps whole every named snapshot
 *   that the fresh lease of a running backup names as a parent (reported as refused). A backup
 *   that chooses a parent after that listing names it in its lease and then lists the commit
 *   records again (backup.ts leaseAndParents): it either no longer finds the forgotten parent
 *   and does not reuse it, or finds it and its check before the commit finds any object gone.
 *   So no committed snapshot ever names an object that is not stored.
 * - Commit records are deleted before any data: an interruption leaves forgotten snapshots
 *   without a record (incomplete data a later prune removes), never a record without its data.
 * - Without `prune`, only the commit records go: every object stays, including those of other
 *   snapshots that the forgotten ones referenced. A later `prune` removes what no snapshot names
 *   (as incomplete data, once its newest object is older than the grace period), or run forget
 *   with `prune` to remove it at once.
 * - With `prune`, an object under a forgotten snapshot's data/<id>/ that a remaining snapshot
 *   references (a parent of a kept incremental snapshot) stays, whole.
 */
export async function forget(options: ForgetOptions): Promise<ForgetReport> {
  if (options.refs.length === 0) throw new CassetteError('E_USAGE', 'forget needs at least one snapshot (an id, a unique prefix, or latest)');
  const named = new Set<string>();
  for (const ref of options.refs) named.add((await resolveSnapshot(options.store, ref, options.filter)).id);
  const report = await removeSnapshots({
    store: options.store,
    decide: forgetDecision(named),
    recordsOnly: !options.prune,
    dryRun: options.dryRun,
    graceMs: options.graceMs,
  });
  return { ...report, refused: report.kept.map((k) => ({ id: k.id, reason: k.reasons.join(', ') })) };
}
