// cassette copy end to end (issue 17): an incremental snapshot copied alone brings the objects it reads from its parents; local→local, S3→S3 on one endpoint (server-side: no object byte through the client), S3→local (streamed), encrypted; an interrupted copy commits nothing and the next one finishes it; the target verifies and restores as the source.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySnapshots, planEncryption, type CopyReport } from '../../src/copy/copy.js';
import type { RepositoryRecord } from '../../src/crypto/repository-encryption.js';
import type { CommitRecord } from '../../src/format/types.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { cassette } from '../helpers/cli.js';
import { backupJson, expectRestores, generateKey, snapshotIds } from '../helpers/encryption.js';
import { FaultyStore } from '../helpers/faulty-store.js';
import { rawRepository, type RawRepository } from '../helpers/raw-repository.js';
import { createBucket, makeS3Store, s3Env, s3Server } from '../helpers/s3.js';

const s3rver = s3Server('s3rver');

let work = '';
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-copy-'));
});
afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** A tree with a 3 MiB file of varied bytes (several frames, reused by the next backups) and small files; `version` changes one. */
async function makeTree(root: string, version: number): Promise<void> {
  await fs.mkdir(path.join(root, 'sub'), { recursive: true });
  const big = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  await fs.writeFile(path.join(root, 'big.bin'), big);
  for (let i = 0; i < 5; i++) await fs.writeFile(path.join(root, 'sub', `f${i}.txt`), `file ${i}\n`.repeat(300 * (i + 1)));
  await fs.writeFile(path.join(root, 'changing.txt'), `version ${version}\n`.repeat(100));
}

/** Three backups of one tree into `repo` (a full one and two incremental ones): their ids, oldest first. */
async function chain(repo: RawRepository, tree: string, args: string[] = []): Promise<string[]> {
  const ids: string[] = [];
  for (let version = 1; version <= 3; version++) {
    await makeTree(tree, version);
    ids.push((await backupJson([tree, '--repo', repo.url, ...args], repo.env)).snapshot);
  }
  return ids;
}

async function copyJson(args: string[], env: Record<string, string> = {}): Promise<CopyReport> {
  const result = await cassette(['copy', ...args, '--json'], { env });
  expect(result.stderr, String(result.stdout)).toBe('');
  expect(result.exitCode).toBe(0);
  return JSON.parse(String(result.stdout)) as CopyReport;
}

async function recordOf(repo: RawRepository, id: string): Promise<CommitRecord> {
  return JSON.parse((await repo.get(`snapshots/${id}.json`)).toString('utf8')) as CommitRecord;
}

/** Keys (relative to the repository) of every object stored in it. */
async function keysOf(repo: RawRepository): Promise<string[]> {
  return [...(await repo.objects()).keys()].map((name) => name.slice(repo.prefix.length)).sort();
}

/** What a copy of `id` must bring: its own objects and the ones it references. */
function neededBy(record: CommitRecord): string[] {
  return record.artifacts.flatMap((a) => [...a.volumes.map((v) => v.key), a.index.key, ...(a.recipe ? [a.recipe.key] : []), ...(a.references ?? []).map((r) => r.key)]).sort();
}

async function expectVerifies(repo: RawRepository, id: string, flags: string[] = []): Promise<void> {
  const verify = await cassette(['verify', id, '--read-data', '--repo', repo.url, ...flags], { env: repo.env });
  expect(verify.exitCode, String(verify.stderr) + String(verify.stdout)).toBe(0);
}

