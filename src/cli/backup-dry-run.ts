// `cassette backup --dry-run`: what a backup would read and store, printed; nothing is written to the repository and no hook runs.

import fs from 'node:fs/promises';
import type { BackupOptions, BackupSource, StreamSource } from '../backup/backup.js';
import { dryRunBackup, type DryRunSummary } from '../backup/dry-run.js';
import type { Plan, PlanDatabase } from '../plan/plan.js';
import type { ObjectStore } from '../store/object-store.js';
import { humanBytes } from './render.js';
import { counted, entries } from './words.js';

export type BackupDryRunOptions = Pick<
  BackupOptions,
  'exclude' | 'excludeCaches' | 'excludeLargerThan' | 'oneFileSystem' | 'compressionLevel' | 'parent' | 'full' | 'forceRead' | 'encryption' | 'signal'
> & {
  store: ObjectStore;
  plan: Plan;
  databaseSource: (database: PlanDatabase) => StreamSource;
  json: boolean;
};

/** Walks the plan's sources as the backup would (optional ones that do not exist skipped) and prints what it would do; entries as NDJSON with --json. */
export async function printBackupDryRun(options: BackupDryRunOptions): Promise<DryRunSummary> {
  const { plan, json } = options;
  const sources: BackupSource[] = [];
  for (const source of plan.sources) {
    const exists = await fs.lstat(source.path).then(
      () => true,
      () => false,
    );
    if (!exists && source.optional) continue;
    sources.push({ kind: 'tree', path: source.path, name: source.name, exclude: source.exclude });
  }
  // Making a database's source starts nothing (pg/dump.ts): only its name and connection are used here.
  for (const database of plan.databases) sources.push(options.databaseSource(database));
  const summary = await dryRunBackup({
    ...options,
    sources,
    exclude: [...(options.exclude ?? []), ...plan.exclude],
    onEntry: json
      ? (artifact, entry) =>
          process.stdout.write(JSON.stringify({ type: 'entry', artifact, path: entry.path, entryType: entry.type, size: entry.size, status: entry.status }) + '\n')
      : undefined,
  });
  if (json) {
    process.stdout.write(JSON.stringify({ type: 'summary', dryRun: true, repository: options.store.url, ...summary }) + '\n');
    return summary;
  }
  for (const a of summary.artifacts) {
    if (a.kind === 'database') {
      process.stderr.write(`  ${a.name.padEnd(20)} database ${a.source}: would be dumped (its size is known only by dumping it)\n`);
      continue;
    }
    const compared = a.parent ? `, ${a.unchangedFiles} unchanged (${humanBytes(a.unchangedBytes)}) since ${a.parent}` : ', no parent: every file is new';
    const leftOut = a.leftOut.files > 0 ? `; ${a.leftOut.files} larger files left out (${humanBytes(a.leftOut.bytes)})` : '';
    process.stderr.write(
      `  ${a.name.padEnd(20)} ${entries(a.entries).padStart(16)}, ${counted(a.files, 'file')} (${humanBytes(a.bytes)}): ${a.newFiles} new (${humanBytes(a.newBytes)}), ${a.changedFiles} changed (${humanBytes(a.changedBytes)})${compared}${leftOut}\n`,
    );
  }
  const hooks = plan.hooks['pre-backup'] || plan.hooks['post-backup'] ? "; the plan's hooks were not run" : '';
  process.stdout.write(
    `dry run: would read ${humanBytes(summary.bytesToRead)} and store at most ${humanBytes(summary.bytesToStoreAtMost)} before compression${summary.unchangedBytes > 0 ? `; ${humanBytes(summary.unchangedBytes)} unchanged` : ''}; nothing was written to ${options.store.url}${hooks}\n`,
  );
  return summary;
}
