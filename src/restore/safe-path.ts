// Safe extraction paths: entry paths from an index never leave the restore root, and nothing is written through a symlink but, in place, an existing directory symlink inside it.
//
// An index is data from storage, so every path in it is hostile until checked. Two layers:
//
// 1. Pure checks (normalizeEntryPath, normalizeLinkTarget, resolveInside). An entry path or a
//    hard-link target is refused when it is empty, absolute (`/x`, `//x`, `\\server\x`, `C:x`,
//    `C:\x` — node-tar CVE-2021-32804 stripped only one leading `/`, CVE-2021-37713 missed
//    drive-relative `C:../x`), holds a NUL byte, or has a `..` component with `/` OR `\` as the
//    separator (`a\..\..\x`). `.` components and repeated slashes are dropped. A backslash that
//    does not form a `..` component is kept as part of the name: on POSIX it is an ordinary
//    character and real trees hold such names (systemd units such as `dev-disk-by\x2duuid-….swap`
//    in /etc/systemd). Hard-link targets are paths relative to the same artifact root (not to the
//    link's directory), checked and resolved by the same functions, so the check and the
//    creation cannot disagree on where the target is (node-tar GHSA-8qq5-rm4j-mr97).
//
// 2. An I/O check (assertNoSymlinkParents) before anything is written: every existing parent
//    component of the entry, from the root down, must be a real directory, never a symlink and
//    never a file. This stops the symlink-then-file attack (node-tar CVE-2021-32803,
//    CVE-2021-37701, CVE-2021-37712): an archive holding `a -> /etc` and then `a/passwd`.
//
// Symlink *targets* are not checked: they are restored verbatim and may be absolute or contain
// `..` (legitimate in /etc trees: `localtime -> /usr/share/zoneinfo/UTC`). Creating such a
// symlink is harmless as long as nothing is later written THROUGH it, which is what layer 2
// guarantees: restore creates symlinks after every file, and every write checks its parents.
// Callers must also never open an existing final component for writing (write a temporary file
// and rename it over the destination; a rename replaces a symlink, it does not follow it) — that
// also defeats the hardlink-then-file overwrite (node-tar CVE-2018-20834).
//
// One exception, for in-place restores only (GNU tar's --keep-directory-symlink): a symlink that
// was on the target before the restore (`/lib -> usr/lib` on a merged-/usr system) may be a
// parent, or stand at the place of a directory entry, when it resolves (realpath, on the host) to
// an existing directory inside the real path of the restore root; entries below it are written
// into that directory. keptSymlinkVerdict decides, and containment rests on the realpath alone: a
// link that dangles, loops, or resolves to a non-directory or outside the root is never written
// through. Nor is a symlink the restore made itself from an archive entry (a later artifact could
// otherwise write through it): the caller records each one's device and inode (linkIdentity), so
// another name for it — a hard link, case folding, a path through a kept symlink — is known too.
// Each kept symlink below another is judged in turn. With a re-rooted restore
// (`--root /mnt/sysimage`) an absolute target `/usr/lib` resolves on the host, outside the restore
// root, so it is not kept.
//
// The root itself is trusted (the user chose it) and may be a symlink. Races with other
// processes changing the tree during a restore (TOCTOU) are out of scope, as in node-tar.

import { isUtf8 } from 'node:buffer';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CassetteError } from '../errors.js';

/** Directories remembered as checked; beyond this the cache starts afresh (bounded memory, same answers). */
const MAX_KNOWN_SAFE_DIRS = 10_000;

function printable(entryPath: string): string {
  return JSON.stringify(entryPath).replace(/\\u0000/g, '\\0');
}

function unsafe(entryPath: string, reason: string): CassetteError {
  return new CassetteError('E_UNSAFE_PATH', `refusing entry ${printable(entryPath)}: ${reason}`);
}

