// Wires the backup pipeline: walk → pack → frames → compressor pool → volumes + index per artifact, then the commit record.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { DEFAULTS } from '../defaults.js';
import { CassetteError, isCassetteError, messageOf } from '../errors.js';
import { newSnapshotId } from '../format/snapshot-id.js';
import { FORMAT_VERSION, isNotStored, type ArtifactKind, type ArtifactRecord, type BackupWarning, type CommitRecord, type DatabaseInfo, type HookRecord, type IndexObjectRecord } from '../format/types.js';
import { silentProgress, Throttle, type Progress } from '../progress.js';
import { commitKey, dataPrefix, indexKey, volumeKey } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';
import { VERSION } from '../version.js';
import { FramePool, mapOrdered } from '../zstd/pool.js';
import { ArchiveWriter } from './archive-writer.js';
import { FrameFiller } from './frame-filler.js';
import { IndexSpool } from './index-spool.js';
import { BackupLease } from './lease.js';
import { packFrames } from './pack.js';
import { prefetch } from './prefetch.js';
import { uploadQueueSize, type PartPlanOptions } from './part-size.js';
import { artifactNameFor, nestedSources, uniqueNames } from './sources.js';
import { walk } from './walk.js';

export interface TreeSource {
  kind: 'tree';
  /** Path of the directory (or file) to back up; made absolute. */
  path: string;
  /** Artifact name; default from the path (`/srv/data` → `srv-data`). */
  name?: string;
  /** Excludes for this source only, in addition to BackupOptions.exclude. */
  exclude?: string[];
}

/** A source that produces a byte stream (a database dump) instead of a tree; see pg/. */
export interface StreamSource {
  kind: 'stream';
  name: string;
  artifactKind: ArtifactKind;
  /** What the commit record shows as the source. */
  source: string;
  /** Estimated size for the part-size plan; anything it starts must stop when `signal` aborts. */
  sizeHint?: (signal: AbortSignal) => Promise<number | undefined>;
  /**
   * Produce the artifact: tar frames (via the given framer) plus index entries. It must throw
   * when the stream failed; the artifact then fails and no snapshot is committed.
   */
  produce: (context: StreamContext) => AsyncIterable<Buffer>;
  /** Called after the archive is stored, to add database details to the record. */
  describe?: () => Promise<DatabaseInfo | undefined>;
}

export interface StreamContext {
  frameSize: number;
  signal: AbortSignal;
  spool: IndexSpool;
  warn: (warning: BackupWarning) => void;
  onBytesRead: (bytes: number) => void;
  /** A frame buffer of `size` bytes (reused from earlier frames when one is free); yielded frames may be views of its start. */
  allocate: (size: number) => Buffer;
}

export type BackupSource = TreeSource | StreamSource;

export interface BackupOptions {
  store: ObjectStore;
  sources: BackupSource[];
  /** Excludes applied to every tree (see walk.ts compileExcludes for the matching rules). */
  exclude?: string[];
  /** Stay on the file system of each source root. Default true. */
  oneFileSystem?: boolean;
  /** Store extended attributes and POSIX ACLs. Default true (`--no-xattrs` turns it off). */
  xattrs?: boolean;
  tags?: string[];
  profile?: string;
  role?: string;
  /** zstd level. Default DEFAULTS.compressionLevel. */
  compressionLevel?: number;
  /** Uncompressed bytes per frame. Default DEFAULTS.frameSize. */
  frameSize?: number;
  /**
   * Compression threads. Memory held by frames ≈ artifactConcurrency × (threads + framesQueued +
   * 1) × frameSize × 2 (frame and compressed result, in the pool's shared slabs): ≈ 64 MiB with defaults.
   */
  threads?: number;
  /** Artifacts packed and uploaded at once. Default 2. Their part buffers share DEFAULTS.uploadMemoryBudget (64 MiB). */
  artifactConcurrency?: number;
  partPlan?: PartPlanOptions;
  /** Parts of one upload in flight; default from the memory budget (part-size.ts uploadQueueSize). */
  uploadQueueSize?: number;
  /** Snapshot id; default a new one, from `clock`. */
  snapshotId?: string;
  host?: string;
  /**
   * This host's clock: the snapshot id's time, `startedAt`/`finishedAt` and the lease's
   * informative timestamps. Default the system clock. Nothing a prune decides depends on it
   * (tests set it far behind to show that).
   */
  clock?: () => Date;
  /** The lease's refresh interval and TTL; defaults DEFAULTS.leaseRefreshMs and DEFAULTS.leaseTtlMs. */
  lease?: { refreshMs?: number; ttlMs?: number };
  signal?: AbortSignal;
  progress?: Progress;
  /** Share a pool across calls (the caller closes it); by default one is made and closed here. */
  pool?: FramePool;
  /**
   * Walk the trees once more in the background to total their sizes, so progress events carry
   * `totalHint` (an ETA on a terminal). Costs one extra lstat per entry; off by default.
   */
  estimateTotal?: boolean;
  /** Called with the snapshot id before anything is read (hooks use it). */
  onSnapshotId?: (id: string) => void;
  /** Hooks that already ran (pre-backup), recorded in the commit record. */
  hooks?: HookRecord[];
  /**
   * Runs after every artifact is stored and before the commit record is written (the
   * post-backup hook: resume the service as soon as the data is read); what it returns is
   * recorded. If it throws, nothing is committed.
   */
  beforeCommit?: () => Promise<HookRecord[]>;
}

