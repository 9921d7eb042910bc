// Output for cron and logs through the built CLI (piped, as cron runs it): -q prints nothing on success but still warns; -v lists entries; hooks say when they run; --json stays the same with either.

import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cassette, CLI } from '../helpers/cli.js';

let work: string;
let tree: string;
let repo: string;
/** The artifact name of `tree` (its path, slashes as dashes). */
let artifact: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-output-'));
  tree = path.join(work, 'tree');
  await fs.mkdir(path.join(tree, 'sub'), { recursive: true });
  await fs.writeFile(path.join(tree, 'a.txt'), 'a\n');
  await fs.writeFile(path.join(tree, 'sub', 'b.txt'), 'b\n');
  repo = path.join(work, 'repo');
  artifact = tree.slice(1).replace(/\//g, '-');
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

function lines(text: unknown): string[] {
  return String(text)
    .split('\n')
    .filter((l) => l !== '');
}

describe('-q/--quiet', () => {
  it('a backup and a restore print nothing at all on success', async () => {
    const backup = await cassette(['backup', tree, '--repo', repo, '-q']);
    expect(backup.exitCode, String(backup.stderr)).toBe(0);
    expect({ stdout: backup.stdout, stderr: backup.stderr }).toEqual({ stdout: '', stderr: '' });
    const target = path.join(work, 'quiet-restore');
    const restore = await cassette(['restore', 'latest', '--repo', repo, '--target', target, '--quiet']);
    expect(restore.exitCode, String(restore.stderr)).toBe(0);
    expect({ stdout: restore.stdout, stderr: restore.stderr }).toEqual({ stdout: '', stderr: '' });
    expect(await fs.readFile(path.join(target, artifact, 'sub', 'b.txt'), 'utf8')).toBe('b\n');
  });

  it('without -q the same commands print their summaries (what -q takes away)', async () => {
    const backup = await cassette(['backup', tree, '--repo', repo]);
    expect(lines(backup.stdout)).toHaveLength(1);
    expect(backup.stderr).toMatch(/snapshot \S+ committed/);
    const restore = await cassette(['restore', 'latest', '--repo', repo, '--target', path.join(work, 'loud-restore')]);
    expect(restore.stderr).toMatch(/^restored \d+ entries/m);
  });

  it('a backup still prints its warnings (and only them)', async () => {
    const source = path.join(work, 'with-socket');
    await fs.mkdir(source);
    await fs.writeFile(path.join(source, 'file'), 'ok\n');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(source, 'app.sock'), resolve));
    try {
      const result = await cassette(['backup', source, '--repo', path.join(work, 'repo-socket'), '-q']);
      expect(result.exitCode, String(result.stderr)).toBe(0);
      expect(result.stdout).toBe('');
      expect(lines(result.stderr)).toEqual([expect.stringMatching(/^warning: .*app\.sock: socket not stored/)]);
    } finally {
      server.close();
    }
  });

  it('a restore still prints its warnings and the partial result (exit 3)', async () => {
    const source = path.join(work, 'privileged');
    await fs.mkdir(source);
    await fs.writeFile(path.join(source, 'a'), 'a\n');
    execFileSync('setfattr', ['-n', 'trusted.tag', '-v', 'a', path.join(source, 'a')]);
    const privileged = path.join(work, 'repo-privileged');
    expect((await cassette(['backup', source, '--repo', privileged, '-q'])).exitCode).toBe(0);
    await fs.chmod(work, 0o755);
    const target = path.join(work, 'as-nobody');
    await fs.mkdir(target);
    await fs.chown(target, 65534, 65534);
    // Only root may set trusted.* attributes: an ordinary user's restore is refused them.
    const result = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'node', CLI, 'restore', 'latest', '--target', target, '--repo', privileged, '-q'], {
      reject: false,
      env: { CASSETTE_REPO: '' },
    });
    expect(result.exitCode, result.stderr).toBe(3);
    expect(result.stdout).toBe('');
    expect(lines(result.stderr)).toEqual([expect.stringMatching(/^warning: .*refused trusted\.\* attributes/), expect.stringMatching(/^partial: the target refused/)]);
  });

  it('-q and -v together are a usage error (exit 2)', async () => {
    const result = await cassette(['backup', tree, '--repo', repo, '-q', '-v']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('cassette: give -q/--quiet or -v/--verbose, not both');
  });
});

