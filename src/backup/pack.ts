// Packs walked entries into a POSIX tar stream cut into frames, and decides which frames an incremental backup can take from its parent without reading a byte.
//
// Frame boundaries (docs/FORMAT.md §7, the writer's rules):
// - small members (headers + content + padding ≤ frameSize) are gathered into a frame, which ends
//   after a member whose header hash falls below a threshold proportional to the member's size
//   (content-defined: one changed file moves no boundary but its own), once the frame holds
//   `smallFrame.min` bytes, and always before it would exceed frameSize;
// - a large member gets a frame of its headers alone, then its content is cut at content-defined
//   chunk boundaries (native gear hash), and its last frame ends with its padding;
// - the two end-of-archive blocks are a frame of their own.
// A frame whose members are exactly those of one parent frame, unchanged (same index fields, and
// for files the same size, mtime, ctime, inode and device), is that parent frame: the files are
// not read. Other frames are filled — file contents read straight into the frame buffer — and go
// on to be hashed, and compressed unless the parent has a frame with the same digest.

import { isUtf8 } from 'node:buffer';
import { createHash, hash } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import { messageOf, throwIfAborted } from '../errors.js';
import { xattrsRecord } from '../format/entry-bytes.js';
import { encodeTarHeader, mtimeFromNs, TAR_END_SIZE, tarPadding, type TarMember } from '../format/tar-header.js';
import type { BackupWarning, IndexEntry } from '../format/types.js';
import { cdcCut } from '../fs/native.js';
import { systemUsers, type UserDatabase } from '../fs/owners.js';
import { readXattrs } from '../fs/xattrs.js';
import type { ParentArtifact, ParentFrame } from './parent.js';
import type { PrefetchedItem } from './prefetch.js';
import { OPEN_LISTED_FILE, replacedSinceListed, type WalkItem } from './walk.js';

/** Boundaries of frames of small members: at least `min` bytes, about `average` on average. */
export interface SmallFrameLimits {
  min: number;
  average: number;
}

/** Content-defined chunks of large files (cdcCut): at least `min`, normalised around 2^bits, at most frameSize − 512. */
export interface ChunkLimits {
  min: number;
  normal: number;
  bits: number;
}

export interface PackOptions {
  /** Largest frame, in uncompressed bytes; the packer holds one frame buffer of this size. */
  frameSize: number;
  smallFrames: SmallFrameLimits;
  chunks: ChunkLimits;
  signal?: AbortSignal;
  onWarning: (warning: BackupWarning) => void;
  /** Called with the number of content bytes just read from a file. */
  onBytesRead?: (bytes: number) => void;
  /** Where frame buffers come from (FramePool.frameBuffer reuses compressed ones); default new memory. */
  allocate?: (size: number) => Buffer;
  /** Store extended attributes and ACLs (one listxattr per entry, one getxattr per attribute). Default true. */
  xattrs?: boolean;
  /** Where owner and group names come from; default this system's (owners.ts). */
  users?: UserDatabase;
  /** The parent snapshot's artifact: its frames are reused where the members are unchanged. */
  parent?: ParentArtifact;
}

/** A frame of the new archive, with the index entries of the members that end in it (in tar order). */
export type PackedFrame = { kind: 'reuse'; frame: ParentFrame; entries: IndexEntry[] } | { kind: 'new'; data: Buffer; entries: IndexEntry[] };

