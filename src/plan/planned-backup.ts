// Runs a plan's backup: pre-backup hook, every source and database of the role, post-backup hook (always), one snapshot.

import fs from 'node:fs/promises';
import { backup, type BackupOptions, type BackupResult, type BackupSource, type StreamSource } from '../backup/backup.js';
import { CassetteError, messageOf } from '../errors.js';
import { newSnapshotId } from '../format/snapshot-id.js';
import type { HookRecord } from '../format/types.js';
import { runHook, runRequiredHook } from '../hooks.js';
import type { Plan, PlanDatabase } from './plan.js';

export interface PlannedBackupOptions extends Omit<BackupOptions, 'sources' | 'snapshotId' | 'hooks' | 'beforeCommit'> {
  /** The effective plan (role applied, re-rooted). */
  plan: Plan;
  /** The --root prefix, passed to hooks as $CASSETTE_ROOT. */
  root?: string;
  /** Makes the stream source of a database (pg/dump.ts); injected so plans without databases need no PostgreSQL. */
  databaseSource?: (database: PlanDatabase) => StreamSource;
  /** Told about skipped optional sources. */
  onNotice?: (message: string) => void;
}

export interface PlannedBackupResult extends BackupResult {
  /** Set when the post-backup hook failed after the snapshot was committed. */
  postHookFailure?: HookRecord;
}

export async function plannedBackup(options: PlannedBackupOptions): Promise<PlannedBackupResult> {
  const { plan } = options;
  const id = newSnapshotId();
  const env = { snapshot: id, root: options.root ?? '' };
  const sources: BackupSource[] = [];
  for (const source of plan.sources) {
    const exists = await fs.lstat(source.path).then(
      () => true,
      () => false,
    );
    if (!exists && source.optional) {
      options.onNotice?.(`skipping ${source.path}: it does not exist (optional in plan ${plan.name ?? ''})`);
      continue;
    }
    sources.push({ kind: 'tree', path: source.path, name: source.name, exclude: source.exclude });
  }
  for (const database of plan.databases) {
    if (!options.databaseSource) throw new CassetteError('E_USAGE', `plan lists database ${database.connection}, but database backups are not available here`);
    sources.push(options.databaseSource(database));
  }

  const hooks: HookRecord[] = [];
  const pre = plan.hooks['pre-backup'];
  const post = plan.hooks['post-backup'];
  let postRecord: HookRecord | undefined;
  try {
    // A failing pre hook stops everything before any data is read (the post hook still runs, below).
    if (pre) hooks.push(await runRequiredHook('pre-backup', pre, env, options.signal, options.progress));
    const result = await backup({
      ...options,
      sources,
      snapshotId: id,
      tags: [...(options.tags ?? []), ...plan.tags],
      exclude: [...(options.exclude ?? []), ...plan.exclude],
      profile: options.profile ?? plan.name,
      hooks,
      beforeCommit: async () => {
        if (!post) return [];
        postRecord = await runHook('post-backup', post, { ...env, status: 'success' }, undefined, options.progress);
        return [postRecord];
      },
    });
    return { ...result, ...(postRecord && postRecord.exitCode !== 0 ? { postHookFailure: postRecord } : {}) };
  } catch (error) {
    if (post && !postRecord) {
      // The service must be resumed even when the backup failed.
      const record = await runHook('post-backup', post, { ...env, status: 'failure' }, undefined, options.progress).catch((e: unknown) => ({ exitCode: -1, output: messageOf(e) }));
      if (error instanceof CassetteError) {
        error.message += `; post-backup hook ran after the failure (exit ${record.exitCode})`;
      }
    }
    throw error;
  }
}
