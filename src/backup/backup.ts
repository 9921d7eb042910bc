// Wires the backup: choose each artifact's parent, take the lease, store the artifacts (walk → match parent → prefetch → pack → compress or reuse → write; artifact.ts), then the commit record (commit.ts).

import fs from 'node:fs/promises';
import os from 'node:os';
import fsSync from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { DEFAULTS } from '../defaults.js';
import { CassetteError, isCassetteError } from '../errors.js';
import { newSnapshotId } from '../format/snapshot-id.js';
import {
  ENCRYPTED_VERSION,
  PLAIN_VERSION,
  type EncryptionRecord,
  type ArtifactKind,
  type ArtifactRecord,
  type BackupWarning,
  type CommitRecord,
  type DatabaseInfo,
  type HookRecord,
} from '../format/types.js';
import { CoalescedReport, silentProgress, type Progress } from '../progress.js';
import { listSnapshotIds, readCommitRecord, resolveSnapshot } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';
import { VERSION } from '../version.js';
import { FramePool } from '../zstd/pool.js';
import { storeArtifact, type ArtifactContext, type ArtifactJob } from './artifact.js';
import type { FrameCatalog } from './compress-or-reuse.js';
import { checkStored, commit, CommitOutcomeUnknown, removeSnapshotData } from './commit.js';
import { BackupLease } from './lease.js';
import { packFrames, type ChunkLimits, type PackedFrame, type SmallFrameLimits } from './pack.js';
import { chooseParents, matchParent, ParentArtifact, type ArtifactIdentity, type ParentRun } from './parent.js';
import { prefetch } from './prefetch.js';
import type { PartPlanOptions } from './part-size.js';
import { artifactNameFor, nestedSources, uniqueNames } from './sources.js';
import { walk, type WalkItem, type WalkOptions } from './walk.js';
import { sealedArtifactName } from '../crypto/seal-record.js';

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
   * Produce the artifact: tar frames (buffers from context.allocate) plus its index entries (into
   * context.spool). It must throw when the stream failed; the artifact then fails and no snapshot
   * is committed.
   */
  produce: (context: StreamContext) => AsyncIterable<Buffer>;
  /** Called after the archive is stored, to add database details to the record. */
  describe?: () => Promise<DatabaseInfo | undefined>;
}

/** What a stream source is given (artifact.ts). */
export type StreamContext = ArtifactContext;

export type BackupSource = TreeSource | StreamSource;

