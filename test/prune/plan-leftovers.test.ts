// planLeftovers: what prune removes besides snapshots, judged only by the store's times (LastModified, Initiated) against the store's "now".

import { describe, expect, it } from 'vitest';
import { leaseIsFresh, parentsInUse, planLeftovers, type LeftoverInput, type ListedLease } from '../../src/prune/plan-leftovers.js';
import type { LiveObject } from '../../src/prune/plan-objects.js';
import type { ObjectInfo, PendingUpload } from '../../src/store/object-store.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const ago = (minutes: number): Date => new Date(NOW.getTime() - minutes * 60_000);
const HOUR = 60;
const GRACE = 24 * HOUR * 60_000;
const TTL = 30 * 60_000;
/** An id whose time says it started two days ago (the backing-up host's clock: never read). */
const A = '20261129T120000Z-aaaaaa';
const B = '20261201T115900Z-bbbbbb';

function objects(id: string, minutesAgo: number): ObjectInfo[] {
  return [
    { key: `data/${id}/etc.tar.zst`, size: 100, lastModified: ago(minutesAgo) },
    { key: `data/${id}/etc.idx.zst`, size: 10, lastModified: ago(minutesAgo) },
  ];
}

const lease = (id: string, minutesAgo: number | undefined, ttlMs = TTL): ListedLease => ({
  id,
  lastModified: minutesAgo === undefined ? undefined : ago(minutesAgo),
  ttlMs,
  host: 'db1',
  pid: 42,
});
const upload = (id: string, initiated: Date | undefined): PendingUpload => ({ key: `data/${id}/pg.tar.zst`, uploadId: `u-${id}`, initiated });
/** What moto reports as every upload's Initiated. */
const MOTO_2010 = new Date('2010-11-10T20:48:33Z');

function plan(input: Partial<LeftoverInput>): { removed: string[]; leased: string[]; aborted: string[]; expiredLeases: string[] } {
  const result = planLeftovers({ data: new Map(), uploads: [], leases: [], committed: new Set(), storeNow: NOW, graceMs: GRACE, ...input });
  expect(result.referenced).toEqual([]);
  return { removed: result.remove.map((r) => r.id), leased: result.leased.map((l) => l.id), aborted: result.abort.map((u) => u.uploadId), expiredLeases: result.expiredLeases };
}

/** A committed snapshot C that reads `keys` (what it names of other snapshots' data). */
const C = '20261201T000000Z-cccccc';
const liveFor = (...keys: string[]): Map<string, LiveObject> => new Map(keys.map((key) => [key, { namedBy: [C], usedBytes: 40 }]));
/** The objects of `id` that go and those that stay. */
function planWithLive(input: Partial<LeftoverInput>): { removed: Array<[string, string[]]>; referenced: Array<[string, string[]]>; leased: string[]; expiredLeases: string[] } {
  const result = planLeftovers({ data: new Map(), uploads: [], leases: [], committed: new Set(), storeNow: NOW, graceMs: GRACE, ...input });
  return {
    removed: result.remove.map((r) => [r.id, [...r.keys, ...r.kept.map((k) => `kept ${k.key}`)]]),
    referenced: result.referenced.map((r) => [r.id, r.kept.map((k) => `kept ${k.key}`)]),
    leased: result.leased.map((l) => l.id),
    expiredLeases: result.expiredLeases,
  };
}

