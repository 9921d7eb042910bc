// Stores one artifact: its frames (packed or streamed) → compress or reuse → archive writer, then its index and recipe; returns its part of the commit record.

import { createHash } from 'node:crypto';
import { DEFAULTS } from '../defaults.js';
import { CassetteError, isCassetteError, messageOf } from '../errors.js';
import {
  isNotStored,
  PLAIN_VERSION,
  type IndexEntry,
  type ArtifactKind,
  type ArtifactRecord,
  type BackupWarning,
  type DatabaseInfo,
  type RecipeObjectRecord,
} from '../format/types.js';
import { indexKey, recipeKey, volumeKey } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';
import type { FramePool } from '../zstd/pool.js';
import { ArchiveWriter } from './archive-writer.js';
import { compressOrReuse, type FrameCatalog } from './compress-or-reuse.js';
import { IndexSpool } from './index-spool.js';
import type { PackedFrame } from './pack.js';
import type { ParentArtifact } from './parent.js';
import type { PartPlanOptions } from './part-size.js';
import { storeIndex } from './store-index.js';

/** What a source is given to produce its frames. */
export interface ArtifactContext {
  frameSize: number;
  signal: AbortSignal;
  /** Index entries a stream source describes itself with (a database dump's one entry); tree frames carry theirs. */
  spool: IndexSpool;
  warn: (warning: BackupWarning) => void;
  onBytesRead: (bytes: number) => void;
  /** A frame buffer of `size` bytes (reused from earlier frames when one is free); yielded frames may be views of its start. */
  allocate: (size: number) => Buffer;
  /** The same artifact in the parent snapshot, when there is one. */
  parent?: ParentArtifact;
}

/** One artifact to store. */
export interface ArtifactJob {
  name: string;
  /** The name in its object keys: `name`, or in an encrypted snapshot `a1`, `a2`… (crypto/seal-record.ts), which reveals nothing. */
  keyName: string;
  kind: ArtifactKind;
  source: string;
  /** A tree whose source is one file (or another non-directory), not a directory. */
  sourceIsFile?: boolean;
  sizeHint: (signal: AbortSignal) => Promise<number | undefined>;
  frames: (context: ArtifactContext) => AsyncIterable<PackedFrame>;
  describe?: () => Promise<DatabaseInfo | undefined>;
}

export interface StoreArtifactOptions {
  store: ObjectStore;
  snapshotId: string;
  pool: FramePool;
  frameSize: number;
  /** Frames stored by the parents, by digest (the pool knows the same digests). */
  catalog: FrameCatalog;
  parent?: ParentArtifact;
  partPlan?: PartPlanOptions;
  uploadQueueSize?: number;
  /** Artifacts uploading at once (they share the memory budget). */
  concurrentUploads: number;
  signal: AbortSignal;
  onWarning: (warning: BackupWarning) => void;
  onBytesRead: (bytes: number) => void;
  onStored: (bytes: number) => void;
  /** Bytes the store acknowledged (see ArchiveWriterOptions.onUploaded). */
  onUploaded?: (bytes: number) => void;
  onReused: (bytes: number) => void;
  /** Each entry once its frame is stored: in a new frame, or in one reused from the parent. */
  onEntryStored?: (entry: IndexEntry, reused: boolean) => void;
  /** The source is read to its end: what remains is finishing the upload. */
  onSourceRead?: () => void;
}

