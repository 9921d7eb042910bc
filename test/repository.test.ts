// The order of snapshots and `latest` (docs/FORMAT.md §1): listing and resolving agree, on a real local repository; commit records naming objects outside their snapshot are refused.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCassetteError } from '../src/errors.js';
import type { CommitRecord } from '../src/format/types.js';
import { commitKey, compareSnapshots, listSnapshots, parseCommitRecord, resolveSnapshot, unsafeCommitRecord } from '../src/repository.js';
import { LocalStore } from '../src/store/local-store.js';

type Stamp = [id: string, startedAt: string];

const ORDER_CASES: Array<{ name: string; oldestFirst: Stamp[] }> = [
  {
    name: 'different seconds: the id decides',
    oldestFirst: [
      ['20261130T115959Z-ffffff', '2026-11-30T11:59:59.999Z'],
      ['20261130T120000Z-000000', '2026-11-30T12:00:00.001Z'],
    ],
  },
  {
    name: 'the same second: startedAt decides, whatever the random part',
    oldestFirst: [
      ['20261130T120000Z-ffffff', '2026-11-30T12:00:00.100Z'],
      ['20261130T120000Z-000000', '2026-11-30T12:00:00.900Z'],
    ],
  },
  {
    name: 'the same second and startedAt: the id decides, in byte order',
    oldestFirst: [
      ['20261130T120000Z-0a0000', '2026-11-30T12:00:00.500Z'],
      ['20261130T120000Z-a00000', '2026-11-30T12:00:00.500Z'],
    ],
  },
  {
    // The id is made before the pre-backup hook, startedAt after it: a 3-minute hook.
    name: "a startedAt later than the next snapshot's does not move a snapshot past a later id second",
    oldestFirst: [
      ['20261130T115900Z-aaaaaa', '2026-11-30T12:02:00.000Z'],
      ['20261130T120000Z-bbbbbb', '2026-11-30T12:00:00.400Z'],
    ],
  },
  {
    name: 'startedAt is compared as a time, not as text',
    oldestFirst: [
      ['20261130T120000Z-bbbbbb', '2026-11-30T12:00:00Z'],
      ['20261130T120000Z-aaaaaa', '2026-11-30T12:00:00.500Z'],
    ],
  },
  {
    name: 'a startedAt that does not parse ties: the id decides',
    oldestFirst: [
      ['20261130T120000Z-111111', '2026-11-30T12:00:00.900Z'],
      ['20261130T120000Z-222222', 'not a time'],
    ],
  },
];

describe('the order of snapshots', () => {
  let work: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-order-'));
  });

  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it.each(ORDER_CASES)('$name', async ({ name, oldestFirst }) => {
    const dir = path.join(work, name.replace(/[^a-z]+/g, '-'));
    await fs.mkdir(path.join(dir, 'snapshots'), { recursive: true });
    for (const [id, startedAt] of oldestFirst) {
      const record = {
        format: 'cassette-snapshot',
        version: 1,
        id,
        host: 'h',
        tags: [],
        startedAt,
        finishedAt: startedAt,
        cassetteVersion: 'test',
        compressionLevel: 3,
        artifacts: [],
      };
      await fs.writeFile(path.join(dir, 'snapshots', `${id}.json`), JSON.stringify(record));
    }
    const store = new LocalStore(dir);
    const ids = oldestFirst.map(([id]) => id);
    expect(
      [...oldestFirst]
        .reverse()
        .map(([id, startedAt]) => ({ id, startedAt }))
        .sort(compareSnapshots)
        .map((r) => r.id),
    ).toEqual(ids);
    expect((await listSnapshots(store)).map((r) => r.id)).toEqual(ids);
    expect((await resolveSnapshot(store, 'latest')).id).toBe(ids.at(-1));
  });
});

