// Encrypted repositories through the built CLI, what goes wrong: a missing or wrong identity (exit 6, nothing written), bad key flags (exit 2), damaged or cut ciphertext (exit 5), and backups of the other kind refused by the repository's marking unless --allow-mixed-encryption; on a directory and on Ceph RGW.

import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cassette } from '../helpers/cli.js';
import { AGE_HEADER, backupJson, exists, expectRestores, generateKey, makeSmallTree, snapshotIds, workDir, ZSTD_MAGIC, type AgeKey } from '../helpers/encryption.js';
import { rawRepository, type RawRepository, type RepositoryTarget } from '../helpers/raw-repository.js';
import { s3Server } from '../helpers/s3.js';

// Cheap checks, but many CLI runs: on a directory and on RGW (started always under CI).
const rgw = s3Server('rgw');
const targets: RepositoryTarget[] = [{ name: 'file' }, ...(rgw ? [rgw] : [])];

describe.each(targets)('keys that do not open an encrypted repository on $name', (target) => {
  const work = workDir('keys');
  let tree: string;
  let repo: RawRepository;
  let key: AgeKey;
  let other: AgeKey;
  let id: string;

  beforeAll(async () => {
    tree = path.join(work(), 'tree');
    await makeSmallTree(tree);
    repo = await rawRepository(target, path.join(work(), 'repo'));
    key = await generateKey(work(), 'key.txt');
    other = await generateKey(work(), 'other.txt');
    id = (await backupJson([tree, '--encrypt-to', key.recipient, '--repo', repo.url], repo.env)).snapshot;
  });

  it('without an identity, restore, ls and verify exit 6, say what to pass, and write nothing', async () => {
    const target = path.join(work(), 'none');
    const restore = await cassette(['restore', id, '--target', target, '--repo', repo.url], { env: repo.env });
    expect(restore.exitCode).toBe(6);
    expect(restore.stderr).toContain('--identity FILE');
    expect(restore.stderr).toContain('CASSETTE_IDENTITY');
    expect(await exists(target)).toBe(false);
    const stdout = await cassette(['restore', id, '--include', '**/random.bin', '--stdout', '--repo', repo.url], { env: repo.env, binary: true });
    expect(stdout.exitCode).toBe(6);
    expect(stdout.stdout).toHaveLength(0);
    for (const command of [
      ['ls', id],
      ['verify', id, '--read-data'],
    ]) {
      const result = await cassette([...command, '--repo', repo.url], { env: repo.env });
      expect(result.exitCode, command[0]).toBe(6);
      expect(result.stdout, command[0]).toBe('');
      expect(result.stderr, command[0]).toContain('--identity FILE');
    }
  });

  it('with the wrong identity, restore exits 6 and writes nothing (--identity and CASSETTE_IDENTITY)', async () => {
    const target = path.join(work(), 'wrong');
    const restore = await cassette(['restore', id, '--target', target, '--repo', repo.url, '--identity', other.file], { env: repo.env });
    expect(restore.exitCode).toBe(6);
    expect(restore.stderr).toContain('encrypted to other keys');
    expect(restore.stderr).toContain(`--identity ${other.file}`);
    expect(await exists(target)).toBe(false);
    const stdout = await cassette(['restore', id, '--include', '**/random.bin', '--stdout', '--repo', repo.url], {
      env: { ...repo.env, CASSETTE_IDENTITY: other.file },
      binary: true,
    });
    expect(stdout.exitCode).toBe(6);
    expect(stdout.stdout).toHaveLength(0);
    expect(Buffer.from(stdout.stderr as unknown as Uint8Array).toString()).toContain(`CASSETTE_IDENTITY=${other.file}`);
  });

  it('a public key or a missing file as identity, a recipient that is not one, or key generate onto an existing file exits 2 with a clear message, and changes nothing', async () => {
    const publicFile = path.join(work(), 'public.txt');
    await fs.writeFile(publicFile, `# a recipients file\n${key.recipient}\n`);
    const restore = await cassette(['restore', id, '--target', path.join(work(), 'public'), '--repo', repo.url, '--identity', publicFile], { env: repo.env });
    expect(restore.exitCode).toBe(2);
    expect(restore.stderr).toContain(`${publicFile} line 1 is a public key (age1…): reading needs the secret identity file (AGE-SECRET-KEY-1…)`);
    expect(await exists(path.join(work(), 'public'))).toBe(false);
    const missing = await cassette(['ls', id, '--repo', repo.url, '--identity', path.join(work(), 'missing.txt')], { env: repo.env });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('cannot read the identity file');
    // key generate never overwrites a file: it may hold the key that old snapshots need.
    const before = await fs.readFile(key.file, 'utf8');
    const again = await cassette(['key', 'generate', '-o', key.file]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain(`${key.file} already exists`);
    expect(await fs.readFile(key.file, 'utf8')).toBe(before);
    const cases: Array<[string[], string]> = [
      [['--encrypt-to', 'notakey'], '--encrypt-to: "notakey" is not an age recipient'],
      [['--encrypt-to', key.identity], 'this is a secret identity, not a recipient'],
      [['--encrypt-to', key.recipient.slice(0, -1)], 'is not an age X25519 recipient'],
      [['--encrypt-to-file', path.join(work(), 'missing.txt')], 'cannot read the recipients file'],
    ];
    for (const [flags, message] of cases) {
      const result = await cassette(['backup', tree, '--repo', repo.url, ...flags], { env: repo.env });
      expect(result.exitCode, flags.join(' ')).toBe(2);
      expect(result.stderr, flags.join(' ')).toContain(message);
    }
    expect(await snapshotIds(repo)).toEqual([id]);
  });

  it('a flipped byte in the middle of the archive, or its last 100 bytes cut: restore and verify --read-data exit 5 naming the object', async () => {
    const archive = `data/${id}/a1.tar.zst`;
    const original = await repo.get(archive);
    // 5 MiB of random bytes: the archive has 80 or more age chunks of 64 KiB.
    expect(original.length).toBeGreaterThan(5 * 1024 * 1024);
    const flipped = Buffer.from(original);
    flipped[flipped.length >> 1]! ^= 0x01;
    for (const [label, damaged] of [
      ['flipped', flipped],
      ['cut', original.subarray(0, original.length - 100)],
    ] as const) {
      await repo.put(archive, damaged);
      const restore = await cassette(['restore', id, '--target', path.join(work(), label), '--repo', repo.url, '--identity', key.file], { env: repo.env });
      expect(restore.exitCode, `${label}: ${String(restore.stderr)}`).toBe(5);
      expect(restore.stderr, label).toContain(archive);
      const verify = await cassette(['verify', id, '--read-data', '--repo', repo.url, '--identity', key.file], { env: repo.env });
      expect(verify.exitCode, label).toBe(5);
      expect(verify.stderr, label).toContain(`(${archive})`);
      expect(verify.stdout, label).toMatch(/\d+ problems?\n$/);
    }
    // The damage was the cause: the original bytes verify.
    await repo.put(archive, original);
    const verify = await cassette(['verify', id, '--read-data', '--repo', repo.url, '--identity', key.file], { env: repo.env });
    expect(verify.stdout).toMatch(/: OK\n$/);
    expect(verify.exitCode).toBe(0);
  });
});

describe.each(targets)("the repository's marking on $name", (target) => {
  const work = workDir('marking');
  let tree: string;
  let key: AgeKey;

  beforeAll(async () => {
    tree = path.join(work(), 'tree');
    await makeSmallTree(tree);
    key = await generateKey(work(), 'key.txt');
  });

  it('refuses a backup without keys into an encrypted repository (exit 6, naming --encrypt-to) unless --allow-mixed-encryption; both snapshots restore', async () => {
    const repo = await rawRepository(target, path.join(work(), 'encrypted-first'));
    const encrypted = await backupJson([tree, '--encrypt-to', key.recipient, '--repo', repo.url], repo.env);
    const refused = await cassette(['backup', tree, '--repo', repo.url], { env: repo.env });
    expect(refused.exitCode).toBe(6);
    expect(refused.stderr).toContain('is encrypted');
    expect(refused.stderr).toContain('--encrypt-to age1…');
    expect(refused.stderr).toContain('--allow-mixed-encryption');
    expect(await snapshotIds(repo, ['--identity', key.file])).toEqual([encrypted.snapshot]);

    const plain = await backupJson([tree, '--allow-mixed-encryption', '--repo', repo.url], repo.env);
    expect(plain.parents).toEqual([]);
    // Stored as asked: in plain text, under the name of its path.
    const plainArchive = await repo.get(`data/${plain.snapshot}/${tree.slice(1).replace(/\//g, '-')}.tar.zst`);
    expect(plainArchive.subarray(0, 4).equals(ZSTD_MAGIC)).toBe(true);
    expect((await repo.get(`data/${encrypted.snapshot}/a1.tar.zst`)).subarray(0, AGE_HEADER.length).equals(AGE_HEADER)).toBe(true);
    expect(await snapshotIds(repo, ['--identity', key.file])).toEqual([encrypted.snapshot, plain.snapshot]);
    await expectRestores(repo, encrypted.snapshot, { source: tree, target: path.join(work(), 'a-encrypted'), flags: ['--identity', key.file] });
    await expectRestores(repo, plain.snapshot, { source: tree, target: path.join(work(), 'a-plain') });
    await expectRestores(repo, plain.snapshot, { source: tree, target: path.join(work(), 'a-plain-identity'), flags: ['--identity', key.file] });
  });

  it('refuses an encrypted backup into a repository with plain snapshots (exit 2) unless --allow-mixed-encryption; then it is marked encrypted', async () => {
    const repo = await rawRepository(target, path.join(work(), 'plain-first'));
    const plain = await backupJson([tree, '--repo', repo.url], repo.env);
    const refused = await cassette(['backup', tree, '--encrypt-to', key.recipient, '--repo', repo.url], { env: repo.env });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`holds unencrypted snapshots (snapshots/${plain.snapshot}.json…)`);
    expect(refused.stderr).toContain('--allow-mixed-encryption');
    expect([...(await repo.objects()).keys()].filter((k) => k.endsWith('repository.json'))).toEqual([]);
    expect(await snapshotIds(repo)).toEqual([plain.snapshot]);

    const encrypted = await backupJson([tree, '--encrypt-to', key.recipient, '--allow-mixed-encryption', '--repo', repo.url], repo.env);
    expect(encrypted.parents).toEqual([]);
    expect(JSON.parse((await repo.get('repository.json')).toString())).toMatchObject({ format: 'cassette-repository', version: 1, encryption: { scheme: 'age' } });
    await expectRestores(repo, encrypted.snapshot, { source: tree, target: path.join(work(), 'b-encrypted'), flags: ['--identity', key.file] });
    await expectRestores(repo, plain.snapshot, { source: tree, target: path.join(work(), 'b-plain') });
    // From now on a backup without keys is refused here too.
    const after = await cassette(['backup', tree, '--repo', repo.url], { env: repo.env });
    expect(after.exitCode).toBe(6);
  });
});
