// Verifies a snapshot: objects present with the recorded sizes and seek tables that match the index; with readData, the index's and volumes' SHA-256, every frame and file hash.

import { createHash, type Hash } from 'node:crypto';
import { isCassetteError, messageOf } from './errors.js';
import { parseSeekTable, parseSeekTableFooter, SEEK_TABLE_FOOTER_SIZE } from './format/seek-table.js';
import type { ArtifactRecord, CommitRecord, FrameRecord, IndexEntry } from './format/types.js';
import { openIndex } from './repository.js';
import type { ObjectStore } from './store/object-store.js';
import { FramePool } from './zstd/pool.js';

export interface VerifyProblem {
  artifact: string;
  /** Object key, when the problem is about one object. */
  object?: string;
  /** Entry path, when the problem is about one file. */
  path?: string;
  problem: string;
}

export interface VerifyOptions {
  store: ObjectStore;
  record: CommitRecord;
  /** Download everything: index and archive SHA-256, every frame decompressed, every file hash. */
  readData?: boolean;
  pool?: FramePool;
  signal?: AbortSignal;
  onProblem?: (problem: VerifyProblem) => void;
}

export interface VerifyReport {
  snapshot: string;
  problems: VerifyProblem[];
  objects: number;
  frames: number;
  files: number;
  bytesRead: number;
}

export async function verifySnapshot(options: VerifyOptions): Promise<VerifyReport> {
  const report: VerifyReport = { snapshot: options.record.id, problems: [], objects: 0, frames: 0, files: 0, bytesRead: 0 };
  const problem = (p: VerifyProblem): void => {
    report.problems.push(p);
    options.onProblem?.(p);
  };
  const pool = options.pool ?? (options.readData ? new FramePool() : undefined);
  try {
    for (const artifact of options.record.artifacts) {
      await verifyArtifact(artifact, options, report, problem, pool);
    }
  } finally {
    if (!options.pool) await pool?.close();
  }
  return report;
}

async function verifyArtifact(artifact: ArtifactRecord, options: VerifyOptions, report: VerifyReport, problem: (p: VerifyProblem) => void, pool: FramePool | undefined): Promise<void> {
  const { store } = options;
  const name = artifact.name;
  const indexInfo = await store.head(artifact.index.key);
  report.objects++;
  if (!indexInfo) return problem({ artifact: name, object: artifact.index.key, problem: 'index object is missing' });
  if (indexInfo.size !== artifact.index.size) problem({ artifact: name, object: artifact.index.key, problem: `index size is ${indexInfo.size}, commit record says ${artifact.index.size}` });
  else if (options.readData && artifact.index.sha256) await checkIndexObject(artifact, options, report, problem);
  let index;
  try {
    index = await openIndex(store, artifact);
  } catch (error) {
    return problem({ artifact: name, object: artifact.index.key, problem: `index cannot be read: ${messageOf(error)}` });
  }
  if (index.frames.length !== artifact.frameCount) problem({ artifact: name, object: artifact.index.key, problem: `index has ${index.frames.length} frames, commit record says ${artifact.frameCount}` });

  let volumesOk = true;
  for (const [v, volume] of artifact.volumes.entries()) {
    report.objects++;
    const info = await store.head(volume.key);
    if (!info) {
      problem({ artifact: name, object: volume.key, problem: 'archive object is missing' });
      volumesOk = false;
      continue;
    }
    if (info.size !== volume.size) {
      problem({ artifact: name, object: volume.key, problem: `archive size is ${info.size}, commit record says ${volume.size} (truncated or replaced)` });
      volumesOk = false;
      continue;
    }
    const frames = index.frames.filter((f) => f.volume === v);
    try {
      const footer = parseSeekTableFooter(await store.getBuffer(volume.key, { range: { start: volume.size - SEEK_TABLE_FOOTER_SIZE, end: volume.size - 1 } }));
      const table = parseSeekTable(await store.getBuffer(volume.key, { range: { start: volume.size - footer.tableSize, end: volume.size - 1 } }));
      const mismatch = table.length !== frames.length || table.some((t, i) => t.compressedSize !== frames[i]!.size || t.decompressedSize !== frames[i]!.tarSize);
      if (mismatch) problem({ artifact: name, object: volume.key, problem: `seek table (${table.length} frames) does not match the index (${frames.length} frames)` });
      const last = frames.at(-1);
      if (last && last.offset + last.size + footer.tableSize !== volume.size) problem({ artifact: name, object: volume.key, problem: 'frames and seek table do not add up to the object size' });
    } catch (error) {
      problem({ artifact: name, object: volume.key, problem: `seek table unreadable: ${messageOf(error)}` });
      volumesOk = false;
    }
  }

  if (!options.readData || !volumesOk) {
    index.close();
    if (options.readData && !volumesOk) problem({ artifact: name, problem: 'data not read: an archive object is missing or damaged' });
    return;
  }
  await readAllData(artifact, index.frames, index.entries, options, report, problem, pool!);
}

/**
 * Downloads the whole index object and compares its size and SHA-256 with the commit record: a
 * replaced index of the same size passes every other check. Records written before 2026-11-30
 * have no index SHA-256; for them the size check (head) is all there is.
 */
