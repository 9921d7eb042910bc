// Extended attributes and mknod on byte paths or descriptors, through the project's small native addon (native/cassette_fs.c).

import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A path (a string is its UTF-8 bytes; a Buffer, its exact bytes), or an open descriptor. */
export type FsTarget = string | Buffer | number;

interface Addon {
  list(target: FsTarget): Buffer;
  get(target: FsTarget, name: string): Buffer;
  set(target: FsTarget, name: string, value: Buffer): void;
  mknod(path: Buffer, mode: number, major: number, minor: number): void;
  cut(buffer: Buffer, chunkStart: number, scanFrom: number, end: number, min: number, normal: number, max: number, bits: number): number;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, number]) => [number, name]));

let addon: Addon | undefined;

function load(): Addon {
  if (addon) return addon;
  // Built by `node-gyp rebuild` (the package's install script) into <package>/build/Release; this
  // module runs as dist/src/fs/native.js, or as src/fs/native.ts under the tests.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = ['../../..', '../..'].map((up) => path.resolve(here, up, 'build/Release/cassette_fs.node'));
  const require = createRequire(import.meta.url);
  let lastError: unknown;
  for (const candidate of candidates) {
    try {
      addon = require(candidate) as Addon;
      return addon;
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(
    `cannot load cassette's native addon build/Release/cassette_fs.node (build it with \`npm run install\`, which needs python3, make and a C compiler): ${lastError instanceof Error ? lastError.message : String(lastError)}`,
    { cause: lastError },
  );
}

/** The addon's error with a Node-style `code` ('ENOTSUP', 'EPERM'…) added. */
function withCode<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    const errno = (error as { errno?: number }).errno;
    if (typeof errno === 'number') (error as NodeJS.ErrnoException).code = ERRNO_NAMES.get(errno) ?? `ERRNO_${errno}`;
    throw error;
  }
}

/** A path for the addon: its bytes (a string is UTF-8). */
export function pathBytes(p: string | Buffer): Buffer {
  return typeof p === 'string' ? Buffer.from(p) : p;
}

/** Names of the extended attributes of a path (not following a final symlink) or a descriptor, in the order the kernel lists them. Throws with `code` set. */
export function listXattrNames(target: FsTarget): Buffer[] {
  const raw = withCode(() => load().list(target));
  const names: Buffer[] = [];
  for (let start = 0; start < raw.length;) {
    const end = raw.indexOf(0, start);
    const stop = end === -1 ? raw.length : end;
    if (stop > start) names.push(raw.subarray(start, stop));
    start = stop + 1;
  }
  return names;
}

export function getXattr(target: FsTarget, name: string): Buffer {
  return withCode(() => load().get(target, name));
}

export function setXattr(target: FsTarget, name: string, value: Buffer): void {
  withCode(() => load().set(target, name, value));
}

/** mknod(2): `mode` includes the type bits (S_IFIFO, S_IFCHR, S_IFBLK). */
export function makeNode(p: string | Buffer, mode: number, major: number, minor: number): void {
  withCode(() => load().mknod(pathBytes(p), mode, major, minor));
}

/**
 * Content-defined chunking (native/cassette_fs.c cdc_cut): where the chunk that begins at
 * `chunkStart` of `buffer` ends, scanning `[scanFrom, end)`, or -1 when it goes on past `end`.
 * Chunks are at least `min` and at most `max` bytes; `bits` sets the average (≈ 2^bits).
 */
export function cdcCut(buffer: Buffer, chunkStart: number, scanFrom: number, end: number, limits: { min: number; normal: number; max: number; bits: number }): number {
  return load().cut(buffer, chunkStart, scanFrom, end, limits.min, limits.normal, limits.max, limits.bits);
}
