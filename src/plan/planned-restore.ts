// The runbook's restore as one call: pre-restore hook, file systems in order (never the utility images), databases last, post-restore hook.

import path from 'node:path';
import { CassetteError, messageOf } from '../errors.js';
import type { ArtifactRecord, CommitRecord } from '../format/types.js';
import { runHook, runRequiredHook } from '../hooks.js';
import { restoreRecord, type RestoreOptions, type RestoreSummary } from '../restore/restore.js';
import type { Plan } from './plan.js';

export interface PlannedRestoreOptions extends Omit<RestoreOptions, 'snapshot' | 'artifactOrder' | 'inPlaceRoot'> {
  plan: Plan;
  record: CommitRecord;
  /** The --root prefix for in-place restores and hooks. */
  root?: string;
  /** Restore what the plan's restoreExclude protects (the utility images). */
  includeProtected?: boolean;
  /** Restore one database artifact (pg/restore-db.ts); injected. Skipped when undefined. */
  restoreDatabase?: (artifact: ArtifactRecord) => Promise<void>;
  /** Skip database artifacts. */
  skipDatabases?: boolean;
  /** Each step as it starts (and, with dryRun, instead of running it). */
  onStep?: (step: string) => void;
}

export interface PlannedRestoreResult {
  summary: RestoreSummary;
  databases: string[];
  steps: string[];
}

export async function plannedRestore(options: PlannedRestoreOptions): Promise<PlannedRestoreResult> {
  const { plan, record } = options;
  const steps: string[] = [];
  const step = (text: string): void => {
    steps.push(text);
    options.onStep?.(text);
  };
  const env = { snapshot: record.id, root: options.root ?? '' };
  const exclude = [...(options.exclude ?? []), ...(options.includeProtected ? [] : plan.restoreExclude)];
  const pre = plan.hooks['pre-restore'];
  const post = plan.hooks['post-restore'];
  if (pre) {
    step(`run pre-restore hook: ${pre}`);
    if (!options.dryRun) await runRequiredHook('pre-restore', pre, env, options.signal, options.progress);
  }
  let ok = false;
  try {
    const summary = await restoreRecord(record, {
      ...options,
      exclude,
      snapshot: record.id,
      artifactOrder: plan.restoreOrder,
      inPlaceRoot: (artifact) => {
        const source = plan.sources.find((s) => s.name === artifact.name);
        if (source) return source.path;
        return options.root ? path.join(path.resolve(options.root), artifact.source) : artifact.source;
      },
      onArtifact: (artifact, destination) => step(`restore ${artifact.name} into ${destination}${exclude.length ? ` (excluding ${exclude.join(', ')})` : ''}`),
    });
    const databases: string[] = [];
    if (!options.skipDatabases) {
      for (const artifact of record.artifacts.filter((a) => a.kind === 'database')) {
        const name = artifact.database?.name ?? artifact.name;
        step(`recreate database ${name}: terminate sessions, dropdb, createdb, pg_restore, ANALYZE`);
        if (options.dryRun) continue;
        if (!options.restoreDatabase) throw new CassetteError('E_USAGE', `snapshot has database ${name}, but database restore is not available here`);
        await options.restoreDatabase(artifact);
        databases.push(name);
      }
    }
    ok = true;
    return { summary, databases, steps };
  } finally {
    if (post) {
      step(`run post-restore hook: ${post}`);
      if (!options.dryRun) {
        const result = await runHook('post-restore', post, { ...env, status: ok ? 'success' : 'failure' }, undefined, options.progress).catch((error: unknown) => ({
          exitCode: -1,
          output: messageOf(error),
        }));
        if (ok && result.exitCode !== 0) {
          // eslint-disable-next-line no-unsafe-finally
          throw new CassetteError('E_HOOK', `restore finished, but the post-restore hook \`${post}\` failed with exit ${result.exitCode}: ${result.output.trim()}`);
        }
      }
    }
  }
}
