// Walks one source tree depth-first in name order (lstat only, never following symlinks), applying excludes and mount boundaries.

import { isUtf8 } from 'node:buffer';
import type { BigIntStats } from 'node:fs';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CassetteError, messageOf, throwIfAborted } from '../errors.js';
import type { BackupWarning, EntryType } from '../format/types.js';
import { compilePathPatterns } from '../path-pattern.js';

export interface WalkItem {
  /** Path relative to the source root, `/`-separated; for a name that is not valid UTF-8, its decoding with U+FFFD (see pathBytes). */
  path: string;
  /** The relative path's exact bytes, only when some component is not valid UTF-8. */
  pathBytes?: Buffer;
  /** Absolute path: a string, or its exact bytes when some component is not valid UTF-8 (fs calls take either). */
  absPath: string | Buffer;
  stats: BigIntStats;
  type: EntryType;
}

export interface WalkOptions {
  /** Absolute path of the source root (a directory, or a single file). */
  root: string;
  /** Exclude patterns (see compileExcludes). */
  exclude?: readonly string[];
  /** Do not descend into directories on another device than the root (the mount point itself is kept, empty). */
  oneFileSystem?: boolean;
  /** Absolute paths whose contents are left out (other sources nested inside this one); a directory itself is kept as an empty entry. */
  skip?: ReadonlySet<string>;
  /**
   * Leave out the contents of a directory that holds a valid cache directory tag (isCacheTag),
   * except the tag itself; the directory is kept, as restic and GNU tar do.
   */
  excludeCaches?: boolean;
  /** Leave out regular files larger than this many bytes (told to onLeftOut). */
  maxFileSize?: number;
  /** Told about each file left out by maxFileSize (an exclusion asked for: not a warning). */
  onLeftOut?: (item: WalkItem) => void;
  signal?: AbortSignal;
  /** Unreadable directories, sockets and vanished entries are reported here and skipped. */
  onWarning?: (warning: BackupWarning) => void;
}

/**
 * Exclude matcher (path-pattern.ts has the rules): a pattern starting with `/` is matched against
 * the absolute path, another pattern containing `/` against the path relative to the source root,
 * a pattern without `/` against each name, so `*.tmp` excludes `a/b/x.tmp`. The walk asks for
 * each path below the source root before it descends, so an excluded directory's contents are
 * never visited: only the path itself is matched here. Directories above the source root are not
 * matched: a plan excludes a source of another role by its absolute path, and a source nested
 * in it is still backed up whole.
 */
export function compileExcludes(patterns: readonly string[]): (relPath: string, absPath: string) => boolean {
  const compiled = compilePathPatterns(patterns, 'exclude');
  const absolute = compiled.filter((p) => p.absolute);
  const relative = compiled.filter((p) => !p.absolute);
  if (compiled.length === 0) return () => false;
  return (relPath, absPath) => relative.some((p) => p.matchesItself(relPath)) || (absolute.length > 0 && absolute.some((p) => p.matchesItself(absPath.replace(/^\/+/, ''))));
}

const SLASH = Buffer.from('/');

/** The file that marks a cache directory (https://bford.info/cachedir/). */
export const CACHE_TAG_NAME = 'CACHEDIR.TAG';
const CACHE_TAG_SIGNATURE = Buffer.from('Signature: 8a477f597d28d172789f06886806bc55');

/** Whether `file` is a regular file that starts with the cache directory tag's signature (never through a symlink). */
export function isCacheTag(file: string | Buffer): boolean {
  let fd: number | undefined;
  try {
    fd = fsSync.openSync(file, OPEN_LISTED_FILE);
    if (!fsSync.fstatSync(fd).isFile()) return false;
    const head = Buffer.alloc(CACHE_TAG_SIGNATURE.length);
    return fsSync.readSync(fd, head, 0, head.length, 0) === head.length && head.equals(CACHE_TAG_SIGNATURE);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fsSync.closeSync(fd);
  }
}

/**
 * Flags to open a listed regular file for reading: never through a symlink, and never blocking
 * (a file replaced by a FIFO after the listing would block open() until a writer came; regular
 * files ignore O_NONBLOCK).
 */
export const OPEN_LISTED_FILE = fsSync.constants.O_RDONLY | fsSync.constants.O_NOFOLLOW | fsSync.constants.O_NONBLOCK;

/**
 * What to record when the open descriptor of a listed file (its fstat) or the open itself shows
 * that the path is no longer the regular file that was listed: W_CHANGED, not stored. Undefined
 * when it is the same file.
 */
export function replacedSinceListed(item: Pick<WalkItem, 'path' | 'stats'>, opened: { stats?: BigIntStats; code?: string }): BackupWarning | undefined {
  const { stats, code } = opened;
  if (code === 'ELOOP') return { code: 'W_CHANGED', path: item.path, message: 'replaced by a symlink after it was listed; not stored' };
  if (!stats) return undefined;
  if (!stats.isFile()) return { code: 'W_CHANGED', path: item.path, message: `replaced by a ${entryTypeOf(stats) ?? 'special file'} after it was listed; not stored` };
  if (stats.ino !== item.stats.ino || stats.dev !== item.stats.dev)
    return { code: 'W_CHANGED', path: item.path, message: 'replaced by another file after it was listed; not stored' };
  return undefined;
}

export function entryTypeOf(stats: BigIntStats): EntryType | 'socket' | undefined {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isFIFO()) return 'fifo';
  if (stats.isCharacterDevice()) return 'chardev';
  if (stats.isBlockDevice()) return 'blockdev';
  if (stats.isSocket()) return 'socket';
  return undefined;
}

