// `cassette cat SNAPSHOT artifact/path`: one stored file's content to stdout, checked against its SHA-256; reads its index and the frames holding it.

import { Command } from 'commander';
import { requireUnsealed, storeForReading } from '../../crypto/repository-encryption.js';
import type { KeyFlags } from '../../crypto/keys.js';
import { findStoredFile } from '../../inspect/cat.js';
import { openIndex, resolveSnapshot } from '../../repository.js';
import { writeFileContent } from '../../restore/stream-out.js';
import { interruptSignal, openRepo, run, withRepoOptions, type RepoFlags } from '../common.js';
import { withIdentityOptions } from '../keys.js';

export function catCommand(): Command {
  return withIdentityOptions(
    withRepoOptions(
      new Command('cat')
        .description("write one file's content to stdout, as stored in a snapshot (checked against its SHA-256); the path is exact, no glob")
        .argument('<snapshot>', 'snapshot id, unique id prefix, or "latest"')
        .argument('<path>', 'artifact/path as ls prints it, e.g. etc/hosts'),
    ),
  ).action(async (ref: string, target: string, flags: RepoFlags & KeyFlags) => {
    await run(async () => {
      const signal = interruptSignal();
      const store = await storeForReading(openRepo(flags), flags);
      try {
        const record = await resolveSnapshot(store, ref);
        requireUnsealed(record, store);
        const file = await findStoredFile(record, target, (artifact) => openIndex(store, artifact));
        await writeFileContent({ store, out: process.stdout, signal, ...file });
      } finally {
        await store.close();
      }
    }, flags.json);
  });
}
