// `npm run bench:report -- [--files 500000] [--snapshots 1000] [--runs 3] [--screenshot FILE]`
//
// Issue 18's scale: `cassette report` of a repository of 1,000 snapshots whose latest holds
// 500,000 entries, and the page it writes opened in headless Chromium. The latest snapshot is a
// real backup of bench:scale's small-files tree into a directory repository; the 999 before it
// are copies of its commit record under other ids and times, with sizes, durations and statuses
// varied (the timeline reads commit records only). Measures the command (wall, CPU, peak RSS,
// page size) and the page (load until the listing shows, opening the largest directory, the
// JS heap). Writes bench/results/<date>-report.{md,json}.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { CommitRecord } from '../src/format/types.js';
import { commitKey, dataPrefix } from '../src/repository.js';
import { CLI, engineVersion, repoRoot } from './cassette-cli.js';
import { runTimed, sh } from './exec.js';
import { machineOf, median } from './report.js';
import { ensureSmallFiles } from './small-files.js';

interface Args {
  files: number;
  snapshots: number;
  runs: number;
  chromium: string;
  /** Keep a screenshot of the whole page here (the last run's). */
  screenshot?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { files: 500_000, snapshots: 1000, runs: 3, chromium: process.env.CASSETTE_CHROMIUM ?? '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    const number = (): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${argv[i]} needs a whole number from 1 up, got ${value}`);
      i++;
      return n;
    };
    if (argv[i] === '--files') args.files = number();
    else if (argv[i] === '--snapshots') args.snapshots = number();
    else if (argv[i] === '--runs') args.runs = number();
    else if (argv[i] === '--screenshot' && value) {
      args.screenshot = path.resolve(value);
      i++;
    } else if (argv[i] === '--chromium' && value) {
      args.chromium = value;
      i++;
    } else
      throw new Error(
        `unknown argument ${argv[i]}\nusage: npm run bench:report -- [--files 500000] [--snapshots 1000] [--runs 3] [--chromium /usr/bin/chromium] [--screenshot FILE]`,
      );
  }
  return args;
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** An id `days` days before `from`, as backups make them. */
function idAt(time: Date, n: number): string {
  return `${time
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z')}-${n.toString(16).padStart(6, '0')}`;
}

/** The 999 commit records before the real one: the same artifacts under their own keys, one a day, with varied sizes and statuses. */
async function writeHistory(repo: string, real: CommitRecord, count: number): Promise<void> {
  const start = Date.parse(real.startedAt);
  const hosts = ['web1', 'web2', 'db1'];
  for (let n = 1; n < count; n++) {
    const started = new Date(start - n * 86_400_000);
    const id = idAt(started, n);
    const scale = 0.6 + 0.4 * ((count - n) / count) + 0.05 * Math.sin(n);
    const seconds = ((Date.parse(real.finishedAt) - start) / 1000) * (0.8 + 0.4 * Math.abs(Math.cos(n)));
    const record: CommitRecord = {
      ...real,
      id,
      host: hosts[n % hosts.length]!,
      tags: n % 7 === 0 ? ['weekly'] : ['nightly'],
      startedAt: started.toISOString(),
      finishedAt: new Date(started.getTime() + seconds * 1000).toISOString(),
      artifacts: real.artifacts.map((a) => ({
        ...a,
        volumes: a.volumes.map((v) => ({ ...v, key: v.key.replace(dataPrefix(real.id), dataPrefix(id)) })),
        index: { ...a.index, key: a.index.key.replace(dataPrefix(real.id), dataPrefix(id)) },
        ...(a.recipe ? { recipe: { ...a.recipe, key: a.recipe.key.replace(dataPrefix(real.id), dataPrefix(id)) } } : {}),
        references: [],
        bytesRead: Math.round(a.bytesRead * scale),
        storedBytes: Math.round(a.storedBytes * (n % 10 === 0 ? 1 : 0.05)),
        reusedBytes: n % 10 === 0 ? 0 : Math.round(a.storedBytes * 0.95),
        warningCount: n % 53 === 0 ? 2 : n % 89 === 0 ? 1 : 0,
        notStored: n % 89 === 0 ? 1 : 0,
        warnings:
          n % 89 === 0
            ? [{ code: 'W_UNREADABLE', path: `d${n}/f${n}.conf`, message: 'permission denied' }]
            : n % 53 === 0
              ? [{ code: 'W_SKIPPED', path: 'run/app.sock', message: 'socket not stored' }]
              : [],
      })),
    };
    const file = path.join(repo, commitKey(id));
    await fs.writeFile(file, JSON.stringify(record));
  }
}

interface Measured {
  commandWallS: number;
  commandCpuS: number;
  commandPeakRssMiB: number;
  othersCpuS: number;
  pageBytes: number;
  entriesListed: number;
  entriesTotal: number;
  /** Chromium: from navigation to the listing's first row, and to opening the largest directory (1,000 rows built). */
  loadMs: number;
  openDirMs: number;
  jsHeapMiB: number;
  markers: number;
}

