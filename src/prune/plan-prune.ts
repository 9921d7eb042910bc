// Pure retention planning: which snapshots a keep-last/hourly/daily/weekly/monthly/yearly policy keeps, and why.

import { CassetteError } from '../errors.js';
import type { Retention } from '../plan/plan.js';

export interface DatedSnapshot {
  id: string;
  time: Date;
}

export interface PruneDecision {
  keep: Array<{ id: string; reasons: string[] }>;
  remove: string[];
}

/** ISO-8601 week key (year-Www) of a UTC date. */
export function isoWeek(date: Date): string {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(d.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((d.getTime() - yearStart.getTime()) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const BUCKETS: Array<[keyof Retention, string, (d: Date) => string]> = [
  ['keepHourly', 'hourly', (d) => d.toISOString().slice(0, 13)],
  ['keepDaily', 'daily', (d) => d.toISOString().slice(0, 10)],
  ['keepWeekly', 'weekly', isoWeek],
  ['keepMonthly', 'monthly', (d) => d.toISOString().slice(0, 7)],
  ['keepYearly', 'yearly', (d) => d.toISOString().slice(0, 4)],
];

/** Refuses an empty policy (it would remove everything). */
export function checkPolicy(policy: Retention): void {
  const counts = Object.values(policy).filter((n) => typeof n === 'number' && n > 0);
  if (counts.length === 0)
    throw new CassetteError('E_USAGE', 'prune needs a policy: give at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly');
}

/**
 * Like restic's `forget`: keep-last N keeps the N newest; keep-daily N keeps the newest snapshot
 * of each of the N most recent days that have one (UTC), and so on. A snapshot kept by any rule
 * is kept. An empty policy is refused rather than removing everything. `pinned` snapshots are
 * kept whatever the policy says, with the reason given (the parents a running backup reuses).
 */
export function planPrune(snapshots: readonly DatedSnapshot[], policy: Retention, pinned: ReadonlyMap<string, string> = new Map()): PruneDecision {
  checkPolicy(policy);
  const newestFirst = [...snapshots].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1));
  const reasons = new Map<string, string[]>();
  const keep = (id: string, reason: string): void => {
    reasons.set(id, [...(reasons.get(id) ?? []), reason]);
  };
  newestFirst.slice(0, policy.keepLast ?? 0).forEach((s, i) => keep(s.id, `last ${i + 1}`));
  for (const [key, label, bucketOf] of BUCKETS) {
    const limit = policy[key] ?? 0;
    const seen = new Set<string>();
    for (const snapshot of newestFirst) {
      if (seen.size >= limit) break;
      const bucket = bucketOf(snapshot.time);
      if (seen.has(bucket)) continue;
      seen.add(bucket);
      keep(snapshot.id, `${label} ${bucket}`);
    }
  }
  for (const snapshot of newestFirst) {
    const reason = pinned.get(snapshot.id);
    if (reason !== undefined) keep(snapshot.id, reason);
  }
  return {
    keep: newestFirst.filter((s) => reasons.has(s.id)).map((s) => ({ id: s.id, reasons: reasons.get(s.id)! })),
    remove: newestFirst.filter((s) => !reasons.has(s.id)).map((s) => s.id),
  };
}
