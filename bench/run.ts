// `npm run bench -- --size small|default [--runs 3] [--endpoint URL | --server s3rver|rgw] [--skip-db] [--skip-encrypted] [--seed N] [--bucket NAME]`
//
// Cassette against the pipeline a user would type (tar | zstd -3 -T0 | aws s3 cp -), on the same
// data and the same S3 server in one run, interleaved A B A B; plus the stage limits (read+tar,
// compression, upload, download, decompression, extraction, pg_dump, pg_restore) measured in the
// same run so that each result says which stage bound it. Writes bench/results/<date>-<size>.{md,json}.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { artifactNameFor } from '../src/backup/sources.js';
import { messageOf } from '../src/errors.js';
import { CLI, engineVersion, repoRoot, summaryOf, rerender } from './cassette-cli.js';
import { ensureDatabase, ensureTree, type BenchSize, type DbInfo, type TreeInfo } from './dataset.js';
import { HAVE_GNU_TIME, runTimed, ServerWatch, sh, type ProcTimes, type Stage, type TimedResult } from './exec.js';
import { renderMarkdown, type BenchReport, type Measurement, type StageMeasurement, machineOf } from './report.js';
import { deletePrefix, ensureBucket, externalEndpoint, listPrefix, startRgw, startS3rver, type S3Target } from './s3.js';
import { Trash } from './trash.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const STAGE = path.join(here, 'stage.js');

interface Args {
  size: BenchSize;
  runs: number;
  endpoint?: string;
  skipDb: boolean;
  /** Leave out the encrypted tree backup and restores (issue 16). */
  skipEncrypted: boolean;
  seed: number;
  bucket: string;
  /** The S3 server the bench starts when no --endpoint is given: s3rver (a child process) or a throwaway Ceph RGW (test/setup/rgw.sh). */
  server: 's3rver' | 'rgw';
  /** With --server rgw: the OSD's sparse file, GiB (room for every object the run keeps). */
  rgwGiB: number;
  /** Re-render the markdown of an earlier run from its JSON, measuring nothing. */
  render?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { size: 'default', runs: 3, skipDb: false, skipEncrypted: false, seed: 1, bucket: 'cassette-bench', server: 's3rver', rgwGiB: 64 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--size') {
      const v = value();
      if (v !== 'small' && v !== 'default') throw new Error(`--size must be small or default, got ${v}`);
      args.size = v;
    } else if (a === '--runs') args.runs = Number(value());
    else if (a === '--endpoint') args.endpoint = value();
    else if (a === '--skip-db') args.skipDb = true;
    else if (a === '--skip-encrypted') args.skipEncrypted = true;
    else if (a === '--seed') args.seed = Number(value());
    else if (a === '--bucket') args.bucket = value();
    else if (a === '--server') {
      const v = value();
      if (v !== 's3rver' && v !== 'rgw') throw new Error(`--server must be s3rver or rgw, got ${v}`);
      args.server = v;
    } else if (a === '--rgw-gib') args.rgwGiB = Number(value());
    else if (a === '--render') args.render = value();
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--size small|default] [--runs 3] [--endpoint URL | --server s3rver|rgw [--rgw-gib 64]] [--skip-db] [--skip-encrypted] [--seed 1] [--bucket cassette-bench]\n       npm run bench -- --render bench/results/DATE-SIZE.json   (rewrite the .md of that run from its measurements)\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(args.runs) || args.runs < 1) throw new Error('--runs must be a whole number ≥ 1');
  if (!Number.isInteger(args.rgwGiB) || args.rgwGiB < 8) throw new Error('--rgw-gib must be a whole number ≥ 8');
  if (args.endpoint && args.server === 'rgw') throw new Error('give --endpoint or --server rgw, not both');
  return args;
}

const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