async function measure(args: Args, repo: string, out: string): Promise<Measured> {
  await sh(['sync']);
  const timed = await runTimed([{ name: 'cassette report', argv: ['node', CLI, 'report', '--repo', repo, '--out', out, '--keep-daily', '7', '--keep-weekly', '8', '-q'] }], {
    env: { ...process.env, CASSETTE_REPO: '' },
  });
  const proc = timed.procs[0]!;
  const browser = await chromium.launch({ executablePath: args.chromium });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const t0 = performance.now();
    await page.goto(`file://${out}`);
    await page.waitForSelector('#tree-root .row');
    const loadMs = performance.now() - t0;
    const t1 = performance.now();
    await page.locator('#tree-root .row.dir').first().click();
    await page.waitForSelector('#tree-root .children .row');
    const openDirMs = performance.now() - t1;
    const metrics = (await cdp.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> };
    const heap = metrics.metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
    const markers = await page.locator('.marker').count();
    if (args.screenshot) await page.screenshot({ path: args.screenshot });
    const listed = Number(await page.locator('#tree-root').getAttribute('data-entries'));
    const total = Number((/of (\d+) entries are listed/.exec((await page.locator('#tree .note').first().textContent()) ?? '') ?? [])[1] ?? listed);
    return {
      commandWallS: timed.wallS,
      commandCpuS: proc.userS + proc.sysS,
      commandPeakRssMiB: proc.maxRssKiB / 1024,
      othersCpuS: Math.max(0, timed.machineBusyS - proc.userS - proc.sysS),
      pageBytes: (await fs.stat(out)).size,
      entriesListed: listed,
      entriesTotal: total,
      loadMs,
      openDirMs,
      jsHeapMiB: heap / 1024 / 1024,
      markers,
    };
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const loadStart = os.loadavg();
  const tree = await ensureSmallFiles(path.join(repoRoot, 'bench/data/scale'), args.files, log);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-bench-report-'));
  try {
    const repo = path.join(work, 'repo');
    log(`backing up ${args.files.toLocaleString('en')} files into ${repo} …`);
    const id = (await sh(['node', CLI, 'backup', tree, '--repo', repo, '--host', 'web1', '--tag', 'nightly'], { env: { ...process.env, CASSETTE_REPO: '' } })).trim();
    const real = JSON.parse(await fs.readFile(path.join(repo, commitKey(id)), 'utf8')) as CommitRecord;
    log(`writing ${args.snapshots - 1} more commit records …`);
    await writeHistory(repo, real, args.snapshots);
    const runs: Measured[] = [];
    for (let i = 0; i < args.runs; i++) {
      const m = await measure(args, repo, path.join(work, 'report.html'));
      log(
        `run ${i + 1}: report ${m.commandWallS.toFixed(2)} s, ${m.commandCpuS.toFixed(2)} CPU-s, ${m.commandPeakRssMiB.toFixed(0)} MiB; page ${(m.pageBytes / 1024 / 1024).toFixed(2)} MiB, load ${m.loadMs.toFixed(0)} ms, open ${m.openDirMs.toFixed(0)} ms, heap ${m.jsHeapMiB.toFixed(0)} MiB; others ${m.othersCpuS.toFixed(2)} CPU-s`,
      );
      runs.push(m);
    }
    const med = (key: keyof Measured): number => median(runs.map((r) => r[key]));
    const date = new Date().toISOString().slice(0, 10);
    const result = { date, engine: await engineVersion(), args, machine: machineOf(loadStart, os.loadavg()), runs };
    const md = [
      `# cassette report at scale (${date})`,
      '',
      `${args.snapshots} snapshots; the latest a real backup of ${args.files.toLocaleString('en')} small files (${runs[0]!.entriesTotal.toLocaleString('en')} entries) in a directory repository. Medians of ${args.runs} runs; engine ${result.engine}; load average ${loadStart.map((l) => l.toFixed(2)).join(' ')} at the start.`,
      '',
      '| measure | median | runs |',
      '|---|---:|---|',
      `| \`cassette report\` wall | ${med('commandWallS').toFixed(2)} s | ${runs.map((r) => r.commandWallS.toFixed(2)).join(', ')} |`,
      `| its CPU | ${med('commandCpuS').toFixed(2)} s | ${runs.map((r) => r.commandCpuS.toFixed(2)).join(', ')} |`,
      `| its peak RSS | ${med('commandPeakRssMiB').toFixed(0)} MiB | ${runs.map((r) => r.commandPeakRssMiB.toFixed(0)).join(', ')} |`,
      `| other processes' CPU meanwhile | ${med('othersCpuS').toFixed(2)} s | ${runs.map((r) => r.othersCpuS.toFixed(2)).join(', ')} |`,
      `| page size | ${(med('pageBytes') / 1024 / 1024).toFixed(2)} MiB | ${runs[0]!.entriesListed.toLocaleString('en')} of ${runs[0]!.entriesTotal.toLocaleString('en')} entries listed, ${runs[0]!.markers} chart markers |`,
      `| Chromium: open until the listing shows | ${med('loadMs').toFixed(0)} ms | ${runs.map((r) => r.loadMs.toFixed(0)).join(', ')} |`,
      `| Chromium: open a directory | ${med('openDirMs').toFixed(0)} ms | ${runs.map((r) => r.openDirMs.toFixed(0)).join(', ')} |`,
      `| Chromium: JS heap used | ${med('jsHeapMiB').toFixed(0)} MiB | ${runs.map((r) => r.jsHeapMiB.toFixed(0)).join(', ')} |`,
      '',
    ].join('\n');
    await fs.mkdir(path.join(repoRoot, 'bench/results'), { recursive: true });
    await fs.writeFile(path.join(repoRoot, `bench/results/${date}-report.json`), JSON.stringify(result, null, 2) + '\n');
    await fs.writeFile(path.join(repoRoot, `bench/results/${date}-report.md`), md);
    process.stdout.write(md);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:report: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
