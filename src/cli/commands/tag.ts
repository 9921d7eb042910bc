// `cassette tag`: add, remove or set the tags of committed snapshots (their commit records are rewritten, both parts of an encrypted one).

import { Command, Option } from 'commander';
import { resolveKeys, type KeyFlags } from '../../crypto/keys.js';
import { readRepositoryRecord } from '../../crypto/repository-encryption.js';
import { CassetteError } from '../../errors.js';
import { retag, type TagChange } from '../../manage/retag.js';
import { collect, openRepo, run, withRepoOptions, type RepoFlags, QUIET_HELP, resultWriter, type OutputFlags } from '../common.js';
import { withIdentityOptions } from '../keys.js';
import { snapshotFilter, withSnapshotFilterOptions, type SnapshotFilterFlags } from '../snapshot-filter.js';

interface TagFlags extends RepoFlags, OutputFlags, KeyFlags, SnapshotFilterFlags {
  add?: string[];
  remove?: string[];
  set?: string[];
  dryRun?: boolean;
}

export function tagCommand(): Command {
  return withIdentityOptions(
    withRepoOptions(
      withSnapshotFilterOptions(new Command('tag'))
        .description("change the tags of snapshots (an encrypted snapshot's record is re-sealed: that needs a key that opens it and all its recipients)")
        .argument('<snapshot...>', 'snapshot ids, unique id prefixes, or "latest" (the newest one --host/--tag/--path select)')
        .addOption(new Option('--add <tag>', 'add this tag (repeatable)').argParser(collect))
        .addOption(new Option('--remove <tag>', 'remove this tag (repeatable)').argParser(collect))
        .addOption(new Option('--set <tag>', 'replace all tags with these (repeatable; not with --add or --remove)').argParser(collect))
        .addOption(new Option('--encrypt-to <recipient>', 'a recipient of the encrypted snapshots whose identity is not given (age1…; repeatable)').argParser(collect))
        .addOption(new Option('--encrypt-to-file <file>', 'recipients file, as for backup (repeatable)').argParser(collect))
        .option('--dry-run', 'show the new tags; write nothing'),
    ),
  )
    .option('-q, --quiet', QUIET_HELP)
    .action(async (refs: string[], flags: TagFlags) => {
      const out = resultWriter(flags);
      await run(async () => {
        if (flags.set && (flags.add || flags.remove)) throw new CassetteError('E_USAGE', '--set replaces all tags: give it alone, or --add/--remove');
        if (!flags.set && !flags.add && !flags.remove) throw new CassetteError('E_USAGE', 'give --add TAG, --remove TAG or --set TAG');
        const change: TagChange = flags.set ? { set: flags.set } : { add: flags.add, remove: flags.remove };
        const store = openRepo(flags);
        try {
          const record = await readRepositoryRecord(store);
          const keys = await resolveKeys(flags, store, { create: false, expected: record?.encryption?.passphrase });
          const results = await retag({ store, refs, filter: snapshotFilter(flags), change, keys, dryRun: flags.dryRun });
          if (flags.json) {
            process.stdout.write(JSON.stringify({ repository: store.url, dryRun: !!flags.dryRun, snapshots: results }, null, 2) + '\n');
            return;
          }
          for (const r of results) {
            const what = !r.changed ? 'unchanged' : flags.dryRun ? 'would tag' : 'tagged';
            out(`${what.padEnd(9)} ${r.id}  ${r.before.join(',') || '(none)'} -> ${r.after.join(',') || '(none)'}${r.encrypted ? '  (encrypted: re-sealed)' : ''}\n`);
          }
        } finally {
          await store.close();
        }
      }, flags.json);
    });
}
