// The Cassatt runbook end to end on a fake control node under a temp root, with a database of its own in place of `collage`.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTrees } from '../../src/demo/compare-trees.js';
import { LocalStore } from '../../src/store/local-store.js';
import { listSnapshots, openIndex } from '../../src/repository.js';
import { cassette } from '../helpers/cli.js';

const PG = { PGHOST: '127.0.0.1', PGUSER: 'postgres', PGPORT: '5432' };
const psql = (db: string, sql: string): string =>
  execFileSync('psql', ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], { env: { ...process.env, ...PG } })
    .toString()
    .trim();
const UTILITY = ['CollageIdle', 'CollageInventory', 'CollageDiagnostic'];
/**
 * The profile's `collage` is the production database of a Cassatt control node: this test never
 * touches it. It creates this database, backs it up as the profile's (`--pg-name`), and drops
 * only this one.
 */
const DB = `cassette_collage_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
const AS_DB = ['--pg-name', `collage=${DB}`];

async function write(root: string, rel: string, data: string | Buffer, mode?: number): Promise<void> {
  const file = path.join(root, rel);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, data);
  if (mode !== undefined) await fs.chmod(file, mode);
}

/** The controller's service script: logs each call with the snapshot id; `stop` fails when <log>.fail-stop exists, `start` when <log>.fail-start does. */
async function installService(root: string, log: string): Promise<void> {
  await write(
    root,
    'opt/cassatt/bin/cccoreservice',
    `#!/bin/sh\necho "$1 $CASSETTE_HOOK $CASSETTE_SNAPSHOT $CASSETTE_STATUS" >> "${log}"\n[ "$1" = stop ] && [ -e "${log}.fail-stop" ] && { echo "tier allocation in progress" >&2; exit 3; }\n[ "$1" = start ] && [ -e "${log}.fail-start" ] && { echo "license server unreachable" >&2; exit 4; }\nexit 0\n`,
    0o755,
  );
}

async function buildControlNode(root: string, log: string): Promise<void> {
  await write(root, 'boot.cfg', 'root=/dev/sda1\n');
  await write(root, 'cassatt/config/controller.properties', 'tier.count=4\nswitch.0=10.0.0.2\n');
  for (const image of [...UTILITY, 'WebTier']) {
    await write(root, `cassatt/images/${image}/disk.img`, Buffer.alloc(300_000, image.length));
    await write(root, `cassatt/images/${image}/image.properties`, `name=${image}\n`);
  }
  await write(root, 'cassatt/database/PG_VERSION', '15\n', 0o600);
  await write(root, 'cassatt/database/base/1/1259', Buffer.alloc(8192, 7), 0o600);
  await write(root, 'var/log/cassatt/controller.log', 'started\n'.repeat(1000));
  await write(root, 'usr/lib/php4/collage.php', '<?php echo "collage"; ?>\n');
  await write(root, 'etc/hosts', '127.0.0.1 localhost\n');
  await write(root, 'etc/cassatt/collage.conf', 'db=collage\n');
  await write(root, 'root/.ssh/authorized_keys', 'ssh-rsa AAAA controller\n', 0o600);
  await fs.chmod(path.join(root, 'root/.ssh'), 0o700);
  await write(root, 'lib/modules/2.6.9/kernel/e1000.ko', Buffer.alloc(50_000, 3));
  await installService(root, log);
  await fs.symlink('/cassatt/images', path.join(root, 'opt/images'));
}

