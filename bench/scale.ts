// `npm run bench:scale [-- --endpoint URL] [--small-gib 1] [--large-gib 8] [--files 500000] [--few-files 50000]`
//
// Does memory stay flat as data grows? Backs up, against s3rver on loopback (or --endpoint):
// - one disk-image-like file of --small-gib and one of --large-gib (same composition: zero runs,
//   random and text blocks), and compares the peak RSS of the two backups;
// - a tree of --few-files and one of --files small files, then lists each snapshot with `ls`, and
//   compares the peak RSS of the backups and of the listings (the index streams; nothing per file
//   may be held in memory).
// Each command runs under /usr/bin/time (peak RSS of the whole process, workers included).
// Results: printed and written to bench/results/<date>-scale.md and .json. Data: bench/data/scale/.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeImage } from '../src/demo/sample-tree.js';
import { runTimed, type TimedResult } from './exec.js';
import type { HeapWatch } from './heap-watch.js';
import { ensureBucket, externalEndpoint, startS3rver } from './s3.js';
import { ensureSmallFiles } from './small-files.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const CLI = path.join(repoRoot, 'dist/src/cli/main.js');
const HEAP_WATCH = pathToFileURL(path.join(here, 'heap-watch.js')).href;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/**
 * V8 flags that bound the main thread's heap: a young generation of at most 2 MiB per semi-space and
 * an old one of at most 32 MiB. With default flags V8 grows both with the allocation rate and
 * collects the old generation lazily, so a longer run of the same per-file work peaks higher
 * although nothing more is live; under these bounds a run that held something per file would
 * die out of memory at 500,000 files, and the peaks of the two runs can be compared.
 */
const BOUNDED_HEAP = ['--max-semi-space-size=2', '--max-old-space-size=32'];
const BOUNDED = 'bounded heap';

