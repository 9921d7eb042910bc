// The pure decisions of forget, tag and a filtered prune: which snapshots go, which stay untouched, and what tags result.

import { describe, expect, it } from 'vitest';
import type { CommitRecord } from '../../src/format/types.js';
import { forgetDecision } from '../../src/manage/forget.js';
import { applyTagChange, checkTag, type TagChange } from '../../src/manage/retag.js';
import { policyDecision } from '../../src/prune/prune.js';
import { artifact } from '../helpers/index-entries.js';

function snapshot(id: string, host: string, tags: string[] = [], source = '/srv'): CommitRecord {
  return {
    format: 'cassette-snapshot',
    version: 2,
    id,
    host,
    tags,
    startedAt: `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}Z`,
    finishedAt: '',
    cassetteVersion: 'test',
    compressionLevel: 3,
    artifacts: [artifact('srv', { source, index: { key: `data/${id}/srv.idx.zst`, size: 1 } })],
  };
}

const A1 = snapshot('20261101T000000Z-aaaaa1', 'web1', ['daily']);
const B1 = snapshot('20261102T000000Z-bbbbb1', 'web2', ['daily']);
const A2 = snapshot('20261103T000000Z-aaaaa2', 'web1', ['daily', 'weekly']);
const B2 = snapshot('20261104T000000Z-bbbbb2', 'web2', [], '/etc');
const ALL = [A1, B1, A2, B2];

describe('policyDecision (prune with a filter)', () => {
  it.each([
    { what: 'no filter: one group', filter: undefined, keep: [B2.id], remove: [A2.id, B1.id, A1.id], untouched: [] },
    { what: '--host web1: the newest of web1 only', filter: { hosts: ['web1'] }, keep: [A2.id], remove: [A1.id], untouched: [B1.id, B2.id] },
    { what: '--host web2', filter: { hosts: ['web2'] }, keep: [B2.id], remove: [B1.id], untouched: [A1.id, A2.id] },
    { what: '--tag daily', filter: { tagGroups: [['daily']] }, keep: [A2.id], remove: [B1.id, A1.id], untouched: [B2.id] },
    { what: '--path /etc', filter: { paths: ['/etc'] }, keep: [B2.id], remove: [], untouched: [A1.id, B1.id, A2.id] },
    { what: 'selects nothing', filter: { hosts: ['db9'] }, keep: [], remove: [], untouched: ALL.map((r) => r.id) },
  ])('$what', ({ filter, keep, remove, untouched }) => {
    const decision = policyDecision(ALL, { keepLast: 1 }, filter, new Map());
    expect(decision.keep.map((k) => k.id)).toEqual(keep);
    expect(decision.remove).toEqual(remove);
    expect(decision.untouched).toEqual(untouched);
  });

  it.each([
    { what: '--group-by host: the newest of each host', filter: undefined, keep: [B2.id, A2.id], remove: [B1.id, A1.id], untouched: [] },
    { what: '--group-by host --tag daily', filter: { tagGroups: [['daily']] }, keep: [A2.id, B1.id], remove: [A1.id], untouched: [B2.id] },
  ])('$what', ({ filter, keep, remove, untouched }) => {
    const decision = policyDecision(ALL, { keepLast: 1 }, filter, new Map(), 'host');
    expect(decision.keep.map((k) => k.id).sort()).toEqual([...keep].sort());
    expect(decision.remove.sort()).toEqual([...remove].sort());
    expect(decision.untouched).toEqual(untouched);
    expect(decision.keep.find((k) => k.id === A2.id)?.reasons).toEqual(['last 1 of host web1']);
  });

  it('keeps a pinned snapshot within the selection, with its reason', () => {
    const decision = policyDecision(ALL, { keepLast: 1 }, { hosts: ['web1'] }, new Map([[A1.id, 'reused by running backup X']]));
    expect(decision.keep).toEqual([
      { id: A2.id, reasons: ['last 1'] },
      { id: A1.id, reasons: ['reused by running backup X'] },
    ]);
    expect(decision.remove).toEqual([]);
  });
});

describe('forgetDecision', () => {
  it.each([
    { what: 'the named snapshots go; others are not listed', named: [A1.id, B2.id], pinned: [], keep: [], remove: [A1.id, B2.id] },
    { what: 'a pinned one is kept, with its reason', named: [A1.id, A2.id], pinned: [A2.id], keep: [A2.id], remove: [A1.id] },
    { what: 'a named id no longer listed is skipped', named: ['20261231T000000Z-ffffff'], pinned: [], keep: [], remove: [] },
    { what: 'a pinned snapshot not named stays out of the report', named: [B1.id], pinned: [A1.id], keep: [], remove: [B1.id] },
  ])('$what', ({ named, pinned, keep, remove }) => {
    const decision = forgetDecision(new Set(named))(ALL, new Map(pinned.map((id) => [id, 'reused by running backup X'])));
    expect(decision.keep).toEqual(keep.map((id) => ({ id, reasons: ['reused by running backup X'] })));
    expect(decision.remove).toEqual(remove);
  });
});

describe('applyTagChange', () => {
  it.each<{ tags: string[]; change: TagChange; after: string[] }>([
    { tags: [], change: { add: ['a'] }, after: ['a'] },
    { tags: ['a', 'b'], change: { add: ['b', 'c'] }, after: ['a', 'b', 'c'] },
    { tags: ['a', 'b', 'c'], change: { remove: ['b', 'x'] }, after: ['a', 'c'] },
    { tags: ['a', 'b'], change: { remove: ['a'], add: ['a'] }, after: ['b', 'a'] },
    { tags: ['a', 'b'], change: { set: ['z', 'y', 'z'] }, after: ['z', 'y'] },
    { tags: ['a'], change: { set: [] }, after: [] },
    { tags: ['a', 'a'], change: { add: [] }, after: ['a'] },
  ])('$tags with $change → $after', ({ tags, change, after }) => {
    expect(applyTagChange(tags, change)).toEqual(after);
  });

  it.each(['', 'a,b', 'tab\there', 'nul\u0000'])('checkTag refuses %j', (tag) => {
    expect(() => checkTag(tag)).toThrow(/^Expected a tag without commas or control characters/);
  });

  it('checkTag takes an ordinary tag', () => {
    expect(checkTag('daily-2026 ü')).toBe('daily-2026 ü');
  });
});
