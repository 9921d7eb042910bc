// Usage errors and help read as a new user expects (issue 17): every error starts with `cassette:`, an unknown command is exit 2 even with --help, help shows each default once.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cassette } from '../helpers/cli.js';

const COMMANDS = ['backup', 'snapshots', 'ls', 'restore', 'verify', 'prune', 'key', 'plan', 'bench', 'demo'];

describe('usage errors', () => {
  it.each([
    [['backup', '--bogus'], "cassette: unknown option '--bogus'"],
    [['restore'], "cassette: missing required argument 'snapshot'"],
    [['plan', 'shw'], "cassette: unknown command 'shw'"],
    [['restore', 'latest', '--fetch-concurrency', 'x'], 'cassette: Expected `fetch-concurrency` to be a whole number from 1 to 64, got "x"'],
  ])('%j: exit 2, and the message starts with cassette:', async (args, message) => {
    const result = await cassette(args);
    expect(result.exitCode).toBe(2);
    expect((result.stderr as string).split('\n')[0]).toBe(message);
  });

  it.each([[['no-such-command', '--help']], [['no-such-command']], [['--help', 'no-such-command']]])('%j is a usage error (exit 2), not the main help', async (args) => {
    const result = await cassette(args);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^cassette: unknown command 'no-such-command' \(commands: backup, snapshots, [a-z, ]+; run cassette --help\)\n$/);
    for (const command of COMMANDS) expect(result.stderr).toContain(` ${command}`);
  });

  it('help still works: cassette --help, cassette help backup, cassette backup --help', async () => {
    for (const args of [['--help'], ['help', 'backup'], ['backup', '--help']]) {
      const result = await cassette(args);
      expect({ args, code: result.exitCode }).toEqual({ args, code: 0 });
      expect(result.stdout).toMatch(/^Usage: cassette/);
    }
  });
});

describe('help', () => {
  it.each(COMMANDS.map((c) => [c]))('%s --help shows each default once and names only commands that exist', async (command) => {
    const result = await cassette([command, '--help'], { env: { COLUMNS: '400' } });
    expect(result.exitCode).toBe(0);
    const help = result.stdout as string;
    // "(default 24) (default: 24)" and "(default) (default: true)": a default said twice.
    expect(help).not.toMatch(/\(default[^)]*\)\s*\(default[^)]*\)/);
    if (command === 'plan') {
      // It promised a check subcommand that did not exist (issue 17): each one the help names runs.
      const subcommands = [...help.matchAll(/^ {2}([a-z]+) \[options\]/gm)].map((m) => m[1]!);
      expect(subcommands).toEqual(['show', 'check']);
      for (const sub of subcommands) expect((await cassette(['plan', sub, '--help'])).exitCode).toBe(0);
    }
  });
});

describe('a selection that matches nothing', () => {
  let work: string;
  let repo: string;
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-usage-'));
    repo = path.join(work, 'repo');
    await fs.mkdir(path.join(work, 'etc'));
    await fs.writeFile(path.join(work, 'etc', 'hosts'), '127.0.0.1 localhost\n');
    const backup = await cassette(['backup', path.join(work, 'etc'), '--repo', repo, '--json']);
    expect(backup.exitCode, backup.stderr as string).toBe(0);
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it.each([[[]], [['--dry-run']]])('restore %j says so once, exit 4, and writes nothing (issue 17: "restored 0 entries", then "nothing matches")', async (extra) => {
    const target = path.join(work, 'target');
    const result = await cassette(['restore', 'latest', '--target', target, '--include', 'nope/**', ...extra, '--repo', repo]);
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^cassette: nothing in snapshot \S+ matches the selection \(--include 'nope\/\*\*'; patterns match artifact\/path as `cassette ls` prints it\)\n$/,
    );
    await expect(fs.access(target)).rejects.toThrow();
  });

  it('restore --stdout: nothing matching is not found (exit 4), two files a usage error (exit 2)', async () => {
    const none = await cassette(['restore', 'latest', '--include', 'nope', '--stdout', '--repo', repo], { binary: true });
    expect(none.exitCode).toBe(4);
    expect(Buffer.from(none.stderr as unknown as Uint8Array).toString()).toBe('cassette: --stdout: the selection matches no file in this snapshot\n');
    await fs.writeFile(path.join(work, 'etc', 'motd'), 'hello\n');
    expect((await cassette(['backup', path.join(work, 'etc'), '--repo', repo, '--json'])).exitCode).toBe(0);
    const two = await cassette(['restore', 'latest', '--stdout', '--repo', repo], { binary: true });
    expect(two.exitCode).toBe(2);
    expect(Buffer.from(two.stderr as unknown as Uint8Array).toString()).toMatch(/^cassette: --stdout needs exactly one file; the selection matches /);
  });

  it('--json gives one error document', async () => {
    const result = await cassette(['restore', 'latest', '--target', path.join(work, 'target'), '--include', 'nope', '--json', '--repo', repo]);
    expect(result.exitCode).toBe(4);
    const lines = (result.stdout as string)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; code?: string });
    expect(lines.filter((l) => l.type === 'summary')).toEqual([]);
    expect(lines.at(-1)).toEqual(expect.objectContaining({ type: 'error', code: 'E_SNAPSHOT_NOT_FOUND' }));
  });
});