describe('commit records naming objects outside their snapshot', () => {
  const ID = '20261130T120000Z-abcdef';
  const OTHER = '20261129T120000Z-123456';
  /** A record of snapshot ID with one artifact whose volume key (and index key) are given. */
  const record = (volumeKey: unknown, indexKey: unknown = `data/${ID}/etc.idx.zst`, id: unknown = ID): CommitRecord => ({
    format: 'cassette-snapshot',
    version: 1,
    id: id as string,
    host: 'h',
    tags: [],
    startedAt: '2026-11-30T12:00:00Z',
    finishedAt: '2026-11-30T12:00:01Z',
    cassetteVersion: 'test',
    compressionLevel: 3,
    artifacts: [
      {
        name: 'etc',
        kind: 'tree',
        source: '/etc',
        volumes: [{ key: volumeKey as string, size: 1, sha256: '0'.repeat(64), frames: 1 }],
        index: { key: indexKey as string, size: 1 },
        bytesRead: 0,
        tarBytes: 0,
        storedBytes: 1,
        frameCount: 1,
        entryCount: 0,
        warnings: [],
        warningCount: 0,
      },
    ],
  });

  it.each([
    `data/${ID}/etc.tar.zst`,
    `data/${ID}/etc.vol2.tar.zst`,
    `data/${ID}/pg-inventory.tar.zst`,
    `data/${ID}/nested/part.tar.zst`,
    `data/${ID}/name with spaces and \\ backslash.tar.zst`,
    `data/${ID}/..hidden.tar.zst`,
  ])('accepts %j', (key) => {
    expect(unsafeCommitRecord(record(key), commitKey(ID))).toBeUndefined();
  });

  it.each<[string, CommitRecord, string, RegExp]>([
    [
      'a volume key with ..',
      record(`data/${ID}/../../escape`),
      commitKey(ID),
      /names the object "data\/20261130T120000Z-abcdef\/..\/..\/escape", which is not a key under data\/20261130T120000Z-abcdef\//,
    ],
    ['a volume key that is ../x', record('../x'), commitKey(ID), /"\.\.\/x", which is not a key under/],
    ['an absolute volume key', record('/etc/passwd'), commitKey(ID), /"\/etc\/passwd"/],
    ['a volume key of another snapshot', record(`data/${OTHER}/etc.tar.zst`), commitKey(ID), /not a key under data\/20261130T120000Z-abcdef\//],
    ['a volume key that is the prefix itself', record(`data/${ID}/`), commitKey(ID), /not a key under/],
    ['a volume key with an empty segment', record(`data/${ID}//etc.tar.zst`), commitKey(ID), /not a key under/],
    ['a volume key with a . segment', record(`data/${ID}/./etc.tar.zst`), commitKey(ID), /not a key under/],
    ['a volume key with a control character', record(`data/${ID}/etc\n.tar.zst`), commitKey(ID), /not a key under/],
    ['a volume key that only starts like the prefix', record(`data/${ID}x/etc.tar.zst`), commitKey(ID), /not a key under/],
    ['an index key under snapshots/', record(`data/${ID}/etc.tar.zst`, commitKey(OTHER)), commitKey(ID), /"snapshots\/20261129T120000Z-123456\.json"/],
    ['a volume without a key', record(undefined), commitKey(ID), /an object without a key/],
    ['an index key that is a number', record(`data/${ID}/etc.tar.zst`, 7), commitKey(ID), /an object without a key/],
    ['an id that is not a snapshot id', record('../x', undefined, '../../x'), 'snapshots/../../x.json', /its id "\.\.\/\.\.\/x" is not a snapshot id/],
    [
      "an id that is another snapshot's",
      record(`data/${OTHER}/etc.tar.zst`, `data/${OTHER}/etc.idx.zst`, OTHER),
      commitKey(ID),
      /names snapshot 20261129T120000Z-123456, not the one of its key/,
    ],
  ])('refuses %s', (_what, hostile, key, reason) => {
    expect(unsafeCommitRecord(hostile, key)).toMatch(reason);
    let error: unknown;
    try {
      parseCommitRecord(Buffer.from(JSON.stringify(hostile)), key);
    } catch (e) {
      error = e;
    }
    expect(isCassetteError(error, 'E_INTEGRITY'), String(error)).toBe(true);
    expect((error as Error).message).toContain(`commit record ${key} is refused: `);
  });

  it('refuses an artifact without a list of volumes', () => {
    const hostile = { ...record(`data/${ID}/etc.tar.zst`), artifacts: [{ name: 'etc' }] } as unknown as CommitRecord;
    expect(unsafeCommitRecord(hostile, commitKey(ID))).toBe('artifact "etc" has no list of volumes');
  });
});
