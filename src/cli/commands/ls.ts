// `cassette ls`: list a snapshot's entries from its indexes, without reading any archive.

import { storeForReading, requireUnsealed } from '../../crypto/repository-encryption.js';
import type { KeyFlags } from '../../crypto/keys.js';
import { withIdentityOptions } from '../keys.js';
import { Command } from 'commander';
import type { IndexEntry } from '../../format/types.js';
import { openIndex, resolveSnapshot } from '../../repository.js';
import { artifactMayMatch, compileSelector } from '../../restore/select.js';
import { collect, openRepo, run, withRepoOptions, type RepoFlags } from '../common.js';
import { counted, entries } from '../words.js';

interface LsFlags extends RepoFlags, KeyFlags {
  exclude?: string[];
  long?: boolean;
}

const TYPE_CHAR: Record<IndexEntry['type'], string> = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', fifo: 'p', chardev: 'c', blockdev: 'b' };

export function modeString(entry: Pick<IndexEntry, 'type' | 'mode'>): string {
  const bits = 'rwxrwxrwx';
  let out = TYPE_CHAR[entry.type];
  for (let i = 0; i < 9; i++) out += entry.mode & (1 << (8 - i)) ? bits[i] : '-';
  return out;
}

export function lsCommand(): Command {
  return withIdentityOptions(
    withRepoOptions(
      new Command('ls')
        .description('list entries of a snapshot from its index (no archive is read); patterns match artifact/path')
        .argument('<snapshot>', 'snapshot id, unique id prefix, or "latest"')
        .argument('[patterns...]', 'globs such as "etc/ssh/**" (artifact/path) or a name like "*.conf" (any depth); a directory selects everything below it')
        .option('-e, --exclude <glob>', 'leave out matching entries (repeatable)', collect)
        .option('-l, --long', 'show mode, owner and group (names when recorded), size and time'),
    ),
  ).action(async (ref: string, patterns: string[], flags: LsFlags) => {
    await run(async () => {
      const store = await storeForReading(openRepo(flags), flags);
      try {
        const record = await resolveSnapshot(store, ref);
        requireUnsealed(record, store);
        const selection = { include: patterns, exclude: flags.exclude };
        const selected = compileSelector(selection);
        let count = 0;
        let bytes = 0;
        const out: string[] = [];
        const flush = (): void => {
          if (out.length) process.stdout.write(out.join(''));
          out.length = 0;
        };
        for (const artifact of record.artifacts) {
          if (!artifactMayMatch(selection, artifact.name)) continue;
          const index = await openIndex(store, artifact);
          for await (const entry of index.entries) {
            if (!selected(artifact.name, entry.path)) continue;
            count++;
            bytes += entry.size;
            const full = `${artifact.name}/${entry.path}`;
            if (flags.json) {
              out.push(JSON.stringify({ artifact: artifact.name, ...entry }) + '\n');
            } else if (flags.long) {
              const time = new Date(Number(entry.mtime.split('.')[0]) * 1000).toISOString().slice(0, 19).replace('T', ' ');
              const link = entry.link ? (entry.type === 'hardlink' ? ` link to ${entry.link}` : ` -> ${entry.link}`) : '';
              out.push(
                `${modeString(entry)} ${(entry.uname ?? String(entry.uid)).padStart(8)} ${(entry.gname ?? String(entry.gid)).padStart(8)} ${String(entry.size).padStart(12)} ${time} ${full}${link}\n`,
              );
            } else {
              out.push(full + '\n');
            }
            if (out.length >= 1000) flush();
          }
        }
        flush();
        if (!flags.json) process.stderr.write(`${entries(count)}, ${counted(bytes, 'byte')} in snapshot ${record.id}\n`);
      } finally {
        await store.close();
      }
    }, flags.json);
  });
}
