// The bench data: a seeded control-node-shaped tree in bench/data/<size> and a PostgreSQL database cassette_bench_<size>, each made once and reused.

import fs from 'node:fs/promises';
import path from 'node:path';
import { generateSampleTree, SAMPLE_SIZES } from '../src/demo/sample-tree.js';
import { sh } from './exec.js';

export type BenchSize = 'small' | 'default';

export interface TreeInfo {
  root: string;
  /** Top-level directories of the tree: the cassette sources (one artifact each). */
  dirs: string[];
  files: number;
  bytes: number;
  /** A ≈9 KB config file and a disk image, relative to the root, for the selective restores. */
  smallFile: string;
  largeFile: string;
  largeFileBytes: number;
  reused: boolean;
}

/** The first config file of 9000+ bytes under etc/ (same formula as sample-tree.ts). */
function nineKbConfig(configFiles: number): { rel: string; size: number } {
  for (let i = 0; i < configFiles; i += 3) {
    const size = 200 + ((i * 7919) % 9000);
    if (size >= 9000) return { rel: `etc/group${i % 37}/item${i}.conf`, size };
  }
  return { rel: 'etc/hosts', size: 0 };
}

export async function ensureTree(dataDir: string, size: BenchSize, seed: number, log: (line: string) => void): Promise<TreeInfo> {
  const sizes = SAMPLE_SIZES[size];
  const root = path.join(dataDir, size);
  const markerFile = path.join(dataDir, `${size}.json`);
  const key = JSON.stringify({ size, seed, sizes });
  let reused = false;
  let counts: { files: number; bytes: number };
  const marker = await fs.readFile(markerFile, 'utf8').then(
    (t) => JSON.parse(t) as { key: string; files: number; bytes: number },
    () => undefined,
  );
  if (marker && marker.key === key && (await fs.stat(root).catch(() => undefined))) {
    counts = marker;
    reused = true;
    log(`data set: reusing ${root} (${marker.files} files, ${(marker.bytes / 1e6).toFixed(0)} MB; size ${size}, seed ${seed})`);
  } else {
    await fs.rm(markerFile, { force: true });
    await fs.rm(root, { recursive: true, force: true });
    log(`data set: generating ${root} (size ${size}, seed ${seed}) …`);
    const started = Date.now();
    counts = await generateSampleTree({ root, seed, ...sizes });
    await fs.writeFile(markerFile, JSON.stringify({ key, ...counts }, null, 2) + '\n');
    log(`data set: ${counts.files} files, ${(counts.bytes / 1e6).toFixed(0)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const dirs = (await fs.readdir(root, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => path.join(root, d.name))
    .sort();
  const small = nineKbConfig(sizes.configFiles);
  return { root, dirs, files: counts.files, bytes: counts.bytes, smallFile: small.rel, largeFile: 'cassatt/images/app1/disk.img', largeFileBytes: sizes.imageBytes, reused };
}

/** Shape of the database per size: event rows (text/numeric/jsonb), hosts, and large objects. */
export const DB_SIZES: Record<BenchSize, { events: number; largeObjects: number; largeObjectBytes: number }> = {
  /** ≈ 60 MB on disk. */
  small: { events: 120_000, largeObjects: 16, largeObjectBytes: 1 << 20 },
  /** ≥ 500 MB on disk. */
  default: { events: 1_600_000, largeObjects: 128, largeObjectBytes: 1 << 20 },
};

export interface DbInfo {
  name: string;
  /** pg_database_size. */
  bytes: number;
  reused: boolean;
}

const psql = (db: string, sql: string, env: NodeJS.ProcessEnv): Promise<string> => sh(['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], { env });

export async function ensureDatabase(size: BenchSize, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<DbInfo> {
  const name = `cassette_bench_${size}`;
  const shape = DB_SIZES[size];
  const key = JSON.stringify({ version: 1, ...shape });
  const exists = (await psql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${name}'`, env)).trim() === '1';
  if (exists) {
    const stored = await psql(name, `SELECT value FROM bench_meta WHERE key = 'shape'`, env).catch(() => '');
    if (stored.trim() === key) {
      const bytes = Number((await psql(name, `SELECT pg_database_size(current_database())`, env)).trim());
      log(`database: reusing ${name} (${(bytes / 1e6).toFixed(0)} MB)`);
      return { name, bytes, reused: true };
    }
    await sh(['dropdb', '--if-exists', '--force', name], { env });
  }
  log(`database: creating ${name} …`);
  const started = Date.now();
  await sh(['createdb', name], { env });
  const lo32 = shape.largeObjectBytes / 32;
  const sql = `
SELECT setseed(0.42);
CREATE TABLE bench_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE hosts (id int PRIMARY KEY, name text NOT NULL, ip inet, props jsonb, created timestamptz);
INSERT INTO hosts
  SELECT i, 'node-' || i, ('10.' || (i / 65536) % 256 || '.' || (i / 256) % 256 || '.' || i % 256)::inet,
         jsonb_build_object('rack', i % 40, 'role', (ARRAY['web','db','app','cache'])[1 + i % 4], 'tags', jsonb_build_array('t' || i % 7, 't' || i % 11), 'image', 'app' || i % 5),
         timestamptz '2020-01-01' + i * interval '1 minute'
  FROM generate_series(1, ${Math.max(100, shape.events / 10)}) i;
CREATE TABLE events (id bigint PRIMARY KEY, host_id int NOT NULL, ts timestamptz NOT NULL, level text NOT NULL, message text, amount numeric(14,4), payload jsonb);
INSERT INTO events
  SELECT i, 1 + i % ${Math.max(100, shape.events / 10)}, timestamptz '2021-01-01' + i * interval '1 second',
         (ARRAY['info','warn','error','debug'])[1 + i % 4],
         'tier ' || i % 97 || ' allocated node ' || (i * 7919) % 100003 || ' from image ' || md5(i::text),
         round(((i * 1.37) % 10000)::numeric, 4),
         jsonb_build_object('seq', i, 'ok', i % 3 = 0, 'hash', md5((i * 31)::text), 'vals', jsonb_build_array(i % 10, i % 100, i % 1000), 'note', repeat('x', (i % 40)::int))
  FROM generate_series(1::bigint, ${shape.events}) i;
CREATE INDEX events_host_ts ON events (host_id, ts);
CREATE TABLE images (id int PRIMARY KEY, name text NOT NULL, content oid NOT NULL);
INSERT INTO images
  SELECT i, 'image-' || i, lo_from_bytea(0, (
    SELECT string_agg(CASE j % 4
                        WHEN 0 THEN sha256(int8send(i::bigint * 10000000 + j))
                        WHEN 1 THEN sha256(int8send(-(i::bigint * 10000000 + j)))
                        WHEN 2 THEN '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
                        ELSE convert_to('collage tier image provision' || lpad((j % 10000)::text, 4, '0'), 'UTF8') END, ''::bytea ORDER BY j)
    FROM generate_series(1, ${lo32}) j))
  FROM generate_series(1, ${shape.largeObjects}) i;
INSERT INTO bench_meta VALUES ('shape', '${key}');
ANALYZE;
`;
  await sh(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', name, '-f', '-'], { env, input: sql });
  const bytes = Number((await psql(name, `SELECT pg_database_size(current_database())`, env)).trim());
  log(`database: ${name} ${(bytes / 1e6).toFixed(0)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { name, bytes, reused: false };
}
