// End to end through the built CLI, on a local repository: what a backup reads (patterns, --exclude-file, --files-from, --exclude-caches, --exclude-larger-than) and what restore and ls select.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cassette } from '../helpers/cli.js';

const TAG = 'Signature: 8a477f597d28d172789f06886806bc55\n';

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-selection-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), content);
  }
}

/** `artifact/path` of every entry of a snapshot, from `ls --json`. */
async function listed(repo: string, snapshot = 'latest', patterns: string[] = []): Promise<string[]> {
  const result = await cassette(['ls', snapshot, ...patterns, '--repo', repo, '--json']);
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  return (result.stdout as string)
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const entry = JSON.parse(line) as { artifact: string; path: string };
      return `${entry.artifact}/${entry.path}`;
    });
}

describe('patterns without / match a name at any depth in restore and ls (issue 17, defect 6)', () => {
  let repo: string;
  let source: string;
  beforeAll(async () => {
    repo = path.join(work, 'repo-patterns');
    source = path.join(work, 'cassatt');
    await writeTree(source, { 'conf/controller.properties': 'a=1\n', 'app/controller.properties.bak': 'old\n', 'app/x.conf': 'x\n', 'top.conf': 't\n' });
    const backup = await cassette(['backup', source, '--repo', repo, '--json']);
    expect(backup.exitCode).toBe(0);
  }, 60_000);

  it('ls finds *controller.properties and *.conf at any depth', async () => {
    const artifact = path.basename(source).replace(/[^A-Za-z0-9._-]/g, '_');
    const name = (await listed(repo))[0]!.split('/')[0]!;
    expect(name.endsWith(artifact)).toBe(true);
    expect(await listed(repo, 'latest', ['*controller.properties'])).toEqual([`${name}/conf/controller.properties`]);
    expect(await listed(repo, 'latest', ['*.conf'])).toEqual([`${name}/app/x.conf`, `${name}/top.conf`]);
    expect(await listed(repo, 'latest', ['conf'])).toEqual([`${name}/conf`, `${name}/conf/controller.properties`]);
  });

  it('restore --include of a bare name restores it, and --exclude of a bare name leaves it out', async () => {
    const target = path.join(work, 'restored-patterns');
    const result = await cassette(['restore', 'latest', '--repo', repo, '--target', target, '--include', '*controller.properties', '--json']);
    expect(result.exitCode).toBe(0);
    const name = (await listed(repo))[0]!.split('/')[0]!;
    expect(await fs.readFile(path.join(target, name, 'conf/controller.properties'), 'utf8')).toBe('a=1\n');
    await expect(fs.stat(path.join(target, name, 'app'))).rejects.toThrow(/ENOENT/);

    const target2 = path.join(work, 'restored-patterns-2');
    expect((await cassette(['restore', 'latest', '--repo', repo, '--target', target2, '--exclude', '*.conf', '--json'])).exitCode).toBe(0);
    await expect(fs.stat(path.join(target2, name, 'top.conf'))).rejects.toThrow(/ENOENT/);
    await expect(fs.stat(path.join(target2, name, 'app/x.conf'))).rejects.toThrow(/ENOENT/);
    expect(await fs.readFile(path.join(target2, name, 'app/controller.properties.bak'), 'utf8')).toBe('old\n');
  });

  it('a negated pattern is refused with exit 2, naming it', async () => {
    const result = await cassette(['ls', 'latest', '!*.conf', '--repo', repo]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^cassette: include pattern "!\*\.conf" is negated/);
  });
});

