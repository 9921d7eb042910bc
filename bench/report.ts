// Medians of the bench runs, ratios cassette/baseline, the stage that bound each result, and issue 6's targets, as markdown.

import os from 'node:os';
import type { ProcTimes } from './exec.js';

export interface Measurement {
  op: string;
  tool: 'cassette' | 'baseline';
  run: number;
  wallS: number;
  sourceBytes: number;
  /** MB/s (10^6) of source bytes. */
  mbps: number;
  storedBytes?: number;
  downloadBytes?: number;
  /** user+sys of every client process. */
  clientCpuS: number;
  serverCpuS?: number;
  serverPeakRssKiB?: number;
  /** CPU seconds used by everything else on the machine during the measurement (noise). */
  otherCpuS: number;
  /** Largest peak RSS among the client processes. */
  peakRssKiB: number;
  procs: ProcTimes[];
}

export interface StageMeasurement {
  name: string;
  tool: 'cassette' | 'baseline';
  kind: 'backup' | 'restore' | 'db-backup' | 'db-restore';
  run: number;
  wallS: number;
  /** Throughput in MB/s of the *source* bytes the stage stands for (so stages compare with each other and with the operations). */
  sourceMBps: number;
  cpuS: number;
  serverCpuS?: number;
  otherCpuS: number;
  peakRssKiB: number;
}

/** What every bench report says about its run: when, on what, with which builds and tools. */
export interface RunContext {
  date: string;
  size: string;
  seed: number;
  runs: number;
  machine: { cpus: number; cpuModel: string; memMiB: number; node: string; loadAvgAtStart: number[]; loadAvgAtEnd: number[] };
  server: string;
  /** git commit of the engine measured. */
  engine: string;
  tools: Record<string, string>;
}

