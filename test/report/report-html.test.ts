import { describe, expect, it } from 'vitest';
import type { ReportData, Run } from '../../src/report/report-data.js';
import { compactTree, escapeHtml, renderReport, scriptJson } from '../../src/report/report-html.js';
import { TreeCollector } from '../../src/report/tree.js';

const DAY = 86_400_000;
const START = Date.UTC(2024, 0, 1);

function run(i: number, status: Run['status'] = 'ok', series = 'web1 nightly'): Run {
  return {
    id: `${new Date(START + i * DAY)
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}Z$/, 'Z')}-${i.toString(16).padStart(6, '0')}`,
    time: new Date(START + i * DAY).toISOString(),
    host: series.split(' ')[0],
    tags: ['nightly'],
    series,
    status,
    bytesRead: 1e9 + i * 1e6,
    tarBytes: 1.1e9,
    storedBytes: 2e7,
    reusedBytes: 4e8,
    newFrames: 10,
    reusedFrames: 200,
    durationSeconds: 60 + (i % 7),
    bytesPerSecond: 1.6e7,
    warnings: status === 'ok' ? 0 : 2,
    notStored: status === 'partial' ? 1 : 0,
    failedHooks: 0,
  };
}

/** A report of `runs` snapshots whose latest has `entries` entries, listed down to `limit`. */
function report(runs: number, entries: number, limit: number, name = 'file'): ReportData {
  const tree = new TreeCollector(limit);
  for (let i = 0; i < entries; i++) {
    const dir = `dir${Math.floor(i / 1000)}`;
    if (i % 1000 === 0) tree.add('srv', { path: dir, type: 'dir', size: 0, mode: 0o755, uid: 0, gid: 0, mtime: '1764170000', offset: 0, dataOffset: 0 });
    tree.add('srv', {
      path: `${dir}/sub${i % 10}/${name}${i}`,
      type: 'file',
      size: i,
      mode: 0o644,
      uid: 1000,
      gid: 1000,
      uname: 'app',
      gname: 'app',
      mtime: '1764170000.25',
      offset: 0,
      dataOffset: 0,
    });
  }
  const timeline = Array.from({ length: runs }, (_, i) => run(i, i % 97 === 5 ? 'partial' : i % 31 === 3 ? 'warnings' : 'ok', i % 3 === 0 ? 'db1' : 'web1 nightly'));
  return {
    format: 'cassette-report',
    version: 1,
    generatedAt: '2026-12-01T00:00:00.000Z',
    cassetteVersion: '0.1.0',
    timeline: { runs: timeline, shown: runs, total: runs },
    snapshot: {
      id: timeline.at(-1)?.id ?? 'x',
      time: '2026-11-30T00:00:00.000Z',
      finishedAt: '2026-11-30T00:01:00.000Z',
      host: 'web1',
      tags: ['nightly'],
      version: 2,
      status: 'ok',
      durationSeconds: 60,
      encrypted: false,
      artifacts: [
        {
          name: 'srv',
          kind: 'tree',
          source: '/srv',
          bytesRead: 1e9,
          tarBytes: 1.1e9,
          storedBytes: 2e7,
          reusedBytes: 4e8,
          ratio: 2.6,
          frames: 210,
          newFrames: 10,
          reusedFrames: 200,
          counts: { files: entries, directories: 0, others: 0, fileBytes: 0 },
          warnings: [{ code: 'W_SKIPPED', path: '<b>bold</b>.sock', message: 'socket not stored' }],
          warningCount: 1,
          notStored: 0,
        },
      ],
      hooks: [],
      largestDirectories: tree.largestDirectories(),
      tree: tree.listing(),
      repository: 's3://bucket/prefix',
    },
    repository: {
      url: 's3://bucket/prefix',
      snapshots: runs,
      selected: runs,
      sealed: 0,
      objects: 3 * runs,
      storedBytes: 2e7 * runs,
      tarBytes: 1.1e9 * runs,
      ratio: 55,
      unreferencedBytes: 0,
      leftovers: [],
      pendingUploads: 0,
      graceHours: 24,
    },
  };
}

