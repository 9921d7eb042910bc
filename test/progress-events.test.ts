// The engines' progress events tell the truth: a restore's planning pass totals exactly what it then writes and downloads, its written bytes grow to that total (never start there), and a backup's uploaded bytes reach what it handed to the store.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../src/backup/backup.js';
import type { CommitRecord } from '../src/format/types.js';
import type { ProgressEvent } from '../src/progress.js';
import { estimateRestore } from '../src/restore/estimate.js';
import { restoreRecord } from '../src/restore/restore.js';
import { LocalStore } from '../src/store/local-store.js';

const MiB = 1024 * 1024;
let work: string;
let store: LocalStore;
let record: CommitRecord;
const backupEvents: ProgressEvent[] = [];

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-progress-events-'));
  const source = path.join(work, 'source');
  await fs.mkdir(path.join(source, 'logs'), { recursive: true });
  await fs.mkdir(path.join(source, 'data'), { recursive: true });
  for (let i = 0; i < 4; i++) await fs.writeFile(path.join(source, 'data', `blob-${i}.bin`), randomBytes(3 * MiB));
  for (let i = 0; i < 50; i++) await fs.writeFile(path.join(source, 'logs', `day-${i}.log`), `line ${i}\n`.repeat(100 + i));
  await fs.writeFile(path.join(source, 'empty'), '');
  store = new LocalStore(path.join(work, 'repo'));
  record = (await backup({ store, sources: [{ kind: 'tree', path: source, name: 'site' }], progress: { event: (e) => backupEvents.push(e) } })).record;
});

afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('backup progress events', () => {
  it('the uploaded bytes reach the bytes handed to the store, and the last counters say everything was read', () => {
    const bytes = backupEvents.filter((e) => e.type === 'bytes');
    const last = bytes.at(-1)!;
    expect(last.allRead).toBe(true);
    expect(last.bytesRead).toBe(record.artifacts[0]!.bytesRead);
    expect(last.bytesStored).toBeGreaterThan(12 * MiB);
    expect(last.bytesUploaded).toBe(last.bytesStored);
    for (const event of bytes) expect(event.bytesUploaded).toBeLessThanOrEqual(event.bytesStored);
    expect(backupEvents.filter((e) => e.type === 'phase').map((e) => e.phase)).toEqual(['scanning', 'backing up', 'committing']);
  });

  it('one entry-stored event per entry of the index', () => {
    const stored = backupEvents.filter((e) => e.type === 'entry-stored');
    expect(stored).toHaveLength(record.artifacts[0]!.entryCount);
    expect(stored.filter((e) => e.entryType === 'file')).toHaveLength(55);
  });
});

describe('restore progress events', () => {
  it.each([
    { name: 'everything', include: undefined, exclude: undefined },
    { name: 'the logs only', include: ['site/logs'], exclude: undefined },
    { name: 'all but two blobs', include: undefined, exclude: ['site/data/blob-[12].bin'] },
  ])('the planning pass totals $name exactly as the restore then counts it', async ({ include, exclude }) => {
    const events: ProgressEvent[] = [];
    const summary = await restoreRecord(record, {
      store,
      snapshot: record.id,
      target: await fs.mkdtemp(path.join(work, 'restore-')),
      include,
      exclude,
      estimateTotal: true,
      progress: { event: (e) => events.push(e) },
    });
    const start = events.find((e) => e.type === 'restore-start');
    expect(start).toEqual({ type: 'restore-start', snapshot: record.id, entries: summary.entries, bytes: summary.bytes, downloadBytes: summary.downloadBytes });
    expect(await estimateRestore(record, store, { include, exclude })).toEqual({ entries: summary.entries, bytes: summary.bytes, downloadBytes: summary.downloadBytes });
    const counters = events.filter((e) => e.type === 'restore-bytes');
    const last = counters.at(-1)!;
    expect(last).toMatchObject({ bytesWritten: summary.bytes, bytesDownloaded: summary.downloadBytes, files: summary.files, bytesPlanned: summary.bytes });
    for (let i = 1; i < counters.length; i++) expect(counters[i]!.bytesWritten).toBeGreaterThanOrEqual(counters[i - 1]!.bytesWritten);
    expect(events.filter((e) => e.type === 'entry-restored')).toHaveLength(summary.files);
    expect(events.filter((e) => e.type === 'phase').map((e) => e.phase)).toEqual(['planning', 'restoring', 'setting metadata']);
  });

  it('the written bytes count what is written: the first counters of a restore of several frames are not its total', async () => {
    const events: ProgressEvent[] = [];
    const target = await fs.mkdtemp(path.join(work, 'restore-'));
    await restoreRecord(record, { store, snapshot: record.id, target, include: ['site/data'], progress: { event: (e) => events.push(e) } });
    const counters = events.filter((e) => e.type === 'restore-bytes');
    // The whole selection (12 MiB) is placed before any frame arrives: the counters said it was written from the first event on.
    expect(counters[0]!.bytesPlanned).toBe(12 * MiB);
    expect(counters[0]!.bytesWritten).toBeLessThan(12 * MiB);
    expect(counters.at(-1)!.bytesWritten).toBe(12 * MiB);
  });
});
