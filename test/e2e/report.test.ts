// `cassette report` through the built CLI on a repository of several real snapshots (two hosts, an incremental, one with warnings, one partial, an incomplete leftover), then the page in headless Chromium: its charts and listing in the DOM, a file's restore command that works, no request, print, and a kept screenshot.

import { execa } from 'execa';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReportData } from '../../src/report/report-data.js';
import { restoreCommand } from '../../src/report/restore-command.js';
import { CLI, cassette, PROJECT_ROOT } from '../helpers/cli.js';
import { backupJson, generateKey } from '../helpers/encryption.js';
import { createBucket, s3Env, s3Server } from '../helpers/s3.js';

/** Where the test keeps what it saw: a screenshot of the top of the page, one of the whole page, and the printed PDF (gitignored). */
const KEPT = path.join(PROJECT_ROOT, 'test-results', 'report');
const CHROMIUM = process.env.CASSETTE_CHROMIUM ?? '/usr/bin/chromium';
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
/** A file name a page must escape, and a pattern must make literal. */
const HOSTILE = "<img src=x onerror=alert(1)> it's [1]*.txt";

const server = s3Server('s3rver')!;
/** The id of a killed backup's data, started after every snapshot of the test (set when it is made). */
let LEFTOVER = '';

describe('cassette report', () => {
  let work: string;
  let tree: string;
  let repo: string;
  let env: Record<string, string>;
  const ids: Record<string, string> = {};
  let data: ReportData;
  let page: string;
  let browser: Browser;

  async function backup(name: string, args: string[], expected = 0, as: string[] = []): Promise<void> {
    const result = as.length
      ? await execa('setpriv', [...as, 'node', CLI, 'backup', ...args, '--repo', repo], { reject: false, env: { ...env, CASSETTE_REPO: '', HOME: work } })
      : await cassette(['backup', ...args, '--repo', repo], { env });
    expect(result.exitCode, String(result.stderr)).toBe(expected);
    ids[name] = String(result.stdout).trim();
  }

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-report-'));
    await fs.chmod(work, 0o755);
    tree = path.join(work, 'srv');
    await fs.mkdir(path.join(tree, 'app/conf'), { recursive: true, mode: 0o755 });
    await fs.mkdir(path.join(tree, 'data/images'), { recursive: true, mode: 0o755 });
    await fs.writeFile(path.join(tree, 'app/conf/app.yaml'), 'port: 8080\n'.repeat(50));
    await fs.writeFile(path.join(tree, 'data/images/disk.img'), Buffer.alloc(3 << 20, 7));
    await fs.writeFile(path.join(tree, 'data', HOSTILE), 'the hostile one\n');
    await fs.symlink('app/conf/app.yaml', path.join(tree, 'current.yaml'));
    for (const dir of [tree, path.join(tree, 'app'), path.join(tree, 'app/conf'), path.join(tree, 'data'), path.join(tree, 'data/images')]) await fs.chmod(dir, 0o755);
    env = s3Env(server.endpoint);
    repo = `s3://${await createBucket(server.endpoint, 'report')}/r`;

    await backup('first', [tree, '--host', 'web1', '--tag', 'nightly']);
    await fs.writeFile(path.join(tree, 'app/conf/app.yaml'), 'port: 9090\n'.repeat(60));
    await backup('second', [tree, '--host', 'web1', '--tag', 'nightly']);
    await backup('other', [path.join(tree, 'app'), '--host', 'db1']);
    // A socket is not stored by design: a warning, exit 0.
    const socket = net.createServer();
    await new Promise<void>((resolve) => socket.listen(path.join(tree, 'app/app.sock'), resolve));
    try {
      await backup('warned', [tree, '--host', 'web1', '--tag', 'nightly']);
    } finally {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
    // A file nobody can read, backed up as nobody: partial, exit 3.
    await fs.writeFile(path.join(tree, 'app/conf/secret.key'), 'no\n', { mode: 0o600 });
    await backup('partial', [tree, '--host', 'web1', '--tag', 'nightly'], 3, NOBODY);
    await fs.rm(path.join(tree, 'app/conf/secret.key'));
    await backup('last', [tree, '--host', 'web1', '--tag', 'nightly']);
    // What a killed backup leaves: data without a commit record.
    LEFTOVER = `${new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}Z$/, 'Z')}-dead01`;
    const bucket = repo.slice('s3://'.length).split('/')[0]!;
    await execa('aws', ['s3', 'cp', '-', `s3://${bucket}/r/data/${LEFTOVER}/srv.tar.zst`, '--endpoint-url', server.endpoint], { input: 'x'.repeat(1000), env });

    const out = path.join(work, 'report.html');
    const result = await cassette(['report', '--repo', repo, '--out', out, '--json', '--keep-last', '3', '--grace-hours', '0'], { env });
    expect(result.exitCode, String(result.stderr)).toBe(0);
    data = JSON.parse(String(result.stdout)) as ReportData;
    page = out;
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });

  afterAll(async () => {
    await browser?.close();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('--json has the timeline: one run per snapshot, a series per host and tags, statuses that stand out', () => {
    const committed = data.timeline.runs.filter((r) => r.status !== 'incomplete');
    expect(committed.map((r) => r.id)).toEqual([ids.first, ids.second, ids.other, ids.warned, ids.partial, ids.last]);
    expect(committed.map((r) => r.series)).toEqual(['web1 nightly', 'web1 nightly', 'db1', 'web1 nightly', 'web1 nightly', 'web1 nightly']);
    expect(committed.map((r) => r.status)).toEqual(['ok', 'ok', 'ok', 'warnings', 'partial', 'ok']);
    expect(committed[4]).toMatchObject({ notStored: 1, warnings: 1 });
    // The second run reused the image's frames: stored little, reused much.
    expect(committed[1]!.reusedBytes).toBeGreaterThan(0);
    expect(committed[1]!.storedBytes).toBeLessThan(committed[0]!.storedBytes);
    for (const run of committed) {
      expect(run.bytesRead).toBeGreaterThan(0);
      expect(run.durationSeconds).toBeGreaterThanOrEqual(0);
    }
    expect(data.timeline).toMatchObject({ shown: 6, total: 6 });
    // The leftover is on the timeline, as an incomplete run.
    expect(data.timeline.runs.filter((r) => r.status === 'incomplete').map((r) => r.id)).toEqual([LEFTOVER]);
  });

  it('--json details the latest snapshot: artifacts, largest directories, listing', () => {
    const s = data.snapshot!;
    expect(s.id).toBe(ids.last);
    expect(s.artifacts).toHaveLength(1);
    expect(s.artifacts[0]).toMatchObject({ kind: 'tree', source: tree, counts: { files: 3, directories: 4, others: 1 } });
    expect(s.largestDirectories[0]).toMatchObject({ path: 'data', bytes: (3 << 20) + 16 });
    expect(s.tree.total).toBe(8);
    expect(s.tree.entries.map((e) => e.path).sort()).toEqual(
      ['app', 'app/conf', 'app/conf/app.yaml', 'current.yaml', 'data', `data/${HOSTILE}`, 'data/images', 'data/images/disk.img'].sort(),
    );
  });

  it('--json has the totals, the leftover with its age, and what prune would remove', () => {
    const r = data.repository;
    expect(r).toMatchObject({ snapshots: 6, selected: 6, sealed: 0, pendingUploads: 0, graceHours: 0 });
    expect(r.storedBytes).toBeGreaterThan(0);
    expect(r.leftovers).toEqual([expect.objectContaining({ id: LEFTOVER, objects: 1, bytes: 1000, running: false, pruneRemoves: true })]);
    expect(r.leftovers[0]!.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(r.prune!.keep.map((k) => k.id)).toEqual([ids.last, ids.partial, ids.warned]);
    expect(r.prune!.remove.map((x) => x.id).sort()).toEqual([ids.first, ids.second, ids.other].sort());
    expect(r.prune!.freedBytes).toBeGreaterThanOrEqual(1000);
  });

  async function open(): Promise<{ page: Page; requests: string[] }> {
    const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    p.on('request', (request) => {
      if (!request.url().startsWith('file:')) requests.push(request.url());
    });
    const errors: string[] = [];
    p.on('pageerror', (error) => errors.push(error.message));
    await p.goto(`file://${page}`);
    await p.waitForSelector('#tree-root .row');
    expect(errors).toEqual([]);
    return { page: p, requests };
  }

  it('renders in Chromium with its charts and listing in the DOM, asks for nothing, and keeps a screenshot', async () => {
    const { page: p, requests } = await open();
    try {
      for (const key of ['status', 'bytes-read', 'bytes-stored', 'duration', 'throughput']) expect(await p.locator(`[data-chart="${key}"] svg`).count(), key).toBe(1);
      // One marker per committed run on the line charts; the partial and warned runs stand out.
      expect(await p.locator('[data-chart="bytes-read"] .marker').count()).toBe(6);
      expect(await p.locator('[data-chart="bytes-read"] .marker.status-partial').count()).toBe(1);
      expect(await p.locator('[data-chart="bytes-read"] .marker.status-warnings').count()).toBe(1);
      expect(await p.locator('[data-chart="status"] .run.status-incomplete').count()).toBe(1);
      expect(await p.locator(`[data-chart="bytes-read"] [data-id="${ids.partial}"]`).count()).toBe(1);
      // The hostile name is text, never markup.
      expect(await p.locator('img').count()).toBe(0);
      await fs.mkdir(KEPT, { recursive: true });
      await p.screenshot({ path: path.join(KEPT, 'report.png') });
      await p.screenshot({ path: path.join(KEPT, 'report-full.png'), fullPage: true });
      const png = await fs.readFile(path.join(KEPT, 'report.png'));
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.length).toBeGreaterThan(20_000);
      expect(requests).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('opens directories on a click and gives a file the restore command that gets it back', async () => {
    const { page: p } = await open();
    try {
      // One artifact: it opens by itself, its top level listed.
      const names = async (): Promise<string[]> => p.locator('#tree-root .row .name').allTextContents();
      const artifact = data.snapshot!.artifacts[0]!.name;
      expect(await names()).toEqual([`${artifact} (8 entries)`, 'app', 'data', 'current.yaml → app/conf/app.yaml']);
      expect(await names()).not.toContain(HOSTILE);
      await p.locator('#tree-root .row.dir', { hasText: /^data/ }).first().click();
      expect(await names()).toContain(HOSTILE);
      await p.locator('#tree-root .row.file', { hasText: 'alert(1)' }).click();
      const command = await p.locator('#tree-root .restore').textContent();
      expect(command).toBe(restoreCommand(repo, ids.last, artifact, `data/${HOSTILE}`));
      // --json gives the same command.
      expect(data.snapshot!.tree.entries.find((e) => e.path === `data/${HOSTILE}`)!.restore).toBe(command);
      // The command, run as the page gives it, writes the file.
      const restored = await execa('sh', ['-c', command!.replace(/^cassette /, `node ${CLI} `)], {
        env: { ...env, CASSETTE_REPO: '' },
        encoding: 'buffer',
        reject: false,
        stripFinalNewline: false,
      });
      expect(restored.exitCode, String(restored.stderr)).toBe(0);
      expect(Buffer.from(restored.stdout).toString()).toBe('the hostile one\n');
      // Closing hides the rows; mode and owner show as ls does.
      await p.locator('#tree-root .row.dir', { hasText: /^data/ }).first().click();
      expect(await p.locator('#tree-root .row.file', { hasText: 'alert(1)' }).isVisible()).toBe(false);
      expect(await p.locator('#tree-root .row', { hasText: /^app/ }).locator('.mode').first().textContent()).toBe('drwxr-xr-x');
      // Find lists matching paths from anywhere in the listing.
      await p.locator('#tree-find').fill('disk.img');
      await p.waitForSelector('#tree-hits .row');
      expect(await p.locator('#tree-hits .row .name').allTextContents()).toEqual([`${artifact}/data/images/disk.img`]);
    } finally {
      await p.close();
    }
  });

  it('with a small --tree-limit, says where the listing stops, and each directory gives the ls command for what it leaves out', async () => {
    const small = path.join(work, 'small.html');
    const result = await cassette(['report', '--repo', repo, '--out', small, '--tree-limit', '4'], { env });
    expect(result.exitCode, String(result.stderr)).toBe(0);
    expect(String(result.stdout)).toMatch(/^wrote .*small\.html: .* snapshot \S+ with [1-4] of 8 entries listed\n$/);
    const p = await browser.newPage();
    try {
      await p.goto(`file://${small}`);
      await p.waitForSelector('#tree-root .row');
      expect(await p.locator('#tree .note').first().textContent()).toMatch(/^[1-4] of 8 entries are listed: /);
      await p.locator('#tree-root .row.dir', { hasText: /^data/ }).first().click();
      const note = (await p.locator('#tree-root .left-out').last().textContent())!;
      const command = /cassette ls .*$/.exec(note)![0];
      const listed = await execa('sh', ['-c', command.replace(/^cassette /, `node ${CLI} `)], { env: { ...env, CASSETTE_REPO: '' }, reject: false });
      expect(listed.exitCode, listed.stderr).toBe(0);
      expect(listed.stdout).toContain('data/images/disk.img');
    } finally {
      await p.close();
    }
  });

  it('prints: a PDF of the page with its charts', async () => {
    const { page: p } = await open();
    try {
      await p.emulateMedia({ media: 'print' });
      expect(await p.locator('.tree-controls').isVisible()).toBe(false);
      expect(await p.locator('[data-chart="bytes-read"] svg').isVisible()).toBe(true);
      const pdf = await p.pdf({ path: path.join(KEPT, 'report.pdf'), format: 'A4' });
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
      expect(pdf.length).toBeGreaterThan(10_000);
    } finally {
      await p.close();
    }
  });

  it('refuses without --out or --json, and an --out that is a directory, naming it', async () => {
    const none = await cassette(['report', '--repo', repo], { env });
    expect(none.exitCode).toBe(2);
    expect(String(none.stderr)).toMatch(/^cassette: give --out FILE for the page/);
    const dir = await cassette(['report', '--repo', repo, '--out', work], { env });
    expect(dir.exitCode).toBe(2);
    expect(String(dir.stderr)).toContain(`--out ${work} is a directory`);
    const missing = await cassette(['report', '--repo', repo, '--out', path.join(work, 'no/such/report.html')], { env });
    expect(missing.exitCode).toBe(1);
    expect(String(missing.stderr)).toContain('does not exist');
    const unknown = await cassette(['report', '--repo', repo, '--out', path.join(work, 'x.html'), '--snapshot', 'ffff'], { env });
    expect(unknown.exitCode).toBe(4);
    expect(String(unknown.stderr)).toContain('no committed snapshot matches "ffff"');
  });

  it('--snapshot, --host and --last choose what the page shows; the totals count every snapshot', async () => {
    const result = await cassette(['report', '--repo', repo, '--json', '--host', 'web1', '--last', '2', '--snapshot', ids.first], { env });
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const d = JSON.parse(String(result.stdout)) as ReportData;
    expect(d.filter).toBe('host web1');
    expect(d.timeline).toMatchObject({ shown: 2, total: 5 });
    expect(d.timeline.runs.filter((r) => r.status !== 'incomplete').map((r) => r.id)).toEqual([ids.partial, ids.last]);
    expect(d.snapshot!.id).toBe(ids.first);
    expect(d.repository.snapshots).toBe(6);
    expect(d.repository.prune).toBeUndefined();
  });
});

describe('cassette report of an empty repository', () => {
  it('writes a page that says there is nothing yet, and exits 0', async () => {
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-report-empty-'));
    try {
      const env = s3Env(server.endpoint);
      const repo = `s3://${await createBucket(server.endpoint, 'report-empty')}/r`;
      const out = path.join(work, 'empty.html');
      const result = await cassette(['report', '--repo', repo, '--out', out, '--json', '--keep-last', '1'], { env });
      expect(result.exitCode, String(result.stderr)).toBe(0);
      const data = JSON.parse(String(result.stdout)) as ReportData;
      expect(data.timeline).toEqual({ runs: [], shown: 0, total: 0 });
      expect(data.snapshot).toBeUndefined();
      expect(data.snapshotNote).toBe('no committed snapshot yet');
      expect(data.repository).toMatchObject({ snapshots: 0, objects: 0, storedBytes: 0, leftovers: [], prune: { keep: [], remove: [], freedBytes: 0 } });
      const page = await fs.readFile(out, 'utf8');
      expect(page).toContain('No snapshots yet.');
      expect(page).not.toMatch(/NaN|Infinity|undefined/);
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });
});

describe('cassette report of an encrypted repository', () => {
  let work: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-report-enc-'));
  });

  afterAll(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('without a key: the timeline and totals from the public records, and says what to pass for the files; with one: the files', async () => {
    const tree = path.join(work, 'secret-tree');
    await fs.mkdir(tree);
    await fs.writeFile(path.join(tree, 'payroll.csv'), 'alice,100\n');
    const key = await generateKey(work, 'key.txt');
    const env = s3Env(server.endpoint);
    const repo = `s3://${await createBucket(server.endpoint, 'report-enc')}/r`;
    const id = (await backupJson([tree, '--repo', repo, '--encrypt-to', key.recipient], env)).snapshot;

    const sealed = await cassette(['report', '--repo', repo, '--json', '--out', path.join(work, 'sealed.html')], { env });
    expect(sealed.exitCode, String(sealed.stderr)).toBe(0);
    const data = JSON.parse(String(sealed.stdout)) as ReportData;
    expect(data.timeline.runs).toEqual([expect.objectContaining({ id, status: 'ok', sealed: true })]);
    expect(data.timeline.runs[0]!.bytesRead).toBe(10);
    expect(data.repository).toMatchObject({ snapshots: 1, sealed: 1 });
    expect(data.snapshot).toBeUndefined();
    expect(data.snapshotNote).toContain('--identity FILE');
    const page = await fs.readFile(path.join(work, 'sealed.html'), 'utf8');
    expect(page).not.toContain('payroll');
    expect(page).not.toContain('secret-tree');

    const opened = await cassette(['report', '--repo', repo, '--json', '--identity', key.file], { env });
    expect(opened.exitCode, String(opened.stderr)).toBe(0);
    const full = JSON.parse(String(opened.stdout)) as ReportData;
    expect(full.snapshot!.encrypted).toBe(true);
    expect(full.snapshot!.tree.entries.map((e) => e.path)).toEqual(['payroll.csv']);
  });
});
