// `npm run bench:ab -- --base <git ref> [--size default] [--runs 3]`: this build of cassette against an earlier one on the bench tree, to a local repository, interleaved.
//
// Why a local repository on tmpfs: a change in the client (what is read per file, how names are
// handled) is measured without an S3 server sharing the two cores, and without the disk's
// writeback and ext4's recently-freed-inode scan (bench/trash.ts) adding their noise. Each run
// backs the bench tree up with the base build, this build, and this build with --no-xattrs (what
// reading extended attributes costs: one listxattr per entry, plus one getxattr per attribute),
// in an order that rotates from run to run, then restores each backup of the base and this build
// in full into tmpfs. The machine's speed drifts (the same backup took 27-35 CPU-s within ten
// minutes here), so the report's ratios are the medians of each run's own ratio (this build's
// measurement over the base's in the same run), next to the ratio of the medians. Writes
// bench/results/<date>-ab-<size>.{md,json}.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTree, type BenchSize } from './dataset.js';
import { machineBusySeconds, runTimed, sh } from './exec.js';
import { median } from './report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PROJECT = path.resolve(here, '../..');

interface Args {
  base: string;
  size: BenchSize;
  runs: number;
  /** Where repositories and restored trees go: tmpfs by default. */
  scratch: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { base: '', size: 'default', runs: 5, scratch: '/dev/shm' };
  for (let i = 0; i < argv.length; i++) {
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return v;
    };
    const a = argv[i]!;
    if (a === '--base') args.base = value();
    else if (a === '--size') {
      const v = value();
      if (v !== 'small' && v !== 'default') throw new Error(`--size must be small or default, got ${v}`);
      args.size = v;
    } else if (a === '--runs') args.runs = Number(value());
    else if (a === '--scratch') args.scratch = value();
    else throw new Error(`unknown argument ${a}; usage: npm run bench:ab -- --base <git ref> [--size small|default] [--runs 5] [--scratch /dev/shm]`);
  }
  if (!args.base) throw new Error('--base <git ref> is required (the build to compare with, e.g. a commit before a change)');
  if (!Number.isInteger(args.runs) || args.runs < 1) throw new Error('--runs must be a whole number ≥ 1');
  return args;
}

interface Sample {
  operation: 'backup' | 'restore';
  variant: string;
  run: number;
  wallS: number;
  cpuS: number;
  maxRssMiB: number;
  /** Busy CPU seconds of the rest of the machine meanwhile. */
  othersCpuS: number;
}