export interface BackupResult {
  record: CommitRecord;
  /** Warnings over all artifacts (the records keep at most 1000 each). */
  warningCount: number;
  /** Warnings that an entry or an attribute is not stored as it was (types.ts isNotStored), over all artifacts. */
  notStored: number;
  /** True when `notStored` > 0: the snapshot is a partial copy (exit 3). */
  partial: boolean;
  /**
   * True when the store's answer to the commit record's PUT was lost (a reset, a timeout, a 5xx
   * after retries) and reading the record back showed it stored, byte for byte.
   */
  commitReadBack: boolean;
}

/** Rough size of a tree for the part-size plan: the used bytes of its file system (cheap, and never below the tree's size when one file system is walked). */
async function treeSizeHint(root: string): Promise<number | undefined> {
  try {
    const stats = await fs.statfs(root);
    return (stats.blocks - stats.bfree) * stats.bsize;
  } catch {
    return undefined;
  }
}

interface ArtifactJob {
  name: string;
  kind: ArtifactKind;
  source: string;
  sizeHint: (signal: AbortSignal) => Promise<number | undefined>;
  frames: (context: StreamContext) => AsyncIterable<Buffer>;
  describe?: () => Promise<DatabaseInfo | undefined>;
}

/** Back up every source into one snapshot; commits only if every artifact was stored. */
export async function backup(options: BackupOptions): Promise<BackupResult> {
  const { store } = options;
  if (options.sources.length === 0) throw new CassetteError('E_USAGE', 'nothing to back up: give at least one path or database');
  const progress = options.progress ?? silentProgress;
  const frameSize = options.frameSize ?? DEFAULTS.frameSize;
  const threads = options.threads ?? DEFAULTS.threads;
  const level = options.compressionLevel ?? DEFAULTS.compressionLevel;
  const clock = options.clock ?? (() => new Date());
  const id = options.snapshotId ?? newSnapshotId(clock());
  const startedAt = clock();
  const host = options.host ?? os.hostname();

  const trees = options.sources.filter((s): s is TreeSource => s.kind === 'tree');
  const nested = nestedSources(trees.map((t) => t.path));
  const names = uniqueNames(options.sources.map((s) => (s.kind === 'tree' ? s.name ?? artifactNameFor(s.path) : s.name)));
  const jobs: ArtifactJob[] = options.sources.map((source, i) => {
    if (source.kind === 'stream') {
      return { name: names[i]!, kind: source.artifactKind, source: source.source, sizeHint: source.sizeHint ?? (async () => undefined), frames: source.produce, describe: source.describe };
    }
    const root = path.resolve(source.path);
    const skip = nested[trees.indexOf(source)]!;
    return {
      name: names[i]!,
      kind: 'tree',
      source: root,
      sizeHint: () => treeSizeHint(root),
      frames: (context) =>
        packFrames(
          prefetch(walk({ root, exclude: [...(options.exclude ?? []), ...(source.exclude ?? [])], oneFileSystem: options.oneFileSystem ?? true, skip, signal: context.signal, onWarning: context.warn }), { maxFileSize: DEFAULTS.prefetchFileSize }),
          { frameSize: context.frameSize, signal: context.signal, onEntry: (entry) => context.spool.add(entry), onWarning: context.warn, onBytesRead: context.onBytesRead, allocate: context.allocate, xattrs: options.xattrs },
        ),
    };
  });

  options.onSnapshotId?.(id);
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onOuterAbort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = controller.signal;

  // Before any data: from now on a prune leaves data/<id>/ alone while this lease is fresh.
  let lease: BackupLease;
  try {
    lease = await BackupLease.acquire({ store, id, host, refreshMs: options.lease?.refreshMs, ttlMs: options.lease?.ttlMs, clock, signal });
  } catch (error) {
    options.signal?.removeEventListener('abort', onOuterAbort);
    throw error;
  }
  const pool = options.pool ?? new FramePool({ threads, level });
  const totals: { bytesRead: number; bytesStored: number; files: number; totalHint?: number } = { bytesRead: 0, bytesStored: 0, files: 0 };
  if (options.estimateTotal) {
    void estimateTreeBytes(trees, options, signal).then((total) => {
      if (total !== undefined) totals.totalHint = total;
    });
  }
  const throttle = new Throttle(DEFAULTS.progressIntervalMs);
  const reportBytes = (force = false): void => {
    if (force || throttle.ready()) progress.event({ type: 'bytes', ...totals });
  };

  const artifactConcurrency = Math.max(1, Math.min(options.artifactConcurrency ?? DEFAULTS.artifactConcurrency, jobs.length));
  const limit = pLimit(artifactConcurrency);
  progress.event({ type: 'backup-start', snapshot: id, artifacts: jobs.map((j) => ({ name: j.name, source: j.source })) });
  const runJob = async (job: ArtifactJob): Promise<ArtifactRecord> => {
    progress.event({ type: 'artifact-start', artifact: job.name, source: job.source });
    const warnings: BackupWarning[] = [];
    let warningCount = 0;
    let notStored = 0;
    const warn = (warning: BackupWarning): void => {
      warningCount++;
      if (isNotStored(warning)) notStored++;
      if (warnings.length < DEFAULTS.maxRecordedWarnings) warnings.push(warning);
      progress.event({ type: 'warning', artifact: job.name, warning });
    };
    const spool = await IndexSpool.create();
    const writer = new ArchiveWriter({
      store,
      keyFor: (volume) => volumeKey(id, job.name, volume),
      // Not awaited: the source starts at once and the hint is needed only for the first part.
      sizeHint: job.sizeHint(signal),
      partPlan: options.partPlan,
      queueSize: options.uploadQueueSize,
      concurrentUploads: artifactConcurrency,
      signal,
      onStored: (bytes) => {
        totals.bytesStored += bytes;
        reportBytes();
      },
    });
    let bytesRead = 0;
    try {
      const context: StreamContext = {
        frameSize,
        allocate: (size) => pool.frameBuffer(size),
        signal,
        spool,
        warn,
        onBytesRead: (bytes) => {
          bytesRead += bytes;
          totals.bytesRead += bytes;
          reportBytes();
        },
      };
      const compressed = mapOrdered(
        job.frames(context),
        async (frame: Buffer) => {
          const tarSize = frame.length;
          return { tarSize, data: await pool.compress(frame, { ownsBuffer: true }) };
        },
        pool.threads + DEFAULTS.framesQueued,
        signal,
      );
      for await (const frame of compressed) {
        await writer.writeFrame(frame.data, frame.tarSize);
        pool.release(frame.data);
        await spool.flush();
      }
      const volumes = await writer.finish();
      totals.files += spool.count;
      const index = await storeIndex(store, indexKey(id, job.name), spool.lines({ format: 'cassette-index', version: FORMAT_VERSION, artifact: job.name, kind: job.kind, source: job.source, tarSize: writer.tarBytes, hash: 'sha256' }, writer.frames), pool, signal, artifactConcurrency);
      const record: ArtifactRecord = {
        name: job.name,
        kind: job.kind,
        source: job.source,
        volumes,
        index,
        bytesRead,
        tarBytes: writer.tarBytes,
        storedBytes: volumes.reduce((sum, v) => sum + v.size, 0),
        frameCount: writer.frames.length,
        entryCount: spool.count,
        warnings,
        warningCount,
        notStored,
      };
      const database = await job.describe?.();
      if (database) record.database = database;
      progress.event({ type: 'artifact-done', artifact: job.name, record });
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
  };

  try {
    const settled = await Promise.allSettled(jobs.map((job) => limit(async () => {
      try {
        return await runJob(job);
      } catch (error) {
        controller.abort(error);
        throw error;
      }
    })));
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) {
      // The first real error, not the aborts it caused in the other artifacts.
      const errors = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
      throw errors.find((e) => !isCassetteError(e, 'E_ABORTED')) ?? failure.reason;
    }
    const artifacts = settled.map((s) => (s as PromiseFulfilledResult<ArtifactRecord>).value);
    reportBytes(true);
    const record: CommitRecord = {
      format: 'cassette-snapshot',
      version: FORMAT_VERSION,
      id,
      host,
      tags: options.tags ?? [],
      startedAt: startedAt.toISOString(),
      finishedAt: clock().toISOString(),
      cassetteVersion: VERSION,
      compressionLevel: level,
      artifacts,
    };
    const hooks = [...(options.hooks ?? []), ...((await options.beforeCommit?.()) ?? [])];
    if (hooks.length > 0) record.hooks = hooks;
    if (options.profile) record.profile = options.profile;
    if (options.role) record.role = options.role;
    if (signal.aborted) throw new CassetteError('E_ABORTED', 'backup interrupted: no snapshot was committed');
    // A fresh lease for the last steps, then the check that a prune (or anything else) took nothing.
    await lease.refresh();
    await checkStored(store, id, artifacts);
    const outcome = await commit(store, id, Buffer.from(JSON.stringify(record, null, 2) + '\n'));
    const warningCount = artifacts.reduce((sum, a) => sum + a.warningCount, 0);
    const notStored = artifacts.reduce((sum, a) => sum + (a.notStored ?? 0), 0);
    return { record, warningCount, notStored, partial: notStored > 0, commitReadBack: outcome === 'read back' };
  } catch (error) {
    // Unless the commit may have landed: then the data may belong to a committed snapshot.
    if (!(error instanceof CommitOutcomeUnknown)) await removeSnapshotData(store, id);
    throw error;
  } finally {
    // After the data is gone (or committed): the lease must outlive both.
    await lease.release();
    options.signal?.removeEventListener('abort', onOuterAbort);
    if (!options.pool) await pool.close();
  }
}

