// find, diff, stats and cat through the built CLI, as a user runs them, on a directory, on every S3 server of the suite and on an encrypted repository: what they print, their --json, their refusals, cat byte for byte (empty, multi-frame, in a parent's frames), and that find and diff read nothing but commit records and indexes.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommitRecord } from '../../src/format/types.js';
import { cassette } from '../helpers/cli.js';
import { backupJson, generateKey, type AgeKey } from '../helpers/encryption.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { rawRepository, type RawRepository, type RepositoryTarget } from '../helpers/raw-repository.js';
import { s3Env, s3Server } from '../helpers/s3.js';

const KiB = 1024;
/** Small frames, so that big.bin (300 KiB) spans several. */
const FRAME_SIZE = '64KiB';

/**
 * The tree of the first snapshot: a small text file, an empty file, a file of several frames, a
 * file of a name with glob characters, a symlink and a hard link.
 */
async function makeTree(root: string): Promise<void> {
  await fs.mkdir(path.join(root, 'conf/ssh'), { recursive: true });
  await fs.mkdir(path.join(root, 'data'), { recursive: true });
  await fs.writeFile(path.join(root, 'conf/hosts'), '127.0.0.1 localhost\n');
  await fs.writeFile(path.join(root, 'conf/ssh/sshd_config'), 'PermitRootLogin no\n'.repeat(10));
  await fs.writeFile(path.join(root, 'conf/empty'), '');
  await fs.writeFile(path.join(root, 'conf/a[1].txt'), 'brackets\n');
  await fs.writeFile(path.join(root, 'data/big.bin'), randomBytes(300 * KiB));
  await fs.writeFile(path.join(root, 'data/old.log'), 'old\n');
  await fs.symlink('hosts', path.join(root, 'conf/current'));
  await fs.link(path.join(root, 'conf/hosts'), path.join(root, 'conf/hosts-link'));
}

/** The second snapshot's changes: content, mode, a file added and one removed; big.bin stays, so its frames are reused. */
async function changeTree(root: string): Promise<void> {
  await fs.writeFile(path.join(root, 'conf/ssh/sshd_config'), 'PermitRootLogin prohibit-password\n');
  await fs.chmod(path.join(root, 'conf/hosts'), 0o600);
  await fs.writeFile(path.join(root, 'data/new.log'), 'new\n');
  await fs.rm(path.join(root, 'data/old.log'));
}

interface Repository {
  url: string;
  env: Record<string, string>;
  /** Extra flags every command takes (an identity). */
  keys: string[];
}

interface Setup {
  dir: string;
  tree: string;
  repo: Repository;
  raw: RawRepository;
  /** The artifact name of the tree. */
  artifact: string;
  first: string;
  second: string;
  /** The first snapshot's copy of sshd_config (the tree now holds the second's). */
  firstSshdConfig: Buffer;
}

async function setUp(target: RepositoryTarget, label: string, encrypt: boolean): Promise<Setup> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `cassette-inspect-${label}-`));
  const tree = path.join(dir, 'tree');
  await makeTree(tree);
  const raw = await rawRepository(target, path.join(dir, 'repo'));
  let key: AgeKey | undefined;
  if (encrypt) key = await generateKey(dir, 'key.txt');
  const backupFlags = ['--repo', raw.url, '--frame-size', FRAME_SIZE, ...(key ? ['--encrypt-to', key.recipient] : [])];
  const firstSshdConfig = await fs.readFile(path.join(tree, 'conf/ssh/sshd_config'));
  const first = (await backupJson([tree, ...backupFlags, '--tag', 'first'], raw.env)).snapshot;
  await changeTree(tree);
  const second = (await backupJson([tree, ...backupFlags, '--tag', 'second'], raw.env)).snapshot;
  const repo = { url: raw.url, env: raw.env, keys: key ? ['--identity', key.file] : [] };
  const record = await snapshotRecord(repo, second);
  return { dir, tree, repo, raw, artifact: record.artifacts[0]!.name, first, second, firstSshdConfig };
}

