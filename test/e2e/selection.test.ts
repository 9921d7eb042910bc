// End to end through the built CLI, on a local repository: what a backup reads (patterns, --exclude-file, --files-from, --exclude-caches, --exclude-larger-than) and what restore and ls select.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactNameFor } from '../../src/backup/sources.js';
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

    const fromStdin = await cassette(['backup', '--files-from', '-', '--repo', path.join(work, 'repo-stdin'), '--json'], { input: `${path.join(source, 'sub')}\n` });
    expect(fromStdin.exitCode).toBe(0);
    expect((await listed(path.join(work, 'repo-stdin'))).map((e) => e.slice(e.indexOf('/') + 1))).toEqual(['deep.tmp', 'huge.bin', 'keep.log']);

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

describe('restore --delete', () => {
  let repo: string;
  let source: string;
  let outside: string;
  beforeAll(async () => {
    repo = path.join(work, 'repo-delete');
    source = path.join(work, 'deltree');
    outside = path.join(work, 'outside');
    await writeTree(source, { 'a.txt': 'a\n', 'sub/b.txt': 'b\n', 'sub/keep.log': 'log\n', 'empty/.keep': '' });
    await writeTree(outside, { 'precious.txt': 'do not delete\n', 'dir/inner.txt': 'nor this\n' });
    const backup = await cassette(['backup', source, '--repo', repo, '--json']);
    expect(backup.exitCode).toBe(0);
  }, 60_000);

  /** Adds extra files, an extra directory tree and symlinks pointing out of the tree (to a file and to a directory). */
  async function addExtras(root: string): Promise<void> {
    await writeTree(root, { 'extra.txt': 'x\n', 'sub/extra.txt': 'x\n', 'sub/extra.log': 'x\n', 'newdir/deep/file': 'x\n' });
    await fs.symlink(path.join(outside, 'precious.txt'), path.join(root, 'link-out'));
    await fs.symlink(path.join(outside, 'dir'), path.join(root, 'sub', 'dirlink-out'));
  }

  async function files(root: string): Promise<string[]> {
    const out: string[] = [];
    const visit = async (dir: string): Promise<void> => {
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        const rel = path.relative(root, path.join(dir, entry.name));
        out.push(rel);
        if (entry.isDirectory()) await visit(path.join(dir, entry.name));
      }
    };
    await visit(root);
    return out.sort();
  }

  const SNAPSHOT_FILES = ['a.txt', 'empty', 'empty/.keep', 'sub', 'sub/b.txt', 'sub/keep.log'];

  it('in place: a dry run lists what it would delete and deletes nothing; then the restore deletes exactly that, never what a symlink points to', async () => {
    await addExtras(source);
    const before = await files(source);
    const dry = await cassette(['restore', 'latest', '--repo', repo, '--in-place', '--delete', '--dry-run']);
    expect(dry.exitCode).toBe(0);
    const wouldDelete = (dry.stdout as string)
      .split('\n')
      .filter((line) => line.startsWith('would delete'))
      .map((line) => path.relative(source, line.split(/\s+/).at(-1)!));
    expect(wouldDelete.sort()).toEqual(['extra.txt', 'link-out', 'newdir', 'newdir/deep', 'newdir/deep/file', 'sub/dirlink-out', 'sub/extra.log', 'sub/extra.txt']);
    expect(dry.stdout).toMatch(/would delete 8 paths not in the snapshot/);
    expect(await files(source)).toEqual(before);

    const real = await cassette(['restore', 'latest', '--repo', repo, '--in-place', '--delete', '--json']);
    expect(real.exitCode).toBe(0);
    const events = (real.stdout as string)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; path?: string; deleted?: number });
    expect(events.filter((e) => e.type === 'delete')).toHaveLength(8);
    expect(events.at(-1)).toMatchObject({ type: 'summary', deleted: 8 });
    expect(await files(source)).toEqual(SNAPSHOT_FILES);
    expect(await fs.readFile(path.join(outside, 'precious.txt'), 'utf8')).toBe('do not delete\n');
    expect(await fs.readFile(path.join(outside, 'dir/inner.txt'), 'utf8')).toBe('nor this\n');
  }, 60_000);

  it('--target with --include and --exclude: only paths inside the selection are candidates', async () => {
    const target = path.join(work, 'delete-target');
    expect((await cassette(['restore', 'latest', '--repo', repo, '--target', target, '--json'])).exitCode).toBe(0);
    const name = (await fs.readdir(target))[0]!;
    const root = path.join(target, name);
    await addExtras(root);
    const result = await cassette(['restore', 'latest', '--repo', repo, '--target', target, '--include', 'sub', '--exclude', '*.log', '--delete', '--json']);
    expect(result.exitCode).toBe(0);
    // Deleted: sub/extra.txt and sub/dirlink-out (inside the selection); kept: sub/extra.log (excluded), extra.txt, link-out, newdir (not included).
    expect(await files(root)).toEqual([
      'a.txt',
      'empty',
      'empty/.keep',
      'extra.txt',
      'link-out',
      'newdir',
      'newdir/deep',
      'newdir/deep/file',
      'sub',
      'sub/b.txt',
      'sub/extra.log',
      'sub/keep.log',
    ]);
    expect(await fs.readFile(path.join(outside, 'dir/inner.txt'), 'utf8')).toBe('nor this\n');
  }, 60_000);

  it('in place, a nested artifact is left to its own pass: restoring only the outer one deletes nothing inside the inner one', async () => {
    const outer = path.join(work, 'outer');
    const inner = path.join(outer, 'inner');
    await writeTree(outer, { 'o.txt': 'o\n', 'inner/i.txt': 'i\n' });
    const nestedRepo = path.join(work, 'repo-nested');
    expect((await cassette(['backup', outer, inner, '--repo', nestedRepo, '--json'])).exitCode).toBe(0);
    await writeTree(outer, { 'inner/new-in-inner.txt': 'x\n', 'new-in-outer.txt': 'x\n' });
    const result = await cassette(['restore', 'latest', '--repo', nestedRepo, '--in-place', '--include', `/${artifactNameFor(outer)}`, '--delete', '--json']);
    expect(result.exitCode).toBe(0);
    expect(await files(outer)).toEqual(['inner', 'inner/i.txt', 'inner/new-in-inner.txt', 'o.txt']);
  }, 60_000);

  it('in place, what a kept directory symlink leads to is left alone (lib -> usr/lib: the snapshot entry lib/x lands in usr/lib/x)', async () => {
    const root = path.join(work, 'merged-usr');
    await writeTree(root, { 'lib/x.so': 'x\n', 'usr/lib/.keep': '', 'etc/conf': 'c\n' });
    const mergedRepo = path.join(work, 'repo-merged');
    expect((await cassette(['backup', root, '--repo', mergedRepo, '--json'])).exitCode).toBe(0);
    // The target became a merged-/usr system: lib is now a symlink into usr/lib.
    await fs.rm(path.join(root, 'lib'), { recursive: true });
    await writeTree(root, { 'usr/lib/x.so': 'x\n', 'usr/lib/other.so': 'o\n', 'etc/extra': 'e\n' });
    await fs.symlink('usr/lib', path.join(root, 'lib'));
    const result = await cassette(['restore', 'latest', '--repo', mergedRepo, '--in-place', '--delete']);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/keep directory symlink/);
    expect(await files(root)).toEqual(['etc', 'etc/conf', 'lib', 'usr', 'usr/lib', 'usr/lib/.keep', 'usr/lib/other.so', 'usr/lib/x.so']);
  }, 60_000);

  it('refuses --delete with --stdout or --tar (exit 2)', async () => {
    const result = await cassette(['restore', 'latest', '--repo', repo, '--include', 'a.txt', '--tar', '--delete'], { binary: true });
    expect(result.exitCode).toBe(2);
    expect(Buffer.from(result.stderr as Uint8Array).toString()).toMatch(/^cassette: --delete applies to a restore with --target or --in-place, not to --tar/);
  });
});