/**
 * Before the commit: every volume and index the record names is in the store with its size —
 * one LIST of data/<id>/, and a HEAD for what the listing lacks (a store whose listings lag).
 * A prune that judged this backup dead (its lease expired: a suspended host, a store outage)
 * may have removed some; committing then would give a snapshot that cannot be restored.
 */
async function checkStored(store: Pick<ObjectStore, 'list' | 'head' | 'url'>, id: string, artifacts: readonly ArtifactRecord[]): Promise<void> {
  const listed = new Map<string, number>();
  for await (const object of store.list(dataPrefix(id))) listed.set(object.key, object.size);
  const problems: string[] = [];
  for (const { key, size } of artifacts.flatMap((a) => [...a.volumes, a.index])) {
    const found = listed.get(key) ?? (await store.head(key))?.size;
    if (found === undefined) problems.push(`${key} is missing`);
    else if (found !== size) problems.push(`${key} has ${found} bytes, not ${size}`);
  }
  if (problems.length > 0) {
    throw new CassetteError('E_STORAGE', `snapshot ${id} not committed: ${problems.length} of the objects it needs ${problems.length === 1 ? 'is' : 'are'} not as stored in ${store.url} (${problems.join('; ')}); a prune may have removed them (one that ran while this backup's lease was not being refreshed, or a Cassette version without leases); nothing was committed and the rest of its data was removed`);
  }
}

