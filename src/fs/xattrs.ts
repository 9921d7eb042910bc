// Reading and writing one entry's extended attributes (every namespace, POSIX ACLs included), with problems reported rather than thrown.

import { isUtf8 } from 'node:buffer';
import { getXattr, listXattrNames, setXattr, type FsTarget } from './native.js';

/** Extended attributes of one entry: name and value, in the kernel's order. */
export type Xattrs = Array<[string, Buffer]>;

export interface XattrRead {
  xattrs: Xattrs;
  /** What could not be read, one message each ("security.foo: EACCES"); the rest is still returned. */
  problems: string[];
  /** The entry is gone (ENOENT when listing): nothing to store, and no problem of its attributes. */
  vanished?: boolean;
}

/** Errors that mean "this file system has no extended attributes": nothing to store. */
const UNSUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP']);

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
}

/** Every extended attribute of a path (a final symlink itself, not its target) or a descriptor. */
export function readXattrs(target: FsTarget): XattrRead {
  const problems: string[] = [];
  let names: Buffer[];
  try {
    names = listXattrNames(target);
  } catch (error) {
    const code = codeOf(error);
    if (UNSUPPORTED.has(code)) return { xattrs: [], problems };
    if (code === 'ENOENT') return { xattrs: [], problems, vanished: true };
    return { xattrs: [], problems: [`cannot list extended attributes: ${code}`] };
  }
  const xattrs: Xattrs = [];
  for (const raw of names) {
    if (!isUtf8(raw)) {
      problems.push(`extended attribute name ${JSON.stringify(raw.toString())} is not UTF-8`);
      continue;
    }
    const name = raw.toString();
    try {
      xattrs.push([name, getXattr(target, name)]);
    } catch (error) {
      const code = codeOf(error);
      // Removed between the listing and the read: it is not there to store.
      if (code === 'ENODATA') continue;
      problems.push(`${name}: ${code}`);
    }
  }
  return { xattrs, problems };
}

export interface XattrFailure {
  name: string;
  code: string;
}

/** Sets each attribute; returns the ones the target refused (with the errno name), in order. */
export function writeXattrs(target: FsTarget, xattrs: Xattrs): XattrFailure[] {
  const failures: XattrFailure[] = [];
  for (const [name, value] of xattrs) {
    try {
      setXattr(target, name, value);
    } catch (error) {
      failures.push({ name, code: codeOf(error) });
    }
  }
  return failures;
}
