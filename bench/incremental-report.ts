// The incremental bench's report: its measurements, issue 15's targets judged from them, and the markdown (in the style of report.ts).

import type { ProcTimes } from './exec.js';
import { median, runContextLines, type RunContext } from './report.js';

export type Tool = 'cassette' | 'restic';

/**
 * What a measurement is of. Backups run once each, in this order, on the same states of the
 * tree for both tools; the restores of the changed and of the full snapshot alternate `--runs`
 * times; "restore changed" of restic is its latest snapshot, which holds the changed tree.
 */
export const STEPS = ['full backup', 'unchanged backup', 'changed backup', 'restore changed', 'restore full', 'scale: full backup', 'scale: incremental backup'] as const;
export type Step = (typeof STEPS)[number];

/** Bytes under one snapshot's `data/<id>/`, listed through the S3 client, by kind of object. */
export interface SnapshotObjects {
  /** `*.tar.zst` (the snapshot's own volumes). */
  volumes: number;
  /** `*.idx.zst`. */
  indexes: number;
  /** `*.recipe`. */
  recipes: number;
  /** Anything else (none expected). */
  other: number;
  count: number;
}

export interface StepMeasurement {
  step: Step;
  tool: Tool;
  run: number;
  wallS: number;
  /** user+sys of the tool's process, its threads (compression workers) included. */
  clientCpuS: number;
  serverCpuS?: number;
  serverPeakRssKiB?: number;
  /** CPU seconds every other process on the machine used meanwhile (/proc/stat). */
  otherCpuS: number;
  /** 1-minute load average just before the step started (after sync and the settle). */
  load1: number;
  peakRssKiB: number;
  procs: ProcTimes[];
  /** Backups: cassette's summary `bytesUploaded` (volumes + indexes + recipes); restic's `data_added` (before compression). */
  uploadedBytes?: number;
  /** Cassette backups: the new snapshot's `data/<id>/`, listed. */
  objects?: SnapshotObjects;
  /** Backups: growth of the tool's repository prefix in the bucket (commit record, restic's index and snapshot files included). */
  addedBytes?: number;
  /** Backups: bytes read from the source (cassette: summary `bytesRead`; restic: `total_bytes_processed`). */
  readBytes?: number;
  /** Cassette backups: summary `bytesReused`. */
  reusedBytes?: number;
  /** Restores: cassette's summary `downloadBytes` (its `requests` and `files` are in counts). */
  downloadBytes?: number;
  snapshot?: string;
  /** Cassette backups: the summary's `parents`. */
  parents?: string[];
  /** Exit status when not 0 (cassette 3 = partial). */
  exitCode?: number;
  /** restic's files_new / files_changed / files_unmodified and similar; cassette restores' requests and files; the scale backups' files. */
  counts?: Record<string, number>;
}

export interface TreeChangeInfo {
  /** Config files rewritten (same size, new text). */
  files: number;
  /** Every k-th of the `.conf` files under etc/ (natural order of their paths). */
  every: number;
  configFiles: number;
  fileBytes: number;
  firstFile: string;
  lastFile: string;
  image: { rel: string; offset: number; bytes: number };
  /** New file contents + the image's new bytes. */
  changedBytes: number;
  /** zstd -3 of their concatenation. */
  compressedBytes: number;
  method: string;
}

export interface IncrementalReport extends RunContext {
  dataset: {
    /** The bench tree the copy was made from. */
    root: string;
    files: number;
    bytes: number;
    /** Top-level directories of the copy: one source (artifact) each. */
    sources: string[];
    copy: { method: string; seconds: number; files: number; bytes: number };
    image: { rel: string; bytes: number; seconds: number };
  };
  change?: TreeChangeInfo;
  /** restic's version, or why it was not measured. */
  restic: { version?: string; skipped?: string; repository?: string };
  scale?: { files: number; root: string; seconds?: number } | { skipped: string };
  notes: string[];
  measurements: StepMeasurement[];
}

export interface Target {
  target: string;
  measured: string;
  met: boolean | undefined;
}

