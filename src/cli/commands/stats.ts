// `cassette stats`: entries and bytes of a snapshot, or of every snapshot selected, and (with --all) what the repository holds under data/.

import { Command, Option } from 'commander';
import { requireUnsealed, storeForReading } from '../../crypto/repository-encryption.js';
import type { KeyFlags } from '../../crypto/keys.js';
import { CassetteError } from '../../errors.js';
import type { CommitRecord } from '../../format/types.js';
import { addCounts, countEntry, emptyCounts, heldTotals, storedTotals, type EntryCounts, type HeldTotals, type StoredTotals } from '../../inspect/stats.js';
import { DATA_PREFIX, listSnapshots, objectKeysOf, openIndex, resolveSnapshot } from '../../repository.js';
import { describeFilter, matchesFilter } from '../../snapshot-filter.js';
import type { ObjectStore } from '../../store/object-store.js';
import { openRepo, run, withRepoOptions, type RepoFlags } from '../common.js';
import { withIdentityOptions } from '../keys.js';
import { humanBytes } from '../render.js';
import { snapshotFilter, withSnapshotFilterOptions, type SnapshotFilterFlags } from '../snapshot-filter.js';
import { counted } from '../words.js';

interface StatsFlags extends RepoFlags, KeyFlags, SnapshotFilterFlags {
  all?: boolean;
}

/** One snapshot's stats, as `--json` prints them. */
interface SnapshotStats extends EntryCounts, StoredTotals {
  id: string;
  time: string;
  host: string;
  /** Format version of the commit record: version 1 reuses nothing. */
  version: number;
}

/** What the repository holds, with --all: every committed snapshot's logical size against the objects under data/. */
interface RepositoryStats extends HeldTotals {
  /** Committed snapshots in the repository (all of them, whatever the filter). */
  snapshots: number;
  /** Sum of their tar bytes: what they would take uncompressed and stored apart. */
  tarBytes: number;
}

async function snapshotStats(store: ObjectStore, record: CommitRecord): Promise<SnapshotStats> {
  const counts = emptyCounts();
  for (const artifact of record.artifacts) {
    const index = await openIndex(store, artifact);
    try {
      for await (const entry of index.entries) countEntry(counts, entry);
    } finally {
      index.close();
    }
  }
  return { id: record.id, time: record.startedAt, host: record.host, version: record.version, ...counts, ...storedTotals([record]) };
}

async function repositoryStats(store: ObjectStore, records: readonly CommitRecord[]): Promise<RepositoryStats> {
  const objects: Array<{ key: string; size: number }> = [];
  for await (const object of store.list(DATA_PREFIX)) objects.push({ key: object.key, size: object.size });
  const named = new Set(records.flatMap((record) => objectKeysOf(record)));
  const tarBytes = storedTotals(records).tarBytes;
  return { snapshots: records.length, tarBytes, ...heldTotals(objects, named, tarBytes) };
}

const row = (label: string, value: string, note = ''): string => `  ${label.padEnd(16)}${value.padStart(12)}${note ? `  ${note}` : ''}\n`;

function statsText(stats: EntryCounts & StoredTotals, reuse: boolean): string {
  return (
    row('files:', String(stats.files)) +
    row('directories:', String(stats.directories)) +
    row('others:', String(stats.others), 'symlinks, hard links, special files') +
    row('file bytes:', humanBytes(stats.fileBytes), 'content of the files') +
    row('tar bytes:', humanBytes(stats.tarBytes), 'uncompressed: what a full restore reads out') +
    row('stored:', humanBytes(stats.storedBytes), reuse ? `new: in ${counted(stats.newFrames, 'frame')} of its own` : 'compressed') +
    (reuse ? row('reused:', humanBytes(stats.reusedBytes), `${counted(stats.reusedFrames, 'frame')} read from earlier snapshots`) : '') +
    row('compression:', `${stats.compressionRatio.toFixed(2)}x`, 'tar bytes / (stored + reused)')
  );
}

export function statsCommand(): Command {
  return withSnapshotFilterOptions(
    withIdentityOptions(
      withRepoOptions(
        new Command('stats')
          .description('count the entries and bytes of a snapshot (default: latest), or with --all of every snapshot selected and what the repository holds')
          .argument('[snapshot]', 'snapshot id, unique id prefix, or "latest" (the default)')
          .addOption(new Option('-a, --all', 'every snapshot (those --host, --tag and --path select), and the bytes held under data/ against their logical size')),
      ),
    ),
  ).action(async (ref: string | undefined, flags: StatsFlags) => {
    await run(async () => {
      if (ref !== undefined && flags.all) throw new CassetteError('E_USAGE', 'give a snapshot or --all, not both');
      const store = await storeForReading(openRepo(flags), flags);
      try {
        const filter = snapshotFilter(flags);
        const all = flags.all ? await listSnapshots(store) : [];
        const records = flags.all ? all.filter((record) => matchesFilter(record, filter)) : [await resolveSnapshot(store, ref ?? 'latest', filter)];
        if (records.length === 0) {
          throw new CassetteError(
            'E_SNAPSHOT_NOT_FOUND',
            filter ? `no committed snapshot has ${describeFilter(filter)}` : `the repository ${store.url} has no committed snapshot yet`,
          );
        }
        for (const record of records) requireUnsealed(record, store);
        const snapshots: SnapshotStats[] = [];
        for (const record of records) snapshots.push(await snapshotStats(store, record));
        const total = { ...snapshots.reduce<EntryCounts>((sum, s) => addCounts(sum, s), emptyCounts()), ...storedTotals(records) };
        const repository = flags.all ? await repositoryStats(store, all) : undefined;
        if (flags.json) {
          process.stdout.write(JSON.stringify({ repository: store.url, snapshots, total, ...(repository ? { held: repository } : {}) }, null, 2) + '\n');
          return;
        }
        for (const s of snapshots) process.stdout.write(`snapshot ${s.id} of ${s.time.slice(0, 19).replace('T', ' ')} on ${s.host}\n${statsText(s, s.version >= 2)}`);
        if (repository) {
          process.stdout.write(
            `\n${snapshots.length} snapshot${snapshots.length === 1 ? '' : 's'}${filter ? ` with ${describeFilter(filter)}` : ''}, together\n${statsText(total, true)}`,
          );
          process.stdout.write(
            `\nrepository ${store.url}\n` +
              row('snapshots:', String(repository.snapshots)) +
              row('logical size:', humanBytes(repository.tarBytes), 'tar bytes of every snapshot') +
              row('held:', humanBytes(repository.bytes), `in ${counted(repository.objects, 'object')} under data/ (after compression and reuse)`) +
              (repository.unreferencedObjects
                ? row('not in use:', humanBytes(repository.unreferencedBytes), `in ${counted(repository.unreferencedObjects, 'object')} no committed snapshot names`)
                : '') +
              row('ratio:', `${repository.ratio.toFixed(2)}x`, 'logical size / held'),
          );
        }
      } finally {
        await store.close();
      }
    }, flags.json);
  });
}