async function checkIndexObject(artifact: ArtifactRecord, options: VerifyOptions, report: VerifyReport, problem: (p: VerifyProblem) => void): Promise<void> {
  const { key, size, sha256 } = artifact.index;
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of await options.store.get(key, { signal: options.signal })) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } catch (error) {
    if (isCassetteError(error, 'E_ABORTED')) throw error;
    return problem({ artifact: artifact.name, object: key, problem: `index cannot be read: ${messageOf(error)}` });
  }
  report.bytesRead += bytes;
  const digest = hash.digest('hex');
  if (bytes !== size) problem({ artifact: artifact.name, object: key, problem: `index object has ${bytes} bytes, commit record says ${size}` });
  else if (digest !== sha256) problem({ artifact: artifact.name, object: key, problem: `index SHA-256 is ${digest}, commit record says ${sha256}` });
}

/** Streams every volume once: checks its SHA-256, decompresses every frame, and checks every file's hash in tar order. */
async function readAllData(
  artifact: ArtifactRecord,
  frames: FrameRecord[],
  entries: AsyncIterable<IndexEntry>,
  options: VerifyOptions,
  report: VerifyReport,
  problem: (p: VerifyProblem) => void,
  pool: FramePool,
): Promise<void> {
  const name = artifact.name;
  const entryIterator = entries[Symbol.asyncIterator]();
  let current: { entry: IndexEntry; hash: Hash; done: number } | undefined;
  let pendingEntry: IndexEntry | undefined;
  let entriesDone = false;
  const nextEntry = async (): Promise<IndexEntry | undefined> => {
    for (;;) {
      const step = await entryIterator.next();
      if (step.done) {
        entriesDone = true;
        return undefined;
      }
      if (step.value.type === 'file' && step.value.size > 0) return step.value;
      if (step.value.type === 'file') report.files++;
    }
  };
  const consume = async (frame: FrameRecord, data: Buffer): Promise<void> => {
    const frameEnd = frame.tarOffset + frame.tarSize;
    for (;;) {
      if (!current) {
        if (!pendingEntry && !entriesDone) pendingEntry = await nextEntry();
        if (!pendingEntry || pendingEntry.dataOffset >= frameEnd) return;
        current = { entry: pendingEntry, hash: createHash('sha256'), done: 0 };
        pendingEntry = undefined;
      }
      const { entry } = current;
      const from = Math.max(entry.dataOffset + current.done, frame.tarOffset);
      const to = Math.min(entry.dataOffset + entry.size, frameEnd);
      if (to > from) {
        current.hash.update(data.subarray(from - frame.tarOffset, to - frame.tarOffset));
        current.done += to - from;
      }
      if (current.done < entry.size) return;
      report.files++;
      const digest = current.hash.digest('hex');
      if (entry.sha256 && digest !== entry.sha256) problem({ artifact: name, path: entry.path, object: artifact.volumes.map((v) => v.key).join(', '), problem: `file hash mismatch (expected ${entry.sha256}, got ${digest})` });
      current = undefined;
    }
  };

  for (const [v, volume] of artifact.volumes.entries()) {
    const volumeFrames = frames.filter((f) => f.volume === v);
    const hash = createHash('sha256');
    let buffer: Buffer = Buffer.alloc(0);
    let position = 0;
    let next = 0;
    const decoded: Array<Promise<{ frame: FrameRecord; data?: Buffer; error?: string }>> = [];
    const drain = async (limit: number): Promise<void> => {
      while (decoded.length > limit) {
        const result = await decoded.shift()!;
        report.frames++;
        if (result.error) problem({ artifact: name, object: volume.key, problem: `frame ${result.frame.frame} (bytes ${result.frame.offset}-${result.frame.offset + result.frame.size - 1}) is corrupt: ${result.error}` });
        else await consume(result.frame, result.data!);
      }
    };
    try {
      for await (const chunk of await options.store.get(volume.key, { signal: options.signal })) {
        const bytes = chunk as Buffer;
        hash.update(bytes);
        report.bytesRead += bytes.length;
        buffer = buffer.length ? Buffer.concat([buffer, bytes]) : bytes;
        while (next < volumeFrames.length && position + buffer.length >= volumeFrames[next]!.offset + volumeFrames[next]!.size) {
          const frame = volumeFrames[next++]!;
          const start = frame.offset - position;
          const slice = Buffer.from(buffer.subarray(start, start + frame.size));
          decoded.push(pool.decompress(slice, frame.tarSize).then((data) => ({ frame, data }), (error: unknown) => ({ frame, error: messageOf(error) })));
          buffer = buffer.subarray(start + frame.size);
          position = frame.offset + frame.size;
          await drain(4);
        }
      }
      await drain(0);
    } catch (error) {
      if (isCassetteError(error, 'E_ABORTED')) throw error;
      problem({ artifact: name, object: volume.key, problem: `cannot be read: ${messageOf(error)}` });
      return;
    }
    const digest = hash.digest('hex');
    if (digest !== volume.sha256) problem({ artifact: name, object: volume.key, problem: `object SHA-256 is ${digest}, commit record says ${volume.sha256}` });
  }
  if (current) problem({ artifact: name, path: current.entry.path, problem: 'the archive ended inside this file' });
  if (!entriesDone) {
    try {
      while (await nextEntry()) report.files++;
    } catch (error) {
      problem({ artifact: name, object: artifact.index.key, problem: messageOf(error) });
    }
  }
}
