import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { chooseParents, compareWalkOrder, ParentArtifact } from '../../src/backup/parent.js';
import { walk } from '../../src/backup/walk.js';
import type { ArtifactRecord, CommitRecord } from '../../src/format/types.js';
import { LocalStore } from '../../src/store/local-store.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('compareWalkOrder: the order of paths in a tree tar', () => {
  it.each([
    ['a', 'a/b', -1],
    ['a/b', 'a-b', -1], // bytes would say '-' (0x2d) < '/' (0x2f); the walk emits a/ and all below it first
    ['a/b', 'a!', -1],
    ['a/z', 'b', -1],
    ['a/b/c', 'a/b', 1],
    ['a', 'a', 0],
    ['dir/\xff', 'dir/\x7f', 1],
    ['', 'a', -1],
  ])('%j vs %j → %i', (x, y, sign) => {
    expect(Math.sign(compareWalkOrder(b(x), b(y)))).toBe(sign);
    expect(Math.sign(compareWalkOrder(b(y), b(x)))).toBe(-sign || 0);
  });

  it('agrees with the walk of a real tree whose names sort differently as whole paths', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-order-'));
    try {
      for (const dir of ['a', 'a-b', 'a.c', 'a/x', 'a0']) await fs.mkdir(path.join(root, dir), { recursive: true });
      for (const file of ['a/x/1', 'a/!', 'a-b/2', 'a.c/3', 'a0/4', 'z']) await fs.writeFile(path.join(root, file), file);
      const walked: Buffer[] = [];
      for await (const item of walk({ root })) walked.push(item.pathBytes ?? Buffer.from(item.path));
      const sorted = [...walked].sort(compareWalkOrder);
      expect(sorted.map(String)).toEqual(walked.map(String));
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

type Identity = Pick<ArtifactRecord, 'name' | 'kind' | 'source'>;

function record(id: string, fields: Omit<Partial<CommitRecord>, 'artifacts'> & { artifacts: Identity[] }): CommitRecord {
  const artifacts = fields.artifacts.map((a) => ({ ...a }) as ArtifactRecord);
  return {
    format: 'cassette-snapshot',
    version: 2,
    id,
    host: 'h1',
    tags: [],
    startedAt: '2026-11-30T00:00:00Z',
    finishedAt: '2026-11-30T00:00:01Z',
    cassetteVersion: 't',
    compressionLevel: 3,
    ...fields,
    artifacts,
  };
}

describe('chooseParents: the newest suitable snapshot per artifact', () => {
  const etc = { name: 'etc', kind: 'tree' as const, source: '/etc' };
  const db = { name: 'pg-x', kind: 'database' as const, source: 'x' };
  const records = [
    record('20261101T000000Z-000001', { artifacts: [etc, db] }),
    record('20261102T000000Z-000002', { artifacts: [etc] }),
    record('20261103T000000Z-000003', { host: 'other', artifacts: [etc, db] }),
    record('20261104T000000Z-000004', { compressionLevel: 9, artifacts: [etc, db] }),
    record('20261105T000000Z-000005', { version: 1, artifacts: [etc, db] }),
    record('20261106T000000Z-000006', { artifacts: [{ ...etc, source: '/srv/etc' }] }),
  ];
  it.each([
    ['etc: the newest of the same host, level, version and source', etc, '20261102T000000Z-000002'],
    ['pg-x: the newest that has it', db, '20261101T000000Z-000001'],
    ['an artifact no snapshot has: none', { name: 'new', kind: 'tree' as const, source: '/new' }, undefined],
  ])('%s', (_, wanted, expected) => {
    expect(chooseParents(records, { host: 'h1', level: 3 }, [wanted]).get(wanted.name)?.record.id).toBe(expected);
  });
  it('another host, another level or only version 1: none', () => {
    expect(chooseParents(records, { host: 'h2', level: 3 }, [etc]).size).toBe(0);
    expect(chooseParents(records.slice(4, 5), { host: 'h1', level: 3 }, [etc]).size).toBe(0);
  });
  it('encryption: only snapshots encrypted to the same recipients, never a sealed record, never across plain and encrypted', () => {
    const a = { scheme: 'age' as const, recipients: 'age:aaaa' };
    const b = { scheme: 'age' as const, recipients: 'age:bbbb' };
    const mixed = [
      record('20261101T000000Z-000001', { artifacts: [etc] }),
      record('20261102T000000Z-000002', { version: 3, encryption: a, artifacts: [etc] }),
      record('20261103T000000Z-000003', { version: 3, encryption: b, artifacts: [etc] }),
      record('20261104T000000Z-000004', { version: 3, encryption: a, sealed: 'x', artifacts: [etc] }),
    ];
    expect(chooseParents(mixed, { host: 'h1', level: 3 }, [etc]).get('etc')?.record.id).toBe('20261101T000000Z-000001');
    expect(chooseParents(mixed, { host: 'h1', level: 3, encryption: 'age:aaaa' }, [etc]).get('etc')?.record.id).toBe('20261102T000000Z-000002');
    expect(chooseParents(mixed, { host: 'h1', level: 3, encryption: 'age:bbbb' }, [etc]).get('etc')?.record.id).toBe('20261103T000000Z-000003');
    expect(chooseParents(mixed, { host: 'h1', level: 3, encryption: 'age:cccc' }, [etc]).size).toBe(0);
  });
});

describe('ParentArtifact: streaming the parent index in walk order', () => {
  let work: string;
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-parent-'));
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('finds the entry of every path asked in walk order, and none for new paths, without holding the index', async () => {
    const root = path.join(work, 'tree');
    await fs.mkdir(path.join(root, 'a/b'), { recursive: true });
    await fs.mkdir(path.join(root, 'a-b'));
    for (const f of ['a/b/1', 'a/2', 'a-b/3', 'z']) await fs.writeFile(path.join(root, f), f);
    const store = new LocalStore(path.join(work, 'repo'));
    const { record: first } = await backup({ store, sources: [{ kind: 'tree', path: root, name: 'tree' }], threads: 1 });
    const parent = await ParentArtifact.open(store, first, first.artifacts[0]!);
    try {
      const asked = ['a', 'a/0-new', 'a/2', 'a/b', 'a/b/1', 'a-b', 'a-b/3', 'y-new', 'z', 'zz-new'];
      const found: Array<[string, string | undefined]> = [];
      for (const p of asked) found.push([p, (await parent.entryFor(Buffer.from(p)))?.path]);
      expect(found).toEqual(asked.map((p) => [p, p.endsWith('-new') ? undefined : p]));
      // Every frame is findable by its digest and by its tar offset.
      const frameTable = [...parent.digests()];
      expect(frameTable.length).toBeGreaterThan(0);
      for (const digest of frameTable) {
        const frame = parent.byContent(digest)!;
        expect(frame.record.sha256).toBe(digest);
        expect(parent.frameStartingAt(frame.record.tarOffset)).toBe(frame.record.frame);
      }
    } finally {
      parent.close();
    }
  });
});
