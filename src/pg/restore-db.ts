// Restores a database artifact the runbook's way (terminate sessions, dropdb, createdb, pg_restore from the stream, ANALYZE), or writes its dump file.
//
// The dump streams: ranged GETs → frames decompressed in the pool → SHA-256 → pg_restore stdin
// (or a temporary file renamed into place). Nothing is staged on disk. The last frame is held
// back until the whole dump's SHA-256 matched the index, so a pg_restore fed a stream that does
// not match its index never sees the end of its input: it is stopped instead.
//
// Why `--exit-on-error`: without it pg_restore carries on past a failed statement and ends with
// "errors ignored on restore: N", having spent the whole download on a database that is
// incomplete anyway; later errors are mostly consequences of the first. Stopping at the first
// error quotes the cause, stops the download, and the sequence reports the half-restored state.
// (`--single-transaction` would make it all-or-nothing, but a dump with many large objects then
// runs out of lock table space: max_locks_per_transaction.) `-j` is not possible from a pipe.

import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { DEFAULTS } from '../defaults.js';
import { CassetteError, isCassetteError, messageOf } from '../errors.js';
import type { ArtifactRecord, CommitRecord, IndexEntry } from '../format/types.js';
import { openIndex } from '../repository.js';
import { readFrames } from '../restore/read-frames.js';
import type { ObjectStore } from '../store/object-store.js';
import { FramePool } from '../zstd/pool.js';
import { connectionArgs, maintenanceArgs, maintenanceConnection, parsePgConnection, sqlLiteral, withDatabase, type PgConnection } from './connection.js';
import { describeEnd, FIELD_SEPARATOR, NO_PASSWORD, psql, quoteStderr, runTool, StderrTail } from './tool.js';

/** Steps of a database restore, in order, as reported through `onStep` and returned in `steps`. */
export type RestoreStep = 'check' | 'terminate' | 'dropdb' | 'createdb' | 'pg_restore' | 'analyze' | 'write-dump';

export interface RestoreDatabaseOptions {
  store: Pick<ObjectStore, 'get' | 'getBuffer'>;
  /** The snapshot (already resolved). */
  record: CommitRecord;
  /**
   * The database as backed up: its name, or the URI given to `--pg` (its database name is used to
   * find the artifact, and the URI as the server to restore to unless `connection` is given).
   */
  database: string;
  /** Restore under this name instead (`--pg-target`): the original database is not touched. */
  target?: string;
  /** Refuse when the target database exists, touching nothing (`--no-drop`). */
  noDrop?: boolean;
  /** Only write the dump file here (temporary name, then renamed); no database is touched. */
  dumpTo?: string;
  /** Server to restore to, as a name or postgres:// URI (its database part is replaced by the target); default the PG* environment. */
  connection?: string;
  signal?: AbortSignal;
  /** Share a pool (the caller closes it); by default one is made and closed here. */
  pool?: FramePool;
  /** Ranged GETs in flight (default DEFAULTS.fetchConcurrency). */
  fetchConcurrency?: number;
  /** Called as each step starts, with a detail (owner notes…); `terminate` is reported again with the number of sessions it ended. */
  onStep?: (step: RestoreStep, detail?: string) => void;
}

export interface RestoreDatabaseResult {
  /** The database restored into (or the original name with dumpTo). */
  database: string;
  /** Dump bytes streamed. */
  bytes: number;
  /** Steps completed, in order. */
  steps: RestoreStep[];
}

/** The snapshot's artifact for a database name: kind `database` whose `database.name` (or, for records without details, `source`) matches. */
export function findDatabaseArtifact(record: CommitRecord, database: string): ArtifactRecord {
  const databases = record.artifacts.filter((a) => a.kind === 'database');
  const found = databases.find((a) => a.database?.name === database) ?? databases.find((a) => !a.database && a.source === database);
  if (!found) {
    const names = databases.map((a) => a.database?.name ?? a.source);
    throw new CassetteError(
      'E_USAGE',
      `snapshot ${record.id} has no dump of database ${database}${names.length > 0 ? ` (it has: ${names.join(', ')})` : ' (it has no database artifacts)'}`,
    );
  }
  return found;
}