async function run(repo: Repository, args: string[], options: { binary?: boolean; env?: Record<string, string> } = {}): ReturnType<typeof cassette> {
  return cassette([...args, '--repo', repo.url, ...repo.keys], { env: options.env ?? repo.env, binary: options.binary });
}

async function snapshotRecord(repo: Repository, id: string): Promise<CommitRecord> {
  const result = await cassette(['snapshots', '--json', '--repo', repo.url, ...repo.keys], { env: repo.env });
  expect(result.exitCode).toBe(0);
  const { snapshots } = JSON.parse(String(result.stdout)) as { snapshots: Array<{ id: string; artifacts: Array<{ name: string; reusedBytes: number }> }> };
  return snapshots.find((s) => s.id === id) as unknown as CommitRecord;
}

function ndjson(stdout: unknown): Array<Record<string, unknown>> {
  return String(stdout)
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The commands that must answer from commit records and indexes alone. */
function indexOnlyCommands(s: Setup): string[][] {
  return [
    ['find', `${s.artifact}/conf/**`, `${s.artifact}/data/big.bin`],
    ['diff', s.first, s.second],
  ];
}

/** On S3, a proxy in front of the server sees every request: find and diff GET only commit records, indexes and repository.json. */
/** On a directory: every object under data/ but the indexes goes away, and find and diff still answer, and the same. */
async function expectIndexOnlyOnDisk(s: Setup): Promise<void> {
  // Every object under data/ but the indexes goes away: find and diff still answer, and the same.
  const before = await Promise.all(indexOnlyCommands(s).map((command) => run(s.repo, [...command, '--json'])));
  const dataDir = path.join(s.dir, 'repo', 'data');
  const aside = path.join(s.dir, 'aside');
  await fs.cp(dataDir, aside, { recursive: true });
  let removed = 0;
  for (const id of await fs.readdir(dataDir)) {
    for (const name of await fs.readdir(path.join(dataDir, id))) {
      if (name.endsWith('.idx.zst')) continue;
      await fs.rm(path.join(dataDir, id, name));
      removed++;
    }
  }
  try {
    expect(removed).toBeGreaterThan(2);
    for (const [i, command] of indexOnlyCommands(s).entries()) {
      const result = await run(s.repo, [...command, '--json']);
      expect(result.stderr, command[0]).toBe('');
      expect(result.exitCode, command[0]).toBe(0);
      expect(result.stdout, command[0]).toBe(before[i]!.stdout);
    }
    // cat does need the archive: this proves the objects were really gone.
    expect((await run(s.repo, ['cat', s.second, `${s.artifact}/data/big.bin`])).exitCode).not.toBe(0);
  } finally {
    await fs.rm(dataDir, { recursive: true });
    await fs.rename(aside, dataDir);
  }
}

async function expectIndexOnlyOnS3(s: Setup, target: { endpoint: string }): Promise<void> {
  const proxy: FaultProxy = await startFaultProxy(target.endpoint);
  try {
    for (const command of indexOnlyCommands(s)) {
      proxy.reset();
      const result = await run(s.repo, command, { env: s3Env(proxy.endpoint) });
      expect(result.exitCode, command[0]).toBe(0);
      const gets = proxy.requests().filter((r) => r.method === 'GET' && !/[?&]list-type=/.test(r.path));
      expect(gets.filter((r) => r.path.includes('.idx.zst')).length, command[0]).toBeGreaterThan(0);
      expect(
        gets.map((r) => r.path.split('?')[0]!).filter((p) => !/\/snapshots\/[^/]+\.json$|\.idx\.zst$|\/repository\.json$/.test(p)),
        command[0],
      ).toEqual([]);
    }
    // The check can fail: cat reads archive bytes, and the proxy sees them.
    proxy.reset();
    expect((await run(s.repo, ['cat', s.second, `${s.artifact}/data/big.bin`], { env: s3Env(proxy.endpoint), binary: true })).exitCode).toBe(0);
    expect(proxy.requests().some((r) => r.method === 'GET' && r.path.split('?')[0]!.endsWith('.tar.zst'))).toBe(true);
  } finally {
    await proxy.close();
  }
}

const moto = s3Server('moto');
const s3rver = s3Server('s3rver');
const targets: RepositoryTarget[] = [{ name: 'file' }, ...(s3rver ? [s3rver] : []), ...(moto ? [moto] : [])];

describe.each(targets)('find, diff, stats and cat on $name', (target) => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp(target, target.name, false);
  });
  afterAll(async () => {
    if (s) await fs.rm(s.dir, { recursive: true, force: true });
  });

  it('find lists the matching entries grouped by snapshot, with type, size and mtime', async () => {
    const result = await run(s.repo, ['find', `${s.artifact}/conf/ssh/sshd_config`, `${s.artifact}/data/*.log`]);
    expect(result.stderr).toBe('4 matches in 2 of 2 snapshots\n');
    expect(result.exitCode).toBe(0);
    const lines = String(result.stdout).split('\n');
    const firstAt = lines.findIndex((line) => line.startsWith(`snapshot ${s.first} of `));
    const secondAt = lines.findIndex((line) => line.startsWith(`snapshot ${s.second} of `));
    expect(firstAt).toBe(0);
    expect(secondAt).toBeGreaterThan(firstAt);
    const under = (from: number, to: number): string[] => lines.slice(from + 1, to).filter((line) => line.startsWith('  '));
    expect(under(firstAt, secondAt).map((line) => line.trim().split(/\s+/).at(-1))).toEqual([`${s.artifact}/conf/ssh/sshd_config`, `${s.artifact}/data/old.log`]);
    expect(under(secondAt, lines.length).map((line) => line.trim().split(/\s+/).at(-1))).toEqual([`${s.artifact}/conf/ssh/sshd_config`, `${s.artifact}/data/new.log`]);
    // Mode string (type first), size, then the mtime in UTC.
    expect(lines[firstAt + 1]).toMatch(new RegExp(`^  -rw-r--r-- +${s.firstSshdConfig.length} \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  ${s.artifact}/conf/ssh/sshd_config$`));
  });

  it('find --json prints one match per line and a summary; --snapshot and --tag limit the search', async () => {
    const result = await run(s.repo, ['find', `${s.artifact}/conf/current`, '--json']);
    expect(result.exitCode).toBe(0);
    const events = ndjson(result.stdout);
    expect(events.slice(0, -1)).toEqual([
      expect.objectContaining({ type: 'match', snapshot: s.first, artifact: s.artifact, path: 'conf/current', entryType: 'symlink', link: 'hosts', size: 0 }),
      expect.objectContaining({ type: 'match', snapshot: s.second, artifact: s.artifact, path: 'conf/current', entryType: 'symlink', link: 'hosts' }),
    ]);
    expect(events.at(-1)).toEqual({ type: 'summary', matches: 2, snapshots: 2, searched: 2 });
    for (const limit of [
      ['--snapshot', s.second.slice(0, 22)],
      ['--tag', 'second'],
    ]) {
      const limited = ndjson((await run(s.repo, ['find', `${s.artifact}/conf/current`, '--json', ...limit])).stdout);
      expect(limited.filter((e) => e.type === 'match').map((e) => e.snapshot)).toEqual([s.second]);
    }
    // Named twice and out of order: searched once each, oldest first.
    const named = ndjson((await run(s.repo, ['find', `${s.artifact}/conf/current`, '--json', '--snapshot', 'latest', '--snapshot', s.first, '--snapshot', s.second])).stdout);
    expect(named.filter((e) => e.type === 'match').map((e) => e.snapshot)).toEqual([s.first, s.second]);
    expect(named.at(-1)).toEqual({ type: 'summary', matches: 2, snapshots: 2, searched: 2 });
  });

  it('find exits 4 with one clear message when nothing matches', async () => {
    const result = await run(s.repo, ['find', `${s.artifact}/nothing/**`, 'nope']);
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`cassette: no entry matches "${s.artifact}/nothing/**" or "nope" in 2 snapshots (patterns match artifact/path, as ls prints it)\n`);
    const tagged = await run(s.repo, ['find', '**', '--tag', 'never']);
    expect(tagged.exitCode).toBe(4);
    expect(tagged.stderr).toBe('cassette: no committed snapshot has tag never\n');
  });

  it('diff prints added, removed and changed entries with what changed, then totals', async () => {
    const result = await run(s.repo, ['diff', s.first, s.second]);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const lines = String(result.stdout).split('\n');
    const a = s.artifact;
    expect(lines).toContain(`M    ${a}/conf/ssh/sshd_config  (content, mtime)`);
    expect(lines).toContain(`U    ${a}/conf/hosts  (mode)`);
    expect(lines).toContain(`+    ${a}/data/new.log`);
    expect(lines).toContain(`-    ${a}/data/old.log`);
    // Unchanged entries are not listed: big.bin, the symlink, the empty file.
    expect(lines.filter((line) => /big\.bin|conf\/current|conf\/empty/.test(line))).toEqual([]);
    expect(lines).toContain('Files:             1 added,       1 removed,       2 changed');
    // --content-only leaves out what changed in metadata alone: the chmod of conf/hosts.
    const content = String((await run(s.repo, ['diff', s.first, s.second, '--content-only'])).stdout).split('\n');
    expect(content).toContain(`M    ${a}/conf/ssh/sshd_config  (content, mtime)`);
    expect(content.filter((line) => line.startsWith('U '))).toEqual([]);
    expect(content).toContain('Files:             1 added,       1 removed,       1 changed');
  });

  it('diff --json gives each change with the changed fields before and after, and the totals', async () => {
    const result = await run(s.repo, ['diff', s.first, 'latest', '--json']);
    expect(result.exitCode).toBe(0);
    const events = ndjson(result.stdout);
    expect(events).toContainEqual({
      type: 'changed',
      artifact: s.artifact,
      path: 'conf/hosts',
      entryType: 'file',
      changes: ['mode'],
      before: { mode: 0o644 },
      after: { mode: 0o600 },
    });
    expect(events).toContainEqual({ type: 'added', artifact: s.artifact, path: 'data/new.log', entryType: 'file', size: 4 });
    expect(events).toContainEqual({ type: 'removed', artifact: s.artifact, path: 'data/old.log', entryType: 'file', size: 4 });
    const summary = events.at(-1)!;
    expect(summary).toMatchObject({ type: 'summary', from: s.first, to: s.second, files: { added: 1, removed: 1, changed: 2 }, artifacts: { added: 0, removed: 0 } });
    // The same snapshot twice: nothing differs.
    const same = ndjson((await run(s.repo, ['diff', s.second, s.second, '--json'])).stdout);
    expect(same).toHaveLength(1);
    expect(same[0]).toMatchObject({ files: { added: 0, removed: 0, changed: 0 }, directories: { added: 0, removed: 0, changed: 0 }, bytesAdded: 0, bytesRemoved: 0 });
  });

  it('diff exits 4 for a snapshot that does not exist', async () => {
    const result = await run(s.repo, ['diff', s.first, '29991231T000000Z']);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toBe('cassette: no committed snapshot matches "29991231T000000Z"\n');
  });

  it('find and diff read nothing but commit records and indexes', async () => {
    if (target.name === 'file') await expectIndexOnlyOnDisk(s);
    else await expectIndexOnlyOnS3(s, target as { endpoint: string });
  });

  it('stats counts the latest snapshot, and says what it stored anew and reused', async () => {
    const result = await run(s.repo, ['stats', '--json']);
    expect(result.exitCode).toBe(0);
    const { snapshots, total } = JSON.parse(String(result.stdout)) as { snapshots: Array<Record<string, number | string>>; total: Record<string, number> };
    expect(snapshots).toHaveLength(1);
    const [latest] = snapshots;
    // conf/{hosts, hosts-link is a hard link, ssh/sshd_config, empty, a[1].txt}, data/{big.bin, new.log}.
    expect(latest).toMatchObject({ id: s.second, files: 6, directories: 3, others: 2 });
    expect(latest!.fileBytes).toBe(20 + 'PermitRootLogin prohibit-password\n'.length + 0 + 9 + 300 * KiB + 4);
    // big.bin did not change: its frames are reused from the first snapshot.
    expect(latest!.reusedBytes).toBeGreaterThan(250 * KiB);
    expect(latest!.storedBytes).toBeLessThan(20 * KiB);
    expect(total.files).toBe(6);
    const text = await run(s.repo, ['stats', s.first]);
    expect(text.exitCode).toBe(0);
    expect(String(text.stdout)).toMatch(new RegExp(`^snapshot ${s.first} of `));
    expect(String(text.stdout)).toMatch(/\n {2}files: +6\n/);
  });

  it('stats --all adds what data/ holds, against the snapshots’ logical size', async () => {
    const result = await run(s.repo, ['stats', '--all', '--json']);
    expect(result.exitCode).toBe(0);
    const { snapshots, total, held } = JSON.parse(String(result.stdout)) as {
      snapshots: Array<{ id: string; tarBytes: number }>;
      total: { tarBytes: number };
      held: { snapshots: number; tarBytes: number; objects: number; bytes: number; unreferencedObjects: number; ratio: number };
    };
    expect(snapshots.map((x) => x.id)).toEqual([s.first, s.second]);
    expect(total.tarBytes).toBe(snapshots[0]!.tarBytes + snapshots[1]!.tarBytes);
    const stored = [...(await s.raw.objects()).entries()].filter(([key]) => key.startsWith(`${s.raw.prefix}data/`) && !key.endsWith(' (metadata)'));
    expect(held).toMatchObject({ snapshots: 2, tarBytes: total.tarBytes, objects: stored.length, unreferencedObjects: 0 });
    expect(held.bytes).toBe(stored.reduce((sum, [, bytes]) => sum + bytes.length, 0));
    // Reuse holds big.bin once for two snapshots: less is held than the two tars' size.
    expect(held.ratio).toBeGreaterThan(1.5);
    const tagged = JSON.parse(String((await run(s.repo, ['stats', '--all', '--tag', 'first', '--json'])).stdout)) as { snapshots: Array<{ id: string }> };
    expect(tagged.snapshots.map((x) => x.id)).toEqual([s.first]);
    const both = await run(s.repo, ['stats', s.first, '--all']);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toBe('cassette: give a snapshot or --all, not both\n');
  });

  it('cat writes a file byte for byte: small, empty, several frames, from a parent’s frames, an older version, a hard link', async () => {
    const cat = async (snapshot: string, file: string): Promise<Buffer> => {
      const result = await run(s.repo, ['cat', snapshot, `${s.artifact}/${file}`], { binary: true });
      expect(Buffer.from(result.stderr as unknown as Uint8Array).toString(), file).toBe('');
      expect(result.exitCode, file).toBe(0);
      return Buffer.from(result.stdout as unknown as Uint8Array);
    };
    for (const file of ['conf/hosts', 'conf/empty', 'conf/a[1].txt', 'data/big.bin', 'conf/ssh/sshd_config']) {
      expect((await cat(s.second, file)).equals(await fs.readFile(path.join(s.tree, file))), file).toBe(true);
    }
    expect(await cat(s.second, 'conf/empty')).toHaveLength(0);
    expect((await cat(s.first, 'conf/ssh/sshd_config')).equals(s.firstSshdConfig)).toBe(true);
    expect((await cat(s.second, 'conf/hosts-link')).equals(await fs.readFile(path.join(s.tree, 'conf/hosts')))).toBe(true);
  });

  it('cat refuses a directory, a symlink and a missing path with exit 4 and a clear message', async () => {
    for (const [file, message] of [
      ['conf/ssh', `${s.artifact}/conf/ssh is a directory, not a file`],
      ['conf/current', `${s.artifact}/conf/current is a symlink to hosts, not a file`],
      ['conf/missing', `snapshot ${s.second} has no entry ${s.artifact}/conf/missing`],
      ['conf/*', `snapshot ${s.second} has no entry ${s.artifact}/conf/*`],
    ] as const) {
      const result = await run(s.repo, ['cat', 'latest', `${s.artifact}/${file}`]);
      expect(result.exitCode, file).toBe(4);
      expect(result.stdout, file).toBe('');
      expect(result.stderr, file).toContain(`cassette: ${message}`);
    }
    const artifact = await run(s.repo, ['cat', 'latest', 'no-such-artifact/x']);
    expect(artifact.exitCode).toBe(4);
    expect(artifact.stderr).toBe(`cassette: snapshot ${s.second} has no artifact "no-such-artifact" (it has ${s.artifact}); give artifact/path as ls prints it\n`);
  });
});

