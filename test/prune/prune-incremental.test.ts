// prune of version-2 snapshots on a directory (hand-built, and written by the real backup): objects of removed snapshots that kept ones reference stay (and stay restorable), everything else goes, a later prune's leftover pass removes nothing still referenced, and a running backup's parents stay.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompress } from 'zstd-napi';
import { prune, type PruneReport } from '../../src/prune/prune.js';
import { restoreRecord } from '../../src/restore/restore.js';
import { backup } from '../../src/backup/backup.js';
import { leaseRecord } from '../../src/backup/lease.js';
import { commitKey, leaseKey, listSnapshotIds } from '../../src/repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { verifySnapshot } from '../../src/verify.js';
import { humanBytes } from '../../src/cli/render.js';
import type { CommitRecord } from '../../src/format/types.js';
import { cassette, PROJECT_ROOT } from '../helpers/cli.js';
import { buildChain, buildRepo, chainTree, type HandBuiltMember, type HandBuiltRepo } from '../helpers/hand-built-repo.js';
import { pattern } from '../helpers/pattern.js';

const KiB = 1024;
const S1 = '20261201T010000Z-a00001';
const S2 = '20261202T010000Z-a00002';
const S3 = '20261203T010000Z-a00003';
const S4 = '20261204T010000Z-a00004';
const at = (id: string): string => `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T01:00:00.000Z`;
const vol = (id: string): string => `data/${id}/etc.tar.zst`;
const idx = (id: string): string => `data/${id}/etc.idx.zst`;
const rcp = (id: string): string => `data/${id}/etc.recipe`;

const BIG = pattern(300 * KiB, 1);
const tree = (b: Buffer, c: string): HandBuiltMember[] => chainTree(b, c, BIG);

let work: string;
let repos = 0;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-prune-v2-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function keys(store: ObjectStore, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const object of store.list(prefix)) out.push(object.key);
  return out.sort();
}

interface Chain {
  dir: string;
  store: LocalStore;
  s1: HandBuiltRepo;
  s2: HandBuiltRepo;
  s3: HandBuiltRepo;
}

/** S1 full, S2 and S3 incremental (hand-built-repo.ts buildChain); S3's `b` is as given. */
async function chain(s3b: Buffer): Promise<Chain> {
  const dir = path.join(work, `repo-${++repos}`);
  const [s1, s2, s3] = await buildChain(dir, { ids: [S1, S2, S3], big: BIG, b: [pattern(100 * KiB, 2), pattern(100 * KiB, 3), s3b] });
  return { dir, store: new LocalStore(dir), s1, s2, s3 };
}

/** The artifact's tar stream read as FORMAT.md §7 says a stock-tools reader does: the recipe's byte ranges, concatenated, decompressed. */
async function tarByRecipe(dir: string, repo: HandBuiltRepo): Promise<Buffer> {
  const recipe = await fs.readFile(path.join(dir, repo.record.artifacts[0]!.recipe!.key), 'ascii');
  const parts: Buffer[] = [];
  for (const line of recipe.split('\n').filter(Boolean)) {
    const [key, first, last] = line.split(' ');
    const bytes = await fs.readFile(path.join(dir, key!));
    parts.push(bytes.subarray(Number(first), Number(last) + 1));
  }
  return decompress(Buffer.concat(parts));
}

/** Restores S3 with the real restore engine: every file has the content that was backed up. */
async function expectRestorable(c: Chain): Promise<void> {
  const target = path.join(work, `restore-${++repos}`);
  await restoreRecord(c.s3.record, { store: c.store, snapshot: c.s3.id, target });
  const files = c.s3.entries.filter((e) => e.type === 'file');
  expect(files.map((e) => e.path)).toEqual(['big', 'b', 'c']);
  for (const entry of files) {
    const restored = await fs.readFile(path.join(target, 'etc', entry.path));
    expect({ path: entry.path, sha256: createHash('sha256').update(restored).digest('hex') }).toEqual({ path: entry.path, sha256: entry.sha256 });
  }
}

