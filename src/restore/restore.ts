// Restore engine: select entries from the index, fetch only the frames that hold them, write files safely with positional writes.
//
// Algorithm, per tree artifact of the snapshot (on the right, the file that does each step):
//   read the index header and frame table
//   for each batch of selected entries along the tar stream (restoreBatch wires the steps):
//     check each entry's path; directories: create (safely); links,
//     symlinks and special files: keep for the end; files: collect        place-entries.ts
//     a dry run counts the download of the files' frames and stops here    batch-reads.ts
//     empty files: create and finish at once                               finish-files.ts
//     plan ranged GETs of the frames that hold the other files' bytes      batch-reads.ts, plan.ts
//     → fetch requests in parallel → decompress frames in the pool         read-frames.ts
//     → cut each frame into its files' pieces, in tar order                slice-frames.ts
//     → create each file's temporary name; write and hash small files
//       here, hand large files' pieces to the writer thread (pwrite +
//       SHA-256); a frame's memory goes back once all of it is written     write-files.ts, slice-writer.ts
//     → a complete file: check its SHA-256, set mode/owner/mtime, rename
//       onto its real name                                                 finish-files.ts
//   then hard links, symlinks and special files, and last the directories' metadata, deepest first.
// Nothing is ever written through a symlink: symlinks are created after every file. In place, a
// directory symlink already on the target is kept when it stays inside the root (safe-path.ts).

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DEFAULTS } from '../defaults.js';
import { CassetteError, isCassetteError, messageOf, throwIfAborted } from '../errors.js';
import { entryFsLink, entryKey } from '../format/entry-bytes.js';
import type { ArtifactRecord, CommitRecord, FrameRecord, IndexEntry } from '../format/types.js';
import { makeNode } from '../fs/native.js';
import { MetadataWriter, type RefusedAttributes } from './metadata.js';
import { CoalescedReport, silentProgress, type Progress } from '../progress.js';
import { openIndex, resolveSnapshot } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';
import { FramePool } from '../zstd/pool.js';
import { plannedDownload, RESTORE_READS, tarRangesOf } from './batch-reads.js';
import { linkTargetOf, lstatOrUndefined, prepareParent, shown, tempName, type ArtifactState, type PendingFile } from './destination.js';
import { estimateRestore } from './estimate.js';
import { finishEmptyFiles, finishFiles } from './finish-files.js';
import { placeEntries } from './place-entries.js';
import { readFrames } from './read-frames.js';
import { assertNoSymlinkParents, linkIdentity, type KeepDirectorySymlinks } from './safe-path.js';
import { artifactMayMatch, compileSelector } from './select.js';
import { assertAllSliced, sliceFrames } from './slice-frames.js';
import { SliceWriter } from './slice-writer.js';
import { OpenFiles, writeFiles } from './write-files.js';

export interface RestoreOptions {
  store: ObjectStore;
  /** Snapshot id, unique prefix, or `latest`. */
  snapshot: string;
  /** Directory to restore into, as `<target>/<artifact>/<path>`. Exactly one of target and inPlace. */
  target?: string;
  /**
   * Restore onto the original absolute paths (each artifact's source). A directory symlink already
   * there (`/lib -> usr/lib`) is kept when it resolves to a directory inside the artifact's root:
   * entries below it go where it points, and a progress event `keep-symlink` reports it.
   */
  inPlace?: boolean;
  /** Globs over `artifact/path` (see restore/select.ts). */
  include?: string[];
  exclude?: string[];
  /** Keep files that already exist at the destination instead of overwriting them. */
  skipExisting?: boolean;
  /** Plan only: report entries and download size, write nothing. */
  dryRun?: boolean;
  /** Restore owner and group; default: when running as root. */
  owners?: boolean;
  /** Map owners by number only, never by the recorded names (GNU tar's --numeric-owner). */
  numericOwner?: boolean;
  /** Restore extended attributes and ACLs. Default true. */
  xattrs?: boolean;
  threads?: number;
  /** Ranged GETs in flight (default DEFAULTS.fetchConcurrency). */
  fetchConcurrency?: number;
  signal?: AbortSignal;
  progress?: Progress;
  pool?: FramePool;
  /** Artifact names to restore first, in this order (the runbook's order); others follow in snapshot order. */
  artifactOrder?: string[];
  /** Where an artifact goes with inPlace (default: its recorded source path); profiles re-root it. */
  inPlaceRoot?: (artifact: ArtifactRecord) => string;
  /** Called when an artifact starts (for step-by-step output). */
  onArtifact?: (artifact: ArtifactRecord, destination: string) => void;
  /** Called for each entry that is (or, with dryRun, would be) restored; `destination` is printable (a name that is not UTF-8 shows U+FFFD). */
  onEntry?: (artifact: string, entry: IndexEntry, destination: string) => void;
  /**
   * Read the indexes once before restoring, to total what the selection writes and downloads: a
   * `restore-start` progress event carries the totals (for a bar and an ETA). Costs one more read
   * of each index; off by default, and never with dryRun.
   */
  estimateTotal?: boolean;
}

