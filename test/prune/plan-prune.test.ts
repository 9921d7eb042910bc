import { describe, expect, it } from 'vitest';
import { isoWeek, planPrune, type DatedSnapshot } from '../../src/prune/plan-prune.js';

function snapshots(times: string[]): DatedSnapshot[] {
  return times.map((t, i) => ({ id: `s${String(i).padStart(2, '0')}-${t}`, time: new Date(t) }));
}

// Two a day for 20 days (00:30 and 12:30 UTC), 2026-11-01 .. 2026-11-20.
const TWICE_DAILY = snapshots(
  Array.from({ length: 40 }, (_, i) => {
    const day = String(1 + Math.floor(i / 2)).padStart(2, '0');
    return `2026-11-${day}T${i % 2 === 0 ? '00' : '12'}:30:00Z`;
  }),
);

const kept = (policy: Parameters<typeof planPrune>[1], list = TWICE_DAILY): string[] =>
  planPrune(list, policy)
    .keep.map((k) => k.id.slice(4))
    .sort();

describe('planPrune', () => {
  it.each([[{ keepLast: 3 }, ['2026-11-19T00:30:00Z', '2026-11-19T12:30:00Z', '2026-11-20T12:30:00Z', '2026-11-20T00:30:00Z'].slice(0, 3)]])(
    'keep-last keeps the newest',
    (policy) => {
      expect(kept(policy)).toEqual(['2026-11-19T12:30:00Z', '2026-11-20T00:30:00Z', '2026-11-20T12:30:00Z']);
    },
  );

  it('keep-daily keeps the newest snapshot of each of the last n days', () => {
    expect(kept({ keepDaily: 3 })).toEqual(['2026-11-18T12:30:00Z', '2026-11-19T12:30:00Z', '2026-11-20T12:30:00Z']);
  });

  it('keep-weekly keeps the newest of each ISO week', () => {
    // Weeks: W44 (Nov 1), W45 (2-8), W46 (9-15), W47 (16-20).
    expect(kept({ keepWeekly: 3 })).toEqual(['2026-11-08T12:30:00Z', '2026-11-15T12:30:00Z', '2026-11-20T12:30:00Z']);
  });

  it('rules combine: a snapshot kept by any rule is kept, with every reason', () => {
    const decision = planPrune(TWICE_DAILY, { keepLast: 2, keepDaily: 3, keepWeekly: 2 });
    expect(decision.keep.map((k) => k.id.slice(4))).toEqual([
      '2026-11-20T12:30:00Z',
      '2026-11-20T00:30:00Z',
      '2026-11-19T12:30:00Z',
      '2026-11-18T12:30:00Z',
      '2026-11-15T12:30:00Z',
    ]);
    expect(decision.keep[0]!.reasons).toEqual(['last 1', 'daily 2026-11-20', 'weekly 2026-W47']);
    expect(decision.remove).toHaveLength(35);
  });

  it('the runbook policy (last 7, daily 14, weekly 8) on 40 snapshots', () => {
    const decision = planPrune(TWICE_DAILY, { keepLast: 7, keepDaily: 14, keepWeekly: 8 });
    // 7 newest (3.5 days) + the newest of 14 days + the newest of each of 4 weeks.
    // 7 newest, plus 10 more daily (4 of the 14 days are among the 7), plus week W44 (Nov 1); W45-W47 are already kept.
    expect(decision.keep.length).toBe(7 + 14 - 4 + 1);
    expect(decision.keep.length + decision.remove.length).toBe(40);
  });

  it('keep-monthly and keep-yearly over years', () => {
    const list = snapshots(['2024-01-05T00:00:00Z', '2024-06-01T00:00:00Z', '2025-03-01T00:00:00Z', '2025-03-20T00:00:00Z', '2026-11-01T00:00:00Z']);
    expect(kept({ keepMonthly: 2 }, list)).toEqual(['2025-03-20T00:00:00Z', '2026-11-01T00:00:00Z']);
    expect(kept({ keepYearly: 5 }, list)).toEqual(['2024-06-01T00:00:00Z', '2025-03-20T00:00:00Z', '2026-11-01T00:00:00Z']);
  });

  it('keeps everything when the policy asks for more than there is', () => {
    expect(planPrune(TWICE_DAILY, { keepLast: 100 }).remove).toEqual([]);
  });

  it('refuses an empty policy instead of removing everything', () => {
    expect(() => planPrune(TWICE_DAILY, {})).toThrow(/prune needs a policy/);
    expect(() => planPrune(TWICE_DAILY, { keepLast: 0 })).toThrow(/prune needs a policy/);
  });

  it.each<[string, Map<string, string>, string[], string[]]>([
    [
      'an old snapshot a running backup reuses: kept, in age order, with the reason',
      new Map([[TWICE_DAILY[4]!.id, 'reused by running backup b1']]),
      ['last 1', 'reused by running backup b1'],
      [TWICE_DAILY[39]!.id, TWICE_DAILY[4]!.id],
    ],
    [
      'the newest, also kept by the policy: both reasons',
      new Map([[TWICE_DAILY[39]!.id, 'reused by running backup b1']]),
      ['last 1, reused by running backup b1'],
      [TWICE_DAILY[39]!.id],
    ],
    ['a pinned id that is not among the snapshots: nothing more kept', new Map([['20260101T000000Z-000000', 'reused by running backup b1']]), ['last 1'], [TWICE_DAILY[39]!.id]],
  ])('pinned snapshots: %s', (_label, pinned, reasons, keptIds) => {
    const decision = planPrune(TWICE_DAILY, { keepLast: 1 }, pinned);
    expect(decision.keep.map((k) => k.reasons.join(', '))).toEqual(reasons);
    expect(decision.keep.map((k) => k.id)).toEqual(keptIds);
    expect(decision.keep.length + decision.remove.length).toBe(40);
  });

  it('handles no snapshots', () => {
    expect(planPrune([], { keepLast: 3 })).toEqual({ keep: [], remove: [] });
  });

  it.each([
    ['2026-01-01T00:00:00Z', '2026-W01'],
    ['2027-01-01T00:00:00Z', '2026-W53'],
    ['2026-11-26T00:00:00Z', '2026-W48'],
    ['2024-12-30T00:00:00Z', '2025-W01'],
  ])('isoWeek(%s) = %s', (date, week) => {
    expect(isoWeek(new Date(date))).toBe(week);
  });
});
