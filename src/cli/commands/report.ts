// `cassette report`: one self-contained HTML page (or with --json, the same data) of a repository's history, a snapshot's artifacts and files, and its totals.

import { Command, Option } from 'commander';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { KeyFlags } from '../../crypto/keys.js';
import { storeForReading } from '../../crypto/repository-encryption.js';
import { CassetteError } from '../../errors.js';
import { humanBytes } from '../../human-units.js';
import { collectReport } from '../../report/collect.js';
import { renderReport } from '../../report/report-html.js';
import { DEFAULT_TREE_LIMIT } from '../../report/tree.js';
import { readOnlyStore } from '../../store/read-only-store.js';
import { VERSION } from '../../version.js';
import { openRepo, parseInteger, QUIET_HELP, resultWriter, run, withRepoOptions, type OutputFlags, type RepoFlags } from '../common.js';
import { withIdentityOptions } from '../keys.js';
import { retentionOf, withRetentionOptions, type RetentionFlags } from '../retention.js';
import { withRunbookOptions, type RunbookFlags } from '../runbook.js';
import { snapshotFilter, withSnapshotFilterOptions, type SnapshotFilterFlags } from '../snapshot-filter.js';
import { loadPlan } from './backup.js';

interface ReportFlags extends RepoFlags, OutputFlags, KeyFlags, RetentionFlags, RunbookFlags, SnapshotFilterFlags {
  out?: string;
  last: number;
  snapshot: string;
  plan?: string;
  groupBy?: string;
  graceHours: number;
  treeLimit: number;
}

/** How many snapshots the timeline shows by default: the page stays light (about 1 KB a run) and its charts readable. */
const DEFAULT_LAST = 1000;

export function reportCommand(): Command {
  return withRepoOptions(
    withIdentityOptions(withRetentionOptions(withRunbookOptions(withSnapshotFilterOptions(new Command('report')), "show what prune would remove with a built-in plan's retention")))
      .description(
        'write one HTML page, readable offline and printed, of the repository: a timeline of the runs, the artifacts and browsable files of one snapshot, totals, leftovers and what prune would remove',
      )
      .addOption(new Option('-o, --out <file>', 'write the page here (- for standard output); replaced whole when it exists'))
      .addOption(new Option('--last <n>', 'the timeline shows the n newest snapshots selected').argParser(parseInteger('--last', 1, 1_000_000)).default(DEFAULT_LAST))
      .addOption(new Option('--snapshot <id>', 'the snapshot whose artifacts and files the page shows: id, unique prefix or "latest"').default('latest'))
      .addOption(
        new Option('--tree-limit <n>', 'list at most n entries of that snapshot: every level down to the deepest that fits (the page says where it stops)')
          .argParser(parseInteger('--tree-limit', 1, 10_000_000))
          .default(DEFAULT_TREE_LIMIT),
      )
      .option('--plan <file>', "show what prune would remove with a plan file's retention")
      .option('--group-by <host>', "with the retention, as prune --group-by host: each host's snapshots apart")
      .addOption(
        new Option('--grace-hours <h>', "prune's grace period for incomplete snapshots, as prune takes it").argParser(parseInteger('--grace-hours', 0, 100_000)).default(24),
      )
      .addHelpText(
        'after',
        '\nWith --host, --tag or --path, the timeline, the snapshot and the forecast are about the snapshots they select; the totals count every one.\nThe page makes no request when it is opened. --json prints the same data instead of (or, with --out, besides) the page.',
      ),
  )
    .option('-q, --quiet', QUIET_HELP)
    .action(async (flags: ReportFlags) => {
      const out = resultWriter(flags);
      await run(async () => {
        if (flags.out === undefined && !flags.json) throw new CassetteError('E_USAGE', 'give --out FILE for the page (- for standard output), or --json for the data');
        if (flags.out === '-' && flags.json) throw new CassetteError('E_USAGE', 'give --out - or --json, not both: each would take standard output');
        if (flags.groupBy !== undefined && flags.groupBy !== 'host') throw new CassetteError('E_USAGE', `Expected \`--group-by\` to be host, got "${flags.groupBy}"`);
        const target = flags.out !== undefined && flags.out !== '-' ? await checkTarget(flags.out) : undefined;
        const plan = await loadPlan({ runbook: flags.runbook, profile: flags.profile, plan: flags.plan, json: true });
        const runbook = flags.runbook ?? flags.profile;
        const retention = retentionOf(flags, plan, runbook !== undefined ? `the runbook ${runbook}` : flags.plan !== undefined ? `the plan ${flags.plan}` : undefined);
        const opened = openRepo({ ...flags, repo: flags.repo ?? plan?.repository });
        const store = await storeForReading(readOnlyStore(opened, 'report only reads', 'this is a bug: report must not write'), flags);
        try {
          const data = await collectReport({
            store,
            filter: snapshotFilter(flags),
            last: flags.last,
            snapshot: flags.snapshot,
            ...(Object.keys(retention.policy).length > 0 ? { retention: { ...retention, ...(flags.groupBy === 'host' ? { groupBy: 'host' as const } : {}) } } : {}),
            graceMs: flags.graceHours * 3600_000,
            treeLimit: flags.treeLimit,
            now: new Date(),
            cassetteVersion: VERSION,
          });
          if (flags.json) process.stdout.write(JSON.stringify(data, null, 2) + '\n');
          if (flags.out === undefined) return;
          const page = renderReport(data);
          if (flags.out === '-') {
            process.stdout.write(page);
            return;
          }
          await writeWhole(target!, page);
          if (!flags.json) {
            const tree = data.snapshot?.tree;
            out(
              `wrote ${target!}: ${humanBytes(Buffer.byteLength(page))}, ${data.timeline.shown} of ${data.timeline.total} snapshots on the timeline` +
                (tree ? `, snapshot ${data.snapshot!.id} with ${tree.shown === tree.total ? `all ${tree.total}` : `${tree.shown} of ${tree.total}`} entries listed` : '') +
                '\n',
            );
          }
        } finally {
          await store.close();
        }
      }, flags.json);
    });
}

/** The page's path, checked before anything is read: its directory exists and it is not a directory itself. */
async function checkTarget(file: string): Promise<string> {
  const resolved = path.resolve(file);
  const stat = await fs.stat(resolved).catch(() => undefined);
  if (stat?.isDirectory()) throw new CassetteError('E_USAGE', `--out ${file} is a directory; give a file name, such as ${path.join(file, 'report.html')}`);
  const dir = await fs.stat(path.dirname(resolved)).catch(() => undefined);
  if (!dir?.isDirectory()) throw new CassetteError('E_TARGET', `--out ${file}: the directory ${path.dirname(resolved)} does not exist`);
  return resolved;
}

/** Writes the page beside its target and renames it into place: a reader never sees half a page, and a failure leaves the old one. */
async function writeWhole(file: string, text: string): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await fs.writeFile(temporary, text, { mode: 0o644 });
    await fs.rename(temporary, file);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw new CassetteError('E_TARGET', `cannot write the report to ${file}: ${(error as Error).message}`, { cause: error });
  }
}