export interface BackupOptions {
  store: ObjectStore;
  sources: BackupSource[];
  /** Excludes applied to every tree (see walk.ts compileExcludes for the matching rules). */
  exclude?: string[];
  /** Leave out the contents of directories tagged with a valid CACHEDIR.TAG (walk.ts isCacheTag); the directory and the tag are kept. */
  excludeCaches?: boolean;
  /** Leave out regular files larger than this many bytes; BackupResult.leftOut counts them. */
  excludeLargerThan?: number;
  /** Stay on the file system of each source root. Default true. */
  oneFileSystem?: boolean;
  /** Store extended attributes and POSIX ACLs. Default true (`--no-xattrs` turns it off). */
  xattrs?: boolean;
  tags?: string[];
  profile?: string;
  role?: string;
  /** zstd level. Default DEFAULTS.compressionLevel. */
  compressionLevel?: number;
  /**
   * The snapshot each artifact is compared with (an id, a unique prefix, or `latest`): its
   * unchanged frames are reused. Default: per artifact, the newest committed version-2 snapshot of
   * this host with the same artifact and compression level (parent.ts chooseParents).
   */
  parent?: string;
  /** No parent: store every frame (a new full chain). */
  full?: boolean;
  /**
   * The snapshot is encrypted (the store encrypts: crypto/encrypted-store.ts): recorded in the
   * commit record (version 3), artifact objects get names that reveal nothing, and parents are
   * only snapshots encrypted to the same recipients.
   */
  encryption?: EncryptionRecord;
  /** Read every file, even those whose size, mtime, ctime, inode and device match the parent's entry (frames are still reused by digest). */
  forceRead?: boolean;
  /** Largest frame, in uncompressed bytes. Default DEFAULTS.frameSize. */
  frameSize?: number;
  /** Content-defined frames of small files (pack.ts); default DEFAULTS.smallFrames. Larger ones compress a little better and make incremental backups store more. */
  smallFrames?: SmallFrameLimits;
  /** Content-defined chunks of large files (pack.ts); default DEFAULTS.chunks. */
  chunks?: ChunkLimits;
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
  /** Compressed bytes uploaded (new frames, seek tables), and compressed bytes of frames reused from parents, over all artifacts. */
  storedBytes: number;
  reusedBytes: number;
  /** Warnings over all artifacts (the records keep at most 1000 each). */
  warningCount: number;
  /** Warnings that an entry or an attribute is not stored as it was (types.ts isNotStored), over all artifacts. */
  notStored: number;
  /** True when `notStored` > 0: the snapshot is a partial copy (exit 3). */
  partial: boolean;
  /** Files left out because they are larger than `excludeLargerThan`, and their bytes (not warnings: asked for). */
  leftOut: { files: number; bytes: number };
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

/** Back up every source into one snapshot; commits only if every artifact was stored. */
export async function backup(options: BackupOptions): Promise<BackupResult> {
  const { store } = options;
  if (options.sources.length === 0) throw new CassetteError('E_USAGE', 'nothing to back up: give at least one path or database');
  if (options.full && options.parent !== undefined) throw new CassetteError('E_USAGE', 'choose one of --full and --parent');
  const progress = options.progress ?? silentProgress;
  const frameSize = options.frameSize ?? DEFAULTS.frameSize;
  const level = options.compressionLevel ?? DEFAULTS.compressionLevel;
  const clock = options.clock ?? (() => new Date());
  const id = options.snapshotId ?? newSnapshotId(clock());
  const startedAt = clock();
  const host = options.host ?? os.hostname();
  const leftOut = { files: 0, bytes: 0 };
  const jobs = artifactJobs(options, frameSize, (item) => {
    leftOut.files++;
    leftOut.bytes += Number(item.stats.size);
  });

  options.onSnapshotId?.(id);
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onOuterAbort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = controller.signal;

  let lease: BackupLease;
  let parents: Parents;
  progress.event({ type: 'phase', phase: 'scanning' });
  try {
    ({ lease, parents } = await leaseAndParents(options, { id, host, level, clock, signal, jobs }));
  } catch (error) {
    options.signal?.removeEventListener('abort', onOuterAbort);
    throw error;
  }
  const pool = options.pool ?? new FramePool({ threads: options.threads ?? DEFAULTS.threads, level });
  const catalog: FrameCatalog = new Map();
  const totals = new BackupTotals(progress, jobs.length);
  if (options.estimateTotal)
    totals.estimate(
      estimateTreeBytes(
        options.sources.filter((s): s is TreeSource => s.kind === 'tree'),
        options,
        signal,
      ),
    );

  const artifactConcurrency = Math.max(1, Math.min(options.artifactConcurrency ?? DEFAULTS.artifactConcurrency, jobs.length));
  progress.event({ type: 'backup-start', snapshot: id, artifacts: jobs.map((j) => ({ name: j.name, source: j.source })) });
  progress.event({ type: 'phase', phase: 'backing up' });
  const runJob = async (job: ArtifactJob): Promise<ArtifactRecord> => {
    progress.event({ type: 'artifact-start', artifact: job.name, source: job.source, kind: job.kind });
    const chosen = parents.get(job.name);
    const parent = chosen ? await openParent(store, chosen, catalog, pool) : undefined;
    try {
      const record = await storeArtifact(job, {
        store,
        snapshotId: id,
        pool,
        frameSize,
        catalog,
        parent,
        partPlan: options.partPlan,
        uploadQueueSize: options.uploadQueueSize,
        concurrentUploads: artifactConcurrency,
        signal,
        onWarning: (warning: BackupWarning) => progress.event({ type: 'warning', artifact: job.name, warning }),
        onBytesRead: (bytes) => totals.add('bytesRead', bytes),
        onStored: (bytes) => totals.add('bytesStored', bytes),
        onUploaded: (bytes) => totals.add('bytesUploaded', bytes),
        onReused: (bytes) => totals.add('bytesReused', bytes),
        onEntryStored: (entry, reused) => progress.event({ type: 'entry-stored', artifact: job.name, path: entry.path, entryType: entry.type, size: entry.size, reused }),
        onSourceRead: () => totals.sourceRead(),
      });
      totals.add('files', record.entryCount);
      progress.event({ type: 'artifact-done', artifact: job.name, record });
      return record;
    } finally {
      parent?.close();
    }
  };

  try {
    const artifacts = await runAll(jobs, runJob, artifactConcurrency, controller);
    totals.report(true);
    progress.event({ type: 'phase', phase: 'committing' });
    const record: CommitRecord = {
      format: 'cassette-snapshot',
      version: options.encryption ? ENCRYPTED_VERSION : PLAIN_VERSION,
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
    if (options.encryption) record.encryption = options.encryption;
    if (signal.aborted) throw new CassetteError('E_ABORTED', 'backup interrupted: no snapshot was committed');
    // A fresh lease for the last steps, then the check that a prune (or anything else) took nothing.
    await lease.refresh();
    await checkStored(store, id, artifacts);
    const outcome = await commit(store, id, Buffer.from(JSON.stringify(record, null, 2) + '\n'));
    return { ...resultOf(record, outcome === 'read back'), leftOut };
  } catch (error) {
    // Unless the commit may have landed: then the data may belong to a committed snapshot.
    if (!(error instanceof CommitOutcomeUnknown)) await removeSnapshotData(store, id);
    throw error;
  } finally {
    // After the data is gone (or committed): the lease must outlive both.
    totals.close();
    await lease.release();
    options.signal?.removeEventListener('abort', onOuterAbort);
    if (!options.pool) await pool.close();
  }
}

/** Each artifact's parent, by artifact name. */
type Parents = Map<string, { record: CommitRecord; artifact: ArtifactRecord }>;

/**
 * Take the lease (before any data: from then on a prune leaves data/<id>/ alone while it is
 * fresh), then choose the parents, name them in the lease, and look them up again: a prune that
 * lists the lease keeps them; one that listed it earlier and removed a parent since is caught
 * here, or by the check before the commit. Releases the lease if anything fails.
 */
async function leaseAndParents(
  options: BackupOptions,
  run: { id: string; host: string; level: number; clock: () => Date; signal: AbortSignal; jobs: readonly ArtifactIdentity[] },
): Promise<{ lease: BackupLease; parents: Parents }> {
  const { store } = options;
  const lease = await BackupLease.acquire({
    store,
    id: run.id,
    host: run.host,
    refreshMs: options.lease?.refreshMs,
    ttlMs: options.lease?.ttlMs,
    clock: run.clock,
    signal: run.signal,
  });
  try {
    const parents: Parents = options.full
      ? new Map<string, { record: CommitRecord; artifact: ArtifactRecord }>()
      : await findParents(store, options.parent, { host: run.host, level: run.level, encryption: options.encryption?.recipients }, run.jobs);
    if (parents.size > 0) {
      await lease.protectParents([...new Set([...parents.values()].map((p) => p.record.id))]);
      const listed = new Set(await listSnapshotIds(store));
      for (const [name, parent] of parents) if (!listed.has(parent.record.id)) parents.delete(name);
    }
    return { lease, parents };
  } catch (error) {
    await lease.release();
    throw error;
  }
}

/** Open a parent's index, and put its frames in the catalog and their digests in the pool (the catalog first: the pool may skip only what the catalog has). */
async function openParent(
  store: Pick<ObjectStore, 'get'>,
  chosen: { record: CommitRecord; artifact: ArtifactRecord },
  catalog: FrameCatalog,
  pool: FramePool,
): Promise<ParentArtifact> {
  const parent = await ParentArtifact.open(store, chosen.record, chosen.artifact);
  const added: string[] = [];
  for (const frame of parent.frames()) {
    const digest = frame.record.sha256!;
    const copies = catalog.get(digest);
    if (copies) copies.push(frame);
    else {
      catalog.set(digest, [frame]);
      added.push(digest);
    }
  }
  pool.knownDigests(added);
  return parent;
}

/** Run every job, `concurrency` at once; the first failure aborts the others and is what is thrown (not the aborts it caused). */
async function runAll(
  jobs: readonly ArtifactJob[],
  run: (job: ArtifactJob) => Promise<ArtifactRecord>,
  concurrency: number,
  controller: AbortController,
): Promise<ArtifactRecord[]> {
  const limit = pLimit(concurrency);
  const settled = await Promise.allSettled(
    jobs.map((job) =>
      limit(async () => {
        try {
          return await run(job);
        } catch (error) {
          controller.abort(error);
          throw error;
        }
      }),
    ),
  );
  const errors = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
  if (errors.length > 0) throw errors.find((e) => !isCassetteError(e, 'E_ABORTED')) ?? errors[0];
  return settled.map((s) => (s as PromiseFulfilledResult<ArtifactRecord>).value);
}

/** The byte counters of a running backup, reported as progress events at most every DEFAULTS.progressIntervalMs. */
class BackupTotals {
  private readonly totals: { bytesRead: number; bytesStored: number; bytesUploaded: number; bytesReused: number; files: number; totalHint?: number; allRead: boolean } = {
    bytesRead: 0,
    bytesStored: 0,
    bytesUploaded: 0,
    bytesReused: 0,
    files: 0,
    allRead: false,
  };
  private readonly reports = new CoalescedReport(DEFAULTS.progressIntervalMs, () => this.progress.event({ type: 'bytes', ...this.totals }));
  private sourcesToRead: number;

  constructor(
    private readonly progress: Progress,
    sources: number,
  ) {
    this.sourcesToRead = sources;
  }

  add(counter: 'bytesRead' | 'bytesStored' | 'bytesUploaded' | 'bytesReused' | 'files', amount: number): void {
    this.totals[counter] += amount;
    if (counter !== 'files') this.report();
  }

  /** One more artifact's source is read to its end; after the last one, only uploads remain. */
  sourceRead(): void {
    this.sourcesToRead--;
    if (this.sourcesToRead > 0) return;
    this.totals.allRead = true;
    this.report(true);
  }

  /** The trees' total size, for an ETA, once the background walk has it. */
  estimate(total: Promise<number | undefined>): void {
    void total.then((bytes) => {
      if (bytes !== undefined) this.totals.totalHint = bytes;
    });
  }

  report(force = false): void {
    this.reports.request(force);
  }

  /** No event after this (the backup ended). */
  close(): void {
    this.reports.close();
  }
}

/** The result of a committed backup, from its record. */
function resultOf(record: CommitRecord, commitReadBack: boolean): Omit<BackupResult, 'leftOut'> {
  const { artifacts } = record;
  const notStored = artifacts.reduce((sum, a) => sum + (a.notStored ?? 0), 0);
  return {
    record,
    storedBytes: artifacts.reduce((sum, a) => sum + a.storedBytes + a.index.size + (a.recipe?.size ?? 0), 0),
    reusedBytes: artifacts.reduce((sum, a) => sum + (a.reusedBytes ?? 0), 0),
    warningCount: artifacts.reduce((sum, a) => sum + a.warningCount, 0),
    notStored,
    partial: notStored > 0,
    commitReadBack,
  };
}

/** Each source's artifact name, in order: a tree's from its path unless given, made unique. */
export function artifactNames(sources: readonly BackupSource[]): string[] {
  return uniqueNames(sources.map((s) => (s.kind === 'tree' ? (s.name ?? artifactNameFor(s.path)) : s.name)));
}

/** True when `root` exists and is not a directory (the walk then stores it as the artifact's one entry); a missing root is the walk's to report. */
function isNonDirectory(root: string): boolean {
  try {
    return !fsSync.lstatSync(root).isDirectory();
  } catch {
    return false;
  }
}

/** One job per source: trees walk and pack, streams (database dumps) frame their bytes. */
function artifactJobs(options: BackupOptions, frameSize: number, onLeftOut: (item: WalkItem) => void): ArtifactJob[] {
  const trees = options.sources.filter((s): s is TreeSource => s.kind === 'tree');
  const nested = nestedSources(trees.map((t) => t.path));
  const names = artifactNames(options.sources);
  const keyName = (i: number): string => (options.encryption ? sealedArtifactName(i) : names[i]!);
  return options.sources.map((source, i): ArtifactJob => {
    if (source.kind === 'stream') {
      return {
        name: names[i]!,
        keyName: keyName(i),
        kind: source.artifactKind,
        source: source.source,
        sizeHint: source.sizeHint ?? (async () => undefined),
        frames: (context) => newFrames(source.produce(context)),
        describe: source.describe,
      };
    }
    const root = path.resolve(source.path);
    const skip = nested[trees.indexOf(source)]!;
    const exclude = [...(options.exclude ?? []), ...(source.exclude ?? [])];
    return {
      name: names[i]!,
      keyName: keyName(i),
      kind: 'tree',
      source: root,
      sourceIsFile: isNonDirectory(root),
      sizeHint: () => treeSizeHint(root),
      frames: (context) => {
        const walked = walk({ ...walkRules(options), root, exclude, skip, signal: context.signal, onWarning: context.warn, onLeftOut });
        const read = prefetch(matchParent(walked, context.parent, options.forceRead === true), { maxFileSize: DEFAULTS.prefetchFileSize });
        return packFrames(read, {
          frameSize,
          smallFrames: options.smallFrames ?? DEFAULTS.smallFrames,
          chunks: options.chunks ?? DEFAULTS.chunks,
          signal: context.signal,
          onWarning: context.warn,
          onBytesRead: context.onBytesRead,
          allocate: context.allocate,
          xattrs: options.xattrs,
          parent: context.parent,
        });
      },
    };
  });
}

/** What every tree's walk leaves out or does not cross, from the backup options. */
export function walkRules(
  options: Pick<BackupOptions, 'oneFileSystem' | 'excludeCaches' | 'excludeLargerThan'>,
): Pick<WalkOptions, 'oneFileSystem' | 'excludeCaches' | 'maxFileSize'> {
  return { oneFileSystem: options.oneFileSystem ?? true, excludeCaches: options.excludeCaches, maxFileSize: options.excludeLargerThan };
}

/** A stream source's frames: all new (the pool may still find them stored by digest). */
async function* newFrames(buffers: AsyncIterable<Buffer>): AsyncGenerator<PackedFrame> {
  for await (const data of buffers) yield { kind: 'new', data, entries: [] };
}

/**
 * The parent of each artifact: the snapshot `ref` names (an error when it is a version-1 snapshot,
 * whose frames cannot be reused), or by default the newest suitable one (chooseParents). Reads
 * commit records from the newest id down, and stops once every artifact has one.
 */
export async function findParents(
  store: Pick<ObjectStore, 'list' | 'getBuffer'>,
  ref: string | undefined,
  run: ParentRun,
  artifacts: readonly ArtifactIdentity[],
): Promise<Map<string, { record: CommitRecord; artifact: ArtifactRecord }>> {
  const { level } = run;
  if (ref !== undefined) {
    const record = await resolveSnapshot(store, ref);
    if (record.version < 2)
      throw new CassetteError(
        'E_USAGE',
        `--parent ${ref}: snapshot ${record.id} has format version ${record.version}, whose frames cannot be reused; back up without --parent (or with --full)`,
      );
    if (record.compressionLevel !== level)
      throw new CassetteError(
        'E_USAGE',
        `--parent ${ref}: snapshot ${record.id} was compressed at level ${record.compressionLevel}, and this backup's level is ${level}: frames of another level are not reused; give --level ${record.compressionLevel}, or --full`,
      );
    if (record.encryption?.recipients !== run.encryption)
      throw new CassetteError(
        'E_USAGE',
        `--parent ${ref}: snapshot ${record.id} is ${record.encryption ? `encrypted to other recipients (${record.encryption.recipients})` : 'not encrypted'}, and this backup is ${run.encryption ? `encrypted to ${run.encryption}` : 'not encrypted'}: frames are reused only between snapshots with the same recipients; give --full`,
      );
    const parents = new Map<string, { record: CommitRecord; artifact: ArtifactRecord }>();
    for (const wanted of artifacts) {
      const artifact = record.artifacts.find((a) => a.name === wanted.name && a.kind === wanted.kind && a.source === wanted.source);
      if (artifact) parents.set(wanted.name, { record, artifact });
    }
    return parents;
  }
  const ids = (await listSnapshotIds(store)).reverse();
  const seen: CommitRecord[] = [];
  const BATCH = 8;
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = await Promise.all(ids.slice(i, i + BATCH).map((candidate) => readCommitRecord(store, candidate).catch(() => undefined)));
    seen.push(...batch.filter((r): r is CommitRecord => r !== undefined));
    const parents = chooseParents(seen, run, artifacts);
    // Records come newest id first: once each artifact has a parent, older ones cannot beat it (ties within one second are read in the same batch or the next).
    if (parents.size === artifacts.length && i + BATCH < ids.length && ids[i + BATCH]!.slice(0, 16) !== ids[i + BATCH - 1]!.slice(0, 16)) return parents;
  }
  return chooseParents(seen, run, artifacts);
}

/** Sum of the regular files' sizes the trees will back up (same walk rules), for progress ETAs. */
async function estimateTreeBytes(trees: TreeSource[], options: BackupOptions, signal: AbortSignal): Promise<number | undefined> {
  const nested = nestedSources(trees.map((t) => t.path));
  let total = 0;
  try {
    for (const [i, tree] of trees.entries()) {
      for await (const item of walk({
        ...walkRules(options),
        root: path.resolve(tree.path),
        exclude: [...(options.exclude ?? []), ...(tree.exclude ?? [])],
        skip: nested[i],
        signal,
      })) {
        if (item.type === 'file') total += Number(item.stats.size);
      }
    }
    return total;
  } catch {
    return undefined;
  }
}