/** The machine a run measured on, with the load average at its start and end. */
export function machineOf(loadAvgAtStart: number[], loadAvgAtEnd: number[]): RunContext['machine'] {
  return { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', memMiB: Math.round(os.totalmem() / 2 ** 20), node: process.version, loadAvgAtStart, loadAvgAtEnd };
}

/** The report lines every bench writes about its run: machine, engine and tools. */
export function runContextLines(report: RunContext): string[] {
  const loads = (values: number[]): string => values.map((x) => x.toFixed(2)).join(' ');
  const { machine } = report;
  return [
    `- machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memMiB} MiB, Node ${machine.node}, load average ${loads(machine.loadAvgAtStart)} at start, ${loads(machine.loadAvgAtEnd)} at end`,
    `- engine: ${report.engine} (dist/ as built when the run started)`,
    `- tools: ${Object.entries(report.tools)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; ')}`,
  ];
}

export interface BenchReport extends RunContext {
  dataset: {
    root: string;
    files: number;
    bytes: number;
    tarBytes: number;
    tarZstBytes: number;
    smallFile: string;
    largeFile: string;
    database?: { name: string; bytes: number; dumpBytes: number };
  };
  notes: string[];
  measurements: Measurement[];
  stages: StageMeasurement[];
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export interface Summary {
  op: string;
  tool: 'cassette' | 'baseline';
  runs: number;
  wallS: number;
  mbps: number;
  storedBytes: number;
  downloadBytes: number;
  clientCpuS: number;
  serverCpuS: number;
  otherCpuS: number;
  peakRssKiB: number;
  serverPeakRssKiB: number;
  procs: Array<{ name: string; cpuS: number; maxRssKiB: number }>;
}

export const OPS = [
  'tree backup',
  'encrypted tree backup',
  'full restore',
  'encrypted full restore',
  'small file restore',
  'encrypted small file restore',
  'large image restore',
  'database backup',
  'database restore',
];

/** Median over runs of `op`'s wall time ÷ `base`'s in the same run (cassette rows): paired, so the machine's drift cancels. */
export function pairedRatio(ms: readonly Measurement[], op: string, base: string): { ratio: number; runs: number; spread: [number, number] } | undefined {
  const ratios: number[] = [];
  for (const m of ms) {
    if (m.op !== op || m.tool !== 'cassette') continue;
    const b = ms.find((x) => x.op === base && x.tool === 'cassette' && x.run === m.run);
    if (b) ratios.push(m.wallS / b.wallS);
  }
  if (ratios.length === 0) return undefined;
  return { ratio: median(ratios), runs: ratios.length, spread: [Math.min(...ratios), Math.max(...ratios)] };
}

export function summarize(ms: Measurement[]): Summary[] {
  const out: Summary[] = [];
  for (const op of OPS) {
    for (const tool of ['cassette', 'baseline'] as const) {
      const rows = ms.filter((m) => m.op === op && m.tool === tool);
      if (rows.length === 0) continue;
      const pick = (f: (m: Measurement) => number | undefined): number => median(rows.map((m) => f(m) ?? NaN));
      const names = [...new Set(rows.flatMap((m) => m.procs.map((p) => p.name)))];
      out.push({
        op,
        tool,
        runs: rows.length,
        wallS: pick((m) => m.wallS),
        mbps: pick((m) => m.mbps),
        storedBytes: pick((m) => m.storedBytes),
        downloadBytes: pick((m) => m.downloadBytes),
        clientCpuS: pick((m) => m.clientCpuS),
        serverCpuS: pick((m) => m.serverCpuS),
        otherCpuS: pick((m) => m.otherCpuS),
        peakRssKiB: pick((m) => m.peakRssKiB),
        serverPeakRssKiB: pick((m) => m.serverPeakRssKiB),
        procs: names.map((name) => ({
          name,
          cpuS: median(rows.map((m) => m.procs.filter((p) => p.name === name).reduce((s, p) => s + p.userS + p.sysS, 0))),
          maxRssKiB: median(rows.map((m) => Math.max(0, ...m.procs.filter((p) => p.name === name).map((p) => p.maxRssKiB)))),
        })),
      });
    }
  }
  return out;
}

export interface StageSummary {
  name: string;
  tool: 'cassette' | 'baseline';
  kind: StageMeasurement['kind'];
  wallS: number;
  sourceMBps: number;
  cpuS: number;
  otherCpuS: number;
  peakRssKiB: number;
}

export function summarizeStages(stages: StageMeasurement[]): StageSummary[] {
  const keys = [...new Set(stages.map((s) => `${s.kind}\0${s.name}\0${s.tool}`))];
  return keys.map((key) => {
    const [kind, name, tool] = key.split('\0') as [StageMeasurement['kind'], string, 'cassette' | 'baseline'];
    const rows = stages.filter((s) => s.kind === kind && s.name === name && s.tool === tool);
    return {
      name,
      tool,
      kind,
      wallS: median(rows.map((r) => r.wallS)),
      sourceMBps: median(rows.map((r) => r.sourceMBps)),
      cpuS: median(rows.map((r) => r.cpuS)),
      otherCpuS: median(rows.map((r) => r.otherCpuS)),
      peakRssKiB: median(rows.map((r) => r.peakRssKiB)),
    };
  });
}

const KIND_OF: Record<string, StageMeasurement['kind'] | undefined> = {
  'tree backup': 'backup',
  'encrypted tree backup': 'backup',
  'full restore': 'restore',
  'encrypted full restore': 'restore',
  'database backup': 'db-backup',
  'database restore': 'db-restore',
};

/**
 * What bound a result: the slowest of its tool's stages (each alone on the machine), and
 * whether the cores were saturated (client + server CPU ≥ 85% of wall × cores), in which case
 * the stages compete for CPU and the bound is the sum of their CPU, not the slowest stage.
 */
export function boundOf(s: Summary, stages: StageSummary[], cores: number): string {
  const kind = KIND_OF[s.op];
  const cpuShare = (s.clientCpuS + (Number.isFinite(s.serverCpuS) ? s.serverCpuS : 0)) / (s.wallS * cores);
  const parts: string[] = [];
  if (kind) {
    let own = stages.filter((x) => x.kind === kind && x.tool === s.tool);
    // Stages only one tool has (extract, pg_dump, pg_restore) bound both.
    own = [...own, ...stages.filter((x) => x.kind === kind && x.tool !== s.tool && !own.some((o) => o.name === x.name))];
    if (own.length > 0) {
      const slowest = own.reduce((a, b) => (b.sourceMBps < a.sourceMBps ? b : a));
      parts.push(
        `${slowest.name} (${slowest.sourceMBps.toFixed(0)} MB/s alone${slowest.tool !== s.tool ? `, ${slowest.tool}'s` : ''}; run at ${((s.mbps / slowest.sourceMBps) * 100).toFixed(0)}% of it)`,
      );
    }
  } else {
    parts.push(s.tool === 'baseline' ? 'whole download + decompression' : 'latency (index + ranged GETs)');
  }
  const total = cpuShare + (Number.isFinite(s.otherCpuS) ? s.otherCpuS : 0) / (s.wallS * cores);
  parts.push(
    `CPU ${(cpuShare * 100).toFixed(0)}% of ${cores} cores${cpuShare >= 0.85 ? ': CPU-bound' : total >= 0.85 ? ` (${(total * 100).toFixed(0)}% with other load: machine saturated)` : ''}`,
  );
  return parts.join('; ');
}

const MB = (b: number): string => (Number.isFinite(b) ? (b / 1e6).toFixed(b < 10e6 ? 2 : 1) : '–');
const MiB = (kib: number): string => (Number.isFinite(kib) && kib > 0 ? (kib / 1024).toFixed(0) : '–');
const num = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '–');

interface Target {
  target: string;
  measured: string;
  met: boolean | undefined;
}

export function targets(sums: Summary[], ms: readonly Measurement[] = []): Target[] {
  const get = (op: string, tool: 'cassette' | 'baseline'): Summary | undefined => sums.find((s) => s.op === op && s.tool === tool);
  const out: Target[] = [];
  const add = (target: string, c: Summary | undefined, b: Summary | undefined, f: (c: Summary, b: Summary) => [string, boolean]): void => {
    if (!c || !b) {
      out.push({ target, measured: 'not measured', met: undefined });
      return;
    }
    const [measured, met] = f(c, b);
    out.push({ target, measured, met });
  };
  add('tree backup ≥ 1.15× faster than the pipeline', get('tree backup', 'cassette'), get('tree backup', 'baseline'), (c, b) => [
    `${(b.wallS / c.wallS).toFixed(2)}× (${num(c.wallS)} s vs ${num(b.wallS)} s)`,
    b.wallS / c.wallS >= 1.15,
  ]);
  add('stored bytes ≤ 1.05× the pipeline’s (zstd -3)', get('tree backup', 'cassette'), get('tree backup', 'baseline'), (c, b) => [
    `${(c.storedBytes / b.storedBytes).toFixed(3)}× (${MB(c.storedBytes)} MB vs ${MB(b.storedBytes)} MB)`,
    c.storedBytes / b.storedBytes <= 1.05,
  ]);
  add('client CPU-s per GB backed up ≤ the pipeline’s', get('tree backup', 'cassette'), get('tree backup', 'baseline'), (c, b) => {
    const gb = (s: Summary): number => s.clientCpuS / ((s.mbps * s.wallS) / 1000);
    return [`${gb(c).toFixed(1)} vs ${gb(b).toFixed(1)} CPU-s/GB`, gb(c) <= gb(b)];
  });
  add('full restore ≥ 1.25× faster than the pipeline', get('full restore', 'cassette'), get('full restore', 'baseline'), (c, b) => [
    `${(b.wallS / c.wallS).toFixed(2)}× (${num(c.wallS)} s vs ${num(b.wallS)} s)`,
    b.wallS / c.wallS >= 1.25,
  ]);
  add('one small file restored in < 0.6 s', get('small file restore', 'cassette'), get('small file restore', 'baseline'), (c) => [`${num(c.wallS)} s`, c.wallS < 0.6]);
  add('one small file: < 8 MiB downloaded', get('small file restore', 'cassette'), get('small file restore', 'baseline'), (c) => [
    `${MB(c.downloadBytes)} MB`,
    c.downloadBytes < 8 * 2 ** 20,
  ]);
  add('one large image faster than restic (restic not installed: vs the pipeline)', get('large image restore', 'cassette'), get('large image restore', 'baseline'), (c, b) => [
    `${num(c.wallS)} s vs pipeline ${num(b.wallS)} s`,
    c.wallS < b.wallS,
  ]);
  add('database backup no slower than the pipeline', get('database backup', 'cassette'), get('database backup', 'baseline'), (c, b) => [
    `${num(c.wallS)} s vs ${num(b.wallS)} s (${(c.wallS / b.wallS).toFixed(2)}×)`,
    c.wallS <= b.wallS,
  ]);
  add('peak RSS ≤ 300 MiB for backup', get('tree backup', 'cassette'), get('tree backup', 'baseline'), (c) => [`${MiB(c.peakRssKiB)} MiB`, c.peakRssKiB <= 300 * 1024]);
  add('peak RSS ≤ 300 MiB for restore', get('full restore', 'cassette'), get('full restore', 'baseline'), (c) => [`${MiB(c.peakRssKiB)} MiB`, c.peakRssKiB <= 300 * 1024]);
  // Issue 16: encryption costs at most 10% (paired runs), and one small file stays fast.
  for (const [op, base] of [
    ['encrypted tree backup', 'tree backup'],
    ['encrypted full restore', 'full restore'],
  ] as const) {
    const paired = pairedRatio(ms, op, base);
    out.push(
      paired
        ? {
            target: `${op} within 10% of the plain one`,
            measured: `${paired.ratio.toFixed(3)}× (median of ${paired.runs} paired runs, ${paired.spread[0].toFixed(3)}–${paired.spread[1].toFixed(3)})`,
            met: paired.ratio <= 1.1,
          }
        : { target: `${op} within 10% of the plain one`, measured: 'not measured', met: undefined },
    );
  }
  const small = get('encrypted small file restore', 'cassette');
  out.push(
    small
      ? {
          target: 'encrypted: one small file in < 0.6 s and < 8 MiB downloaded',
          measured: `${num(small.wallS)} s, ${MB(small.downloadBytes)} MB`,
          met: small.wallS < 0.6 && small.downloadBytes < 8 * 2 ** 20,
        }
      : { target: 'encrypted: one small file in < 0.6 s and < 8 MiB downloaded', measured: 'not measured', met: undefined },
  );
  return out;
}

/**
 * For each wall-time target: the wall time it asks for, the CPU the run used (client + server),
 * and what meeting it would take on these cores. The box is shared by client and server, so at
 * the same CPU use the target needs that CPU spread over fewer seconds: a share of the cores the
 * run did not reach, or (above 100%) fewer CPU-seconds.
 */
export function whatItWouldTake(sums: Summary[], cores: number): string[] {
  const get = (op: string, tool: 'cassette' | 'baseline'): Summary | undefined => sums.find((s) => s.op === op && s.tool === tool);
  const goals: Array<[string, number]> = [
    ['tree backup', 1.15],
    ['full restore', 1.25],
    ['database backup', 1],
  ];
  const lines: string[] = [];
  for (const [op, factor] of goals) {
    const c = get(op, 'cassette');
    const b = get(op, 'baseline');
    if (!c || !b || !Number.isFinite(c.serverCpuS)) continue;
    const goal = b.wallS / factor;
    if (c.wallS <= goal) continue;
    const cpu = c.clientCpuS + c.serverCpuS;
    const measured = cpu / (c.wallS * cores);
    const needed = cpu / (goal * cores);
    const others = Number.isFinite(c.otherCpuS) ? (cpu + c.otherCpuS) / (c.wallS * cores) : measured;
    const reached = `this run reached ${(measured * 100).toFixed(0)}%${others - measured >= 0.05 ? ` (${(others * 100).toFixed(0)}% counting every other process on the machine: writeback threads, the database server)` : ''}`;
    const what =
      needed <= 1
        ? `it would take the same ${num(cpu, 1)} CPU-s (client + server) in ${num(goal)} s: ${(needed * 100).toFixed(0)}% of the ${cores} cores for the whole run, where ${reached}`
        : `even at 100% of the ${cores} cores it would take ${num(cpu - goal * cores, 1)} CPU-s less than the ${num(cpu, 1)} CPU-s (client + server) this run used`;
    lines.push(`${op}: ${factor === 1 ? 'no slower than' : `${factor}× faster than`} ${num(b.wallS)} s is ${num(goal)} s (measured ${num(c.wallS)} s); ${what}.`);
  }
  return lines;
}

export function renderMarkdown(report: BenchReport): string {
  const sums = summarize(report.measurements);
  const stageSums = summarizeStages(report.stages);
  const cores = report.machine.cpus;
  const d = report.dataset;
  const lines: string[] = [];
  lines.push(`# Cassette bench: ${report.size} (${report.date.slice(0, 19).replace('T', ' ')} UTC)`);
  lines.push('');
  lines.push(
    `- data set: ${d.root}, seed ${report.seed}: ${d.files} files, ${MB(d.bytes)} MB (tar ${MB(d.tarBytes)} MB, zstd -3 ${MB(d.tarZstBytes)} MB); small file ${d.smallFile}, large file ${d.largeFile}`,
  );
  if (d.database)
    lines.push(`- database: ${d.database.name}, ${MB(d.database.bytes)} MB on disk, pg_dump -Ft -b ${MB(d.database.dumpBytes)} MB (the source bytes of the database rows)`);
  lines.push(`- S3: ${report.server}; ${report.runs} runs interleaved (cassette, baseline, cassette, baseline …), medians below`);
  lines.push(...runContextLines(report));
  lines.push(
    '- baseline: `tar -cf - -C ROOT . | zstd -3 -T0 | aws s3 cp - s3://…/tree.tar.zst` and back; `pg_dump -Ft -b DB | zstd -3 -T0 | aws s3 cp -`; `createdb` + `aws s3 cp - | zstd -dc | pg_restore -d NEW`',
  );
  lines.push('');
  lines.push('## Results (medians)');
  lines.push('');
  lines.push(
    'MB/s is of source bytes (files, or the pg_dump output). CPU is user+sys of every client process; the server’s CPU is separate. RSS is the largest client process. “others CPU s” is what every other process on the machine used meanwhile (/proc/stat, including kernel writeback threads flushing our writes): noise, on a shared machine. Ratio rows are cassette ÷ baseline: below 1 is better for time, bytes, CPU and RSS, above 1 for MB/s.',
  );
  lines.push('');
  lines.push('| operation | tool | wall s | MB/s | stored MB | downloaded MB | client CPU s | server CPU s | others CPU s | peak RSS MiB | server RSS MiB | bound by |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const op of OPS) {
    const c = sums.find((s) => s.op === op && s.tool === 'cassette');
    const b = sums.find((s) => s.op === op && s.tool === 'baseline');
    for (const s of [c, b]) {
      if (!s) continue;
      lines.push(
        `| ${op} | ${s.tool} | ${num(s.wallS)} | ${num(s.mbps, s.mbps < 10 ? 2 : 0)} | ${MB(s.storedBytes)} | ${MB(s.downloadBytes)} | ${num(s.clientCpuS, 1)} | ${num(s.serverCpuS, 1)} | ${num(s.otherCpuS, 1)} | ${MiB(s.peakRssKiB)} | ${MiB(s.serverPeakRssKiB)} | ${boundOf(s, stageSums, cores)} |`,
      );
    }
    if (c && b) {
      lines.push(
        `| ${op} | **cassette/baseline** | **${ratio(c.wallS, b.wallS)}** | ${ratio(c.mbps, b.mbps)} | ${ratio(c.storedBytes, b.storedBytes)} | ${ratio(c.downloadBytes, b.downloadBytes)} | ${ratio(c.clientCpuS, b.clientCpuS)} | ${ratio(c.serverCpuS, b.serverCpuS)} | | ${ratio(c.peakRssKiB, b.peakRssKiB)} | ${ratio(c.serverPeakRssKiB, b.serverPeakRssKiB)} | |`,
      );
    }
  }
  lines.push('');
  lines.push('## Targets (issue 6)');
  lines.push('');
  lines.push('| target | measured | met |');
  lines.push('|---|---|---|');
  for (const t of targets(sums, report.measurements)) lines.push(`| ${t.target} | ${t.measured} | ${t.met === undefined ? 'n/a' : t.met ? 'met' : '**not met**'} |`);
  lines.push('');
  const takes = whatItWouldTake(sums, cores);
  if (takes.length > 0) {
    lines.push('What the unmet time targets would take here (client and server share these cores):');
    lines.push('');
    for (const t of takes) lines.push(`- ${t}`);
    lines.push('');
  }
  lines.push('## Stage limits (medians, each stage alone, same run)');
  lines.push('');
  lines.push(
    'Throughput in MB/s of the source bytes each stage stands for (upload/download move the zstd -3 tar of the tree). Cassette stages run in-process (dist/bench/stage.js): their time and CPU exclude Node start-up.',
  );
  lines.push('');
  lines.push('| for | stage | tool | command | wall s | MB/s of source | CPU s | others CPU s | peak RSS MiB |');
  lines.push('|---|---|---|---|---:|---:|---:|---:|---:|');
  const COMMANDS: Record<string, string> = {
    'read+tar/baseline': '`tar -cf - -C ROOT . | cat > /dev/null`',
    'read+tar/cassette': 'walk → prefetch → packFrames (4 MiB frames)',
    'compress/baseline': '`zstd -3 -T0 -c tree.tar > /dev/null`',
    'compress/cassette': 'FramePool.compress, 4 MiB chunks of tree.tar',
    'upload/baseline': '`aws s3 cp tree.tar.zst s3://…`',
    'upload/cassette': 'S3Store.put(tree.tar.zst), planned part size and queue',
    'download/baseline': '`aws s3 cp s3://… - > /dev/null`',
    'download/cassette': 'S3Store.get, whole object',
    'decompress/baseline': '`zstd -dc tree.tar.zst > /dev/null`',
    'decompress/cassette': 'FramePool.decompress of 4 MiB frames',
    'extract/baseline': '`tar -xf tree.tar -C DIR`',
    'pg_dump/baseline': '`pg_dump -Ft -b DB > /dev/null`',
    'pg_restore/baseline': '`pg_restore -d NEW db.tar` (local file, after createdb)',
  };
  for (const s of stageSums)
    lines.push(
      `| ${s.kind} | ${s.name} | ${s.tool} | ${(COMMANDS[`${s.name}/${s.tool}`] ?? '').replace(/\|/g, '\\|')} | ${num(s.wallS)} | ${num(s.sourceMBps, 0)} | ${num(s.cpuS, 1)} | ${num(s.otherCpuS, 1)} | ${MiB(s.peakRssKiB)} |`,
    );
  lines.push('');
  lines.push('## Every run (wall s; others CPU s in parentheses)');
  lines.push('');
  lines.push(`| operation | tool | ${Array.from({ length: report.runs }, (_, i) => `run ${i + 1}`).join(' | ')} |`);
  lines.push(`|---|---|${'---:|'.repeat(report.runs)}`);
  for (const op of OPS) {
    for (const tool of ['cassette', 'baseline'] as const) {
      const rows = report.measurements.filter((m) => m.op === op && m.tool === tool);
      if (rows.length === 0) continue;
      const cells = Array.from({ length: report.runs }, (_, i) => {
        const m = rows.find((r) => r.run === i + 1);
        return m ? `${num(m.wallS)} (${num(m.otherCpuS, 1)})` : '–';
      });
      lines.push(`| ${op} | ${tool} | ${cells.join(' | ')} |`);
    }
  }
  lines.push('');
  lines.push('## Processes (medians: CPU s / peak RSS MiB)');
  lines.push('');
  lines.push('| operation | tool | processes |');
  lines.push('|---|---|---|');
  for (const s of sums)
    lines.push(
      `| ${s.op} | ${s.tool} | ${s.procs.map((p) => `${p.name} ${num(p.cpuS, 1)} s / ${MiB(p.maxRssKiB)} MiB`).join(', ')}${Number.isFinite(s.serverCpuS) ? `; server ${num(s.serverCpuS, 1)} s / ${MiB(s.serverPeakRssKiB)} MiB` : ''} |`,
    );
  if (report.notes.length > 0) {
    lines.push('');
    lines.push('## Notes');
    lines.push('');
    for (const n of report.notes) lines.push(`- ${n}`);
  }
  lines.push('');
  return lines.join('\n');
}