describe('local → local', () => {
  let source: RawRepository;
  let target: RawRepository;
  let tree = '';
  let ids: string[] = [];

  beforeAll(async () => {
    source = await rawRepository({ name: 'file' }, path.join(work, 'local-source'));
    target = await rawRepository({ name: 'file' }, path.join(work, 'local-target'));
    tree = path.join(work, 'local-tree');
    ids = await chain(source, tree);
  });

  it('copies an incremental snapshot alone with the objects it reads from its parents; it verifies and restores', async () => {
    const record = await recordOf(source, ids[2]!);
    expect(record.artifacts[0]!.references?.length).toBeGreaterThan(0);
    const report = await copyJson([ids[2]!.slice(0, 20), '--repo', source.url, '--to', target.url]);
    expect(report.copied).toEqual([{ id: ids[2], objects: neededBy(record).length, bytes: expect.any(Number) as number }]);
    expect(report.streamed.objects).toBe(0);
    expect(report.serverSide.objects).toBe(neededBy(record).length);
    expect(await keysOf(target)).toEqual([...neededBy(record), `snapshots/${ids[2]!}.json`].sort());
    expect((await target.get(`snapshots/${ids[2]!}.json`)).equals(await source.get(`snapshots/${ids[2]!}.json`))).toBe(true);
    expect(await snapshotIds(target)).toEqual([ids[2]]);
    await expectVerifies(target, ids[2]!);
    await expectRestores(target, ids[2]!, { source: tree, target: path.join(work, 'local-restore') });
  });

  it('skips a snapshot the target has, and copies the others (with --host selecting latest)', async () => {
    const again = await copyJson(['latest', '--host', os.hostname(), '--repo', source.url, '--to', target.url]);
    expect(again.skipped).toEqual([{ id: ids[2], reason: 'the target has it' }]);
    expect(again.copied).toEqual([]);
    const rest = await copyJson([ids[0]!, ids[1]!, ids[2]!, '--repo', source.url, '--to', target.url]);
    expect(rest.copied.map((c) => c.id)).toEqual([ids[0], ids[1]]);
    // ids[1]'s references to ids[0]'s objects were copied with ids[2] already, or with ids[0] just before.
    expect(rest.present.objects).toBeGreaterThan(0);
    expect(await snapshotIds(target)).toEqual(ids);
    expect(await keysOf(target)).toEqual((await keysOf(source)).filter((k) => !k.startsWith('locks/')));
  });

  it('refuses without --to, and into the repository itself', async () => {
    const none = await cassette(['copy', 'latest', '--repo', source.url]);
    expect(none.exitCode).toBe(2);
    expect(String(none.stderr)).toBe('cassette: copy needs --to REPO, the repository to copy into\n');
    const self = await cassette(['copy', 'latest', '--repo', source.url, '--to', source.url]);
    expect(self.exitCode).toBe(2);
    expect(String(self.stderr)).toMatch(/^cassette: --to .* is the repository the snapshots are in/);
  });

  it('an interrupted copy commits nothing; the next one keeps what was copied and finishes', async () => {
    const dir = path.join(work, 'faulty-target');
    const record = await recordOf(source, ids[2]!);
    // Objects go in the record's order, one at a time: the volume and the index first, then the recipe, which fails.
    const recipe = record.artifacts[0]!.recipe!.key;
    const failing = new FaultyStore(new LocalStore(dir), { failPutAfter: { match: (key) => key === recipe, bytes: 0 } });
    await expect(copySnapshots({ source: new LocalStore(source.url.slice('file://'.length)), target: failing, refs: [ids[2]!], concurrency: 1 })).rejects.toThrow(
      /^copy of snapshot .* stopped, nothing committed there: .*injected storage failure/,
    );
    const faulty = await rawRepository({ name: 'file' }, dir);
    expect((await keysOf(faulty)).filter((k) => k.startsWith('snapshots/'))).toEqual([]);
    // Its lease is released: a prune of the target removes the rest once past the grace period.
    expect((await keysOf(faulty)).filter((k) => k.startsWith('locks/'))).toEqual([]);
    const before = (await keysOf(faulty)).length;
    expect(before).toBeGreaterThan(0);
    const report = await copySnapshots({ source: new LocalStore(source.url.slice('file://'.length)), target: new LocalStore(dir), refs: [ids[2]!] });
    expect(report.present.objects).toBe(before);
    expect(report.copied.map((c) => c.id)).toEqual([ids[2]]);
    await expectVerifies(faulty, ids[2]!);
  });
});

