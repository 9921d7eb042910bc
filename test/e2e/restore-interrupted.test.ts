// Restores that are killed, interrupted or pointed at a target that cannot exist, through the built CLI: a rerun cleans up after a SIGKILL, signals are honoured, /proc fails fast.

import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { compareTrees } from '../../src/demo/compare-trees.js';
import { parseRestoreTempName, removeStaleTemps, restoreTempName, currentRestorer } from '../../src/restore/temp-name.js';
import { LocalStore } from '../../src/store/local-store.js';
import { cassette, CLI } from '../helpers/cli.js';

/** Every temporary name of a restore, old or new style: what must never be left behind. */
const TEMP = /^\.cassette-tmp-/;

let work: string;
let source: string;
let repo: string;
let artifact: string;

async function writeRandom(file: string, bytes: number): Promise<void> {
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 9), Buffer.alloc(16));
  await fs.writeFile(file, cipher.update(Buffer.alloc(bytes)));
}

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-interrupted-'));
  source = path.join(work, 'source');
  // Small files first, then a big incompressible one: its temporary file exists for a while.
  for (const dir of ['a', 'b', 'big']) await fs.mkdir(path.join(source, dir), { recursive: true });
  for (let i = 0; i < 40; i++) await fs.writeFile(path.join(source, i % 2 ? 'a' : 'b', `f${i}.txt`), `file ${i}\n`.repeat(i + 1));
  await writeRandom(path.join(source, 'big', 'image.bin'), 160 * 1024 * 1024);
  repo = path.join(work, 'repo');
  const { record } = await backup({ store: new LocalStore(repo), sources: [{ kind: 'tree', path: source }] });
  artifact = record.artifacts[0]!.name;
}, 120_000);

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Temporary names under `dir`, with their types. */
async function temps(dir: string): Promise<Array<{ rel: string; type: 'file' | 'symlink' | 'other' }>> {
  const out: Array<{ rel: string; type: 'file' | 'symlink' | 'other' }> = [];
  const walk = async (at: string, rel: string): Promise<void> => {
    for (const dirent of await fs.readdir(at, { withFileTypes: true })) {
      const r = rel ? `${rel}/${dirent.name}` : dirent.name;
      if (TEMP.test(dirent.name)) out.push({ rel: r, type: dirent.isFile() ? 'file' : dirent.isSymbolicLink() ? 'symlink' : 'other' });
      if (dirent.isDirectory()) await walk(path.join(at, dirent.name), r);
    }
  };
  await walk(dir, '');
  return out.sort((x, y) => (x.rel < y.rel ? -1 : 1));
}

interface RunningRestore {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** Resolves once `ready` says so (polled every 2 ms); fails if the restore ends first, or after 60 s. */
  until: (ready: () => Promise<boolean>, what: string) => Promise<void>;
}

