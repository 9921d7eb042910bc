// Writes a committed snapshot by hand (tar, frames, seek table, index, commit record) into a local repository, so tests can store indexes no honest backup would write.
//
// With `parent` (or `version: 2`) it writes a version-2 snapshot (docs/FORMAT.md §7) from the text
// of the contract alone, not with the backup's code: every frame whose SHA-256 equals a frame of
// the parent is not stored again but referenced where the parent has it (its own volume, or an
// earlier snapshot's object it referenced in turn), and the artifact gets a recipe.
//
// The index entries' paths and link targets come straight from the members given: restore trusts
// the index, so this is how hostile paths reach it. The tar stream carries the same members where
// the header encoder accepts them (it refuses absolute paths; those get a harmless stand-in name
// in the tar, which restore never reads).

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { encodeSeekTable } from '../../src/format/seek-table.js';
import { encodeTarHeader, TAR_END_SIZE, tarPadding } from '../../src/format/tar-header.js';
import { indexLine } from '../../src/format/index-file.js';
import type { ArtifactRecord, CommitRecord, EntryType, FrameRecord, IndexEntry, IndexHeader, ReferenceRecord } from '../../src/format/types.js';
import { commitKey, indexKey, recipeKey, volumeKey } from '../../src/repository.js';
import { FramePool } from '../../src/zstd/pool.js';

export interface HandBuiltMember {
  /** Path as the index records it (may be hostile). */
  path: string;
  type: EntryType;
  /** Content of a `file` member. */
  content?: Buffer;
  /** Symlink target, or a hard link's target path, as the index records it (may be hostile). */
  link?: string;
  /** Permission bits; default 0o644 for files, 0o755 for directories, 0o777 for symlinks. */
  mode?: number;
}

export interface HandBuiltOptions {
  /** Snapshot id; default `20261126T120000Z-abcdef`. */
  id?: string;
  /** Artifact name; default `evil`. */
  artifact?: string;
  /** Uncompressed tar bytes per frame; default 64 KiB. Infinity gives one frame. */
  frameSize?: number;
  /** A pool to compress with; default a private two-thread pool, closed afterwards. */
  pool?: FramePool;
  /** `startedAt` of the commit record (prune orders snapshots by it); default `2026-11-26T12:00:00.000Z`. */
  startedAt?: string;
  /** Format version to write; default 1, or 2 when `parent` is given. */
  version?: 1 | 2;
  /** Version 2: an earlier snapshot built here whose frames are reused (by SHA-256 of their content) instead of stored. */
  parent?: HandBuiltRepo;
}

/** A stored object as a commit record names it. */
export interface HandBuiltObject {
  key: string;
  size: number;
  sha256: string;
}

/** Where one frame of the artifact is stored: this snapshot's volume, or an object of an earlier snapshot. */
export interface HandBuiltFrame {
  object: HandBuiltObject;
  offset: number;
  size: number;
  tarOffset: number;
  tarSize: number;
  /** SHA-256 of the frame's uncompressed bytes. */
  sha256: string;
}

export interface HandBuiltRepo {
  id: string;
  record: CommitRecord;
  entries: IndexEntry[];
  tar: Buffer;
  /** The artifact's frames in frame order, with the object each is read from. */
  frames: HandBuiltFrame[];
}

const MTIME = '1764170000';
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Store path under the repository directory for a key. */
function fileFor(storeDir: string, key: string): string {
  return path.join(storeDir, ...key.split('/'));
}

async function writeObject(storeDir: string, key: string, data: Buffer): Promise<void> {
  const file = fileFor(storeDir, key);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, data);
}

/** A name the tar header encoder accepts for a member whose index path it would refuse. */
function tarPathFor(indexPath: string): string {
  const stripped = indexPath
    .replace(/^[/\\]+/, '')
    .replace(/\0/g, '_')
    .replace(/\/+$/, '');
  return stripped === '' ? 'unnamed' : stripped;
}

