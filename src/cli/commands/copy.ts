// `cassette copy`: copy snapshots, with every object they need, to another repository (server-side on the same S3 endpoint).

import { Command, Option } from 'commander';
import { copySnapshots } from '../../copy/copy.js';
import { CassetteError } from '../../errors.js';
import { openStore } from '../../store/open-store.js';
import { interruptSignal, openRepo, parseInteger, repoUrl, run, withRepoOptions, type RepoFlags, QUIET_HELP, resultWriter, type OutputFlags } from '../common.js';
import { humanBytes } from '../render.js';
import { snapshotFilter, withSnapshotFilterOptions, type SnapshotFilterFlags } from '../snapshot-filter.js';
import { counted } from '../words.js';

interface CopyFlags extends RepoFlags, OutputFlags, SnapshotFilterFlags {
  to?: string;
  toEndpoint?: string;
  toRegion?: string;
  concurrency?: number;
  dryRun?: boolean;
}

export function copyCommand(): Command {
  return withRepoOptions(
    withSnapshotFilterOptions(new Command('copy'))
      .description(
        "copy snapshots to another repository with every object they read (an incremental snapshot: its parents' objects too), server-side when both are on one S3 endpoint; the commit record last",
      )
      .argument('<snapshot...>', 'snapshot ids, unique id prefixes, or "latest" (the newest one --host/--tag/--path select)')
      .addOption(new Option('--to <url>', 'the repository to copy into: s3://bucket/prefix, file:///path or a directory'))
      .addOption(new Option('--to-endpoint <url>', "the target's S3 endpoint (default: --endpoint, else $AWS_ENDPOINT_URL)"))
      .addOption(new Option('--to-region <region>', "the target's S3 region (default: --region, else the AWS chain)"))
      .option('--concurrency <n>', 'objects copied at once (default 4)', parseInteger('concurrency', 1, 64))
      .option('--dry-run', 'show what would be copied; write nothing'),
  )
    .option('-q, --quiet', QUIET_HELP)
    .action(async (refs: string[], flags: CopyFlags) => {
      const out = resultWriter(flags);
      await run(async () => {
        if (!flags.to) throw new CassetteError('E_USAGE', 'copy needs --to REPO, the repository to copy into');
        const source = openRepo(flags);
        const endpoint = flags.toEndpoint ?? flags.endpoint;
        const target = openStore(flags.to, { endpoint, region: flags.toRegion ?? flags.region, timeout: flags.timeout });
        try {
          if (target.url === source.url && endpoint === flags.endpoint)
            throw new CassetteError('E_USAGE', `--to ${flags.to} is the repository the snapshots are in (${repoUrl(flags)})`);
          const report = await copySnapshots({
            source,
            target,
            refs,
            filter: snapshotFilter(flags),
            concurrency: flags.concurrency,
            dryRun: flags.dryRun,
            signal: interruptSignal(),
          });
          if (flags.json) {
            process.stdout.write(JSON.stringify(report, null, 2) + '\n');
            return;
          }
          for (const s of report.skipped) out(`skipped ${s.id}  (${s.reason})\n`);
          for (const c of report.copied) out(`${flags.dryRun ? 'would copy' : 'copied'} ${c.id}  ${counted(c.objects, 'object')}, ${humanBytes(c.bytes)}\n`);
          if (report.markedEncrypted) out(`${target.url} is now marked encrypted, as ${source.url} is\n`);
          if (!flags.dryRun)
            out(
              `${report.copied.length} copied, ${report.skipped.length} skipped to ${target.url}: ${counted(report.serverSide.objects, 'object')} (${humanBytes(report.serverSide.bytes)}) copied server-side, ${report.streamed.objects} (${humanBytes(report.streamed.bytes)}) streamed, ${report.present.objects} (${humanBytes(report.present.bytes)}) already there\n`,
            );
        } finally {
          await Promise.all([source.close(), target.close()]);
        }
      }, flags.json);
    });
}
