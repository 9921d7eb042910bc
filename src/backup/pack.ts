// Packs walked entries into a POSIX tar stream cut into frame-sized buffers, recording each member's offsets and SHA-256.
//
// File contents are read straight into the frame buffer (one copy, kernel to frame), so the
// packer knows every member's exact tar offset without parsing its own output. A frame ends at
// a member boundary when the next member would not fit; a member larger than a frame is cut
// every frameSize bytes. So a member no larger than a frame always lies inside one frame.

import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { messageOf, throwIfAborted } from '../errors.js';
import { xattrsRecord } from '../format/entry-bytes.js';
import { encodeTarHeader, mtimeFromNs, TAR_END_SIZE, tarPadding, type TarMember } from '../format/tar-header.js';
import type { BackupWarning, IndexEntry } from '../format/types.js';
import { systemUsers, type UserDatabase } from '../fs/owners.js';
import { readXattrs } from '../fs/xattrs.js';
import type { PrefetchedItem } from './prefetch.js';
import { OPEN_LISTED_FILE, replacedSinceListed, type WalkItem } from './walk.js';

export interface PackOptions {
  /** Uncompressed bytes per frame; the packer holds one frame buffer of this size. */
  frameSize: number;
  signal?: AbortSignal;
  /** Called once per member, in tar order, after its content has been read. */
  onEntry: (entry: IndexEntry) => void;
  onWarning: (warning: BackupWarning) => void;
  /** Called with the number of content bytes just read from a file. */
  onBytesRead?: (bytes: number) => void;
  /** Where frame buffers come from (FramePool.frameBuffer reuses compressed ones); default new memory. */
  allocate?: (size: number) => Buffer;
  /** Store extended attributes and ACLs (one listxattr per entry, one getxattr per attribute). Default true. */
  xattrs?: boolean;
  /** Where owner and group names come from; default this system's (owners.ts). */
  users?: UserDatabase;
}

/** Accumulates tar bytes into fixed-size frame buffers. */
class FrameBuffer {
  buffer: Buffer;
  used = 0;
  /** Tar offset of buffer[0]. */
  base = 0;
  readonly full: Buffer[] = [];

  constructor(readonly size: number, private readonly allocate: (size: number) => Buffer = Buffer.allocUnsafeSlow) {
    this.buffer = allocate(size);
  }

  get offset(): number {
    return this.base + this.used;
  }

  get free(): number {
    return this.size - this.used;
  }

  /** Close the current frame (if not empty) and start a new one. */
  cut(): void {
    if (this.used === 0) return;
    this.full.push(this.used === this.size ? this.buffer : this.buffer.subarray(0, this.used));
    this.base += this.used;
    this.buffer = this.allocate(this.size);
    this.used = 0;
  }

  /** Room for at least one byte, cutting when full. */
  ensureRoom(): void {
    if (this.free === 0) this.cut();
  }

  append(bytes: Buffer): void {
    let at = 0;
    while (at < bytes.length) {
      this.ensureRoom();
      const n = Math.min(this.free, bytes.length - at);
      bytes.copy(this.buffer, this.used, at, at + n);
      this.used += n;
      at += n;
    }
  }

  zeros(count: number): void {
    while (count > 0) {
      this.ensureRoom();
      const n = Math.min(this.free, count);
      this.buffer.fill(0, this.used, this.used + n);
      this.used += n;
      count -= n;
    }
  }

  /** Start a member of `total` tar bytes: if it fits in one frame but not in this one, cut first. */
  beginMember(total: number): void {
    if (total <= this.size && total > this.free) this.cut();
  }
}

function memberOf(item: WalkItem, users: UserDatabase): TarMember {
  const { stats } = item;
  const uid = Number(stats.uid);
  const gid = Number(stats.gid);
  const member: TarMember = {
    path: item.path,
    type: item.type,
    size: 0,
    mode: Number(stats.mode) & 0o7777,
    uid,
    gid,
    uname: users.userName(uid),
    gname: users.groupName(gid),
    mtime: mtimeFromNs(stats.mtimeNs),
  };
  if (item.pathBytes) member.pathBytes = item.pathBytes;
  return member;
}

