// The commands that change which snapshots exist, end to end through the built CLI (issue 17): the --host/--tag/--path filters of snapshots, restore and prune; forget (with and without --prune, beside a running backup's lease); tag (plain and encrypted records, refused while a prune runs); on a directory and on S3.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Opener, openObject } from '../../src/crypto/age.js';
import type { CommitRecord } from '../../src/format/types.js';
import { cassette } from '../helpers/cli.js';
import { backupJson, expectRestores, generateKey, snapshotIds, type AgeKey } from '../helpers/encryption.js';
import { rawRepository, type RawRepository, type RepositoryTarget } from '../helpers/raw-repository.js';
import { s3Server } from '../helpers/s3.js';

const s3rver = s3Server('s3rver');
const targets: RepositoryTarget[] = [{ name: 'file' }, ...(s3rver ? [s3rver] : [])];

let work = '';
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-manage-'));
});
afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** A directory of a few files; `version` changes one of them. */
async function makeTree(root: string, version: number): Promise<void> {
  await fs.mkdir(path.join(root, 'sub'), { recursive: true });
  for (let i = 0; i < 5; i++) await fs.writeFile(path.join(root, 'sub', `f${i}.txt`), `file ${i}\n`.repeat(200 * (i + 1)));
  await fs.writeFile(path.join(root, 'changing.txt'), `version ${version}\n`.repeat(100));
}

async function cli(repo: RawRepository, args: string[], env: Record<string, string> = {}) {
  return cassette([...args, '--repo', repo.url], { env: { ...repo.env, ...env } });
}

async function record(repo: RawRepository, id: string): Promise<CommitRecord> {
  return JSON.parse((await repo.get(`snapshots/${id}.json`)).toString('utf8')) as CommitRecord;
}

/** Stored names under data/<id>/ (relative to the repository). */
async function dataOf(repo: RawRepository, id: string): Promise<string[]> {
  const objects = await repo.objects();
  return [...objects.keys()].map((name) => name.slice(repo.prefix.length)).filter((key) => key.startsWith(`data/${id}/`));
}

/** Put an object, making the directory of a file:// repository. */
async function putRaw(repo: RawRepository, key: string, body: Buffer): Promise<void> {
  if (repo.name === 'file') await fs.mkdir(path.dirname(path.join(repo.url.slice('file://'.length), key)), { recursive: true });
  await repo.put(key, body);
}