const MB = (b: number | undefined): string => (b !== undefined && Number.isFinite(b) ? (b / 1e6).toFixed(b < 10e6 ? 2 : 1) : '–');
const MiB = (kib: number | undefined): string => (kib !== undefined && Number.isFinite(kib) && kib > 0 ? (kib / 1024).toFixed(0) : '–');
const num = (x: number | undefined, digits = 2): string => (x !== undefined && Number.isFinite(x) ? x.toFixed(digits) : '–');
const pct = (a: number | undefined, b: number | undefined): string =>
  a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${((a / b) * 100).toFixed(a / b < 0.1 ? 2 : 1)}%` : '–';
const noise = (m: StepMeasurement): string => `others ${num(m.otherCpuS, 1)} CPU-s, load ${num(m.load1)}`;

/** The one measurement of a step (the first run's, for backups). */
export function find(ms: StepMeasurement[], step: Step, tool: Tool = 'cassette'): StepMeasurement | undefined {
  return ms.find((m) => m.step === step && m.tool === tool);
}

/** Issue 15's targets, each met or not, with the numbers that decide it. */
export function incrementalTargets(report: Pick<IncrementalReport, 'measurements' | 'change'>): Target[] {
  const ms = report.measurements;
  const full = find(ms, 'full backup');
  const unchanged = find(ms, 'unchanged backup');
  const changed = find(ms, 'changed backup');
  const out: Target[] = [];
  const add = (target: string, parts: Array<StepMeasurement | undefined>, f: () => [string, boolean]): void => {
    if (parts.some((p) => p === undefined || (p.exitCode !== undefined && p.exitCode !== 0 && p.exitCode !== 3))) out.push({ target, measured: 'not measured', met: undefined });
    else {
      const [measured, met] = f();
      out.push({ target, measured, met });
    }
  };
  add('unchanged tree: backup wall ≤ 10% of the full backup’s', [full, unchanged], () => [
    `${pct(unchanged!.wallS, full!.wallS)} (${num(unchanged!.wallS)} s vs ${num(full!.wallS)} s; ${noise(unchanged!)})`,
    unchanged!.wallS <= 0.1 * full!.wallS,
  ]);
  add('unchanged tree: bytes uploaded ≤ 1% of the full backup’s', [full, unchanged], () => [
    `${pct(unchanged!.uploadedBytes, full!.uploadedBytes)} (${MB(unchanged!.uploadedBytes)} MB vs ${MB(full!.uploadedBytes)} MB; indexes ${MB(unchanged!.objects?.indexes)} MB, recipes ${MB(unchanged!.objects?.recipes)} MB, volumes ${MB(unchanged!.objects?.volumes)} MB)`,
    unchanged!.uploadedBytes! <= 0.01 * full!.uploadedBytes!,
  ]);
  const c = report.change;
  add('100 files + 8 MiB changed: bytes uploaded ≤ 3 × zstd -3 of what changed + the snapshot’s indexes and recipes', [changed], () => {
    if (!c || !changed!.objects) return ['no change measured', false];
    const allowed = 3 * c.compressedBytes + changed!.objects.indexes + changed!.objects.recipes;
    return [
      `${MB(changed!.uploadedBytes)} MB ≤ 3 × ${MB(c.compressedBytes)} + ${MB(changed!.objects.indexes)} + ${MB(changed!.objects.recipes)} = ${MB(allowed)} MB? (volumes ${MB(changed!.objects.volumes)} MB = ${(changed!.objects.volumes / c.compressedBytes).toFixed(2)} × the compressed change)`,
      changed!.uploadedBytes! <= allowed,
    ];
  });
  add('100 files + 8 MiB changed: backup wall ≤ 25% of the full backup’s', [full, changed], () => [
    `${pct(changed!.wallS, full!.wallS)} (${num(changed!.wallS)} s vs ${num(full!.wallS)} s; ${noise(changed!)})`,
    changed!.wallS <= 0.25 * full!.wallS,
  ]);
  const restores = (step: Step): StepMeasurement[] => ms.filter((m) => m.step === step && m.tool === 'cassette');
  const inc = restores('restore changed');
  const fullRestore = restores('restore full');
  if (inc.length === 0 || fullRestore.length === 0)
    out.push({ target: 'full restore of the incremental snapshot within ±5% of the full snapshot’s (medians)', measured: 'not measured', met: undefined });
  else {
    const a = median(inc.map((m) => m.wallS));
    const b = median(fullRestore.map((m) => m.wallS));
    out.push({
      target: 'full restore of the incremental snapshot within ±5% of the full snapshot’s (medians)',
      measured: `${((a / b - 1) * 100).toFixed(1)}% (${num(a)} s vs ${num(b)} s, ${inc.length} + ${fullRestore.length} runs)`,
      met: a >= 0.95 * b && a <= 1.05 * b,
    });
  }
  for (const step of ['scale: full backup', 'scale: incremental backup'] as const) {
    const m = find(ms, step);
    const what = step === 'scale: full backup' ? 'first backup of the many small files' : 'incremental backup of the many small files, parent of as many';
    if (!m) out.push({ target: `peak RSS ≤ 300 MiB: ${what}`, measured: 'not measured', met: undefined });
    else out.push({ target: `peak RSS ≤ 300 MiB: ${what}`, measured: `${MiB(m.peakRssKiB)} MiB (${m.counts?.files ?? '?'} files)`, met: m.peakRssKiB <= 300 * 1024 });
  }
  return out;
}

export function renderIncrementalMarkdown(report: IncrementalReport): string {
  const ms = report.measurements;
  const d = report.dataset;
  const lines: string[] = [];
  lines.push(`# Cassette incremental bench: ${report.size} (${report.date.slice(0, 19).replace('T', ' ')} UTC)`);
  lines.push('');
  lines.push(
    `- data: a copy of ${d.root} (seed ${report.seed}: ${d.files} files, ${MB(d.bytes)} MB) made with \`${d.copy.method}\` in ${num(d.copy.seconds, 1)} s (not in any timing), plus one ${MB(d.image.bytes)} MB disk image ${d.image.rel} (writeImage: zero runs, random and text blocks; ${num(d.image.seconds, 1)} s): ${d.copy.files} files, ${MB(d.copy.bytes)} MB`,
  );
  lines.push(`- sources: the copy's top-level directories, one artifact each: ${d.sources.join(', ')}`);
  lines.push(`- S3: ${report.server}; every tool in the same bucket, each under its own fresh prefix`);
  lines.push(...runContextLines(report));
  lines.push(
    `- restic: ${report.restic.version ? `${report.restic.version}${report.restic.repository ? `, ${report.restic.repository}` : ''}` : `not measured: ${report.restic.skipped ?? '?'}`}`,
  );
  lines.push(
    '- every step: `sync`, a 2 s settle, then the command under `/usr/bin/time` (wall, user+sys of the process and its threads, peak RSS); “others CPU s” is what every other process on the machine used meanwhile, “load” the 1-minute load average when the step began',
  );
  lines.push('');

  lines.push('## Targets (issue 15)');
  lines.push('');
  lines.push('| target | measured | met |');
  lines.push('|---|---|---|');
  for (const t of incrementalTargets(report)) lines.push(`| ${t.target} | ${t.measured} | ${t.met === undefined ? 'n/a' : t.met ? 'met' : '**not met**'} |`);
  lines.push('');

  lines.push('## Backups');
  lines.push('');
  lines.push(
    'In order: cassette full, restic full, cassette unchanged, restic unchanged, *the change*, cassette changed, restic changed. “uploaded” is cassette’s summary `bytesUploaded` (volumes + indexes + recipes) and restic’s `data_added` (before compression); “data/<id>/” is the cassette snapshot’s objects listed through the S3 client (volumes / indexes / recipes); “added to bucket” is the growth of the tool’s prefix (commit records, restic’s index and snapshot files included), the figure to compare across tools. “read” is cassette’s `bytesRead` and restic’s `total_bytes_processed` (which counts unmodified files it did not read). Percentages are of the same tool’s full backup.',
  );
  lines.push('');
  lines.push(
    '| step | tool | wall s | % of full | uploaded MB | % of full | data/<id>/ MB (vol / idx / recipe) | added to bucket MB | % of full | read MB | reused MB | client CPU s | server CPU s | others CPU s | load | peak RSS MiB | server RSS MiB |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const step of ['full backup', 'unchanged backup', 'changed backup'] as const) {
    for (const tool of ['cassette', 'restic'] as const) {
      const m = find(ms, step, tool);
      if (!m) continue;
      const f = find(ms, 'full backup', tool);
      const o = m.objects;
      lines.push(
        `| ${step}${m.exitCode ? ` (exit ${m.exitCode})` : ''} | ${tool} | ${num(m.wallS)} | ${step === 'full backup' ? '' : pct(m.wallS, f?.wallS)} | ${MB(m.uploadedBytes)} | ${step === 'full backup' ? '' : pct(m.uploadedBytes, f?.uploadedBytes)} | ${o ? `${MB(o.volumes + o.indexes + o.recipes + o.other)} (${MB(o.volumes)} / ${MB(o.indexes)} / ${MB(o.recipes)})` : ''} | ${MB(m.addedBytes)} | ${step === 'full backup' ? '' : pct(m.addedBytes, f?.addedBytes)} | ${MB(m.readBytes)} | ${MB(m.reusedBytes)} | ${num(m.clientCpuS, 1)} | ${num(m.serverCpuS, 1)} | ${num(m.otherCpuS, 1)} | ${num(m.load1)} | ${MiB(m.peakRssKiB)} | ${MiB(m.serverPeakRssKiB)} |`,
      );
    }
  }
  lines.push('');
  const snapshotLines = (['full backup', 'unchanged backup', 'changed backup'] as const).flatMap((step) => {
    const m = find(ms, step);
    return m?.snapshot ? [`${step}: ${m.snapshot}${m.parents && m.parents.length > 0 ? ` (parent ${m.parents.join(', ')})` : ''}`] : [];
  });
  if (snapshotLines.length > 0) lines.push(`Cassette snapshots: ${snapshotLines.join('; ')}.`);
  const resticCounts = (['full backup', 'unchanged backup', 'changed backup'] as const).flatMap((step) => {
    const m = find(ms, step, 'restic');
    return m?.counts
      ? [
          `${step}: ${Object.entries(m.counts)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        ]
      : [];
  });
  if (resticCounts.length > 0) lines.push(`restic’s summaries: ${resticCounts.join('; ')}.`);
  lines.push('');

  const c = report.change;
  if (c) {
    lines.push('## The change (between the second and third backups)');
    lines.push('');
    lines.push(
      `- ${c.files} config files rewritten in place with new text of the same size (${MB(c.fileBytes)} MB): every ${c.every}th of the ${c.configFiles} \`.conf\` files under etc/ in natural path order, ${c.firstFile} … ${c.lastFile}`,
    );
    lines.push(`- ${MB(c.image.bytes)} MB of random bytes written in place at offset ${c.image.offset} (4 KiB aligned, the middle) of ${c.image.rel}`);
    lines.push(`- compressed size of what changed: ${MB(c.compressedBytes)} MB (${c.method}; ${MB(c.changedBytes)} MB before compression)`);
    lines.push('');
  }

  lines.push('## Full restores');
  lines.push('');
  lines.push(
    `Cassette: the changed (incremental) snapshot and the full one, alternating, ${report.runs} runs each, each into a fresh directory on the copy’s file system (kept until the bench ends: bench/trash.ts). restic: its latest snapshot (the changed tree), once, after them.`,
  );
  lines.push('');
  lines.push(
    '| restore | tool | runs | wall s (median) | client CPU s | server CPU s | others CPU s | peak RSS MiB | downloaded MB | GET requests | every run: wall s (others CPU s, load) |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const [step, tool, label] of [
    ['restore changed', 'cassette', 'incremental (changed) snapshot'],
    ['restore full', 'cassette', 'full snapshot'],
    ['restore changed', 'restic', 'latest (changed) snapshot'],
  ] as const) {
    const rows = ms.filter((m) => m.step === step && m.tool === tool);
    if (rows.length === 0) continue;
    const med = (f: (m: StepMeasurement) => number | undefined): number => median(rows.map((m) => f(m) ?? NaN));
    lines.push(
      `| ${label} | ${tool} | ${rows.length} | ${num(med((m) => m.wallS))} | ${num(
        med((m) => m.clientCpuS),
        1,
      )} | ${num(
        med((m) => m.serverCpuS),
        1,
      )} | ${num(
        med((m) => m.otherCpuS),
        1,
      )} | ${MiB(med((m) => m.peakRssKiB))} | ${MB(med((m) => m.downloadBytes))} | ${num(
        med((m) => m.counts?.requests),
        0,
      )} | ${rows.map((m) => `${num(m.wallS)} (${num(m.otherCpuS, 1)}, ${num(m.load1)})`).join(', ')} |`,
    );
  }
  lines.push('');

  const scale = report.scale;
  lines.push('## Many small files: peak RSS of an incremental backup');
  lines.push('');
  if (!scale || 'skipped' in scale) lines.push(`Not measured${scale && 'skipped' in scale ? `: ${scale.skipped}` : ''}.`);
  else {
    lines.push(
      `${scale.files.toLocaleString('en')} files of 100-1,100 bytes (${scale.root}, 1,000 per directory), backed up into a fresh repository, then again with the first as parent (default flags).`,
    );
    lines.push('');
    lines.push('| backup | wall s | client CPU s | server CPU s | others CPU s | load | peak RSS MiB | uploaded MB (vol / idx / recipe) | reused MB |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---|---:|');
    for (const step of ['scale: full backup', 'scale: incremental backup'] as const) {
      const m = find(ms, step);
      if (m)
        lines.push(
          `| ${step.slice('scale: '.length)}${m.parents?.length ? ` (parent ${m.parents.join(', ')})` : ''} | ${num(m.wallS)} | ${num(m.clientCpuS, 1)} | ${num(m.serverCpuS, 1)} | ${num(m.otherCpuS, 1)} | ${num(m.load1)} | ${MiB(m.peakRssKiB)} | ${MB(m.uploadedBytes)}${m.objects ? ` (${MB(m.objects.volumes)} / ${MB(m.objects.indexes)} / ${MB(m.objects.recipes)})` : ''} | ${MB(m.reusedBytes)} |`,
        );
    }
  }
  lines.push('');
  if (report.notes.length > 0) {
    lines.push('## Notes');
    lines.push('');
    for (const n of report.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return lines.join('\n');
}
