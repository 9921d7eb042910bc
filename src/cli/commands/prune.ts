// `cassette prune`: apply a retention policy (removed snapshots' objects that kept ones reference stay); remove incomplete leftovers and stale multipart uploads.

import { Command } from 'commander';
import { CassetteError } from '../../errors.js';
import type { KeptSummary } from '../../prune/plan-objects.js';
import { prune } from '../../prune/prune.js';
import { openRepo, parseInteger, run, withRepoOptions, type RepoFlags, QUIET_HELP, resultWriter, type OutputFlags } from '../common.js';
import { snapshotFilter, withSnapshotFilterOptions, type SnapshotFilterFlags } from '../snapshot-filter.js';
import { humanBytes } from '../render.js';
import { loadPlan } from './backup.js';
import { withRunbookOptions, type RunbookFlags } from '../runbook.js';
import { retentionOf, withRetentionOptions, type RetentionFlags } from '../retention.js';
import { counted } from '../words.js';

interface PruneFlags extends RepoFlags, OutputFlags, RetentionFlags, RunbookFlags, SnapshotFilterFlags {
  dryRun?: boolean;
  graceHours: number;
  groupBy?: string;
  plan?: string;
}

export function pruneCommand(): Command {
  const count = (name: string) => parseInteger(name, 0, 100_000);
  return withRepoOptions(
    withRetentionOptions(withRunbookOptions(withSnapshotFilterOptions(new Command('prune')), 'take the retention policy from a built-in plan'))
      .description(
        'remove snapshots outside a retention policy, with the data no kept snapshot references (an object a kept incremental snapshot reads frames from stays, whole); also incomplete leftovers and stale multipart uploads',
      )
      .option(
        '--grace-hours <h>',
        "leave incomplete snapshots and uploads alone while their newest object is younger than this by the store's clock; those of a running backup (fresh lease) are always left alone",
        count('grace-hours'),
        24,
      )
      .option('--plan <file>', 'take the retention policy from a plan file')
      .option('--dry-run', 'show what would be removed; remove nothing')
      .option('--group-by <host>', "apply the policy to each host's snapshots apart (--keep-last 7 keeps 7 of each host); default: all snapshots as one group")
      .addHelpText('after', '\nWith --host, --tag or --path, the policy applies to the snapshots they select only; the others are kept, untouched.'),
  )
    .option('-q, --quiet', QUIET_HELP)
    .action(async (flags: PruneFlags) => {
      const out = resultWriter(flags);
      await run(async () => {
        if (flags.groupBy !== undefined && flags.groupBy !== 'host') throw new CassetteError('E_USAGE', `Expected \`--group-by\` to be host, got "${flags.groupBy}"`);
        const plan = await loadPlan({ runbook: flags.runbook, profile: flags.profile, plan: flags.plan, json: flags.json });
        const policy = retentionOf(flags, plan).policy;
        const store = openRepo({ ...flags, repo: flags.repo ?? plan?.repository });
        try {
          const report = await prune({ store, policy, filter: snapshotFilter(flags), groupBy: flags.groupBy, dryRun: flags.dryRun, graceMs: flags.graceHours * 3600_000 });
          if (flags.json) {
            process.stdout.write(JSON.stringify(report, null, 2) + '\n');
            return;
          }
          const verb = flags.dryRun ? 'would remove' : 'removed';
          for (const k of report.kept) out(`keep    ${k.id}  (${k.reasons.join(', ')})\n`);
          for (const r of report.removed) out(`${verb.padEnd(7)} ${r.id}  ${counted(r.objects, 'object')}, ${humanBytes(r.bytes)}${keptText(r, '; ')}\n`);
          for (const l of report.leased)
            out(
              `keep    ${l.id}  incomplete: a backup is running${l.host !== undefined ? ` on ${l.host}` : ''}${l.pid !== undefined ? ` (pid ${l.pid})` : ''}, its lease is fresh\n`,
            );
          for (const l of report.leftovers)
            out(`${verb.padEnd(7)} ${l.id}  incomplete (no commit record): ${counted(l.objects, 'object')}, ${humanBytes(l.bytes)}${keptText(l, '; ')}\n`);
          for (const r of report.referenced) out(`keep    ${r.id}  no commit record${keptText(r, ': ')}\n`);
          for (const id of report.expiredLeases) out(`${verb.padEnd(7)} expired lease of ${id}\n`);
          for (const u of report.abortedUploads) out(`${flags.dryRun ? 'would abort' : 'aborted'} multipart upload of ${u.key}\n`);
          const freed = [...report.removed, ...report.leftovers].reduce((sum, r) => sum + r.bytes, 0);
          const held = [...report.removed, ...report.leftovers, ...report.referenced].reduce((sum, r) => sum + r.keptBytes, 0);
          out(
            `${report.kept.length} kept, ${report.removed.length} ${verb},${report.untouched.length > 0 ? ` ${report.untouched.length} outside the selection untouched,` : ''} ${report.leftovers.length} incomplete ${verb}, ${counted(report.abortedUploads.length, 'upload')} ${flags.dryRun ? 'to abort' : 'aborted'}; ${humanBytes(freed)} ${flags.dryRun ? 'to free' : 'freed'}${held > 0 ? `, ${humanBytes(held)} of removed snapshots' data kept for the snapshots that reference it` : ''}\n`,
          );
        } finally {
          await store.close();
        }
      }, flags.json);
    });
}

/** `; kept 2 objects, 9.0 MiB, referenced by <id>, <id> (1.2 MiB of it in use)`, or nothing when nothing is kept. */
function keptText(summary: KeptSummary, lead: string): string {
  if (summary.keptObjects === 0) return '';
  const by = [...new Set(summary.kept.flatMap((k) => k.referencedBy))];
  const names = by.length > 3 ? `${by.slice(0, 3).join(', ')} and ${by.length - 3} more` : by.join(', ');
  return `${lead}kept ${summary.keptObjects} object${summary.keptObjects === 1 ? '' : 's'}, ${humanBytes(summary.keptBytes)}, referenced by ${names} (${humanBytes(summary.keptUsedBytes)} of it in use)`;
}