const removedIds = (report: PruneReport): string[] => report.removed.map((r) => r.id);

describe('prune of incremental snapshots (three snapshots, the 2nd and 3rd referencing the 1st)', () => {
  it('the hand-built chain references what the scenario needs', async () => {
    const c = await chain(pattern(100 * KiB, 3));
    expect(c.s2.record.artifacts[0]!.references!.map((r) => r.key)).toEqual([vol(S1)]);
    expect(c.s3.record.artifacts[0]!.references!.map((r) => r.key)).toEqual([vol(S1), vol(S2)]);
    expect(c.s3.record.artifacts[0]!.reusedFrames).toBeGreaterThan(4);
    expect(await tarByRecipe(c.dir, c.s3)).toEqual(c.s3.tar);
    for (const repo of [c.s1, c.s2, c.s3]) expect((await verifySnapshot({ store: c.store, record: repo.record, readData: true })).problems).toEqual([]);
  });

  it('--keep-last 1 when S3 reads frames of S1 and S2: their volumes stay whole, their indexes, recipes and commit records go', async () => {
    const c = await chain(pattern(100 * KiB, 3));
    const s3refs = c.s3.record.artifacts[0]!.references!;
    const bytesOf = (key: string): number => s3refs.find((r) => r.key === key)!.bytes;
    const sizeOf = async (key: string): Promise<number> => (await fs.stat(path.join(c.dir, key))).size;

    const dry = await cassette(['prune', '--keep-last', '1', '--dry-run', '--json', '--repo', c.dir]);
    expect(dry.exitCode).toBe(0);
    const planned = JSON.parse(dry.stdout as string) as PruneReport;
    expect(planned.removed).toEqual([
      {
        id: S2,
        objects: 3,
        bytes: (await sizeOf(idx(S2))) + (await sizeOf(rcp(S2))),
        keptObjects: 1,
        keptBytes: await sizeOf(vol(S2)),
        keptUsedBytes: bytesOf(vol(S2)),
        kept: [{ key: vol(S2), size: await sizeOf(vol(S2)), usedBytes: bytesOf(vol(S2)), referencedBy: [S3] }],
      },
      // S2 reads the same four frames of S1's volume as S3: in use is the larger of the two, the same.
      {
        id: S1,
        objects: 3,
        bytes: (await sizeOf(idx(S1))) + (await sizeOf(rcp(S1))),
        keptObjects: 1,
        keptBytes: await sizeOf(vol(S1)),
        keptUsedBytes: bytesOf(vol(S1)),
        kept: [{ key: vol(S1), size: await sizeOf(vol(S1)), usedBytes: bytesOf(vol(S1)), referencedBy: [S3] }],
      },
    ]);
    // Part of each kept volume is dead weight: S2's frame with the old `c`, S1's frames of the old `b` and `c`.
    for (const r of planned.removed) expect(r.keptUsedBytes).toBeLessThan(r.keptBytes);
    expect(await listSnapshotIds(c.store)).toEqual([S1, S2, S3]);

    const real = await cassette(['prune', '--keep-last', '1', '--repo', c.dir]);
    expect(real.exitCode).toBe(0);
    expect(real.stdout).toMatch(new RegExp(`^removed ${S1}  3 objects, .*; kept 1 object, .*, referenced by ${S3} \\(.* of it in use\\)$`, 'm'));
    expect(real.stdout).toMatch(new RegExp(`^removed ${S2}  3 objects, .*; kept 1 object, .*, referenced by ${S3} \\(.* of it in use\\)$`, 'm'));
    expect(real.stdout).toMatch(/of removed snapshots' data kept for the snapshots that reference it\n$/);
    expect(await keys(c.store)).toEqual([vol(S1), vol(S2), rcp(S3), idx(S3), vol(S3), commitKey(S3)].sort());
    expect(await tarByRecipe(c.dir, c.s3)).toEqual(c.s3.tar);
    expect((await verifySnapshot({ store: c.store, record: c.s3.record, readData: true })).problems).toEqual([]);
    await expectRestorable(c);

    // A later prune (leftovers judged at once): data/S1/ and data/S2/ have no commit record, but S3 names
    // what is in them. A stray object beside S1's volume is not named: it, alone, goes.
    await c.store.put(`data/${S1}/etc.tar.zst.part`, Buffer.from('an upload that never finished'));
    const later = await prune({ store: c.store, policy: { keepLast: 1 }, graceMs: 0 });
    expect(removedIds(later)).toEqual([]);
    expect(later.leftovers).toEqual([
      expect.objectContaining({ id: S1, objects: 1, bytes: 29, keptObjects: 1, kept: [expect.objectContaining({ key: vol(S1), referencedBy: [S3] })] }),
    ]);
    expect(later.referenced).toEqual([expect.objectContaining({ id: S2, keptObjects: 1, kept: [expect.objectContaining({ key: vol(S2), referencedBy: [S3] })] })]);
    expect(await keys(c.store)).toEqual([vol(S1), vol(S2), rcp(S3), idx(S3), vol(S3), commitKey(S3)].sort());
    expect((await verifySnapshot({ store: c.store, record: c.s3.record, readData: true })).problems).toEqual([]);
    const text = await cassette(['prune', '--keep-last', '1', '--grace-hours', '0', '--repo', c.dir]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain(`keep    ${S1}  no commit record: kept 1 object`);
    expect(text.stdout).toContain(`keep    ${S2}  no commit record: kept 1 object`);
    expect(await keys(c.store)).toEqual([vol(S1), vol(S2), rcp(S3), idx(S3), vol(S3), commitKey(S3)].sort());
    await expectRestorable(c);
  });

  it('--keep-last 1 when S3 reads frames of S1 only: S2 goes whole, S1 keeps its volume', async () => {
    const c = await chain(pattern(100 * KiB, 4));
    expect(c.s3.record.artifacts[0]!.references!.map((r) => r.key)).toEqual([vol(S1)]);
    const report = await prune({ store: c.store, policy: { keepLast: 1 } });
    expect(removedIds(report)).toEqual([S2, S1]);
    expect(report.removed[0]).toEqual(expect.objectContaining({ id: S2, objects: 4, keptObjects: 0, kept: [] }));
    expect(report.removed[1]).toEqual(expect.objectContaining({ id: S1, objects: 3, keptObjects: 1 }));
    expect(await keys(c.store)).toEqual([vol(S1), rcp(S3), idx(S3), vol(S3), commitKey(S3)].sort());
    expect(await tarByRecipe(c.dir, c.s3)).toEqual(c.s3.tar);
    expect((await verifySnapshot({ store: c.store, record: c.s3.record, readData: true })).problems).toEqual([]);
    const later = await prune({ store: c.store, policy: { keepLast: 1 }, graceMs: 0 });
    expect(later.leftovers).toEqual([]);
    expect(later.referenced.map((r) => r.id)).toEqual([S1]);
    expect(await keys(c.store)).toEqual([vol(S1), rcp(S3), idx(S3), vol(S3), commitKey(S3)].sort());
  });

  it('once S3 goes too, what it kept goes with it', async () => {
    const c = await chain(pattern(100 * KiB, 3));
    await prune({ store: c.store, policy: { keepLast: 1 } });
    // A new full snapshot that references nothing; S3 is pruned: S1's and S2's volumes are now unreferenced leftovers.
    const s4 = await buildRepo(c.dir, tree(pattern(100 * KiB, 9), 'c4\n'), { id: S4, artifact: 'etc', version: 2, startedAt: at(S4) });
    const report = await prune({ store: c.store, policy: { keepLast: 1 }, graceMs: 0 });
    expect(removedIds(report)).toEqual([S3]);
    expect(report.removed[0]).toEqual(expect.objectContaining({ objects: 4, keptObjects: 0 }));
    // The leftover pass sees S1's and S2's volumes named by no snapshot that stays: they go now.
    expect(report.leftovers.map((l) => [l.id, l.objects, l.keptObjects])).toEqual([
      [S1, 1, 0],
      [S2, 1, 0],
    ]);
    expect(await keys(c.store)).toEqual([rcp(S4), idx(S4), vol(S4), commitKey(S4)].sort());
    expect((await verifySnapshot({ store: c.store, record: s4.record, readData: true })).problems).toEqual([]);
  });

  it('keeps the objects named by a snapshot committed while prune runs', async () => {
    // S3 reads S1's volume only; S4, committed after prune listed the snapshots, also reads S2's volume.
    const c = await chain(pattern(100 * KiB, 4));
    const s4 = await buildRepo(c.dir, tree(pattern(100 * KiB, 3), 'c4\n'), { id: S4, artifact: 'etc', parent: c.s2, startedAt: at(S4) });
    expect(s4.record.artifacts[0]!.references!.map((r) => r.key).sort()).toEqual([vol(S1), vol(S2)]);
    const s4commit = await fs.readFile(path.join(c.dir, commitKey(S4)));
    await fs.rm(path.join(c.dir, commitKey(S4)));
    /** Commits S4 when prune deletes the first commit records: after its listing, before any data goes. */
    class BackupCommitsDuringPrune extends LocalStore {
      committed = false;
      override async delete(keysToDelete: string[]): Promise<void> {
        await super.delete(keysToDelete);
        if (!this.committed && keysToDelete.some((key) => key.startsWith('snapshots/'))) {
          this.committed = true;
          await this.put(commitKey(S4), s4commit);
        }
      }
    }
    const store = new BackupCommitsDuringPrune(c.dir);
    const report = await prune({ store, policy: { keepLast: 1 } });
    expect(store.committed).toBe(true);
    expect(removedIds(report)).toEqual([S2, S1]);
    expect(report.removed[0]).toEqual(expect.objectContaining({ id: S2, objects: 3, keptObjects: 1, kept: [expect.objectContaining({ key: vol(S2), referencedBy: [S4] })] }));
    expect(await keys(c.store)).toEqual([vol(S1), vol(S2), rcp(S3), idx(S3), vol(S3), commitKey(S3), rcp(S4), idx(S4), vol(S4), commitKey(S4)].sort());
    expect((await verifySnapshot({ store, record: s4.record, readData: true })).problems).toEqual([]);
  });

  it('keeps a snapshot a running backup reuses, whole, while its lease is fresh, and removes it once the lease is gone', async () => {
    // A backup of S4 is running with S2 as its parent: it reuses S2's frames, in S2's volume and (through S2) in S1's.
    const c = await chain(pattern(100 * KiB, 4));
    const lease = leaseRecord({ id: S4, host: 'db1', pid: 42, started: new Date(), refreshed: new Date(), refreshMs: 300_000, ttlMs: 1_800_000, parents: [S2] });
    await c.store.put(leaseKey(S4), Buffer.from(JSON.stringify(lease)));
    await c.store.put(`data/${S4}/etc.idx.zst`, Buffer.from('the running backup wrote its index already'));
    const everything = await keys(c.store);
    const report = await prune({ store: c.store, policy: { keepLast: 1 }, graceMs: 0 });
    expect(report.kept).toEqual([
      { id: S3, reasons: ['last 1'] },
      { id: S2, reasons: [`reused by running backup ${S4}`] },
    ]);
    expect(removedIds(report)).toEqual([S1]);
    // S1's volume stays for S2 and S3; its index and recipe go; S2 is whole; the running backup's data stays.
    expect(report.removed[0]).toEqual(expect.objectContaining({ objects: 3, kept: [expect.objectContaining({ key: vol(S1), referencedBy: [S2, S3] })] }));
    expect(report.leased.map((l) => l.id)).toEqual([S4]);
    expect(await keys(c.store)).toEqual(everything.filter((key) => ![commitKey(S1), idx(S1), rcp(S1)].includes(key)));
    const text = await cassette(['prune', '--keep-last', '1', '--dry-run', '--repo', c.dir]);
    expect(text.stdout).toContain(`keep    ${S2}  (reused by running backup ${S4})\n`);

    // The backup failed and removed its data and lease: S2 goes, and S1's volume is now S3's alone.
    await c.store.delete([leaseKey(S4), `data/${S4}/etc.idx.zst`]);
    const after = await prune({ store: c.store, policy: { keepLast: 1 }, graceMs: 0 });
    expect(removedIds(after)).toEqual([S2]);
    expect(after.referenced).toEqual([expect.objectContaining({ id: S1, kept: [expect.objectContaining({ key: vol(S1), referencedBy: [S3] })] })]);
    expect(await keys(c.store)).toEqual([vol(S1), rcp(S3), idx(S3), vol(S3), commitKey(S3)].sort());
  });

  it('keeps what is left of a parent without a commit record while a running backup reuses it', async () => {
    // An earlier prune (or another tool) removed S2's commit record; a backup whose lease names S2 is still running.
    const c = await chain(pattern(100 * KiB, 4));
    await c.store.delete([commitKey(S2)]);
    const lease = leaseRecord({ id: S4, host: 'db1', pid: 42, started: new Date(), refreshed: new Date(), refreshMs: 300_000, ttlMs: 1_800_000, parents: [S2] });
    await c.store.put(leaseKey(S4), Buffer.from(JSON.stringify(lease)));
    const report = await prune({ store: c.store, policy: { keepLast: 1 }, graceMs: 0 });
    expect(report.leftovers).toEqual([]);
    expect(report.referenced).toEqual([
      expect.objectContaining({ id: S2, keptObjects: 3, kept: [vol(S2), idx(S2), rcp(S2)].sort().map((key): unknown => expect.objectContaining({ key, referencedBy: [S4] })) }),
    ]);
    expect(await keys(c.store, `data/${S2}/`)).toEqual([vol(S2), idx(S2), rcp(S2)].sort());
  });

  it('with the real backup: three incremental backups, --keep-last 1 keeps what the newest reads, and it restores and verifies', async () => {
    const dir = path.join(work, `real-${++repos}`);
    const source = path.join(dir, 'source');
    await fs.mkdir(path.join(source, 'sub'), { recursive: true });
    for (let i = 0; i < 20; i++) await fs.writeFile(path.join(source, 'sub', `f${i}`), pattern(20 * KiB + i * KiB, i + 1));
    await fs.writeFile(path.join(source, 'big'), pattern(5 * 1024 * KiB, 99));
    const store = new LocalStore(path.join(dir, 'repo'));
    const run = async () => (await backup({ store, sources: [{ kind: 'tree', path: source, name: 'tree' }] })).record;
    const first = await run();
    await fs.appendFile(path.join(source, 'sub', 'f3'), 'changed\n');
    const second = await run();
    await fs.writeFile(path.join(source, 'sub', 'new'), 'new\n');
    const third = await run();
    expect(third.artifacts[0]!.parent).toBe(second.id);
    const referenced = (third.artifacts[0]!.references ?? []).map((r) => r.key);
    expect(referenced).toContain(first.artifacts[0]!.volumes[0]!.key);
    for (const record of [first, second, third]) expect((await verifySnapshot({ store, record, readData: true })).problems).toEqual([]);

    const report = await prune({ store, policy: { keepLast: 1 } });
    expect(removedIds(report)).toEqual([second.id, first.id]);
    const left = await keys(store, 'data/');
    // What the newest reads stays; nothing of the removed snapshots that it does not read.
    expect(left.filter((key) => !key.startsWith(`data/${third.id}/`)).sort()).toEqual([...referenced].sort());
    expect(report.removed.flatMap((r) => r.kept.map((k) => k.key)).sort()).toEqual([...referenced].sort());
    expect((await verifySnapshot({ store, record: third, readData: true })).problems).toEqual([]);
    const target = path.join(dir, 'restored');
    await restoreRecord(third, { store, snapshot: third.id, target });
    for (const name of ['big', 'sub/f3', 'sub/new', 'sub/f19'])
      expect((await fs.readFile(path.join(target, 'tree', name))).equals(await fs.readFile(path.join(source, name)))).toBe(true);
    expect((await prune({ store, policy: { keepLast: 1 }, graceMs: 0 })).leftovers).toEqual([]);
    expect(await keys(store, 'data/')).toEqual(left);
  });
});

describe('snapshots lists what each snapshot stored and reused', () => {
  it('new and reused bytes and frames per artifact and per snapshot, and 0 / - for version 1', async () => {
    const c = await chain(pattern(100 * KiB, 3));
    // The version-1 fixture's snapshot beside the chain.
    await fs.cp(path.join(PROJECT_ROOT, 'test/fixtures/v1/repo'), c.dir, { recursive: true });
    const V1 = '20261130T160330Z-668030';
    const listed = await cassette(['snapshots', '--json', '--repo', c.dir]);
    expect(listed.exitCode).toBe(0);
    const rows = (JSON.parse(listed.stdout as string) as { snapshots: Array<Record<string, unknown> & { id: string; artifacts: Array<Record<string, unknown>> }> }).snapshots;
    expect(rows.map((r) => r.id)).toEqual([V1, S1, S2, S3]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const v1 = JSON.parse(await fs.readFile(path.join(c.dir, commitKey(V1)), 'utf8')) as CommitRecord;
    expect(byId.get(V1)!.artifacts.map((a) => [a.storedBytes, a.reusedBytes, a.newFrames, a.reusedFrames, a.parent])).toEqual(
      v1.artifacts.map((a) => [a.storedBytes, 0, a.frameCount, 0, null]),
    );
    expect(byId.get(V1)).toEqual(expect.objectContaining({ version: 1, reusedBytes: 0, reusedFrames: 0, storedBytes: v1.artifacts.reduce((s, a) => s + a.storedBytes, 0) }));
    for (const repo of [c.s1, c.s2, c.s3]) {
      const a = repo.record.artifacts[0]!;
      const reused = (a.references ?? []).reduce((s, r) => s + r.bytes, 0);
      expect(reused).toBe(a.reusedBytes);
      const expected = { storedBytes: a.storedBytes, reusedBytes: reused, newFrames: a.newFrames, reusedFrames: a.reusedFrames };
      expect(byId.get(repo.id)!.artifacts).toEqual([expect.objectContaining({ name: 'etc', ...expected, parent: a.parent ?? null })]);
      expect(byId.get(repo.id)).toEqual(expect.objectContaining({ version: 2, ...expected, bytesStored: a.storedBytes }));
    }
    expect(byId.get(S1)!.reusedBytes).toBe(0);
    expect(byId.get(S3)!.reusedBytes).toBeGreaterThan(0);

    const text = await cassette(['snapshots', '--repo', c.dir]);
    const lines = (text.stdout as string).split('\n');
    expect(lines[0]).toMatch(/ READ +STORED +REUSED +RATIO /);
    const column = (id: string): string => {
      const line = lines.find((l) => l.startsWith(id))!;
      // The REUSED column ends where the header's REUSED does.
      const end = lines[0]!.indexOf('REUSED') + 'REUSED'.length;
      return line.slice(end - 8, end).trim();
    };
    expect(column(V1)).toBe('-');
    expect(column(S1)).toBe('0 B');
    expect(column(S3)).toBe(humanBytes(c.s3.record.artifacts[0]!.reusedBytes!));
  });
});
