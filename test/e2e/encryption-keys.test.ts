// Keys of an encrypted repository over time, through the built CLI: incremental backups with the public key only (the metadata cache), without the cache (full) or with an identity instead; key rotation (a new chain; old snapshots need the old identity); prune and `snapshots` without keys; the passphrase mode. On a directory and on Ceph RGW.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cassette } from '../helpers/cli.js';
import { AGE_HEADER, backupJson, exists, expectRestores, generateKey, makeSmallTree, snapshotIds, workDir, type AgeKey, type BackupSummary } from '../helpers/encryption.js';
import { rawRepository, type RawRepository, type RepositoryTarget } from '../helpers/raw-repository.js';
import { s3Server } from '../helpers/s3.js';

// Many CLI runs and scrypt: on a directory and on RGW (started always under CI).
const rgw = s3Server('rgw');
const targets: RepositoryTarget[] = [{ name: 'file' }, ...(rgw ? [rgw] : [])];

interface Listed {
  id: string;
  artifacts: Array<{ name: string; source: string }>;
}

describe.each(targets)('backups over time with public keys, a key rotation and a prune on $name', (target) => {
  const work = workDir('rotation');
  let tree: string;
  /** The tree as the first two backups saw it (cp -a, before the change). */
  let before: string;
  let repo: RawRepository;
  let oldKey: AgeKey;
  let newKey: AgeKey;
  /** This block's own metadata cache: the backup host's, kept between backups. */
  let cache: Record<string, string>;
  const ids: Record<string, BackupSummary> = {};
  const backup = async (name: string, flags: string[], env: Record<string, string> = cache): Promise<BackupSummary> => {
    ids[name] = await backupJson([tree, ...flags, '--repo', repo.url], { ...repo.env, ...env });
    return ids[name];
  };
  const emptyCache = async (name: string): Promise<Record<string, string>> => {
    const dir = path.join(work(), name);
    await fs.mkdir(dir);
    return { CASSETTE_CACHE_DIR: dir };
  };
  const listed = async (flags: string[]): Promise<Listed[]> => {
    const result = await cassette(['snapshots', '--json', '--repo', repo.url, ...flags], { env: repo.env });
    expect(result.exitCode).toBe(0);
    return (JSON.parse(String(result.stdout)) as { snapshots: Listed[] }).snapshots;
  };

  beforeAll(async () => {
    tree = path.join(work(), 'tree');
    await makeSmallTree(tree);
    repo = await rawRepository(target, path.join(work(), 'repo'));
    oldKey = await generateKey(work(), 'old.txt');
    newKey = await generateKey(work(), 'new.txt');
    cache = await emptyCache('cache');
  });

  it('a second backup given only the public key reuses the first one’s frames (the metadata cache stands in for the identity)', async () => {
    const first = await backup('first', ['--encrypt-to', oldKey.recipient]);
    expect(first.parents).toEqual([]);
    before = path.join(work(), 'before');
    execFileSync('cp', ['-a', tree, before]);
    await fs.appendFile(path.join(tree, 'dir1/f3.txt'), 'one more line\n');
    const second = await backup('second', ['--encrypt-to', oldKey.recipient]);
    expect(second.parents).toEqual([first.snapshot]);
    expect(second.bytesReused).toBeGreaterThan(4 * 1024 * 1024);
    expect(second.bytesStored).toBeLessThan(64 * 1024);
    expect(second.bytesRead).toBeLessThan(second.bytesReused);
    // The cache holds this host's metadata (commit records, indexes, recipes), readable by its owner only, and never an archive.
    const cached = (await fs.readdir(cache.CASSETTE_CACHE_DIR!, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
    expect(cached.filter((f) => f.endsWith(`${second.snapshot}.json`))).toHaveLength(1);
    expect(cached.filter((f) => f.endsWith('.idx.zst')).length).toBeGreaterThan(0);
    expect(cached.filter((f) => f.endsWith('.tar.zst'))).toEqual([]);
    for (const file of cached) expect((await fs.stat(file)).mode & 0o777, file).toBe(0o600);
  });

  it('with an empty cache and no identity the backup is full; with an empty cache and --identity it is incremental again', async () => {
    const full = await backup('full', ['--encrypt-to', oldKey.recipient], await emptyCache('empty-1'));
    expect(full.parents).toEqual([]);
    expect(full.bytesReused).toBe(0);
    expect(full.bytesStored).toBeGreaterThan(4 * 1024 * 1024);
    const opened = await backup('opened', ['--encrypt-to', oldKey.recipient, '--identity', oldKey.file], await emptyCache('empty-2'));
    expect(opened.parents).toEqual([full.snapshot]);
    expect(opened.bytesReused).toBeGreaterThan(4 * 1024 * 1024);
    expect(opened.bytesStored).toBe(0);
  });

  it('after a key rotation no frame is reused across recipient sets, even with the old identity given; the new chain reuses its own', async () => {
    const recipients = path.join(work(), 'recipients.txt');
    await fs.writeFile(recipients, `# the new key, from ${newKey.file}\n${newKey.recipient}\n`);
    const rotated = await backup('rotated', ['--encrypt-to-file', recipients, '--identity', oldKey.file]);
    expect(rotated.parents).toEqual([]);
    expect(rotated.bytesReused).toBe(0);
    await fs.appendFile(path.join(tree, 'dir2/f5.txt'), 'changed after the rotation\n');
    const next = await backup('next', ['--encrypt-to-file', recipients]);
    expect(next.parents).toEqual([rotated.snapshot]);
    expect(next.bytesReused).toBeGreaterThan(4 * 1024 * 1024);
  });

  it('an old snapshot restores only with the old identity; with both identities every snapshot restores', async () => {
    const newOnly = path.join(work(), 'new-only');
    const refused = await cassette(['restore', ids.first!.snapshot, '--target', newOnly, '--repo', repo.url, '--identity', newKey.file], { env: repo.env });
    expect(refused.exitCode).toBe(6);
    expect(refused.stderr).toContain(`snapshot ${ids.first!.snapshot} is encrypted to other keys`);
    expect(await exists(newOnly)).toBe(false);
    const oldOnly = await cassette(['restore', ids.next!.snapshot, '--target', path.join(work(), 'old-only'), '--repo', repo.url, '--identity', oldKey.file], { env: repo.env });
    expect(oldOnly.exitCode).toBe(6);
    const both = ['--identity', oldKey.file, '--identity', newKey.file];
    await expectRestores(repo, ids.first!.snapshot, { source: tree, expected: before, target: path.join(work(), 'both-first'), flags: both });
    await expectRestores(repo, ids.next!.snapshot, { source: tree, target: path.join(work(), 'both-next'), flags: both });
    await expectRestores(repo, ids.first!.snapshot, { source: tree, expected: before, target: path.join(work(), 'old-first'), flags: ['--identity', oldKey.file] });
  });

  it('snapshots lists every snapshot without a key (artifact a1, no source), and the real names of those the identities open', async () => {
    const order = ['first', 'second', 'full', 'opened', 'rotated', 'next'];
    const name = tree.slice(1).replace(/\//g, '-');
    const shown = (rows: Listed[]): string[][] => rows.map((r) => r.artifacts.map((a) => `${a.name} ${a.source}`));
    const none = await listed([]);
    expect(none.map((r) => r.id)).toEqual(order.map((o) => ids[o]!.snapshot));
    expect(shown(none)).toEqual(order.map(() => ['a1 ']));
    expect(shown(await listed(['--identity', newKey.file]))).toEqual(order.map((o) => [o === 'rotated' || o === 'next' ? `${name} ${tree}` : 'a1 ']));
    expect(shown(await listed(['--identity', oldKey.file, '--identity', newKey.file]))).toEqual(order.map(() => [`${name} ${tree}`]));
  });

  it('prune --keep-last 1 works without a key and leaves the kept snapshot restorable and verified with its identity', async () => {
    const kept = ids.next!.snapshot;
    const pruned = await cassette(['prune', '--keep-last', '1', '--repo', repo.url], { env: repo.env });
    expect(pruned.stderr).toBe('');
    expect(pruned.exitCode).toBe(0);
    expect(pruned.stdout).toContain(`keep    ${kept}  (last 1)`);
    expect(pruned.stdout).toContain('1 kept, 5 removed');
    expect(await snapshotIds(repo)).toEqual([kept]);
    // Only the kept snapshot's objects and the archive of its parent, which it reads frames from, are left under data/.
    const data = [...(await repo.objects()).keys()].filter((k) => k.startsWith(`${repo.prefix}data/`)).sort();
    expect(data).toEqual(
      [`data/${ids.rotated!.snapshot}/a1.tar.zst`, ...['a1.idx.zst', 'a1.recipe', 'a1.tar.zst'].map((n) => `data/${kept}/${n}`)].map((k) => repo.prefix + k).sort(),
    );
    await expectRestores(repo, kept, { source: tree, target: path.join(work(), 'after-prune'), flags: ['--identity', newKey.file] });
    const verified = await cassette(['verify', kept, '--read-data', '--repo', repo.url, '--identity', newKey.file], { env: repo.env });
    expect(verified.stdout).toMatch(/: OK\n$/);
    expect(verified.exitCode).toBe(0);
  });
});

describe.each(targets)('the passphrase mode on $name', (target) => {
  const work = workDir('passphrase');
  let tree: string;
  let repo: RawRepository;
  let backup: BackupSummary;
  const PASSPHRASE = 'correct horse battery staple';

  beforeAll(async () => {
    tree = path.join(work(), 'tree');
    await makeSmallTree(tree);
    repo = await rawRepository(target, path.join(work(), 'repo'));
    backup = await backupJson([tree, '--repo', repo.url], { ...repo.env, CASSETTE_PASSPHRASE: PASSPHRASE });
  });

  it("stores the repository's key in keys/passphrase.age, an age object with one scrypt stanza, and the snapshot encrypted to it", async () => {
    const stored = await repo.get('keys/passphrase.age');
    const lines = stored.toString('latin1').split('\n');
    expect(`${lines[0]}\n`).toBe(AGE_HEADER.toString());
    expect(lines[1]).toMatch(/^-> scrypt [A-Za-z0-9+/]{22} \d+$/);
    expect(lines[2]).toMatch(/^[A-Za-z0-9+/]{43}$/);
    expect(lines[3]).toMatch(/^--- [A-Za-z0-9+/]{43}$/);
    expect(stored.includes('AGE-SECRET-KEY-1')).toBe(false);
    expect(JSON.parse((await repo.get('repository.json')).toString())).toMatchObject({ encryption: { scheme: 'age' } });
    const archive = await repo.get(`data/${backup.snapshot}/a1.tar.zst`);
    expect(archive.toString('latin1')).toMatch(/^age-encryption\.org\/v1\n-> X25519 /);
  });

  it('restores with the passphrase from CASSETTE_PASSPHRASE and from --passphrase-file', async () => {
    await expectRestores(repo, backup.snapshot, { source: tree, target: path.join(work(), 'env'), env: { CASSETTE_PASSPHRASE: PASSPHRASE } });
    const file = path.join(work(), 'passphrase.txt');
    await fs.writeFile(file, `${PASSPHRASE}\n`, { mode: 0o600 });
    await expectRestores(repo, backup.snapshot, { source: tree, target: path.join(work(), 'file'), flags: ['--passphrase-file', file] });
  });

  it('prune leaves the passphrase key and repository.json alone', async () => {
    const digests = async (): Promise<Record<string, string>> =>
      Object.fromEntries([...(await repo.objects())].map(([key, bytes]) => [key, createHash('sha256').update(bytes).digest('hex')]));
    const before = await digests();
    expect(Object.keys(before)).toContain(`${repo.prefix}keys/passphrase.age`);
    const pruned = await cassette(['prune', '--keep-last', '1', '--grace-hours', '0', '--repo', repo.url], { env: repo.env });
    expect(pruned.exitCode).toBe(0);
    expect(await digests()).toEqual(before);
  });

  it('a wrong passphrase or none exits 6, an empty one 2, and nothing is written', async () => {
    const wrong = path.join(work(), 'wrong');
    const result = await cassette(['restore', backup.snapshot, '--target', wrong, '--repo', repo.url], { env: { ...repo.env, CASSETTE_PASSPHRASE: `${PASSPHRASE}!` } });
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain("the passphrase does not open the repository's key (keys/passphrase.age): wrong passphrase");
    expect(await exists(wrong)).toBe(false);
    const none = path.join(work(), 'none');
    const without = await cassette(['restore', backup.snapshot, '--target', none, '--repo', repo.url], { env: repo.env });
    expect(without.exitCode).toBe(6);
    expect(without.stderr).toContain('CASSETTE_PASSPHRASE');
    expect(await exists(none)).toBe(false);
    const empty = await cassette(['restore', backup.snapshot, '--target', none, '--repo', repo.url], { env: { ...repo.env, CASSETTE_PASSPHRASE: '' } });
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toContain('the passphrase is empty (CASSETTE_PASSPHRASE)');
    expect(await exists(none)).toBe(false);
  });
});

describe('a passphrase where it does not belong, and a lost passphrase key (a directory)', () => {
  const work = workDir('passphrase-rules');
  const PASSPHRASE = 'a stray passphrase left in the environment';
  let tree: string;
  let key: AgeKey;

  beforeAll(async () => {
    tree = path.join(work(), 'tree');
    await makeSmallTree(tree);
    key = await generateKey(work(), 'key.txt');
  });

  it('CASSETTE_PASSPHRASE left set: a backup with --encrypt-to is refused (exit 2) and makes no passphrase key; a restore with --identity ignores it', async () => {
    const repo = path.join(work(), 'public-keys');
    const refused = await cassette(['backup', tree, '--repo', repo, '--encrypt-to', key.recipient], { env: { CASSETTE_PASSPHRASE: PASSPHRASE } });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('unset CASSETTE_PASSPHRASE, or give --passphrase-file FILE');
    expect(await exists(path.join(repo, 'keys', 'passphrase.age'))).toBe(false);
    const stored = await backupJson([tree, '--repo', repo, '--encrypt-to', key.recipient]);
    const target = path.join(work(), 'restored');
    const restored = await cassette(['restore', stored.snapshot, '--target', target, '--repo', repo, '--identity', key.file], { env: { CASSETTE_PASSPHRASE: PASSPHRASE } });
    expect(restored.exitCode, restored.stderr as string).toBe(0);
  });

  it('keys/passphrase.age lost: the next passphrase backup is refused (exit 6) instead of making a new key that would orphan the older snapshots', async () => {
    const repo = path.join(work(), 'passphrase');
    await backupJson([tree, '--repo', repo], { CASSETTE_PASSPHRASE: PASSPHRASE });
    expect(JSON.parse(await fs.readFile(path.join(repo, 'repository.json'), 'utf8'))).toMatchObject({ encryption: { passphrase: true } });
    await fs.rm(path.join(repo, 'keys', 'passphrase.age'));
    const refused = await cassette(['backup', tree, '--repo', repo], { env: { CASSETTE_PASSPHRASE: PASSPHRASE } });
    expect(refused.exitCode).toBe(6);
    expect(refused.stderr).toContain('its key keys/passphrase.age is missing');
    expect(await exists(path.join(repo, 'keys', 'passphrase.age'))).toBe(false);
  });
});
