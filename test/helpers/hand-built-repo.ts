// Writes a committed snapshot by hand (tar, frames, seek table, index, commit record) into a local repository, so tests can store indexes no honest backup would write.
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
import type { CommitRecord, EntryType, FrameRecord, IndexEntry, IndexHeader } from '../../src/format/types.js';
import { commitKey, indexKey, volumeKey } from '../../src/repository.js';
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
}

export interface HandBuiltRepo {
  id: string;
  record: CommitRecord;
  entries: IndexEntry[];
  tar: Buffer;
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
  const stripped = indexPath.replace(/^[/\\]+/, '').replace(/\0/g, '_').replace(/\/+$/, '');
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
    const content = member.type === 'file' ? member.content ?? Buffer.alloc(0) : Buffer.alloc(0);
    const mode = member.mode ?? (member.type === 'dir' ? 0o755 : member.type === 'symlink' ? 0o777 : 0o644);
    const header = encodeTarHeader({
      path: tarPathFor(member.path), type: member.type, size: content.length, mode, uid, gid, mtime: MTIME,
      link: member.link,
    });
    const entry: IndexEntry = {
      path: member.path, type: member.type, size: content.length, mode, uid, gid, mtime: MTIME,
      offset, dataOffset: offset + header.length,
    };
    if (member.link !== undefined) entry.link = member.link;
    if (member.type === 'file') entry.sha256 = sha256(content);
    entries.push(entry);
    parts.push(header, content, Buffer.alloc(tarPadding(content.length)));
    offset += header.length + content.length + tarPadding(content.length);
  }
  parts.push(Buffer.alloc(TAR_END_SIZE));
  const tar = Buffer.concat(parts);

  // 2. Frames, each compressed alone, then the seek table.
  const pool = options.pool ?? new FramePool({ threads: 2 });
  try {
    const slices: Buffer[] = [];
    const step = Number.isFinite(frameSize) ? frameSize : tar.length;
    for (let at = 0; at < tar.length; at += step) slices.push(tar.subarray(at, Math.min(tar.length, at + step)));
    // The pool takes ownership of what it is given: hand it copies, never views of `tar`.
    const compressed = await Promise.all(slices.map((slice) => pool.compress(Buffer.from(slice))));
    const frames: FrameRecord[] = [];
    let volumeOffset = 0;
    let tarOffset = 0;
    for (const [i, frame] of compressed.entries()) {
      frames.push({ frame: i, volume: 0, offset: volumeOffset, size: frame.length, tarOffset, tarSize: slices[i]!.length });
      volumeOffset += frame.length;
      tarOffset += slices[i]!.length;
    }
    const seekTable = encodeSeekTable(frames.map((f) => ({ compressedSize: f.size, decompressedSize: f.tarSize })));
    const volume = Buffer.concat([...compressed, seekTable]);

    // 3. The index: header, frame lines, entry lines.
    const header: IndexHeader = {
      format: 'cassette-index', version: 1, artifact, kind: 'tree', source: `/nonexistent/${artifact}`,
      frameCount: frames.length, entryCount: entries.length, tarSize: tar.length, hash: 'sha256',
    };
    const text = [header, ...frames, ...entries].map((record) => indexLine(record)).join('');
    const index = await pool.compress(Buffer.from(text, 'utf8'));

    // 4. Objects first, the commit record last.
    const vKey = volumeKey(id, artifact, 0);
    const iKey = indexKey(id, artifact);
    await writeObject(storeDir, vKey, volume);
    await writeObject(storeDir, iKey, index);
    const record: CommitRecord = {
      format: 'cassette-snapshot', version: 1, id, host: 'hand-built', tags: [],
      startedAt: '2026-11-26T12:00:00.000Z', finishedAt: '2026-11-26T12:00:01.000Z',
      cassetteVersion: 'test', compressionLevel: 3,
      artifacts: [{
        name: artifact, kind: 'tree', source: `/nonexistent/${artifact}`,
        volumes: [{ key: vKey, size: volume.length, sha256: sha256(volume), frames: frames.length }],
        index: { key: iKey, size: index.length },
        bytesRead: members.reduce((sum, m) => sum + (m.type === 'file' ? m.content?.length ?? 0 : 0), 0),
        tarBytes: tar.length, storedBytes: volume.length,
        frameCount: frames.length, entryCount: entries.length,
        warnings: [], warningCount: 0,
      }],
    };
    await writeObject(storeDir, commitKey(id), Buffer.from(JSON.stringify(record, null, 2)));
    return { id, record, entries, tar };
  } finally {
    if (!options.pool) await pool.close();
  }
}
