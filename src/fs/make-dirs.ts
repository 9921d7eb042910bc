// `mkdir -p` that fails fast: Node's own recursive mkdir never returns where mkdir(2) says ENOENT below a parent that exists.
//
// Node 20's `mkdir(dir, { recursive: true })` (sync and async alike) handles ENOENT by making the
// parent and trying the child again, with no limit: on procfs, `mkdir /proc/x` fails with ENOENT
// although `/proc` exists, so it tries again forever at 100% CPU. The synchronous form also blocks
// the event loop, so not even SIGINT or SIGTERM get through. Here each missing component is made
// once, parents first; an ENOENT once the parent exists is final and thrown.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/** The parent of an absolute or relative path, string or bytes (`/` for `/x`, itself for `/`). */
function parentOf(p: string | Buffer): string | Buffer {
  if (typeof p === 'string') return path.dirname(p);
  let end = p.length;
  while (end > 1 && p[end - 1] === 0x2f) end--;
  const slash = p.lastIndexOf(0x2f, end - 1);
  if (slash === -1) return Buffer.from('.');
  return slash === 0 ? Buffer.from('/') : p.subarray(0, slash);
}

function samePath(a: string | Buffer, b: string | Buffer): boolean {
  return typeof a === 'string' && typeof b === 'string' ? a === b : Buffer.from(a).equals(Buffer.from(b));
}

function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/**
 * Makes `dir` and any missing parents (mode 0777 before the umask, as mkdir -p). Something at
 * `dir` or a parent that is already there must be a directory (a symlink to one counts, as with
 * mkdir -p); else its EEXIST is thrown. Other errors are thrown as mkdir(2) gave them, for the
 * component that failed. Returns true when `dir` itself was made here, false when it was there.
 * At most two mkdir calls per missing component.
 */
export function makeDirsSync(dir: string | Buffer): boolean {
  const missing: Array<string | Buffer> = [];
  for (let current = dir; ;) {
    try {
      fsSync.mkdirSync(current);
      break;
    } catch (error) {
      if (codeOf(error) === 'EEXIST') {
        if (!fsSync.statSync(current, { throwIfNoEntry: false })?.isDirectory()) throw error;
        if (missing.length === 0) return false;
        break;
      }
      const parent = parentOf(current);
      if (codeOf(error) !== 'ENOENT' || samePath(parent, current)) throw error;
      missing.push(current);
      current = parent;
    }
  }
  // The parent of each missing component exists now: an ENOENT from here on is the answer.
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      fsSync.mkdirSync(missing[i]!);
    } catch (error) {
      // Made by someone else meanwhile: fine, if it is a directory.
      if (codeOf(error) !== 'EEXIST' || !fsSync.statSync(missing[i]!, { throwIfNoEntry: false })?.isDirectory()) throw error;
    }
  }
  return true;
}

/** makeDirsSync on the thread pool, for a string path. */
export async function makeDirs(dir: string): Promise<boolean> {
  const missing: string[] = [];
  const isDirectory = (p: string): Promise<boolean> =>
    fs.stat(p).then(
      (s) => s.isDirectory(),
      () => false,
    );
  for (let current = dir; ;) {
    try {
      await fs.mkdir(current);
      break;
    } catch (error) {
      if (codeOf(error) === 'EEXIST') {
        if (!(await isDirectory(current))) throw error;
        if (missing.length === 0) return false;
        break;
      }
      const parent = path.dirname(current);
      if (codeOf(error) !== 'ENOENT' || parent === current) throw error;
      missing.push(current);
      current = parent;
    }
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      await fs.mkdir(missing[i]!);
    } catch (error) {
      if (codeOf(error) !== 'EEXIST' || !(await isDirectory(missing[i]!))) throw error;
    }
  }
  return true;
}
