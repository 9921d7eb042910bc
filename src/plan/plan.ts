// Backup plans: what a site backs up (sources, databases, roles, hooks, retention), read from YAML/JSON and validated with messages naming the bad key.

import fs from 'node:fs/promises';
import path from 'node:path';
import { CassetteError } from '../errors.js';
import { parsePgConnection, withDatabase } from '../pg/connection.js';

export interface PlanSource {
  /** Absolute path (re-rooted by --root). */
  path: string;
  /** Artifact name; default from the path. */
  name?: string;
  exclude?: string[];
  /** Roles that back this source up; absent = every role. */
  roles?: string[];
  /** Skip (with a warning) when the path does not exist, instead of failing. */
  optional?: boolean;
}

export interface PlanDatabase {
  /** Database name (PG* environment) or postgres:// URI. */
  connection: string;
  format?: 'tar' | 'custom';
  roles?: string[];
}

export type HookName = 'pre-backup' | 'post-backup' | 'pre-restore' | 'post-restore';

export interface Retention {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

export interface Plan {
  /** Name shown in commit records (`profile`). */
  name?: string;
  repository?: string;
  endpoint?: string;
  sources: PlanSource[];
  databases: PlanDatabase[];
  /** Excludes applied to every source. */
  exclude: string[];
  /** Shell commands run at each stage; the re-root prefix is in $CASSETTE_ROOT. */
  hooks: Partial<Record<HookName, string>>;
  compressionLevel?: number;
  /** Artifacts uploaded at once. */
  concurrency?: number;
  retention?: Retention;
  tags: string[];
  /** Globs over artifact/path never restored unless asked for explicitly (the utility images). */
  restoreExclude: string[];
  /** Artifact names in the order restore handles them (others after, in snapshot order). */
  restoreOrder: string[];
  /** Roles this plan knows; the first is the default. */
  roles: string[];
}

const TOP_KEYS = [
  'name',
  'repository',
  'endpoint',
  'sources',
  'databases',
  'exclude',
  'hooks',
  'compressionLevel',
  'concurrency',
  'retention',
  'tags',
  'restoreExclude',
  'restoreOrder',
  'roles',
];
const HOOKS: HookName[] = ['pre-backup', 'post-backup', 'pre-restore', 'post-restore'];
const RETENTION_KEYS = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'];

function bad(where: string, message: string): CassetteError {
  return new CassetteError('E_USAGE', `plan ${where}: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) throw bad(where, 'must be a list of non-empty strings');
  return value as string[];
}

function wholeNumber(value: unknown, where: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw bad(where, `must be a whole number from ${min} to ${max}`);
  return value;
}

function unknownKeys(object: Record<string, unknown>, allowed: string[], where: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw bad(`${where}${where ? '.' : ''}${key}`, `unknown key (expected one of: ${allowed.join(', ')})`);
  }
}

/** Validate a parsed plan document; `file` names it in messages. */
export function validatePlan(document: unknown, file = 'plan'): Plan {
  if (!isObject(document)) throw new CassetteError('E_USAGE', `${file}: a plan must be a mapping with at least "sources" or "databases"`);
  unknownKeys(document, TOP_KEYS, '');
  const sources = (document.sources ?? []) as unknown;
  if (!Array.isArray(sources)) throw bad('sources', 'must be a list');
  const plan: Plan = {
    sources: (sources as unknown[]).map((s, i): PlanSource => {
      const where = `sources[${i}]`;
      const source = typeof s === 'string' ? { path: s } : s;
      if (!isObject(source)) throw bad(where, 'must be a path or a mapping with "path"');
      unknownKeys(source, ['path', 'name', 'exclude', 'roles', 'optional'], where);
      if (source.optional !== undefined && typeof source.optional !== 'boolean') throw bad(`${where}.optional`, 'must be true or false');
      if (typeof source.path !== 'string' || !path.isAbsolute(source.path)) throw bad(`${where}.path`, 'must be an absolute path');
      if (source.name !== undefined && (typeof source.name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(source.name)))
        throw bad(`${where}.name`, 'must use only letters, digits, ".", "_" and "-"');
      return {
        path: source.path,
        name: source.name as string | undefined,
        exclude: stringList(source.exclude, `${where}.exclude`),
        roles: source.roles === undefined ? undefined : stringList(source.roles, `${where}.roles`),
        ...(source.optional ? { optional: true } : {}),
      };
    }),
    databases: [],
    exclude: stringList(document.exclude, 'exclude'),
    hooks: {},
    tags: stringList(document.tags, 'tags'),
    restoreExclude: stringList(document.restoreExclude, 'restoreExclude'),
    restoreOrder: stringList(document.restoreOrder, 'restoreOrder'),
    roles: stringList(document.roles, 'roles'),
  };
  const databases = (document.databases ?? []) as unknown;
  if (!Array.isArray(databases)) throw bad('databases', 'must be a list');
  plan.databases = (databases as unknown[]).map((d, i): PlanDatabase => {
    const where = `databases[${i}]`;
    const db = typeof d === 'string' ? { connection: d } : d;
    if (!isObject(db)) throw bad(where, 'must be a database name, a URI, or a mapping with "connection"');
    unknownKeys(db, ['connection', 'format', 'roles'], where);
    if (typeof db.connection !== 'string' || db.connection === '') throw bad(`${where}.connection`, 'must be a database name or a postgres:// URI');
    if (db.format !== undefined && db.format !== 'tar' && db.format !== 'custom') throw bad(`${where}.format`, 'must be "tar" or "custom"');
    return { connection: db.connection, format: db.format as 'tar' | 'custom' | undefined, roles: db.roles === undefined ? undefined : stringList(db.roles, `${where}.roles`) };
  });
  if (plan.sources.length === 0 && plan.databases.length === 0) throw bad('sources', 'a plan needs at least one source or database');
  if (document.name !== undefined) {
    if (typeof document.name !== 'string') throw bad('name', 'must be a string');
    plan.name = document.name;
  }
  for (const key of ['repository', 'endpoint'] as const) {
    if (document[key] !== undefined) {
      if (typeof document[key] !== 'string') throw bad(key, 'must be a string');
      plan[key] = document[key] as string;
    }
  }
  if (document.hooks !== undefined) {
    if (!isObject(document.hooks)) throw bad('hooks', `must be a mapping of ${HOOKS.join(', ')}`);
    unknownKeys(document.hooks, HOOKS, 'hooks');
    for (const [key, value] of Object.entries(document.hooks)) {
      if (typeof value !== 'string' || value.trim() === '') throw bad(`hooks.${key}`, 'must be a shell command');
      plan.hooks[key as HookName] = value;
    }
  }
  plan.compressionLevel = wholeNumber(document.compressionLevel, 'compressionLevel', 1, 19);
  plan.concurrency = wholeNumber(document.concurrency, 'concurrency', 1, 64);
  if (document.retention !== undefined) {
    if (!isObject(document.retention)) throw bad('retention', `must be a mapping of ${RETENTION_KEYS.join(', ')}`);
    unknownKeys(document.retention, RETENTION_KEYS, 'retention');
    const retention: Retention = {};
    for (const key of RETENTION_KEYS) {
      const value = wholeNumber(document.retention[key], `retention.${key}`, 0, 100_000);
      if (value !== undefined) retention[key as keyof Retention] = value;
    }
    plan.retention = retention;
  }
  return plan;
}

/** Read and validate a YAML or JSON plan file. */
export async function readPlanFile(file: string): Promise<Plan> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new CassetteError('E_USAGE', `cannot read plan file ${file}: ${(error as Error).message}`, { cause: error });
  }
  let document: unknown;
  try {
    document = (await import('yaml')).default.parse(text);
  } catch (error) {
    throw new CassetteError('E_USAGE', `plan file ${file} is not valid YAML or JSON: ${(error as Error).message}`, { cause: error });
  }
  try {
    return validatePlan(document, file);
  } catch (error) {
    if (error instanceof CassetteError) error.message = `${file}: ${error.message}`;
    throw error;
  }
}

export interface EffectivePlanOptions {
  /** Keep the entries of this role (default: the plan's first role). */
  role?: string;
  /** Re-root every source and absolute exclude under this directory. */
  root?: string;
  /** Leave /cassatt/images out. */
  skipImages?: boolean;
  /**
   * Databases to back up under another name (`--pg-name collage=collage_test`): the database
   * name in the plan → the name to use, on the same server with the same credentials. Every
   * key must name one of the plan's databases, so a typo cannot leave the real one in the plan.
   */
  pgNames?: Readonly<Record<string, string>>;
}

/** The plan's entries for a role, re-rooted under `root`, databases renamed by `pgNames`. */
export function effectivePlan(plan: Plan, options: EffectivePlanOptions): Plan {
  const role = options.role ?? plan.roles[0];
  if (options.role && plan.roles.length > 0 && !plan.roles.includes(options.role)) {
    throw new CassetteError('E_USAGE', `unknown role "${options.role}" for plan ${plan.name ?? ''}: expected one of ${plan.roles.join(', ')}`);
  }
  const databases = renameDatabases(plan, options.pgNames ?? {});
  const reroot = (p: string): string => (options.root ? path.resolve(options.root, '.' + p) : p);
  const forRole = <T extends { roles?: string[] }>(items: T[]): T[] => items.filter((item) => !item.roles || !role || item.roles.includes(role));
  const exclude = plan.exclude.map((e) => (e.startsWith('/') ? reroot(e) : e));
  if (options.skipImages) exclude.push(reroot('/cassatt/images'));
  // A source this role does not back up must not be swept into an enclosing source either
  // (the secondary node stores nothing of /cassatt, although it backs up /).
  for (const source of plan.sources) {
    if (source.roles && role && !source.roles.includes(role)) exclude.push(reroot(source.path));
  }
  return {
    ...plan,
    sources: forRole(plan.sources).map((s) => ({ ...s, path: reroot(s.path), exclude: (s.exclude ?? []).map((e) => (e.startsWith('/') ? reroot(e) : e)) })),
    databases: forRole(databases),
    exclude,
  };
}

/** The plan's databases with `pgNames` applied (a URI keeps its server and credentials, only its database changes). */
function renameDatabases(plan: Plan, pgNames: Readonly<Record<string, string>>): PlanDatabase[] {
  if (Object.keys(pgNames).length === 0) return plan.databases;
  const named = plan.databases.map((database) => ({ database, connection: parsePgConnection(database.connection) }));
  for (const [from, to] of Object.entries(pgNames)) {
    if (!named.some((n) => n.connection.database === from)) {
      const known = named.map((n) => n.connection.database);
      throw new CassetteError(
        'E_USAGE',
        `--pg-name ${from}=${to}: plan${plan.name ? ` ${plan.name}` : ''} has no database "${from}" (${known.length > 0 ? `its databases: ${known.join(', ')}` : 'it has none'})`,
      );
    }
    if (to === '' || to.includes('://'))
      throw new CassetteError('E_USAGE', `--pg-name ${from}=${to}: Expected a database name after "=" (for another server, use a plan file with a postgres:// URI)`);
  }
  return named.map(({ database, connection }) => {
    const to = Object.hasOwn(pgNames, connection.database) ? pgNames[connection.database]! : undefined;
    if (to === undefined) return database;
    const renamed = withDatabase(connection, to);
    return { ...database, connection: renamed.uri ?? renamed.database };
  });
}
