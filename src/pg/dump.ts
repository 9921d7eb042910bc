// A backup StreamSource that streams `pg_dump -Ft -b` (or `-Fc -b`) stdout into frames, checking the dump's table of contents with `pg_restore -l` on the way.
//
// pg_dump stdout ──┬─→ SHA-256, byte count → frames (≤ frameSize, one Buffer each) → backup()
//                  └─→ pg_restore -l (stdin) → TOC entry count
// Nothing touches the disk here. Memory: one frame being filled plus the pipe buffers; when the
// consumer is slow, stdout is not read and pg_dump blocks on its write. A dump fails (and the
// snapshot is not committed) when pg_dump exits non-zero, is killed, writes nothing or prints
// "error:", or when pg_restore cannot read what it wrote.

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { StreamContext, StreamSource } from '../backup/backup.js';
import { FrameFiller } from '../backup/frame-filler.js';
import { CassetteError } from '../errors.js';
import type { DatabaseInfo } from '../format/types.js';
import { connectionArgs, databaseArtifactName, parsePgConnection, type PgConnection } from './connection.js';
import { describeEnd, FIELD_SEPARATOR, NO_PASSWORD, psql, quoteStderr, runTool, StderrTail } from './tool.js';

export type DumpFormat = 'tar' | 'custom';

export interface PgDumpSpec {
  /** Database name (host, port, user from the PG* environment) or a postgres:// URI. */
  connection: string;
  /** `tar` (`pg_dump -Ft`, the runbook's format; default) or `custom` (`-Fc`, compressed by pg_dump). */
  format?: DumpFormat;
}

/** Limit for the metadata queries (size hint, owner, versions): they must not hold up a backup. */
const QUERY_TIMEOUT_MS = 60_000;

/** The database's details at dump time, read with psql next to the dump; fields stay undefined when the query fails. */
interface ServerFacts {
  databaseSize?: number;
  serverVersion?: string;
  owner?: string;
  encoding?: string;
  collate?: string;
  ctype?: string;
}

const FACTS_SQL = [
  "select pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, coalesce(r.rolname, ''),",
  "pg_database_size(d.oid), current_setting('server_version')",
  'from pg_database d left join pg_roles r on r.oid = d.datdba where d.datname = current_database()',
].join(' ');

async function serverFacts(connection: PgConnection, signal?: AbortSignal): Promise<ServerFacts> {
  const outcome = await psql(connectionArgs(connection), FACTS_SQL, { signal, timeout: QUERY_TIMEOUT_MS });
  if (!outcome.ok) return {};
  const [encoding, collate, ctype, owner, size, serverVersion] = outcome.stdout.split(FIELD_SEPARATOR);
  const databaseSize = Number(size);
  return {
    encoding: encoding || undefined,
    collate: collate || undefined,
    ctype: ctype || undefined,
    owner: owner || undefined,
    databaseSize: Number.isSafeInteger(databaseSize) ? databaseSize : undefined,
    serverVersion: serverVersion?.trim() || undefined,
  };
}

/** `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)` → `15.20 (Debian 15.20-0+deb12u1)`. */
export function parsePgDumpVersion(output: string): string | undefined {
  const line = output.trim().split('\n')[0]?.trim();
  if (!line) return undefined;
  return line.replace(/^pg_dump \(PostgreSQL\)\s*/, '');
}

async function pgDumpVersion(signal?: AbortSignal): Promise<string | undefined> {
  const outcome = await runTool('pg_dump', ['--version'], { signal, timeout: QUERY_TIMEOUT_MS });
  return outcome.ok ? parsePgDumpVersion(outcome.stdout) : undefined;
}

/**
 * Feeds a copy of the dump to a process's stdin without ever failing the dump: once the reader
 * has stopped (`pg_restore -l` exits as soon as it has read the table of contents, which -Ft and
 * -Fc put first), further bytes are dropped.
 */
class Tee {
  private closed = false;

  constructor(
    private readonly stream: Writable,
    exited: Promise<unknown>,
  ) {
    stream.on('error', () => {
      this.closed = true;
    });
    stream.on('close', () => {
      this.closed = true;
    });
    void exited.finally(() => {
      this.closed = true;
      stream.destroy();
    });
  }

  /** Resolves when the reader can take more (or has gone away). */
  async write(chunk: Buffer): Promise<void> {
    if (this.closed || this.stream.destroyed) return;
    if (this.stream.write(chunk)) return;
    const gone = new AbortController();
    try {
      await Promise.race([once(this.stream, 'drain', { signal: gone.signal }), once(this.stream, 'close', { signal: gone.signal })]);
    } catch {
      // Aborted wait or stream error: either way, stop waiting.
    } finally {
      gone.abort();
    }
  }

  end(): void {
    if (!this.closed && !this.stream.destroyed) this.stream.end();
  }
}

/** Entries listed by `pg_restore -l`: lines that are neither empty nor `;` comments. */
export function isTocEntry(line: string): boolean {
  return line.trim() !== '' && !line.startsWith(';');
}

/**
 * A backup source for one PostgreSQL database: the artifact `pg-<name>`, a single index entry
 * `<name>.dump` (size, SHA-256) and DatabaseInfo for the commit record.
 */
