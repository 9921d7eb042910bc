// What changed between two snapshots (`cassette diff`): entries added, removed and changed, from the commit records and indexes alone.
//
// Artifacts are matched by name (and kind); one present in only one snapshot is added or removed
// whole, without reading its index. The entries of a tree artifact are in walk order in its
// index (backup/walk.ts), so the two indexes are merged as two sorted streams in constant memory;
// a database artifact's entries (pg_dump's members, in its own order) are few and sorted first.

import { CassetteError } from '../errors.js';
import { entryPathBytes } from '../format/entry-bytes.js';
import type { IndexReader } from '../format/index-file.js';
import type { ArtifactRecord, CommitRecord, EntryType, IndexEntry } from '../format/types.js';
import { compareWalkOrder } from '../backup/parent.js';

/** What differs between two entries of the same path. */
export type EntryChange =
  /** File content (size or SHA-256), a link's target, or a device's numbers. */
  | 'content'
  | 'type'
  /** Permission bits, setuid/setgid/sticky. */
  | 'mode'
  /** uid, gid, or the owner or group name. */
  | 'owner'
  | 'mtime'
  /** Extended attributes other than ACLs. */
  | 'xattrs'
  /** POSIX ACLs (system.posix_acl_access / _default). */
  | 'acl';

const ACL_NAMES = new Set(['system.posix_acl_access', 'system.posix_acl_default']);

function sameAttributes(a: Record<string, string> | undefined, b: Record<string, string> | undefined, acl: boolean): boolean {
  const pick = (xattrs: Record<string, string> | undefined): string[] =>
    Object.entries(xattrs ?? {})
      .filter(([name]) => ACL_NAMES.has(name) === acl)
      .map(([name, value]) => `${name}=${value}`)
      .sort();
  const x = pick(a);
  const y = pick(b);
  return x.length === y.length && x.every((item, i) => item === y[i]);
}

/**
 * What changed from `before` to `after`, two entries of the same path; empty when nothing did.
 * Pure. Content is compared by size and SHA-256 (files), target (links) and device numbers; a
 * changed type makes the content change too when the content differs in kind.
 */
export function entryChanges(before: IndexEntry, after: IndexEntry): EntryChange[] {
  const changes: EntryChange[] = [];
  if (before.type !== after.type) changes.push('type');
  if (
    before.size !== after.size ||
    before.sha256 !== after.sha256 ||
    before.link !== after.link ||
    before.linkBytes !== after.linkBytes ||
    before.devmajor !== after.devmajor ||
    before.devminor !== after.devminor
  )
    changes.push('content');
  if (before.mode !== after.mode) changes.push('mode');
  if (before.uid !== after.uid || before.gid !== after.gid || before.uname !== after.uname || before.gname !== after.gname) changes.push('owner');
  if (before.mtime !== after.mtime) changes.push('mtime');
  if (!sameAttributes(before.xattrs, after.xattrs, false)) changes.push('xattrs');
  if (!sameAttributes(before.xattrs, after.xattrs, true)) changes.push('acl');
  return changes;
}

/** One line of a diff. An artifact added or removed whole has `path` '' and `entryType` 'artifact'. */
export type DiffItem =
  | { kind: 'added' | 'removed'; artifact: string; path: string; pathBytes?: string; entryType: EntryType | 'artifact'; size: number; entries?: number }
  | { kind: 'changed'; artifact: string; path: string; pathBytes?: string; entryType: EntryType; before: IndexEntry; after: IndexEntry; changes: EntryChange[] };

function pathKey(entry: IndexEntry): Buffer {
  return entryPathBytes(entry) ?? Buffer.from(entry.path);
}

/** An entry stream checked to be in walk order (a stream that is not is refused, naming the index). */
async function* inWalkOrder(entries: AsyncIterable<IndexEntry>, name: string): AsyncGenerator<{ entry: IndexEntry; key: Buffer }> {
  let previous: Buffer | undefined;
  for await (const entry of entries) {
    const key = pathKey(entry);
    if (previous && compareWalkOrder(previous, key) >= 0)
      throw new CassetteError('E_FORMAT', `${name}: entry ${JSON.stringify(entry.path)} is out of walk order; cannot compare it`);
    previous = key;
    yield { entry, key };
  }
}

/**
 * The differences between two entry streams of one artifact, each in walk order (compareWalkOrder
 * over the paths' bytes): a merge of two sorted streams. Pure but for iterating its inputs;
 * `names` name the two streams in an error.
 */
export async function* diffEntries(
  artifact: string,
  before: AsyncIterable<IndexEntry>,
  after: AsyncIterable<IndexEntry>,
  names: [string, string] = ['before', 'after'],
): AsyncGenerator<DiffItem> {
  const a = inWalkOrder(before, names[0]);
  const b = inWalkOrder(after, names[1]);
  type Item = { entry: IndexEntry; key: Buffer } | undefined;
  const next = async (stream: AsyncGenerator<{ entry: IndexEntry; key: Buffer }>): Promise<Item> => {
    const step = await stream.next();
    return step.done ? undefined : step.value;
  };
  let x = await next(a);
  let y = await next(b);
  while (x || y) {
    const order = !x ? 1 : !y ? -1 : compareWalkOrder(x.key, y.key);
    if (order < 0 && x) {
      yield { kind: 'removed', artifact, ...located(x.entry), entryType: x.entry.type, size: x.entry.size };
      x = await next(a);
    } else if (order > 0 && y) {
      yield { kind: 'added', artifact, ...located(y.entry), entryType: y.entry.type, size: y.entry.size };
      y = await next(b);
    } else if (x && y) {
      const changes = entryChanges(x.entry, y.entry);
      if (changes.length > 0) yield { kind: 'changed', artifact, ...located(y.entry), entryType: y.entry.type, before: x.entry, after: y.entry, changes };
      x = await next(a);
      y = await next(b);
    }
  }
}