export interface RestoreSummary {
  snapshot: string;
  /** Entries restored (or planned, with dryRun). */
  entries: number;
  files: number;
  /** Content bytes written (or to write). */
  bytes: number;
  /** Compressed bytes downloaded (or to download) from archives, indexes not included. */
  downloadBytes: number;
  requests: number;
  /** Existing files kept because of skipExisting. */
  skipped: number;
  artifacts: string[];
  /** Kinds of attributes the target refused (each reported once, with a count); the restore is then partial (exit 3). */
  refused: RefusedAttributes[];
}

/** What every step of one restore shares. */
interface RestoreRun {
  options: RestoreOptions;
  metadata: MetadataWriter;
  pool: FramePool;
  summary: RestoreSummary;
  /** Temporary files not yet renamed, removed if the restore fails. */
  temps: Set<string | Buffer>;
  report: (force?: boolean) => void;
  /** The writer thread, started when the first file with data is restored. */
  writer: () => SliceWriter;
  /** Files whose temporary name is open, by their writer id. */
  open: OpenFiles;
  /** Entries handled since the event loop last turned (see turn). */
  sinceTurn: number;
  /** linkIdentity of the symlinks this restore made: never kept as target symlinks. */
  createdLinks: Set<string>;
  /** Existing directory symlinks written through so far, each reported once. */
  keptSymlinks: Set<string>;
  /** What progress events report beyond the summary. */
  counters: RestoreCounters;
  /** A file is under its real name. */
  onFinished: (artifact: string, file: PendingFile) => void;
}

/** Progress counters: content written and files finished (the summary counts what is placed), and the download the batches placed so far will need. */
interface RestoreCounters {
  bytesWritten: number;
  /** Compressed bytes received so far (the summary counts GETs once complete). */
  bytesReceived: number;
  filesFinished: number;
  downloadPlanned: number;
  /** Per artifact, the last frame counted in downloadPlanned (batches may share a frame). */
  lastPlannedFrame: Map<ArtifactRecord, number>;
}

/** Where an artifact is restored: its source path in place (or where inPlaceRoot puts it), else `<target>/<artifact>`. */
export function destinationRoot(options: Pick<RestoreOptions, 'inPlace' | 'inPlaceRoot' | 'target'>, artifact: ArtifactRecord): string {
  if (options.inPlace) {
    const source = options.inPlaceRoot ? options.inPlaceRoot(artifact) : artifact.source;
    // A one-file source's entry is named after it: it goes into the directory that holds the source, not below it.
    return artifact.sourceIsFile ? path.dirname(source) : source;
  }
  return path.join(path.resolve(options.target!), artifact.name);
}

export async function restore(options: RestoreOptions): Promise<RestoreSummary> {
  if (!!options.inPlace === !!options.target) {
    throw new CassetteError(
      'E_USAGE',
      options.inPlace ? 'give either --target or --in-place, not both' : 'give a --target directory (or --in-place to restore onto the original paths)',
    );
  }
  const record = await resolveSnapshot(options.store, options.snapshot);
  return restoreRecord(record, options);
}