/** The index's entry for the dump, and the tar size it covers. */
async function dumpEntry(
  store: Pick<ObjectStore, 'get'>,
  artifact: ArtifactRecord,
): Promise<{ entry: IndexEntry & { sha256: string }; frames: Awaited<ReturnType<typeof openIndex>>['frames']; tarSize: number }> {
  const index = await openIndex(store, artifact);
  // Read to the end (one entry): that checks the entry count and lets the object stream close itself.
  let entry: IndexEntry | undefined;
  try {
    for await (const e of index.entries) entry ??= e;
  } catch (error) {
    index.close();
    throw error;
  }
  if (!entry || entry.type !== 'file' || typeof entry.sha256 !== 'string') {
    throw new CassetteError('E_FORMAT', `index ${artifact.index.key} has no dump entry with a SHA-256`);
  }
  if (entry.dataOffset !== 0 || entry.size !== index.header.tarSize) {
    throw new CassetteError(
      'E_FORMAT',
      `index ${artifact.index.key}: the dump entry (${entry.size} bytes at ${entry.dataOffset}) does not cover the artifact's ${index.header.tarSize} bytes`,
    );
  }
  return { entry: { ...entry, sha256: entry.sha256 }, frames: index.frames, tarSize: index.header.tarSize };
}

/** Waits until a writable can take more, has gone away, or `gone` settles. */
async function drained(stream: Writable, gone: Promise<unknown>): Promise<void> {
  const stop = new AbortController();
  try {
    await Promise.race([once(stream, 'drain', { signal: stop.signal }), once(stream, 'close', { signal: stop.signal }), gone]);
  } catch {
    // An error on the stream: the caller sees that the reader went away.
  } finally {
    stop.abort();
  }
}

/**
 * Restore one database artifact of a snapshot: into a database (the runbook's sequence) or, with
 * `dumpTo`, as a dump file. Failures are E_DATABASE naming the step and what state it left;
 * a stream that differs from the index is E_INTEGRITY.
 */