describe('backup --dry-run', () => {
  /** Every file of a local repository with its size and mtime: what "writes nothing" is checked against. */
  async function repoState(repo: string): Promise<string[]> {
    const out: string[] = [];
    const visit = async (dir: string): Promise<void> => {
      for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const abs = path.join(dir, entry.name);
        const stats = await fs.lstat(abs);
        out.push(`${path.relative(repo, abs)} ${stats.size} ${stats.mtimeMs}`);
        if (entry.isDirectory()) await visit(abs);
      }
    };
    await visit(repo);
    return out.sort();
  }

  interface Line {
    type: string;
    path?: string;
    status?: string;
    artifacts?: Array<{ parent?: string; files: number; newFiles: number; changedFiles: number; unchangedFiles: number; unchangedBytes: number }>;
    bytesToRead?: number;
  }
  const lines = (stdout: unknown): Line[] =>
    (stdout as string)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Line);

  it('says what a first and an incremental backup would read, and writes nothing to the repository', async () => {
    const repo = path.join(work, 'repo-dry');
    const source = path.join(work, 'dry-src');
    await writeTree(source, { 'a.txt': 'a'.repeat(100), 'b.txt': 'b'.repeat(200), 'sub/c.txt': 'c'.repeat(300) });

    const first = await cassette(['backup', source, '--repo', repo, '--dry-run', '--json']);
    expect(first.exitCode).toBe(0);
    expect(await repoState(repo)).toEqual([]);
    const firstLines = lines(first.stdout);
    expect(firstLines.filter((l) => l.type === 'entry').map((l) => `${l.path ?? ''} ${l.status ?? ''}`)).toEqual(['a.txt new', 'b.txt new', 'sub new', 'sub/c.txt new']);
    expect(firstLines.at(-1)).toMatchObject({ type: 'summary', bytesToRead: 600, artifacts: [{ files: 3, newFiles: 3, unchangedFiles: 0 }] });

    expect((await cassette(['backup', source, '--repo', repo, '--json'])).exitCode).toBe(0);
    await fs.writeFile(path.join(source, 'b.txt'), 'B'.repeat(250));
    await fs.writeFile(path.join(source, 'new.txt'), 'n'.repeat(50));
    const before = await repoState(repo);

    const second = await cassette(['backup', source, '--repo', repo, '--dry-run', '--json']);
    expect(second.exitCode).toBe(0);
    const secondLines = lines(second.stdout);
    expect(secondLines.filter((l) => l.type === 'entry').map((l) => `${l.path ?? ''} ${l.status ?? ''}`)).toEqual([
      'a.txt unchanged',
      'b.txt changed',
      'new.txt new',
      'sub existing',
      'sub/c.txt unchanged',
    ]);
    expect(secondLines.at(-1)).toMatchObject({
      type: 'summary',
      bytesToRead: 300,
      artifacts: [{ files: 4, newFiles: 1, changedFiles: 1, unchangedFiles: 2, unchangedBytes: 400 }],
    });
    expect(secondLines.at(-1)!.artifacts![0]!.parent).toMatch(/^\d{8}T\d{6}Z/);

    const text = await cassette(['backup', source, '--repo', repo, '--dry-run']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^dry run: would read 300 B and store at most 300 B before compression; 400 B unchanged; nothing was written to /);
    expect(await repoState(repo)).toEqual(before);
  }, 60_000);

  it('names a database source without dumping it', async () => {
    const repo = path.join(work, 'repo-dry-pg');
    const source = path.join(work, 'dry-pg-src');
    await writeTree(source, { 'a.txt': 'a' });
    const result = await cassette(['backup', source, '--pg', 'postgres://127.0.0.1:1/no_such_db', '--repo', repo, '--dry-run', '--json']);
    expect(result.exitCode).toBe(0);
    expect(lines(result.stdout).at(-1)).toMatchObject({
      type: 'summary',
      artifacts: [
        { kind: 'tree', files: 1 },
        { kind: 'database', name: 'pg-no_such_db', files: 0 },
      ],
    });
    expect(await repoState(repo)).toEqual([]);
  }, 60_000);

  it('refuses, writing nothing, when the backup would first have to write a key (a first passphrase backup)', async () => {
    const repo = path.join(work, 'repo-dry-key');
    const source = path.join(work, 'dry-key-src');
    await writeTree(source, { 'a.txt': 'a' });
    const result = await cassette(['backup', source, '--repo', repo, '--dry-run'], { env: { CASSETTE_PASSPHRASE: 'correct horse battery staple' } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^cassette: backup --dry-run writes nothing to the repository, and this would first write keys\//m);
    expect(await repoState(repo)).toEqual([]);
  }, 60_000);
});