export async function restoreRecord(record: CommitRecord, options: RestoreOptions): Promise<RestoreSummary> {
  const progress = options.progress ?? silentProgress;
  const selection = { include: options.include, exclude: options.exclude };
  const selected = compileSelector(selection);
  const owners = options.owners ?? process.getuid?.() === 0;
  const metadata = new MetadataWriter({ owners, numericOwner: !!options.numericOwner, xattrs: options.xattrs !== false });
  const pool = options.pool ?? new FramePool({ threads: options.threads });
  const summary: RestoreSummary = { snapshot: record.id, entries: 0, files: 0, bytes: 0, downloadBytes: 0, requests: 0, skipped: 0, artifacts: [], refused: [] };
  let currentArtifact = '';
  metadata.onRefused = (refused) =>
    progress.event({
      type: 'restore-warning',
      artifact: currentArtifact,
      path: refused.path,
      message: `the target refused ${refused.kind}; the restore goes on without them and exits 3`,
    });
  const counters: RestoreCounters = { bytesWritten: 0, bytesReceived: 0, filesFinished: 0, downloadPlanned: 0, lastPlannedFrame: new Map() };
  const reports = new CoalescedReport(DEFAULTS.progressIntervalMs, () =>
    progress.event({
      type: 'restore-bytes',
      bytesWritten: options.dryRun ? summary.bytes : counters.bytesWritten,
      bytesDownloaded: options.dryRun ? summary.downloadBytes : counters.bytesReceived,
      files: options.dryRun ? summary.files : counters.filesFinished,
      bytesPlanned: summary.bytes,
      downloadPlanned: options.dryRun ? summary.downloadBytes : counters.downloadPlanned,
    }),
  );
  const report = (force = false): void => reports.request(force);
  const temps = new Set<string | Buffer>();
  let writer: SliceWriter | undefined;
  const open = new OpenFiles();
  const run: RestoreRun = {
    options,
    metadata,
    pool,
    summary,
    temps,
    report,
    open,
    sinceTurn: 0,
    createdLinks: new Set(),
    keptSymlinks: new Set(),
    counters,
    onFinished: (artifact, file) => {
      counters.filesFinished++;
      progress.event({ type: 'entry-restored', artifact, path: file.entry.path, size: file.entry.size });
    },
    writer: () =>
      (writer ??= new SliceWriter((id) => {
        const dest = open.get(id)?.dest;
        return dest === undefined ? `file #${id}` : shown(dest);
      })),
  };
  const allDirs: ArtifactState['dirs'] = [];
  const cleanDirs = new Set<string>();
  try {
    if (options.estimateTotal && !options.dryRun) {
      progress.event({ type: 'phase', phase: 'planning' });
      const totals = await estimateRestore(record, options.store, selection, options.signal);
      progress.event({ type: 'restore-start', snapshot: record.id, ...totals });
    }
    progress.event({ type: 'phase', phase: 'restoring' });
    for (const artifact of orderArtifacts(record.artifacts, options.artifactOrder ?? [])) {
      if (artifact.kind !== 'tree') continue;
      if (!artifactMayMatch(selection, artifact.name)) continue;
      options.onArtifact?.(artifact, destinationRoot(options, artifact));
      currentArtifact = artifact.name;
      throwIfAborted(options.signal);
      const index = await openIndex(options.store, artifact);
      const state: ArtifactState = {
        artifact,
        root: destinationRoot(options, artifact),
        safeDirs: new Set(),
        dirs: [],
        symlinks: [],
        links: [],
        specials: [],
        orphanLinks: new Map(),
        symlinkPaths: new Set(),
        lastFrame: -1,
        keep: keepPolicy(run, artifact, progress),
        cleanDirs,
      };
      let matched = 0;
      let batch: IndexEntry[] = [];
      let batchBytes = 0;
      const runBatch = async (): Promise<void> => {
        await restoreBatch(batch, index.frames, state, run, selected);
        batch = [];
        batchBytes = 0;
      };
      for await (const entry of index.entries) {
        if (!selected(artifact.name, entry.path)) continue;
        matched++;
        batch.push(entry);
        batchBytes += entry.size;
        if (batch.length >= DEFAULTS.restoreBatchEntries || batchBytes >= 1 << 30) await runBatch();
      }
      if (batch.length > 0) await runBatch();
      if (matched > 0) summary.artifacts.push(artifact.name);
      if (state.orphanLinks.size > 0) {
        await restoreOrphanLinks(state, run);
      }
      if (!options.dryRun) await finishArtifact(state, metadata);
      allDirs.push(...state.dirs);
    }
    // Directory metadata last, over every artifact (a later artifact may write into an earlier one's
    // directories), deepest first so creating children does not reset parents' mtimes.
    report(true);
    if (!options.dryRun) progress.event({ type: 'phase', phase: 'setting metadata' });
    if (!options.dryRun) await finishDirectories(allDirs, metadata, options.signal);
    report(true);
    summary.refused = [...metadata.refused.values()];
    return summary;
  } catch (error) {
    // The writer first: nothing may write into a temporary file once it is removed.
    await writer?.close();
    open.closeAll();
    await Promise.all([...temps].map((t) => fs.rm(t, { force: true }).catch(() => undefined)));
    if (options.signal?.aborted && !isCassetteError(error, 'E_INTEGRITY')) {
      throw new CassetteError('E_ABORTED', 'restore interrupted: no file was left half-written under its real name', { cause: error });
    }
    throw error;
  } finally {
    reports.close();
    await writer?.close();
    if (!options.pool) await pool.close();
  }
}