/** The commit record's PUT failed and reading it back could not tell whether it was stored. */
class CommitOutcomeUnknown extends CassetteError {
  constructor(message: string, cause: unknown) {
    super('E_STORAGE', message, { cause });
  }
}

function notCommitted(id: string, error: unknown): CassetteError {
  const message = `${messageOf(error)}; snapshot ${id} was not committed and its data was removed`;
  return isCassetteError(error) ? new CassetteError(error.code, message, { cause: error }) : new CassetteError('E_STORAGE', message, { cause: error });
}

/**
 * Write the commit record. A PUT that fails in a way that leaves its outcome unknown (its
 * answer lost to a reset or a timeout, a 5xx after the retries) is followed by a GET: the
 * record there, byte for byte, means the snapshot is committed ('read back'). A definite
 * refusal (a 4xx on the only attempt), or a read-back that finds nothing, throws: nothing is
 * committed, and the caller removes the data. A read-back that fails, or finds other bytes,
 * throws CommitOutcomeUnknown: the data stays.
 */
async function commit(store: Pick<ObjectStore, 'put' | 'getBuffer'>, id: string, body: Buffer): Promise<'stored' | 'read back'> {
  const key = commitKey(id);
  try {
    await store.put(key, body);
    return 'stored';
  } catch (error) {
    if (!isCassetteError(error) || error.refused) throw notCommitted(id, error);
    let stored: Buffer;
    try {
      stored = await store.getBuffer(key);
    } catch (readError) {
      if (isCassetteError(readError, 'E_NOT_FOUND')) throw notCommitted(id, error);
      throw new CommitOutcomeUnknown(`${error.message}; reading ${key} back to learn whether it was stored failed too (${messageOf(readError)}): snapshot ${id} may or may not be committed (\`cassette snapshots\` lists it if it is); its data is kept, and a prune removes it after the grace period if it is not`, error);
    }
    if (stored.equals(body)) return 'read back';
    throw new CommitOutcomeUnknown(`${error.message}; ${key} was read back and holds other bytes than this backup wrote: its data is kept`, error);
  }
}