export async function restoreDatabase(options: RestoreDatabaseOptions): Promise<RestoreDatabaseResult> {
  const given = parsePgConnection(options.database);
  const artifact = findDatabaseArtifact(options.record, given.database);
  const info = artifact.database;
  const steps: RestoreStep[] = [];
  const step = (name: RestoreStep, detail?: string): void => {
    options.onStep?.(name, detail);
  };
  const pool = options.pool ?? new FramePool({ threads: Math.min(DEFAULTS.threads, 4) });
  try {
    const { entry, frames, tarSize } = await dumpEntry(options.store, artifact);
    // Frames are decoded into the pool's shared memory and given back once written (release):
    // without that, every 4 MiB frame was a new buffer and the collector let them pile up (464 MiB peak).
    async function* frameStream(signal?: AbortSignal): AsyncGenerator<SharedFrame> {
      for await (const { data } of readFrames([{ start: 0, end: tarSize }], {
        store: options.store,
        artifact,
        frames,
        pool,
        concurrency: options.fetchConcurrency ?? DEFAULTS.fetchConcurrency,
        signal,
        shared: true,
      })) {
        yield { data, release: () => pool.release(data) };
      }
    }
    const mismatch = (bytes: number, sha256: string): string | undefined => {
      if (bytes !== entry.size) return `${bytes} bytes streamed, the index says ${entry.size}`;
      if (sha256 !== entry.sha256) return `SHA-256 ${sha256}, the index says ${entry.sha256}`;
      return undefined;
    };

    const { dumpTo } = options;
    if (dumpTo !== undefined) {
      step('write-dump', dumpTo);
      const bytes = await writeDumpFile(dumpTo, frameStream(options.signal), (b, h) => {
        const problem = mismatch(b, h);
        if (problem)
          throw new CassetteError('E_INTEGRITY', `dump of ${given.database} from snapshot ${options.record.id} does not match its index (${problem}); ${dumpTo} was not written`);
      });
      steps.push('write-dump');
      return { database: given.database, bytes, steps };
    }

    const server = options.connection !== undefined ? parsePgConnection(options.connection) : given;
    const target = withDatabase(server, options.target ?? given.database);
    const maintenance = maintenanceConnection(target);
    const fail = (what: string, state: string, outcome: { stderr: string; end: string; canceled: boolean }): never => {
      if (outcome.canceled || options.signal?.aborted) throw new CassetteError('E_ABORTED', `restore of database ${target.display} interrupted during ${what}; ${state}`);
      throw new CassetteError('E_DATABASE', `${what} failed (${outcome.end}); ${state}: ${quoteStderr(outcome.stderr)}`);
    };
    const run = { signal: options.signal };

    // 1. Does the target exist, does the owner role exist here, which server version?
    step('check', target.display);
    const owner = info?.owner;
    const checked = await psql(
      connectionArgs(maintenance),
      [
        `select (select count(*) from pg_database where datname = ${sqlLiteral(target.database)}),`,
        owner ? `(select count(*) from pg_roles where rolname = ${sqlLiteral(owner)}),` : '0,',
        "current_setting('server_version_num')::int",
      ].join(' '),
      run,
    );
    if (!checked.ok) fail(`checking database ${target.display} on ${maintenance.display}`, 'nothing was changed', checked);
    const [exists, ownerExists, versionNum] = checked.stdout.split(FIELD_SEPARATOR).map(Number);
    steps.push('check');
    let state = 'nothing was changed';

    if (exists) {
      if (options.noDrop) {
        throw new CassetteError(
          'E_DATABASE',
          `database ${target.display} already exists and dropping was refused (--no-drop): nothing was changed; restore under another name with --pg-target`,
        );
      }
      // 2. Other sessions would make dropdb fail.
      step('terminate', `other sessions on ${target.database}`);
      const terminated = await psql(
        connectionArgs(maintenance),
        `select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = ${sqlLiteral(target.database)} and pid <> pg_backend_pid()`,
        run,
      );
      if (!terminated.ok) fail(`terminating sessions on ${target.display}`, 'nothing was dropped', terminated);
      if (Number(terminated.stdout) > 0) step('terminate', `${terminated.stdout} session(s) terminated`);
      steps.push('terminate');
      state = 'its other sessions were terminated, nothing was dropped';

      // 3. dropdb; --force (server 13+) also ends sessions that connected since step 2.
      step('dropdb', target.database);
      const dropped = await runTool('dropdb', [NO_PASSWORD, ...maintenanceArgs(target), ...(versionNum! >= 130000 ? ['--force'] : []), '--', target.database], run);
      if (!dropped.ok) fail(`dropdb ${target.display}`, state, dropped);
      steps.push('dropdb');
      state = `the database was dropped`;
    }

    // 4. createdb with the recorded owner, encoding and locale (template0: the only template that accepts any encoding and locale, and has no local additions).
    const createArgs = [NO_PASSWORD, ...maintenanceArgs(target), '-T', 'template0'];
    let createNote: string | undefined;
    if (owner && ownerExists) createArgs.push('-O', owner);
    else if (owner) createNote = `role ${owner}, the recorded owner, does not exist here: the database is owned by the connecting user`;
    if (info?.encoding) createArgs.push('-E', info.encoding);
    if (info?.collate) createArgs.push('--lc-collate', info.collate);
    if (info?.ctype) createArgs.push('--lc-ctype', info.ctype);
    step('createdb', createNote ?? `${target.database}${owner && ownerExists ? ` owned by ${owner}` : ''}`);
    const created = await runTool('createdb', [...createArgs, '--', target.database], run);
    if (!created.ok) fail(`createdb ${target.display}`, exists ? `${state} and does not exist now` : state, created);
    steps.push('createdb');
    const madeState = exists ? 'after the database was dropped and re-created' : 'after the database was created';

    // 5. pg_restore from the stream.
    step('pg_restore', `${entry.size} bytes, ${info?.dumpFormat ?? 'tar'} format`);
    const bytes = await pgRestore(target, frameStream, {
      signal: options.signal,
      check: mismatch,
      describe: `pg_restore into ${target.display}`,
      madeState,
      snapshot: options.record.id,
    });
    steps.push('pg_restore');

    // 6. ANALYZE, as the runbook: pg_restore leaves the planner without statistics.
    step('analyze', target.database);
    const analyzed = await psql(connectionArgs(target), 'ANALYZE', run);
    if (!analyzed.ok) fail(`ANALYZE of ${target.display}`, 'the restore itself completed', analyzed);
    steps.push('analyze');
    return { database: target.database, bytes, steps };
  } finally {
    if (!options.pool) await pool.close();
  }
}

interface PgRestoreOptions {
  signal?: AbortSignal;
  /** Returns a description of how the streamed bytes differ from the index, or undefined. */
  check: (bytes: number, sha256: string) => string | undefined;
  /** `pg_restore into X`. */
  describe: string;
  /** `after the database was dropped and re-created`. */
  madeState: string;
  snapshot: string;
}

/** A decoded frame in shared memory; `release` gives the memory back once the bytes were written. */
interface SharedFrame {
  data: Buffer;
  release: () => void;
}