interface Args {
  endpoint?: string;
  bucket: string;
  smallGiB: number;
  largeGiB: number;
  files: number;
  fewFiles: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { bucket: 'cassette-bench', smallGiB: 1, largeGiB: 8, files: 500_000, fewFiles: 50_000 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const count = (): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number`);
      return n;
    };
    if (flag === '--endpoint') args.endpoint = value();
    else if (flag === '--bucket') args.bucket = value();
    else if (flag === '--small-gib') args.smallGiB = count();
    else if (flag === '--large-gib') args.largeGiB = count();
    else if (flag === '--files') args.files = Math.round(count());
    else if (flag === '--few-files') args.fewFiles = Math.round(count());
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write('usage: npm run bench:scale -- [--endpoint URL] [--bucket NAME] [--small-gib 1] [--large-gib 8] [--files 500000] [--few-files 50000]\n');
      process.exit(0);
    } else throw new Error(`unknown flag ${flag}`);
  }
  return args;
}

const log = (line: string): void => void process.stderr.write(`[scale] ${line}\n`);

/** A file of `gib` GiB shaped like a disk image, made once (kept while its size matches). */
async function ensureImage(dir: string, gib: number): Promise<string> {
  const file = path.join(dir, `${gib}g`, 'disk.img');
  const size = Math.round(gib * GiB);
  if ((await fs.stat(file).catch(() => undefined))?.size === size) return path.dirname(file);
  log(`writing ${gib} GiB image …`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeImage(file, 7, size);
  return path.dirname(file);
}

interface Row {
  case: string;
  command: string;
  sourceBytes: number;
  files?: number;
  wallS: number;
  cpuS: number;
  peakRssMiB: number;
  /** Largest V8 young and old generation of the main thread (bench/heap-watch.ts). */
  youngMiB: number;
  oldMiB: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date();
  const dataDir = path.join(repoRoot, 'bench/data/scale');
  await fs.mkdir(dataDir, { recursive: true });
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-scale-'));
  const smallImage = await ensureImage(dataDir, args.smallGiB);
  const largeImage = await ensureImage(dataDir, args.largeGiB);
  const fewFiles = await ensureSmallFiles(dataDir, args.fewFiles, log);
  const manyFiles = await ensureSmallFiles(dataDir, args.files, log);

  const target = args.endpoint ? externalEndpoint(args.endpoint) : await startS3rver(work);
  const env: NodeJS.ProcessEnv = { ...target.env, AWS_ENDPOINT_URL: target.endpoint };
  await ensureBucket(target.client, args.bucket);
  const stamp = started.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const rows: Row[] = [];

  const run = async (name: string, command: string, argv: string[], sourceBytes: number, files?: number, nodeFlags: string[] = []): Promise<TimedResult> => {
    // Written pages of the last case must not be flushed on this one's time.
    await runTimed([{ name: 'sync', argv: ['sync'] }]);
    const heapFile = path.join(work, 'heap-watch.json');
    const result = await runTimed([{ name: 'cassette', argv: ['node', ...nodeFlags, '--import', HEAP_WATCH, CLI, ...argv] }], {
      env: { ...env, CASSETTE_HEAP_WATCH: heapFile },
      stdoutFile: '/dev/null',
    });
    if (result.exitCode !== 0) throw new Error(`${name} ${command} failed (exit ${result.exitCode}): ${result.stderr.slice(-2000)}`);
    const proc = result.procs[0]!;
    const heap = JSON.parse(await fs.readFile(heapFile, 'utf8')) as HeapWatch;
    const row: Row = {
      case: name,
      command,
      sourceBytes,
      files,
      wallS: result.wallS,
      cpuS: proc.userS + proc.sysS,
      peakRssMiB: proc.maxRssKiB / 1024,
      youngMiB: heap.young / MiB,
      oldMiB: heap.old / MiB,
    };
    rows.push(row);
    log(
      `${name} ${command}: ${row.wallS.toFixed(2)} s, CPU ${row.cpuS.toFixed(1)} s, peak RSS ${row.peakRssMiB.toFixed(0)} MiB (V8 young ${row.youngMiB.toFixed(0)}, old ${row.oldMiB.toFixed(0)} MiB)`,
    );
    return result;
  };

  try {
    const cases: Array<[string, string, number, number | undefined]> = [
      [`${args.smallGiB} GiB image`, smallImage, Math.round(args.smallGiB * GiB), undefined],
      [`${args.largeGiB} GiB image`, largeImage, Math.round(args.largeGiB * GiB), undefined],
      [`${args.fewFiles.toLocaleString('en')} files`, fewFiles, 0, args.fewFiles],
      [`${args.files.toLocaleString('en')} files`, manyFiles, 0, args.files],
    ];
    for (const [name, dir, bytes, files] of cases) {
      const repo = `s3://${args.bucket}/scale-${stamp}/${name.replace(/\W+/g, '-')}`;
      await run(name, 'backup', ['backup', dir, '--repo', repo, '--json'], bytes, files);
      if (files === undefined) continue;
      await run(name, 'ls', ['ls', 'latest', '--repo', repo], bytes, files);
      // The same under BOUNDED_HEAP: what remains of the growth is not the collector's sizing.
      await run(name, `backup, ${BOUNDED}`, ['backup', dir, '--repo', `${repo}-bounded`, '--json'], bytes, files, BOUNDED_HEAP);
      await run(name, `ls, ${BOUNDED}`, ['ls', 'latest', '--repo', `${repo}-bounded`], bytes, files, BOUNDED_HEAP);
    }
  } finally {
    await target.close().catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  }

  const row = (name: string, command: string): Row => rows.find((r) => r.case.startsWith(name) && r.command === command)!;
  const rss = (name: string, command: string): number => row(name, command).peakRssMiB;
  /** How much of the difference between two runs' peaks V8's young generation accounts for. */
  const young = (name: string, other: string, command: string): string => {
    const [a, b] = [row(name, command), row(other, command)];
    const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(0)} MiB`;
    return `${command} peak ${signed(a.peakRssMiB - b.peakRssMiB)}, V8 young generation ${signed(a.youngMiB - b.youngMiB)} (${b.youngMiB.toFixed(0)} → ${a.youngMiB.toFixed(0)})`;
  };
  const imageRatio = rss(`${args.largeGiB} GiB`, 'backup') / rss(`${args.smallGiB} GiB`, 'backup');
  const many = args.files.toLocaleString('en');
  const few = args.fewFiles.toLocaleString('en');
  const filesBackupRatio = rss(many, 'backup') / rss(few, 'backup');
  const filesLsRatio = rss(many, 'ls') / rss(few, 'ls');
  const boundedBackupRatio = rss(many, `backup, ${BOUNDED}`) / rss(few, `backup, ${BOUNDED}`);
  const boundedLsRatio = rss(many, `ls, ${BOUNDED}`) / rss(few, `ls, ${BOUNDED}`);
  const maxRss = Math.max(...rows.map((r) => r.peakRssMiB));
  const checks = [
    `peak RSS ${args.largeGiB} GiB / ${args.smallGiB} GiB backup: ${imageRatio.toFixed(3)} (target within 10%: ${Math.abs(imageRatio - 1) <= 0.1 ? 'met' : 'NOT met'})`,
    `peak RSS ${many} / ${few} files: backup ${filesBackupRatio.toFixed(3)}, ls ${filesLsRatio.toFixed(3)} (within 10%: ${filesBackupRatio <= 1.1 && filesLsRatio <= 1.1 ? 'met' : 'NOT met'})`,
    `the same with node ${BOUNDED_HEAP.join(' ')} (both runs fit: nothing is held per file): backup ${boundedBackupRatio.toFixed(3)}, ls ${boundedLsRatio.toFixed(3)} (within 10%: ${boundedBackupRatio <= 1.1 && boundedLsRatio <= 1.1 ? 'met' : 'NOT met'})`,
    `largest peak RSS: ${maxRss.toFixed(0)} MiB (target ≤ 300 MiB: ${maxRss <= 300 ? 'met' : 'NOT met'})`,
    `with default flags, larger against smaller: image ${young(`${args.largeGiB} GiB`, `${args.smallGiB} GiB`, 'backup')}; files ${young(many, few, 'backup')}; ${young(many, few, 'ls')}`,
  ];
  const table = [
    '| case | command | wall s | CPU s | peak RSS MiB | V8 young / old MiB (largest) | MB/s of source |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.case} | ${r.command} | ${r.wallS.toFixed(2)} | ${r.cpuS.toFixed(1)} | ${r.peakRssMiB.toFixed(0)} | ${r.youngMiB.toFixed(0)} / ${r.oldMiB.toFixed(0)} | ${r.sourceBytes ? (r.sourceBytes / 1e6 / r.wallS).toFixed(0) : (r.files! / r.wallS).toFixed(0) + ' files/s'} |`,
    ),
  ];
  const markdown = [
    `# Scale bench ${started.toISOString()}`,
    '',
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; server: ${args.endpoint ?? 's3rver 4.0.4 (child process on loopback)'}; defaults for every flag.`,
    '',
    ...table,
    '',
    ...checks.map((c) => `- ${c}`),
    '',
  ].join('\n');
  process.stdout.write(markdown);
  const resultsDir = path.join(repoRoot, 'bench/results');
  await fs.mkdir(resultsDir, { recursive: true });
  const base = path.join(resultsDir, `${started.toISOString().slice(0, 10)}-scale`);
  await fs.writeFile(`${base}.md`, markdown);
  await fs.writeFile(`${base}.json`, JSON.stringify({ date: started.toISOString(), args, rows, checks }, null, 2) + '\n');
  log(`written ${path.relative(repoRoot, base)}.md and .json`);
}

main().catch((error: unknown) => {
  process.stderr.write(`scale bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