describe('planLeftovers', () => {
  it.each<[string, Partial<LeftoverInput>, ReturnType<typeof plan>]>([
    [
      'data without a lease, newest object 25 h old by the store: removed',
      { data: new Map([[A, objects(A, 25 * HOUR)]]) },
      { removed: [A], leased: [], aborted: [], expiredLeases: [] },
    ],
    [
      'data without a lease, 23 h old: kept (grace), whatever the id says',
      { data: new Map([[A, objects(A, 23 * HOUR)]]) },
      { removed: [], leased: [], aborted: [], expiredLeases: [] },
    ],
    [
      'an id of a minute ago whose objects are 25 h old by the store (a host clock ahead): removed',
      { data: new Map([[B, objects(B, 25 * HOUR)]]) },
      { removed: [B], leased: [], aborted: [], expiredLeases: [] },
    ],
    [
      'grace 0 and a fresh lease: kept, reported as leased',
      { data: new Map([[A, objects(A, 25 * HOUR)]]), leases: [lease(A, 5)], graceMs: 0 },
      { removed: [], leased: [A], aborted: [], expiredLeases: [] },
    ],
    [
      'grace 0 and a lease 29 min old (TTL 30): kept',
      { data: new Map([[A, objects(A, 60)]]), leases: [lease(A, 29)], graceMs: 0 },
      { removed: [], leased: [A], aborted: [], expiredLeases: [] },
    ],
    [
      'grace 0 and a lease 31 min old (TTL 30): data and lease removed',
      { data: new Map([[A, objects(A, 60)]]), leases: [lease(A, 31)], graceMs: 0 },
      { removed: [A], leased: [], aborted: [], expiredLeases: [A] },
    ],
    [
      'an expired lease 2 h old, data 1 h old, grace 24 h: kept with its lease (the last sign of life is recent)',
      { data: new Map([[A, objects(A, 60)]]), leases: [lease(A, 2 * HOUR)] },
      { removed: [], leased: [], aborted: [], expiredLeases: [] },
    ],
    [
      'an expired lease 25 h old, data 25 h old: both removed',
      { data: new Map([[A, objects(A, 25 * HOUR)]]), leases: [lease(A, 25 * HOUR)] },
      { removed: [A], leased: [], aborted: [], expiredLeases: [A] },
    ],
    [
      'a lease whose time the store does not report: fresh',
      { data: new Map([[A, objects(A, 25 * HOUR)]]), leases: [lease(A, undefined)], graceMs: 0 },
      { removed: [], leased: [A], aborted: [], expiredLeases: [] },
    ],
    [
      'a lease TTL of one second, written two seconds ago: expired',
      { data: new Map([[A, objects(A, 25 * HOUR)]]), leases: [lease(A, 2 / 60, 1000)], graceMs: 0 },
      { removed: [A], leased: [], aborted: [], expiredLeases: [A] },
    ],
    [
      'an upload initiated "in 2010" (moto) under a fresh lease: not aborted',
      { uploads: [upload(A, MOTO_2010)], leases: [lease(A, 1)], graceMs: 0 },
      { removed: [], leased: [], aborted: [], expiredLeases: [] },
    ],
    [
      'an upload initiated "in 2010" without a lease, its snapshot\'s other objects a minute old: kept (grace)',
      { data: new Map([[A, objects(A, 1)]]), uploads: [upload(A, MOTO_2010)] },
      { removed: [], leased: [], aborted: [], expiredLeases: [] },
    ],
    [
      'an upload initiated 25 h ago, no lease, no other object: aborted',
      { uploads: [upload(A, ago(25 * HOUR))] },
      { removed: [], leased: [], aborted: [`u-${A}`], expiredLeases: [] },
    ],
    [
      'an upload initiated 25 h ago under an expired lease: aborted, lease removed',
      { uploads: [upload(A, ago(25 * HOUR))], leases: [lease(A, 25 * HOUR)] },
      { removed: [], leased: [], aborted: [`u-${A}`], expiredLeases: [A] },
    ],
    [
      'a committed snapshot: its data is never a leftover; its expired lease goes',
      { data: new Map([[A, objects(A, 48 * HOUR)]]), leases: [lease(A, 48 * HOUR)], committed: new Set([A]) },
      { removed: [], leased: [], aborted: [], expiredLeases: [A] },
    ],
    [
      'a committed snapshot with a fresh lease (the backup died between commit and release): lease kept until it expires',
      { data: new Map([[A, objects(A, 1)]]), leases: [lease(A, 1)], committed: new Set([A]) },
      { removed: [], leased: [], aborted: [], expiredLeases: [] },
    ],
    [
      'an object whose time the store does not report counts as new',
      { data: new Map([[A, [{ key: `data/${A}/x`, size: 1 }]]]), graceMs: 60_000 },
      { removed: [], leased: [], aborted: [], expiredLeases: [] },
    ],
  ])('%s', (_label, input, expected) => {
    expect(plan(input)).toEqual(expected);
  });

  it('reports the holder of the lease and sums the bytes it removes', () => {
    const result = planLeftovers({
      data: new Map([
        [A, objects(A, 60)],
        [B, objects(B, 60)],
      ]),
      uploads: [],
      leases: [lease(A, 1)],
      committed: new Set(),
      storeNow: NOW,
      graceMs: 0,
    });
    expect(result.leased).toEqual([{ id: A, host: 'db1', pid: 42 }]);
    expect(result.remove).toEqual([{ id: B, keys: [`data/${B}/etc.tar.zst`, `data/${B}/etc.idx.zst`], bytes: 110, kept: [] }]);
  });
});

