// The order of snapshots and `latest` (docs/FORMAT.md §1): listing and resolving agree, on a real local repository.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareSnapshots, listSnapshots, resolveSnapshot } from '../src/repository.js';
import { LocalStore } from '../src/store/local-store.js';

type Stamp = [id: string, startedAt: string];

const ORDER_CASES: Array<{ name: string; oldestFirst: Stamp[] }> = [
  {
    name: 'different seconds: the id decides',
    oldestFirst: [['20261130T115959Z-ffffff', '2026-11-30T11:59:59.999Z'], ['20261130T120000Z-000000', '2026-11-30T12:00:00.001Z']],
  },
  {
    name: 'the same second: startedAt decides, whatever the random part',
    oldestFirst: [['20261130T120000Z-ffffff', '2026-11-30T12:00:00.100Z'], ['20261130T120000Z-000000', '2026-11-30T12:00:00.900Z']],
  },
  {
    name: 'the same second and startedAt: the id decides, in byte order',
    oldestFirst: [['20261130T120000Z-0a0000', '2026-11-30T12:00:00.500Z'], ['20261130T120000Z-a00000', '2026-11-30T12:00:00.500Z']],
  },
  {
    // The id is made before the pre-backup hook, startedAt after it: a 3-minute hook.
    name: 'a startedAt later than the next snapshot\'s does not move a snapshot past a later id second',
    oldestFirst: [['20261130T115900Z-aaaaaa', '2026-11-30T12:02:00.000Z'], ['20261130T120000Z-bbbbbb', '2026-11-30T12:00:00.400Z']],
  },
  {
    name: 'startedAt is compared as a time, not as text',
    oldestFirst: [['20261130T120000Z-bbbbbb', '2026-11-30T12:00:00Z'], ['20261130T120000Z-aaaaaa', '2026-11-30T12:00:00.500Z']],
  },
  {
    name: 'a startedAt that does not parse ties: the id decides',
    oldestFirst: [['20261130T120000Z-111111', '2026-11-30T12:00:00.900Z'], ['20261130T120000Z-222222', 'not a time']],
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
      const record = { format: 'cassette-snapshot', version: 1, id, host: 'h', tags: [], startedAt, finishedAt: startedAt, cassetteVersion: 'test', compressionLevel: 3, artifacts: [] };
      await fs.writeFile(path.join(dir, 'snapshots', `${id}.json`), JSON.stringify(record));
    }
    const store = new LocalStore(dir);
    const ids = oldestFirst.map(([id]) => id);
    expect([...oldestFirst].reverse().map(([id, startedAt]) => ({ id, startedAt })).sort(compareSnapshots).map((r) => r.id)).toEqual(ids);
    expect((await listSnapshots(store)).map((r) => r.id)).toEqual(ids);
    expect((await resolveSnapshot(store, 'latest')).id).toBe(ids.at(-1));
  });
});
