// The report's view of one snapshot's entries, built in one pass over its indexes: every directory's totals, the largest ones, and a listing cut at a depth so that it stays small (pure).

import type { EntryType, IndexEntry } from '../format/types.js';

/** One entry of the listing the report carries. */
export interface TreeEntry {
  artifact: string;
  /** Path inside the artifact, as in the index (`/`-separated, no leading `/`). */
  path: string;
  type: EntryType;
  /** Content bytes (files); for a directory, the content bytes of every file below it. */
  size: number;
  /** Modification time, decimal seconds since the epoch as the index has it. */
  mtime: string;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Owner and group names when the backed-up system knew them. */
  owner?: string;
  group?: string;
  /** Symlink target, or the path a hard link links to. */
  link?: string;
  /** Directories: entries below it, at any depth (whether or not the listing shows them). */
  entries?: number;
  /** The name's bytes are not valid UTF-8: `path` shows U+FFFD where they are, and no pattern names it exactly. */
  nameNotUtf8?: true;
  /** Files with a UTF-8 name, in the report's data: the command that writes the file to standard output (restore-command.ts). */
  restore?: string;
}

/** Totals of one directory: what lies below it at any depth. */
export interface DirectoryTotals {
  artifact: string;
  path: string;
  /** Content bytes of the files below it. */
  bytes: number;
  files: number;
  /** Entries below it, of every type. */
  entries: number;
}

/** The listing of a snapshot the report carries, complete or cut at a depth. */
export interface TreeListing {
  /** Entries, parents before their children (a directory's entry may be missing when the index has none: its children then hang from the artifact). */
  entries: TreeEntry[];
  /** Entries in the snapshot, and in the listing. */
  total: number;
  shown: number;
  /**
   * Undefined when the listing is complete. Otherwise every entry down to this depth is listed
   * (0: the artifact's top level), and none deeper; when even depth 0 does not fit, the first
   * `shown` entries of the top level in index order, and `topLevelCut` says so.
   */
  depth?: number;
  topLevelCut?: true;
}

/** How many entries the listing holds at most: about 100 bytes each in the page. */
export const DEFAULT_TREE_LIMIT = 50_000;

/** How many directories the "largest directories" table lists. */
export const LARGEST_DIRECTORIES = 20;

/** Number of `/` in a path: 0 for a top-level entry of its artifact. */
function depthOf(path: string): number {
  let depth = 0;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) depth++;
  return depth;
}

/**
 * Collects a snapshot's entries, artifact after artifact, in one pass: a snapshot of 500,000
 * entries is never held whole. It keeps the totals of every directory (a few per hundred
 * entries), and of the entries those down to the deepest depth that fits in `limit`: when the
 * kept ones exceed it, the deepest depth kept is dropped whole, and no entry that deep is kept
 * again. The listing so shows every level it shows completely, and the page can say where it
 * stops and how to list the rest.
 */
export class TreeCollector {
  private readonly byDepth: TreeEntry[][] = [];
  private kept = 0;
  private cutoff = Infinity;
  /** Depth 0 alone did not fit: the listing holds the first `limit` entries of the top level. */
  private topLevelCut = false;
  private total = 0;
  private readonly directories = new Map<string, DirectoryTotals>();

  constructor(private readonly limit = DEFAULT_TREE_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`Expected \`limit\` to be an integer from 1 and up, got ${limit}`);
  }

  add(artifact: string, entry: IndexEntry): void {
    this.total++;
    this.countIntoAncestors(artifact, entry);
    const depth = depthOf(entry.path);
    if (depth > this.cutoff) return;
    if (depth === 0 && this.cutoff === 0 && this.kept >= this.limit) {
      this.topLevelCut = true;
      return;
    }
    (this.byDepth[depth] ??= []).push(listed(artifact, entry));
    this.kept++;
    while (this.kept > this.limit && this.byDepth.length > 1) {
      const deepest = this.byDepth.length - 1;
      this.kept -= this.byDepth[deepest]?.length ?? 0;
      this.byDepth.length = deepest;
      this.cutoff = deepest - 1;
    }
    if (this.kept > this.limit) {
      // Depth 0 alone does not fit: keep the first `limit` of the top level.
      this.byDepth[0]!.length = this.limit;
      this.kept = this.limit;
      this.cutoff = 0;
      this.topLevelCut = true;
    }
  }

  /** The listing, directories with their totals, parents before children. */
  listing(): TreeListing {
    const entries = this.byDepth.flat().map((entry) => {
      if (entry.type !== 'dir') return entry;
      const totals = this.directories.get(key(entry.artifact, entry.path));
      return { ...entry, size: totals?.bytes ?? 0, entries: totals?.entries ?? 0 };
    });
    return {
      entries,
      total: this.total,
      shown: entries.length,
      ...(this.cutoff === Infinity ? {} : { depth: this.cutoff }),
      ...(this.topLevelCut ? { topLevelCut: true as const } : {}),
    };
  }

  /** The `count` directories with the most file bytes below them, largest first (ties by path); an artifact's root is not one. */
  largestDirectories(count = LARGEST_DIRECTORIES): DirectoryTotals[] {
    return [...this.directories.values()]
      .sort((a, b) => b.bytes - a.bytes || b.entries - a.entries || (a.artifact + '/' + a.path < b.artifact + '/' + b.path ? -1 : 1))
      .slice(0, count);
  }

  /** Adds the entry to the totals of every directory above it (which need not have an entry of their own). */
  private countIntoAncestors(artifact: string, entry: IndexEntry): void {
    for (let end = entry.path.lastIndexOf('/'); end > 0; end = entry.path.lastIndexOf('/', end - 1)) {
      const path = entry.path.slice(0, end);
      const k = key(artifact, path);
      let totals = this.directories.get(k);
      if (!totals) {
        totals = { artifact, path, bytes: 0, files: 0, entries: 0 };
        this.directories.set(k, totals);
      }
      totals.entries++;
      if (entry.type === 'file') {
        totals.files++;
        totals.bytes += entry.size;
      }
    }
  }
}

const key = (artifact: string, path: string): string => `${artifact}\0${path}`;

function listed(artifact: string, entry: IndexEntry): TreeEntry {
  return {
    artifact,
    path: entry.path,
    type: entry.type,
    size: entry.type === 'file' ? entry.size : 0,
    mtime: entry.mtime,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    ...(entry.uname ? { owner: entry.uname } : {}),
    ...(entry.gname ? { group: entry.gname } : {}),
    ...(entry.link !== undefined ? { link: entry.link } : {}),
    ...(entry.pathBytes !== undefined ? { nameNotUtf8: true as const } : {}),
  };
}
