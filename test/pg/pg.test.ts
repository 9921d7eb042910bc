// PostgreSQL artifacts against the real server on 127.0.0.1:5432: dump → snapshot → restore round trips, and every failure path leaves no snapshot.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compress, decompress } from 'zstd-napi';
import { backup } from '../../src/backup/backup.js';
import { isCassetteError } from '../../src/errors.js';
import type { CommitRecord } from '../../src/format/types.js';
import { pgDumpSource } from '../../src/pg/dump.js';
import { restoreDatabase, type RestoreStep } from '../../src/pg/restore-db.js';
import { LocalStore } from '../../src/store/local-store.js';
import { FramePool } from '../../src/zstd/pool.js';

process.env.PGHOST = '127.0.0.1';
process.env.PGUSER = 'postgres';
delete process.env.PGDATABASE;

const prefix = `cassette_pg_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
const SOURCE = `${prefix}_src`;
const COPY = `${prefix}_copy`;
const COPY_CUSTOM = `${prefix}_custom`;
const MISSING = `${prefix}_missing`;
const created = new Set<string>();

const serverUp = (await execa('psql', ['-XAtq', '-d', 'postgres', '-c', 'select 1'], { reject: false })).exitCode === 0;
// Under CI the database tests must run: a PostgreSQL that is down fails the run instead of skipping them.
if (!serverUp && process.env.CI === 'true') throw new Error('PostgreSQL is not reachable on 127.0.0.1:5432 (bash test/setup/prepare-machine.sh starts it)');

async function sql(database: string, query: string): Promise<string> {
  const result = await execa('psql', ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', query]);
  return result.stdout.trim();
}

async function createDatabase(name: string): Promise<void> {
  await execa('createdb', [name]);
  created.add(name);
}

const TABLES = ['documents', 'measures', 'blobs', 'events'];

/** Per table: row count and an order-independent checksum; large objects' bytes; the sequence; the view. */
async function fingerprint(database: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of TABLES) {
    out[table] = await sql(database, `select count(*) || ' ' || md5(string_agg(md5(t::text), '' order by md5(t::text))) from ${table} t`);
  }
  out.largeObjects = await sql(database, "select string_agg(oid::text || ':' || length(lo_get(oid)) || ':' || md5(lo_get(oid)), ',' order by oid) from pg_largeobject_metadata");
  out.sequence = await sql(database, "select last_value || ' ' || is_called from ticket_numbers");
  out.serial = await sql(database, 'select last_value from documents_id_seq');
  out.view = await sql(database, "select count(*) || ' ' || sum(total) from measure_totals");
  out.index = await sql(database, "select indexdef from pg_indexes where indexname = 'events_at_idx'");
  return out;
}

function expectCassetteError(error: unknown, code: string, ...fragments: Array<string | RegExp>): void {
  expect(isCassetteError(error), String(error)).toBe(true);
  const e = error as Error & { code: string };
  expect(e.code, e.message).toBe(code);
  for (const fragment of fragments) expect(e.message).toMatch(fragment);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function keysUnder(store: LocalStore, prefixKey: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefixKey)) keys.push(object.key);
  return keys;
}

describe.runIf(serverUp)('PostgreSQL artifacts (real server)', () => {
  let work: string;
  let store: LocalStore;
  let pool: FramePool;
  let record: CommitRecord;
  let original: Record<string, string>;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-pg-'));
    store = new LocalStore(path.join(work, 'repo'));
    pool = new FramePool({ threads: 2 });
    await createDatabase(SOURCE);
    await sql(
      SOURCE,
      `
      create table documents (id serial primary key, title text not null, body text, price numeric(12,4), doc json, meta jsonb, created timestamptz);
      insert into documents (title, body, price, doc, meta, created)
        select 'doc ' || i, repeat(md5(i::text), 1 + i % 7), (i * 3.14159)::numeric(12,4),
               json_build_object('i', i, 'tags', json_build_array('a', i % 3)),
               jsonb_build_object('n', i, 'even', i % 2 = 0, 'name', 'ünïcødé ' || i),
               timestamptz '2026-01-01 00:00:00+00' + i * interval '37 minutes'
        from generate_series(1, 20000) i;
      create table measures (sensor int, reading numeric, taken timestamptz);
      insert into measures select i % 50, (i * 1.5)::numeric / 7, now() - i * interval '1 second' from generate_series(1, 30000) i;
      create table blobs (name text primary key, content bytea);
      insert into blobs select 'blob ' || i, decode(repeat(md5(i::text), 40), 'hex') from generate_series(1, 500) i;
      insert into blobs values ('zeros', '\\x0000000000'), ('empty', ''), ('null', null);
      create table events (id bigint generated always as identity, at timestamptz default now(), kind text, payload jsonb);
      insert into events (at, kind, payload) select timestamptz '2025-06-01 12:00+02' + i * interval '1 hour', 'kind' || (i % 5), jsonb_build_object('x', i) from generate_series(1, 5000) i;
      create index events_at_idx on events (at, kind);
      create sequence ticket_numbers start 100;
      select setval('ticket_numbers', 4242);
      create view measure_totals as select sensor, sum(reading) as total from measures group by sensor;
      select lo_from_bytea(0, decode('48656c6c6f2c206c6172676520776f726c6421', 'hex'));
      select lo_from_bytea(0, (select string_agg(sha256(i::text::bytea), ''::bytea) from generate_series(1, 100000) i));
      select lo_from_bytea(0, ''::bytea);
    `,
    );
    original = await fingerprint(SOURCE);
    expect(original.largeObjects.split(',')).toHaveLength(3);
    expect(original.sequence).toBe('4242 true');

    const result = await backup({ store, sources: [pgDumpSource({ connection: SOURCE })], pool, threads: 2, frameSize: 256 * 1024 });
    record = result.record;
  });

  afterAll(async () => {
    await pool?.close();
    for (const name of created) await execa('dropdb', ['--if-exists', '--force', name], { reject: false });
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('records the dump as one database artifact with its details', async () => {
    expect(record.artifacts).toHaveLength(1);
    const artifact = record.artifacts[0]!;
    expect(artifact).toMatchObject({ name: `pg-${SOURCE}`, kind: 'database', source: SOURCE, entryCount: 1 });
    expect(artifact.frameCount).toBeGreaterThan(4);
    expect(artifact.tarBytes).toBe(artifact.bytesRead);
    expect(artifact.database).toMatchObject({ name: SOURCE, dumpFormat: 'tar', owner: 'postgres', encoding: 'UTF8' });
    expect(artifact.database!.pgDumpVersion).toMatch(/^\d+\.\d+/);
    expect(artifact.database!.serverVersion).toMatch(/^\d+\.\d+/);
    expect(artifact.database!.databaseSize).toBeGreaterThan(1_000_000);
    expect(artifact.database!.tocEntries).toBeGreaterThan(10);
    expect(artifact.database!.collate).toBeTruthy();
    expect(artifact.database!.ctype).toBeTruthy();
  });

  it('restores under another name: tables, large objects, sequences, view and index all match', async () => {
    const reported: string[] = [];
    const result = await restoreDatabase({ store, record, database: SOURCE, target: COPY, pool, onStep: (step) => reported.push(step) });
    created.add(COPY);
    expect(result.database).toBe(COPY);
    expect(result.bytes).toBe(record.artifacts[0]!.tarBytes);
    expect(result.steps).toEqual<RestoreStep[]>(['check', 'createdb', 'pg_restore', 'analyze']);
    expect(reported).toEqual(['check', 'createdb', 'pg_restore', 'analyze']);
    expect(await fingerprint(COPY)).toEqual(original);
    expect(await fingerprint(SOURCE)).toEqual(original);
    // ANALYZE ran: the planner has statistics.
    expect(Number(await sql(COPY, "select count(*) from pg_stats where tablename = 'documents'"))).toBeGreaterThan(0);
    expect(await sql(COPY, 'select pg_get_userbyid(datdba) from pg_database where datname = current_database()')).toBe('postgres');
  });

  it('backs up with -Fc and restores through a postgres:// URI', async () => {
    const local = new LocalStore(path.join(work, 'repo-custom'));
    const { record: custom } = await backup({
      store: local,
      sources: [pgDumpSource({ connection: `postgresql://postgres@127.0.0.1:5432/${SOURCE}?connect_timeout=10`, format: 'custom' })],
      pool,
      threads: 2,
    });
    const artifact = custom.artifacts[0]!;
    expect(artifact.source).toBe(`postgresql://postgres@127.0.0.1:5432/${SOURCE}?connect_timeout=10`);
    expect(artifact.database).toMatchObject({ name: SOURCE, dumpFormat: 'custom' });
    expect(artifact.database!.tocEntries).toBe(record.artifacts[0]!.database!.tocEntries);
    const result = await restoreDatabase({
      store: local,
      record: custom,
      database: SOURCE,
      target: COPY_CUSTOM,
      connection: 'postgres://postgres:unused@127.0.0.1:5432/postgres',
      pool,
    });
    created.add(COPY_CUSTOM);
    expect(result.steps).toEqual(['check', 'createdb', 'pg_restore', 'analyze']);
    expect(await fingerprint(COPY_CUSTOM)).toEqual(original);
  });

  it('restores over an existing database, terminating its open sessions', async () => {
    await sql(COPY, 'create table leftover (x int)');
    const sleeper = execa('psql', ['-XAtq', '-d', COPY, '-c', 'select pg_sleep(60)'], { reject: false });
    for (let i = 0; i < 100; i++) {
      if (Number(await sql('postgres', `select count(*) from pg_stat_activity where datname = '${COPY}' and query like '%pg_sleep%'`)) > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const details: string[] = [];
    const result = await restoreDatabase({ store, record, database: SOURCE, target: COPY, pool, onStep: (step, detail) => details.push(`${step}: ${detail ?? ''}`) });
    expect(result.steps).toEqual(['check', 'terminate', 'dropdb', 'createdb', 'pg_restore', 'analyze']);
    expect(details).toContain('terminate: 1 session(s) terminated');
    const ended = await sleeper;
    expect(ended.failed).toBe(true);
    expect(ended.stderr).toMatch(/terminat/i);
    expect(await sql(COPY, "select count(*) from pg_tables where tablename = 'leftover'")).toBe('0');
    expect(await fingerprint(COPY)).toEqual(original);
  });

  it('refuses to touch an existing database with noDrop', async () => {
    await sql(COPY, 'create table marker (x int); insert into marker values (7)');
    const error = await rejection(restoreDatabase({ store, record, database: SOURCE, target: COPY, noDrop: true, pool }));
    expectCassetteError(error, 'E_DATABASE', COPY, /already exists/, /nothing was changed/);
    expect(await sql(COPY, 'select x from marker')).toBe('7');
  });

  it('writes the dump file with dumpTo, readable by pg_restore -l', async () => {
    const file = path.join(work, 'out', 'source.tar');
    await fs.mkdir(path.dirname(file));
    const result = await restoreDatabase({ store, record, database: SOURCE, dumpTo: file, pool });
    expect(result.steps).toEqual(['write-dump']);
    const bytes = await fs.readFile(file);
    expect(bytes.length).toBe(record.artifacts[0]!.tarBytes);
    expect(result.bytes).toBe(bytes.length);
    expect(await fs.readdir(path.dirname(file))).toEqual(['source.tar']);
    const listing = await execa('pg_restore', ['-l', file]);
    expect(listing.stdout).toMatch(/Format: TAR/);
    expect(listing.stdout).toMatch(/BLOBS|LARGE OBJECT/);
    expect(listing.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';'))).toHaveLength(record.artifacts[0]!.database!.tocEntries!);
  });

  it('names the missing database when asked for one the snapshot does not have', async () => {
    const error = await rejection(restoreDatabase({ store, record, database: 'nope', target: `${prefix}_nope`, pool }));
    expectCassetteError(error, 'E_USAGE', /no dump of database nope/, SOURCE);
  });

  it('refuses a dump that does not match its index (E_INTEGRITY), for dumpTo and for pg_restore', async () => {
    const tampered = new LocalStore(path.join(work, 'repo-tampered'));
    const { record: copy } = await backup({ store: tampered, sources: [pgDumpSource({ connection: SOURCE })], pool, threads: 2 });
    const indexFile = path.join(work, 'repo-tampered', ...copy.artifacts[0]!.index.key.split('/'));
    const text = decompress(await fs.readFile(indexFile)).toString();
    // The entry's hash (frame lines carry hashes too, since format version 2).
    const changed = text.replace(/("path":[^\n]*"sha256":")[0-9a-f]{64}"/, `$1${'0'.repeat(64)}"`);
    expect(changed).not.toBe(text);
    await fs.writeFile(indexFile, compress(Buffer.from(changed)));

    const file = path.join(work, 'tampered.tar');
    const error = await rejection(restoreDatabase({ store: tampered, record: copy, database: SOURCE, dumpTo: file, pool }));
    expectCassetteError(error, 'E_INTEGRITY', /does not match its index/);
    await expect(fs.stat(file)).rejects.toThrow();

    const target = `${prefix}_tampered`;
    created.add(target);
    const restoreError = await rejection(restoreDatabase({ store: tampered, record: copy, database: SOURCE, target, pool }));
    expectCassetteError(restoreError, 'E_INTEGRITY', /does not match its index/, /do not use the database/);
  });

  describe('failed dumps commit nothing', () => {
    let fakeBin: string;
    let realPgDump: string;
    const savedPath = process.env.PATH;

    beforeAll(async () => {
      fakeBin = path.join(work, 'fake-bin');
      await fs.mkdir(fakeBin);
      realPgDump = (await execa('sh', ['-c', 'command -v pg_dump'])).stdout.trim();
    });

    afterAll(() => {
      process.env.PATH = savedPath;
    });

    async function withFakePgDump(script: string, run: () => Promise<void>): Promise<void> {
      await fs.writeFile(path.join(fakeBin, 'pg_dump'), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
      process.env.PATH = `${fakeBin}:${savedPath ?? ''}`;
      try {
        await run();
      } finally {
        process.env.PATH = savedPath;
      }
    }

    async function expectNoSnapshot(target: LocalStore): Promise<void> {
      expect(await keysUnder(target, 'snapshots/')).toEqual([]);
      expect(await keysUnder(target, 'data/')).toEqual([]);
    }

    it('a database that does not exist: E_DATABASE naming it and quoting pg_dump', async () => {
      const target = new LocalStore(path.join(work, 'repo-missing'));
      const error = await rejection(backup({ store: target, sources: [pgDumpSource({ connection: MISSING })], pool, threads: 2 }));
      expectCassetteError(error, 'E_DATABASE', `pg_dump of database ${MISSING} failed (exit 1)`, /does not exist/, `pg-${MISSING}`);
      await expectNoSnapshot(target);
    });

    it('a pg_dump that writes half a dump and exits 1', async () => {
      const target = new LocalStore(path.join(work, 'repo-half'));
      await withFakePgDump(`"${realPgDump}" "$@" | head -c 1500000\necho "pg_dump: error: simulated crash" >&2\nexit 1`, async () => {
        const error = await rejection(backup({ store: target, sources: [pgDumpSource({ connection: SOURCE })], pool, threads: 2, frameSize: 64 * 1024 }));
        expectCassetteError(error, 'E_DATABASE', SOURCE, /exit 1/, /simulated crash/);
      });
      await expectNoSnapshot(target);
    });

    it('a pg_dump killed by a signal', async () => {
      const target = new LocalStore(path.join(work, 'repo-killed'));
      await withFakePgDump(`"${realPgDump}" "$@" | head -c 1500000\nkill -9 $$`, async () => {
        const error = await rejection(backup({ store: target, sources: [pgDumpSource({ connection: SOURCE })], pool, threads: 2, frameSize: 64 * 1024 }));
        expectCassetteError(error, 'E_DATABASE', SOURCE, /killed by SIGKILL/);
      });
      await expectNoSnapshot(target);
    });

    it('a pg_dump that exits 0 with nothing on stdout', async () => {
      const target = new LocalStore(path.join(work, 'repo-empty'));
      await withFakePgDump('echo "pg_dump: warning: something odd" >&2\nexit 0', async () => {
        const error = await rejection(backup({ store: target, sources: [pgDumpSource({ connection: SOURCE })], pool, threads: 2 }));
        expectCassetteError(error, 'E_DATABASE', SOURCE, /wrote nothing/, /something odd/);
      });
      await expectNoSnapshot(target);
    });

    it('a pg_dump that exits 0 but prints "error:"', async () => {
      const target = new LocalStore(path.join(work, 'repo-stderr'));
      await withFakePgDump(`"${realPgDump}" "$@"\necho "pg_dump: error: query failed: ERROR:  out of memory" >&2\nexit 0`, async () => {
        const error = await rejection(backup({ store: target, sources: [pgDumpSource({ connection: SOURCE })], pool, threads: 2 }));
        expectCassetteError(error, 'E_DATABASE', SOURCE, /reported an error although it exited 0/, /out of memory/);
      });
      await expectNoSnapshot(target);
    });

    it('a dump pg_restore -l cannot read', async () => {
      const target = new LocalStore(path.join(work, 'repo-garbage'));
      await withFakePgDump('head -c 200000 /dev/urandom\nexit 0', async () => {
        const error = await rejection(backup({ store: target, sources: [pgDumpSource({ connection: SOURCE })], pool, threads: 2 }));
        expectCassetteError(error, 'E_DATABASE', `dump of ${SOURCE} is unreadable`, /pg_restore/);
      });
      await expectNoSnapshot(target);
    });

    it('an interrupted backup kills pg_dump and commits nothing', async () => {
      const target = new LocalStore(path.join(work, 'repo-abort'));
      const pidFile = path.join(work, 'slow.pid');
      await withFakePgDump(`echo $$ > "${pidFile}"\n"${realPgDump}" "$@"\nexec sleep 60`, async () => {
        const controller = new AbortController();
        const running = backup({ store: target, sources: [pgDumpSource({ connection: SOURCE })], pool, threads: 2, signal: controller.signal });
        for (let i = 0; i < 100 && !(await fs.stat(pidFile).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 500));
        controller.abort();
        const error = await rejection(running);
        expectCassetteError(error, 'E_ABORTED');
        const pid = Number(await fs.readFile(pidFile, 'utf8'));
        await new Promise((r) => setTimeout(r, 200));
        expect(() => process.kill(pid, 0)).toThrow();
      });
      await expectNoSnapshot(target);
    });
  });
});
