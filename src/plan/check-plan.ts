// Checks an effective plan against this machine before a backup relies on it: sources there and readable, databases reachable, hook programs there, pg_dump on PATH. Reads and connects; writes nothing.

import fs from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { parsePgConnection } from '../pg/connection.js';
import { NO_PASSWORD } from '../pg/tool.js';
import type { HookName, Plan } from './plan.js';

export interface PlanFinding {
  kind: 'source' | 'database' | 'hook' | 'tool';
  /** The path, database, hook or program checked. */
  subject: string;
  /** `problem`: tonight's backup (or a restore) would fail or leave it out; `note`: worth knowing, not a failure. */
  level: 'ok' | 'note' | 'problem';
  message: string;
}

export interface CheckPlanOptions {
  /** The --root prefix, which hooks see as $CASSETTE_ROOT. */
  root?: string;
  /** Runs a program and says how it ended; injected so that tests can fake a missing tool. */
  run?: (file: string, args: string[]) => Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

/** Every finding, sources first, then tools, databases and hooks. */
export async function checkPlan(plan: Plan, options: CheckPlanOptions = {}): Promise<PlanFinding[]> {
  const run = options.run ?? defaultRun;
  const findings: PlanFinding[] = [];
  for (const source of plan.sources) findings.push(await checkSource(source.path, source.optional === true));
  if (plan.databases.length > 0) {
    const version = await run('pg_dump', ['--version']);
    findings.push(
      version.exitCode === 0
        ? { kind: 'tool', subject: 'pg_dump', level: 'ok', message: version.stdout.trim() }
        : {
            kind: 'tool',
            subject: 'pg_dump',
            level: 'problem',
            message: `cannot run pg_dump: ${version.stderr.trim() || `exit ${version.exitCode}`} (install the PostgreSQL client)`,
          },
    );
  }
  for (const database of plan.databases) {
    const connection = parsePgConnection(database.connection);
    const result = await run('psql', ['-XAtq', NO_PASSWORD, '-d', connection.dbname, '-c', 'show server_version']);
    findings.push(
      result.exitCode === 0
        ? { kind: 'database', subject: connection.display, level: 'ok', message: `reachable, server ${result.stdout.trim()}` }
        : { kind: 'database', subject: connection.display, level: 'problem', message: `cannot connect: ${lastLine(result.stderr) || `psql exit ${result.exitCode}`}` },
    );
  }
  for (const [hook, command] of Object.entries(plan.hooks) as Array<[HookName, string]>) findings.push(await checkHook(hook, command, options.root ?? ''));
  return findings;
}

async function checkSource(source: string, optional: boolean): Promise<PlanFinding> {
  const finding = (level: PlanFinding['level'], message: string): PlanFinding => ({ kind: 'source', subject: source, level, message });
  let stat;
  try {
    stat = await fs.stat(source);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return optional ? finding('note', 'not there: skipped, as the plan allows') : finding('problem', 'not there');
    return finding('problem', messageOf(error));
  }
  try {
    await fs.access(source, stat.isDirectory() ? fs.constants.R_OK | fs.constants.X_OK : fs.constants.R_OK);
  } catch {
    return finding('problem', 'not readable by this user');
  }
  return finding('ok', stat.isDirectory() ? 'a readable directory' : 'a readable file');
}

/** A hook's program: the first word of its command, `$CASSETTE_ROOT` expanded; looked up on PATH when it has no slash. */
export function hookProgram(command: string, root: string): string {
  const trimmed = command.trim();
  const word = trimmed.startsWith('"') ? trimmed.slice(1, trimmed.indexOf('"', 1) > 0 ? trimmed.indexOf('"', 1) : undefined) : trimmed.split(/\s+/)[0]!;
  return word.replace(/\$\{CASSETTE_ROOT\}|\$CASSETTE_ROOT/g, root);
}

async function checkHook(hook: HookName, command: string, root: string): Promise<PlanFinding> {
  const program = hookProgram(command, root);
  const finding = (level: PlanFinding['level'], message: string): PlanFinding => ({ kind: 'hook', subject: hook, level, message: `\`${command}\`: ${message}` });
  const found = program.includes('/') ? ((await executable(program)) ? program : undefined) : await onPath(program);
  if (found) return finding('ok', `runs ${found}`);
  // A restore onto a fresh disk has no service to stop yet (the restore skips it with a warning); the start hook's program comes with the restore.
  if (hook === 'pre-restore') return finding('note', `${program} is not there: a restore skips this stop hook with a warning`);
  if (hook === 'post-restore') return finding('note', `${program} is not there now: the restore must bring it`);
  return finding('problem', `${program} is not there or not executable: the ${hook} hook would fail`);
}

async function executable(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    await fs.access(file, fs.constants.X_OK);
    return stat.isFile();
  } catch {
    return false;
  }
}

async function onPath(program: string): Promise<string | undefined> {
  if (['cd', 'echo', 'exit', 'true', 'false', ':', 'test', '['].includes(program)) return `the shell's ${program}`;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, program);
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}

async function defaultRun(file: string, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const { execa } = await import('execa');
  const result = await execa(file, args, { reject: false, timeout: 30_000 });
  return {
    exitCode: result.exitCode ?? 127,
    stdout: result.stdout,
    stderr: result.stderr || (result.exitCode === undefined ? (result.message ?? '') : ''),
  };
}
