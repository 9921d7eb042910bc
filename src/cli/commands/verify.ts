// `cassette verify`: check a snapshot's objects (and those of earlier snapshots it references), seek tables, recipes and (with --read-data) every frame and file hash.

import { storeForReading, requireUnsealed } from '../../crypto/repository-encryption.js';
import type { KeyFlags } from '../../crypto/keys.js';
import { withIdentityOptions } from '../keys.js';
import { Command } from 'commander';
import { CassetteError } from '../../errors.js';
import { resolveSnapshot } from '../../repository.js';
import { verifySnapshot } from '../../verify.js';
import { interruptSignal, openRepo, run, withRepoOptions, type RepoFlags, QUIET_HELP, resultWriter, type OutputFlags } from '../common.js';
import { humanBytes } from '../render.js';
import { counted } from '../words.js';

interface VerifyFlags extends RepoFlags, OutputFlags, KeyFlags {
  readData?: boolean;
}

export function verifyCommand(): Command {
  return withIdentityOptions(
    withRepoOptions(
      new Command('verify')
        .description(
          'check that a snapshot is restorable: its objects and the objects of earlier snapshots it reuses frames from are present with the recorded sizes, seek tables and recipes match the index; --read-data re-reads everything',
        )
        .argument('<snapshot>', 'snapshot id, unique id prefix, or "latest"')
        .option(
          '--read-data',
          'download every archive, index and referenced object (each once): check their SHA-256, decompress every frame the snapshot uses, check every file hash',
        ),
    ),
  )
    .option('-q, --quiet', QUIET_HELP)
    .action(async (ref: string, flags: VerifyFlags) => {
      const out = resultWriter(flags);
      await run(async () => {
        const store = await storeForReading(openRepo(flags), flags);
        try {
          const record = await resolveSnapshot(store, ref);
          requireUnsealed(record, store);
          const report = await verifySnapshot({
            store,
            record,
            readData: flags.readData,
            signal: interruptSignal(),
            onProblem: (p) => {
              if (!flags.json) process.stderr.write(`problem: ${p.artifact}${p.path ? `/${p.path}` : ''}${p.object ? ` (${p.object})` : ''}: ${p.problem}\n`);
            },
          });
          if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
          else
            out(
              `snapshot ${record.id}: ${counted(report.objects, 'object')}${flags.readData ? `, ${counted(report.frames, 'frame')}, ${counted(report.files, 'file')}, ${humanBytes(report.bytesRead)} read` : ''}: ${report.problems.length === 0 ? 'OK' : counted(report.problems.length, 'problem')}\n`,
            );
          if (report.problems.length > 0) {
            const first = report.problems[0]!;
            throw new CassetteError(
              first.problem.includes('missing') ? 'E_NOT_FOUND' : 'E_INTEGRITY',
              `snapshot ${record.id} failed verification: ${report.problems.length} problem(s), first: ${first.artifact}${first.path ? `/${first.path}` : ''}${first.object ? ` (${first.object})` : ''}: ${first.problem}`,
            );
          }
        } finally {
          await store.close();
        }
      }, flags.json);
    });
}