const encryptedTargets: RepositoryTarget[] = [{ name: 'file' }, ...(s3rver ? [s3rver] : [])];

describe.each(encryptedTargets)('find, diff, stats and cat on an encrypted repository on $name', (target) => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp(target, `encrypted-${target.name}`, true);
  });
  afterAll(async () => {
    if (s) await fs.rm(s.dir, { recursive: true, force: true });
  });

  it('with the identity, each command works as on a plain repository', async () => {
    const find = await run(s.repo, ['find', `${s.artifact}/data/big.bin`, '--json']);
    expect(find.exitCode).toBe(0);
    expect(ndjson(find.stdout).filter((e) => e.type === 'match')).toHaveLength(2);
    const diff = await run(s.repo, ['diff', s.first, s.second, '--json']);
    expect(diff.exitCode).toBe(0);
    expect(ndjson(diff.stdout).at(-1)).toMatchObject({ files: { added: 1, removed: 1, changed: 2 } });
    const stats = await run(s.repo, ['stats', '--all', '--json']);
    expect(stats.exitCode).toBe(0);
    expect(JSON.parse(String(stats.stdout))).toMatchObject({ total: { files: 12 }, held: { snapshots: 2, unreferencedObjects: 0 } });
    for (const [snapshot, file] of [
      [s.second, 'data/big.bin'],
      [s.second, 'conf/empty'],
    ] as const) {
      const cat = await run(s.repo, ['cat', snapshot, `${s.artifact}/${file}`], { binary: true });
      expect(cat.exitCode, file).toBe(0);
      expect(Buffer.from(cat.stdout as unknown as Uint8Array).equals(await fs.readFile(path.join(s.tree, file))), file).toBe(true);
    }
  });

  it('find and diff read nothing but commit records and indexes', async () => {
    if (target.name === 'file') await expectIndexOnlyOnDisk(s);
    else await expectIndexOnlyOnS3(s, target as { endpoint: string });
  });

  it('without a key, each command exits 6, says what to pass, and prints nothing on stdout', async () => {
    const noKey = { ...s.repo, keys: [] };
    for (const command of [['find', '**/big.bin'], ['diff', s.first, s.second], ['stats'], ['stats', '--all'], ['cat', s.second, `${s.artifact}/data/big.bin`]]) {
      const result = await run(noKey, command, { env: { ...s.repo.env, HOME: s.dir } });
      expect(result.exitCode, command.join(' ')).toBe(6);
      expect(result.stdout, command.join(' ')).toBe('');
      expect(result.stderr, command.join(' ')).toContain('--identity FILE');
    }
  });
});
