// Where a restored artifact goes: its state across batches (ArtifactState, PendingFile), and the safe ways to give entries a place there (parents checked and made, temporary names).
// The checks themselves are safe-path.ts's; temporary names are temp-name.ts's.

import type { Hash } from 'node:crypto';
import fsSync from 'node:fs';
import { CassetteError, messageOf } from '../errors.js';
import { entryLinkBytes, entryPathBytes } from '../format/entry-bytes.js';
import type { ArtifactRecord, IndexEntry } from '../format/types.js';
import { makeDirsSync } from '../fs/make-dirs.js';
import {
  assertNoSymlinkParents,
  joinPath,
  normalizeEntryBytes,
  normalizeEntryPath,
  normalizeLinkTarget,
  parentPath,
  pathKey,
  type KeepDirectorySymlinks,
  type RelPath,
} from './safe-path.js';
import { nextRestoreTempName, removeStaleTemps } from './temp-name.js';

/** An entry kept for the end of its artifact (links, symlinks, special files): where it goes. */
export interface PlacedEntry {
  entry: IndexEntry;
  rel: RelPath;
  dest: string | Buffer;
}

/** What the restore of one artifact keeps from batch to batch. */
export interface ArtifactState {
  artifact: ArtifactRecord;
  root: string;
  safeDirs: Set<string>;
  dirs: Array<{ entry: IndexEntry; dest: string | Buffer }>;
  symlinks: PlacedEntry[];
  links: PlacedEntry[];
  specials: PlacedEntry[];
  /** Hard links whose target is not part of this restore, by the target's entryKey: their content is fetched in a second pass. */
  orphanLinks: Map<string, PlacedEntry[]>;
  /** Paths of the symlink entries seen so far: no later entry may lie below one (symlink-then-file). */
  symlinkPaths: Set<string>;
  /** In place only: which existing directory symlinks may be written through (safe-path.ts). */
  keep?: KeepDirectorySymlinks;
  /**
   * Directories (pathKey) that hold no stale temporary file (temp-name.ts): made by this run, or
   * cleaned of them. One set for every artifact of the run, so that each directory is cleaned at
   * most once, before the run's first write into it; one key per directory written into.
   */
  cleanDirs: Set<string>;
  /** Dry run: the last frame counted so far (a later batch does not count it again). */
  lastFrame: number;
}

/** A file of the batch being restored, from its entry to its real name. */
export interface PendingFile {
  /** The writer thread's name for it (OpenFiles, write-files.ts). */
  id: number;
  entry: IndexEntry;
  dest: string | Buffer;
  temp: string | Buffer;
  /** Open descriptor of the temporary file. */
  fd?: number;
  /** Bytes cut from frames for it so far (slice-frames.ts); every one is written once the batch's frames are. */
  written: number;
  /** Small and sparse files are written and hashed on the restoring thread: their hash so far. */
  hash?: Hash;
}

/** The entry's path relative to its artifact root, normalized: bytes when it is not UTF-8. */
export function relPathOf(entry: IndexEntry): RelPath {
  const bytes = entryPathBytes(entry);
  return bytes ? normalizeEntryBytes(bytes) : normalizeEntryPath(entry.path);
}

/** The normalized target of a hard link entry (bytes when not UTF-8); an unsafe one is refused naming the link itself. */
export function linkTargetOf(entry: IndexEntry): RelPath {
  try {
    const bytes = entryLinkBytes(entry);
    return bytes ? normalizeEntryBytes(bytes, 'hard link target') : normalizeLinkTarget(entry.link ?? '');
  } catch (error) {
    throw new CassetteError('E_UNSAFE_PATH', `refusing hard link "${entry.path}" to "${entry.link ?? ''}": ${(error as Error).message.replace(/^refusing entry "[^"]*": /, '')}`, {
      cause: error,
    });
  }
}

/** A path for messages and dry-run lines. */
export function shown(p: string | Buffer): string {
  return typeof p === 'string' ? p : p.toString();
}

export function lstatOrUndefined(p: string | Buffer): fsSync.Stats | undefined {
  try {
    return fsSync.lstatSync(p);
  } catch {
    return undefined;
  }
}

/** Checks `rel`'s parents (no symlink among them), makes the missing ones and clears them of stale temporary files: where `rel` goes. */
export async function prepareParent(state: ArtifactState, rel: RelPath): Promise<string | Buffer> {
  const nested = typeof rel === 'string' ? rel.includes('/') : rel.includes(0x2f);
  const dest = await assertNoSymlinkParents(state.root, rel, state.safeDirs, state.keep);
  const dir = nested ? parentPath(dest) : state.root;
  const key = pathKey(dir);
  // A parent already checked (a real directory, no symlink) needs no mkdir: saves two system calls
  // per file (mkdir → EEXIST, stat) in directories of many files.
  if (!state.safeDirs.has(key)) {
    if (makeDirectories(dir)) state.cleanDirs.add(key);
    // Made here or found as a directory: a later file in it goes straight on (cleared with safeDirs
    // when a symlink is created).
    if (nested) state.safeDirs.add(key);
  }
  // A directory that was already there may hold temporary files of a restore that was killed:
  // remove them before the first write into it (one readdir per such directory and run; one made
  // by this run is empty and costs nothing).
  if (!state.cleanDirs.has(key)) {
    removeStaleTemps(dir);
    state.cleanDirs.add(key);
  }
  return dest;
}

/** What to do about a file-system error on the target, appended to its message: ` (…)`, or '' when there is nothing to say. */
export function targetAdvice(code: string | undefined): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return ' (run the restore as a user that may write there — root, to restore owners too — or restore elsewhere with --target DIR)';
    case 'EROFS':
      return ' (the file system is mounted read-only: remount it read-write, or restore elsewhere with --target DIR)';
    case 'ENOSPC':
    case 'EDQUOT':
      return ' (no space left: free some, or restore a part with --include, or elsewhere with --target DIR)';
    default:
      return '';
  }
}

/** `cannot <what> <path>: <reason> (<advice>)`, the E_TARGET message of a failed file-system call. */
export function targetError(what: string, p: string | Buffer, error: unknown): CassetteError {
  return new CassetteError('E_TARGET', `cannot ${what} ${shown(p)}: ${messageOf(error)}${targetAdvice((error as NodeJS.ErrnoException | undefined)?.code)}`, { cause: error });
}

/**
 * Makes `dir` and its missing parents (make-dirs.ts: never Node's recursive mkdir, which spins
 * forever on procfs); true when `dir` itself was made here. A failure is E_TARGET naming the
 * directory and the reason.
 */
export function makeDirectories(dir: string | Buffer): boolean {
  try {
    return makeDirsSync(dir);
  } catch (error) {
    throw targetError('create directory', dir, error);
  }
}

/** Creates the file's temporary name (parents made safely) and opens it for writing: its descriptor. */
export async function openTemp(file: PendingFile, state: ArtifactState, temps: Set<string | Buffer>): Promise<number> {
  file.dest = await prepareParent(state, relPathOf(file.entry));
  file.temp = tempName(file.dest);
  temps.add(file.temp);
  try {
    return fsSync.openSync(file.temp, 'wx', 0o600);
  } catch (error) {
    throw targetError('write', file.dest, error);
  }
}

/** A temporary name next to `dest`, naming this process (temp-name.ts) so that a later restore knows when it is stale. */
export function tempName(dest: string | Buffer): string | Buffer {
  return joinPath(parentPath(dest), nextRestoreTempName());
}