describe.each(targets)('on $name', (target) => {
  let repo: RawRepository;
  let tree1 = '';
  let tree2 = '';
  /** web1: a (tags daily), b (incremental on a; tags daily,weekly), c (incremental on b); web2: d (tag daily), of tree2. */
  const ids: Record<'a' | 'b' | 'c' | 'd', string> = { a: '', b: '', c: '', d: '' };

  beforeAll(async () => {
    const base = path.join(work, target.name);
    tree1 = path.join(base, 'tree1');
    tree2 = path.join(base, 'tree2');
    await makeTree(tree2, 0);
    repo = await rawRepository(target, path.join(base, 'repo'));
    const backup = async (tree: string, version: number, args: string[]): Promise<string> => {
      await makeTree(tree, version);
      return (await backupJson([tree, '--repo', repo.url, ...args], repo.env)).snapshot;
    };
    ids.a = await backup(tree1, 1, ['--host', 'web1', '-t', 'daily']);
    ids.b = await backup(tree1, 2, ['--host', 'web1', '-t', 'daily', '-t', 'weekly']);
    ids.d = await backup(tree2, 0, ['--host', 'web2', '-t', 'daily']);
    ids.c = await backup(tree1, 3, ['--host', 'web1']);
    expect((await record(repo, ids.b)).artifacts[0]!.parent).toBe(ids.a);
    expect((await record(repo, ids.c)).artifacts[0]!.parent).toBe(ids.b);
    expect((await record(repo, ids.d)).host).toBe('web2');
  });

  it('snapshots lists what --host, --tag and --path select', async () => {
    expect(await snapshotIds(repo, ['--host', 'web1'])).toEqual([ids.a, ids.b, ids.c]);
    expect(await snapshotIds(repo, ['--host', 'web2', '--host', 'web1'])).toEqual([ids.a, ids.b, ids.d, ids.c]);
    expect(await snapshotIds(repo, ['--tag', 'daily'])).toEqual([ids.a, ids.b, ids.d]);
    expect(await snapshotIds(repo, ['--tag', 'daily,weekly'])).toEqual([ids.b]);
    expect(await snapshotIds(repo, ['--tag', 'weekly', '--tag', 'nope,daily'])).toEqual([ids.b]);
    expect(await snapshotIds(repo, ['--path', tree2 + '/'])).toEqual([ids.d]);
    expect(await snapshotIds(repo, ['--host', 'web1', '--tag', 'daily', '--path', tree1])).toEqual([ids.a, ids.b]);
    const emptyHost = await cli(repo, ['backup', tree1, '--host', '']);
    expect(emptyHost.exitCode).toBe(2);
    expect(String(emptyHost.stderr)).toBe('cassette: Expected `--host` to be a host name, got ""\n');
    const none = await cli(repo, ['snapshots', '--host', 'db9']);
    expect(none.exitCode).toBe(0);
    expect(String(none.stdout)).toMatch(/^no snapshots with host db9 in /);
  });

  it('restore takes latest among the selected snapshots and refuses an id outside them', async () => {
    // The newest snapshot is c (web1), so latest --host web2 must be d.
    await expectRestores(repo, 'latest', { source: tree2, target: path.join(work, target.name, 'restore-web2'), flags: ['--host', 'web2'] });
    const outside = await cli(repo, ['restore', ids.a, '--host', 'web2', '--target', path.join(work, target.name, 'refused')]);
    expect(outside.exitCode).toBe(4);
    expect(String(outside.stderr)).toBe(`cassette: snapshot ${ids.a} does not have host web2\n`);
    const none = await cli(repo, ['restore', 'latest', '--tag', 'monthly', '--target', path.join(work, target.name, 'refused')]);
    expect(none.exitCode).toBe(4);
    expect(String(none.stderr)).toBe('cassette: no committed snapshot has tag monthly\n');
  });

  it('prune --host applies the policy within that host only', async () => {
    const dry = await cli(repo, ['prune', '--host', 'web2', '--keep-last', '1', '--dry-run', '--json']);
    expect(dry.exitCode).toBe(0);
    const report = JSON.parse(String(dry.stdout)) as { kept: Array<{ id: string }>; removed: Array<{ id: string }>; untouched: string[] };
    // Without the filter, keep-last 1 would remove d (c is newer); within web2, d is the newest.
    expect(report.kept.map((k) => k.id)).toEqual([ids.d]);
    expect(report.removed).toEqual([]);
    expect(report.untouched.sort()).toEqual([ids.a, ids.b, ids.c].sort());
    const web1 = await cli(repo, ['prune', '--host', 'web1', '--tag', 'daily', '--keep-last', '1', '--dry-run', '--json']);
    const plan = JSON.parse(String(web1.stdout)) as typeof report;
    expect(plan.kept.map((k) => k.id)).toEqual([ids.b]);
    expect(plan.removed.map((r) => r.id)).toEqual([ids.a]);
    expect(plan.untouched.sort()).toEqual([ids.c, ids.d].sort());
    const perHost = await cli(repo, ['prune', '--group-by', 'host', '--keep-last', '1', '--dry-run', '--json']);
    const grouped = JSON.parse(String(perHost.stdout)) as typeof report;
    expect(grouped.kept.map((k) => k.id).sort()).toEqual([ids.c, ids.d].sort());
    expect(grouped.removed.map((r) => r.id).sort()).toEqual([ids.a, ids.b].sort());
    const badGroup = await cli(repo, ['prune', '--group-by', 'path', '--keep-last', '1']);
    expect(badGroup.exitCode).toBe(2);
    expect(String(badGroup.stderr)).toBe('cassette: Expected `--group-by` to be host, got "path"\n');
    expect(await snapshotIds(repo)).toEqual([ids.a, ids.b, ids.d, ids.c]);
  });

  it('tag adds, removes and sets tags, and changes nothing else in the record', async () => {
    const before = await record(repo, ids.c);
    const added = await cli(repo, ['tag', ids.c.slice(0, 20), '--add', 'keep', '--add', 'monthly', '--json']);
    expect(added.stderr).toBe('');
    expect(added.exitCode).toBe(0);
    expect(JSON.parse(String(added.stdout))).toMatchObject({ snapshots: [{ id: ids.c, before: [], after: ['keep', 'monthly'], changed: true, encrypted: false }] });
    const after = await record(repo, ids.c);
    expect(after.tags).toEqual(['keep', 'monthly']);
    expect({ ...after, tags: [] }).toEqual(before);
    expect(Object.keys(after)).toEqual(Object.keys(before));
    await cli(repo, ['tag', 'latest', '--host', 'web1', '--remove', 'keep']);
    expect((await record(repo, ids.c)).tags).toEqual(['monthly']);
    await cli(repo, ['tag', ids.c, '--set', 'a1', '--set', 'b2']);
    expect((await record(repo, ids.c)).tags).toEqual(['a1', 'b2']);
    expect(await snapshotIds(repo, ['--tag', 'b2'])).toEqual([ids.c]);
    const dry = await cli(repo, ['tag', ids.c, '--set', 'zz', '--dry-run']);
    expect(String(dry.stdout)).toBe(`would tag ${ids.c}  a1,b2 -> zz\n`);
    await cli(repo, ['tag', ids.c, '--set', '', '--dry-run']).then((r) => expect(r.exitCode).toBe(2));
    const both = await cli(repo, ['tag', ids.c, '--set', 'x', '--add', 'y']);
    expect(both.exitCode).toBe(2);
    expect(String(both.stderr)).toBe('cassette: --set replaces all tags: give it alone, or --add/--remove\n');
    const comma = await cli(repo, ['tag', ids.c, '--add', 'x,y']);
    expect(comma.exitCode).toBe(2);
    expect(String(comma.stderr)).toBe('cassette: Expected a tag without commas or control characters, got "x,y"\n');
    await cli(repo, ['tag', ids.c, '--set', 'monthly']);
    expect({ ...(await record(repo, ids.c)), tags: [] }).toEqual(before);
  });

  it('tag refuses while a prune runs (its clock marker), and writes nothing', async () => {
    const markerKey = 'locks/prune-0123456789ab.clock';
    await putRaw(repo, markerKey, Buffer.from('{}\n'));
    try {
      const refused = await cli(repo, ['tag', ids.c, '--add', 'late']);
      expect(refused.exitCode).toBe(1);
      expect(String(refused.stderr)).toMatch(/^cassette: a prune or forget is running on .* \(locks\/prune-0123456789ab\.clock\): try again when it has ended/);
      expect((await record(repo, ids.c)).tags).toEqual(['monthly']);
    } finally {
      await removeKey(repo, markerKey);
    }
    // Its own lease is gone too.
    expect([...(await repo.objects()).keys()].filter((k) => k.includes('locks/'))).toEqual([]);
  });

  it('forget keeps a snapshot a running backup reuses (its fresh lease names it), exit 3', async () => {
    const leaseKey = 'locks/20991231T235959Z-abcdef.json';
    const lease = { format: 'cassette-lease', version: 1, id: '20991231T235959Z-abcdef', host: 'web1', pid: 1, refreshSeconds: 300, ttlSeconds: 1800, parents: [ids.c] };
    await putRaw(repo, leaseKey, Buffer.from(JSON.stringify(lease)));
    try {
      const result = await cli(repo, ['forget', ids.c, ids.d, '--dry-run', '--json']);
      expect(result.exitCode).toBe(3);
      const report = JSON.parse(String(result.stdout)) as { removed: Array<{ id: string }>; refused: Array<{ id: string; reason: string }> };
      expect(report.removed.map((r) => r.id)).toEqual([ids.d]);
      expect(report.refused).toEqual([{ id: ids.c, reason: 'reused by running backup 20991231T235959Z-abcdef' }]);
    } finally {
      await removeKey(repo, leaseKey);
    }
    expect(await snapshotIds(repo)).toEqual([ids.a, ids.b, ids.d, ids.c]);
  });

  it('forget without --prune removes the commit record only, and says what data stays', async () => {
    const dataBefore = await dataOf(repo, ids.d);
    expect(dataBefore.length).toBeGreaterThan(0);
    const dry = await cli(repo, ['forget', ids.d, '--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(await snapshotIds(repo)).toContain(ids.d);
    const outside = await cli(repo, ['forget', ids.d, '--host', 'web1']);
    expect(outside.exitCode).toBe(4);
    expect(String(outside.stderr)).toBe(`cassette: snapshot ${ids.d} does not have host web1\n`);
    const result = await cli(repo, ['forget', 'latest', '--host', 'web2']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(String(result.stdout)).toMatch(
      new RegExp(`^forgot ${ids.d}  \\(data left: ${dataBefore.length} objects, .*\\)\\n.* stay in the repository, referenced by no snapshot: \`cassette prune\``),
    );
    expect(await snapshotIds(repo)).toEqual([ids.a, ids.b, ids.c]);
    expect((await dataOf(repo, ids.d)).sort()).toEqual(dataBefore.sort());
    // A later prune removes it as incomplete data once older than the grace period (here 0 h).
    const prune = await cli(repo, ['prune', '--keep-last', '100', '--grace-hours', '0', '--json']);
    expect(prune.exitCode).toBe(0);
    expect((JSON.parse(String(prune.stdout)) as { leftovers: Array<{ id: string }> }).leftovers.map((l) => l.id)).toEqual([ids.d]);
    expect(await dataOf(repo, ids.d)).toEqual([]);
  });

  it('forget --prune of the parents of a kept incremental snapshot keeps the objects it reads, and it restores and verifies', async () => {
    const result = await cli(repo, ['forget', ids.a, ids.b.slice(0, 22), '--prune', '--json']);
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(String(result.stdout)) as { removed: Array<{ id: string; keptObjects: number; kept: Array<{ key: string; referencedBy: string[] }> }> };
    expect(report.removed.map((r) => r.id).sort()).toEqual([ids.a, ids.b].sort());
    const referenced = (await record(repo, ids.c)).artifacts.flatMap((a) => (a.references ?? []).map((r) => r.key));
    expect(referenced.length).toBeGreaterThan(0);
    expect(report.removed.flatMap((r) => r.kept.map((k) => k.key)).sort()).toEqual(referenced.sort());
    expect(await snapshotIds(repo)).toEqual([ids.c]);
    // Nothing but what c names is left under the forgotten snapshots' prefixes.
    expect([...(await dataOf(repo, ids.a)), ...(await dataOf(repo, ids.b))].sort()).toEqual(referenced.sort());
    const verify = await cli(repo, ['verify', ids.c, '--read-data']);
    expect(verify.exitCode, String(verify.stderr)).toBe(0);
    await expectRestores(repo, ids.c, { source: tree1, target: path.join(work, target.name, 'restore-c') });
  });
});

/** Delete one object of a repository behind cassette's back. */
async function removeKey(repo: RawRepository, key: string): Promise<void> {
  if (repo.name === 'file') {
    await fs.rm(path.join(repo.url.slice('file://'.length), key), { force: true });
    return;
  }
  const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  const { testClient } = await import('../helpers/s3.js');
  const url = new URL(repo.url);
  const client = testClient(repo.env.AWS_ENDPOINT_URL!);
  try {
    await client.send(new DeleteObjectCommand({ Bucket: url.host, Key: `${repo.prefix}${key}` }));
  } finally {
    client.destroy();
  }
}

describe('tag on an encrypted repository', () => {
  let repo: RawRepository;
  let key1: AgeKey;
  let key2: AgeKey;
  let tree = '';
  let cache = '';
  let single = '';
  let double = '';
  /** A copy of the tree as `double` stored it. */
  let treeOfDouble = '';
  /** Another host's metadata cache (an administrator's), apart from the backup host's. */
  let admin: Record<string, string> = {};

  beforeAll(async () => {
    const base = path.join(work, 'encrypted');
    await fs.mkdir(base, { recursive: true });
    tree = path.join(base, 'tree');
    cache = path.join(base, 'cache');
    admin = { CASSETTE_CACHE_DIR: path.join(base, 'admin-cache') };
    key1 = await generateKey(base, 'key1.txt');
    key2 = await generateKey(base, 'key2.txt');
    repo = await rawRepository({ name: 'file' }, path.join(base, 'repo'));
    await makeTree(tree, 1);
    // Backed up with public keys only: the host's metadata cache keeps the plaintext records.
    single = (await backupJson([tree, '--repo', repo.url, '--encrypt-to', key1.recipient, '-t', 'one'], { CASSETTE_CACHE_DIR: cache })).snapshot;
    await makeTree(tree, 2);
    double = (await backupJson([tree, '--repo', repo.url, '--encrypt-to', key1.recipient, '--encrypt-to', key2.recipient, '-t', 'two'], { CASSETTE_CACHE_DIR: cache })).snapshot;
    treeOfDouble = path.join(base, 'tree-of-double');
    // cp -a keeps the directories' times too (fs.cp sets them before it fills them).
    execFileSync('cp', ['-a', tree, treeOfDouble]);
  });

  /** The stored record's public tags and its sealed record's tags (opened with key1). */
  async function tagsOf(id: string): Promise<{ public: string[]; sealed: string[]; record: CommitRecord; plain: CommitRecord }> {
    const stored = await record(repo, id);
    const plain = JSON.parse((await openObject(new Opener([key1.identity]), Buffer.from(stored.sealed!, 'base64'), 'sealed')).toString('utf8')) as CommitRecord;
    return { public: stored.tags, sealed: plain.tags, record: stored, plain };
  }

  it('without a key that opens the sealed record, or without every recipient, is refused with exit 6 and writes nothing', async () => {
    const before = await repo.get(`snapshots/${single}.json`);
    const none = await cli(repo, ['tag', single, '--add', 'x'], { CASSETTE_CACHE_DIR: path.join(work, 'encrypted', 'empty-cache') });
    expect(none.exitCode).toBe(6);
    expect(String(none.stderr)).toMatch(new RegExp(`^cassette: snapshot ${single} is encrypted to the key set age:[0-9a-f]{32}, and the keys given do not make it up`));
    const recipientOnly = await cli(repo, ['tag', single, '--add', 'x', '--encrypt-to', key1.recipient], { CASSETTE_CACHE_DIR: path.join(work, 'encrypted', 'empty-cache') });
    expect(recipientOnly.exitCode).toBe(6);
    expect(String(recipientOnly.stderr)).toMatch(/no key given opens its sealed record/);
    const oneOfTwo = await cli(repo, ['tag', double, '--add', 'x', '--identity', key1.file], admin);
    expect(oneOfTwo.exitCode).toBe(6);
    expect((await repo.get(`snapshots/${single}.json`)).equals(before)).toBe(true);
    expect((await tagsOf(double)).public).toEqual(['two']);
  });

  it('on the backup host, with public keys and its metadata cache, works and keeps the next backup incremental', async () => {
    const result = await cli(repo, ['tag', single, '--add', 'kept', '--encrypt-to', key1.recipient], { CASSETTE_CACHE_DIR: cache });
    expect(result.exitCode, String(result.stderr)).toBe(0);
    expect((await tagsOf(single)).sealed).toEqual(['one', 'kept']);
    expect((await tagsOf(single)).public).toEqual(['one', 'kept']);
    // The cache holds the new record: a backup with the public key alone still finds its parent there.
    await makeTree(tree, 3);
    const next = await backupJson([tree, '--repo', repo.url, '--encrypt-to', key1.recipient], { CASSETTE_CACHE_DIR: cache });
    expect(next.parents).toEqual([single]);
    expect(next.bytesReused).toBeGreaterThan(0);
  });
  it('with an identity rewrites the public and the sealed tags alike, and the snapshot still restores and verifies', async () => {
    const before = await tagsOf(single);
    const result = await cli(repo, ['tag', single, '--add', 'audited', '--identity', key1.file, '--json'], admin);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const after = await tagsOf(single);
    expect(after.public).toEqual(['one', 'kept', 'audited']);
    expect(after.sealed).toEqual(['one', 'kept', 'audited']);
    expect({ ...after.plain, tags: [] }).toEqual({ ...before.plain, tags: [] });
    expect({ ...after.record, tags: [], sealed: '' }).toEqual({ ...before.record, tags: [], sealed: '' });
    const verify = await cli(repo, ['verify', single, '--read-data', '--identity', key1.file], admin);
    expect(verify.exitCode, String(verify.stderr)).toBe(0);
    // Both recipients: one identity and the other public key.
    const two = await cli(repo, ['tag', double, '--set', 'both', '--identity', key1.file, '--encrypt-to', key2.recipient], admin);
    expect(two.exitCode, String(two.stderr)).toBe(0);
    expect((await tagsOf(double)).sealed).toEqual(['both']);
    // key2 alone still opens it: it was re-sealed to both.
    const plainBy2 = await openObject(new Opener([key2.identity]), Buffer.from((await record(repo, double)).sealed!, 'base64'), 'sealed');
    expect((JSON.parse(plainBy2.toString('utf8')) as CommitRecord).tags).toEqual(['both']);
    await expectRestores(repo, double, { source: tree, expected: treeOfDouble, target: path.join(work, 'encrypted', 'restore'), flags: ['--identity', key2.file], env: admin });
  });
});