/** Artifacts named in `order` first, in that order, then the rest in their recorded order. */
export function orderArtifacts(artifacts: readonly ArtifactRecord[], order: readonly string[]): ArtifactRecord[] {
  const rank = (a: ArtifactRecord): number => {
    const i = order.indexOf(a.name);
    return i === -1 ? order.length : i;
  };
  return artifacts
    .map((a, i) => ({ a, i }))
    .sort((x, y) => rank(x.a) - rank(y.a) || x.i - y.i)
    .map((x) => x.a);
}

/** In place, existing directory symlinks inside the root are kept (safe-path.ts); each is reported once per run. */
function keepPolicy(run: RestoreRun, artifact: ArtifactRecord, progress: Progress): KeepDirectorySymlinks | undefined {
  if (!run.options.inPlace) return undefined;
  return {
    created: run.createdLinks,
    onKeep: (link, target) => {
      if (run.keptSymlinks.has(link)) return;
      run.keptSymlinks.add(link);
      progress.event({ type: 'keep-symlink', artifact: artifact.name, path: link, target });
    },
  };
}

/**
 * One batch of selected entries, in tar order: place them; then (a dry run only counts the
 * download) make the empty files, and stream the others' bytes from the frames that hold them
 * through the stages, each file finished as soon as all of it is written.
 */
async function restoreBatch(
  batch: IndexEntry[],
  frames: readonly FrameRecord[],
  state: ArtifactState,
  run: RestoreRun,
  selected: (artifact: string, path: string) => boolean,
): Promise<void> {
  const { options, metadata, pool, summary, temps } = run;
  const files = await placeEntries(batch, {
    state,
    summary,
    selected,
    skipExisting: options.skipExisting,
    dryRun: options.dryRun,
    onEntry: options.onEntry,
    keptSymlinks: run.keptSymlinks,
    turn: () => turn(run),
  });
  const withData = files.filter((f) => f.entry.size > 0);
  const ranges = tarRangesOf(withData);
  if (options.dryRun) {
    const download = plannedDownload(frames, ranges, state.lastFrame);
    summary.downloadBytes += download.bytes;
    summary.requests += download.requests;
    state.lastFrame = download.lastFrame;
    return;
  }
  const finishing = { state, metadata, temps, onFinished: (file: PendingFile) => run.onFinished(state.artifact.name, file) };
  await finishEmptyFiles(files, { ...finishing, turn: () => turn(run) });
  if (withData.length === 0) return;
  const planned = plannedDownload(frames, ranges, run.counters.lastPlannedFrame.get(state.artifact) ?? -1);
  run.counters.downloadPlanned += planned.bytes;
  run.counters.lastPlannedFrame.set(state.artifact, planned.lastFrame);
  // The signal stops the fetches, and pipeline() waits for every stage to end. It is not given to
  // pipeline() too: its AbortError would replace an E_INTEGRITY met meanwhile, which restoreRecord
  // reports as it is.
  await pipeline(
    readFrames(ranges, {
      store: options.store,
      artifact: state.artifact,
      frames,
      pool,
      shared: true,
      plan: RESTORE_READS,
      signal: options.signal,
      concurrency: options.fetchConcurrency ?? DEFAULTS.fetchConcurrency,
      onDownloaded: (bytes) => {
        summary.downloadBytes += bytes;
        summary.requests++;
      },
      onReceived: (bytes) => {
        run.counters.bytesReceived += bytes;
        run.report();
      },
    }),
    (decoded) => sliceFrames(decoded, withData, { artifact: state.artifact.name, pool }),
    (sliced) =>
      writeFiles(sliced, {
        state,
        temps,
        open: run.open,
        writer: run.writer,
        report: run.report,
        onWritten: (bytes) => {
          run.counters.bytesWritten += bytes;
        },
      }),
    (written) => finishFiles(written, finishing),
  );
  assertAllSliced(withData, state.artifact.name);
}

/** Hard links whose target was not selected: restore the target's content at the first link, then link the rest. */
async function restoreOrphanLinks(state: ArtifactState, run: RestoreRun): Promise<void> {
  const { options } = run;
  const index = await openIndex(options.store, state.artifact);
  const substitutes: IndexEntry[] = [];
  for await (const entry of index.entries) {
    const links = state.orphanLinks.get(entryKey(entry.path, entry.pathBytes));
    if (!links || entry.type !== 'file') continue;
    const [first, ...rest] = links;
    const { path: firstPath, pathBytes: firstBytes } = first!.entry;
    const substitute: IndexEntry = { ...entry, path: firstPath };
    delete substitute.pathBytes;
    if (firstBytes !== undefined) substitute.pathBytes = firstBytes;
    substitutes.push(substitute);
    for (const link of rest) {
      const entryOfLink: IndexEntry = { ...link.entry, link: firstPath };
      delete entryOfLink.linkBytes;
      if (firstBytes !== undefined) entryOfLink.linkBytes = firstBytes;
      state.links.push({ ...link, entry: entryOfLink });
    }
  }
  index.close();
  if (substitutes.length === 0) return;
  substitutes.sort((a, b) => a.dataOffset - b.dataOffset);
  const subState = { ...state, lastFrame: -1 };
  await restoreBatch(substitutes, index.frames, subState, run, () => false);
  state.dirs.push(...subState.dirs.slice(state.dirs.length));
}