describe('planLeftovers with objects that committed snapshots name', () => {
  const volume = `data/${A}/etc.tar.zst`;
  const index = `data/${A}/etc.idx.zst`;
  it.each<[string, Partial<LeftoverInput>, ReturnType<typeof planWithLive>]>([
    [
      'what is left of a pruned snapshot, its volume referenced, 25 h old: nothing goes, reported as referenced',
      { data: new Map([[A, objects(A, 25 * HOUR).slice(0, 1)]]), live: liveFor(volume) },
      { removed: [], referenced: [[A, [`kept ${volume}`]]], leased: [], expiredLeases: [] },
    ],
    [
      'an uncommitted id whose volume is referenced and whose index is not, 25 h old: the index goes, the volume stays',
      { data: new Map([[A, objects(A, 25 * HOUR)]]), live: liveFor(volume) },
      { removed: [[A, [index, `kept ${volume}`]]], referenced: [], leased: [], expiredLeases: [] },
    ],
    [
      'referenced objects under an id within its grace period: nothing goes, nothing reported',
      { data: new Map([[A, objects(A, 23 * HOUR)]]), live: liveFor(volume, index) },
      { removed: [], referenced: [], leased: [], expiredLeases: [] },
    ],
    [
      'referenced objects under a leased id: reported as leased',
      { data: new Map([[A, objects(A, 25 * HOUR)]]), leases: [lease(A, 1)], live: liveFor(volume) },
      { removed: [], referenced: [], leased: [A], expiredLeases: [] },
    ],
    [
      'an expired lease beside referenced data goes; the data stays',
      { data: new Map([[A, objects(A, 25 * HOUR)]]), leases: [lease(A, 25 * HOUR)], live: liveFor(volume, index) },
      { removed: [], referenced: [[A, [`kept ${volume}`, `kept ${index}`]]], leased: [], expiredLeases: [A] },
    ],
    [
      'objects named by live snapshots of another id do not protect this one',
      { data: new Map([[A, objects(A, 25 * HOUR)]]), live: liveFor(`data/${B}/etc.tar.zst`) },
      { removed: [[A, [volume, index]]], referenced: [], leased: [], expiredLeases: [] },
    ],
  ])('%s', (_label, input, expected) => {
    expect(planWithLive(input)).toEqual(expected);
  });

  it('reports the whole size of a kept object and the bytes in use', () => {
    const result = planLeftovers({
      data: new Map([[A, objects(A, 25 * HOUR)]]),
      uploads: [],
      leases: [],
      committed: new Set(),
      live: liveFor(volume),
      storeNow: NOW,
      graceMs: GRACE,
    });
    expect(result.remove).toEqual([{ id: A, keys: [index], bytes: 10, kept: [{ key: volume, size: 100, usedBytes: 40, referencedBy: [C] }] }]);
  });
});

describe('parentsInUse: the snapshots running backups reuse, from their fresh leases', () => {
  const P1 = '20261120T000000Z-111111';
  const P2 = '20261121T000000Z-222222';
  const withParents = (id: string, minutesAgo: number | undefined, parents?: string[]): ListedLease => ({ ...lease(id, minutesAgo), ...(parents ? { parents } : {}) });
  it.each<[string, ListedLease[], Record<string, string[]>]>([
    ['a fresh lease names one parent', [withParents(A, 5, [P1])], { [P1]: [A] }],
    ['a lease 29 min old (TTL 30) still counts', [withParents(A, 29, [P1])], { [P1]: [A] }],
    ['an expired lease (31 min) names none', [withParents(A, 31, [P1])], {}],
    ['a lease whose time the store does not report is fresh', [withParents(A, undefined, [P1])], { [P1]: [A] }],
    ['two backups reuse one parent; one of them also another', [withParents(A, 1, [P1, P2]), withParents(B, 2, [P1])], { [P1]: [A, B], [P2]: [A] }],
    ['a parent named twice by one lease counts once', [withParents(A, 1, [P1, P1])], { [P1]: [A] }],
    ['a lease without parents (a full backup, or a writer before version 2)', [withParents(A, 1)], {}],
  ])('%s', (_label, leases, expected) => {
    expect(Object.fromEntries(parentsInUse(leases, NOW))).toEqual(expected);
  });

  it('judges freshness as the leftover rules do', () => {
    expect(leaseIsFresh(lease(A, 29), NOW)).toBe(true);
    expect(leaseIsFresh(lease(A, 30), NOW)).toBe(false);
  });
});
