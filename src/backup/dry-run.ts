// `backup --dry-run`: walk the sources with the backup's own rules and parent check, and count what a backup would read and store; nothing is written, no lease taken.
//
//   parents   = as the backup chooses them (backup.ts findParents; reads commit records only)
//   for each tree source:
//     walk (the same excludes, caches, size limit, file system and nested-source rules)
//     → match each path with the parent's entry (parent.ts matchParent: size, mtime, ctime,
//       inode and device), streaming the parent's index
//     → count new, changed and unchanged files
//   database sources are listed: their size is known only by dumping them.
// The estimate of what is stored is an upper bound before compression: a backup stores at most
// the new and changed files' bytes, compressed, and less when frames repeat.

import os from 'node:os';
import path from 'node:path';
import { DEFAULTS } from '../defaults.js';
import type { EntryType } from '../format/types.js';
import type { ObjectStore } from '../store/object-store.js';
import { artifactNames, findParents, walkRules, type BackupOptions, type TreeSource } from './backup.js';
import { matchParent, ParentArtifact, type MatchedItem } from './parent.js';
import { nestedSources } from './sources.js';
import { walk } from './walk.js';

export type DryRunOptions = Pick<
  BackupOptions,
  'sources' | 'exclude' | 'oneFileSystem' | 'excludeCaches' | 'excludeLargerThan' | 'compressionLevel' | 'parent' | 'full' | 'forceRead' | 'encryption' | 'host' | 'signal'
> & {
  /** Read only: nothing is ever written to it. */
  store: Pick<ObjectStore, 'list' | 'getBuffer' | 'get'>;
  /** Told of every entry the backup would store, with what the parent check says of it. */
  onEntry?: (artifact: string, entry: DryRunEntry) => void;
};

/** What a backup would do with one walked entry. */
export interface DryRunEntry {
  path: string;
  type: EntryType;
  size: number;
  /**
   * Regular files: `new` (no such file in the parent), `changed` (read again) or `unchanged`
   * (same size, mtime, ctime, inode and device: not read). Other entries: `new` or `existing`.
   */
  status: 'new' | 'changed' | 'unchanged' | 'existing';
}

export interface DryRunArtifact {
  name: string;
  kind: 'tree' | 'database';
  source: string;
  /** The snapshot its unchanged files would be compared with. */
  parent?: string;
  entries: number;
  files: number;
  /** Bytes of every regular file. */
  bytes: number;
  newFiles: number;
  newBytes: number;
  changedFiles: number;
  changedBytes: number;
  unchangedFiles: number;
  unchangedBytes: number;
  /** Files left out by excludeLargerThan. */
  leftOut: { files: number; bytes: number };
}

export interface DryRunSummary {
  artifacts: DryRunArtifact[];
  /** Bytes the backup would read at least: new and changed files (unchanged ones only when a frame must be rebuilt). */
  bytesToRead: number;
  /** Upper bound of the content bytes it would store, before compression. */
  bytesToStoreAtMost: number;
  unchangedBytes: number;
}

/** Counts what backup(options) would read and store, reading only the repository's commit records and the parents' indexes. */
export async function dryRunBackup(options: DryRunOptions): Promise<DryRunSummary> {
  const { store, sources } = options;
  const names = artifactNames(sources);
  const trees = sources.filter((s): s is TreeSource => s.kind === 'tree');
  const nested = nestedSources(trees.map((t) => t.path));
  const identities = sources.map((s, i) =>
    s.kind === 'tree' ? { name: names[i]!, kind: 'tree' as const, source: path.resolve(s.path) } : { name: names[i]!, kind: s.artifactKind, source: s.source },
  );
  const level = options.compressionLevel ?? DEFAULTS.compressionLevel;
  const parents = options.full
    ? new Map<string, never>()
    : await findParents(store, options.parent, { host: options.host ?? os.hostname(), level, encryption: options.encryption?.recipients }, identities);
  const artifacts: DryRunArtifact[] = [];
  for (const [i, source] of sources.entries()) {
    const name = names[i]!;
    const counts: DryRunArtifact = {
      name,
      kind: source.kind === 'tree' ? 'tree' : 'database',
      source: identities[i]!.source,
      entries: 0,
      files: 0,
      bytes: 0,
      newFiles: 0,
      newBytes: 0,
      changedFiles: 0,
      changedBytes: 0,
      unchangedFiles: 0,
      unchangedBytes: 0,
      leftOut: { files: 0, bytes: 0 },
    };
    artifacts.push(counts);
    if (source.kind !== 'tree') continue;
    const chosen = parents.get(name);
    if (chosen) counts.parent = chosen.record.id;
    const parent = chosen ? await ParentArtifact.open(store, chosen.record, chosen.artifact) : undefined;
    try {
      const walked = walk({
        ...walkRules(options),
        root: path.resolve(source.path),
        exclude: [...(options.exclude ?? []), ...(source.exclude ?? [])],
        skip: nested[trees.indexOf(source)],
        signal: options.signal,
        onLeftOut: (item) => {
          counts.leftOut.files++;
          counts.leftOut.bytes += Number(item.stats.size);
        },
      });
      for await (const matched of matchParent(walked, parent, options.forceRead === true)) {
        const entry = count(counts, matched);
        options.onEntry?.(name, entry);
      }
    } finally {
      parent?.close();
    }
  }
  const bytesToRead = artifacts.reduce((sum, a) => sum + a.newBytes + a.changedBytes, 0);
  return { artifacts, bytesToRead, bytesToStoreAtMost: bytesToRead, unchangedBytes: artifacts.reduce((sum, a) => sum + a.unchangedBytes, 0) };
}

/** Adds one walked entry to its artifact's counts; what the backup would do with it. */
function count(counts: DryRunArtifact, matched: MatchedItem): DryRunEntry {
  const { item, parent } = matched;
  counts.entries++;
  if (item.type !== 'file') return { path: item.path, type: item.type, size: 0, status: parent ? 'existing' : 'new' };
  const size = Number(item.stats.size);
  counts.files++;
  counts.bytes += size;
  if (matched.unchanged) {
    counts.unchangedFiles++;
    counts.unchangedBytes += size;
    return { path: item.path, type: 'file', size, status: 'unchanged' };
  }
  if (parent) {
    counts.changedFiles++;
    counts.changedBytes += size;
    return { path: item.path, type: 'file', size, status: 'changed' };
  }
  counts.newFiles++;
  counts.newBytes += size;
  return { path: item.path, type: 'file', size, status: 'new' };
}