export function pgDumpSource(spec: PgDumpSpec): StreamSource {
  const connection = parsePgConnection(spec.connection);
  const format: DumpFormat = spec.format ?? 'tar';
  if (format !== 'tar' && format !== 'custom') throw new CassetteError('E_USAGE', `Expected \`format\` to be "tar" or "custom", got "${String(format)}"`);
  const name = connection.database;
  let tocEntries: number | undefined;
  // Asked once, next to the dump rather than before or after it: each psql or pg_dump start costs
  // 0.1-0.2 s (Debian's pg_wrapper), which would add to the backup's wall time.
  let queries: Promise<[ServerFacts, string | undefined]> | undefined;
  const startQueries = (signal?: AbortSignal): Promise<[ServerFacts, string | undefined]> =>
    (queries ??= Promise.all([serverFacts(connection, signal).catch((): ServerFacts => ({})), pgDumpVersion(signal)]));

  async function* produce(context: StreamContext): AsyncGenerator<Buffer> {
    const { frameSize, signal } = context;
    // Checks frameSize before anything is started.
    const frames = new FrameFiller(frameSize, context.allocate);
    const mtime = String(Math.floor(Date.now() / 1000));
    void startQueries(signal);

    // Killing both processes: on the backup's signal, or when the consumer stops early.
    const stop = new AbortController();
    const onAbort = (): void => stop.abort(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    const { execa } = await import('execa'); // loaded on first use (see runTool)
    const dump = execa('pg_dump', [format === 'tar' ? '-Ft' : '-Fc', '-b', NO_PASSWORD, ...connectionArgs(connection)], {
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      encoding: 'buffer',
      reject: false,
      cancelSignal: stop.signal,
      forceKillAfterDelay: 5000,
    });
    const dumpErrors = new StderrTail().attach(dump.stderr);

    const toc = execa('pg_restore', ['-l'], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      cancelSignal: stop.signal,
      forceKillAfterDelay: 5000,
    });
    const tocErrors = new StderrTail().attach(toc.stderr);
    let entries = 0;
    const listing = toc.stdout ? createInterface({ input: toc.stdout, crlfDelay: Infinity }) : undefined;
    listing?.on('line', (line) => {
      if (isTocEntry(line)) entries++;
    });
    const listingDone = listing ? once(listing, 'close').catch(() => undefined) : Promise.resolve();
    const tee = new Tee(toc.stdin!, toc);

    const hash = createHash('sha256');
    let size = 0;
    let finished = false;
    try {
      for await (const piece of dump.stdout! as AsyncIterable<Buffer>) {
        hash.update(piece);
        size += piece.length;
        context.onBytesRead(piece.length);
        await tee.write(piece);
        yield* frames.add(piece);
      }
      tee.end();
      const [dumped, listed] = await Promise.all([dump, toc]);
      finished = true;
      if (signal.aborted) throw new CassetteError('E_ABORTED', `dump of database ${name} interrupted`, { cause: signal.reason });

      const quoted = (): string => quoteStderr(dumpErrors.text);
      if (dumped.failed) {
        throw new CassetteError('E_DATABASE', `pg_dump of database ${connection.display} failed (${describeEnd(dumped)}): ${quoted()}`);
      }
      if (size === 0) throw new CassetteError('E_DATABASE', `pg_dump of database ${connection.display} wrote nothing: ${quoted()}`);
      if (dumpErrors.sawError) {
        throw new CassetteError('E_DATABASE', `pg_dump of database ${connection.display} reported an error although it exited 0: ${quoted()}`);
      }
      if (listed.failed) {
        throw new CassetteError('E_DATABASE', `dump of ${connection.display} is unreadable: pg_restore -l ${describeEnd(listed)}: ${quoteStderr(tocErrors.text)}`);
      }
      await listingDone;
      tocEntries = entries;

      context.spool.add({
        path: `${name}.dump`,
        type: 'file',
        size,
        mode: 0o600,
        uid: 0,
        gid: 0,
        mtime,
        sha256: hash.digest('hex'),
        offset: 0,
        dataOffset: 0,
      });
      const last = frames.rest();
      if (last) yield last;
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (!finished) {
        stop.abort(new CassetteError('E_ABORTED', `dump of database ${name} stopped`));
        await Promise.allSettled([dump, toc]);
      }
      listing?.close();
    }
  }

  return {
    kind: 'stream',
    name: databaseArtifactName(name),
    artifactKind: 'database',
    source: connection.display,
    /** pg_database_size, for the part-size plan; undefined when it cannot be asked (the dump will say why). */
    sizeHint: async (signal) => (await startQueries(signal))[0].databaseSize,
    produce,
    describe: async (): Promise<DatabaseInfo> => {
      const [known, dumpVersion] = await startQueries();
      const info: DatabaseInfo = { name, dumpFormat: format };
      if (dumpVersion !== undefined) info.pgDumpVersion = dumpVersion;
      if (known.serverVersion !== undefined) info.serverVersion = known.serverVersion;
      if (known.databaseSize !== undefined) info.databaseSize = known.databaseSize;
      if (tocEntries !== undefined) info.tocEntries = tocEntries;
      if (known.owner !== undefined) info.owner = known.owner;
      if (known.encoding !== undefined) info.encoding = known.encoding;
      if (known.collate !== undefined) info.collate = known.collate;
      if (known.ctype !== undefined) info.ctype = known.ctype;
      return info;
    },
  };
}