/** A checkout of `ref` built with this checkout's node_modules (the same dependencies). */
async function buildBase(ref: string, work: string, log: (line: string) => void): Promise<{ cli: string; commit: string }> {
  const dir = path.join(work, 'base');
  const commit = (await sh(['git', '-C', PROJECT, 'rev-parse', ref])).trim();
  await sh(['git', '-C', PROJECT, 'worktree', 'add', '--detach', dir, commit]);
  await fs.symlink(path.join(PROJECT, 'node_modules'), path.join(dir, 'node_modules'));
  log(`base ${ref} = ${commit.slice(0, 12)}: building in ${dir}`);
  await sh(['npx', 'tsc', '-p', 'tsconfig.json'], { cwd: dir });
  if (await fs.stat(path.join(dir, 'binding.gyp')).catch(() => undefined)) await sh(['npm', 'run', 'install'], { cwd: dir });
  return { cli: path.join(dir, 'dist/src/cli/main.js'), commit };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-ab-'));
  const tree = await ensureTree(path.join(PROJECT, 'bench/data'), args.size, 1, log);
  const base = await buildBase(args.base, work, log);
  const head = (await sh(['git', '-C', PROJECT, 'rev-parse', 'HEAD'])).trim();
  const dirty = (await sh(['git', '-C', PROJECT, 'status', '--porcelain', '--untracked-files=no'])).trim() !== '';
  const cliHead = path.join(PROJECT, 'dist/src/cli/main.js');
  const variants = [
    { name: 'base', cli: base.cli, flags: [] as string[], restore: true },
    { name: 'head', cli: cliHead, flags: [], restore: true },
    { name: 'head --no-xattrs', cli: cliHead, flags: ['--no-xattrs'], restore: false },
  ];
  const scratch = await fs.mkdtemp(path.join(args.scratch, 'cassette-ab-'));
  const samples: Sample[] = [];
  const env = { ...process.env, CASSETTE_REPO: '' };
  try {
    for (let run = 1; run <= args.runs; run++) {
      const order = variants.map((_, i) => variants[(i + run - 1) % variants.length]!);
      for (const variant of order) {
        const repo = path.join(scratch, `repo-${run}-${variant.name.replace(/\W+/g, '_')}`);
        await sh(['sync']);
        const busy0 = machineBusySeconds();
        const backup = await runTimed([{ name: 'cassette', argv: ['node', variant.cli, 'backup', ...tree.dirs, '--repo', repo, '--json', ...variant.flags] }], { env });
        const own = backup.procs[0]!;
        samples.push({
          operation: 'backup',
          variant: variant.name,
          run,
          wallS: backup.wallS,
          cpuS: own.userS + own.sysS,
          maxRssMiB: own.maxRssKiB / 1024,
          othersCpuS: Math.max(0, machineBusySeconds() - busy0 - own.userS - own.sysS),
        });
        log(`run ${run} backup  ${variant.name.padEnd(18)} ${backup.wallS.toFixed(2)} s, ${(own.userS + own.sysS).toFixed(2)} CPU-s`);
        if (!variant.restore) {
          await fs.rm(repo, { recursive: true, force: true });
          continue;
        }
        const target = path.join(scratch, `out-${run}-${variant.name.replace(/\W+/g, '_')}`);
        await sh(['sync']);
        const busy1 = machineBusySeconds();
        const restore = await runTimed([{ name: 'cassette', argv: ['node', variant.cli, 'restore', 'latest', '--target', target, '--repo', repo, '--json'] }], { env });
        const r = restore.procs[0]!;
        samples.push({
          operation: 'restore',
          variant: variant.name,
          run,
          wallS: restore.wallS,
          cpuS: r.userS + r.sysS,
          maxRssMiB: r.maxRssKiB / 1024,
          othersCpuS: Math.max(0, machineBusySeconds() - busy1 - r.userS - r.sysS),
        });
        log(`run ${run} restore ${variant.name.padEnd(18)} ${restore.wallS.toFixed(2)} s, ${(r.userS + r.sysS).toFixed(2)} CPU-s`);
        await fs.rm(target, { recursive: true, force: true });
        await fs.rm(repo, { recursive: true, force: true });
      }
    }
  } finally {
    await sh(['git', '-C', PROJECT, 'worktree', 'remove', '--force', path.join(work, 'base')]).catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
    await fs.rm(scratch, { recursive: true, force: true });
  }

  const rows: string[] = [];
  const summary: Array<Record<string, unknown>> = [];
  for (const operation of ['backup', 'restore'] as const) {
    const baseWall = median(samples.filter((s) => s.operation === operation && s.variant === 'base').map((s) => s.wallS));
    const baseCpu = median(samples.filter((s) => s.operation === operation && s.variant === 'base').map((s) => s.cpuS));
    for (const variant of variants) {
      const mine = samples.filter((s) => s.operation === operation && s.variant === variant.name);
      if (mine.length === 0) continue;
      const wall = median(mine.map((s) => s.wallS));
      const cpu = median(mine.map((s) => s.cpuS));
      const rss = median(mine.map((s) => s.maxRssMiB));
      const others = median(mine.map((s) => s.othersCpuS));
      // Each run's own ratio to the base of the same run, then their median.
      const paired = (key: 'wallS' | 'cpuS'): number =>
        median(mine.map((s) => s[key] / samples.find((b) => b.operation === operation && b.variant === 'base' && b.run === s.run)![key]));
      const wallPaired = paired('wallS');
      const cpuPaired = paired('cpuS');
      summary.push({
        operation,
        variant: variant.name,
        wallS: wall,
        cpuS: cpu,
        maxRssMiB: rss,
        othersCpuS: others,
        wallRatio: wall / baseWall,
        cpuRatio: cpu / baseCpu,
        wallRatioPaired: wallPaired,
        cpuRatioPaired: cpuPaired,
      });
      rows.push(
        `| ${operation} | ${variant.name} | ${wall.toFixed(2)} s (${mine.map((s) => s.wallS.toFixed(2)).join(', ')}) | ${wallPaired.toFixed(3)} (${(wall / baseWall).toFixed(3)}) | ${cpu.toFixed(2)} (${mine.map((s) => s.cpuS.toFixed(1)).join(', ')}) | ${cpuPaired.toFixed(3)} (${(cpu / baseCpu).toFixed(3)}) | ${rss.toFixed(0)} MiB | ${others.toFixed(1)} |`,
      );
    }
  }
  const date = new Date().toISOString().slice(0, 10);
  const title = `A/B: ${head.slice(0, 12)}${dirty ? ' (with uncommitted changes)' : ''} against ${base.commit.slice(0, 12)} (${args.base})`;
  const md = [
    `# ${title}`,
    '',
    `\`npm run bench:ab -- --base ${args.base} --size ${args.size} --runs ${args.runs}\` on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${date}.`,
    `Tree: ${tree.files} files, ${(tree.bytes / 1e6).toFixed(0)} MB (bench/data/${args.size}), ${tree.dirs.length} artifacts, backed up to a local repository in ${args.scratch} and restored in full there with --target; medians of ${args.runs} interleaved runs (each run's values in brackets). "/ base" is the median of each run's own ratio to the base build's measurement in the same run (the ratio of the medians in brackets). "others" is the rest of the machine's CPU during the measurement.`,
    '',
    '| operation | build | wall (runs) | wall / base | client CPU-s (runs) | CPU / base | peak RSS | others CPU-s |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n');
  process.stdout.write(md);
  const out = path.join(PROJECT, 'bench/results', `${date}-ab-${args.size}`);
  await fs.writeFile(`${out}.md`, md);
  await fs.writeFile(
    `${out}.json`,
    JSON.stringify({ title, args, head, dirty, base: base.commit, tree: { files: tree.files, bytes: tree.bytes }, summary, samples }, null, 2) + '\n',
  );
  log(`wrote ${out}.md and .json`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:ab: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