/** A member waiting in the current frame; its bytes are at `start` in the frame buffer. */
interface Pending {
  entry: IndexEntry;
  start: number;
  headerLength: number;
  total: number;
  /** The parent's entry when it is the same member (index fields equal, file content unchanged): its bytes are the parent's. */
  same?: IndexEntry;
  /** Content not read yet (the metadata fast path): read only if the frame cannot be reused. */
  hole?: WalkItem;
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

/** The index entry of a member (offsets are set when its frame is placed). */
function entryOf(member: TarMember): IndexEntry {
  const entry: IndexEntry = {
    path: member.path,
    type: member.type,
    size: member.size,
    mode: member.mode,
    uid: member.uid,
    gid: member.gid,
    mtime: member.mtime,
    offset: 0,
    dataOffset: 0,
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

/** Fields of an entry that its tar bytes depend on, or that a restore uses; offsets excluded. */
const COMPARED: ReadonlyArray<keyof IndexEntry> = [
  'path',
  'pathBytes',
  'type',
  'size',
  'mode',
  'uid',
  'gid',
  'uname',
  'gname',
  'mtime',
  'link',
  'linkBytes',
  'devmajor',
  'devminor',
  'sha256',
  'sparse',
  'dev',
  'ino',
  'ctime',
];

function sameEntry(a: IndexEntry, b: IndexEntry): boolean {
  for (const key of COMPARED) if (a[key] !== b[key]) return false;
  const x = a.xattrs;
  const y = b.xattrs;
  if (!x || !y) return x === y;
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  // Same names in the same order, same values: the same pax records.
  return keys.every((k, i) => Object.keys(y)[i] === k && x[k] === y[k]);
}

/** The member's header hash, as a number in [0, 1): where its content-defined boundary falls. */
function boundaryHash(header: Buffer): number {
  // One-shot hash (no Hash object): about 1.5 µs per member against 2.2.
  return hash('sha1', header, 'buffer').readUInt32BE(0) / 2 ** 32;
}

/** Yields the frames of the tar stream of `items`, each with the entries of the members it ends. */
export async function* packFrames(items: AsyncIterable<PrefetchedItem>, options: PackOptions): AsyncGenerator<PackedFrame> {
  const { signal, onWarning, parent, frameSize } = options;
  const allocate = options.allocate ?? ((size: number): Buffer => Buffer.allocUnsafeSlow(size));
  const users = options.users ?? systemUsers();
  const hardLinks = new Map<string, { path: string; pathBytes?: Buffer }>();
  /** Tar offset of the current frame's first byte. */
  let tarStart = 0;
  let buffer = allocate(frameSize);
  let used = 0;
  let pending: Pending[] = [];

  /** End the current frame (if it has members): reused from the parent, or filled and new. */
  function closeFrame(): PackedFrame | undefined {
    if (pending.length === 0) return undefined;
    const reused = parent && reusableFrame(pending, parent);
    let frame: PackedFrame;
    if (reused !== undefined) {
      for (const member of pending) place(member, tarStart);
      frame = { kind: 'reuse', frame: parent!.frame(reused), entries: pending.map((m) => m.entry) };
    } else {
      used = fillHoles(buffer, used, pending, options);
      for (const member of pending) place(member, tarStart);
      frame = { kind: 'new', data: buffer.subarray(0, used), entries: pending.map((m) => m.entry) };
      buffer = allocate(frameSize);
    }
    tarStart += reused !== undefined ? parent!.frame(reused).record.tarSize : used;
    used = 0;
    pending = [];
    return frame;
  }

  for await (const prefetched of items) {
    throwIfAborted(signal);
    const { item } = prefetched;
    if (prefetched.skip) {
      onWarning(prefetched.skip);
      continue;
    }
    const member = memberOf(item, users);
    const { stats } = item;
    let handle: fs.FileHandle | undefined;
    let unchanged = prefetched.unchanged === true;

    if (item.type === 'symlink') {
      try {
        const target = await fs.readlink(item.absPath, { encoding: 'buffer' });
        member.link = target.toString();
        if (!isUtf8(target)) member.linkBytes = target;
      } catch (error) {
        onWarning({
          code: error && (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'W_VANISHED' : 'W_UNREADABLE',
          path: item.path,
          message: `cannot read link: ${messageOf(error)}`,
        });
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
        unchanged = false;
      } else {
        if (!unchanged) {
          try {
            handle = await fs.open(item.absPath, OPEN_LISTED_FILE);
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            onWarning(
              replacedSinceListed(item, { code }) ?? {
                code: code === 'ENOENT' ? 'W_VANISHED' : 'W_UNREADABLE',
                path: item.path,
                message: code === 'ENOENT' ? 'vanished before it was read' : `cannot open: ${messageOf(error)}`,
              },
            );
            continue;
          }
          const replaced = replacedSinceListed(item, { stats: await handle.stat({ bigint: true }) });
          if (replaced) {
            await handle.close();
            onWarning(replaced);
            continue;
          }
        }
        member.size = Number(stats.size);
        if (stats.nlink > 1n) hardLinks.set(key, item.pathBytes ? { path: item.path, pathBytes: item.pathBytes } : { path: item.path });
      }
    }
    // A hard link's attributes are its first name's: stored once, there.
    if (options.xattrs !== false && member.type !== 'hardlink') {
      const { xattrs, problems, vanished } = readXattrs(item.absPath);
      if (vanished) {
        // Gone since the walk (a file the fast path has not opened, or any other entry).
        await handle?.close().catch(() => undefined);
        onWarning({ code: 'W_VANISHED', path: item.path, message: 'vanished before it was read' });
        continue;
      }
      if (xattrs.length > 0) member.xattrs = xattrs;
      for (const problem of problems) onWarning({ code: 'W_UNREADABLE', path: item.path, message: `extended attribute not stored: ${problem}` });
    }

    const header = encodeTarHeader(member);
    const padding = tarPadding(member.size);
    const total = header.length + member.size + padding;
    const entry = entryOf(member);
    if (member.type === 'file') {
      // Fewer blocks than bytes: the file has holes, which restore recreates (st_blocks is in 512-byte units).
      if (stats.blocks * 512n < stats.size) entry.sparse = true;
      entry.dev = String(stats.dev);
      entry.ino = String(stats.ino);
      entry.ctime = mtimeFromNs(stats.ctimeNs);
    }
    const old = prefetched.parent;
    if (unchanged && old?.sha256) entry.sha256 = old.sha256;
    const same = old && (member.type !== 'file' || unchanged) && sameEntry(entry, old) ? old : undefined;

    try {
      if (total > frameSize) {
        const done = closeFrame();
        if (done) yield done;
        // Large member: a frame of its headers, then its content in content-defined chunks.
        const reuse = parent && old && unchanged ? largeReuse(parent, old, header.length + member.size + padding) : undefined;
        entry.offset = tarStart;
        entry.dataOffset = tarStart + header.length;
        if (reuse && same) {
          for (let f = reuse.header; f <= reuse.last; f++) {
            const frame = parent!.frame(f);
            tarStart += frame.record.tarSize;
            yield { kind: 'reuse', frame, entries: f === reuse.last ? [entry] : [] };
          }
          continue;
        }
        const headerFrame = allocate(frameSize);
        header.copy(headerFrame);
        yield { kind: 'new', data: headerFrame.subarray(0, header.length), entries: [] };
        tarStart += header.length;
        if (reuse) {
          // Same content, other headers (a chmod, a rename of its owner): only the headers are new.
          for (let f = reuse.header + 1; f <= reuse.last; f++) {
            const frame = parent!.frame(f);
            tarStart += frame.record.tarSize;
            yield { kind: 'reuse', frame, entries: f === reuse.last ? [entry] : [] };
          }
          continue;
        }
        handle ??= await openForRead(item, onWarning);
        if (!handle) {
          // Vanished since the fast path judged it: its headers are out; the content is zeros.
          onWarning({ code: 'W_CHANGED', path: item.path, message: 'vanished before its content was read; stored as zeros' });
        }
        for await (const chunk of readChunks(handle, item, member.size, padding, options, allocate, (digest) => {
          entry.sha256 = digest;
        })) {
          tarStart += chunk.length;
          yield { kind: 'new', data: chunk.data, entries: chunk.last ? [entry] : [] };
        }
        continue;
      }

      // Small member.
      if (used + total > frameSize) {
        const done = closeFrame();
        if (done) yield done;
      }
      const start = used;
      header.copy(buffer, used);
      used += header.length;
      const waiting: Pending = { entry, start, headerLength: header.length, total };
      if (same) waiting.same = same;
      if (prefetched.data) {
        prefetched.data.copy(buffer, used);
        entry.sha256 = createHash('sha256').update(prefetched.data).digest('hex');
        options.onBytesRead?.(prefetched.data.length);
        if (prefetched.warning) onWarning(prefetched.warning);
        used += member.size;
      } else if (handle) {
        entry.sha256 = await readInto(handle, item, member.size, buffer, used, options);
        used += member.size;
      } else if (unchanged && member.type === 'file') {
        waiting.hole = item;
        used += member.size;
      }
      buffer.fill(0, used, used + padding);
      used += padding;
      pending.push(waiting);
      const min = Math.min(options.smallFrames.min, frameSize / 4);
      const average = Math.min(options.smallFrames.average, frameSize / 2);
      if (used >= min && boundaryHash(header) < total / average) {
        const done = closeFrame();
        if (done) yield done;
      }
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }
  const done = closeFrame();
  if (done) yield done;
  const end = allocate(frameSize);
  end.fill(0, 0, TAR_END_SIZE);
  yield { kind: 'new', data: end.subarray(0, TAR_END_SIZE), entries: [] };
}

/** Set a member's offsets once its frame starts at tar offset `frameStart`. */
function place(member: Pending, frameStart: number): void {
  member.entry.offset = frameStart + member.start;
  member.entry.dataOffset = member.entry.offset + member.headerLength;
}

/**
 * The parent frame that the pending members are, byte for byte, or undefined: every member the
 * same as its parent entry, the first starting that frame, each following the one before in the
 * parent's tar, the last ending the frame.
 */
function reusableFrame(members: readonly Pending[], parent: ParentArtifact): number | undefined {
  const first = members[0]!.same;
  if (!first) return undefined;
  const f = parent.frameStartingAt(first.offset);
  if (f < 0) return undefined;
  let next = first.offset;
  for (const member of members) {
    if (!member.same || member.same.offset !== next) return undefined;
    next += member.total;
  }
  const { record } = parent.frame(f);
  return record.tarOffset + record.tarSize === next ? f : undefined;
}

/** The parent frames of an unchanged large member: its header frame, and its last content frame; undefined unless they align. */
function largeReuse(parent: ParentArtifact, old: IndexEntry, total: number): { header: number; last: number } | undefined {
  const headerFrames = parent.framesCovering(old.offset, old.dataOffset);
  if (!headerFrames || headerFrames.first !== headerFrames.last) return undefined;
  const content = parent.framesCovering(old.dataOffset, old.offset + total);
  if (!content || content.first !== headerFrames.last + 1) return undefined;
  return { header: headerFrames.first, last: content.last };
}

/** Open a file the fast path passed over, now that its bytes are needed; undefined (warned) when it cannot be. */
async function openForRead(item: WalkItem, onWarning: (warning: BackupWarning) => void): Promise<fs.FileHandle | undefined> {
  try {
    const handle = await fs.open(item.absPath, OPEN_LISTED_FILE);
    const replaced = replacedSinceListed(item, { stats: await handle.stat({ bigint: true }) });
    if (!replaced) return handle;
    await handle.close();
    onWarning(replaced);
  } catch (error) {
    onWarning({ code: 'W_UNREADABLE', path: item.path, message: `cannot open: ${messageOf(error)}` });
  }
  return undefined;
}

/**
 * Read the contents the fast path left out of a frame that turned out new (a neighbour changed).
 * A file that can no longer be read is taken out of the frame, with a warning, and the members
 * after it move up. Returns the frame's new length.
 */
function fillHoles(buffer: Buffer, used: number, members: Pending[], options: PackOptions): number {
  for (let i = 0; i < members.length; i++) {
    const member = members[i]!;
    const item = member.hole;
    if (!item) continue;
    member.hole = undefined;
    member.same = undefined;
    const at = member.start + member.headerLength;
    const size = member.entry.size;
    const problem = readHole(item, buffer.subarray(at, at + size));
    if (typeof problem === 'string') {
      member.entry.sha256 = problem;
      options.onBytesRead?.(size);
      continue;
    }
    options.onWarning(problem);
    if (problem.code === 'W_CHANGED') continue;
    buffer.copy(buffer, member.start, member.start + member.total, used);
    used -= member.total;
    for (const later of members.slice(i + 1)) later.start -= member.total;
    members.splice(i, 1);
    i--;
  }
  return used;
}

/** Read a whole small file into `target` (zero-padded if it shrank): its SHA-256, or why not. */
function readHole(item: WalkItem, target: Buffer): string | BackupWarning {
  let fd: number;
  try {
    fd = fsSync.openSync(item.absPath, OPEN_LISTED_FILE);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return (
      replacedSinceListed(item, { code }) ?? {
        code: code === 'ENOENT' ? 'W_VANISHED' : 'W_UNREADABLE',
        path: item.path,
        message: code === 'ENOENT' ? 'vanished before it was read' : `cannot open: ${messageOf(error)}`,
      }
    );
  }
  try {
    const replaced = replacedSinceListed(item, { stats: fsSync.fstatSync(fd, { bigint: true }) });
    if (replaced) return replaced;
    let done = 0;
    while (done < target.length) {
      const n = fsSync.readSync(fd, target, done, target.length - done, done);
      if (n === 0) break;
      done += n;
    }
    if (done < target.length) target.fill(0, done);
    const digest = createHash('sha256').update(target).digest('hex');
    return done < target.length ? { code: 'W_CHANGED', path: item.path, message: `shrank while read: ${done} of ${target.length} bytes; the rest is stored as zeros` } : digest;
  } catch (error) {
    return { code: 'W_UNREADABLE', path: item.path, message: `read failed: ${messageOf(error)}` };
  } finally {
    fsSync.closeSync(fd);
  }
}

/** Read exactly `size` bytes of an open file into `buffer` at `at` (zeros where it shrank); its SHA-256. */
async function readInto(handle: fs.FileHandle, item: WalkItem, size: number, buffer: Buffer, at: number, options: PackOptions): Promise<string> {
  const hash = createHash('sha256');
  let done = 0;
  let problem: BackupWarning | undefined;
  while (done < size) {
    let n: number;
    try {
      ({ bytesRead: n } = await handle.read(buffer, at + done, size - done, done));
    } catch (error) {
      problem = { code: 'W_UNREADABLE', path: item.path, message: `read failed after ${done} of ${size} bytes (${messageOf(error)}); the rest is stored as zeros` };
      n = 0;
    }
    if (n === 0) {
      problem ??= { code: 'W_CHANGED', path: item.path, message: `shrank while read: ${done} of ${size} bytes; the rest is stored as zeros` };
      buffer.fill(0, at + done, at + size);
      break;
    }
    options.onBytesRead?.(n);
    done += n;
  }
  hash.update(buffer.subarray(at, at + size));
  problem ??= await changedWhileRead(handle, item, size);
  if (problem) options.onWarning(problem);
  return hash.digest('hex');
}

async function changedWhileRead(handle: fs.FileHandle, item: WalkItem, size: number): Promise<BackupWarning | undefined> {
  const after = await handle.stat({ bigint: true }).catch(() => undefined);
  if (!after || (after.size === item.stats.size && after.mtimeNs === item.stats.mtimeNs)) return undefined;
  return {
    code: 'W_CHANGED',
    path: item.path,
    message:
      after.size > item.stats.size
        ? `grew while read (${item.stats.size} → ${after.size} bytes); the first ${size} bytes are stored`
        : 'changed while read; the stored content may mix old and new data',
  };
}

/**
 * The chunk limits for a frame size: at most a frame less a block (the padding must fit), and the
 * configured minimum and normal size scaled down for small frames (tests, `--frame-size 256KiB`)
 * so that min ≤ normal ≤ max, with an average near half a frame or the configured one.
 */
export function chunkLimits(frameSize: number, chunks: ChunkLimits): { min: number; normal: number; max: number; bits: number } {
  const max = Math.max(2, frameSize - 512);
  const normal = Math.min(chunks.normal, Math.floor(max / 2));
  const min = Math.min(chunks.min, Math.floor(normal / 2));
  const bits = Math.max(3, Math.min(chunks.bits, Math.floor(Math.log2(Math.max(8, normal)))));
  return { min, normal, max, bits };
}

/** Bytes read from a large file at a time, and scanned for a chunk boundary. */
const READ_PIECE = 1024 * 1024;

/**
 * The content of a large file (then its padding) as content-defined chunks, each in a frame buffer
 * of its own. Zeros stand in for what cannot be read (a file that shrank, a read error, no handle),
 * with a warning. `onDigest` gets the SHA-256 of the stored content before the last chunk is yielded.
 */
async function* readChunks(
  handle: fs.FileHandle | undefined,
  item: WalkItem,
  size: number,
  padding: number,
  options: PackOptions,
  allocate: (size: number) => Buffer,
  onDigest: (digest: string) => void,
): AsyncGenerator<{ data: Buffer; length: number; last: boolean }> {
  const limits = chunkLimits(options.frameSize, options.chunks);
  const hash = createHash('sha256');
  let problem: BackupWarning | undefined = handle ? undefined : { code: 'W_UNREADABLE', path: item.path, message: 'could not be opened; stored as zeros' };
  let buffer = allocate(options.frameSize);
  let used = 0;
  let done = 0;
  let scanned = 0;
  while (done < size) {
    const want = Math.min(READ_PIECE, size - done, options.frameSize - used);
    let n = 0;
    if (handle && !problem) {
      try {
        ({ bytesRead: n } = await handle.read(buffer, used, want, done));
      } catch (error) {
        problem = { code: 'W_UNREADABLE', path: item.path, message: `read failed after ${done} of ${size} bytes (${messageOf(error)}); the rest is stored as zeros` };
      }
      if (n === 0) problem ??= { code: 'W_CHANGED', path: item.path, message: `shrank while read: ${done} of ${size} bytes; the rest is stored as zeros` };
      else options.onBytesRead?.(n);
    }
    if (n === 0) {
      n = want;
      buffer.fill(0, used, used + n);
    }
    hash.update(buffer.subarray(used, used + n));
    used += n;
    done += n;
    throwIfAborted(options.signal);
    // Cut wherever the content says, and always at the largest chunk; the rest moves to the next buffer.
    for (;;) {
      const cut = cdcCut(buffer, 0, scanned, used, limits);
      if (cut < 0 || (done === size && cut === used)) {
        scanned = used;
        break;
      }
      const next = allocate(options.frameSize);
      buffer.copy(next, 0, cut, used);
      yield { data: buffer.subarray(0, cut), length: cut, last: false };
      buffer = next;
      used -= cut;
      scanned = 0;
    }
  }
  if (handle && !problem) problem = await changedWhileRead(handle, item, size);
  if (problem) options.onWarning(problem);
  onDigest(hash.digest('hex'));
  buffer.fill(0, used, used + padding);
  used += padding;
  yield { data: buffer.subarray(0, used), length: used, last: true };
}