function normalize(entryPath: string, what: string): string {
  if (typeof entryPath !== 'string') throw unsafe(String(entryPath), `${what} is not a string`);
  if (entryPath === '') throw unsafe(entryPath, `empty ${what}`);
  if (entryPath.includes('\0')) throw unsafe(entryPath, `${what} contains a NUL byte`);
  if (entryPath.startsWith('/') || entryPath.startsWith('\\')) throw unsafe(entryPath, `absolute ${what}`);
  if (/^[A-Za-z]:/.test(entryPath)) throw unsafe(entryPath, `absolute ${what} (Windows drive letter)`);
  const parts: string[] = [];
  for (const part of entryPath.split('/')) {
    if (part === '' || part === '.') continue;
    if (part.split('\\').includes('..')) throw unsafe(entryPath, `${what} has a ".." component`);
    parts.push(part);
  }
  if (parts.length === 0) throw unsafe(entryPath, `${what} names the restore root itself`);
  return parts.join('/');
}

/**
 * Validate an entry path from an index and return its normalized relative form (`/`-separated,
 * no `.` components, no repeated or trailing slashes). Idempotent. Throws CassetteError
 * E_UNSAFE_PATH naming the entry path and the reason.
 */
export function normalizeEntryPath(entryPath: string): string {
  return normalize(entryPath, 'path');
}

/** Validate a hard link target from an index entry the same way (it is a path relative to the same artifact root, not to the link's directory). */
export function normalizeLinkTarget(target: string): string {
  return normalize(target, 'hard link target');
}

/**
 * A path given as bytes (an entry's `pathBytes` or a hard link's `linkBytes`, not valid UTF-8),
 * validated and normalized like normalizeEntryPath. The checks run on its UTF-8 decoding, which
 * keeps every ASCII byte (`/`, `\\`, `.`, NUL, drive letters) where it was and turns only invalid
 * sequences into U+FFFD, so the bytes pass exactly when their decoding does.
 */
export function normalizeEntryBytes(bytes: Buffer, what: 'path' | 'hard link target' = 'path'): Buffer {
  normalize(bytes.toString(), what);
  const parts = splitBytes(bytes).filter((part) => part.length > 0 && !(part.length === 1 && part[0] === 0x2e));
  return Buffer.concat(parts.flatMap((part, i) => (i === 0 ? [part] : [SLASH, part])));
}

const SLASH = Buffer.from('/');

/** A path relative to a restore root: a string, or bytes when it is not valid UTF-8. */
export type RelPath = string | Buffer;

/** `base/rel` for a root or directory and a normalized relative path; a Buffer when either is one. */
export function joinPath(base: string | Buffer, rel: RelPath): string | Buffer {
  if (typeof base === 'string' && typeof rel === 'string') return path.join(base, rel);
  const head = typeof base === 'string' ? Buffer.from(base) : base;
  const tail = typeof rel === 'string' ? Buffer.from(rel) : rel;
  return head.at(-1) === 0x2f ? Buffer.concat([head, tail]) : Buffer.concat([head, SLASH, tail]);
}

/** The parent directory of an absolute path, string or bytes. */
export function parentPath(p: string | Buffer): string | Buffer {
  if (typeof p === 'string') return path.dirname(p);
  const slash = p.lastIndexOf(0x2f);
  return slash <= 0 ? SLASH : p.subarray(0, slash);
}

/** A Set key for a path, string or bytes: bytes that are valid UTF-8 get the string's key. */
export function pathKey(p: string | Buffer): string {
  if (typeof p === 'string') return p;
  return isUtf8(p) ? p.toString() : `\0${p.toString('latin1')}`;
}

/**
 * Absolute destination for a normalized entry path under root (root must be absolute; a relative
 * root is a CassetteError E_USAGE). Never returns a path outside root, nor root itself.
 */
