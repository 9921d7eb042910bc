// `npm run bench:incremental -- [--size small|default] [--runs 3] [--endpoint URL --bucket NAME] [--skip-restic] [--skip-scale] [--files 500000] [--seed 1]`
//
// Issue 15's numbers for incremental backups, side by side in one run against one S3 server: a
// copy of the bench tree plus a 1 GiB disk image is backed up in full, again unchanged, and again
// after 100 config files and 8 MiB in the image's middle changed (restic backs up the same three
// states in between, when it is on PATH); then the changed (incremental) snapshot and the full one
// are restored alternately; last, an incremental backup of many small files with a parent of as
// many, for its peak RSS. Writes bench/results/<date>-incremental.{md,json}.

import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { artifactNameFor } from '../src/backup/sources.js';
import { writeImage } from '../src/demo/sample-tree.js';
import { messageOf } from '../src/errors.js';
import { CLI, engineVersion, repoRoot, summaryOf, rerender } from './cassette-cli.js';
import { ensureTree, type BenchSize } from './dataset.js';
import { HAVE_GNU_TIME, runTimed, ServerWatch, sh, type TimedResult } from './exec.js';
import { find, renderIncrementalMarkdown, type IncrementalReport, type SnapshotObjects, type Step, type StepMeasurement, type Tool } from './incremental-report.js';
import { parseResticSummary, resticArgv, resticEnv, resticRepository, resticVersion } from './restic.js';
import { deletePrefix, ensureBucket, externalEndpoint, listPrefix, startS3rver, type S3Target } from './s3.js';
import { ensureSmallFiles } from './small-files.js';
import { Trash } from './trash.js';
import { changeTree, checkRestored, type TreeChange } from './tree-changes.js';
import { machineOf } from './report.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** The disk image added to the copy (issue 15: one 1 GiB image), whatever --size. */
const IMAGE_REL = 'cassatt/images/incremental-1g/disk.img';
const IMAGE_BYTES = 1 * GiB;
/** The change between the second and the third backup (issue 15). */
const CHANGED_FILES = 100;
const IMAGE_CHANGE_BYTES = 8 * MiB;
/**
 * Pause after `sync` before each timed step: sync returns once the data is on disk, but the
 * writeback threads, the S3 server's own flushing and the load average take a moment to go
 * quiet; two seconds keep that out of the next step's "others CPU".
 */
const SETTLE_MS = 2000;

interface Args {
  size: BenchSize;
  runs: number;
  endpoint?: string;
  bucket: string;
  skipRestic: boolean;
  skipScale: boolean;
  files: number;
  seed: number;
  /** Re-render the markdown of an earlier run from its JSON, measuring nothing. */
  render?: string;
}

const USAGE = `usage: npm run bench:incremental -- [--size small|default] [--runs 3] [--endpoint URL] [--bucket cassette-bench] [--skip-restic] [--skip-scale] [--files 500000] [--seed 1]
       npm run bench:incremental -- --render bench/results/DATE-incremental.json   (rewrite the .md of that run from its measurements)
`;

function parseArgs(argv: string[]): Args {
  const args: Args = { size: 'default', runs: 3, bucket: 'cassette-bench', skipRestic: false, skipScale: false, files: 500_000, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const whole = (min: number): number => {
      const text = value();
      const n = Number(text);
      if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be a whole number ≥ ${min}, got ${text}`);
      return n;
    };
    if (flag === '--size') {
      const v = value();
      if (v !== 'small' && v !== 'default') throw new Error(`--size must be small or default, got ${v}`);
      args.size = v;
    } else if (flag === '--runs') args.runs = whole(1);
    else if (flag === '--endpoint') args.endpoint = value();
    else if (flag === '--bucket') args.bucket = value();
    else if (flag === '--skip-restic') args.skipRestic = true;
    else if (flag === '--skip-scale') args.skipScale = true;
    else if (flag === '--files') args.files = whole(1);
    else if (flag === '--seed') args.seed = whole(0);
    else if (flag === '--render') args.render = value();
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${flag}\n${USAGE}`);
  }
  return args;
}

const log = (line: string): void => void process.stderr.write(`[incremental] ${line}\n`);
const seconds = (since: number): number => (performance.now() - since) / 1000;

