// Encrypted repositories end to end through the built CLI (issue 16), on a directory and on every S3 server of the suite: no name and no content is stored in plain text (every object downloaded raw, the running backup's lease included), restore, ls, verify and --stdout with --identity or CASSETTE_IDENTITY, and the stock-tool paths with age in the loop (a whole archive, and an incremental snapshot's recipe).

import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTrees } from '../../src/demo/compare-trees.js';
import type { CommitRecord } from '../../src/format/types.js';
import { cassette } from '../helpers/cli.js';
import { AGE_HEADER, backupJson, exists, generateKey, marker, secretsIn, until, ZSTD_MAGIC, type AgeKey, type BackupSummary } from '../helpers/encryption.js';
import { rawRepository, type RawRepository, type RepositoryTarget } from '../helpers/raw-repository.js';
import { s3Servers } from '../helpers/s3.js';

const MiB = 1024 * 1024;

const PG = { PGHOST: '127.0.0.1', PGUSER: 'postgres', PGPORT: '5432' };
const pgEnv = { ...process.env, ...PG };
const psql = (db: string, sql: string): string => execFileSync('psql', ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], { env: pgEnv }).toString().trim();
/** One database for the file, backed up on every target: its name, a table name and a row that no object may show. */
const DB = `cassette_enc_${process.pid}_${randomBytes(4).toString('hex')}`;
const TABLE = marker('TABLE-MARKER');
const ROW = marker('ROW-MARKER');
let createdDb = false;

beforeAll(() => {
  // No --if-exists drop first: if the name were taken, createdb fails and that database is left alone.
  execFileSync('createdb', [DB], { env: pgEnv });
  createdDb = true;
  psql(DB, `create table "${TABLE}" (id int primary key, body text); insert into "${TABLE}" values (1, '${ROW}'), (2, 'plain row');`);
});

afterAll(() => {
  if (createdDb) execFileSync('dropdb', ['--if-exists', '--force', DB], { env: pgEnv });
});

/**
 * A tree whose file contents hold `content` (small text files, and three places in a 3 MiB file
 * of random bytes, which zstd stores as they are) and whose file, directory and symlink-target
 * names hold `name`.
 */
async function makeMarkedTree(root: string, content: string, name: string): Promise<void> {
  const write = async (rel: string, data: string | Buffer, mode?: number): Promise<void> => {
    const file = path.join(root, rel);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, data);
    if (mode !== undefined) await fs.chmod(file, mode);
  };
  await write(`${name}-docs/readme-${name}.txt`, `${content}\n`.repeat(3));
  await write(`${name}-docs/sub/notes.txt`, `notes about ${content}\n`);
  for (let i = 0; i < 20; i++) await write(`plain/f${i}.txt`, `file ${i}\n`.repeat(50 + i) + (i % 4 === 0 ? `${content}\n` : ''));
  const blob = randomBytes(3 * MiB);
  for (const at of [0, 1.5 * MiB, 3 * MiB - content.length]) blob.write(content, at);
  await write('data/blob.bin', blob);
  await write(`${name}.conf`, 'x=1\n', 0o600);
  await fs.symlink(`${name}-docs/readme-${name}.txt`, path.join(root, `link-to-${name}`));
  await fs.mkdir(path.join(root, `${name}-empty`));
}

/** The secrets no stored byte may show, for a tree made by makeMarkedTree at `root` and the database. */
function secretsOf(root: string, content: string, name: string): Record<string, string> {
  return { content, name, 'source path': root, 'database name': DB, 'table name': TABLE, 'table row': ROW, 'secret key': 'AGE-SECRET-KEY-1' };
}

/** Everything `secretsIn` finds in `objects`. */
function leaks(objects: Map<string, Buffer>, secrets: Record<string, string>): string[] {
  return [...objects].flatMap(([name, bytes]) => secretsIn(name, bytes, secrets));
}

/** Runs `script` under bash with `set -euo pipefail` after the repository's fetch_object function; fails with its stderr. */
async function stock(repo: RawRepository, script: string, env: Record<string, string>, cwd: string): Promise<void> {
  const result = await execa('bash', ['-c', `set -euo pipefail\n${repo.stock.functions}\n${script}`], { env: { ...repo.stock.env, ...env }, cwd, reject: false });
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
}

