// Parses a `--pg` value (a database name or a postgres:// URI) into the arguments pg_dump, pg_restore, psql, createdb and dropdb need; runs nothing.

import { CassetteError } from '../errors.js';

/** Where a database is, as given by the user. Build with parsePgConnection or withDatabase. */
export interface PgConnection {
  /** The database name (`collage`). */
  readonly database: string;
  /** For messages and the commit record: the name, or the URI without its password. Never holds a password. */
  readonly display: string;
  /**
   * The value for `-d` / `--maintenance-db`: the name (host, port and user then come from the
   * standard PG* environment variables and ~/.pgpass) or the full URI (password included).
   */
  readonly dbname: string;
  /** The URI, when one was given (password included). */
  readonly uri?: string;
}

const URI_PATTERN = /^postgres(?:ql)?:\/\//i;

/** `postgres://user:secret@host/db` → `postgres://user@host/db`, for messages about a value that would not parse. */
function redact(value: string): string {
  return value.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/i, '$1@');
}

/**
 * A libpq `dbname` value for a plain name: libpq reads a dbname containing `=` as a whole
 * connection string, so such a name is passed as `dbname='…'` (quotes and backslashes escaped).
 */
function dbnameFor(name: string): string {
  if (!name.includes('=')) return name;
  return `dbname='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The parts of a libpq URI, `postgresql://[userspec@][hostspec][/dbname][?paramspec]`, split as
 * strings: WHATWG URL rejects valid libpq URIs (several hosts, `h1:5432,h2:5433`) and
 * URLSearchParams would re-encode values (`+`) that libpq reads literally.
 */
interface UriParts {
  scheme: string;
  authority: string;
  path: string;
  params: string[];
}

function splitUri(uri: string): UriParts {
  const scheme = URI_PATTERN.exec(uri)![0];
  let rest = uri.slice(scheme.length);
  const q = rest.indexOf('?');
  const params =
    q === -1
      ? []
      : rest
          .slice(q + 1)
          .split('&')
          .filter((p) => p !== '');
  if (q !== -1) rest = rest.slice(0, q);
  const slash = rest.indexOf('/');
  return { scheme, authority: slash === -1 ? rest : rest.slice(0, slash), path: slash === -1 ? '' : rest.slice(slash + 1), params };
}

function joinUri(parts: UriParts): string {
  return `${parts.scheme}${parts.authority}${parts.path === '' ? '' : `/${parts.path}`}${parts.params.length > 0 ? `?${parts.params.join('&')}` : ''}`;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function databaseOfUri(parts: UriParts): string {
  const param = parts.params.find((p) => p.startsWith('dbname='));
  return decode(param ? param.slice('dbname='.length) : parts.path);
}

function displayOfUri(parts: UriParts): string {
  const at = parts.authority.lastIndexOf('@');
  let authority = parts.authority;
  if (at !== -1) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    authority = `${colon === -1 ? userinfo : userinfo.slice(0, colon)}@${authority.slice(at + 1)}`;
  }
  return joinUri({ ...parts, authority, params: parts.params.filter((p) => !p.startsWith('password=')) });
}

/**
 * Parse a `--pg` value: a plain database name (connection from PG* environment variables), or a
 * `postgres://` / `postgresql://` URI that names its database (path or `?dbname=`).
 */
export function parsePgConnection(value: string): PgConnection {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new CassetteError('E_USAGE', 'Expected a database name or a postgres:// URI, got an empty value');
  }
  if (!URI_PATTERN.test(value)) {
    if (value.includes('://')) throw new CassetteError('E_USAGE', `"${redact(value)}" is neither a database name nor a postgres:// or postgresql:// URI`);
    return { database: value, display: value, dbname: dbnameFor(value) };
  }
  const parts = splitUri(value);
  const database = databaseOfUri(parts);
  if (database === '') {
    throw new CassetteError('E_USAGE', `URI ${displayOfUri(parts)} names no database: add it as the path, e.g. postgres://host/collage`);
  }
  return { database, display: displayOfUri(parts), dbname: value, uri: value };
}

/** The same server and credentials, another database (`--pg-target`, the maintenance database). */
export function withDatabase(connection: PgConnection, database: string): PgConnection {
  if (database === '') throw new CassetteError('E_USAGE', 'Expected a database name, got an empty string');
  if (!connection.uri) return { database, display: database, dbname: dbnameFor(database) };
  const parts = splitUri(connection.uri);
  const encoded = encodeURIComponent(database);
  const uri = joinUri({ ...parts, path: encoded, params: parts.params.map((p) => (p.startsWith('dbname=') ? `dbname=${encoded}` : p)) });
  return { database, display: displayOfUri(splitUri(uri)), dbname: uri, uri };
}

/**
 * The database to connect to for createdb, dropdb and terminating sessions: `postgres`, or
 * `template1` when the database itself is `postgres` (a session cannot drop its own database).
 */
export function maintenanceConnection(connection: PgConnection): PgConnection {
  return withDatabase(connection, connection.database === 'postgres' ? 'template1' : 'postgres');
}

/** `-d <name or URI>` for pg_dump, pg_restore and psql. */
export function connectionArgs(connection: PgConnection): string[] {
  return ['-d', connection.dbname];
}

/** `--maintenance-db <…>` for createdb and dropdb (which take the database to act on as an operand). */
export function maintenanceArgs(connection: PgConnection): string[] {
  return ['--maintenance-db', maintenanceConnection(connection).dbname];
}

/** `pg-<name>`, characters outside [A-Za-z0-9._-] replaced by `_` (docs/FORMAT.md §1). */
export function databaseArtifactName(database: string): string {
  return `pg-${database.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** A SQL string literal for `value` (works whatever `standard_conforming_strings` is). */
export function sqlLiteral(value: string): string {
  const quoted = `'${value.replace(/'/g, "''")}'`;
  return value.includes('\\') ? `E${quoted.replace(/\\/g, '\\\\')}` : quoted;
}