/** Yields every entry below the root (not the root directory itself), parents before children. */
export async function* walk(options: WalkOptions): AsyncGenerator<WalkItem> {
  const { root, signal } = options;
  const warn = options.onWarning ?? (() => undefined);
  const excluded = compileExcludes(options.exclude ?? []);
  const skip = options.skip ?? new Set<string>();
  let rootStats: BigIntStats;
  try {
    rootStats = await fs.lstat(root, { bigint: true });
  } catch (error) {
    throw new CassetteError('E_SOURCE', `cannot read source ${root}: ${messageOf(error)}`, { cause: error });
  }
  if (!rootStats.isDirectory()) {
    const type = entryTypeOf(rootStats);
    if (type === 'file' || type === 'symlink') {
      yield { path: path.basename(root), absPath: root, stats: rootStats, type };
      return;
    }
    throw new CassetteError('E_SOURCE', `source ${root} is neither a directory nor a regular file`);
  }

  // Each stack frame is a directory whose remaining children are still to visit. readdir and
  // lstat are synchronous: a few microseconds each on a local file system, where the promise
  // API's thread-pool round trip cost ~20-50 µs per entry (3× slower walks measured here).
  // Names are read as bytes (a string readdir turns invalid UTF-8 into U+FFFD, a name that does
  // not exist) and sorted in byte order; a path stays a string while every component is UTF-8.
  const stack: Array<{ rel: string; relBytes?: Buffer; abs: string | Buffer; names: Buffer[]; next: number }> = [];
  const open = async (rel: string, relBytes: Buffer | undefined, abs: string | Buffer): Promise<void> => {
    try {
      let names: Buffer[] = fsSync.readdirSync(abs, { encoding: 'buffer' });
      if (options.excludeCaches) names = cacheTagOnly(abs, names);
      names.sort((a, b) => Buffer.compare(a, b));
      stack.push({ rel, relBytes, abs, names, next: 0 });
    } catch (error) {
      if (rel === '') throw new CassetteError('E_SOURCE', `cannot list source ${root}: ${messageOf(error)}`, { cause: error });
      warn({ code: 'W_UNREADABLE', path: rel, message: `cannot list directory: ${messageOf(error)}` });
    }
  };
  await open('', undefined, root);

  while (stack.length > 0) {
    throwIfAborted(signal);
    const dir = stack[stack.length - 1]!;
    if (dir.next >= dir.names.length) {
      stack.pop();
      continue;
    }
    const nameBytes = dir.names[dir.next++]!;
    const name = nameBytes.toString();
    const rel = dir.rel === '' ? name : `${dir.rel}/${name}`;
    let relBytes: Buffer | undefined;
    let abs: string | Buffer;
    if (dir.relBytes === undefined && typeof dir.abs === 'string' && isUtf8(nameBytes)) {
      abs = path.join(dir.abs, name);
    } else {
      relBytes = dir.relBytes ?? (dir.rel === '' ? undefined : Buffer.from(dir.rel));
      relBytes = relBytes ? Buffer.concat([relBytes, SLASH, nameBytes]) : nameBytes;
      abs = Buffer.concat([typeof dir.abs === 'string' ? Buffer.from(dir.abs) : dir.abs, SLASH, nameBytes]);
    }
    const absText = typeof abs === 'string' ? abs : abs.toString();
    if (excluded(rel, absText)) continue;
    const nested = typeof abs === 'string' && skip.has(abs);
    let stats: BigIntStats;
    try {
      stats = fsSync.lstatSync(abs, { bigint: true });
    } catch (caught) {
      const error = caught as NodeJS.ErrnoException;
      const code = error.code;
      if (code === 'ENOENT') warn({ code: 'W_VANISHED', path: rel, message: 'vanished before it was read' });
      else warn({ code: 'W_UNREADABLE', path: rel, message: messageOf(error) });
      continue;
    }
    const type = entryTypeOf(stats);
    if (type === 'socket') {
      warn({ code: 'W_SKIPPED', path: rel, message: 'socket not stored (tar has no socket type)' });
      continue;
    }
    if (type === undefined) {
      warn({ code: 'W_UNREADABLE', path: rel, message: 'unknown file type, not stored' });
      continue;
    }
    if (nested && type !== 'dir') continue;
    if (type === 'file' && options.maxFileSize !== undefined && stats.size > BigInt(options.maxFileSize)) {
      options.onLeftOut?.(relBytes ? { path: rel, pathBytes: relBytes, absPath: abs, stats, type } : { path: rel, absPath: abs, stats, type });
      continue;
    }
    yield relBytes ? { path: rel, pathBytes: relBytes, absPath: abs, stats, type } : { path: rel, absPath: abs, stats, type };
    // A nested source keeps its directory entry here (so its metadata is restored with the
    // parent) but its contents belong to its own artifact.
    if (type === 'dir' && !nested && !(options.oneFileSystem && stats.dev !== rootStats.dev)) {
      await open(rel, relBytes, abs);
    }
  }
}

/** A directory's names, or only its cache directory tag when it holds a valid one. */
function cacheTagOnly(dir: string | Buffer, names: Buffer[]): Buffer[] {
  const tag = names.find((name) => name.toString('latin1') === CACHE_TAG_NAME);
  if (!tag) return names;
  return isCacheTag(typeof dir === 'string' ? path.join(dir, CACHE_TAG_NAME) : Buffer.concat([dir, SLASH, tag])) ? [tag] : names;
}