/** The snapshot id of a backup: from its summary, else from the snapshots listing. */
async function snapshotOf(stdout: string, repo: string, target: S3Target): Promise<string> {
  const id = summaryOf(stdout).snapshot;
  if (typeof id === 'string') return id;
  const out = await sh(['node', CLI, 'snapshots', '--repo', repo, '--endpoint', target.endpoint, '--json'], { env: target.env });
  const match = /"id"\s*:\s*"([^"]+)"/.exec(out);
  if (!match) throw new Error(`no snapshot found in ${repo}`);
  return match[1]!;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.render) {
    await rerender(args.render, renderMarkdown, log);
    return;
  }
  const started = new Date();
  const loadAtStart = os.loadavg();
  const dataDir = path.join(repoRoot, 'bench/data');
  const work = await fs.mkdtemp(path.join(os.tmpdir(), `cassette-bench-${args.size}-`));
  // Interrupted: remove the scratch directory (tar copies of the data set); s3rver exits when our stdin pipe closes, a Ceph cluster is stopped.
  const server: { stopNow?: () => void } = {};
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      server.stopNow?.();
      fsSync.rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  }
  const pgEnv: NodeJS.ProcessEnv = { ...process.env, PGHOST: process.env.PGHOST ?? '127.0.0.1', PGUSER: process.env.PGUSER ?? 'postgres' };
  if (!HAVE_GNU_TIME) log('/usr/bin/time not found: per-process CPU from bash `times`, no peak RSS');

  const tree = await ensureTree(dataDir, args.size, args.seed, log);
  const db = args.skipDb ? undefined : await ensureDatabase(args.size, pgEnv, log);

  const target = args.endpoint ? externalEndpoint(args.endpoint) : args.server === 'rgw' ? await startRgw(args.rgwGiB) : await startS3rver(work);
  server.stopNow = target.stopNow;
  // CASSETTE_CACHE_DIR: the encrypted backups' metadata cache stays in the scratch directory.
  const env: NodeJS.ProcessEnv = { ...target.env, PGHOST: pgEnv.PGHOST, PGUSER: pgEnv.PGUSER, AWS_ENDPOINT_URL: target.endpoint, CASSETTE_CACHE_DIR: path.join(work, 'cache') };
  log(`S3: ${target.label} on ${target.endpoint}${target.pids ? ` (pids ${target.pids.join(', ')})` : ''}`);
  const watch = target.pids ? new ServerWatch(target.pids) : undefined;
  const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const bucket = args.bucket;
  await ensureBucket(target.client, bucket);
  const base = `${args.size}-${stamp}`;

  const cliHelp = await sh(['node', CLI, 'backup', '--help']);
  const hasPg = cliHelp.includes('--pg ');
  const notes: string[] = [];
  // Extracted trees (the extract stage, both full restores) are kept until the end: see trash.ts.
  // Per run: the extract stage's tree, both full restores, and the encrypted one.
  const trash = await Trash.create(work, Math.ceil(args.runs * (args.skipEncrypted ? 3.1 : 4.1) * tree.bytes));
  if (!trash.keeping) {
    notes.push(
      "Not enough free disk to keep every extracted tree until the end: each was deleted right after it was measured, so a restore that followed a deletion may include ext4's scan of recently freed inodes (bench/trash.ts).",
    );
  }
  if (db && !hasPg) notes.push('`cassette backup --pg` does not exist in this build: the cassette side of the database rows is skipped.');

  // Fixed inputs of the stage limits: the tree as one tar and as tar.zst, the database dump.
  const tarFile = path.join(work, 'tree.tar');
  const tarZst = path.join(work, 'tree.tar.zst');
  const dumpFile = path.join(work, 'db.tar');
  log('stage inputs: tar of the data set, its zstd -3, the pg_dump file …');
  await sh(['tar', '-cf', tarFile, '-C', tree.root, '.']);
  await sh(['zstd', '-q', '-3', '-T0', '-f', tarFile, '-o', tarZst]);
  const tarBytes = (await fs.stat(tarFile)).size;
  const tarZstBytes = (await fs.stat(tarZst)).size;
  let dumpBytes = 0;
  if (db) {
    await sh(['pg_dump', '-Ft', '-b', '-f', dumpFile, db.name], { env });
    dumpBytes = (await fs.stat(dumpFile)).size;
  }

  // The encrypted runs' key pair (issue 16): backups get the public key, restores the identity file.
  const identityFile = path.join(work, 'key.txt');
  const recipient = args.skipEncrypted ? '' : (await sh(['node', CLI, 'key', 'generate', '-o', identityFile])).trim();
  const measurements: Measurement[] = [];
  const stages: StageMeasurement[] = [];
  const cliArgs = ['--endpoint', target.endpoint, '--json'];
  const artifactOf = (rel: string): string => {
    const top = rel.split('/')[0]!;
    return `${artifactNameFor(path.join(tree.root, top))}/${rel.slice(top.length + 1)}`;
  };

  const timed = (stagesList: Stage[], options: Parameters<typeof runTimed>[1] = {}): Promise<TimedResult> => runTimed(stagesList, { env, server: watch, ...options });

  const record = (op: string, tool: 'cassette' | 'baseline', run: number, result: TimedResult, extra: Partial<Measurement> & { sourceBytes: number }): Measurement => {
    const clientCpuS = result.procs.reduce((s, p) => s + p.userS + p.sysS, 0);
    const m: Measurement = {
      op,
      tool,
      run,
      wallS: result.wallS,
      mbps: extra.sourceBytes / 1e6 / result.wallS,
      clientCpuS,
      serverCpuS: result.server?.cpuS,
      serverPeakRssKiB: result.server?.peakRssKiB,
      otherCpuS: Math.max(0, result.machineBusyS - clientCpuS - (result.server?.cpuS ?? 0)),
      peakRssKiB: Math.max(0, ...result.procs.map((p) => p.maxRssKiB)),
      procs: result.procs,
      ...extra,
    };
    measurements.push(m);
    log(
      `run ${run} ${op} ${tool}: ${m.wallS.toFixed(2)} s, ${m.mbps.toFixed(0)} MB/s, CPU ${clientCpuS.toFixed(1)} s + server ${(m.serverCpuS ?? 0).toFixed(1)} s (others on the machine ${m.otherCpuS.toFixed(1)} s)${m.storedBytes !== undefined ? `, stored ${(m.storedBytes / 1e6).toFixed(1)} MB` : ''}${m.downloadBytes !== undefined ? `, downloaded ${(m.downloadBytes / 1e6).toFixed(2)} MB` : ''}`,
    );
    return m;
  };

  const stage = (
    name: string,
    tool: 'cassette' | 'baseline',
    kind: StageMeasurement['kind'],
    run: number,
    sourceBytes: number,
    result: TimedResult,
    inProcess?: { seconds: number; cpuS: number },
  ): void => {
    const wallS = inProcess?.seconds ?? result.wallS;
    const cpuS = inProcess?.cpuS ?? result.procs.reduce((s, p) => s + p.userS + p.sysS, 0);
    const ownCpuS = result.procs.reduce((s, p) => s + p.userS + p.sysS, 0);
    stages.push({
      name,
      tool,
      kind,
      run,
      wallS,
      sourceMBps: sourceBytes / 1e6 / wallS,
      cpuS,
      serverCpuS: result.server?.cpuS,
      otherCpuS: Math.max(0, result.machineBusyS - ownCpuS - (result.server?.cpuS ?? 0)),
      peakRssKiB: Math.max(0, ...result.procs.map((p) => p.maxRssKiB)),
    });
    log(`run ${run} stage ${name}: ${wallS.toFixed(2)} s, ${(sourceBytes / 1e6 / wallS).toFixed(0)} MB/s of source, CPU ${cpuS.toFixed(1)} s`);
  };
  const stageJson = (result: TimedResult): { seconds: number; cpuS: number } => JSON.parse(result.stdout.trim().split('\n').pop()!) as { seconds: number; cpuS: number };

  try {
    for (let run = 1; run <= args.runs; run++) {
      const prefix = `${base}/r${run}`;
      const out = path.join(work, `r${run}`);
      await fs.mkdir(out, { recursive: true });

      // Stage limits, interleaved tool by tool. All throughputs are in MB/s of *source* bytes.
      stage(
        'read+tar',
        'baseline',
        'backup',
        run,
        tree.bytes,
        await timed(
          [
            { name: 'tar', argv: ['tar', '-cf', '-', '-C', tree.root, '.'] },
            { name: 'cat', argv: ['cat'] },
          ],
          { stdoutFile: '/dev/null' },
        ),
      );
      {
        const r = await timed([{ name: 'node(pack)', argv: ['node', STAGE, 'pack', ...tree.dirs] }]);
        stage('read+tar', 'cassette', 'backup', run, tree.bytes, r, stageJson(r));
      }
      stage('compress', 'baseline', 'backup', run, tree.bytes, await timed([{ name: 'zstd', argv: ['zstd', '-q', '-3', '-T0', '-c', tarFile] }], { stdoutFile: '/dev/null' }));
      {
        const r = await timed([{ name: 'node(pool)', argv: ['node', STAGE, 'compress', tarFile] }]);
        stage('compress', 'cassette', 'backup', run, tree.bytes, r, stageJson(r));
      }
      stage(
        'upload',
        'baseline',
        'backup',
        run,
        tree.bytes,
        await timed([{ name: 'aws', argv: ['aws', 's3', 'cp', '--only-show-errors', tarZst, `s3://${bucket}/${prefix}/stage/aws.tar.zst`, '--endpoint-url', target.endpoint] }]),
      );
      {
        const r = await timed([{ name: 'node(put)', argv: ['node', STAGE, 'put', tarZst, `s3://${bucket}/${prefix}/stage/cassette.tar.zst`] }]);
        stage('upload', 'cassette', 'backup', run, tree.bytes, r, stageJson(r));
      }
      stage(
        'download',
        'baseline',
        'restore',
        run,
        tree.bytes,
        await timed([{ name: 'aws', argv: ['aws', 's3', 'cp', '--only-show-errors', `s3://${bucket}/${prefix}/stage/aws.tar.zst`, '-', '--endpoint-url', target.endpoint] }], {
          stdoutFile: '/dev/null',
        }),
      );
      {
        const r = await timed([{ name: 'node(get)', argv: ['node', STAGE, 'get', `s3://${bucket}/${prefix}/stage/cassette.tar.zst`] }]);
        stage('download', 'cassette', 'restore', run, tree.bytes, r, stageJson(r));
      }
      stage('decompress', 'baseline', 'restore', run, tree.bytes, await timed([{ name: 'zstd', argv: ['zstd', '-q', '-dc', tarZst] }], { stdoutFile: '/dev/null' }));
      {
        const r = await timed([{ name: 'node(pool)', argv: ['node', STAGE, 'decompress', tarFile] }]);
        stage('decompress', 'cassette', 'restore', run, tree.bytes, r, stageJson(r));
      }
      await fs.mkdir(path.join(out, 'untar'));
      await sh(['sync']);
      stage('extract', 'baseline', 'restore', run, tree.bytes, await timed([{ name: 'tar', argv: ['tar', '-xf', tarFile, '-C', path.join(out, 'untar')] }]));
      await trash.discard(path.join(out, 'untar'));
      if (db) {
        stage('pg_dump', 'baseline', 'db-backup', run, dumpBytes, await timed([{ name: 'pg_dump', argv: ['pg_dump', '-Ft', '-b', db.name] }], { stdoutFile: '/dev/null' }));
        const scratch = `${db.name}_stage`;
        await sh(['dropdb', '--if-exists', '--force', scratch], { env });
        await sh(['createdb', scratch], { env });
        stage('pg_restore', 'baseline', 'db-restore', run, dumpBytes, await timed([{ name: 'pg_restore', argv: ['pg_restore', '-d', scratch, dumpFile] }]));
        await sh(['dropdb', '--force', scratch], { env });
      }
      await deletePrefix(target.client, bucket, `${prefix}/stage/`);

      // Tree backup.
      const cRepo = `s3://${bucket}/${prefix}/cassette-tree`;
      const bTree = `s3://${bucket}/${prefix}/baseline-tree/tree.tar.zst`;
      const cb = await timed([{ name: 'cassette', argv: ['node', CLI, 'backup', ...tree.dirs, '--repo', cRepo, ...cliArgs] }]);
      const snapshot = await snapshotOf(cb.stdout, cRepo, target);
      record('tree backup', 'cassette', run, cb, { sourceBytes: tree.bytes, storedBytes: (await listPrefix(target.client, bucket, `${prefix}/cassette-tree/`)).bytes });
      // The same tree encrypted (age), right after the plain one, so that each pair sees the same machine (issue 16).
      const eRepo = `s3://${bucket}/${prefix}/cassette-tree-enc`;
      let eSnapshot = '';
      if (!args.skipEncrypted) {
        const eb = await timed([{ name: 'cassette', argv: ['node', CLI, 'backup', ...tree.dirs, '--repo', eRepo, '--encrypt-to', recipient, ...cliArgs] }]);
        eSnapshot = String(summaryOf(eb.stdout).snapshot);
        record('encrypted tree backup', 'cassette', run, eb, {
          sourceBytes: tree.bytes,
          storedBytes: (await listPrefix(target.client, bucket, `${prefix}/cassette-tree-enc/`)).bytes,
        });
      }
      const bb = await timed([
        { name: 'tar', argv: ['tar', '-cf', '-', '-C', tree.root, '.'] },
        { name: 'zstd', argv: ['zstd', '-q', '-3', '-T0'] },
        { name: 'aws', argv: ['aws', 's3', 'cp', '--only-show-errors', '-', bTree, '--endpoint-url', target.endpoint] },
      ]);
      const baselineStored = (await listPrefix(target.client, bucket, `${prefix}/baseline-tree/`)).bytes;
      record('tree backup', 'baseline', run, bb, { sourceBytes: tree.bytes, storedBytes: baselineStored });

      // Full restore.
      const cFull = path.join(out, 'c-full');
      const bFull = path.join(out, 'b-full');
      await fs.mkdir(bFull, { recursive: true });
      // Each restore starts with no dirty data from the one before (5 GB of it is still being
      // written back when a restore ends): whichever came second would pay for that writeback.
      await sh(['sync']);
      const cr = await timed([{ name: 'cassette', argv: ['node', CLI, 'restore', snapshot, '--target', cFull, '--repo', cRepo, ...cliArgs] }]);
      record('full restore', 'cassette', run, cr, { sourceBytes: tree.bytes, downloadBytes: Number(summaryOf(cr.stdout).downloadBytes ?? NaN) });
      await checkFile(path.join(cFull, artifactOf(tree.largeFile)), path.join(tree.root, tree.largeFile), 'cassette full restore');
      await trash.discard(cFull);
      if (!args.skipEncrypted) {
        const eFull = path.join(out, 'e-full');
        await sh(['sync']);
        const er = await timed([{ name: 'cassette', argv: ['node', CLI, 'restore', eSnapshot, '--target', eFull, '--repo', eRepo, '--identity', identityFile, ...cliArgs] }]);
        record('encrypted full restore', 'cassette', run, er, { sourceBytes: tree.bytes, downloadBytes: encryptedDownload(er.stdout) });
        await checkFile(path.join(eFull, artifactOf(tree.largeFile)), path.join(tree.root, tree.largeFile), 'cassette encrypted full restore');
        await trash.discard(eFull);
      }
      await sh(['sync']);
      const br = await timed([
        { name: 'aws', argv: ['aws', 's3', 'cp', '--only-show-errors', bTree, '-', '--endpoint-url', target.endpoint] },
        { name: 'zstd', argv: ['zstd', '-q', '-dc'] },
        { name: 'tar', argv: ['tar', '-x', '-C', bFull] },
      ]);
      record('full restore', 'baseline', run, br, { sourceBytes: tree.bytes, downloadBytes: baselineStored });
      await checkFile(path.join(bFull, tree.largeFile), path.join(tree.root, tree.largeFile), 'baseline full restore');
      await trash.discard(bFull);

      // Selective restores: one ≈9 KB config, one disk image.
      for (const [op, rel] of [
        ['small file restore', tree.smallFile],
        ['large image restore', tree.largeFile],
      ] as const) {
        const sourceBytes = (await fs.stat(path.join(tree.root, rel))).size;
        const cDir = path.join(out, 'c-sel');
        const bDir = path.join(out, 'b-sel');
        await fs.mkdir(bDir, { recursive: true });
        const cs = await timed([{ name: 'cassette', argv: ['node', CLI, 'restore', snapshot, '--include', artifactOf(rel), '--target', cDir, '--repo', cRepo, ...cliArgs] }]);
        record(op, 'cassette', run, cs, { sourceBytes, downloadBytes: Number(summaryOf(cs.stdout).downloadBytes ?? NaN) });
        await checkFile(path.join(cDir, artifactOf(rel)), path.join(tree.root, rel), `cassette ${op}`);
        if (!args.skipEncrypted && op === 'small file restore') {
          const eDir = path.join(out, 'e-sel');
          const es = await timed([
            {
              name: 'cassette',
              argv: ['node', CLI, 'restore', eSnapshot, '--include', artifactOf(rel), '--target', eDir, '--repo', eRepo, '--identity', identityFile, ...cliArgs],
            },
          ]);
          record('encrypted small file restore', 'cassette', run, es, { sourceBytes, downloadBytes: encryptedDownload(es.stdout) });
          await checkFile(path.join(eDir, artifactOf(rel)), path.join(tree.root, rel), 'cassette encrypted small file restore');
          await trash.discard(eDir);
        }
        const bs = await timed([
          { name: 'aws', argv: ['aws', 's3', 'cp', '--only-show-errors', bTree, '-', '--endpoint-url', target.endpoint] },
          { name: 'zstd', argv: ['zstd', '-q', '-dc'] },
          { name: 'tar', argv: ['tar', '-x', '-C', bDir, `./${rel}`] },
        ]);
        record(op, 'baseline', run, bs, { sourceBytes, downloadBytes: baselineStored });
        await checkFile(path.join(bDir, rel), path.join(tree.root, rel), `baseline ${op}`);
        await trash.discard(cDir);
        await trash.discard(bDir);
      }
      await deletePrefix(target.client, bucket, `${prefix}/cassette-tree/`);
      await deletePrefix(target.client, bucket, `${prefix}/baseline-tree/`);

      await deletePrefix(target.client, bucket, `${prefix}/cassette-tree-enc/`);

      // Database backup and restore.
      if (db) {
        const cDbRepo = `s3://${bucket}/${prefix}/cassette-db`;
        const bDb = `s3://${bucket}/${prefix}/baseline-db/${db.name}.tar.zst`;
        let dbSnapshot: string | undefined;
        if (hasPg) {
          const cdb = await timed([{ name: 'cassette', argv: ['node', CLI, 'backup', '--pg', db.name, '--repo', cDbRepo, ...cliArgs] }]);
          dbSnapshot = await snapshotOf(cdb.stdout, cDbRepo, target);
          record('database backup', 'cassette', run, cdb, { sourceBytes: dumpBytes, storedBytes: (await listPrefix(target.client, bucket, `${prefix}/cassette-db/`)).bytes });
        }
        const bdb = await timed([
          { name: 'pg_dump', argv: ['pg_dump', '-Ft', '-b', db.name] },
          { name: 'zstd', argv: ['zstd', '-q', '-3', '-T0'] },
          { name: 'aws', argv: ['aws', 's3', 'cp', '--only-show-errors', '-', bDb, '--endpoint-url', target.endpoint] },
        ]);
        const bDbStored = (await listPrefix(target.client, bucket, `${prefix}/baseline-db/`)).bytes;
        record('database backup', 'baseline', run, bdb, { sourceBytes: dumpBytes, storedBytes: bDbStored });

        const cTarget = `${db.name}_rc`;
        const bTarget = `${db.name}_rb`;
        for (const name of [cTarget, bTarget]) await sh(['dropdb', '--if-exists', '--force', name], { env });
        if (dbSnapshot) {
          const crd = await timed([{ name: 'cassette', argv: ['node', CLI, 'restore', dbSnapshot, '--pg', db.name, '--pg-target', cTarget, '--repo', cDbRepo, ...cliArgs] }]);
          record('database restore', 'cassette', run, crd, { sourceBytes: dumpBytes });
          await checkDb(cTarget, db, env);
        }
        // createdb is part of what the user types: timed, and added to the pipeline's numbers.
        const create = await timed([{ name: 'createdb', argv: ['createdb', bTarget] }]);
        const brd = await timed([
          { name: 'aws', argv: ['aws', 's3', 'cp', '--only-show-errors', bDb, '-', '--endpoint-url', target.endpoint] },
          { name: 'zstd', argv: ['zstd', '-q', '-dc'] },
          { name: 'pg_restore', argv: ['pg_restore', '-d', bTarget] },
        ]);
        record('database restore', 'baseline', run, mergeTimed(create, brd), { sourceBytes: dumpBytes });
        await checkDb(bTarget, db, env);
        for (const name of [cTarget, bTarget]) await sh(['dropdb', '--if-exists', '--force', name], { env });
        await deletePrefix(target.client, bucket, `${prefix}/cassette-db/`);
        await deletePrefix(target.client, bucket, `${prefix}/baseline-db/`);
      }
      await trash.discard(out);
    }
  } finally {
    await target.close().catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  }

  const loadEnd = os.loadavg();
  const cores = os.cpus().length;
  if (Math.max(loadAtStart[0]!, loadEnd[0]!) > cores) {
    notes.push(
      `The machine was busy with other work (load average ${loadAtStart[0]!.toFixed(1)} at start, ${loadEnd[0]!.toFixed(1)} at end, ${cores} cores): see the "others CPU s" column — CPU seconds other processes used during each measurement — before reading small differences.`,
    );
  }
  if (!args.skipDb && db) {
    notes.push('The cassette database restore also runs ANALYZE (the runbook step); the baseline pipeline does not.');
  }
  const report: BenchReport = {
    date: started.toISOString(),
    size: args.size,
    seed: args.seed,
    runs: args.runs,
    machine: machineOf(loadAtStart, loadEnd),
    server: target.label,
    engine: await engineVersion(),
    tools: {
      aws: (await sh(['aws', '--version']).catch((e: unknown) => messageOf(e))).trim().split(' ')[0] ?? '',
      zstd: (await sh(['zstd', '-V'])).trim(),
      tar: (await sh(['tar', '--version'])).split('\n')[0]!,
      timing: HAVE_GNU_TIME ? "/usr/bin/time -f '%e %U %S %M' per process; server via /proc/<pid>/stat and VmHWM" : 'bash times per process',
    },
    dataset: {
      root: path.relative(repoRoot, tree.root),
      files: tree.files,
      bytes: tree.bytes,
      tarBytes,
      tarZstBytes,
      smallFile: tree.smallFile,
      largeFile: tree.largeFile,
      database: db ? { name: db.name, bytes: db.bytes, dumpBytes } : undefined,
    },
    notes,
    measurements,
    stages,
  };
  const markdown = renderMarkdown(report);
  const resultsDir = path.join(repoRoot, 'bench/results');
  await fs.mkdir(resultsDir, { recursive: true });
  const name = `${started.toISOString().slice(0, 10)}-${args.size}`;
  await fs.writeFile(path.join(resultsDir, `${name}.md`), markdown);
  await fs.writeFile(path.join(resultsDir, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(markdown);
  log(`wrote bench/results/${name}.md and .json`);
}

/** What an encrypted restore transferred: whole 64 KiB chunks, headers and the index (its summary's encryptedBytesDownloaded). */
function encryptedDownload(stdout: string): number {
  return Number(summaryOf(stdout).encryptedBytesDownloaded ?? NaN);
}

/** Two sequential timed steps as one measurement (walls and processes added). */
function mergeTimed(a: TimedResult, b: TimedResult): TimedResult {
  return {
    wallS: a.wallS + b.wallS,
    machineBusyS: a.machineBusyS + b.machineBusyS,
    procs: [...a.procs, ...b.procs] as ProcTimes[],
    server: a.server && b.server ? { cpuS: a.server.cpuS + b.server.cpuS, peakRssKiB: Math.max(a.server.peakRssKiB, b.server.peakRssKiB) } : b.server,
    exitCode: b.exitCode,
    stdout: b.stdout,
    stderr: b.stderr,
  };
}

/** A restored file must have the source's size (content is checked by cassette itself; this catches a wrong selection). */
async function checkFile(restored: string, source: string, what: string): Promise<void> {
  const [r, s] = await Promise.all([fs.stat(restored).catch(() => undefined), fs.stat(source)]);
  if (!r || r.size !== s.size) throw new Error(`${what}: ${restored} is ${r ? `${r.size} bytes, expected ${s.size}` : 'missing'}`);
}

async function checkDb(name: string, db: DbInfo, env: NodeJS.ProcessEnv): Promise<void> {
  const q = (sql: string): Promise<string> => sh(['psql', '-X', '-At', '-d', name, '-c', sql], { env });
  const [events, los] = await Promise.all([q('SELECT count(*) FROM events'), q('SELECT count(*) FROM pg_largeobject_metadata')]);
  const [srcEvents, srcLos] = await Promise.all([
    sh(['psql', '-X', '-At', '-d', db.name, '-c', 'SELECT count(*) FROM events'], { env }),
    sh(['psql', '-X', '-At', '-d', db.name, '-c', 'SELECT count(*) FROM pg_largeobject_metadata'], { env }),
  ]);
  if (events.trim() !== srcEvents.trim() || los.trim() !== srcLos.trim())
    throw new Error(`restored database ${name} differs: ${events.trim()} events / ${los.trim()} large objects, expected ${srcEvents.trim()} / ${srcLos.trim()}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

export type { TreeInfo };