/** Starts `cassette restore latest` from `repository` into `target`. */
function startRestore(repository: string, target: string): RunningRestore {
  const child = spawn('node', [CLI, 'restore', 'latest', '--repo', repository, '--target', target], { env: { ...process.env, CASSETTE_REPO: '' } });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal, stderr });
    }),
  );
  const until = async (ready: () => Promise<boolean>, what: string): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while (!(await ready())) {
      if (done) throw new Error(`the restore ended before ${what}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`${what} did not happen within 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
  return { child, exited, until };
}

/** A restore of the big tree, once the big file's temporary file holds some bytes. */
async function restoreUntilBigTemp(target: string): Promise<RunningRestore> {
  const running = startRestore(repo, target);
  const bigDir = path.join(target, artifact, 'big');
  await running.until(async () => {
    const temp = (await fs.readdir(bigDir).catch(() => [] as string[])).find((name) => TEMP.test(name));
    return temp !== undefined && ((await fs.stat(path.join(bigDir, temp)).catch(() => undefined))?.size ?? 0) > 0;
  }, 'its big temporary file was seen');
  return running;
}

/** A fresh local repository holding one backup of `tree`, and the artifact's name. */
async function backedUp(tree: string, name: string): Promise<{ repository: string; artifactName: string }> {
  const repository = path.join(work, name);
  const { record } = await backup({ store: new LocalStore(repository), sources: [{ kind: 'tree', path: tree }] });
  return { repository, artifactName: record.artifacts[0]!.name };
}

describe('a restore killed with SIGKILL', () => {
  it('leaves temporary files that a rerun into the same target removes; a user file or a symlink with such a name stays', async () => {
    const target = path.join(work, 'target-killed');
    const { child, exited } = await restoreUntilBigTemp(target);
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');
    const left = await temps(target);
    expect(left.filter((t) => t.rel.startsWith(`${artifact}/big/`) && t.type === 'file').length).toBeGreaterThan(0);

    // Names that are not the killed restore's temporary files, next to them.
    const bigDir = path.join(target, artifact, 'big');
    const killedName = path.basename(left.find((t) => t.rel.startsWith(`${artifact}/big/`))!.rel);
    const killed = parseRestoreTempName(killedName);
    const victim = path.join(work, 'victim.txt');
    await fs.writeFile(victim, 'kept\n');
    const planted = {
      // Only when the new names are in use: on a build with the old names this is just another name.
      symlink: killed ? restoreTempName(killed, 1_000_000) : '.cassette-tmp-symlink',
      userFile: '.cassette-tmp-xyz',
      oldStyle: '.cassette-tmp-0a1b2c3d-1f',
      // Made by a process that still runs (this one): a concurrent restore's file.
      live: restoreTempName(currentRestorer()!, 1_000_000),
    };
    await fs.symlink(victim, path.join(bigDir, planted.symlink));
    for (const name of [planted.userFile, planted.oldStyle, planted.live]) await fs.writeFile(path.join(bigDir, name), 'mine\n');

    const rerun = await cassette(['restore', 'latest', '--repo', repo, '--target', target]);
    expect(rerun.exitCode, rerun.stderr as string).toBe(0);
    const plantedPaths = Object.values(planted)
      .map((name) => `${artifact}/big/${name}`)
      .sort();
    expect((await temps(target)).map((t) => t.rel)).toEqual(plantedPaths);
    expect((await fs.lstat(path.join(bigDir, planted.symlink))).isSymbolicLink()).toBe(true);
    expect(await fs.readFile(victim, 'utf8')).toBe('kept\n');
    expect(await fs.readFile(path.join(bigDir, planted.userFile), 'utf8')).toBe('mine\n');
    const ignored = new Set(Object.values(planted).map((name) => `big/${name}`));
    expect(await compareTrees(source, path.join(target, artifact), { ignore: (rel) => ignored.has(rel) })).toEqual([]);
    // Nothing left there is stale for any restore: a sweep by this process removes nothing either.
    expect(removeStaleTemps(bigDir)).toBe(0);
  });
});

describe('a restore interrupted by a signal', () => {
  it('SIGTERM mid-way: exits 130 promptly and leaves no temporary file', async () => {
    const target = path.join(work, 'target-term');
    const { child, exited } = await restoreUntilBigTemp(target);
    const sent = Date.now();
    child.kill('SIGTERM');
    const result = await Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 20 s of SIGTERM')), 20_000))]);
    expect({ code: result.code, seconds: (Date.now() - sent) / 1000 < 20 }).toEqual({ code: 130, seconds: true });
    expect(result.stderr).toContain('interrupted');
    expect(await temps(target)).toEqual([]);
    await expect(fs.stat(path.join(target, artifact, 'big', 'image.bin'))).rejects.toThrow();
  });
});

describe('a restore interrupted where it makes no I/O of its own between entries', () => {
  // A signal is handled only when the event loop turns; awaiting work that needs no I/O does not turn it.
  it('SIGTERM while it creates many empty files: exits 130 (the whole restore ran with the signal waiting, and exited 0)', async () => {
    const tree = path.join(work, 'empty-files');
    fsSync.mkdirSync(tree);
    for (let i = 0; i < 30_000; i++) fsSync.writeFileSync(path.join(tree, `e${String(i).padStart(5, '0')}`), '');
    const { repository, artifactName } = await backedUp(tree, 'empty-files-repo');
    const target = path.join(work, 'target-empty-files');
    const running = startRestore(repository, target);
    // Past the first few hundred files, in tar (name) order.
    await running.until(
      () =>
        fs.access(path.join(target, artifactName, 'e00500')).then(
          () => true,
          () => false,
        ),
      'the 500th empty file appeared',
    );
    running.child.kill('SIGTERM');
    const result = await running.exited;
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).toContain('interrupted');
    expect(await temps(target)).toEqual([]);
  });

  it("SIGTERM while it sets the directories' metadata: exits 130 (the loop over every directory ran to its end with the signal waiting, and exited 0)", async () => {
    // 20,000 directories: their metadata is set last, deepest first, by system calls in a loop.
    const tree = path.join(work, 'dirs');
    for (let i = 0; i < 100; i++) for (let j = 0; j < 200; j++) fsSync.mkdirSync(path.join(tree, `a${i}`, `b${j}`), { recursive: true });
    // The longest path is finished first; its mode (no umask gives 0711) tells when that phase has begun.
    const first = path.join('a0', 'b0', 'the-deepest-directory-of-all');
    await fs.mkdir(path.join(tree, first));
    await fs.chmod(path.join(tree, first), 0o711);
    const { repository, artifactName } = await backedUp(tree, 'dirs-repo');
    const marker = path.join(work, 'target-dirs', artifactName, first);
    const running = startRestore(repository, path.join(work, 'target-dirs'));
    const modeOf = async (p: string): Promise<number> => ((await fs.stat(p).catch(() => undefined))?.mode ?? 0) & 0o777;
    await running.until(async () => (await modeOf(marker)) === 0o711, "the directories' metadata phase began");
    running.child.kill('SIGTERM');
    const result = await running.exited;
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).toContain('interrupted');
  });
});

describe('a target that cannot be created', () => {
  it('restore --target /proc/x fails at once with exit 1 naming the target (it spun at 100% CPU, deaf to signals)', async () => {
    const result = await cassette(['restore', 'latest', '--repo', repo, '--target', '/proc/cassette-x'], { timeout: 30_000 });
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/cannot create directory \/proc\/cassette-x\/.*ENOENT/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('backup --repo /proc/x fails at once with exit 1 naming the repository (it spun too, and a first SIGINT could not stop it)', async () => {
    const result = await cassette(['backup', path.join(source, 'a'), '--repo', '/proc/cassette-x'], { timeout: 30_000 });
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/\/proc\/cassette-x.*ENOENT/);
  });
});