describe.runIf(s3rver)('S3', () => {
  const endpoint = s3rver?.endpoint ?? '';
  let source: RawRepository;
  let tree = '';
  let ids: string[] = [];

  beforeAll(async () => {
    source = await rawRepository(s3rver!, path.join(work, 'unused'));
    tree = path.join(work, 's3-tree');
    ids = await chain(source, tree);
  });

  /** Counts the GetObject requests a store's client sends, by key. */
  function countGets(store: S3Store): string[] {
    const keys: string[] = [];
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetObjectCommand') keys.push((args.input as { Key: string }).Key);
        return next(args);
      },
      { step: 'initialize', name: 'countGets' },
    );
    return keys;
  }

  it('to another bucket on the same endpoint: server-side, no object byte through the client', async () => {
    const targetBucket = await createBucket(endpoint, 'copy');
    const url = new URL(source.url);
    const from = makeS3Store(endpoint, url.host, source.prefix.replace(/\/$/, ''));
    const to = makeS3Store(endpoint, targetBucket, 'copied');
    const fromGets = countGets(from);
    const toGets = countGets(to);
    try {
      const report = await copySnapshots({ source: from, target: to, refs: [ids[2]!] });
      const needed = neededBy(await recordOf(source, ids[2]!));
      expect(report.serverSide.objects).toBe(needed.length);
      expect(report.streamed).toEqual({ objects: 0, bytes: 0 });
      // Only commit records and repository records were read (the counter counts them); no object under data/.
      expect(fromGets.some((key) => key.endsWith(`snapshots/${ids[2]!}.json`))).toBe(true);
      expect([...fromGets, ...toGets].filter((key) => key.includes('/data/') || key.startsWith('data/'))).toEqual([]);
    } finally {
      await Promise.all([from.close(), to.close()]);
    }
    // Through the CLI: the same endpoint for both gives server-side copies too.
    const target = `s3://${targetBucket}/cli`;
    const cli = await copyJson([ids[2]!, '--repo', source.url, '--to', target], s3Env(endpoint));
    expect(cli.streamed.objects).toBe(0);
    expect(cli.serverSide.objects).toBeGreaterThan(0);
    const copied = { ...source, url: target, prefix: 'cli/' };
    await expectVerifies(copied, ids[2]!);
    await expectRestores(copied, ids[2]!, { source: tree, target: path.join(work, 's3-restore') });
  });

  it('to a local directory: streamed, and it verifies and restores', async () => {
    const target = await rawRepository({ name: 'file' }, path.join(work, 's3-to-local'));
    const report = await copyJson([ids[2]!, ids[1]!, '--repo', source.url, '--to', target.url], s3Env(endpoint));
    expect(report.copied.map((c) => c.id)).toEqual([ids[1], ids[2]]);
    expect(report.serverSide.objects).toBe(0);
    expect(report.streamed.objects).toBeGreaterThan(0);
    await expectVerifies(target, ids[1]!);
    await expectVerifies(target, ids[2]!);
    await expectRestores(target, ids[2]!, { source: tree, target: path.join(work, 's3-local-restore') });
  });
});