describe('backup selection options', () => {
  let source: string;
  beforeAll(async () => {
    source = path.join(work, 'data');
    await writeTree(source, {
      'keep.txt': 'keep\n',
      'notes.tmp': 'tmp\n',
      'sub/deep.tmp': 'tmp\n',
      'sub/keep.log': 'log\n',
      'node_modules/pkg/index.js': 'x\n',
      'cache/CACHEDIR.TAG': TAG,
      'cache/blob': 'cached\n',
      'big.bin': 'x'.repeat(2048),
      'sub/huge.bin': 'y'.repeat(4096),
      'edge.bin': 'z'.repeat(1024),
    });
  });

  it('--exclude-file, --exclude-caches and --exclude-larger-than leave out what they say, and the summary counts the large files', async () => {
    const repo = path.join(work, 'repo-options');
    const excludes = path.join(work, 'excludes.txt');
    await fs.writeFile(excludes, '# build output\nnode_modules\n\n*.tmp   \n');
    const backup = await cassette(['backup', source, '--repo', repo, '--exclude-file', excludes, '--exclude-caches', '--exclude-larger-than', '1KiB', '--json']);
    expect(backup.exitCode).toBe(0);
    const summary = JSON.parse((backup.stdout as string).trim().split('\n').at(-1)!) as { type: string; leftOut: { files: number; bytes: number } };
    expect(summary.type).toBe('summary');
    expect(summary.leftOut).toEqual({ files: 2, bytes: 2048 + 4096 });
    const names = (await listed(repo)).map((p) => p.slice(p.indexOf('/') + 1));
    expect(names).toEqual(['cache', 'cache/CACHEDIR.TAG', 'edge.bin', 'keep.txt', 'sub', 'sub/keep.log']);

    const text = await cassette(['backup', source, '--repo', repo, '--exclude-larger-than', '1KiB']);
    expect(text.exitCode).toBe(0);
    expect(text.stderr).toMatch(/left out 2 files larger than 1\.0 KiB \(6\.0 KiB; --exclude-larger-than\)/);
  }, 60_000);

  it('a missing --exclude-file is a usage error naming it', async () => {
    const result = await cassette(['backup', source, '--repo', path.join(work, 'repo-x'), '--exclude-file', path.join(work, 'nope.txt')]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^cassette: cannot read --exclude-file .*nope\.txt/);
  });

  it('--files-from backs up the listed paths (relative ones from the working directory), skipping comments', async () => {
    const repo = path.join(work, 'repo-files-from');
    const list = path.join(work, 'list.txt');
    await fs.writeFile(list, `# sources\n${path.join(source, 'sub')}\n\ndata/keep.txt\n`);
    const backup = await cassette(['backup', '--files-from', list, '--repo', repo, '--json'], { cwd: work });
    expect(backup.stderr).toBe('');
    expect(backup.exitCode).toBe(0);
    const entries = await listed(repo);
    expect(entries.filter((e) => e.endsWith('/keep.txt') || e.includes('/deep.tmp'))).toHaveLength(2);
    expect(entries.some((e) => e.includes('node_modules'))).toBe(false);

    const raw = path.join(work, 'list.raw');
    await fs.writeFile(raw, `${path.join(source, 'keep.txt')}\0`);
    const fromRaw = await cassette(['backup', '--files-from-raw', raw, '--repo', path.join(work, 'repo-raw'), '--json']);
    expect(fromRaw.exitCode).toBe(0);
    expect((await listed(path.join(work, 'repo-raw'))).map((e) => e.slice(e.indexOf('/') + 1))).toEqual(['keep.txt']);
  }, 60_000);

  it('a path in --files-from that does not exist is a usage error naming it, and nothing is stored', async () => {
    const repo = path.join(work, 'repo-files-missing');
    const list = path.join(work, 'missing.txt');
    await fs.writeFile(list, `${path.join(source, 'keep.txt')}\n${path.join(source, 'gone')}\n`);
    const result = await cassette(['backup', '--files-from', list, '--repo', repo]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^cassette: --files-from .*missing\.txt lists ".*\/gone", which cannot be read/);
    await expect(fs.readdir(path.join(repo, 'snapshots'))).rejects.toThrow(/ENOENT/);
  });
});