export async function buildRepo(storeDir: string, members: HandBuiltMember[], options: HandBuiltOptions = {}): Promise<HandBuiltRepo> {
  const id = options.id ?? '20261126T120000Z-abcdef';
  const artifact = options.artifact ?? 'evil';
  const frameSize = options.frameSize ?? 64 * 1024;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;

  // 1. The tar stream, recording each member's offsets.
  const parts: Buffer[] = [];
  const entries: IndexEntry[] = [];
  let offset = 0;
  for (const member of members) {
    const content = member.type === 'file' ? (member.content ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const mode = member.mode ?? (member.type === 'dir' ? 0o755 : member.type === 'symlink' ? 0o777 : 0o644);
    const header = encodeTarHeader({
      path: tarPathFor(member.path),
      type: member.type,
      size: content.length,
      mode,
      uid,
      gid,
      mtime: MTIME,
      link: member.link,
    });
    const entry: IndexEntry = {
      path: member.path,
      type: member.type,
      size: content.length,
      mode,
      uid,
      gid,
      mtime: MTIME,
      offset,
      dataOffset: offset + header.length,
    };
    if (member.link !== undefined) entry.link = member.link;
    if (member.type === 'file') entry.sha256 = sha256(content);
    entries.push(entry);
    parts.push(header, content, Buffer.alloc(tarPadding(content.length)));
    offset += header.length + content.length + tarPadding(content.length);
  }
  parts.push(Buffer.alloc(TAR_END_SIZE));
  const tar = Buffer.concat(parts);

  // 2. Frames: cut every `frameSize` bytes; a version-2 frame the parent has is reused, the others are compressed alone.
  const version = options.version ?? (options.parent ? 2 : 1);
  const pool = options.pool ?? new FramePool({ threads: 2 });
  try {
    const slices: Buffer[] = [];
    const step = Number.isFinite(frameSize) ? frameSize : tar.length;
    for (let at = 0; at < tar.length; at += step) slices.push(tar.subarray(at, Math.min(tar.length, at + step)));
    const hashes = slices.map((slice) => sha256(slice));
    const parentFrames = new Map((options.parent?.frames ?? []).map((frame) => [frame.sha256, frame]));
    const reused = hashes.map((hash) => (version === 2 ? parentFrames.get(hash) : undefined));
    // The pool takes ownership of what it is given: hand it copies, never views of `tar`.
    const compressed = await Promise.all(slices.map(async (slice, i) => (reused[i] ? undefined : pool.compress(Buffer.from(slice)))));
    const newFrames = compressed.filter((frame): frame is Buffer => frame !== undefined);

    // 3. This snapshot's volume: its new frames and their seek table (none when every frame is reused).
    const vKey = volumeKey(id, artifact, 0);
    const seekTable = encodeSeekTable(slices.flatMap((slice, i) => (compressed[i] ? [{ compressedSize: compressed[i]!.length, decompressedSize: slice.length }] : [])));
    const volumeBytes = Buffer.concat([...newFrames, seekTable]);
    const volume: HandBuiltObject | undefined = version === 1 || newFrames.length > 0 ? { key: vKey, size: volumeBytes.length, sha256: sha256(volumeBytes) } : undefined;
    const located: HandBuiltFrame[] = [];
    let volumeOffset = 0;
    let tarOffset = 0;
    for (const [i, slice] of slices.entries()) {
      const frame = compressed[i];
      if (frame) {
        located.push({ object: volume!, offset: volumeOffset, size: frame.length, tarOffset, tarSize: slice.length, sha256: hashes[i]! });
        volumeOffset += frame.length;
      } else {
        located.push({ ...reused[i]!, tarOffset, tarSize: slice.length });
      }
      tarOffset += slice.length;
    }
    // Objects in FrameRecord.volume order: the volume, then the referenced objects in order of first use.
    const references: ReferenceRecord[] = [];
    for (const frame of located) {
      if (frame.object === volume) continue;
      let reference = references.find((r) => r.key === frame.object.key);
      if (!reference) references.push((reference = { ...frame.object, frames: 0, bytes: 0 }));
      reference.frames++;
      reference.bytes += frame.size;
    }
    const objectKeys = [...(volume ? [volume.key] : []), ...references.map((r) => r.key)];
    const frames: FrameRecord[] = located.map((frame, i) => ({
      frame: i,
      volume: objectKeys.indexOf(frame.object.key),
      offset: frame.offset,
      size: frame.size,
      tarOffset: frame.tarOffset,
      tarSize: frame.tarSize,
      ...(version === 2 ? { sha256: frame.sha256 } : {}),
    }));

    // 4. The index: header, frame lines, entry lines.
    const header: IndexHeader = {
      format: 'cassette-index',
      version,
      artifact,
      kind: 'tree',
      source: `/nonexistent/${artifact}`,
      frameCount: frames.length,
      entryCount: entries.length,
      tarSize: tar.length,
      hash: 'sha256',
    };
    const text = [header, ...frames, ...entries].map((record) => indexLine(record)).join('');
    const index = await pool.compress(Buffer.from(text, 'utf8'));

    // 5. Version 2: the recipe, runs of frames that lie back to back in one object.
    const segments: Array<{ key: string; first: number; last: number }> = [];
    for (const frame of located) {
      const previous = segments.at(-1);
      if (previous && previous.key === frame.object.key && previous.last + 1 === frame.offset) previous.last += frame.size;
      else segments.push({ key: frame.object.key, first: frame.offset, last: frame.offset + frame.size - 1 });
    }
    const recipe = Buffer.from(segments.map((s) => `${s.key} ${s.first} ${s.last}\n`).join(''), 'ascii');

    // 6. Objects first, the commit record last.
    const iKey = indexKey(id, artifact);
    if (volume) await writeObject(storeDir, vKey, volumeBytes);
    await writeObject(storeDir, iKey, index);
    if (version === 2) await writeObject(storeDir, recipeKey(id, artifact), recipe);
    const startedAt = options.startedAt ?? '2026-11-26T12:00:00.000Z';
    const artifactRecord: ArtifactRecord = {
      name: artifact,
      kind: 'tree',
      source: `/nonexistent/${artifact}`,
      volumes: volume ? [{ ...volume, frames: newFrames.length }] : [],
      index: { key: iKey, size: index.length, ...(version === 2 ? { sha256: sha256(index) } : {}) },
      bytesRead: members.reduce((sum, m) => sum + (m.type === 'file' ? (m.content?.length ?? 0) : 0), 0),
      tarBytes: tar.length,
      storedBytes: volume?.size ?? 0,
      frameCount: frames.length,
      entryCount: entries.length,
      warnings: [],
      warningCount: 0,
    };
    if (version === 2) {
      Object.assign(artifactRecord, {
        ...(references.length > 0 ? { references } : {}),
        recipe: { key: recipeKey(id, artifact), size: recipe.length, sha256: sha256(recipe) },
        ...(options.parent ? { parent: options.parent.id } : {}),
        newFrames: newFrames.length,
        reusedFrames: references.reduce((sum, r) => sum + r.frames, 0),
        reusedBytes: references.reduce((sum, r) => sum + r.bytes, 0),
      });
    }
    const record: CommitRecord = {
      format: 'cassette-snapshot',
      version,
      id,
      host: 'hand-built',
      tags: [],
      startedAt,
      finishedAt: new Date(Date.parse(startedAt) + 1000).toISOString(),
      cassetteVersion: 'test',
      compressionLevel: 3,
      artifacts: [artifactRecord],
    };
    await writeObject(storeDir, commitKey(id), Buffer.from(JSON.stringify(record, null, 2)));
    return { id, record, entries, tar, frames: located };
  } finally {
    if (!options.pool) await pool.close();
  }
}

/** A small tree whose first 256 KiB of tar (four 64 KiB frames) is `big` alone: a later snapshot that keeps `big` reuses those frames. */
export function chainTree(b: Buffer, c: string, big: Buffer): HandBuiltMember[] {
  return [
    { path: 'big', type: 'file', content: big },
    { path: 'b', type: 'file', content: b },
    { path: 'c', type: 'file', content: Buffer.from(c) },
  ];
}

export interface ChainOptions {
  /** The three snapshot ids, oldest first (their startedAt is the id's time). */
  ids: [string, string, string];
  /** Contents of `big`, and of `b` in the three snapshots: S3 reuses S2's frames of `b` when its `b` equals S2's. */
  big: Buffer;
  b: [Buffer, Buffer, Buffer];
  /** Format version of the first snapshot; the others are version 2. Default 2. */
  baseVersion?: 1 | 2;
}

/**
 * Three snapshots of the artifact `etc`: S1 full, S2 (another `b`) reusing the frames of `big`
 * from S1's volume, S3 (its own `b`, another `c`) whose parent is S2, reusing `big` from S1's
 * volume and whatever else it shares with S2 from S2's. Frames are 64 KiB.
 */
export async function buildChain(storeDir: string, options: ChainOptions): Promise<[HandBuiltRepo, HandBuiltRepo, HandBuiltRepo]> {
  const [id1, id2, id3] = options.ids;
  const startedAt = (id: string): string => `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}.000Z`;
  const s1 = await buildRepo(storeDir, chainTree(options.b[0], 'c1\n', options.big), { id: id1, artifact: 'etc', version: options.baseVersion ?? 2, startedAt: startedAt(id1) });
  const s2 = await buildRepo(storeDir, chainTree(options.b[1], 'c1\n', options.big), { id: id2, artifact: 'etc', parent: s1, startedAt: startedAt(id2) });
  const s3 = await buildRepo(storeDir, chainTree(options.b[2], 'c3\n', options.big), { id: id3, artifact: 'etc', parent: s2, startedAt: startedAt(id3) });
  return [s1, s2, s3];
}