/** Store `job`'s archive, index and recipe; any failure aborts its upload and throws (the snapshot is then not committed). */
export async function storeArtifact(job: ArtifactJob, options: StoreArtifactOptions): Promise<ArtifactRecord> {
  const { store, snapshotId: id, pool, signal, parent } = options;
  const warnings: BackupWarning[] = [];
  let warningCount = 0;
  let notStored = 0;
  const warn = (warning: BackupWarning): void => {
    warningCount++;
    if (isNotStored(warning)) notStored++;
    if (warnings.length < DEFAULTS.maxRecordedWarnings) warnings.push(warning);
    options.onWarning(warning);
  };
  const spool = await IndexSpool.create();
  const writer = new ArchiveWriter({
    store,
    keyFor: (volume) => volumeKey(id, job.keyName, volume),
    // Not awaited: the source starts at once and the hint is needed only for the first part.
    sizeHint: job.sizeHint(signal),
    partPlan: options.partPlan,
    queueSize: options.uploadQueueSize,
    concurrentUploads: options.concurrentUploads,
    signal,
    onStored: options.onStored,
    onUploaded: options.onUploaded,
  });
  let bytesRead = 0;
  try {
    const context: ArtifactContext = {
      frameSize: options.frameSize,
      allocate: (size) => pool.frameBuffer(size),
      signal,
      spool,
      warn,
      onBytesRead: (bytes) => {
        bytesRead += bytes;
        options.onBytesRead(bytes);
      },
    };
    if (parent) context.parent = parent;
    const ready = compressOrReuse(job.frames(context), { pool, catalog: options.catalog, concurrency: pool.threads + DEFAULTS.framesQueued, signal });
    let newFrames = 0;
    for await (const frame of ready) {
      if (frame.kind === 'reused') {
        writer.reuseFrame(frame.frame);
        options.onReused(frame.frame.record.size);
      } else {
        await writer.writeFrame(frame.data, frame.tarSize, frame.digest);
        pool.release(frame.data);
        newFrames++;
      }
      for (const entry of frame.entries) {
        spool.add(entry);
        options.onEntryStored?.(entry, frame.kind === 'reused');
      }
      await spool.flush();
    }
    options.onSourceRead?.();
    const volumes = await writer.finish();
    const header = {
      format: 'cassette-index' as const,
      version: PLAIN_VERSION,
      artifact: job.name,
      kind: job.kind,
      source: job.source,
      tarSize: writer.tarBytes,
      hash: 'sha256' as const,
    };
    const index = await storeIndex(store, indexKey(id, job.keyName), spool.lines(header, writer.frames), pool, signal, options.concurrentUploads);
    const recipe = await storeRecipe(store, recipeKey(id, job.keyName), writer.recipe(), signal);
    const record: ArtifactRecord = {
      name: job.name,
      kind: job.kind,
      source: job.source,
      volumes,
      index,
      recipe,
      references: writer.references,
      bytesRead,
      tarBytes: writer.tarBytes,
      storedBytes: volumes.reduce((sum, v) => sum + v.size, 0),
      frameCount: writer.frames.length,
      newFrames,
      reusedFrames: writer.frames.length - newFrames,
      reusedBytes: writer.reusedBytes,
      entryCount: spool.count,
      warnings,
      warningCount,
      notStored,
      ...(job.sourceIsFile ? { sourceIsFile: true as const } : {}),
    };
    if (parent) record.parent = parent.snapshot;
    const database = await job.describe?.();
    if (database) record.database = database;
    return record;
  } catch (error) {
    await writer.abort(error);
    if (signal.aborted) throw new CassetteError('E_ABORTED', 'backup interrupted: no snapshot was committed', { cause: error });
    if (isCassetteError(error)) {
      error.message = `artifact ${job.name}: ${error.message}`;
      throw error;
    }
    throw new CassetteError('E_STORAGE', `artifact ${job.name} failed: ${messageOf(error)}`, { cause: error });
  } finally {
    await spool.dispose();
  }
}

async function storeRecipe(store: Pick<ObjectStore, 'put'>, key: string, text: string, signal: AbortSignal): Promise<RecipeObjectRecord> {
  const body = Buffer.from(text, 'ascii');
  // The stored size (an encrypted store stores more); the sha256 is of the recipe's bytes.
  const { size } = await store.put(key, body, { signal });
  return { key, size, sha256: createHash('sha256').update(body).digest('hex') };
}