/** The index entry of a member whose header starts at tar offset `offset`. */
function entryOf(member: TarMember, offset: number, headerLength: number): IndexEntry {
  const entry: IndexEntry = {
    path: member.path,
    type: member.type,
    size: member.size,
    mode: member.mode,
    uid: member.uid,
    gid: member.gid,
    mtime: member.mtime,
    offset,
    dataOffset: offset + headerLength,
  };
  if (member.pathBytes) entry.pathBytes = member.pathBytes.toString('base64');
  if (member.uname !== undefined) entry.uname = member.uname;
  if (member.gname !== undefined) entry.gname = member.gname;
  if (member.link !== undefined) entry.link = member.link;
  if (member.linkBytes) entry.linkBytes = member.linkBytes.toString('base64');
  if (member.devmajor !== undefined) {
    entry.devmajor = member.devmajor;
    entry.devminor = member.devminor;
  }
  const xattrs = member.xattrs && xattrsRecord(member.xattrs);
  if (xattrs) entry.xattrs = xattrs;
  return entry;
}

/** Yields tar frames (the last one ends with the end-of-archive blocks). Each yielded Buffer is owned by the consumer. */
export async function* packFrames(items: AsyncIterable<WalkItem | PrefetchedItem>, options: PackOptions): AsyncGenerator<Buffer> {
  const frames = new FrameBuffer(options.frameSize, options.allocate);
  const hardLinks = new Map<string, { path: string; pathBytes?: Buffer }>();
  const { signal, onWarning } = options;
  const users = options.users ?? systemUsers();

  for await (const next of items) {
    throwIfAborted(signal);
    const prefetched: PrefetchedItem = 'item' in next ? next : { item: next };
    const { item } = prefetched;
    if (prefetched.skip) {
      onWarning(prefetched.skip);
      continue;
    }
    const member = memberOf(item, users);
    const { stats } = item;
    let handle: fs.FileHandle | undefined;

    if (item.type === 'symlink') {
      try {
        const target = await fs.readlink(item.absPath, { encoding: 'buffer' });
        member.link = target.toString();
        if (!isUtf8(target)) member.linkBytes = target;
      } catch (error) {
        onWarning({ code: error && (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'W_VANISHED' : 'W_UNREADABLE', path: item.path, message: `cannot read link: ${messageOf(error)}` });
        continue;
      }
    } else if (item.type === 'chardev' || item.type === 'blockdev') {
      const rdev = Number(stats.rdev);
      member.devmajor = Math.floor(rdev / 256) & 0xfff;
      member.devminor = (rdev & 0xff) | ((Math.floor(rdev / 1048576) & 0xfff) << 8);
    } else if (item.type === 'file' && prefetched.data) {
      member.size = prefetched.data.length;
    } else if (item.type === 'file') {
      const key = `${stats.dev}:${stats.ino}`;
      const first = stats.nlink > 1n ? hardLinks.get(key) : undefined;
      if (first !== undefined) {
        member.type = 'hardlink';
        member.link = first.path;
        if (first.pathBytes) member.linkBytes = first.pathBytes;
      } else {
        try {
          handle = await fs.open(item.absPath, OPEN_LISTED_FILE);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          onWarning(replacedSinceListed(item, { code })
            ?? { code: code === 'ENOENT' ? 'W_VANISHED' : 'W_UNREADABLE', path: item.path, message: code === 'ENOENT' ? 'vanished before it was read' : `cannot open: ${messageOf(error)}` });
          continue;
        }
        const replaced = replacedSinceListed(item, { stats: await handle.stat({ bigint: true }) });
        if (replaced) {
          await handle.close();
          onWarning(replaced);
          continue;
        }
        member.size = Number(stats.size);
        if (stats.nlink > 1n) hardLinks.set(key, item.pathBytes ? { path: item.path, pathBytes: item.pathBytes } : { path: item.path });
      }
    }
    // A hard link's attributes are its first name's: stored once, there.
    if (options.xattrs !== false && member.type !== 'hardlink') {
      const { xattrs, problems } = readXattrs(item.absPath);
      if (xattrs.length > 0) member.xattrs = xattrs;
      for (const problem of problems) onWarning({ code: 'W_UNREADABLE', path: item.path, message: `extended attribute not stored: ${problem}` });
    }

    const header = encodeTarHeader(member);
    const padding = tarPadding(member.size);
    frames.beginMember(header.length + member.size + padding);
    const offset = frames.offset;
    frames.append(header);
    const entry = entryOf(member, offset, header.length);
    // Fewer blocks than bytes: the file has holes, which restore recreates (st_blocks is in 512-byte units).
    if (member.type === 'file' && stats.blocks * 512n < stats.size) entry.sparse = true;

    if (prefetched.data) {
      frames.append(prefetched.data);
      entry.sha256 = createHash('sha256').update(prefetched.data).digest('hex');
      options.onBytesRead?.(prefetched.data.length);
      if (prefetched.warning) onWarning(prefetched.warning);
      frames.zeros(padding);
    } else if (handle) {
      try {
        // Full frames are handed on while a large file is read, so memory stays at one frame.
        entry.sha256 = yield* readContent(handle, item, member.size, frames, options);
      } finally {
        await handle.close().catch(() => undefined);
      }
      frames.zeros(padding);
    }
    options.onEntry(entry);
    while (frames.full.length > 0) yield frames.full.shift()!;
  }
  frames.zeros(TAR_END_SIZE);
  frames.cut();
  while (frames.full.length > 0) yield frames.full.shift()!;
}

/**
 * Reads exactly `size` bytes into the frames (zero-padding a file that shrank), yielding every
 * frame that fills up on the way; returns the hex SHA-256 of what was stored.
 */
async function* readContent(handle: fs.FileHandle, item: WalkItem, size: number, frames: FrameBuffer, options: PackOptions): AsyncGenerator<Buffer, string> {
  const hash = createHash('sha256');
  let done = 0;
  let problem: BackupWarning | undefined;
  while (done < size) {
    while (frames.full.length > 0) yield frames.full.shift()!;
    frames.ensureRoom();
    const want = Math.min(frames.free, size - done);
    let n: number;
    try {
      ({ bytesRead: n } = await handle.read(frames.buffer, frames.used, want, done));
    } catch (error) {
      problem = { code: 'W_UNREADABLE', path: item.path, message: `read failed after ${done} of ${size} bytes (${messageOf(error)}); the rest is stored as zeros` };
      n = 0;
    }
    if (n === 0) {
      problem ??= { code: 'W_CHANGED', path: item.path, message: `shrank while read: ${done} of ${size} bytes; the rest is stored as zeros` };
      // Pad to the size in the header, a frame at a time; hash the zeros without reading them back.
      hashZeros(hash, size - done);
      while (done < size) {
        const n = Math.min(size - done, options.frameSize);
        frames.zeros(n);
        done += n;
        while (frames.full.length > 0) yield frames.full.shift()!;
      }
      break;
    }
    hash.update(frames.buffer.subarray(frames.used, frames.used + n));
    frames.used += n;
    done += n;
    options.onBytesRead?.(n);
  }
  if (!problem) {
    const after = await handle.stat({ bigint: true }).catch(() => undefined);
    if (after && (after.size !== item.stats.size || after.mtimeNs !== item.stats.mtimeNs)) {
      problem = {
        code: 'W_CHANGED',
        path: item.path,
        message: after.size > item.stats.size
          ? `grew while read (${item.stats.size} → ${after.size} bytes); the first ${size} bytes are stored`
          : 'changed while read; the stored content may mix old and new data',
      };
    }
  }
  if (problem) options.onWarning(problem);
  return hash.digest('hex');
}

const ZERO_BLOCK = Buffer.alloc(64 * 1024);

function hashZeros(hash: ReturnType<typeof createHash>, count: number): void {
  while (count > 0) {
    const n = Math.min(count, ZERO_BLOCK.length);
    hash.update(ZERO_BLOCK.subarray(0, n));
    count -= n;
  }
}
