// Restore to a stream: one file's content (--stdout), or a selection as a plain tar stream (--tar).

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { DEFAULTS } from '../defaults.js';
import { CassetteError } from '../errors.js';
import { entryKey, tarMemberOf } from '../format/entry-bytes.js';
import { encodeTarHeader, TAR_END_SIZE, tarPadding } from '../format/tar-header.js';
import type { ArtifactRecord, CommitRecord, FrameRecord, IndexEntry } from '../format/types.js';
import { openIndex } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';
import { FramePool } from '../zstd/pool.js';
import { readFrames } from './read-frames.js';
import { artifactMayMatch, compileSelector, type SelectOptions } from './select.js';

export interface StreamOutOptions extends SelectOptions {
  store: ObjectStore;
  record: CommitRecord;
  out: Writable;
  pool?: FramePool;
  signal?: AbortSignal;
  onDownloaded?: (bytes: number) => void;
}

async function write(out: Writable, bytes: Buffer): Promise<void> {
  if (!out.write(bytes)) await once(out, 'drain');
}

/** Streams the content of the one file the selection matches. Returns its size. */
export async function restoreFileToStream(options: StreamOutOptions): Promise<number> {
  const selected = compileSelector(options);
  const matches: Array<{ artifact: CommitRecord['artifacts'][number]; entry: IndexEntry }> = [];
  for (const artifact of options.record.artifacts) {
    if (artifact.kind !== 'tree' || !artifactMayMatch(options, artifact.name)) continue;
    const index = await openIndex(options.store, artifact);
    for await (const entry of index.entries) {
      if (selected(artifact.name, entry.path) && entry.type !== 'dir') matches.push({ artifact, entry });
      if (matches.length > 1) break;
    }
    index.close();
    if (matches.length > 1) break;
  }
  // Nothing matching is "not found" (exit 4), as for every other selection; two files are a usage error (exit 2).
  if (matches.length === 0) throw new CassetteError('E_SNAPSHOT_NOT_FOUND', '--stdout: the selection matches no file in this snapshot');
  if (matches.length > 1) {
    throw new CassetteError(
      'E_USAGE',
      `--stdout needs exactly one file; the selection matches ${matches[0]!.artifact.name}/${matches[0]!.entry.path}, ${matches[1]!.artifact.name}/${matches[1]!.entry.path} and maybe more`,
    );
  }
  const { artifact } = matches[0]!;
  let { entry } = matches[0]!;
  if (entry.type === 'hardlink') {
    const index = await openIndex(options.store, artifact);
    for await (const candidate of index.entries) {
      if (candidate.type === 'file' && entryKey(candidate.path, candidate.pathBytes) === entryKey(entry.link ?? '', entry.linkBytes)) {
        entry = candidate;
        break;
      }
    }
    index.close();
  }
  if (entry.type !== 'file') throw new CassetteError('E_USAGE', `--stdout: ${artifact.name}/${entry.path} is a ${entry.type}, not a regular file`);
  const index = await openIndex(options.store, artifact);
  index.close();
  return writeFileContent({ ...options, artifact, frames: index.frames, entry });
}

export interface FileContentOptions extends Pick<StreamOutOptions, 'store' | 'out' | 'pool' | 'signal' | 'onDownloaded'> {
  artifact: ArtifactRecord;
  /** The artifact's frame table (its index's `frames`). */
  frames: FrameRecord[];
  /** A `file` entry of the artifact. */
  entry: IndexEntry;
}