describe('cassette with --runbook cassatt', () => {
  let work: string;
  let node: string;
  let repo: string;
  let log: string;
  const env = { ...PG };
  let created = false;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-cassatt-'));
    node = path.join(work, 'node');
    repo = `file://${path.join(work, 'repo')}`;
    log = path.join(work, 'hooks.log');
    await buildControlNode(node, log);
    // No --if-exists drop first: if the name were taken, createdb fails and the database is left alone.
    execFileSync('createdb', [DB], { env: { ...process.env, ...PG } });
    created = true;
    psql(
      DB,
      "create table tiers(id serial primary key, name text, props jsonb); insert into tiers(name, props) select 'tier' || g, jsonb_build_object('n', g) from generate_series(1, 500) g; select lo_from_bytea(424242, 'image matrix blob');",
    );
  });

  afterAll(async () => {
    if (created) execFileSync('dropdb', ['--if-exists', '--force', DB], { env: { ...process.env, ...PG } });
    await fs.rm(work, { recursive: true, force: true });
  });

  it('backs up the whole runbook with quiesce hooks, each path once', async () => {
    const result = await cassette(['backup', '--runbook', 'cassatt', ...AS_DB, '--root', node, '--tag', 'after-tier-change', '--repo', repo, '--json'], { env });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const summary = JSON.parse((result.stdout as string).trim().split('\n').at(-1)!) as { snapshot: string };
    expect(await fs.readFile(log, 'utf8')).toBe(`stop pre-backup ${summary.snapshot} \nstart post-backup ${summary.snapshot} success\n`);
    const store = new LocalStore(path.join(work, 'repo'));
    const [record] = await listSnapshots(store);
    expect(record!.profile).toBe('cassatt');
    expect(record!.tags).toEqual(['after-tier-change']);
    expect(record!.hooks!.map((h) => `${h.hook}:${h.exitCode}`)).toEqual(['pre-backup:0', 'post-backup:0']);
    expect(record!.artifacts.map((a) => a.name).sort()).toEqual(['cassatt', 'cassatt-database', 'etc', 'lib-modules', 'opt', `pg-${DB}`, 'root', 'rootfs', 'usr-lib-php4', 'var']);
    // Nested sources are stored once: rootfs holds only what no other source holds.
    const paths: string[] = [];
    for (const artifact of record!.artifacts.filter((a) => a.kind === 'tree')) {
      const index = await openIndex(store, artifact);
      for await (const entry of index.entries) paths.push(path.join(artifact.source, entry.path));
    }
    expect(new Set(paths).size).toBe(paths.length);
    const rootfs = record!.artifacts.find((a) => a.name === 'rootfs')!;
    const index = await openIndex(store, rootfs);
    const rootPaths: string[] = [];
    for await (const entry of index.entries) rootPaths.push(entry.path);
    // The other sources' mount points are kept as empty directories (their metadata), not their contents.
    expect(rootPaths).toEqual(['boot.cfg', 'cassatt', 'etc', 'lib', 'lib/modules', 'opt', 'root', 'usr', 'usr/lib', 'usr/lib/php4', 'var']);
    const database = record!.artifacts.find((a) => a.name === `pg-${DB}`)!;
    expect(database.source).toBe(DB);
    expect(database.database).toMatchObject({ name: DB, dumpFormat: 'tar' });
  });

  it('restores in place onto a rebuilt node: everything but the utility images, then the database', async () => {
    const rebuilt = path.join(work, 'rebuilt');
    // A reinstalled node: the service script, and one utility image of its own that must survive.
    await installService(rebuilt, log);
    await write(rebuilt, 'cassatt/images/CollageIdle/disk.img', 'fresh install image\n');
    await fs.writeFile(log, '');
    psql(DB, 'drop table tiers; select lo_unlink(424242);');
    const dry = await cassette(['restore', 'latest', '--runbook', 'cassatt', '--in-place', '--root', rebuilt, '--dry-run', '--repo', repo], { env });
    expect(dry.exitCode).toBe(0);
    const steps = (dry.stdout as string).split('\n').filter((l) => l.startsWith('step: '));
    expect(steps[0]).toContain('pre-restore hook');
    expect(steps[1]).toMatch(/^step: restore cassatt into .*rebuilt\/cassatt \(excluding cassatt\/images\/CollageIdle/);
    expect(steps.at(-2)).toBe(`step: recreate database ${DB}: terminate sessions, dropdb, createdb, pg_restore, ANALYZE`);
    expect(steps.filter((step) => step.includes('database collage'))).toEqual([]);
    expect(steps.at(-1)).toContain('post-restore hook');
    expect(dry.stdout).not.toMatch(/CollageInventory\/disk\.img/);
    expect(await fs.readFile(log, 'utf8')).toBe('');
    // The README's runbook dry run names no destination: a plan restores in place.
    const readme = await cassette(['restore', 'latest', '--runbook', 'cassatt', '--root', rebuilt, '--dry-run', '--repo', repo], { env });
    expect(readme.exitCode, readme.stderr as string).toBe(0);
    expect(readme.stdout).toBe(dry.stdout);

    const result = await cassette(['restore', 'latest', '--runbook', 'cassatt', '--in-place', '--root', rebuilt, '--repo', repo], { env });
    expect(result.exitCode).toBe(0);
    const utility = (p: string): boolean => UTILITY.some((u) => p === `cassatt/images/${u}` || p.startsWith(`cassatt/images/${u}/`));
    expect(await compareTrees(node, rebuilt, { ignore: utility })).toEqual([]);
    expect(await fs.readFile(path.join(rebuilt, 'cassatt/images/CollageIdle/disk.img'), 'utf8')).toBe('fresh install image\n');
    await expect(fs.access(path.join(rebuilt, 'cassatt/images/CollageInventory'))).rejects.toThrow();
    await expect(fs.access(path.join(rebuilt, 'cassatt/images/CollageDiagnostic'))).rejects.toThrow();
    expect(psql(DB, "select count(*), sum((props->>'n')::int) from tiers")).toBe('500|125250');
    expect(psql(DB, "select convert_from(lo_get(424242), 'utf8')")).toBe('image matrix blob');
    expect(
      (await fs.readFile(log, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ').slice(0, 2).join(' ')),
    ).toEqual(['stop pre-restore', 'start post-restore']);
  });

  const hookCalls = async (): Promise<string[]> =>
    (await fs.readFile(log, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').slice(0, 2).join(' '));

  it('restores onto a fresh disk that has no service yet: the stop hook is skipped with a warning, the restored start hook runs (issue 17)', async () => {
    const fresh = path.join(work, 'fresh-disk');
    await fs.mkdir(fresh);
    await fs.writeFile(log, '');
    const result = await cassette(['restore', 'latest', '--runbook', 'cassatt', '--in-place', '--root', fresh, '--no-database', '--repo', repo], { env });
    expect(result.exitCode, result.stderr as string).toBe(0);
    expect(result.stderr).toMatch(/warning: pre-restore hook `.*cccoreservice" stop`: its program is not there \(exit 127.*\): nothing to stop/);
    expect(await fs.readFile(path.join(fresh, 'cassatt/config/controller.properties'), 'utf8')).toBe('tier.count=4\nswitch.0=10.0.0.2\n');
    expect(await hookCalls()).toEqual(['start post-restore']);
  });

  it("the dry run's download total includes the database dump it lists (issue 17)", async () => {
    const summaryOf = async (extra: string[]): Promise<{ downloadBytes: number }> => {
      const result = await cassette(['restore', 'latest', '--runbook', 'cassatt', '--root', path.join(work, 'dry'), '--dry-run', '--json', ...extra, '--repo', repo], { env });
      expect(result.exitCode, result.stderr as string).toBe(0);
      return JSON.parse((result.stdout as string).trim().split('\n').at(-1)!) as { downloadBytes: number };
    };
    const [latest] = (await listSnapshots(new LocalStore(path.join(work, 'repo')))).slice(-1);
    const dump = latest!.artifacts.find((a) => a.kind === 'database')!;
    const withDatabase = await summaryOf([]);
    const without = await summaryOf(['--no-database']);
    expect(withDatabase.downloadBytes - without.downloadBytes).toBe(dump.storedBytes + (dump.reusedBytes ?? 0));
    expect(dump.storedBytes).toBeGreaterThan(0);
  });

  it('--no-hooks runs neither hook, and its dry run says so', async () => {
    const fresh = path.join(work, 'no-hooks');
    await installService(fresh, log);
    await fs.writeFile(log, '');
    const dry = await cassette(['restore', 'latest', '--runbook', 'cassatt', '--in-place', '--root', fresh, '--no-database', '--no-hooks', '--dry-run', '--repo', repo], { env });
    expect(dry.exitCode, dry.stderr as string).toBe(0);
    const steps = (dry.stdout as string).split('\n').filter((l) => l.startsWith('step: '));
    expect(steps[0]).toBe('step: skip the pre- and post-restore hooks (--no-hooks)');
    expect(steps.filter((step) => step.includes('hook:'))).toEqual([]);
    const result = await cassette(['restore', 'latest', '--runbook', 'cassatt', '--in-place', '--root', fresh, '--no-database', '--no-hooks', '--repo', repo], { env });
    expect(result.exitCode, result.stderr as string).toBe(0);
    expect(await hookCalls()).toEqual([]);
    const backup = await cassette(['backup', '--runbook', 'cassatt', ...AS_DB, '--root', node, '--no-hooks', '--repo', repo], { env });
    expect(backup.exitCode, backup.stderr as string).toBe(0);
    expect(backup.stderr).toContain("note: not running the plan's pre- and post-backup hooks (--no-hooks)");
    expect(await hookCalls()).toEqual([]);
  });

  it('a start hook that fails is reported after the restore, whose files are all there (issue 17)', async () => {
    const fresh = path.join(work, 'start-fails');
    await installService(fresh, log);
    await fs.writeFile(log, '');
    await fs.writeFile(`${log}.fail-start`, '');
    try {
      const result = await cassette(['restore', 'latest', '--runbook', 'cassatt', '--in-place', '--root', fresh, '--no-database', '--repo', repo], { env });
      expect(result.exitCode).toBe(1);
      const stderr = result.stderr as string;
      const summary = stderr.search(/restored \d+ entries/);
      const failure = stderr.indexOf('everything was restored, but the post-restore hook');
      expect(summary).toBeGreaterThanOrEqual(0);
      expect(failure).toBeGreaterThan(summary);
      expect(stderr).toContain('failed with exit 4: license server unreachable');
      expect(await fs.readFile(path.join(fresh, 'etc/cassatt/collage.conf'), 'utf8')).toBe('db=collage\n');
      expect(await hookCalls()).toEqual(['stop pre-restore', 'start post-restore']);
    } finally {
      await fs.rm(`${log}.fail-start`);
    }
  });

  it('--profile, the old name of --runbook, still works with a note; a name that is no runbook gets the AWS hint (issue 17)', async () => {
    const old = await cassette(['plan', 'show', '--profile', 'cassatt']);
    expect(old.exitCode).toBe(0);
    expect(old.stderr).toBe('note: --profile cassatt is now --runbook cassatt\n');
    expect(old.stdout).toBe((await cassette(['plan', 'show', '--runbook', 'cassatt'])).stdout);
    const config = path.join(work, 'aws-config');
    await fs.writeFile(config, '[default]\nregion = us-east-1\n[profile moto]\nendpoint_url = http://127.0.0.1:1\n');
    const aws = await cassette(['backup', '--profile', 'moto', node, '--repo', repo], { env: { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'none') } });
    expect(aws.exitCode).toBe(2);
    expect(aws.stderr).toBe(
      'cassette: --profile names a Cassette runbook (now --runbook; built-in: cassatt), and "moto" is none; "moto" is a profile in your AWS config: use --aws-profile moto or AWS_PROFILE=moto\n',
    );
    const other = await cassette(['restore', 'latest', '--profile', 'prod', '--dry-run', '--repo', repo], { env: { AWS_CONFIG_FILE: config } });
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toContain('"prod" is none; for an AWS credentials profile, use --aws-profile prod or AWS_PROFILE=prod');
    const both = await cassette(['prune', '--runbook', 'cassatt', '--profile', 'cassatt', '--dry-run', '--repo', repo]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('give --runbook, not --runbook and --profile');
  });

  it('--role secondary stores neither /cassatt nor /cassatt/database, --skip-images nothing under images', async () => {
    const secondary = await cassette(['backup', '--runbook', 'cassatt', ...AS_DB, '--role', 'secondary', '--root', node, '--repo', repo, '--json'], { env });
    expect(secondary.exitCode).toBe(0);
    const skip = await cassette(['backup', '--runbook', 'cassatt', ...AS_DB, '--skip-images', '--root', node, '--repo', repo, '--json'], { env });
    expect(skip.exitCode).toBe(0);
    const store = new LocalStore(path.join(work, 'repo'));
    const records = await listSnapshots(store);
    const idOf = (stdout: unknown): string => (JSON.parse((stdout as string).trim().split('\n').at(-1)!) as { snapshot: string }).snapshot;
    const sec = records.find((r) => r.id === idOf(secondary.stdout));
    const skipped = records.find((r) => r.id === idOf(skip.stdout));
    expect(sec!.role).toBe('secondary');
    expect(sec!.artifacts.map((a) => a.name)).not.toContain('cassatt');
    expect(sec!.artifacts.map((a) => a.name)).not.toContain('cassatt-database');
    expect(sec!.artifacts.filter((a) => a.kind === 'database')).toEqual([]);
    const all: string[] = [];
    for (const artifact of sec!.artifacts) {
      const index = await openIndex(store, artifact);
      for await (const entry of index.entries) all.push(path.join(artifact.source, entry.path));
    }
    expect(all.filter((p) => p.startsWith(path.join(node, 'cassatt')))).toEqual([]);
    const cassatt = skipped!.artifacts.find((a) => a.name === 'cassatt')!;
    const index = await openIndex(store, cassatt);
    const entries: string[] = [];
    for await (const entry of index.entries) entries.push(entry.path);
    expect(entries).toContain('config/controller.properties');
    expect(entries.filter((p) => p.startsWith('images'))).toEqual([]);
  });

  it('a failing pre-backup hook reads nothing and commits nothing; the post hook still runs', async () => {
    const store = new LocalStore(path.join(work, 'repo'));
    const before = (await listSnapshots(store)).length;
    await fs.writeFile(`${log}.fail-stop`, '');
    await fs.writeFile(log, '');
    try {
      const result = await cassette(['backup', '--runbook', 'cassatt', ...AS_DB, '--root', node, '--repo', repo], { env });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('pre-backup hook');
      expect(result.stderr).toContain('tier allocation in progress');
      expect((await listSnapshots(store)).length).toBe(before);
      expect(
        (await fs.readFile(log, 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(' ').slice(0, 2).join(' ')),
      ).toEqual(['stop pre-backup', 'start post-backup']);
    } finally {
      await fs.rm(`${log}.fail-stop`);
    }
  });

  it('the post-backup hook runs after a failed backup and the failure is reported', async () => {
    await fs.writeFile(log, '');
    const result = await cassette(['backup', '--plan', await planFile(work, node, log), '--repo', repo], { env });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`${DB}_missing`);
    expect(result.stderr).toContain('post-backup hook ran after the failure');
    expect(await fs.readFile(log, 'utf8')).toContain('start post-backup');
    expect(await fs.readFile(log, 'utf8')).toContain('failure');
  });
});

async function planFile(work: string, node: string, log: string): Promise<string> {
  const file = path.join(work, 'plan.yaml');
  await fs.writeFile(
    file,
    [
      'name: site',
      'sources:',
      `  - ${node}/etc`,
      'databases:',
      `  - ${DB}_missing`,
      'hooks:',
      `  pre-backup: ${node}/opt/cassatt/bin/cccoreservice stop`,
      `  post-backup: ${node}/opt/cassatt/bin/cccoreservice start`,
      '',
    ].join('\n'),
  );
  void log;
  return file;
}