export function resolveInside(root: string, relPath: string): string;
export function resolveInside(root: string, relPath: RelPath): string | Buffer;
export function resolveInside(root: string, relPath: RelPath): string | Buffer {
  if (typeof root !== 'string' || !path.isAbsolute(root)) {
    throw new CassetteError('E_USAGE', `restore root ${JSON.stringify(root)} is not an absolute path`);
  }
  if (typeof relPath !== 'string') return joinPath(path.resolve(root), normalizeEntryBytes(relPath));
  const rel = normalizeEntryPath(relPath);
  const base = path.resolve(root);
  const dest = path.join(base, rel);
  // Belt and braces: the checks above already make this impossible.
  const back = path.relative(base, dest);
  if (back === '' || back === '..' || back.startsWith(`..${path.sep}`) || path.isAbsolute(back)) {
    throw unsafe(relPath, `resolves outside the restore root ${base}`);
  }
  return dest;
}

/** Where an existing symlink leads, as keptSymlinkVerdict needs it. */
export interface ResolvedSymlink {
  /** Real path of what it points to (realpath), or undefined when it does not resolve: dangling, a loop, no permission. */
  real?: string;
  /** That real path is a directory. */
  isDirectory: boolean;
  /** The restore itself made this symlink (an archive entry, in this artifact or an earlier one). */
  created: boolean;
}

export type KeptSymlinkVerdict = { keep: true } | { keep: false; reason: string };

/**
 * May an in-place restore write through an existing symlink (keep it, as GNU tar's
 * --keep-directory-symlink does)? Only when the restore did not make it and it resolves to a
 * directory inside `realRoot`, the real path of the restore root (the root itself counts as
 * inside). Pure; a refusal's `reason` completes the sentence "the symlink …".
 */
export function keptSymlinkVerdict(realRoot: string, link: ResolvedSymlink): KeptSymlinkVerdict {
  if (link.created) return { keep: false, reason: 'was made by this restore from an archive entry' };
  if (link.real === undefined) return { keep: false, reason: 'does not resolve (dangling, or a loop)' };
  const back = path.relative(realRoot, link.real);
  if (back === '..' || back.startsWith(`..${path.sep}`) || path.isAbsolute(back)) {
    return { keep: false, reason: `resolves to ${link.real}, outside the restore root ${realRoot}` };
  }
  if (!link.isDirectory) return { keep: false, reason: `resolves to ${link.real}, which is not a directory` };
  return { keep: true };
}

/** What an in-place restore passes to keep directory symlinks that were on the target before it started. */
export interface KeepDirectorySymlinks {
  /** linkIdentity of every symlink the restore has made so far, in any artifact of the run: never kept. */
  created: Set<string>;
  /** Told of each symlink found safe to write through (again after the caller clears its cache). */
  onKeep: (link: string, target: string) => void;
}

/** Device and inode of the symlink at `p` (not followed): the same for every name a hard link or case folding gives it. */
export async function linkIdentity(p: string | Buffer): Promise<string> {
  const stats = await fs.lstat(p, { bigint: true });
  return `${stats.dev}:${stats.ino}`;
}

/**
 * The I/O half of keptSymlinkVerdict for the symlink at `link` (an absolute path below root):
 * resolve it and the root on the host and decide; a kept one is reported to keep.onKeep.
 * Returns the verdict and the link's target as written.
 */
export async function judgeExistingSymlink(root: string, link: string | Buffer, keep: KeepDirectorySymlinks): Promise<{ verdict: KeptSymlinkVerdict; target: string }> {
  let target: string;
  let resolved: ResolvedSymlink;
  let realRoot: string;
  try {
    target = (await fs.readlink(link, { encoding: 'buffer' })).toString();
    // As bytes, so a target whose name is not UTF-8 is checked where it really is.
    const realBytes = await fs.realpath(link, { encoding: 'buffer' }).catch(() => undefined);
    const real = realBytes?.toString();
    const isDirectory =
      realBytes !== undefined &&
      (await fs.stat(realBytes).then(
        (s) => s.isDirectory(),
        () => false,
      ));
    resolved = { real, isDirectory, created: keep.created.has(await linkIdentity(link)) };
    realRoot = await fs.realpath(root);
  } catch (error) {
    throw new CassetteError('E_TARGET', `cannot check the symlink ${link.toString()}: ${(error as Error).message}`, { cause: error });
  }
  const verdict = keptSymlinkVerdict(realRoot, resolved);
  if (verdict.keep) keep.onKeep(link.toString(), target);
  return { verdict, target };
}

