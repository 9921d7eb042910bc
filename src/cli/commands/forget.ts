// `cassette forget`: remove named snapshots (their commit records; with --prune also the data no remaining snapshot references).

import { Command } from 'commander';
import { forget } from '../../manage/forget.js';
import { openRepo, parseInteger, run, withRepoOptions, type RepoFlags, QUIET_HELP, resultWriter, type OutputFlags } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { humanBytes } from '../render.js';
import { snapshotFilter, withSnapshotFilterOptions, type SnapshotFilterFlags } from '../snapshot-filter.js';
import { counted } from '../words.js';

interface ForgetFlags extends RepoFlags, OutputFlags, SnapshotFilterFlags {
  prune?: boolean;
  dryRun?: boolean;
  graceHours: number;
}

export function forgetCommand(): Command {
  return withRepoOptions(
    withSnapshotFilterOptions(new Command('forget'))
      .description('remove the named snapshots (their commit records); with --prune also the data no remaining snapshot references')
      .argument('<snapshot...>', 'snapshot ids, unique id prefixes, or "latest" (the newest one --host/--tag/--path select)')
      .option('--prune', 'also delete the data no remaining snapshot references (an object a kept incremental snapshot reads stays, whole), and incomplete leftovers as prune does')
      .option('--grace-hours <h>', 'with --prune: as for prune (default 24)', parseInteger('grace-hours', 0, 100_000), 24)
      .option('--dry-run', 'show what would be removed; remove nothing')
      .addHelpText(
        'after',
        `\nA snapshot that a running backup reuses as its parent is not forgotten (exit ${EXIT.PARTIAL} when one is named); run forget again once that backup ends.`,
      ),
  )
    .option('-q, --quiet', QUIET_HELP)
    .action(async (refs: string[], flags: ForgetFlags) => {
      const out = resultWriter(flags);
      await run(async () => {
        const store = openRepo(flags);
        try {
          const report = await forget({ store, refs, filter: snapshotFilter(flags), prune: flags.prune, dryRun: flags.dryRun, graceMs: flags.graceHours * 3600_000 });
          const left = report.removed.reduce((sum, r) => sum + (r.leftBytes ?? 0), 0);
          const leftObjects = report.removed.reduce((sum, r) => sum + (r.leftObjects ?? 0), 0);
          if (flags.json) {
            process.stdout.write(JSON.stringify({ ...report, pruned: !!flags.prune, dataLeft: { objects: leftObjects, bytes: left } }, null, 2) + '\n');
          } else {
            const verb = flags.dryRun ? 'would forget' : 'forgot';
            for (const r of report.removed) {
              const data = flags.prune
                ? `${r.objects - 1} data objects, ${humanBytes(r.bytes)} ${flags.dryRun ? 'to delete' : 'deleted'}`
                : `data left: ${counted(r.leftObjects ?? 0, 'object')}, ${humanBytes(r.leftBytes ?? 0)}`;
              out(
                `${verb} ${r.id}  (${data}${r.keptObjects > 0 ? `; ${counted(r.keptObjects, 'object')}, ${humanBytes(r.keptBytes)} kept for the snapshots that reference them` : ''})\n`,
              );
            }
            // A snapshot kept because a running backup reuses it is partial success (exit 3): said even with -q.
            for (const r of report.refused) process.stdout.write(`kept   ${r.id}  (${r.reason}: forget it again once that backup ends)\n`);
            if (flags.prune) {
              for (const l of report.leftovers)
                out(`${flags.dryRun ? 'would remove' : 'removed'} ${l.id}  incomplete (no commit record): ${counted(l.objects, 'object')}, ${humanBytes(l.bytes)}\n`);
            } else if (leftObjects > 0) {
              out(
                `${humanBytes(left)} in ${counted(leftObjects, 'object')} ${flags.dryRun ? 'would stay' : 'stay'} in the repository, referenced by no snapshot: \`cassette prune\` (with your retention policy) removes it once its newest object is older than --grace-hours (default 24); \`forget --prune\` deletes it at once\n`,
              );
            }
          }
          return report.refused.length > 0 ? EXIT.PARTIAL : EXIT.OK;
        } finally {
          await store.close();
        }
      }, flags.json);
    });
}
