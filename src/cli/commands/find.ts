// `cassette find`: which snapshots hold paths matching patterns, from commit records and indexes only (no archive is read).

import { Command } from 'commander';
import { requireUnsealed, storeForReading } from '../../crypto/repository-encryption.js';
import type { KeyFlags } from '../../crypto/keys.js';
import { CassetteError } from '../../errors.js';
import type { CommitRecord } from '../../format/types.js';
import { findEntries, type FoundEntry } from '../../inspect/find.js';
import { compareSnapshots, listSnapshots, openIndex, resolveSnapshot } from '../../repository.js';
import { describeFilter, matchesFilter } from '../../snapshot-filter.js';
import { collect, openRepo, run, withRepoOptions, type RepoFlags } from '../common.js';
import { withIdentityOptions } from '../keys.js';
import { snapshotFilter, withSnapshotFilterOptions, type SnapshotFilterFlags } from '../snapshot-filter.js';
import { modeString } from './ls.js';

interface FindFlags extends RepoFlags, KeyFlags, SnapshotFilterFlags {
  snapshot?: string[];
  exclude?: string[];
}

/** `2026-11-30 12:00:00` (UTC) from an index mtime. */
export function mtimeText(mtime: string): string {
  return new Date(Number(mtime.split('.')[0]) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

export function findCommand(): Command {
  return withSnapshotFilterOptions(
    withIdentityOptions(
      withRepoOptions(
        new Command('find')
          .description('list the snapshots holding entries that match patterns (from the indexes alone: no archive is read)')
          .argument('<patterns...>', 'globs over artifact/path, as ls and restore --include take them ("etc/ssh/**", "srv-data/**/*.log")')
          .option('-e, --exclude <glob>', 'leave out matching entries (repeatable), as ls does', collect)
          .option('-s, --snapshot <id>', 'search only this snapshot (id, unique prefix or "latest"; repeatable)', collect),
      ),
    ),
  ).action(async (patterns: string[], flags: FindFlags) => {
    await run(async () => {
      const store = await storeForReading(openRepo(flags), flags);
      try {
        const filter = snapshotFilter(flags);
        const records: CommitRecord[] = flags.snapshot?.length
          ? await Promise.all(flags.snapshot.map((ref) => resolveSnapshot(store, ref, filter)))
          : (await listSnapshots(store)).filter((record) => matchesFilter(record, filter));
        if (records.length === 0) {
          throw new CassetteError(
            'E_SNAPSHOT_NOT_FOUND',
            filter ? `no committed snapshot has ${describeFilter(filter)}` : `the repository ${store.url} has no committed snapshot yet`,
          );
        }
        // Every snapshot is checked before any is searched: no partial listing ends in a key error.
        for (const record of records) requireUnsealed(record, store);
        // Oldest first, each once, however the --snapshot flags named them.
        const byId = new Map(records.sort(compareSnapshots).map((record) => [record.id, record]));
        let matches = 0;
        const snapshots = new Set<string>();
        const out: string[] = [];
        const flush = (): void => {
          if (out.length) process.stdout.write(out.join(''));
          out.length = 0;
        };
        for await (const found of findEntries([...byId.values()], { patterns, exclude: flags.exclude, openIndex: (artifact) => openIndex(store, artifact) })) {
          matches++;
          if (!snapshots.has(found.snapshot)) {
            snapshots.add(found.snapshot);
            if (!flags.json) out.push(`${snapshots.size > 1 ? '\n' : ''}${snapshotHeading(byId.get(found.snapshot)!)}\n`);
          }
          out.push(flags.json ? JSON.stringify({ type: 'match', ...found }) + '\n' : foundLine(found));
          if (out.length >= 1000) flush();
        }
        flush();
        if (matches === 0) {
          throw new CassetteError(
            'E_NOT_FOUND',
            `no entry matches ${patterns.map((p) => JSON.stringify(p)).join(' or ')} in ${byId.size} snapshot${byId.size === 1 ? '' : 's'} (patterns match artifact/path, as ls prints it)`,
          );
        }
        const summary = { matches, snapshots: snapshots.size, searched: byId.size };
        if (flags.json) process.stdout.write(JSON.stringify({ type: 'summary', ...summary }) + '\n');
        else process.stderr.write(`${matches} match${matches === 1 ? '' : 'es'} in ${snapshots.size} of ${byId.size} snapshot${byId.size === 1 ? '' : 's'}\n`);
      } finally {
        await store.close();
      }
    }, flags.json);
  });
}

function snapshotHeading(record: CommitRecord): string {
  return `snapshot ${record.id} of ${record.startedAt.slice(0, 19).replace('T', ' ')} on ${record.host}${record.tags.length ? ` [${record.tags.join(',')}]` : ''}`;
}

function foundLine(found: FoundEntry): string {
  const link = found.link !== undefined ? (found.entryType === 'hardlink' ? ` link to ${found.link}` : ` -> ${found.link}`) : '';
  return `  ${modeString({ type: found.entryType, mode: found.mode })} ${String(found.size).padStart(12)} ${mtimeText(found.mtime)}  ${found.artifact}/${found.path}${link}\n`;
}
