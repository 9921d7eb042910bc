// Renders a report's data as one self-contained HTML page: inline CSS, charts as inline SVG drawn here, and a small script that builds the listing's rows as directories are opened. Nothing is fetched when it is opened.

import { humanBytes } from '../human-units.js';
import type { ReportData, Run, SnapshotDetail } from './report-data.js';
import { escapeGlob, restoreCommand, shellQuote } from './restore-command.js';
import { formatValue, lineChart, stackedBarChart, statusStrip, type ChartSeries } from './svg-chart.js';
import type { TreeEntry } from './tree.js';

/** Text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON inside a `<script>` element: `<` as `\u003c`, so that no text in it (a file named `</script>`) ends the element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const STATUS_WORDS: Record<Run['status'], string> = { ok: 'ok', warnings: 'warnings', partial: 'partial: not all stored', incomplete: 'incomplete' };

const time = (iso: string): string => iso.slice(0, 19).replace('T', ' ');

const badge = (status: Run['status'], running?: boolean): string => `<span class="badge status-${status}">${escapeHtml(running ? 'running' : STATUS_WORDS[status])}</span>`;

function age(seconds: number | undefined): string {
  if (seconds === undefined) return 'unknown';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86_400 * 2) return `${(seconds / 3600).toFixed(1)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

/** Where the listing's entries sit in the page: columns, not objects, to keep 50,000 of them small. */
interface CompactTree {
  /**
   * Per node: parent node (-1 for an artifact), name, type code (TYPES), size, mtime in seconds,
   * mode, owner (index into owners), the link target or (directories) the entries below, and
   * (directories) the entries directly in it: those the listing leaves out are told by the difference.
   */
  nodes: Array<[number, string, number, number, number, number, number, string | number | null, number]>;
  owners: string[];
  types: string[];
  /** Files whose name is not valid UTF-8: no pattern names them exactly, so the page gives no command for them. */
  notUtf8: number[];
  /** Artifacts are nodes 0 … artifacts-1. */
  artifacts: number;
}

const TYPES = ['dir', 'file', 'symlink', 'hardlink', 'fifo', 'chardev', 'blockdev', 'artifact'];

/** The listing as columns, each node after its parent (nodes whose parent directory is not listed hang from their artifact, named by their whole path). Pure. */
export function compactTree(snapshot: Pick<SnapshotDetail, 'artifacts' | 'tree'>): CompactTree {
  const nodes: CompactTree['nodes'] = [];
  const notUtf8: number[] = [];
  const owners: string[] = [];
  const ownerIndex = new Map<string, number>();
  const byPath = new Map<string, number>();
  const artifactIndex = new Map<string, number>();
  for (const artifact of snapshot.artifacts) {
    artifactIndex.set(artifact.name, nodes.length);
    const top = snapshot.tree.tops.find((t) => t.artifact === artifact.name);
    const entries = artifact.counts.files + artifact.counts.directories + artifact.counts.others;
    nodes.push([-1, artifact.name, TYPES.indexOf('artifact'), artifact.counts.fileBytes, 0, 0, -1, entries, top?.children ?? entries]);
  }
  const ownerOf = (entry: TreeEntry): number => {
    const name = `${entry.owner ?? entry.uid}:${entry.group ?? entry.gid}`;
    let i = ownerIndex.get(name);
    if (i === undefined) {
      i = owners.length;
      owners.push(name);
      ownerIndex.set(name, i);
    }
    return i;
  };
  for (const entry of snapshot.tree.entries) {
    const root = artifactIndex.get(entry.artifact) ?? 0;
    const slash = entry.path.lastIndexOf('/');
    const parent = slash === -1 ? root : (byPath.get(`${entry.artifact}\0${entry.path.slice(0, slash)}`) ?? root);
    const name = slash === -1 || parent === root ? entry.path : entry.path.slice(slash + 1);
    if (entry.type === 'dir') byPath.set(`${entry.artifact}\0${entry.path}`, nodes.length);
    if (entry.nameNotUtf8) notUtf8.push(nodes.length);
    nodes.push([
      parent,
      name,
      TYPES.indexOf(entry.type),
      entry.size,
      Math.floor(Number(entry.mtime)) || 0,
      entry.mode,
      ownerOf(entry),
      entry.type === 'dir' ? (entry.entries ?? 0) : (entry.link ?? null),
      entry.type === 'dir' ? (entry.children ?? 0) : 0,
    ]);
  }
  return { nodes, owners, types: TYPES, notUtf8, artifacts: snapshot.artifacts.length };
}

