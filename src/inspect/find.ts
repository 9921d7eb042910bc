// Which snapshots hold paths matching some patterns (`cassette find`): commit records and indexes only, never an archive byte.

import { CassetteError } from '../errors.js';
import type { ArtifactRecord, CommitRecord, EntryType, IndexEntry } from '../format/types.js';
import type { IndexReader } from '../format/index-file.js';
import { artifactMayMatch, compileSelector, type SelectOptions } from '../restore/select.js';

/** One matching entry of one snapshot, as `find` reports it. */
export interface FoundEntry {
  snapshot: string;
  artifact: string;
  path: string;
  /** Present when the name is not valid UTF-8 (IndexEntry.pathBytes). */
  pathBytes?: string;
  entryType: EntryType;
  size: number;
  mode: number;
  /** Decimal seconds since the epoch, as stored (IndexEntry.mtime). */
  mtime: string;
  link?: string;
}

export function foundEntry(snapshot: string, artifact: string, entry: IndexEntry): FoundEntry {
  return {
    snapshot,
    artifact,
    path: entry.path,
    ...(entry.pathBytes !== undefined ? { pathBytes: entry.pathBytes } : {}),
    entryType: entry.type,
    size: entry.size,
    mode: entry.mode,
    mtime: entry.mtime,
    ...(entry.link !== undefined ? { link: entry.link } : {}),
  };
}

/**
 * The artifacts of a snapshot whose index `find` must read: those an include pattern could match
 * (restore's own test, so `find` and `restore --include` agree). Pure.
 */
export function artifactsToSearch(record: Pick<CommitRecord, 'artifacts'>, selection: SelectOptions): ArtifactRecord[] {
  return record.artifacts.filter((artifact) => artifactMayMatch(selection, artifact.name));
}

export interface FindOptions {
  /** Globs over `artifact/path`, as `restore --include` and `ls` take them; at least one. */
  patterns: readonly string[];
  /** Globs of entries to leave out (an excluded directory excludes everything below it). */
  exclude?: readonly string[];
  /** Opens an artifact's index (repository.ts openIndex on the command's store). */
  openIndex: (artifact: ArtifactRecord) => Promise<IndexReader>;
}

/**
 * The entries of `records` (in the order given) that match the patterns, snapshot by snapshot and
 * in tar order within each artifact. Reads each searched artifact's index once, as a stream.
 */
export async function* findEntries(records: readonly CommitRecord[], options: FindOptions): AsyncGenerator<FoundEntry> {
  if (options.patterns.length === 0) throw new CassetteError('E_USAGE', 'find needs at least one pattern, such as "etc/ssh/**" or "srv-data/**/*.log"');
  const selection: SelectOptions = { include: [...options.patterns], exclude: options.exclude ? [...options.exclude] : undefined };
  const selected = compileSelector(selection);
  for (const record of records) {
    for (const artifact of artifactsToSearch(record, selection)) {
      const index = await options.openIndex(artifact);
      try {
        for await (const entry of index.entries) if (selected(artifact.name, entry.path)) yield foundEntry(record.id, artifact.name, entry);
      } finally {
        index.close();
      }
    }
  }
}