describe('-v/--verbose', () => {
  it('a backup lists each entry as it is stored (+ new, = in a frame reused from the parent), on stderr', async () => {
    const verboseRepo = path.join(work, 'repo-verbose');
    const first = await cassette(['backup', tree, '--repo', verboseRepo, '-v']);
    expect(first.exitCode, String(first.stderr)).toBe(0);
    const stored = lines(first.stderr).filter((l) => /^[+=] /.test(l));
    expect(stored.sort()).toEqual([`+ ${artifact}/a.txt`, `+ ${artifact}/sub/`, `+ ${artifact}/sub/b.txt`]);
    expect(lines(first.stdout)).toHaveLength(1);
    const second = await cassette(['backup', tree, '--repo', verboseRepo, '--verbose']);
    expect(lines(second.stderr).filter((l) => /^[+=] /.test(l))).toContain(`= ${artifact}/a.txt`);
  });

  it('a restore lists each file as it is written', async () => {
    const result = await cassette(['restore', 'latest', '--repo', repo, '--target', path.join(work, 'verbose-restore'), '-v']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    expect(
      lines(result.stderr)
        .filter((l) => l.startsWith('+ '))
        .sort(),
    ).toEqual([`+ ${artifact}/a.txt`, `+ ${artifact}/sub/b.txt`]);
  });
});

describe('--json with -q or -v', () => {
  it('prints the same kinds of events, and never one per entry', async () => {
    const types = async (flag: string[]): Promise<string[]> => {
      const result = await cassette(['backup', tree, '--repo', path.join(work, 'repo-json'), '--json', ...flag]);
      expect(result.exitCode, String(result.stderr)).toBe(0);
      return [...new Set(lines(result.stdout).map((l) => (JSON.parse(l) as { type: string }).type))].sort();
    };
    const plain = await types([]);
    expect(plain).toEqual(expect.arrayContaining(['backup-start', 'bytes', 'phase', 'summary']));
    expect(plain.some((t) => t.startsWith('entry-'))).toBe(false);
    expect(await types(['-q'])).toEqual(plain);
    expect(await types(['-v'])).toEqual(plain);
  });
});

describe('hooks', () => {
  let plan: string;
  beforeAll(async () => {
    plan = path.join(work, 'plan.json');
    await fs.writeFile(plan, JSON.stringify({ sources: [tree], hooks: { 'pre-backup': 'echo pre', 'post-backup': 'exit 0' } }));
  });

  it('say when each one runs and how it ended', async () => {
    const result = await cassette(['backup', '--plan', plan, '--repo', path.join(work, 'repo-hooks')]);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const hookLines = lines(result.stderr).filter((l) => / hook(:| finished)/.test(l));
    expect(hookLines).toEqual([
      'running pre-backup hook: echo pre',
      expect.stringMatching(/^pre-backup hook finished \(exit 0, [\d.]+ m?s\)$/),
      'running post-backup hook: exit 0',
      expect.stringMatching(/^post-backup hook finished \(exit 0, [\d.]+ m?s\)$/),
    ]);
  });

  it('are events with --json, and silent with -q', async () => {
    const json = await cassette(['backup', '--plan', plan, '--repo', path.join(work, 'repo-hooks'), '--json']);
    const events = lines(json.stdout).map((l) => JSON.parse(l) as { type: string; hook?: string; exitCode?: number });
    expect(events.filter((e) => e.type.startsWith('hook-')).map((e) => `${e.type} ${e.hook ?? ''}`)).toEqual([
      'hook-start pre-backup',
      'hook-done pre-backup',
      'hook-start post-backup',
      'hook-done post-backup',
    ]);
    const quiet = await cassette(['backup', '--plan', plan, '--repo', path.join(work, 'repo-hooks'), '-q']);
    expect(quiet.exitCode).toBe(0);
    expect({ stdout: quiet.stdout, stderr: quiet.stderr }).toEqual({ stdout: '', stderr: '' });
  });
});