function table(headers: string[], rows: string[][], className = ''): string {
  const head = headers.some(Boolean) ? `<thead><tr>${headers.map((h) => `<th>${h}</th>`).join('')}</tr></thead>` : '';
  return `<table${className ? ` class="${className}"` : ''}>${head}<tbody>${rows
    .map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** Rows past this many fold into a <details> (opened for printing). */
const FOLD_ROWS = 15;

/** `content` as it is when it has few rows, else folded under `summary`. */
function folded(rows: number, summary: string, content: string): string {
  return rows > FOLD_ROWS ? `<details><summary>${summary}</summary>${content}</details>` : content;
}

function timelineSection(data: ReportData): string {
  const runs = data.timeline.runs;
  if (runs.length === 0) return `<section id="timeline"><h2>Timeline</h2><p class="note">No snapshots${data.filter ? ` with ${escapeHtml(data.filter)}` : ''} yet.</p></section>`;
  const label = (run: Run): string =>
    `${run.id} ${time(run.time)}${run.host ? ` on ${run.host}` : ''} — ${STATUS_WORDS[run.status]}${run.status === 'incomplete' ? `, ${humanBytes(run.storedBytes)} left` : `: read ${humanBytes(run.bytesRead)}, stored ${humanBytes(run.storedBytes)} new + ${humanBytes(run.reusedBytes)} reused in ${formatValue(run.durationSeconds, 'seconds')}`}${run.warnings ? `, ${run.warnings} warnings` : ''}`;
  const seriesOf = (value: (run: Run) => number, committedOnly: boolean): ChartSeries[] => {
    const series = new Map<string, ChartSeries>();
    for (const run of runs) {
      if (committedOnly && run.status === 'incomplete') continue;
      let s = series.get(run.series);
      if (!s) series.set(run.series, (s = { name: run.series, points: [] }));
      s.points.push({ time: Date.parse(run.time), value: value(run), id: run.id, label: label(run), status: run.status });
    }
    return [...series.values()];
  };
  const attention = runs.filter((run) => run.status !== 'ok');
  const recent = runs.slice(-15).reverse();
  return `<section id="timeline">
<h2>Timeline</h2>
<p class="note">${data.timeline.shown < data.timeline.total ? `The last ${data.timeline.shown} of ${data.timeline.total} snapshots` : `${data.timeline.total} snapshot${data.timeline.total === 1 ? '' : 's'}`}${data.filter ? ` with ${escapeHtml(data.filter)}` : ''}, one series per host and tags. Points that are not circles need a look: ▲ warnings, ◆ partial (entries not stored as they were; the backup exited 3), ✕ incomplete (no commit record).</p>
${statusStrip({ key: 'status', title: 'Runs by status, oldest first', runs: runs.map((run) => ({ id: run.id, label: label(run), status: run.status })) })}
<div class="charts">
${lineChart({ key: 'bytes-read', title: 'Bytes read per run', unit: 'bytes', series: seriesOf((r) => r.bytesRead, true) })}
${stackedBarChart({
  key: 'bytes-stored',
  title: 'Bytes stored per run: new, and reused from earlier snapshots',
  unit: 'bytes',
  parts: [
    { name: 'stored new', className: 'part-new' },
    { name: 'reused', className: 'part-reused' },
  ],
  bars: runs.map((run) => ({ time: Date.parse(run.time), id: run.id, label: label(run), status: run.status, parts: [run.storedBytes, run.reusedBytes] })),
})}
${lineChart({ key: 'duration', title: 'Duration per run', unit: 'seconds', series: seriesOf((r) => r.durationSeconds, true) })}
${lineChart({ key: 'throughput', title: 'Throughput: bytes read per second', unit: 'bytesPerSecond', series: seriesOf((r) => r.bytesPerSecond, true) })}
</div>
${
  attention.length > 0
    ? `<h3>Runs that need a look (${attention.length})</h3>${folded(
        attention.length,
        `the ${Math.min(100, attention.length)} newest`,
        table(
          ['snapshot', 'started', 'status', 'warnings', 'not stored', 'failed hooks', 'stored'],
          attention
            .slice(-100)
            .reverse()
            .map((run) => [
              `<code>${escapeHtml(run.id)}</code>`,
              escapeHtml(time(run.time)),
              badge(run.status, run.running),
              String(run.warnings),
              String(run.notStored),
              String(run.failedHooks),
              humanBytes(run.storedBytes),
            ]),
          'runs attention',
        ),
      )}${attention.length > 100 ? `<p class="note">The newest 100 of ${attention.length} shown.</p>` : ''}`
    : '<p class="note">Every run on the timeline committed without warnings.</p>'
}
<h3>Latest runs</h3>
${table(
  ['snapshot', 'started', 'host', 'tags', 'status', 'read', 'stored new', 'reused', 'duration', 'throughput'],
  recent.map((run) => [
    `<code>${escapeHtml(run.id)}</code>`,
    escapeHtml(time(run.time)),
    escapeHtml(run.host ?? ''),
    escapeHtml(run.tags.join(', ')),
    badge(run.status, run.running),
    humanBytes(run.bytesRead),
    humanBytes(run.storedBytes),
    humanBytes(run.reusedBytes),
    formatValue(run.durationSeconds, 'seconds'),
    formatValue(run.bytesPerSecond, 'bytesPerSecond'),
  ]),
  'runs',
)}
</section>`;
}

function snapshotSection(data: ReportData): string {
  const s = data.snapshot;
  if (!s) return `<section id="snapshot"><h2>Snapshot</h2><p class="note">${escapeHtml(data.snapshotNote ?? 'No snapshot to show.')}</p></section>`;
  const artifacts = table(
    ['artifact', 'kind', 'source', 'read', 'tar', 'stored new', 'reused', 'ratio', 'frames new / reused', 'files', 'dirs', 'others', 'warnings'],
    s.artifacts.map((a) => [
      `<code>${escapeHtml(a.name)}</code>`,
      a.kind,
      escapeHtml(a.source),
      humanBytes(a.bytesRead),
      humanBytes(a.tarBytes),
      humanBytes(a.storedBytes),
      humanBytes(a.reusedBytes),
      `${a.ratio.toFixed(2)}×`,
      `${a.newFrames} / ${a.reusedFrames}`,
      String(a.counts.files),
      String(a.counts.directories),
      String(a.counts.others),
      a.warningCount > 0 ? `<span class="badge status-${a.notStored > 0 ? 'partial' : 'warnings'}">${a.warningCount}</span>` : '0',
    ]),
    'artifacts',
  );
  const largest = s.largestDirectories[0]?.bytes ?? 0;
  const directories =
    s.largestDirectories.length > 0
      ? table(
          ['directory', 'file bytes below', '', 'files', 'entries'],
          s.largestDirectories.map((d) => [
            `<code>${escapeHtml(`${d.artifact}/${d.path}`)}</code>`,
            humanBytes(d.bytes),
            `<span class="bar" style="width:${largest > 0 ? ((100 * d.bytes) / largest).toFixed(1) : 0}%"></span>`,
            String(d.files),
            String(d.entries),
          ]),
          'largest',
        )
      : '<p class="note">No directories below the artifacts’ tops.</p>';
  const warnings = s.artifacts.flatMap((a) => a.warnings.map((w) => ({ artifact: a.name, ...w })));
  const warningCount = s.artifacts.reduce((sum, a) => sum + a.warningCount, 0);
  const hooks = s.hooks.length
    ? `<h3>Hooks</h3>${table(
        ['hook', 'command', 'exit', 'time'],
        s.hooks.map((h) => [
          escapeHtml(h.hook),
          `<code>${escapeHtml(h.command)}</code>`,
          h.exitCode === 0 ? '0' : `<span class="badge status-warnings">${h.exitCode}</span>`,
          `${h.durationMs} ms`,
        ]),
      )}`
    : '';
  const database = s.artifacts
    .filter((a) => a.database)
    .map(
      (a) =>
        `<p>Database <code>${escapeHtml(a.database!.name)}</code> (artifact <code>${escapeHtml(a.name)}</code>): pg_dump ${a.database!.dumpFormat === 'tar' ? '-Ft' : '-Fc'}, ${humanBytes(a.bytesRead)} dump${a.database!.databaseSize ? ` of a ${humanBytes(a.database!.databaseSize)} database` : ''}${a.database!.tocEntries !== undefined ? `, ${a.database!.tocEntries} TOC entries` : ''}${a.database!.serverVersion ? `, server ${escapeHtml(a.database!.serverVersion)}` : ''}.</p>`,
    )
    .join('');
  return `<section id="snapshot">
<h2>Snapshot <code>${escapeHtml(s.id)}</code></h2>
<p>${escapeHtml(time(s.time))} UTC on <b>${escapeHtml(s.host)}</b>${s.tags.length ? `, tags ${escapeHtml(s.tags.join(', '))}` : ''}${s.profile ? `, runbook ${escapeHtml(s.profile)}${s.role ? ` (${escapeHtml(s.role)})` : ''}` : ''}; ${formatValue(s.durationSeconds, 'seconds')}; format version ${s.version}${s.encrypted ? ', encrypted' : ''}; ${badge(s.status)}</p>
<h3>Artifacts</h3>
${artifacts}
${database}
<h3>Largest directories</h3>
${directories}
<h3>Warnings (${warningCount})</h3>
${
  warnings.length > 0
    ? `${folded(
        warnings.length,
        `the ${Math.min(500, warnings.length)} warnings`,
        table(
          ['artifact', 'code', 'path', 'message'],
          warnings
            .slice(0, 500)
            .map((w) => [
              `<code>${escapeHtml(w.artifact)}</code>`,
              `<span class="badge status-${w.code === 'W_SKIPPED' || w.code === 'W_HOOK' ? 'warnings' : 'partial'}">${w.code}</span>`,
              w.path ? `<code>${escapeHtml(w.path)}</code>` : '',
              escapeHtml(w.message),
            ]),
          'warnings',
        ),
      )}${warningCount > Math.min(500, warnings.length) ? `<p class="note">${Math.min(500, warnings.length)} of ${warningCount} shown: the commit record keeps the first 1000 per artifact.</p>` : ''}`
    : '<p class="note">None.</p>'
}
${hooks}
</section>`;
}

function treeSection(data: ReportData): string {
  const s = data.snapshot;
  if (!s) return '';
  const t = s.tree;
  const ls = `<code>cassette ls ${escapeHtml(s.id)} 'artifact/dir/**' --repo ${escapeHtml(shellQuote(s.repository))}</code>`;
  const levels = (depth: number): string => (depth === 1 ? 'the artifacts’ top level' : `the top ${depth} levels`);
  const cut =
    t.depth === undefined
      ? `All ${t.total} entries are listed.`
      : `${t.shown} of ${t.total} entries are listed: ${
          t.perDirectory === undefined
            ? `every entry of ${levels(t.depth + 1)}; directories deeper show their totals only`
            : `${t.depth > 0 ? `every entry of ${levels(t.depth)}, and ` : ''}the first ${t.perDirectory} entr${t.perDirectory === 1 ? 'y' : 'ies'} of each directory ${t.depth > 0 ? 'below them' : 'at the top'}`
        } (a directory says how many it leaves out). List the rest with ${ls}, or make the report with a larger <code>--tree-limit</code>.`;
  return `<section id="tree">
<h2>Files of snapshot <code>${escapeHtml(s.id)}</code></h2>
<p class="note">${cut} Open a directory to see what it holds; select a file for the command that writes it to standard output.</p>
<div class="tree-controls"><label>Find <input id="tree-find" type="search" placeholder="part of a path" autocomplete="off"></label> <span id="tree-found"></span></div>
<div class="tree-head" aria-hidden="true"><span>name</span><span>size</span><span>modified (UTC)</span><span>mode</span><span>owner</span></div>
<div id="tree-root" role="tree" data-entries="${t.shown}"></div>
<noscript><p class="note">The listing needs JavaScript; <code>cassette report --json</code> has it as data.</p></noscript>
<script type="application/json" id="tree-data">${scriptJson({ ...compactTree(s), id: s.id, repository: s.repository })}</script>
</section>`;
}

function repositorySection(data: ReportData): string {
  const r = data.repository;
  const totals = table(
    ['', ''],
    [
      ['repository', `<code>${escapeHtml(r.url)}</code>`],
      ['snapshots', `${r.snapshots}${data.filter ? ` (${r.selected} with ${escapeHtml(data.filter)})` : ''}${r.sealed ? `, ${r.sealed} encrypted to keys not given` : ''}`],
      ['first, last', r.firstSnapshot ? `${escapeHtml(time(r.firstSnapshot))}, ${escapeHtml(time(r.lastSnapshot!))}` : '—'],
      ['stored', `${humanBytes(r.storedBytes)} in ${r.objects} objects under data/`],
      ['logical size', `${humanBytes(r.tarBytes)}: every snapshot’s tar bytes, apart`],
      ['ratio', `${r.ratio.toFixed(2)}× (logical size / stored: compression and reuse)`],
      ['not named by a snapshot', humanBytes(r.unreferencedBytes)],
      ['multipart uploads not completed', `${r.pendingUploads}${r.oldestUpload ? `, the oldest started ${escapeHtml(time(r.oldestUpload))}` : ''}`],
    ],
    'totals',
  );
  const leftovers =
    r.leftovers.length > 0
      ? folded(
          r.leftovers.length,
          `the ${r.leftovers.length} ids`,
          table(
            ['id', 'objects', 'bytes', 'newest object', 'age', 'state'],
            r.leftovers.map((l) => [
              `<code>${escapeHtml(l.id)}</code>`,
              String(l.objects),
              humanBytes(l.bytes),
              l.newest ? escapeHtml(time(l.newest)) : '—',
              age(l.ageSeconds),
              l.running
                ? badge('incomplete', true)
                : l.referenced
                  ? 'left of a pruned snapshot: kept while later snapshots read from it'
                  : l.pruneRemoves
                    ? `prune removes it (older than ${r.graceHours} h)`
                    : `prune leaves it alone for ${r.graceHours} h`,
            ]),
            'leftovers',
          ),
        )
      : '<p class="note">None: every object under data/ belongs to a committed snapshot.</p>';
  const p = r.prune;
  const policy = p
    ? Object.entries(p.retention)
        .filter(([, n]) => typeof n === 'number')
        .map(([k, n]) => `${k.replace(/^keep/, 'keep-').toLowerCase()} ${String(n)}`)
        .join(', ')
    : '';
  const forecast = p
    ? `<p>With the retention of ${escapeHtml(p.from)} (${escapeHtml(policy)}${p.groupBy ? ', per host' : ''}), prune would now keep ${p.keep.length} snapshot${p.keep.length === 1 ? '' : 's'}, remove ${p.remove.length}, and free ${humanBytes(p.freedBytes)}${p.abortUploads ? `, and abort ${p.abortUploads} uploads` : ''}. Judged by this machine’s clock at ${escapeHtml(time(data.generatedAt))} UTC; prune itself judges by the store’s.</p>${
        p.remove.length > 0
          ? folded(
              p.remove.length,
              `the ${p.remove.length} snapshots it would remove`,
              table(
                ['snapshot', 'started', 'objects', 'frees', 'kept for later snapshots'],
                p.remove
                  .slice(0, 200)
                  .map((x) => [`<code>${escapeHtml(x.id)}</code>`, escapeHtml(time(x.time)), String(x.objects), humanBytes(x.bytes), x.keptBytes ? humanBytes(x.keptBytes) : '']),
                'prune',
              ),
            ) + (p.remove.length > 200 ? `<p class="note">The first 200 of ${p.remove.length}.</p>` : '')
          : ''
      }`
    : '<p class="note">No retention configured: make the report with <code>--runbook</code>, <code>--plan</code> or <code>--keep-*</code> to see what prune would remove.</p>';
  return `<section id="repository">
<h2>Repository</h2>
${totals}
<h3>Incomplete leftovers (${r.leftovers.filter((l) => !l.referenced).length})</h3>
${leftovers}
<h3>What prune would remove</h3>
${forecast}
</section>`;
}

const STYLE = `
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--new:#0072B2;--reused:#9ecae1}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px;margin-top:28px}h3{font-size:15px;margin:18px 0 6px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
.note{color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:150px}.card b{display:block;font-size:18px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
td:nth-child(n+2){font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:10px;padding:0 7px;font-size:12px;color:#fff;background:var(--ok);white-space:nowrap}
.badge.status-warnings{background:var(--warn)}.badge.status-partial,.badge.status-incomplete{background:var(--bad)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:12px}
figure.chart{margin:0;border:1px solid var(--line);border-radius:6px;padding:6px}figure.chart figcaption{font-weight:600;font-size:13px;margin:2px 4px}
figure.chart svg{width:100%;height:auto;display:block}figure.chart.status-strip svg{width:auto;max-width:100%}
.marker{cursor:pointer}
.bar{display:inline-block;height:10px;background:var(--new);min-width:1px;vertical-align:middle;width:0}
table.largest td:nth-child(3){width:220px}
.tree-head,.row{display:grid;grid-template-columns:minmax(0,1fr) 90px 140px 95px 140px;gap:8px;align-items:baseline}
.tree-head{font-weight:600;border-bottom:1px solid var(--line);padding:2px 4px;background:#f6f8fa}
#tree-root{font-size:13px;border:1px solid var(--line);border-top:0;max-height:70vh;overflow:auto}
.row{padding:1px 4px;border-bottom:1px solid #f0f2f4;cursor:default}.row:hover{background:#f6f8fa}
.row .name{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.row .name::before{display:inline-block;width:1.2em;content:""}
.row.dir .name::before,.row.artifact .name::before{content:"▸"}.row.dir.open .name::before,.row.artifact.open .name::before{content:"▾"}
.row.dir,.row.artifact{cursor:pointer}.row.file{cursor:pointer}.row.artifact .name{font-weight:600}
.row .num{text-align:right;font-variant-numeric:tabular-nums}
.restore{margin:2px 0 6px;padding:4px 8px;background:#f6f8fa;border-left:3px solid var(--new);white-space:pre-wrap;word-break:break-all}
.more{padding:2px 4px}.tree-controls{margin:6px 0}
details>summary{cursor:pointer;color:var(--muted);margin:4px 0}
@media print{
  body{max-width:none;padding:0;font-size:11px}
  .tree-controls,button,.more,noscript{display:none}
  #tree-root{max-height:none;overflow:visible}
  section{break-before:auto}figure.chart,table,tr{break-inside:avoid}
  .charts{grid-template-columns:1fr 1fr}
  a{color:inherit;text-decoration:none}
}
`;

/**
 * The listing's script. It reads the compact tree from #tree-data, builds a directory's rows the
 * first time it is opened (1000 at a time), and shows a file's restore command when it is
 * selected. The command and the sizes come from restoreCommand (with escapeGlob and shellQuote)
 * and humanBytes, whose source is put before it: one implementation for the page and `--json`.
 */
const SCRIPT = `
(function () {
  var el = document.getElementById('tree-data');
  if (!el) return;
  var t = JSON.parse(el.textContent);
  var N = t.nodes, children = [];
  for (var i = 0; i < N.length; i++) children.push(null);
  for (var i = 0; i < N.length; i++) { var p = N[i][0]; if (p >= 0) (children[p] = children[p] || []).push(i); }
  var dirType = t.types.indexOf('dir'), artType = t.types.indexOf('artifact');
  function isDir(i) { return N[i][2] === dirType || N[i][2] === artType; }
  var collator = new Intl.Collator('en', { numeric: true });
  function order(a, b) { var da = isDir(a), db = isDir(b); if (da !== db) return da ? -1 : 1; return collator.compare(N[a][1], N[b][1]); }
  function modeText(type, m) {
    var c = { dir: 'd', file: '-', symlink: 'l', hardlink: 'h', fifo: 'p', chardev: 'c', blockdev: 'b' }[type] || '?';
    var s = 'rwxrwxrwx'.split('').map(function (ch, k) { return m & (1 << (8 - k)) ? ch : '-'; });
    if (m & 2048) s[2] = s[2] === 'x' ? 's' : 'S'; if (m & 1024) s[5] = s[5] === 'x' ? 's' : 'S'; if (m & 512) s[8] = s[8] === 'x' ? 't' : 'T';
    return c + s.join('');
  }
  function pathOf(i) { var parts = []; while (N[i][0] >= 0) { parts.unshift(N[i][1]); i = N[i][0]; } return { artifact: N[i][1], path: parts.join('/') }; }
  function text(tag, cls, s) { var e = document.createElement(tag); if (cls) e.className = cls; e.textContent = s; return e; }
  function row(i, depth) {
    var n = N[i], type = t.types[n[2]], r = document.createElement('div');
    r.className = 'row ' + type; r.setAttribute('role', 'treeitem'); r.dataset.node = String(i);
    var name = text('span', 'name', n[1] + (type === 'symlink' && n[7] !== null ? ' → ' + n[7] : '') + (type === 'artifact' ? ' (' + n[7].toLocaleString('en') + ' entries)' : ''));
    name.style.paddingLeft = (depth * 16) + 'px'; name.title = n[1];
    r.appendChild(name);
    r.appendChild(text('span', 'num', type === 'file' || isDir(i) ? humanBytes(n[3]) : ''));
    r.appendChild(text('span', 'time', n[4] ? new Date(n[4] * 1000).toISOString().slice(0, 16).replace('T', ' ') : ''));
    r.appendChild(text('span', 'mode', type === 'artifact' ? '' : modeText(type, n[5])));
    r.appendChild(text('span', 'owner', n[6] >= 0 ? t.owners[n[6]] : ''));
    if (isDir(i)) r.setAttribute('aria-expanded', 'false');
    return r;
  }
  function fill(box, list, from, depth) {
    var end = Math.min(list.length, from + 1000);
    for (var k = from; k < end; k++) box.appendChild(row(list[k], depth));
    if (end < list.length) {
      var more = text('button', 'more', 'show ' + Math.min(1000, list.length - end) + ' more of ' + (list.length - end));
      more.style.marginLeft = (depth * 16) + 'px';
      more.onclick = function () { more.remove(); fill(box, list, end, depth); };
      box.appendChild(more);
    }
  }
  function toggle(r) {
    var i = Number(r.dataset.node), depth = Math.round(parseFloat(r.firstChild.style.paddingLeft) / 16);
    var box = r.nextSibling && r.nextSibling.classList && r.nextSibling.classList.contains('children') ? r.nextSibling : null;
    if (box) { var open = box.hidden; box.hidden = !open; r.classList.toggle('open', open); r.setAttribute('aria-expanded', String(open)); return; }
    box = document.createElement('div'); box.className = 'children'; box.setAttribute('role', 'group');
    var list = (children[i] || []).slice().sort(order);
    if (list.length === 0 && N[i][8] === 0) box.appendChild(text('div', 'note more', 'empty'));
    else fill(box, list, 0, depth + 1);
    if (N[i][8] > list.length) {
      var p = pathOf(i), pattern = p.artifact + (p.path ? '/' + p.path : '');
      var left = text('div', 'note more left-out', (list.length ? 'and ' : '') + (N[i][8] - list.length) + ' more entries, not in this report: cassette ls ' + t.id + ' ' + shellQuote(escapeGlob(pattern) + '/*') + ' --repo ' + shellQuote(t.repository));
      left.style.paddingLeft = ((depth + 1) * 16) + 'px';
      box.appendChild(left);
    }
    r.after(box); r.classList.add('open'); r.setAttribute('aria-expanded', 'true');
  }
  function select(r) {
    var next = r.nextSibling;
    if (next && next.classList && next.classList.contains('restore')) { next.remove(); return; }
    var p = pathOf(Number(r.dataset.node));
    if (t.notUtf8.indexOf(Number(r.dataset.node)) !== -1) { r.after(text('div', 'restore', 'Its name is not valid UTF-8 (shown with \uFFFD), so no pattern names it alone: restore the directory that holds it.')); return; }
    var cmd = restoreCommand(t.repository, t.id, p.artifact, p.path);
    var box = text('code', 'restore', cmd); box.style.marginLeft = r.firstChild.style.paddingLeft;
    r.after(box);
  }
  var root = document.getElementById('tree-root');
  root.addEventListener('click', function (e) {
    var r = e.target.closest('.row'); if (!r) return;
    if (r.classList.contains('dir') || r.classList.contains('artifact')) toggle(r);
    else if (r.classList.contains('file')) select(r);
  });
  var tops = []; for (var a = 0; a < t.artifacts; a++) tops.push(a);
  fill(root, tops, 0, 0);
  if (t.artifacts === 1) toggle(root.firstChild);
  var find = document.getElementById('tree-find'), found = document.getElementById('tree-found'), timer = 0;
  find.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = find.value.toLowerCase(), hits = [];
      if (q) for (var i = t.artifacts; i < N.length && hits.length < 200; i++) { var p = pathOf(i); if ((p.artifact + '/' + p.path).toLowerCase().indexOf(q) !== -1) hits.push(i); }
      var list = document.getElementById('tree-hits'); if (list) list.remove();
      found.textContent = q ? (hits.length >= 200 ? 'the first 200 matches' : hits.length + ' matches') : '';
      if (!q) { root.hidden = false; return; }
      list = document.createElement('div'); list.id = 'tree-hits'; root.hidden = true; root.before(list);
      hits.forEach(function (i) { var r = row(i, 0); var p = pathOf(i); r.firstChild.textContent = p.artifact + '/' + p.path; list.appendChild(r); });
      list.addEventListener('click', function (e) { var r = e.target.closest('.row'); if (r && r.classList.contains('file')) select(r); });
    }, 150);
  });
})();
`;

/** The whole page. Pure: the same data gives the same bytes. */
export function renderReport(data: ReportData): string {
  const r = data.repository;
  const last = data.timeline.runs.filter((run) => run.status !== 'incomplete').at(-1);
  const cards = [
    ['snapshots', String(r.snapshots)],
    ['last run', last ? `${time(last.time)} ${badge(last.status)}` : '—'],
    ['stored', humanBytes(r.storedBytes)],
    ['ratio', `${r.ratio.toFixed(2)}×`],
    ['incomplete leftovers', String(r.leftovers.filter((l) => !l.referenced).length)],
    ['prune would free', r.prune ? humanBytes(r.prune.freedBytes) : 'no retention set'],
  ]
    .map(([k, v]) => `<div class="card">${k}<b>${v}</b></div>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>Cassette report: ${escapeHtml(r.url)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Cassette report</h1>
<p class="note"><code>${escapeHtml(r.url)}</code>${data.filter ? ` — snapshots with ${escapeHtml(data.filter)}` : ''} — made ${escapeHtml(time(data.generatedAt))} UTC by cassette ${escapeHtml(data.cassetteVersion)}</p>
<div class="cards">${cards}</div>
</header>
${timelineSection(data)}
${snapshotSection(data)}
${treeSection(data)}
${repositorySection(data)}
<script>
window.addEventListener('beforeprint', function () { document.querySelectorAll('details').forEach(function (d) { d.open = true; }); });
${escapeGlob.toString()}
${shellQuote.toString()}
${restoreCommand.toString()}
${humanBytes.toString()}
${SCRIPT}</script>
</body>
</html>
`;
}
