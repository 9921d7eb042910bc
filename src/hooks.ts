// Runs pre/post hooks (shell commands from a plan) with the snapshot id in their environment.

import { CassetteError } from './errors.js';
import type { HookName } from './plan/plan.js';
import { silentProgress, type Progress } from './progress.js';

export interface HookResult {
  hook: HookName;
  command: string;
  exitCode: number;
  /** Last lines of its output, for the record. */
  output: string;
  durationMs: number;
}

export interface HookEnvironment {
  snapshot?: string;
  /** The --root prefix ('' when none). */
  root?: string;
  /** For post hooks: whether the operation succeeded. */
  status?: 'success' | 'failure';
}

/** Run one hook; resolves with its result whatever its exit code (the caller decides). Reports `hook-start` and `hook-done` to `progress`. */
export async function runHook(hook: HookName, command: string, env: HookEnvironment, signal?: AbortSignal, progress: Progress = silentProgress): Promise<HookResult> {
  const started = Date.now();
  progress.event({ type: 'hook-start', hook, command });
  const { execa } = await import('execa');
  const result = await execa(command, {
    shell: '/bin/sh',
    reject: false,
    all: true,
    cancelSignal: signal,
    env: {
      CASSETTE_HOOK: hook,
      CASSETTE_SNAPSHOT: env.snapshot ?? '',
      CASSETTE_ROOT: env.root ?? '',
      ...(env.status ? { CASSETTE_STATUS: env.status } : {}),
    },
  });
  const output = (result.all ?? '').split('\n').slice(-20).join('\n').slice(-4000);
  const exitCode = result.exitCode ?? (result.signal ? 128 : 1);
  const durationMs = Date.now() - started;
  progress.event({ type: 'hook-done', hook, command, exitCode, durationMs });
  return { hook, command, exitCode, output, durationMs };
}

/** Run a hook that must succeed (pre hooks): a failure is E_HOOK quoting its output. */
export async function runRequiredHook(hook: HookName, command: string, env: HookEnvironment, signal?: AbortSignal, progress?: Progress): Promise<HookResult> {
  const result = await runHook(hook, command, env, signal, progress);
  if (result.exitCode !== 0) {
    throw new CassetteError(
      'E_HOOK',
      `${hook} hook \`${command}\` failed with exit ${result.exitCode}${result.output ? `: ${result.output.trim()}` : ''}; nothing was ${hook.endsWith('backup') ? 'read' : 'restored'}`,
    );
  }
  return result;
}