/**
 * I/O check before writing `relPath` under root: lstat each existing parent component from root
 * down; refuse (E_UNSAFE_PATH, naming the entry and the component) when one is a symlink — any
 * symlink, even one pointing inside root: nothing is ever written through a symlink — or is not a
 * directory. With `keep` (in-place restores), a symlink that keptSymlinkVerdict accepts is passed
 * through instead, and each one below it is judged in turn. Components that do not exist yet are
 * fine (the caller creates them as real directories). The final component is not checked: callers
 * replace it, never write through it. Returns the absolute destination.
 *
 * `knownSafeDirs` caches absolute paths of directories found safe, so a restore of many files
 * in one directory lstats it once. The caller must clear it whenever the restore creates a
 * symlink (a whole clear, not one key: case-folding or Unicode-normalizing file systems can alias
 * two different strings to one directory, node-tar CVE-2021-37712). It never holds more than
 * 10,000 entries.
 */
export async function assertNoSymlinkParents(root: string, relPath: string, knownSafeDirs: Set<string>, keep?: KeepDirectorySymlinks): Promise<string>;
export async function assertNoSymlinkParents(root: string, relPath: RelPath, knownSafeDirs: Set<string>, keep?: KeepDirectorySymlinks): Promise<string | Buffer>;
export async function assertNoSymlinkParents(root: string, relPath: RelPath, knownSafeDirs: Set<string>, keep?: KeepDirectorySymlinks): Promise<string | Buffer> {
  const dest = resolveInside(root, relPath);
  const parts: RelPath[] = typeof relPath === 'string' ? normalizeEntryPath(relPath).split('/') : splitBytes(normalizeEntryBytes(relPath));
  const shown = typeof relPath === 'string' ? relPath : relPath.toString();
  let current: string | Buffer = path.resolve(root);
  for (let i = 0; i < parts.length - 1; i++) {
    current = joinPath(current, parts[i]!);
    const key = pathKey(current);
    if (knownSafeDirs.has(key)) continue;
    let stats;
    try {
      stats = await fs.lstat(current);
    } catch (error) {
      // Nothing exists from here down: the caller will create real directories.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return dest;
      throw new CassetteError('E_TARGET', `cannot check ${current.toString()} before restoring ${printable(shown)}: ${(error as Error).message}`, { cause: error });
    }
    if (stats.isSymbolicLink()) {
      if (keep) {
        const { verdict, target } = await judgeExistingSymlink(root, current, keep);
        if (!verdict.keep)
          throw unsafe(shown, `its parent ${current.toString()} is a symlink (to ${JSON.stringify(target)}) that ${verdict.reason}; nothing is written through it`);
      } else {
        const target = await fs.readlink(current).catch(() => '?');
        throw unsafe(shown, `its parent ${current.toString()} is a symlink (to ${JSON.stringify(target)}); nothing is written through symlinks`);
      }
    } else if (!stats.isDirectory()) {
      throw unsafe(shown, `its parent ${current.toString()} exists and is not a directory`);
    }
    if (knownSafeDirs.size >= MAX_KNOWN_SAFE_DIRS) knownSafeDirs.clear();
    knownSafeDirs.add(key);
  }
  return dest;
}

/** The `/`-separated components of a normalized byte path. */
function splitBytes(bytes: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let start = 0; start <= bytes.length;) {
    let end = bytes.indexOf(0x2f, start);
    if (end === -1) end = bytes.length;
    parts.push(bytes.subarray(start, end));
    start = end + 1;
  }
  return parts;
}