/** Streams one file entry's content, reading only the frames that hold it, and checks it against its SHA-256. Returns its size. */
export async function writeFileContent(options: FileContentOptions): Promise<number> {
  const { artifact, entry } = options;
  const pool = options.pool ?? new FramePool();
  const hash = createHash('sha256');
  try {
    if (entry.size > 0) {
      const start = entry.dataOffset;
      const end = start + entry.size;
      for await (const { frame, data } of readFrames([{ start, end }], {
        store: options.store,
        artifact,
        frames: options.frames,
        pool,
        concurrency: DEFAULTS.fetchConcurrency,
        plan: { maxGapBytes: DEFAULTS.restoreMaxGapBytes, maxRequestBytes: DEFAULTS.restoreRequestBytes },
        signal: options.signal,
        onDownloaded: options.onDownloaded,
      })) {
        const from = Math.max(start, frame.tarOffset) - frame.tarOffset;
        const to = Math.min(end, frame.tarOffset + frame.tarSize) - frame.tarOffset;
        const slice = data.subarray(from, to);
        hash.update(slice);
        await write(options.out, slice);
      }
    }
  } finally {
    if (!options.pool) await pool.close();
  }
  const digest = hash.digest('hex');
  if (entry.sha256 && digest !== entry.sha256) {
    throw new CassetteError('E_INTEGRITY', `${artifact.name}/${entry.path}: content hash mismatch (expected ${entry.sha256}, got ${digest})`);
  }
  return entry.size;
}

/**
 * Streams the selection as a POSIX tar: paths become `artifact/path`, headers are re-encoded from
 * the index and contents are copied from the archive unchanged (each checked against its hash).
 */
export async function restoreTarToStream(options: StreamOutOptions): Promise<number> {
  const selected = compileSelector(options);
  const pool = options.pool ?? new FramePool();
  let count = 0;
  try {
    for (const artifact of options.record.artifacts) {
      if (artifact.kind !== 'tree' || !artifactMayMatch(options, artifact.name)) continue;
      const index = await openIndex(options.store, artifact);
      let batch: IndexEntry[] = [];
      const flush = async (): Promise<void> => {
        const files = batch.filter((e) => e.type === 'file' && e.size > 0);
        const ranges = files.map((e) => ({ start: e.dataOffset, end: e.dataOffset + e.size }));
        const frames = readFrames(ranges, {
          store: options.store,
          artifact,
          frames: index.frames,
          pool,
          concurrency: DEFAULTS.fetchConcurrency,
          plan: { maxGapBytes: DEFAULTS.restoreMaxGapBytes, maxRequestBytes: DEFAULTS.restoreRequestBytes },
          signal: options.signal,
          onDownloaded: options.onDownloaded,
        })[Symbol.asyncIterator]();
        let current: { frame: { frame: number; tarOffset: number; tarSize: number }; data: Buffer } | undefined;
        for (const entry of batch) {
          const name = `${artifact.name}/${entry.path}`;
          await write(options.out, encodeTarHeader(tarMemberOf(entry, `${artifact.name}/`)));
          count++;
          if (entry.type !== 'file' || entry.size === 0) continue;
          const hash = createHash('sha256');
          let at = entry.dataOffset;
          const end = at + entry.size;
          while (at < end) {
            if (!current || at >= current.frame.tarOffset + current.frame.tarSize) {
              const step = await frames.next();
              if (step.done) throw new CassetteError('E_INTEGRITY', `${name}: the archive ended early`);
              current = step.value;
              continue;
            }
            const to = Math.min(end, current.frame.tarOffset + current.frame.tarSize);
            const slice = current.data.subarray(at - current.frame.tarOffset, to - current.frame.tarOffset);
            hash.update(slice);
            await write(options.out, slice);
            at = to;
          }
          const digest = hash.digest('hex');
          if (entry.sha256 && digest !== entry.sha256) {
            throw new CassetteError('E_INTEGRITY', `${name}: content hash mismatch (expected ${entry.sha256}, got ${digest})`);
          }
          await write(options.out, Buffer.alloc(tarPadding(entry.size)));
        }
        await frames.return?.(undefined);
        batch = [];
      };
      for await (const entry of index.entries) {
        if (!selected(artifact.name, entry.path)) continue;
        batch.push(entry);
        if (batch.length >= DEFAULTS.restoreBatchEntries) await flush();
      }
      await flush();
    }
    await write(options.out, Buffer.alloc(TAR_END_SIZE));
  } finally {
    if (!options.pool) await pool.close();
  }
  return count;
}