const targets: RepositoryTarget[] = [{ name: 'file' }, ...s3Servers()];

describe.each(targets)('an encrypted repository on $name', (target) => {
  const CONTENT = marker('CONTENT-MARKER');
  const NAME = marker('NAME-MARKER');
  let work: string;
  let tree: string;
  let repo: RawRepository;
  let key: AgeKey;
  let secrets: Record<string, string>;
  let env: Record<string, string>;
  let first: BackupSummary;
  /** Every stored object while the backup waited in its post-backup hook (its lease and data stored, no commit record yet), and after it. */
  let during: Map<string, Buffer>;
  let after: Map<string, Buffer>;
  let art: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-enc-'));
    tree = path.join(work, `src-${NAME}`);
    await makeMarkedTree(tree, CONTENT, NAME);
    art = tree.slice(1).replace(/\//g, '-');
    repo = await rawRepository(target, path.join(work, 'repo'));
    env = { ...repo.env, ...PG };
    key = await generateKey(work, 'key.txt');
    secrets = { ...secretsOf(tree, CONTENT, NAME), identity: key.identity };
    // The post-backup hook runs after every object is stored and before the commit, with the lease held: it waits there while the test reads the bucket.
    const hook = path.join(work, 'hook.sh');
    const [hookIn, hookRelease] = [path.join(work, 'hook-in'), path.join(work, 'hook-release')];
    await fs.writeFile(
      hook,
      `touch '${hookIn}'\ni=0\nwhile [ ! -e '${hookRelease}' ] && [ $i -lt 2400 ]; do sleep 0.025; i=$((i+1)); done\necho "post-backup hook of $CASSETTE_SNAPSHOT in ${NAME}"\n`,
    );
    const plan = path.join(work, 'plan.json');
    await fs.writeFile(plan, JSON.stringify({ sources: [{ path: tree }], hooks: { 'post-backup': `sh '${hook}'` } }));
    const running = cassette(['backup', '--plan', plan, '--pg', DB, '--encrypt-to', key.recipient, '--repo', repo.url, '--json'], { env });
    let ended = false;
    void running.finally(() => (ended = true));
    await until('the post-backup hook', async () => ended || (await exists(hookIn)));
    during = await repo.objects();
    await fs.writeFile(hookRelease, '');
    const result = await running;
    expect(result.stderr, String(result.stdout)).toBe('');
    expect(result.exitCode).toBe(0);
    first = JSON.parse(String(result.stdout).trim().split('\n').at(-1)!) as BackupSummary;
    expect(first.type).toBe('summary');
    after = await repo.objects();
  });

  afterAll(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('stores no name and no content in plain text: no object, read raw during the backup or after it, shows a marker, the database, the source path or a secret key', () => {
    const { prefix } = repo;
    const id = first.snapshot;
    const data = ['a1.tar.zst', 'a1.idx.zst', 'a1.recipe', 'a2.tar.zst', 'a2.idx.zst', 'a2.recipe'].map((name) => `${prefix}data/${id}/${name}`);
    // While the hook waited: the lease, repository.json and every data object, but no commit record yet.
    expect([...during.keys()].sort()).toEqual([...data, `${prefix}locks/${id}.json`, `${prefix}repository.json`].sort());
    expect(JSON.parse(during.get(`${prefix}locks/${id}.json`)!.toString())).toMatchObject({ format: 'cassette-lease', id });
    // After: the commit record instead of the lease.
    expect([...after.keys()].sort()).toEqual([...data, `${prefix}repository.json`, `${prefix}snapshots/${id}.json`].sort());
    expect(leaks(during, secrets)).toEqual([]);
    expect(leaks(after, secrets)).toEqual([]);
    for (const key of data) {
      const stored = after.get(key)!;
      expect(stored.subarray(0, AGE_HEADER.length).toString(), key).toBe(AGE_HEADER.toString());
      expect(stored.subarray(0, 4).equals(ZSTD_MAGIC), key).toBe(false);
      expect(stored.toString('latin1'), key).toMatch(/^age-encryption\.org\/v1\n-> X25519 [A-Za-z0-9+/]{43}\n[A-Za-z0-9+/]{43}\n--- [A-Za-z0-9+/]{43}\n/);
    }
    // The commit record: version 3, a public part without names, and the whole record as an age object.
    const record = JSON.parse(after.get(`${prefix}snapshots/${id}.json`)!.toString()) as CommitRecord;
    expect(record.version).toBe(3);
    expect(record.encryption).toEqual({ scheme: 'age', recipients: expect.stringMatching(/^age:[0-9a-f]{32}$/) });
    expect(record.artifacts.map((a) => [a.name, a.kind, a.source, a.database])).toEqual([
      ['a1', 'tree', '', undefined],
      ['a2', 'database', '', undefined],
    ]);
    expect(record.hooks).toBeUndefined();
    expect(Buffer.from(record.sealed!, 'base64').subarray(0, AGE_HEADER.length).equals(AGE_HEADER)).toBe(true);
    expect(JSON.parse(after.get(`${prefix}repository.json`)!.toString())).toMatchObject({ format: 'cassette-repository', encryption: { scheme: 'age' } });
  });

  it('restores fully with --identity and a directory with CASSETTE_IDENTITY; ls, verify --read-data, restore --stdout and the database dump read it', async () => {
    const id = first.snapshot;
    const identity = ['--identity', key.file];
    const listed = await cassette(['snapshots', '--repo', repo.url, '--json', ...identity], { env });
    expect(listed.exitCode).toBe(0);
    const shown = (JSON.parse(String(listed.stdout)) as { snapshots: Array<{ id: string; artifacts: Array<{ name: string; source: string }> }> }).snapshots;
    expect(shown.map((s) => s.id)).toEqual([id]);
    expect(shown[0]!.artifacts.map((a) => [a.name, a.source])).toEqual([
      [art, tree],
      [`pg-${DB}`, DB],
    ]);

    const full = path.join(work, 'full');
    const restored = await cassette(['restore', id, '--target', full, '--repo', repo.url, ...identity], { env });
    expect(restored.stderr).toMatch(/restored \d+ entries/);
    expect(restored.exitCode).toBe(0);
    expect(await compareTrees(tree, path.join(full, art), { owners: true })).toEqual([]);

    const selected = path.join(work, 'selected');
    const docs = `${NAME}-docs`;
    const some = await cassette(['restore', 'latest', '--target', selected, '--include', `${art}/${docs}`, '--repo', repo.url], {
      env: { ...env, CASSETTE_IDENTITY: key.file },
    });
    expect(some.exitCode).toBe(0);
    expect((await fs.readdir(path.join(selected, art))).sort()).toEqual([docs]);
    expect(await compareTrees(path.join(tree, docs), path.join(selected, art, docs), { owners: true })).toEqual([]);

    const ls = await cassette(['ls', id, `${art}/${docs}/**`, '--repo', repo.url, ...identity], { env });
    expect(ls.exitCode).toBe(0);
    expect(String(ls.stdout).trim().split('\n').sort()).toEqual([docs, `${docs}/readme-${NAME}.txt`, `${docs}/sub`, `${docs}/sub/notes.txt`].map((p) => `${art}/${p}`).sort());

    const verified = await cassette(['verify', id, '--read-data', '--repo', repo.url, ...identity], { env });
    expect(verified.stderr).toBe('');
    expect(verified.stdout).toMatch(/: OK\n$/);
    expect(verified.exitCode).toBe(0);

    const one = await cassette(['restore', id, '--include', `${art}/data/blob.bin`, '--stdout', '--repo', repo.url], {
      env: { ...env, CASSETTE_IDENTITY: key.file },
      binary: true,
    });
    expect(one.exitCode).toBe(0);
    expect(Buffer.compare(one.stdout as unknown as Buffer, await fs.readFile(path.join(tree, 'data/blob.bin')))).toBe(0);

    // The database went in encrypted: its dump holds the table and the row no stored object shows.
    const dump = path.join(work, 'db.dump');
    const dumped = await cassette(['restore', id, '--pg', DB, '--dump-to', dump, '--repo', repo.url, ...identity], { env });
    expect(dumped.exitCode).toBe(0);
    const dumpBytes = await fs.readFile(dump);
    expect(dumpBytes.includes(ROW)).toBe(true);
    expect(dumpBytes.includes(TABLE)).toBe(true);
  });

  it('aws s3 cp … - | age -d -i key.txt | zstd -dc | tar -x restores the tree (cat for a directory)', async () => {
    const out = path.join(work, 'stock');
    await fs.mkdir(out);
    await stock(repo, 'fetch_object "data/$ID/a1.tar.zst" | age -d -i "$KEY" | zstd -dc | tar -x --numeric-owner -C "$T"', { ID: first.snapshot, KEY: key.file, T: out }, work);
    expect(await compareTrees(tree, out, { owners: true })).toEqual([]);
  });

  it('an incremental backup given only the public key reuses frames, stores no plain text, and its recipe, read with age in the loop, restores it', async () => {
    await fs.appendFile(path.join(tree, 'plain/f1.txt'), `one more line, ${CONTENT}\n`);
    const second = await backupJson([tree, '--encrypt-to', key.recipient, '--repo', repo.url], env);
    expect(second.parents).toEqual([first.snapshot]);
    expect(second.bytesReused).toBeGreaterThan(3 * MiB);
    expect(second.bytesStored).toBeLessThan(MiB);
    const objects = await repo.objects();
    expect([...objects.keys()].filter((k) => k.includes(`/${second.snapshot}/`)).sort()).toEqual(
      ['a1.idx.zst', 'a1.recipe', 'a1.tar.zst'].map((n) => `${repo.prefix}data/${second.snapshot}/${n}`),
    );
    expect(leaks(objects, secrets)).toEqual([]);

    const out = path.join(work, 'stock-incremental');
    await fs.mkdir(out);
    // The recipe's lines are `key first last` in the archive's bytes, which age -d gives back. head
    // takes its segment and cat drains the rest, so that no stage dies of SIGPIPE under pipefail.
    await stock(
      repo,
      [
        'fetch_object "data/$ID/a1.recipe" | age -d -i "$KEY" > recipe.txt',
        'while read -r key first last <&3; do',
        '  fetch_object "$key" | age -d -i "$KEY" | tail -c +$((first+1)) | { head -c $((last-first+1)); cat > /dev/null; }',
        'done 3< recipe.txt | zstd -dc | tar -x --numeric-owner -C "$T"',
      ].join('\n'),
      { ID: second.snapshot, KEY: key.file, T: out },
      work,
    );
    // Segments of both snapshots' archives.
    const recipe = await fs.readFile(path.join(work, 'recipe.txt'), 'ascii');
    expect(
      new Set(
        recipe
          .trim()
          .split('\n')
          .map((line) => line.split(' ')[0]),
      ),
    ).toEqual(new Set([`data/${first.snapshot}/a1.tar.zst`, `data/${second.snapshot}/a1.tar.zst`]));
    expect(await compareTrees(tree, out, { owners: true })).toEqual([]);
  });
});

describe('the raw search for plain text', () => {
  it('finds the markers in an unencrypted repository of the same tree', async () => {
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-enc-control-'));
    try {
      const CONTENT = marker('CONTENT-MARKER');
      const NAME = marker('NAME-MARKER');
      const tree = path.join(work, `src-${NAME}`);
      await makeMarkedTree(tree, CONTENT, NAME);
      const repo = await rawRepository({ name: 'file' }, path.join(work, 'repo'));
      await backupJson([tree, '--pg', DB, '--repo', repo.url], PG);
      const found = leaks(await repo.objects(), secretsOf(tree, CONTENT, NAME));
      // The table's name and row are in the dump, which zstd compresses out of sight: the restored dump above shows they were stored.
      for (const what of ['content', 'name', 'source path', 'database name'])
        expect(
          found.some((f) => f.includes(`: ${what} in `)),
          what,
        ).toBe(true);
      expect(found.filter((f) => f.includes(': secret key in '))).toEqual([]);
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });
});
