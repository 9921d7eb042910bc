// The runbook's restore as one call: pre-restore hook, file systems in order (never the utility images), databases last, post-restore hook.

import path from 'node:path';
import { CassetteError, messageOf } from '../errors.js';
import type { ArtifactRecord, CommitRecord } from '../format/types.js';
import { runHook, type HookResult } from '../hooks.js';
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
  /** Run the plan's pre- and post-restore hooks (default true; --no-hooks: a disk being rebuilt has no service to stop yet). */
  hooks?: boolean;
  /** Something that did not stop the restore: a stop hook whose program does not exist (yet). */
  onWarning?: (message: string) => void;
}

export interface PlannedRestoreResult {
  summary: RestoreSummary;
  databases: string[];
  steps: string[];
  /** The post-restore (start) hook failed after everything was restored: reported after the restore's summary, exit E_HOOK. */
  postHookFailure?: Pick<HookResult, 'command' | 'exitCode' | 'output'>;
}

/** The exit status of `/bin/sh -c` when the command is not found (126: found, not executable). */
const NOT_FOUND = new Set([126, 127]);

export async function plannedRestore(options: PlannedRestoreOptions): Promise<PlannedRestoreResult> {
  const { plan, record } = options;
  const steps: string[] = [];
  const step = (text: string): void => {
    steps.push(text);
    options.onStep?.(text);
  };
  const env = { snapshot: record.id, root: options.root ?? '' };
  const exclude = [...(options.exclude ?? []), ...(options.includeProtected ? [] : plan.restoreExclude)];
  const hooks = options.hooks ?? true;
  const pre = hooks ? plan.hooks['pre-restore'] : undefined;
  const post = hooks ? plan.hooks['post-restore'] : undefined;
  if (!hooks && (plan.hooks['pre-restore'] || plan.hooks['post-restore'])) step('skip the pre- and post-restore hooks (--no-hooks)');
  if (pre) {
    // A real run says so by the hook's own events (running … / finished …); a dry run lists it as a step.
    if (options.dryRun) step(`run pre-restore hook: ${pre}`);
    if (!options.dryRun) {
      const result = await runHook('pre-restore', pre, env, options.signal, options.progress);
      if (NOT_FOUND.has(result.exitCode)) {
        // Onto a fresh disk (--root /mnt/sysimage) the service is not installed yet: there is nothing to stop (issue 17).
        options.onWarning?.(`pre-restore hook \`${pre}\`: its program is not there (exit ${result.exitCode}${result.output ? `: ${result.output.trim()}` : ''}): nothing to stop`);
      } else if (result.exitCode !== 0) {
        throw new CassetteError(
          'E_HOOK',
          `pre-restore hook \`${pre}\` failed with exit ${result.exitCode}${result.output ? `: ${result.output.trim()}` : ''}; nothing was restored`,
        );
      }
    }
  }
  let ok = false;
  let outcome: PlannedRestoreResult | undefined;
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
        if (options.dryRun) {
          // The dump is read whole: its frames, new and reused, count in what the dry run says it would download (issue 17).
          summary.downloadBytes += artifact.storedBytes + (artifact.reusedBytes ?? 0);
          continue;
        }
        if (!options.restoreDatabase) throw new CassetteError('E_USAGE', `snapshot has database ${name}, but database restore is not available here`);
        await options.restoreDatabase(artifact);
        databases.push(name);
      }
    }
    ok = true;
    outcome = { summary, databases, steps };
  } finally {
    // The start hook runs after a failed restore too (the service was stopped); its own failure then is second to the restore's.
    if (post) {
      if (options.dryRun) step(`run post-restore hook: ${post}`);
      if (!options.dryRun) {
        const result = await runHook('post-restore', post, { ...env, status: ok ? 'success' : 'failure' }, undefined, options.progress).catch((error: unknown) => ({
          exitCode: -1,
          output: messageOf(error),
        }));
        if (outcome && result.exitCode !== 0) outcome.postHookFailure = { command: post, exitCode: result.exitCode, output: result.output };
      }
    }
  }
  return outcome;
}