/** The objects under a snapshot's `data/<id>/`, summed by kind. */
async function snapshotObjects(target: S3Target, bucket: string, prefix: string): Promise<SnapshotObjects> {
  const objects: SnapshotObjects = { volumes: 0, indexes: 0, recipes: 0, other: 0, count: 0 };
  let token: string | undefined;
  do {
    const page = await target.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      const size = object.Size ?? 0;
      const key = object.Key ?? '';
      objects.count++;
      if (key.endsWith('.idx.zst')) objects.indexes += size;
      else if (key.endsWith('.recipe')) objects.recipes += size;
      else if (key.endsWith('.tar.zst')) objects.volumes += size;
      else objects.other += size;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

/**
 * writeImage keys its random and text blocks by the path it is given: written as `disk.img` from
 * its own directory, the image has the same bytes whatever the (temporary) work directory is
 * called, so every run backs up, changes and compresses the same data.
 */
async function writeImageNamed(file: string, seed: number, size: number): Promise<void> {
  const cwd = process.cwd();
  process.chdir(path.dirname(file));
  try {
    await writeImage(path.basename(file), seed, size);
  } finally {
    process.chdir(cwd);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.render) {
    await rerender(args.render, renderIncrementalMarkdown, log);
    return;
  }
  const started = new Date();
  const loadAtStart = os.loadavg();
  const notes: string[] = [];
  const measurements: StepMeasurement[] = [];
  if (!HAVE_GNU_TIME) notes.push('/usr/bin/time was not found: CPU from bash `times`, no peak RSS.');

  // Data first (made once, reused), so that nothing is generated between measurements.
  const dataDir = path.join(repoRoot, 'bench/data');
  const tree = await ensureTree(dataDir, args.size, args.seed, log);
  const scaleRoot = args.skipScale ? undefined : await ensureSmallFiles(path.join(dataDir, 'scale'), args.files, log);
  const resticFound = args.skipRestic ? undefined : await resticVersion();
  const restic: IncrementalReport['restic'] = args.skipRestic
    ? { skipped: '--skip-restic' }
    : resticFound
      ? { version: resticFound }
      : { skipped: '`restic` is not on PATH (Debian package `restic`); the bench does not install it' };
  if (restic.skipped) log(`restic not measured: ${restic.skipped}`);

  const work = await fs.mkdtemp(path.join(os.tmpdir(), `cassette-incremental-${args.size}-`));
  // Interrupted: remove the scratch directory (the copy, the restores); s3rver exits when our stdin pipe closes.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      fsSync.rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  }

  const copyRoot = path.join(work, 'tree');
  const copyMethod = 'cp -a --reflink=auto';
  log(`copying ${tree.root} to ${copyRoot} (${copyMethod}) …`);
  let at = performance.now();
  await sh(['cp', '-a', '--reflink=auto', tree.root, copyRoot]);
  const copySeconds = seconds(at);
  at = performance.now();
  const image = path.join(copyRoot, IMAGE_REL);
  await fs.mkdir(path.dirname(image), { recursive: true });
  await writeImageNamed(image, args.seed, IMAGE_BYTES);
  const imageSeconds = seconds(at);
  log(`copy: ${copySeconds.toFixed(1)} s; ${IMAGE_BYTES / GiB} GiB image: ${imageSeconds.toFixed(1)} s`);
  const sources = (await fs.readdir(copyRoot, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => path.join(copyRoot, d.name))
    .sort();
  const copyBytes = tree.bytes + IMAGE_BYTES;
  /** Where a file of the copy (relative to its root) lands in a cassette restore: under its artifact's name. */
  const inCassetteRestore =
    (dir: string) =>
    (rel: string): string => {
      const top = rel.split('/')[0]!;
      return path.join(dir, artifactNameFor(path.join(copyRoot, top)), rel.slice(top.length + 1));
    };
  /** restic restores the absolute paths it backed up under the target. */
  const inResticRestore =
    (dir: string) =>
    (rel: string): string =>
      path.join(dir, copyRoot, rel);

  const target = args.endpoint ? externalEndpoint(args.endpoint) : await startS3rver(work);
  const env: NodeJS.ProcessEnv = { ...target.env, AWS_ENDPOINT_URL: target.endpoint };
  log(`S3: ${target.label} on ${target.endpoint}${target.pids ? ` (pids ${target.pids.join(', ')})` : ''}`);
  const watch = target.pids ? new ServerWatch(target.pids) : undefined;
  const bucket = args.bucket;
  await ensureBucket(target.client, bucket);
  const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const base = `incremental-${args.size}-${stamp}`;
  const cPrefix = `${base}/cassette`;
  const cRepo = `s3://${bucket}/${cPrefix}`;
  const rPrefix = `${base}/restic`;
  const rRepo = resticRepository(target.endpoint, bucket, rPrefix);
  const rEnv = resticEnv(env);
  const rCache = path.join(work, 'restic-cache');
  const sPrefix = `${base}/scale`;
  const cliFlags = ['--endpoint', target.endpoint, '--json'];
  // Restored trees are kept until the end (bench/trash.ts); room for them and for the servers' copies of both tools' backups.
  const trash = await Trash.create(work, Math.ceil((2 * args.runs + (restic.version ? 1 : 0) + 2) * copyBytes));
  if (!trash.keeping)
    notes.push(
      "Not enough free disk to keep every restored tree until the end: each was deleted right after it was measured, so a restore that followed a deletion may include ext4's scan of recently freed inodes (bench/trash.ts).",
    );

  /** `sync`, a settle, then one command timed; the measurement is recorded by the caller. */
  const timed = async (step: Step, tool: Tool, run: number, argv: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<{ result: TimedResult; m: StepMeasurement }> => {
    await sh(['sync']);
    await sleep(SETTLE_MS);
    const load1 = os.loadavg()[0]!;
    const result = await runTimed([{ name: tool, argv }], { env: options.env ?? env, server: watch, check: false });
    const clientCpuS = result.procs.reduce((s, p) => s + p.userS + p.sysS, 0);
    const m: StepMeasurement = {
      step,
      tool,
      run,
      wallS: result.wallS,
      clientCpuS,
      serverCpuS: result.server?.cpuS,
      serverPeakRssKiB: result.server?.peakRssKiB,
      otherCpuS: Math.max(0, result.machineBusyS - clientCpuS - (result.server?.cpuS ?? 0)),
      load1,
      peakRssKiB: Math.max(0, ...result.procs.map((p) => p.maxRssKiB)),
      procs: result.procs,
    };
    if (result.exitCode !== 0) m.exitCode = result.exitCode;
    return { result, m };
  };
  const record = (m: StepMeasurement): StepMeasurement => {
    measurements.push(m);
    const bytes =
      m.uploadedBytes !== undefined
        ? `, uploaded ${(m.uploadedBytes / 1e6).toFixed(2)} MB`
        : m.downloadBytes !== undefined
          ? `, downloaded ${(m.downloadBytes / 1e6).toFixed(1)} MB`
          : '';
    const added = m.addedBytes !== undefined ? `, bucket +${(m.addedBytes / 1e6).toFixed(2)} MB` : '';
    log(
      `${m.tool} ${m.step}${m.run > 1 || m.step.startsWith('restore') ? ` (run ${m.run})` : ''}: ${m.wallS.toFixed(2)} s, CPU ${m.clientCpuS.toFixed(1)} s${m.serverCpuS !== undefined ? ` + server ${m.serverCpuS.toFixed(1)} s` : ''}, peak RSS ${(m.peakRssKiB / 1024).toFixed(0)} MiB${bytes}${added} (others ${m.otherCpuS.toFixed(1)} CPU-s, load ${m.load1.toFixed(2)})`,
    );
    return m;
  };
  const failed = (what: string, result: TimedResult): Error => new Error(`${what} failed (exit ${result.exitCode}): ${result.stderr.trim().slice(-2000)}`);

  /** One cassette backup into `prefix`, with its summary's bytes, its data/<id>/ listing and the growth of the prefix. */
  const cassetteBackup = async (step: Step, paths: string[], prefix: string): Promise<StepMeasurement> => {
    const before = (await listPrefix(target.client, bucket, `${prefix}/`)).bytes;
    const { result, m } = await timed(step, 'cassette', 1, ['node', CLI, 'backup', ...paths, '--repo', `s3://${bucket}/${prefix}`, ...cliFlags]);
    if (result.exitCode !== 0 && result.exitCode !== 3) throw failed(`cassette ${step}`, result);
    if (result.exitCode === 3) notes.push(`cassette ${step} exited 3 (partial: entries not stored as they were): ${result.stderr.trim().slice(-500)}`);
    const summary = summaryOf(result.stdout);
    const id = summary.snapshot;
    if (typeof id !== 'string') throw new Error(`cassette ${step}: no summary line with a snapshot id in its output`);
    m.snapshot = id;
    m.parents = Array.isArray(summary.parents) ? (summary.parents as string[]) : [];
    m.uploadedBytes = Number(summary.bytesUploaded);
    m.readBytes = Number(summary.bytesRead);
    m.reusedBytes = Number(summary.bytesReused);
    m.objects = await snapshotObjects(target, bucket, `${prefix}/data/${id}/`);
    m.addedBytes = (await listPrefix(target.client, bucket, `${prefix}/`)).bytes - before;
    const listed = m.objects.volumes + m.objects.indexes + m.objects.recipes + m.objects.other;
    if (listed !== m.uploadedBytes) notes.push(`cassette ${step}: the summary's bytesUploaded (${m.uploadedBytes}) differs from the bytes listed under data/${id}/ (${listed}).`);
    return record(m);
  };
  /** The parent a backup names must be the previous snapshot of its chain (none for the first into a fresh repository). */
  const expectParent = (m: StepMeasurement, parent: StepMeasurement | null): void => {
    const expected = parent ? [parent.snapshot!] : [];
    if (JSON.stringify(m.parents ?? []) !== JSON.stringify(expected))
      notes.push(
        `Suspicious: cassette ${m.step} (${m.snapshot ?? '?'}) names parents [${(m.parents ?? []).join(', ')}], expected [${expected.join(', ')}]${parent ? ` (the ${parent.step})` : ' (a fresh repository)'}.`,
      );
  };

  /** restic steps never stop the bench: a failure is noted and later restic steps are skipped. */
  let resticOk = restic.version !== undefined;
  const resticStep = async (what: string, f: () => Promise<void>): Promise<void> => {
    if (!resticOk) return;
    try {
      await f();
    } catch (error) {
      resticOk = false;
      notes.push(`restic ${what} failed, later restic steps were skipped: ${error instanceof Error ? error.message : String(error)}`);
      log(`restic ${what} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const resticBackup = (step: Step): Promise<void> =>
    resticStep(step, async () => {
      const before = (await listPrefix(target.client, bucket, `${rPrefix}/`)).bytes;
      const { result, m } = await timed(step, 'restic', 1, resticArgv(rRepo, rCache, ['backup', '--json', ...sources]), { env: rEnv });
      if (result.exitCode !== 0) throw failed(`restic ${step}`, result);
      const summary = parseResticSummary(result.stdout);
      if (!summary) throw new Error(`restic ${step}: no summary line in its --json output`);
      m.snapshot = summary.snapshotId;
      m.uploadedBytes = summary.dataAdded;
      m.readBytes = summary.totalBytesProcessed;
      m.counts = { ...summary.counts, ...(summary.dataAddedPacked !== undefined ? { data_added_packed: summary.dataAddedPacked } : {}) };
      m.addedBytes = (await listPrefix(target.client, bucket, `${rPrefix}/`)).bytes - before;
      record(m);
    });

  let change: TreeChange | undefined;
  let scaleInfo: IncrementalReport['scale'] = scaleRoot ? { files: args.files, root: path.relative(repoRoot, scaleRoot) } : { skipped: '--skip-scale' };
  let failure: unknown;
  try {
    // 1. Full backups of the copy.
    const full = await cassetteBackup('full backup', sources, cPrefix);
    expectParent(full, null);
    await resticStep('init', async () => {
      await sh(resticArgv(rRepo, rCache, ['init']), { env: rEnv });
      const config = JSON.parse(await sh(resticArgv(rRepo, rCache, ['cat', 'config']), { env: rEnv })) as { version?: number };
      restic.repository = `repository version ${config.version ?? '?'}, compression and s3.connections at restic's defaults`;
    });
    await resticBackup('full backup');

    // 2. The same tree again.
    const unchanged = await cassetteBackup('unchanged backup', sources, cPrefix);
    expectParent(unchanged, full);
    await resticBackup('unchanged backup');

    // 3. The change, once for both tools, then the third backups.
    log(`changing ${CHANGED_FILES} config files and ${IMAGE_CHANGE_BYTES / MiB} MiB of the image …`);
    change = await changeTree({ root: copyRoot, seed: args.seed, files: CHANGED_FILES, imageRel: IMAGE_REL, imageBytes: IMAGE_CHANGE_BYTES, scratch: work });
    log(`changed ${(change.info.changedBytes / 1e6).toFixed(2)} MB; zstd -3 of it: ${(change.info.compressedBytes / 1e6).toFixed(2)} MB`);
    const changed = await cassetteBackup('changed backup', sources, cPrefix);
    expectParent(changed, unchanged);
    await resticBackup('changed backup');

    // 4. Full restores: the incremental snapshot and the full one, alternating.
    for (let run = 1; run <= args.runs; run++) {
      for (const [step, snapshot, state] of [
        ['restore changed', changed.snapshot!, 'after'],
        ['restore full', full.snapshot!, 'before'],
      ] as const) {
        const dir = path.join(work, `${step.replace(' ', '-')}-${run}`);
        const { result, m } = await timed(step, 'cassette', run, ['node', CLI, 'restore', snapshot, '--repo', cRepo, '--target', dir, ...cliFlags]);
        if (result.exitCode !== 0) throw failed(`cassette ${step} ${snapshot}`, result);
        m.snapshot = snapshot;
        const summary = summaryOf(result.stdout);
        m.downloadBytes = Number(summary.downloadBytes ?? NaN);
        m.counts = { requests: Number(summary.requests ?? NaN), files: Number(summary.files ?? NaN) };
        record(m);
        if (run === 1) await checkRestored(inCassetteRestore(dir), change, state, `cassette ${step}`);
        await trash.discard(dir);
      }
    }
    await resticStep('restore', async () => {
      const dir = path.join(work, 'restic-restore');
      const { result, m } = await timed('restore changed', 'restic', 1, resticArgv(rRepo, rCache, ['restore', 'latest', '--target', dir]), { env: rEnv });
      if (result.exitCode !== 0) throw failed('restic restore', result);
      record(m);
      await checkRestored(inResticRestore(dir), change!, 'after', 'restic restore');
      await trash.discard(dir);
    });

    // 5. Many small files: the peak RSS of an incremental backup with a parent of as many files.
    if (scaleRoot) {
      const first = await cassetteBackup('scale: full backup', [scaleRoot], sPrefix);
      expectParent(first, null);
      const second = await cassetteBackup('scale: incremental backup', [scaleRoot], sPrefix);
      expectParent(second, first);
      for (const m of [first, second]) m.counts = { files: args.files };
    }
  } catch (error) {
    failure = error;
    notes.push(`The bench stopped early: ${error instanceof Error ? error.message : String(error)}`);
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    if (args.endpoint) await deletePrefix(target.client, bucket, `${base}/`).catch((e: unknown) => log(`could not delete s3://${bucket}/${base}/: ${messageOf(e)}`));
    await target.close().catch(() => undefined);
    log('removing the work directory …');
    await fs.rm(work, { recursive: true, force: true });
  }

  const loadEnd = os.loadavg();
  const cores = os.cpus().length;
  if (Math.max(loadAtStart[0]!, loadEnd[0]!) > cores) {
    notes.push(
      `The machine was busy with other work (load average ${loadAtStart[0]!.toFixed(1)} at start, ${loadEnd[0]!.toFixed(1)} at end, ${cores} cores): read each figure with its "others CPU s" and load.`,
    );
  }
  if (args.endpoint)
    notes.push('With --endpoint the server is not a child of the bench: its CPU and memory are not measured apart, and its processes\' CPU is part of "others CPU s".');
  notes.push(
    "The copy was written just before the first backups: with enough memory its files are still in the page cache, for both tools' full backups alike (cassette reads first, restic second).",
  );
  if (scaleInfo && !('skipped' in scaleInfo) && !find(measurements, 'scale: incremental backup')) scaleInfo = { skipped: 'not reached' };
  const report: IncrementalReport = {
    date: started.toISOString(),
    size: args.size,
    seed: args.seed,
    runs: args.runs,
    machine: machineOf(loadAtStart, loadEnd),
    server: target.label,
    engine: await engineVersion(),
    tools: {
      zstd: (await sh(['zstd', '-V'])).trim(),
      cp: (await sh(['cp', '--version'])).split('\n')[0]!,
      timing: HAVE_GNU_TIME ? "/usr/bin/time -f '%e %U %S %M' per process; server via /proc/<pid>/stat and VmHWM" : 'bash times per process',
    },
    dataset: {
      root: path.relative(repoRoot, tree.root),
      files: tree.files,
      bytes: tree.bytes,
      sources: sources.map((s) => path.basename(s)),
      copy: { method: copyMethod, seconds: copySeconds, files: tree.files + 1, bytes: copyBytes },
      image: { rel: IMAGE_REL, bytes: IMAGE_BYTES, seconds: imageSeconds },
    },
    change: change?.info,
    restic,
    scale: scaleInfo,
    notes,
    measurements,
  };
  const markdown = renderIncrementalMarkdown(report);
  const resultsDir = path.join(repoRoot, 'bench/results');
  await fs.mkdir(resultsDir, { recursive: true });
  const name = `${started.toISOString().slice(0, 10)}-incremental`;
  await fs.writeFile(path.join(resultsDir, `${name}.md`), markdown);
  await fs.writeFile(path.join(resultsDir, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(markdown);
  log(`wrote bench/results/${name}.md and .json`);
  if (failure) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`incremental bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