/** Node's mknod type bits for the special entry types. */
const NODE_TYPE = { fifo: fsSync.constants.S_IFIFO, chardev: fsSync.constants.S_IFCHR, blockdev: fsSync.constants.S_IFBLK } as const;

async function finishArtifact(state: ArtifactState, metadata: MetadataWriter): Promise<void> {
  for (const link of state.links) {
    // The link target's parents must not be symlinks either, or the link could reach outside the root.
    const target = await assertNoSymlinkParents(state.root, linkTargetOf(link.entry), state.safeDirs, state.keep);
    const dest = await prepareParent(state, link.rel);
    const temp = tempName(dest);
    try {
      await fs.link(target, temp);
    } catch (error) {
      throw new CassetteError('E_TARGET', `cannot create hard link ${shown(dest)} to ${shown(target)}: ${messageOf(error)}`, { cause: error });
    }
    await fs.rename(temp, dest);
  }
  for (const special of state.specials) {
    const { entry } = special;
    const dest = await prepareParent(state, special.rel);
    await fs.rm(dest, { force: true });
    try {
      makeNode(dest, NODE_TYPE[entry.type as keyof typeof NODE_TYPE] | (entry.mode & 0o7777), entry.devmajor ?? 0, entry.devminor ?? 0);
      metadata.finishPath(dest, entry, `${state.artifact.name}/${entry.path}`);
    } catch (error) {
      throw new CassetteError('E_TARGET', `cannot create ${entry.type} ${shown(dest)}: ${messageOf(error)}`, { cause: error });
    }
  }
  // Symlinks last among non-directories: nothing is written through them afterwards.
  for (const link of state.symlinks) {
    const dest = await prepareParent(state, link.rel);
    const temp = tempName(dest);
    await fs.symlink(entryFsLink(link.entry), temp);
    metadata.finishPath(temp, link.entry, `${state.artifact.name}/${link.entry.path}`);
    if (state.keep) state.keep.created.add(await linkIdentity(temp));
    const existing = await fs.lstat(dest).catch(() => undefined);
    if (existing?.isDirectory()) {
      await fs.rm(temp, { force: true });
      throw new CassetteError('E_TARGET', `cannot restore symlink ${shown(dest)}: a directory is in the way`);
    }
    await fs.rename(temp, dest);
    state.safeDirs.clear();
  }
}

/**
 * Entries handled between two turns of the event loop. Much of a restore is synchronous system
 * calls, and awaiting a promise that needs no I/O (a parent directory already checked) does not
 * turn the loop: 50,000 empty files held it for the whole restore (2.3 s), and a signal is
 * handled only between turns. 256 empty files are ≈ 15-20 ms of system calls here.
 */
const ENTRIES_PER_TURN = 256;

/** Lets the event loop turn (signals, timers) once every ENTRIES_PER_TURN calls; throws E_ABORTED once interrupted. */
async function turn(run: RestoreRun): Promise<void> {
  if (++run.sinceTurn < ENTRIES_PER_TURN) return;
  run.sinceTurn = 0;
  await new Promise((resolve) => setImmediate(resolve));
  throwIfAborted(run.options.signal);
}

/** Directories finished between two turns of the event loop (see ENTRIES_PER_TURN; 60,000 directories took 0.6 s in one). */
const DIRECTORIES_PER_TURN = 1000;

async function finishDirectories(dirs: ArtifactState['dirs'], metadata: MetadataWriter, signal: AbortSignal | undefined): Promise<void> {
  const ordered = [...dirs].sort((a, b) => b.dest.length - a.dest.length);
  for (const [i, { entry, dest }] of ordered.entries()) {
    if (i % DIRECTORIES_PER_TURN === DIRECTORIES_PER_TURN - 1) {
      await new Promise((resolve) => setImmediate(resolve));
      throwIfAborted(signal);
    }
    if (!lstatOrUndefined(dest)?.isDirectory()) continue;
    metadata.finishPath(dest, entry, entry.path);
  }
}