async function pgRestore(target: PgConnection, frames: (signal: AbortSignal) => AsyncGenerator<SharedFrame>, options: PgRestoreOptions): Promise<number> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const { execa } = await import('execa'); // loaded on first use (see runTool)
  const child = execa('pg_restore', [NO_PASSWORD, '--exit-on-error', ...connectionArgs(target)], {
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    cancelSignal: stop.signal,
    forceKillAfterDelay: 5000,
  });
  const errors = new StderrTail().attach(child.stderr);
  const stdin = child.stdin!;
  stdin.on('error', () => undefined);
  let exited = false;
  const done = child.then((result) => {
    exited = true;
    return result;
  });
  const hash = createHash('sha256');
  let bytes = 0;
  let held: SharedFrame | undefined;
  let streamError: unknown;
  // The pipe has taken the bytes (or is gone) when the write's callback runs: then the memory is free.
  const send = (frame: SharedFrame): boolean => {
    if (exited || stdin.destroyed) {
      frame.release();
      return true;
    }
    return stdin.write(frame.data, () => frame.release());
  };
  try {
    for await (const frame of frames(stop.signal)) {
      hash.update(frame.data);
      bytes += frame.data.length;
      if (held && !send(held)) await drained(stdin, done);
      held = frame;
      // pg_restore failed: stop downloading. (Exit 0 before the end is normal: -Ft and -Fc end in bytes it does not need; keep hashing.)
      if (exited && (await done).failed) break;
    }
  } catch (error) {
    streamError = error;
  }
  const problem = streamError === undefined && !(exited && (await done).failed) ? options.check(bytes, hash.digest('hex')) : undefined;
  if (streamError === undefined && problem === undefined) {
    if (held) send(held);
    if (!stdin.destroyed) stdin.end();
  } else {
    // The stream failed or does not match its index: pg_restore must not see the end of its input.
    stop.abort(streamError ?? new CassetteError('E_INTEGRITY', problem!));
  }
  const result = await done;
  options.signal?.removeEventListener('abort', onAbort);

  if (options.signal?.aborted) {
    throw new CassetteError('E_ABORTED', `${options.describe} interrupted ${options.madeState}: the database is incomplete`, { cause: options.signal.reason });
  }
  if (problem !== undefined) {
    throw new CassetteError(
      'E_INTEGRITY',
      `dump from snapshot ${options.snapshot} does not match its index (${problem}): ${options.describe} was stopped ${options.madeState}; do not use the database`,
    );
  }
  if (streamError !== undefined && !(result.failed && !result.isCanceled)) {
    const reason = isCassetteError(streamError) ? streamError.message : messageOf(streamError);
    throw new CassetteError(
      isCassetteError(streamError) ? streamError.code : 'E_STORAGE',
      `reading the dump for ${options.describe} failed ${options.madeState}; the database is incomplete: ${reason}`,
      { cause: streamError },
    );
  }
  if (result.failed) {
    throw new CassetteError('E_DATABASE', `${options.describe} failed (${describeEnd(result)}) ${options.madeState}; the database is incomplete: ${quoteStderr(errors.text)}`);
  }
  return bytes;
}

/** Write the dump to `file` through a temporary name in the same directory; `verify` throws to keep the file from appearing. */
async function writeDumpFile(file: string, frames: AsyncIterable<SharedFrame>, verify: (bytes: number, sha256: string) => void): Promise<number> {
  const temp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.cassette-${randomBytes(4).toString('hex')}`);
  const hash = createHash('sha256');
  let bytes = 0;
  let out: ReturnType<typeof createWriteStream> | undefined;
  try {
    out = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
    const failed = new Promise<never>((_, reject) => out!.once('error', reject));
    failed.catch(() => undefined);
    for await (const { data, release } of frames) {
      hash.update(data);
      bytes += data.length;
      if (!out.write(data, () => release())) await Promise.race([once(out, 'drain'), failed]);
    }
    verify(bytes, hash.digest('hex'));
    out.end();
    await Promise.race([once(out, 'finish'), failed]);
    const handle = await fs.open(temp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
    return bytes;
  } catch (error) {
    out?.destroy();
    await fs.rm(temp, { force: true });
    if (isCassetteError(error)) throw error;
    throw new CassetteError('E_TARGET', `cannot write the dump to ${file}: ${messageOf(error)}`, { cause: error });
  }
}