describe('escapeHtml and scriptJson', () => {
  it.each([
    ['<img src=x onerror=alert(1)>', '&lt;img src=x onerror=alert(1)&gt;'],
    [`a"b'c&d`, 'a&quot;b&#39;c&amp;d'],
  ])('escapes %s', (text, escaped) => {
    expect(escapeHtml(text)).toBe(escaped);
  });

  it('keeps a </script> in JSON from ending the element, and the JSON parses back', () => {
    const value = { name: '</script><script>alert(1)</script>', line: '\u2028' };
    const text = scriptJson(value);
    expect(text).not.toMatch(/<\/?script/i);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('compactTree', () => {
  it('puts each node after its parent, names children by their last name, and hangs orphans from their artifact', () => {
    const tree = new TreeCollector(100);
    const base = { size: 0, mode: 0o755, uid: 0, gid: 0, mtime: '1764170000', offset: 0, dataOffset: 0 };
    tree.add('etc', { ...base, path: 'ssh', type: 'dir' });
    tree.add('etc', { ...base, path: 'ssh/sshd_config', type: 'file', size: 10, uname: 'root', gname: 'root' });
    tree.add('etc', { ...base, path: 'nodir/orphan', type: 'file', size: 3 });
    const compact = compactTree({
      artifacts: [{ name: 'etc', counts: { files: 2, directories: 1, others: 0, fileBytes: 13 } } as never],
      tree: tree.listing(),
    });
    expect(compact.artifacts).toBe(1);
    expect(compact.nodes.map((n) => [n[0], n[1], compact.types[n[2]]])).toEqual([
      [-1, 'etc', 'artifact'],
      [0, 'ssh', 'dir'],
      [1, 'sshd_config', 'file'],
      [0, 'nodir/orphan', 'file'],
    ]);
    expect(compact.owners).toEqual(['0:0', 'root:root']);
    expect(compact.nodes[2]![6]).toBe(1);
  });
});

describe('renderReport', () => {
  it('is one page with no reference outside itself, and escapes every name', () => {
    const page = renderReport(report(30, 100, 1000, '<img src=x onerror=alert(1)>'));
    expect(page.startsWith('<!doctype html>')).toBe(true);
    expect(page).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(page).not.toMatch(/@import|url\(/);
    expect(page).toContain("default-src 'none'");
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;b&gt;bold&lt;/b&gt;.sock');
    for (const key of ['status', 'bytes-read', 'bytes-stored', 'duration', 'throughput']) expect(page).toContain(`data-chart="${key}"`);
    expect(page).not.toMatch(/NaN|Infinity/);
    // The listing's restore commands come from the same functions as --json's.
    expect(page).toContain('function escapeGlob(');
    expect(page).toContain('function shellQuote(');
  });

  it('is the same page for the same data', () => {
    expect(renderReport(report(10, 10, 100))).toBe(renderReport(report(10, 10, 100)));
  });

  it('stays small for 1,000 snapshots and a snapshot of 500,000 entries, and says where the listing stops', () => {
    const data = report(1000, 500_000, 50_000);
    expect(data.snapshot!.tree).toMatchObject({ total: 500_500, depth: 2, perDirectory: 8 });
    const page = renderReport(data);
    // About 1 KB a run for the charts and 40 bytes an entry listed.
    expect(Buffer.byteLength(page)).toBeLessThan(5 * 1024 * 1024);
    expect(page).toContain(`${data.snapshot!.tree.shown} of 500500 entries are listed: every entry of the top 2 levels, and the first 8 entries of each directory below them`);
    expect(page.match(/class="marker/g)!.length).toBeGreaterThanOrEqual(3000);
  });

  it('says why there is no snapshot, and that no retention is configured', () => {
    const data = { ...report(0, 0, 10), snapshot: undefined, snapshotNote: 'snapshot X is encrypted: its artifacts and files show with --identity FILE' };
    const page = renderReport(data);
    expect(page).toContain('No snapshots yet.');
    expect(page).toContain('snapshot X is encrypted');
    expect(page).toContain('No retention configured');
    expect(page).not.toContain('id="tree-data"');
  });
});