/**
 * Compress the index text in the pool (independent frames, one stream) and store it, within the
 * same memory rules as the archives: frames in the pool's shared buffers, a budgeted part queue.
 * The SHA-256 is of the stored bytes, hashed as they are written.
 */
async function storeIndex(store: Pick<ObjectStore, 'openWriter'>, key: string, text: AsyncIterable<Buffer>, pool: FramePool, signal: AbortSignal, concurrentUploads: number): Promise<IndexObjectRecord> {
  async function* frames(): AsyncGenerator<Buffer> {
    const filler = new FrameFiller(DEFAULTS.frameSize, (size) => pool.frameBuffer(size));
    for await (const piece of text) yield* filler.add(piece);
    const last = filler.rest();
    if (last) yield last;
  }
  const partSize = DEFAULTS.minPartSize;
  const writer = store.openWriter(key, { partSize, queueSize: uploadQueueSize(partSize, concurrentUploads), signal });
  const hash = createHash('sha256');
  try {
    for await (const compressed of mapOrdered(frames(), (frame: Buffer) => pool.compress(frame, { ownsBuffer: true }), pool.threads + DEFAULTS.framesQueued, signal)) {
      hash.update(compressed);
      await writer.write(compressed);
      pool.release(compressed);
    }
    const { size } = await writer.finish();
    return { key, size, sha256: hash.digest('hex') };
  } catch (error) {
    await writer.abort(error);
    throw error;
  }
}

/** Best effort: remove what a failed backup already stored (prune also removes such leftovers later). */
async function removeSnapshotData(store: ObjectStore, id: string): Promise<void> {
  try {
    const keys: string[] = [];
    for await (const object of store.list(dataPrefix(id))) keys.push(object.key);
    await store.delete(keys);
  } catch {
    // Left for prune.
  }
}

/** Sum of the regular files' sizes the trees will back up (same walk rules), for progress ETAs. */
async function estimateTreeBytes(trees: TreeSource[], options: BackupOptions, signal: AbortSignal): Promise<number | undefined> {
  const nested = nestedSources(trees.map((t) => t.path));
  let total = 0;
  try {
    for (const [i, tree] of trees.entries()) {
      for await (const item of walk({ root: path.resolve(tree.path), exclude: [...(options.exclude ?? []), ...(tree.exclude ?? [])], oneFileSystem: options.oneFileSystem ?? true, skip: nested[i], signal })) {
        if (item.type === 'file') total += Number(item.stats.size);
      }
    }
    return total;
  } catch {
    return undefined;
  }
}