function located(entry: IndexEntry): { path: string; pathBytes?: string } {
  return entry.pathBytes === undefined ? { path: entry.path } : { path: entry.path, pathBytes: entry.pathBytes };
}

/** How the artifacts of two snapshots pair up, by name and kind, in the order of `before` then the new ones of `after`. Pure. */
export function pairArtifacts(
  before: readonly ArtifactRecord[],
  after: readonly ArtifactRecord[],
): Array<{ before: ArtifactRecord; after: ArtifactRecord } | { before: ArtifactRecord; after?: undefined } | { before?: undefined; after: ArtifactRecord }> {
  const key = (artifact: ArtifactRecord): string => `${artifact.kind}\0${artifact.name}`;
  const later = new Map(after.map((artifact) => [key(artifact), artifact]));
  const pairs: ReturnType<typeof pairArtifacts> = before.map((artifact) => {
    const match = later.get(key(artifact));
    later.delete(key(artifact));
    return match ? { before: artifact, after: match } : { before: artifact };
  });
  for (const artifact of later.values()) pairs.push({ after: artifact });
  return pairs;
}

/** Whether an item is more than a change of metadata: added, removed, or changed in content or type (`diff --content-only`). Pure. */
export function changesContent(item: DiffItem): boolean {
  return item.kind !== 'changed' || item.changes.includes('content') || item.changes.includes('type');
}

/** Totals of a diff, by kind of entry. */
export interface DiffTotals {
  files: { added: number; removed: number; changed: number };
  directories: { added: number; removed: number; changed: number };
  /** Symlinks, hard links, fifos and devices. */
  others: { added: number; removed: number; changed: number };
  /** Artifacts present in only one of the snapshots. */
  artifacts: { added: number; removed: number };
  /** Content bytes of files added, and the new size of files whose content changed. */
  bytesAdded: number;
  /** Content bytes of files removed, and the old size of files whose content changed. */
  bytesRemoved: number;
}

export function emptyTotals(): DiffTotals {
  return {
    files: { added: 0, removed: 0, changed: 0 },
    directories: { added: 0, removed: 0, changed: 0 },
    others: { added: 0, removed: 0, changed: 0 },
    artifacts: { added: 0, removed: 0 },
    bytesAdded: 0,
    bytesRemoved: 0,
  };
}

/** Counts one item into `totals`. Pure but for the update. */
export function countDiffItem(totals: DiffTotals, item: DiffItem): void {
  if (item.kind === 'changed') {
    totals[groupOf(item.entryType)].changed++;
    if (item.changes.includes('content')) {
      totals.bytesAdded += item.after.size;
      totals.bytesRemoved += item.before.size;
    }
    return;
  }
  if (item.entryType === 'artifact') totals.artifacts[item.kind]++;
  else totals[groupOf(item.entryType)][item.kind]++;
  if (item.kind === 'added') totals.bytesAdded += item.size;
  else totals.bytesRemoved += item.size;
}

function groupOf(type: EntryType): 'files' | 'directories' | 'others' {
  return type === 'file' ? 'files' : type === 'dir' ? 'directories' : 'others';
}

export interface DiffOptions {
  /** Opens an artifact's index (repository.ts openIndex on the command's store). */
  openIndex: (artifact: ArtifactRecord) => Promise<IndexReader>;
}

async function* sortedEntries(index: IndexReader): AsyncGenerator<IndexEntry> {
  const entries: IndexEntry[] = [];
  for await (const entry of index.entries) entries.push(entry);
  entries.sort((p, q) => compareWalkOrder(pathKey(p), pathKey(q)));
  yield* entries;
}

/** Everything that differs from snapshot `before` to snapshot `after`, artifact by artifact. Reads the indexes of the artifacts both hold, and nothing else. */
export async function* diffSnapshots(before: CommitRecord, after: CommitRecord, options: DiffOptions): AsyncGenerator<DiffItem> {
  for (const pair of pairArtifacts(before.artifacts, after.artifacts)) {
    if (!pair.after) {
      yield { kind: 'removed', artifact: pair.before.name, path: '', entryType: 'artifact', size: pair.before.bytesRead, entries: pair.before.entryCount };
      continue;
    }
    if (!pair.before) {
      yield { kind: 'added', artifact: pair.after.name, path: '', entryType: 'artifact', size: pair.after.bytesRead, entries: pair.after.entryCount };
      continue;
    }
    const a = await options.openIndex(pair.before);
    try {
      const b = await options.openIndex(pair.after);
      try {
        const sorted = pair.before.kind === 'database';
        yield* diffEntries(pair.before.name, sorted ? sortedEntries(a) : a.entries, sorted ? sortedEntries(b) : b.entries, [pair.before.index.key, pair.after.index.key]);
      } finally {
        b.close();
      }
    } finally {
      a.close();
    }
  }
}
