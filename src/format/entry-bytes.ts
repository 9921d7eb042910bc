// The byte-exact members of an index entry (pathBytes, linkBytes, xattrs are base64 in the index) decoded for file-system calls and tar headers.

import type { Xattrs } from '../fs/xattrs.js';
import type { TarMember } from './tar-header.js';
import type { IndexEntry } from './types.js';

/** The entry's path as its exact bytes when they are not UTF-8, else undefined (use `path`). */
export function entryPathBytes(entry: Pick<IndexEntry, 'pathBytes'>): Buffer | undefined {
  return entry.pathBytes === undefined ? undefined : Buffer.from(entry.pathBytes, 'base64');
}

/** The link target's exact bytes when they are not UTF-8, else undefined (use `link`). */
export function entryLinkBytes(entry: Pick<IndexEntry, 'linkBytes'>): Buffer | undefined {
  return entry.linkBytes === undefined ? undefined : Buffer.from(entry.linkBytes, 'base64');
}

/** The entry's path for file-system calls: its bytes when not UTF-8, else the string. */
export function entryFsPath(entry: Pick<IndexEntry, 'path' | 'pathBytes'>): string | Buffer {
  return entryPathBytes(entry) ?? entry.path;
}

/** The entry's link target for file-system calls. */
export function entryFsLink(entry: Pick<IndexEntry, 'link' | 'linkBytes'>): string | Buffer {
  return entryLinkBytes(entry) ?? entry.link ?? '';
}

/** A key that tells two entries' paths apart exactly (display paths of different bytes can be equal). */
export function entryKey(path: string, bytes: string | undefined): string {
  return bytes === undefined ? path : `\0${bytes}`;
}

export function entryXattrs(entry: Pick<IndexEntry, 'xattrs'>): Xattrs {
  if (!entry.xattrs) return [];
  return Object.entries(entry.xattrs).map(([name, value]) => [name, Buffer.from(value, 'base64')]);
}

/** The index form of attributes read from disk: name → base64. */
export function xattrsRecord(xattrs: ReadonlyArray<readonly [string, Buffer]>): Record<string, string> | undefined {
  if (xattrs.length === 0) return undefined;
  const record: Record<string, string> = {};
  for (const [name, value] of xattrs) record[name] = value.toString('base64');
  return record;
}

/** The tar member an index entry describes, with its names and attributes as bytes; `prefix` (e.g. `etc/`) is put before the path and a hard link's target. */
export function tarMemberOf(entry: IndexEntry, prefix = ''): TarMember {
  const pathBytes = entryPathBytes(entry);
  const linkBytes = entryLinkBytes(entry);
  const linkIsPath = entry.type === 'hardlink';
  const member: TarMember = {
    path: prefix + entry.path,
    type: entry.type,
    size: entry.size,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    uname: entry.uname,
    gname: entry.gname,
    mtime: entry.mtime,
    link: entry.link !== undefined && linkIsPath ? prefix + entry.link : entry.link,
    devmajor: entry.devmajor,
    devminor: entry.devminor,
  };
  if (pathBytes) member.pathBytes = Buffer.concat([Buffer.from(prefix), pathBytes]);
  if (linkBytes) member.linkBytes = linkIsPath ? Buffer.concat([Buffer.from(prefix), linkBytes]) : linkBytes;
  const xattrs = entryXattrs(entry);
  if (xattrs.length > 0) member.xattrs = xattrs;
  return member;
}
