// The --keep-last … --keep-yearly flags of prune and report, and the retention they and a runbook or plan make.

import type { Command } from 'commander';
import type { Plan, Retention } from '../plan/plan.js';
import { parseInteger } from './common.js';

export type RetentionFlags = Retention;

const KEYS = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

/** Adds --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly and --keep-yearly. */
export function withRetentionOptions(command: Command): Command {
  const count = (name: string) => parseInteger(name, 0, 100_000);
  return command
    .option('--keep-last <n>', 'keep the n newest snapshots', count('keep-last'))
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the last n hours that have one', count('keep-hourly'))
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the last n days that have one', count('keep-daily'))
    .option('--keep-weekly <n>', 'likewise for ISO weeks', count('keep-weekly'))
    .option('--keep-monthly <n>', 'likewise for months', count('keep-monthly'))
    .option('--keep-yearly <n>', 'likewise for years', count('keep-yearly'));
}

/** The retention the --keep-* flags give, when any is given; else the plan's. `from` says which, for reports. */
export function retentionOf(flags: RetentionFlags, plan: Pick<Plan, 'retention' | 'name'> | undefined, planSource?: string): { policy: Retention; from: string } {
  const fromFlags: Retention = {};
  for (const key of KEYS) if (flags[key] !== undefined) fromFlags[key] = flags[key];
  if (Object.keys(fromFlags).length > 0) return { policy: fromFlags, from: 'the --keep-* options' };
  return { policy: plan?.retention ?? {}, from: planSource ?? (plan?.name !== undefined ? `the plan ${plan.name}` : plan ? 'the plan' : 'nothing') };
}
