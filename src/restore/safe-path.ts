// Safe extraction paths: entry paths from an index never leave the restore root, and nothing is written through a symlink.
//
// Symlink targets are restored verbatim (absolute or with `..`: /etc/localtime -> /usr/share/…
// is legitimate). That is safe because restore creates symlinks after every file and checks,
// before writing any entry, that no existing component of its parent path is a symlink: the
// symlink-then-file attack (node-tar CVE-2021-32803/37701/37712) cannot write through one.

import fs from 'node:fs/promises';
import path from 'node:path';
import { CassetteError } from '../errors.js';

function unsafe(entryPath: string, reason: string): CassetteError {
  return new CassetteError('E_UNSAFE_PATH', `refusing entry "${entryPath.replace(/\0/g, '\\0')}": ${reason}`);
}

/** Validate an entry path and return its normalized relative form. */
export function normalizeEntryPath(entryPath: string): string {
  if (typeof entryPath !== 'string' || entryPath === '') throw unsafe(String(entryPath), 'empty path');
  if (entryPath.includes('\0')) throw unsafe(entryPath, 'contains a NUL byte');
  if (entryPath.startsWith('/') || entryPath.startsWith('\\')) throw unsafe(entryPath, 'absolute path');
  if (/^[a-zA-Z]:/.test(entryPath)) throw unsafe(entryPath, 'absolute path (drive letter)');
  const parts = entryPath.split(/[\\/]+/).filter((part) => part !== '' && part !== '.');
  if (parts.some((part) => part === '..')) throw unsafe(entryPath, 'contains a ".." component');
  if (parts.length === 0) throw unsafe(entryPath, 'names the restore root itself');
  return parts.join('/');
}

/** Validate a hard link target (a path relative to the same artifact root). */
export function normalizeLinkTarget(target: string): string {
  return normalizeEntryPath(target);
}

/** Absolute destination of a normalized entry path under an absolute root; never outside it. */
export function resolveInside(root: string, relPath: string): string {
  const rel = normalizeEntryPath(relPath);
  const dest = path.resolve(root, ...rel.split('/'));
  const back = path.relative(root, dest);
  if (back === '' || back.startsWith('..') || path.isAbsolute(back)) throw unsafe(relPath, 'resolves outside the restore root');
  return dest;
}

/**
 * Before writing `relPath` under root: every existing parent component must be a real
 * directory, never a symlink. `knownSafe` caches directories already checked; the caller
 * clears it whenever it creates a symlink.
 */
export async function assertNoSymlinkParents(root: string, relPath: string, knownSafe: Set<string>): Promise<string> {
  const dest = resolveInside(root, relPath);
  const parts = normalizeEntryPath(relPath).split('/');
  let current = root;
  for (let i = 0; i < parts.length - 1; i++) {
    current = path.join(current, parts[i]!);
    if (knownSafe.has(current)) continue;
    let stats;
    try {
      stats = await fs.lstat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return dest;
      throw error;
    }
    if (stats.isSymbolicLink()) throw unsafe(relPath, `its parent ${current} is a symlink; nothing is written through symlinks`);
    if (!stats.isDirectory()) throw unsafe(relPath, `its parent ${current} is not a directory`);
    knownSafe.add(current);
  }
  return dest;
}