describe('encrypted', () => {
  let source: RawRepository;
  let tree = '';
  let ids: string[] = [];
  let keyFile = '';
  const cache = (): Record<string, string> => ({ CASSETTE_CACHE_DIR: path.join(work, 'enc-cache') });

  beforeAll(async () => {
    const key = await generateKey(work, 'key.txt');
    keyFile = key.file;
    source = await rawRepository({ name: 'file' }, path.join(work, 'enc-source'));
    tree = path.join(work, 'enc-tree');
    ids = await chain(source, tree, ['--encrypt-to', key.recipient]);
    source.env = cache();
  });

  it('into an empty repository marks it encrypted; it restores and verifies with the identity', async () => {
    const target = await rawRepository({ name: 'file' }, path.join(work, 'enc-target'));
    target.env = cache();
    const report = await copyJson([ids[2]!, '--repo', source.url, '--to', target.url]);
    expect(report.markedEncrypted).toBe(true);
    expect((await target.get('repository.json')).equals(await source.get('repository.json'))).toBe(true);
    await expectVerifies(target, ids[2]!, ['--identity', keyFile]);
    await expectRestores(target, ids[2]!, { source: tree, target: path.join(work, 'enc-restore'), flags: ['--identity', keyFile] });
    // A backup without keys into the copy is refused, as in the source.
    const plain = await cassette(['backup', tree, '--repo', target.url], { env: cache() });
    expect(plain.exitCode).toBe(6);
  });

  it('refuses an encrypted snapshot into a repository of unencrypted ones, and an unencrypted one into an encrypted repository (exit 2, nothing written)', async () => {
    const plainRepo = await rawRepository({ name: 'file' }, path.join(work, 'plain-repo'));
    const plainTree = path.join(work, 'plain-tree');
    await makeTree(plainTree, 0);
    const plainId = (await backupJson([plainTree, '--repo', plainRepo.url])).snapshot;
    const before = await keysOf(plainRepo);
    const into = await cassette(['copy', ids[0]!, '--repo', source.url, '--to', plainRepo.url], { env: cache() });
    expect(into.exitCode).toBe(2);
    expect(String(into.stderr)).toBe(
      `cassette: snapshot ${ids[0]!} is encrypted and ${plainRepo.url} holds unencrypted snapshots: copy it into an empty or an encrypted repository\n`,
    );
    expect(await keysOf(plainRepo)).toEqual(before);
    const out = await cassette(['copy', plainId, '--repo', plainRepo.url, '--to', source.url], { env: cache() });
    expect(out.exitCode).toBe(2);
    expect(String(out.stderr)).toMatch(/is an encrypted repository and snapshot .* is not encrypted: copied as it is stored it would lie there in plain text/);
    expect(await snapshotIds(source)).toEqual(ids);
  });
});

describe('planEncryption', () => {
  const encryptedRepo: RepositoryRecord = { format: 'cassette-repository', version: 1, encryption: { scheme: 'age', since: '2026-11-30T00:00:00.000Z' } };
  const keyA = Buffer.from('passphrase key A');
  const keyB = Buffer.from('passphrase key B');
  const base = { sourceRecord: encryptedRepo, targetRecord: undefined, targetHasSnapshots: false, sourcePassphraseKey: undefined, targetPassphraseKey: undefined, target: 'T' };
  it.each([
    { what: 'plain into plain', input: { sourceRecord: undefined, targetHasSnapshots: true, encrypted: [], plain: ['p'] }, result: { markTarget: false } },
    { what: 'encrypted into empty: mark it', input: { encrypted: ['e'], plain: [] }, result: { markTarget: true } },
    { what: 'encrypted into encrypted', input: { targetRecord: encryptedRepo, targetHasSnapshots: true, encrypted: ['e'], plain: [] }, result: { markTarget: false } },
    { what: 'passphrase key into empty', input: { sourcePassphraseKey: keyA, encrypted: ['e'], plain: [] }, result: { markTarget: true } },
    {
      what: 'the same passphrase key',
      input: { targetRecord: encryptedRepo, sourcePassphraseKey: keyA, targetPassphraseKey: Buffer.from(keyA), encrypted: ['e'], plain: [] },
      result: { markTarget: false },
    },
    { what: 'plain into encrypted', input: { targetRecord: encryptedRepo, encrypted: [], plain: ['p'] }, error: /T is an encrypted repository and snapshot p is not encrypted/ },
    {
      what: 'encrypted into plain snapshots',
      input: { targetHasSnapshots: true, encrypted: ['e'], plain: [] },
      error: /snapshot e is encrypted and T holds unencrypted snapshots/,
    },
    { what: 'both kinds at once', input: { encrypted: ['e'], plain: ['p'] }, error: /snapshots e \(encrypted\) and p \(not encrypted\) cannot go into one repository/ },
    {
      what: 'another passphrase key',
      input: { targetRecord: encryptedRepo, sourcePassphraseKey: keyA, targetPassphraseKey: keyB, encrypted: ['e'], plain: [] },
      error: /does not share \(it has its own\)/,
    },
    { what: 'a passphrase key the target lacks', input: { targetRecord: encryptedRepo, sourcePassphraseKey: keyA, encrypted: ['e'], plain: [] }, error: /that T does not have/ },
  ])('$what', ({ input, result, error }) => {
    const run = (): unknown => planEncryption({ ...base, ...input });
    if (error) expect(run).toThrow(error);
    else expect(run()).toEqual(result);
  });
});
