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
  /** Directories: entries below it, at any depth, and directly in it (whether or not the listing shows them). */
  entries?: number;
  children?: number;
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
  /** Entries below it, of every type, at any depth; and directly in it. */
  entries: number;
  children: number;
}

/** The listing of a snapshot the report carries, complete or cut. */
export interface TreeListing {
  /** Entries, parents before their children (a directory's entry may be missing when the index has none: its children then hang from the artifact). */
  entries: TreeEntry[];
  /** Entries in the snapshot, and in the listing. */
  total: number;
  shown: number;
  /** Each artifact's top level: entries directly in it, entries and file bytes below it. */
  tops: Array<{ artifact: string; children: number; entries: number; bytes: number }>;
  /**
   * Undefined when the listing is complete. Otherwise no entry deeper than this depth is listed
   * (0: the artifacts' top level), and every entry less deep is.
   */
  depth?: number;
  /** When the entries at `depth` are cut too: at most this many of each directory's (in index order) are listed. */
  perDirectory?: number;
}

/** How many entries the listing holds at most: about 40 bytes each in the page. */
export const DEFAULT_TREE_LIMIT = 50_000;

/** How many directories the "largest directories" table lists. */
export const LARGEST_DIRECTORIES = 20;

/** Number of `/` in a path: 0 for a top-level entry of its artifact. */
function depthOf(path: string): number {
  let depth = 0;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) depth++;
  return depth;
}

/** The directory an entry is in: '' for the artifact's top level. */
function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

/**
 * Collects a snapshot's entries, artifact after artifact, in one pass: a snapshot of 500,000
 * entries is never held whole. It keeps the totals of every directory (a few per hundred
 * entries), and, of the entries, at most `limit`: every level down to a depth, and of the
 * deepest level kept the first entries of each directory, as many for each as fit. When the
 * kept entries exceed `limit`, the deepest level is cut to fewer entries per directory, aiming at
 * nine tenths of the limit so that the cut is not made again for every entry that follows; a
 * level that cannot keep one entry per directory is dropped, and the level above is cut in its
 * turn. Every directory listed thus shows its first entries, and the page says how many more it
 * holds and how to list them.
 */
export class TreeCollector {
  private readonly byDepth: TreeEntry[][] = [];
  private kept = 0;
  /** No entry deeper is kept; entries at this depth are kept up to `cap` per directory. */
  private cutoff = Infinity;
  private cap = Infinity;
  /** Entries kept at depth `cutoff`, per directory (`artifact\0path`). */
  private keptIn = new Map<string, number>();
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
    if (depth === this.cutoff) {
      const parent = key(artifact, parentOf(entry.path));
      const n = this.keptIn.get(parent) ?? 0;
      if (n >= this.cap) return;
      this.keptIn.set(parent, n + 1);
    }
    (this.byDepth[depth] ??= []).push(listed(artifact, entry));
    this.kept++;
    if (this.kept > this.limit) this.cut();
  }

  /** Brings the kept entries to at most nine tenths of the limit (at least 1) by cutting the deepest level, or dropping it. */
  private cut(): void {
    const target = Math.max(1, Math.floor(this.limit * 0.9));
    while (this.kept > target) {
      const deepest = this.byDepth.length - 1;
      const level = this.byDepth[deepest] ?? [];
      if (level.length === 0 && deepest > 0) {
        this.byDepth.length = deepest;
        this.cutoff = deepest - 1;
        this.cap = Infinity;
        continue;
      }
      const above = this.kept - level.length;
      const counts = new Map<string, number>();
      for (const e of level) {
        const parent = key(e.artifact, parentOf(e.path));
        counts.set(parent, (counts.get(parent) ?? 0) + 1);
      }
      const cap = largestCap([...counts.values()], target - above);
      if (cap >= 1 || deepest === 0) {
        const perParent = new Map<string, number>();
        const keep = level.filter((e) => {
          const parent = key(e.artifact, parentOf(e.path));
          const n = perParent.get(parent) ?? 0;
          perParent.set(parent, n + 1);
          return n < Math.max(1, cap);
        });
        // Depth 0 keeps at least one entry per artifact, whatever the limit.
        this.byDepth[deepest] = keep;
        this.kept = above + keep.length;
        this.cutoff = deepest;
        this.cap = Math.max(1, cap);
        this.keptIn = perParent;
        for (const [parent, n] of perParent) perParent.set(parent, Math.min(n, this.cap));
        return;
      }
      this.byDepth.length = deepest;
      this.kept = above;
      this.cutoff = deepest - 1;
      this.cap = Infinity;
    }
  }

  /** The listing, directories with their totals, parents before children. */
  listing(): TreeListing {
    const entries = this.byDepth.flat().map((entry) => {
      if (entry.type !== 'dir') return entry;
      const totals = this.directories.get(key(entry.artifact, entry.path));
      return { ...entry, size: totals?.bytes ?? 0, entries: totals?.entries ?? 0, children: totals?.children ?? 0 };
    });
    const tops = [...this.directories.values()].filter((d) => d.path === '');
    return {
      entries,
      total: this.total,
      shown: entries.length,
      tops: tops.map((d) => ({ artifact: d.artifact, children: d.children, entries: d.entries, bytes: d.bytes })),
      ...(this.cutoff === Infinity ? {} : { depth: this.cutoff }),
      ...(this.cap === Infinity ? {} : { perDirectory: this.cap }),
    };
  }

  /** Totals of every directory, an artifact's top level (path '') included. */
  directoryTotals(): ReadonlyMap<string, DirectoryTotals> {
    return this.directories;
  }

  /** The `count` directories with the most file bytes below them, largest first (ties by path); an artifact's top level is not one. */
  largestDirectories(count = LARGEST_DIRECTORIES): DirectoryTotals[] {
    return [...this.directories.values()]
      .filter((d) => d.path !== '')
      .sort((a, b) => b.bytes - a.bytes || b.entries - a.entries || (a.artifact + '/' + a.path < b.artifact + '/' + b.path ? -1 : 1))
      .slice(0, count);
  }

  /** Adds the entry to the totals of every directory above it (which need not have an entry of their own), and to its own directory's count of children. */
  private countIntoAncestors(artifact: string, entry: IndexEntry): void {
    let direct = true;
    for (let end = entry.path.lastIndexOf('/'); ; end = entry.path.lastIndexOf('/', end - 1)) {
      const path = end > 0 ? entry.path.slice(0, end) : '';
      const k = key(artifact, path);
      let totals = this.directories.get(k);
      if (!totals) {
        totals = { artifact, path, bytes: 0, files: 0, entries: 0, children: 0 };
        this.directories.set(k, totals);
      }
      totals.entries++;
      if (direct) totals.children++;
      direct = false;
      if (entry.type === 'file') {
        totals.files++;
        totals.bytes += entry.size;
      }
      if (end <= 0) break;
    }
  }
}

/** The largest c ≥ 0 with Σ min(count, c) ≤ budget (0 when even one each does not fit). Pure. */
export function largestCap(counts: readonly number[], budget: number): number {
  if (budget < counts.length) return 0;
  let low = 1;
  let high = Math.max(1, ...counts);
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (counts.reduce((sum, n) => sum + Math.min(n, mid), 0) <= budget) low = mid;
    else high = mid - 1;
  }
  return low;
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
