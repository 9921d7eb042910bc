// Restores an entry's metadata in the one order that works: owner, extended attributes and ACLs, mode, times.
//
// Why this order: chown clears setuid/setgid bits and file capabilities, so it comes first; the
// attributes go on before chmod, while the file is still the restore's own writable temporary
// file (user.* attributes cannot be set on a read-only file without CAP_FOWNER), and setting
// an access ACL rewrites the group bits, which chmod then sets to the recorded mode (the ACL's
// mask, when the entry has an ACL); times last, since every other change moves ctime only.

import fsSync from 'node:fs';
import { entryXattrs } from '../format/entry-bytes.js';
import { utimesArg } from '../format/tar-header.js';
import type { IndexEntry } from '../format/types.js';
import { systemUsers, type UserDatabase } from '../fs/owners.js';
import { writeXattrs, type XattrFailure } from '../fs/xattrs.js';

export interface MetadataOptions {
  /** Set owner and group (as root). */
  owners: boolean;
  /** Use the recorded numbers only, never the names (`--numeric-owner`). */
  numericOwner: boolean;
  /** Restore extended attributes and ACLs (default true; `--no-xattrs`). */
  xattrs: boolean;
  users?: UserDatabase;
}

/** A kind of attribute the target refused, reported once: e.g. `security.* (EPERM)`. */
export interface RefusedAttributes {
  kind: string;
  /** The first entry it happened on. */
  path: string;
  count: number;
}

/** What a user calls a family of attributes. */
function familyOf(name: string): string {
  if (name.startsWith('system.posix_acl_')) return 'POSIX ACLs';
  if (name === 'security.selinux') return 'SELinux labels';
  if (name === 'security.capability') return 'file capabilities';
  const dot = name.indexOf('.');
  return dot === -1 ? name : `${name.slice(0, dot)}.* attributes`;
}

/** Applies metadata and keeps count of the attributes the target refused, by kind. */
export class MetadataWriter {
  private readonly users: UserDatabase;
  readonly refused = new Map<string, RefusedAttributes>();
  /** Called the first time a kind of attribute is refused. */
  onRefused?: (refused: RefusedAttributes) => void;

  constructor(private readonly options: MetadataOptions) {
    this.users = options.users ?? systemUsers();
  }

  /** Owner to restore: by name when the name exists here (and numericOwner is off), else the recorded number, as GNU tar does. */
  ownerOf(entry: Pick<IndexEntry, 'uid' | 'gid' | 'uname' | 'gname'>): { uid: number; gid: number } {
    if (this.options.numericOwner) return { uid: entry.uid, gid: entry.gid };
    const uid = entry.uname ? this.users.uidOf(entry.uname) : undefined;
    const gid = entry.gname ? this.users.gidOf(entry.gname) : undefined;
    return { uid: uid ?? entry.uid, gid: gid ?? entry.gid };
  }

  /** A file being restored, through its open temporary descriptor. */
  finishFd(fd: number, entry: IndexEntry, shown: string): void {
    if (this.options.owners) {
      const { uid, gid } = this.ownerOf(entry);
      fsSync.fchownSync(fd, uid, gid);
    }
    if (this.options.xattrs && entry.xattrs) this.record(writeXattrs(fd, entryXattrs(entry)), shown);
    fsSync.fchmodSync(fd, entry.mode);
    // The decimal string, not a number: Node replaces negative numbers (mtimes before 1970) with now.
    const mtime = utimesArg(entry.mtime);
    fsSync.futimesSync(fd, mtime, mtime);
  }

  /** A directory, symlink or special file, by path (a symlink itself, never its target). */
  finishPath(target: string | Buffer, entry: IndexEntry, shown: string): void {
    const symlink = entry.type === 'symlink';
    if (this.options.owners) {
      const { uid, gid } = this.ownerOf(entry);
      fsSync.lchownSync(target, uid, gid);
    }
    if (this.options.xattrs && entry.xattrs) this.record(writeXattrs(target, entryXattrs(entry)), shown);
    if (!symlink) fsSync.chmodSync(target, entry.mode);
    const mtime = utimesArg(entry.mtime);
    if (symlink) fsSync.lutimesSync(target, mtime, mtime);
    else fsSync.utimesSync(target, mtime, mtime);
  }

  /** Attributes refused over the whole restore. */
  get refusedCount(): number {
    let count = 0;
    for (const refused of this.refused.values()) count += refused.count;
    return count;
  }

  private record(failures: XattrFailure[], shown: string): void {
    for (const failure of failures) {
      const kind = `${familyOf(failure.name)} (${failure.code})`;
      const known = this.refused.get(kind);
      if (known) {
        known.count++;
        continue;
      }
      const refused = { kind, path: shown, count: 1 };
      this.refused.set(kind, refused);
      this.onRefused?.(refused);
    }
  }
}
