// Compares two directory trees entry by entry (type, mode, size, mtime, content, link target, hard-link groups); used by the demo, tests and bench.

import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { readXattrs } from '../fs/xattrs.js';

const SLASH = Buffer.from('/');

export interface TreeDifference {
  path: string;
  what: string;
}

export interface CompareOptions {
  /** Relative paths (and everything below them) to ignore in both trees. */
  ignore?: (relPath: string) => boolean;
  /** Compare owner and group too. */
  owners?: boolean;
  /** Compare mtimes (to the millisecond). Default true. */
  mtimes?: boolean;
  /** Compare extended attributes and ACLs too. */
  xattrs?: boolean;
}

/**
 * A name as text that tells every byte string apart: valid UTF-8 as it is, other bytes as `\\xNN`
 * (a backslash in a name is doubled in both cases).
 */
export function printableName(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString().replace(/\\/g, '\\\\');
  let out = '';
  for (const byte of bytes) out += byte === 0x5c ? '\\\\' : byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return out;
}

interface Snapshot {
  type: string;
  mode: number;
  size: number;
  mtimeMs: number;
  uid: number;
  gid: number;
  link?: string;
  hash?: string;
  inode: string;
  /** Sorted `name=base64` of every extended attribute, when compared. */
  xattrs?: string;
}

async function sha256(file: string | Buffer): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function describeTree(root: string, options: CompareOptions): Promise<Map<string, Snapshot>> {
  const out = new Map<string, Snapshot>();
  // Names as bytes, so names that are not UTF-8 are compared exactly.
  const visit = async (rel: string, dir: Buffer): Promise<void> => {
    const names = (await fs.readdir(dir, { encoding: 'buffer' })).sort((x, y) => Buffer.compare(x, y));
    for (const name of names) {
      const childRel = rel ? `${rel}/${printableName(name)}` : printableName(name);
      if (options.ignore?.(childRel)) continue;
      const abs = Buffer.concat([dir, SLASH, name]);
      // Exact integers: whole milliseconds come from the nanoseconds, since `mtimeMs` is a double,
      // and a time a fraction of a microsecond before a millisecond (…986.999999) rounds up to the
      // next one (…987), while the same time restored to the microsecond (…986.999) does not.
      const st = await fs.lstat(abs, { bigint: true });
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'other';
      const entry: Snapshot = {
        type,
        mode: Number(st.mode & 0o7777n),
        size: type === 'file' ? Number(st.size) : 0,
        mtimeMs: Number(st.mtimeNs / 1_000_000n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        inode: `${st.dev}:${st.ino}`,
      };
      if (type === 'symlink') entry.link = printableName(await fs.readlink(abs, { encoding: 'buffer' }));
      if (type === 'file') entry.hash = await sha256(abs);
      if (options.xattrs)
        entry.xattrs = readXattrs(abs)
          .xattrs.map(([n, v]) => `${n}=${v.toString('base64')}`)
          .sort()
          .join(' ');
      out.set(childRel, entry);
      if (type === 'dir') await visit(childRel, abs);
    }
  };
  await visit('', Buffer.from(root));
  return out;
}

/** Differences between `expected` and `actual` (empty when they match). */
export async function compareTrees(expected: string, actual: string, options: CompareOptions = {}): Promise<TreeDifference[]> {
  const [a, b] = await Promise.all([describeTree(expected, options), describeTree(actual, options)]);
  const diffs: TreeDifference[] = [];
  for (const [rel, want] of a) {
    const got = b.get(rel);
    if (!got) {
      diffs.push({ path: rel, what: 'missing' });
      continue;
    }
    if (got.type !== want.type) diffs.push({ path: rel, what: `type ${got.type}, expected ${want.type}` });
    else {
      if (want.type !== 'symlink' && got.mode !== want.mode) diffs.push({ path: rel, what: `mode ${got.mode.toString(8)}, expected ${want.mode.toString(8)}` });
      if (got.size !== want.size) diffs.push({ path: rel, what: `size ${got.size}, expected ${want.size}` });
      if (got.hash !== want.hash) diffs.push({ path: rel, what: 'content differs' });
      if (got.link !== want.link) diffs.push({ path: rel, what: `link ${got.link ?? 'none'}, expected ${want.link ?? 'none'}` });
      if ((options.mtimes ?? true) && want.type !== 'symlink' && got.mtimeMs !== want.mtimeMs) diffs.push({ path: rel, what: `mtime ${got.mtimeMs}, expected ${want.mtimeMs}` });
      if (options.owners && (got.uid !== want.uid || got.gid !== want.gid)) diffs.push({ path: rel, what: `owner ${got.uid}:${got.gid}, expected ${want.uid}:${want.gid}` });
      if (got.xattrs !== want.xattrs) diffs.push({ path: rel, what: `extended attributes "${got.xattrs ?? ''}", expected "${want.xattrs ?? ''}"` });
    }
  }
  for (const rel of b.keys()) if (!a.has(rel)) diffs.push({ path: rel, what: 'unexpected' });
  // Hard-link groups: paths sharing an inode in one tree must share one in the other.
  const groups = (tree: Map<string, Snapshot>): Map<string, string> => {
    const byInode = new Map<string, string[]>();
    for (const [rel, s] of tree) if (s.type === 'file') byInode.set(s.inode, [...(byInode.get(s.inode) ?? []), rel]);
    const key = new Map<string, string>();
    for (const paths of byInode.values()) for (const p of paths) key.set(p, paths.join('|'));
    return key;
  };
  const ga = groups(a);
  const gb = groups(b);
  for (const [rel, group] of ga) if (b.has(rel) && gb.get(rel) !== group) diffs.push({ path: rel, what: `hard links ${gb.get(rel) ?? 'none'}, expected ${group}` });
  return diffs;
}
