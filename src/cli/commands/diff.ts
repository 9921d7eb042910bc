// `cassette diff A B`: entries added, removed and changed between two snapshots, from their commit records and indexes alone (no archive is read).

import { Command } from 'commander';
import { requireUnsealed, storeForReading } from '../../crypto/repository-encryption.js';
import type { KeyFlags } from '../../crypto/keys.js';
import type { CommitRecord, IndexEntry } from '../../format/types.js';
import { changesContent, countDiffItem, diffSnapshots, emptyTotals, type DiffItem, type DiffTotals, type EntryChange } from '../../inspect/diff.js';
import { openIndex, resolveSnapshot } from '../../repository.js';
import { openRepo, run, withRepoOptions, type RepoFlags } from '../common.js';
import { withIdentityOptions } from '../keys.js';
import { humanBytes } from '../render.js';
import { entries } from '../words.js';

/** The index fields each kind of change is about, for the `before` and `after` of `--json`. */
const CHANGE_FIELDS: Record<EntryChange, Array<keyof IndexEntry>> = {
  content: ['size', 'sha256', 'link', 'devmajor', 'devminor'],
  type: ['type'],
  mode: ['mode'],
  owner: ['uid', 'gid', 'uname', 'gname'],
  mtime: ['mtime'],
  xattrs: ['xattrs'],
  acl: ['xattrs'],
};

function changedValues(entry: IndexEntry, changes: EntryChange[]): Partial<IndexEntry> {
  const values: Record<string, unknown> = {};
  for (const change of changes) for (const field of CHANGE_FIELDS[change]) if (entry[field] !== undefined) values[field] = entry[field];
  return values as Partial<IndexEntry>;
}

/** One `--json` line: `type` is added, removed or changed; a change carries the changed fields' values before and after. */
function diffEvent(item: DiffItem): Record<string, unknown> {
  if (item.kind !== 'changed') {
    const { kind, ...rest } = item;
    return { type: kind, ...rest };
  }
  const { kind, before, after, ...rest } = item;
  return { type: kind, ...rest, before: changedValues(before, item.changes), after: changedValues(after, item.changes) };
}

/** restic's letters: + added, - removed, T type changed, M content changed, U metadata only. */
function diffLine(item: DiffItem): string {
  const name = `${item.artifact}/${item.path}`;
  if (item.kind !== 'changed') {
    const whole = item.entryType === 'artifact' ? `  (whole artifact: ${entries(item.entries ?? 0)}, ${humanBytes(item.size)})` : '';
    return `${item.kind === 'added' ? '+' : '-'}    ${name}${whole}\n`;
  }
  const letter = item.changes.includes('type') ? 'T' : item.changes.includes('content') ? 'M' : 'U';
  const what = item.changes.map((change) => (change === 'type' ? `type ${item.before.type} -> ${item.after.type}` : change)).join(', ');
  return `${letter}    ${name}  (${what})\n`;
}

function totalsText(totals: DiffTotals): string {
  const row = (label: string, counts: { added: number; removed: number; changed?: number }): string =>
    `${label.padEnd(13)}${String(counts.added).padStart(7)} added, ${String(counts.removed).padStart(7)} removed${counts.changed === undefined ? '' : `, ${String(counts.changed).padStart(7)} changed`}\n`;
  return (
    row('Files:', totals.files) +
    row('Directories:', totals.directories) +
    row('Others:', totals.others) +
    (totals.artifacts.added || totals.artifacts.removed ? row('Artifacts:', totals.artifacts) : '') +
    `Added:   ${humanBytes(totals.bytesAdded)}\nRemoved: ${humanBytes(totals.bytesRemoved)}\n`
  );
}

function describe(record: CommitRecord): string {
  return `${record.id} (${record.startedAt.slice(0, 19).replace('T', ' ')}, ${record.host})`;
}

export function diffCommand(): Command {
  return withIdentityOptions(
    withRepoOptions(
      new Command('diff')
        .description('show entries added (+), removed (-) and changed between two snapshots: T type, M content, U metadata only (from the indexes alone: no archive is read)')
        .argument('<from>', 'the older snapshot: id, unique id prefix, or "latest"')
        .argument('<to>', 'the newer snapshot: id, unique id prefix, or "latest"')
        .option('--content-only', 'leave out entries whose metadata alone changed (U lines: mode, owner, mtime, xattrs, ACLs)'),
    ),
  ).action(async (fromRef: string, toRef: string, flags: RepoFlags & KeyFlags & { contentOnly?: boolean }) => {
    await run(async () => {
      const store = await storeForReading(openRepo(flags), flags);
      try {
        const from = await resolveSnapshot(store, fromRef);
        const to = await resolveSnapshot(store, toRef);
        requireUnsealed(from, store);
        requireUnsealed(to, store);
        const totals = emptyTotals();
        const out: string[] = [];
        const flush = (): void => {
          if (out.length) process.stdout.write(out.join(''));
          out.length = 0;
        };
        if (!flags.json) out.push(`comparing snapshot ${describe(from)} with ${describe(to)}\n`);
        for await (const item of diffSnapshots(from, to, { openIndex: (artifact) => openIndex(store, artifact) })) {
          if (flags.contentOnly && !changesContent(item)) continue;
          countDiffItem(totals, item);
          out.push(flags.json ? JSON.stringify(diffEvent(item)) + '\n' : diffLine(item));
          if (out.length >= 1000) flush();
        }
        flush();
        if (flags.json) process.stdout.write(JSON.stringify({ type: 'summary', from: from.id, to: to.id, ...totals }) + '\n');
        else process.stdout.write(`\n${totalsText(totals)}`);
      } finally {
        await store.close();
      }
    }, flags.json);
  });
}
