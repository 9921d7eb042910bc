// Restore engine: select entries from the index, fetch only the frames that hold them, write files safely with positional writes.
//
// Algorithm, per tree artifact of the snapshot:
//   read the index header and frame table
//   for each batch of selected entries along the tar stream:
//     directories: create (safely); files: plan ranged GETs of the frames holding their bytes
//     fetch requests in parallel → decompress frames in the pool → in tar order, create each
//     file's temporary name; write and hash small files here, hand large files' slices to the
//     writer thread (pwrite + SHA-256)
//     a complete file: check its SHA-256, set mode/owner/mtime, rename onto its real name
//   then hard links, symlinks and special files, and last the directories' metadata, deepest first.
// Nothing is ever written through a symlink: symlinks are created after every file. In place, a
// directory symlink already on the target is kept when it stays inside the root (safe-path.ts).

import { createHash, type Hash } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DEFAULTS } from '../defaults.js';
import { CassetteError, isCassetteError, messageOf, throwIfAborted } from '../errors.js';
import { entryFsLink, entryKey, entryPathBytes, entryLinkBytes } from '../format/entry-bytes.js';
import { objectsOf, type ArtifactRecord, type CommitRecord, type IndexEntry } from '../format/types.js';
import { makeDirsSync } from '../fs/make-dirs.js';
import { makeNode } from '../fs/native.js';
import { MetadataWriter, type RefusedAttributes } from './metadata.js';
import { silentProgress, Throttle, type Progress } from '../progress.js';
import { openIndex, resolveSnapshot } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';
import { FramePool } from '../zstd/pool.js';
import { plannedBytes } from './plan.js';
import { planForRanges, readFrames } from './read-frames.js';
import { SliceWriter, type Slice } from './slice-writer.js';
import { assertNoSymlinkParents, joinPath, judgeExistingSymlink, linkIdentity, normalizeEntryBytes, normalizeEntryPath, normalizeLinkTarget, parentPath, pathKey, resolveInside, type KeepDirectorySymlinks, type RelPath } from './safe-path.js';
import { artifactMayMatch, compileSelector } from './select.js';
import { nextRestoreTempName, removeStaleTemps } from './temp-name.js';

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

interface PendingFile {
  /** The writer thread's name for it. */
  id: number;
  entry: IndexEntry;
  dest: string | Buffer;
  temp: string | Buffer;
  /** Open descriptor of the temporary file. */
  fd?: number;
  /** Bytes written, or handed to the writer, so far. */
  written: number;
  /** Small and sparse files are written and hashed on the restoring thread: their hash so far. */
  hash?: Hash;
}

/** The entry's path relative to its artifact root, normalized: bytes when it is not UTF-8. */
function relPathOf(entry: IndexEntry): RelPath {
  const bytes = entryPathBytes(entry);
  return bytes ? normalizeEntryBytes(bytes) : normalizeEntryPath(entry.path);
}

/** A path for messages and dry-run lines. */
function shown(p: string | Buffer): string {
  return typeof p === 'string' ? p : p.toString();
}

/** SHA-256 of no bytes: the digest of an empty file. */
const EMPTY_SHA256 = createHash('sha256').digest('hex');

/**
 * Frames handed to the writer thread and not yet written: each holds its decoded frame's memory
 * (≈ 4 MiB) until then. Four keep the writer busy while the restoring thread prepares the next.
 */
const FRAMES_IN_WRITER = 4;

/**
 * Files up to this size are written and hashed on the restoring thread, larger ones on the writer
 * thread. Their bytes are few (≈ 100 MB of the bench tree's 5.1 GB) but their count is large: a
 * message per file would cost more than the write, and a restore of a few small files starts no
 * thread at all (it added ≈ 40 ms to restoring one file).
 */
const INLINE_FILE_BYTES = 256 * 1024;

/**
 * Temporary files open at once: files stay open until the writer has written their last slice, and
 * a frame can hold thousands of small files; beyond this many, the restoring thread waits for the
 * writer before it opens another (far below common descriptor limits).
 */
const MAX_OPEN_FILES = 512;

interface ArtifactState {
  artifact: ArtifactRecord;
  root: string;
  safeDirs: Set<string>;
  dirs: Array<{ entry: IndexEntry; dest: string | Buffer }>;
  symlinks: Array<{ entry: IndexEntry; rel: RelPath; dest: string | Buffer }>;
  links: Array<{ entry: IndexEntry; rel: RelPath; dest: string | Buffer }>;
  specials: Array<{ entry: IndexEntry; rel: RelPath; dest: string | Buffer }>;
  /** Hard links whose target is not part of this restore, by the target's entryKey: their content is fetched in a second pass. */
  orphanLinks: Map<string, Array<{ entry: IndexEntry; rel: RelPath; dest: string | Buffer }>>;
  /** Paths of the symlink entries seen so far: no later entry may lie below one (symlink-then-file). */
  symlinkPaths: Set<string>;
  /** In place only: which existing directory symlinks may be written through (safe-path.ts). */
  keep?: KeepDirectorySymlinks;
  /**
   * Directories (pathKey) that hold no stale temporary file (temp-name.ts): made by this run, or
   * cleaned of them. One set for every artifact of the run, so that each directory is cleaned at
   * most once, before the run's first write into it; one key per directory written into.
   */
  cleanDirs: Set<string>;
  lastFrame: number;
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
  /** Files whose temporary name is open (at most MAX_OPEN_FILES), by id. */
  open: Map<number, PendingFile>;
  nextFileId: number;
  /** Entries handled since the event loop last turned (see turn). */
  sinceTurn: number;
  /** linkIdentity of the symlinks this restore made: never kept as target symlinks. */
  createdLinks: Set<string>;
  /** Existing directory symlinks written through so far, each reported once. */
  keptSymlinks: Set<string>;
}

function destinationRoot(options: RestoreOptions, artifact: ArtifactRecord): string {
  if (options.inPlace) return options.inPlaceRoot ? options.inPlaceRoot(artifact) : artifact.source;
  return path.join(path.resolve(options.target!), artifact.name);
}

export async function restore(options: RestoreOptions): Promise<RestoreSummary> {
  if (!!options.inPlace === !!options.target) {
    throw new CassetteError('E_USAGE', options.inPlace ? 'give either --target or --in-place, not both' : 'give a --target directory (or --in-place to restore onto the original paths)');
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
  metadata.onRefused = (refused) => progress.event({ type: 'restore-warning', artifact: currentArtifact, path: refused.path, message: `the target refused ${refused.kind}; the restore goes on without them and exits 3` });
  const throttle = new Throttle(DEFAULTS.progressIntervalMs);
  const report = (force = false): void => {
    if (force || throttle.ready()) progress.event({ type: 'restore-bytes', bytesWritten: summary.bytes, bytesDownloaded: summary.downloadBytes, files: summary.files });
  };
  const temps = new Set<string | Buffer>();
  let writer: SliceWriter | undefined;
  const open = new Map<number, PendingFile>();
  const run: RestoreRun = {
    options, metadata, pool, summary, temps, report, open, nextFileId: 0, sinceTurn: 0, createdLinks: new Set(), keptSymlinks: new Set(),
    writer: () => (writer ??= new SliceWriter((id) => { const dest = open.get(id)?.dest; return dest === undefined ? `file #${id}` : shown(dest); })),
  };
  const allDirs: ArtifactState['dirs'] = [];
  const cleanDirs = new Set<string>();
  try {
    for (const artifact of orderArtifacts(record.artifacts, options.artifactOrder ?? [])) {
      if (artifact.kind !== 'tree') continue;
      if (!artifactMayMatch(selection, artifact.name)) continue;
      options.onArtifact?.(artifact, destinationRoot(options, artifact));
      currentArtifact = artifact.name;
      throwIfAborted(options.signal);
      const index = await openIndex(options.store, artifact);
      const state: ArtifactState = {
        artifact, root: destinationRoot(options, artifact), safeDirs: new Set(), dirs: [], symlinks: [], links: [], specials: [],
        orphanLinks: new Map(), symlinkPaths: new Set(), lastFrame: -1, keep: keepPolicy(run, artifact, progress), cleanDirs,
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
    if (!options.dryRun) await finishDirectories(allDirs, metadata, options.signal);
    report(true);
    summary.refused = [...metadata.refused.values()];
    return summary;
  } catch (error) {
    // The writer first: nothing may write into a temporary file once it is removed.
    await writer?.close();
    for (const file of open.values()) if (file.fd !== undefined) fsSync.closeSync(file.fd);
    open.clear();
    await Promise.all([...temps].map((t) => fs.rm(t, { force: true }).catch(() => undefined)));
    if (options.signal?.aborted && !isCassetteError(error, 'E_INTEGRITY')) {
      throw new CassetteError('E_ABORTED', 'restore interrupted: no file was left half-written under its real name', { cause: error });
    }
    throw error;
  } finally {
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
  return artifacts.map((a, i) => ({ a, i })).sort((x, y) => rank(x.a) - rank(y.a) || x.i - y.i).map((x) => x.a);
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

/** A path below an earlier symlink entry would be written through that symlink once it exists: refuse it. */
function refuseBelowSymlink(state: ArtifactState, entry: IndexEntry, rel: string): void {
  if (state.symlinkPaths.size === 0) return;
  for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
    const parent = rel.slice(0, i);
    if (state.symlinkPaths.has(parent)) {
      throw new CassetteError('E_UNSAFE_PATH', `refusing entry "${entry.path}": it lies below the symlink entry "${parent}" of the same archive, and nothing is written through symlinks`);
    }
  }
}

/** The normalized target of a hard link entry (bytes when not UTF-8); an unsafe one is refused naming the link itself. */
function linkTargetOf(entry: IndexEntry): RelPath {
  try {
    const bytes = entryLinkBytes(entry);
    return bytes ? normalizeEntryBytes(bytes, 'hard link target') : normalizeLinkTarget(entry.link ?? '');
  } catch (error) {
    throw new CassetteError('E_UNSAFE_PATH', `refusing hard link "${entry.path}" to "${entry.link ?? ''}": ${(error as Error).message.replace(/^refusing entry "[^"]*": /, '')}`, { cause: error });
  }
}

async function prepareParent(state: ArtifactState, rel: RelPath): Promise<string | Buffer> {
  const nested = typeof rel === 'string' ? rel.includes('/') : rel.includes(0x2f);
  const dest = await assertNoSymlinkParents(state.root, rel, state.safeDirs, state.keep);
  const dir = nested ? parentPath(dest) : state.root;
  const key = pathKey(dir);
  // A parent already checked (a real directory, no symlink) needs no mkdir: saves two system calls
  // per file (mkdir → EEXIST, stat) in directories of many files.
  if (!state.safeDirs.has(key)) {
    if (makeDirectories(dir)) state.cleanDirs.add(key);
    // Made here or found as a directory: a later file in it goes straight on (cleared with safeDirs
    // when a symlink is created).
    if (nested) state.safeDirs.add(key);
  }
  // A directory that was already there may hold temporary files of a restore that was killed:
  // remove them before the first write into it (one readdir per such directory and run; one made
  // by this run is empty and costs nothing).
  if (!state.cleanDirs.has(key)) {
    removeStaleTemps(dir);
    state.cleanDirs.add(key);
  }
  return dest;
}

/**
 * Makes `dir` and its missing parents (make-dirs.ts: never Node's recursive mkdir, which spins
 * forever on procfs); true when `dir` itself was made here. A failure is E_TARGET naming the
 * directory and the reason.
 */
function makeDirectories(dir: string | Buffer): boolean {
  try {
    return makeDirsSync(dir);
  } catch (error) {
    throw new CassetteError('E_TARGET', `cannot create directory ${shown(dir)}: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * A directory entry: check its parents, then make it a real directory (replacing a non-directory in
 * the way) — or, in place, keep the directory symlink there. Returns where its metadata goes at
 * the end: nowhere for a kept symlink (GNU tar does not apply it through the link either); once a
 * symlink was kept, the directory's real path, so that a symlink made later in the restore cannot
 * redirect it; else dest.
 */
async function makeDirectory(state: ArtifactState, run: RestoreRun, rel: RelPath, dest: string | Buffer): Promise<string | Buffer | undefined> {
  await assertNoSymlinkParents(state.root, rel, state.safeDirs, state.keep);
  const existing = lstatOrUndefined(dest);
  if (state.keep && existing?.isSymbolicLink() && (await judgeExistingSymlink(state.root, dest, state.keep)).verdict.keep) return undefined;
  if (existing && !existing.isDirectory()) fsSync.rmSync(dest, { force: true });
  if (!existing?.isDirectory() && makeDirectories(dest)) state.cleanDirs.add(pathKey(dest));
    if (run.keptSymlinks.size === 0) return dest;
  return typeof dest === 'string' ? fsSync.realpathSync.native(dest) : fsSync.realpathSync.native(dest, { encoding: 'buffer' });
}

/**
 * Dry run in place: check the entry's parents, and a directory entry's own place, as the restore
 * would, so the directory symlinks it would keep are reported. Refusals are left to the restore:
 * a dry run writes nothing, so what the restore would replace first is still in the way here.
 */
async function previewKeptSymlinks(state: ArtifactState, entry: IndexEntry, rel: RelPath, dest: string | Buffer): Promise<void> {
  try {
    await assertNoSymlinkParents(state.root, rel, state.safeDirs, state.keep);
    if (entry.type === 'dir' && lstatOrUndefined(dest)?.isSymbolicLink()) await judgeExistingSymlink(state.root, dest, state.keep!);
  } catch (error) {
    if (!isCassetteError(error, 'E_UNSAFE_PATH') && !isCassetteError(error, 'E_TARGET')) throw error;
  }
}

async function exists(p: string | Buffer): Promise<boolean> {
  return fs.lstat(p).then(() => true, () => false);
}

/** Creates the file's temporary name (parents made safely) and opens it for writing: its descriptor. */
async function openTemp(file: PendingFile, state: ArtifactState, temps: Set<string | Buffer>): Promise<number> {
  file.dest = await prepareParent(state, relPathOf(file.entry));
  file.temp = tempName(file.dest);
  temps.add(file.temp);
  try {
    return fsSync.openSync(file.temp, 'wx', 0o600);
  } catch (error) {
    throw new CassetteError('E_TARGET', `cannot write ${shown(file.dest)}: ${messageOf(error)}`, { cause: error });
  }
}

/** A temporary name next to `dest`, naming this process (temp-name.ts) so that a later restore knows when it is stale. */
function tempName(dest: string | Buffer): string | Buffer {
  return joinPath(parentPath(dest), nextRestoreTempName());
}

async function restoreBatch(
  batch: IndexEntry[],
  frames: Parameters<typeof readFrames>[1]['frames'],
  state: ArtifactState,
  run: RestoreRun,
  selected: (artifact: string, path: string) => boolean,
): Promise<void> {
  const { options, metadata, pool, summary, temps, report } = run;
  const { artifact } = state;
  const files: PendingFile[] = [];
  for (const entry of batch) {
    await turn(run);
    const rel = relPathOf(entry);
    const dest = resolveInside(state.root, rel);
    // Checked on the display path: names that differ only in invalid bytes look alike there, which can only refuse more.
    refuseBelowSymlink(state, entry, normalizeEntryPath(entry.path));
    if (entry.type === 'file' && options.skipExisting && (await exists(dest))) {
      summary.skipped++;
      continue;
    }
    summary.entries++;
    options.onEntry?.(artifact.name, entry, shown(dest));
    if (options.dryRun && state.keep) await previewKeptSymlinks(state, entry, rel, dest);
    switch (entry.type) {
      case 'dir': {
        const place = options.dryRun ? dest : await makeDirectory(state, run, rel, dest);
        if (place !== undefined) state.dirs.push({ entry, dest: place });
        break;
      }
      case 'file':
        summary.files++;
        summary.bytes += entry.size;
        files.push({ id: -1, entry, dest, temp: '', written: 0 });
        break;
      case 'symlink':
        state.symlinks.push({ entry, rel, dest });
        state.symlinkPaths.add(normalizeEntryPath(entry.path));
        break;
      case 'hardlink': {
        linkTargetOf(entry);
        if (selected(artifact.name, entry.link ?? '')) {
          state.links.push({ entry, rel, dest });
        } else {
          const key = entryKey(entry.link ?? '', entry.linkBytes);
          const list = state.orphanLinks.get(key) ?? [];
          list.push({ entry, rel, dest });
          state.orphanLinks.set(key, list);
        }
        break;
      }
      default:
        state.specials.push({ entry, rel, dest });
    }
  }

  const withData = files.filter((f) => f.entry.size > 0);
  const ranges = withData.map((f) => ({ start: f.entry.dataOffset, end: f.entry.dataOffset + f.entry.size }));
  const planOptions = { maxGapBytes: DEFAULTS.restoreMaxGapBytes, maxRequestBytes: DEFAULTS.restoreRequestBytes };
  if (options.dryRun) {
    const plan = planForRanges(frames, ranges, planOptions, state.lastFrame + 1);
    summary.downloadBytes += plannedBytes(plan);
    summary.requests += plan.length;
    if (plan.length > 0) state.lastFrame = plan.at(-1)!.lastFrame;
    return;
  }

  // Empty files need no frame.
  for (const file of files) {
    if (file.entry.size > 0) continue;
    await turn(run);
    file.fd = await openTemp(file, state, temps);
    finishFile(file, EMPTY_SHA256, state, metadata, temps);
  }
  if (withData.length === 0) return;

  // Parts of frames handed to the writer, oldest first; the last part of a frame gives its memory back.
  const inWriter: Array<{ written: Promise<Map<number, string>>; ending: PendingFile[]; frameData?: Buffer }> = [];
  const settleOldest = async (): Promise<void> => {
    const part = inWriter.shift()!;
    const digests = await part.written;
    if (part.frameData) pool.release(part.frameData);
    for (const file of part.ending) {
      run.open.delete(file.id);
      finishFile(file, digests.get(file.id)!, state, metadata, temps);
    }
  };
  try {
    let cursor = 0;
    for await (const decoded of readFrames(ranges, {
      store: options.store, artifact, frames, pool,
      concurrency: options.fetchConcurrency ?? DEFAULTS.fetchConcurrency,
      plan: planOptions,
      signal: options.signal,
      shared: true,
      onDownloaded: (bytes) => {
        summary.downloadBytes += bytes;
        summary.requests++;
      },
    })) {
      const { frame, data } = decoded;
      state.lastFrame = frame.frame;
      const frameEnd = frame.tarOffset + frame.tarSize;
      let slices: Slice[] = [];
      let ending: PendingFile[] = [];
      let parts = 0;
      // Hands the slices gathered so far to the writer; with `last`, the frame's memory goes back
      // once the writer is done with it: with its newest part still in the writer (parts settle in
      // order, so any part of this frame not yet settled is the newest entry), else at once.
      const handOver = (last: boolean): void => {
        if (slices.length > 0) {
          inWriter.push({ written: run.writer().write(data, slices), ending });
          parts++;
        }
        slices = [];
        ending = [];
        if (!last) return;
        const newest = parts > 0 ? inWriter.at(-1) : undefined;
        if (newest) newest.frameData = data;
        else pool.release(data);
      };
      for (let i = cursor; i < withData.length; i++) {
        const file = withData[i]!;
        const start = file.entry.dataOffset;
        const end = start + file.entry.size;
        if (start >= frameEnd) break;
        const from = Math.max(start, frame.tarOffset);
        const to = Math.min(end, frameEnd);
        if (to <= from) continue;
        if (from - start !== file.written) {
          throw new CassetteError('E_INTEGRITY', `${artifact.name}/${file.entry.path}: frames arrived out of order`);
        }
        if (file.fd === undefined) {
          if (run.open.size >= MAX_OPEN_FILES) {
            handOver(false);
            while (run.open.size >= MAX_OPEN_FILES && inWriter.length > 0) await settleOldest();
          }
          file.fd = await openTemp(file, state, temps);
          file.id = run.nextFileId++;
          run.open.set(file.id, file);
          // Sparse files are written here too: only their blocks that are not all zero.
          if (file.entry.size <= INLINE_FILE_BYTES || file.entry.sparse) file.hash = createHash('sha256');
        }
        const last = file.written + (to - from) === file.entry.size;
        if (file.hash) {
          // A small file: written and hashed here, finished at once.
          const slice = data.subarray(from - frame.tarOffset, to - frame.tarOffset);
          file.hash.update(slice);
          try {
            if (file.entry.sparse) writeSparse(file.fd, slice, file.written);
            else for (let done = 0; done < slice.length;) done += fsSync.writeSync(file.fd, slice, done, slice.length - done, file.written + done);
          } catch (error) {
            throw new CassetteError('E_TARGET', `cannot write ${shown(file.dest)}: ${messageOf(error)}`, { cause: error });
          }
          file.written += slice.length;
          if (last) {
            run.open.delete(file.id);
            finishFile(file, file.hash.digest('hex'), state, metadata, temps);
          }
        } else {
          slices.push({ file: file.id, fd: file.fd, start: from - frame.tarOffset, length: to - from, position: file.written, last });
          file.written += to - from;
          if (last) ending.push(file);
        }
        if (last && i === cursor) cursor++;
      }
      while (cursor < withData.length && withData[cursor]!.written === withData[cursor]!.entry.size) cursor++;
      handOver(true);
      while (inWriter.length > FRAMES_IN_WRITER) await settleOldest();
      report();
    }
    while (inWriter.length > 0) await settleOldest();
  } finally {
    // On failure, let every part already handed over end before the caller removes files.
    await Promise.allSettled(inWriter.map((part) => part.written));
  }
  const unfinished = withData.find((f) => f.written !== f.entry.size);
  if (unfinished) {
    throw new CassetteError('E_INTEGRITY', `${artifact.name}/${unfinished.entry.path}: the archive ended after ${unfinished.written} of ${unfinished.entry.size} bytes`);
  }
}

/**
 * Check the hash, set owner, attributes, mode and mtime (metadata.ts), and rename the temporary
 * file onto its real name. Synchronous system calls: for thousands of small files the promise
 * API's thread-pool round trips (about ten per file) made restores several times slower than
 * `tar -x` here.
 */
function finishFile(file: PendingFile, digest: string, state: ArtifactState, metadata: MetadataWriter, temps: Set<string | Buffer>): void {
  const { entry } = file;
  const fd = file.fd!;
  file.fd = undefined;
  try {
    if (entry.sha256 && digest !== entry.sha256) {
      const volumes = objectsOf(state.artifact).map((v) => v.key).join(', ');
      throw new CassetteError('E_INTEGRITY', `${state.artifact.name}/${entry.path}: content hash mismatch (expected ${entry.sha256}, got ${digest}) reading ${volumes}`);
    }
    // A sparse file may end in a hole: nothing was written there, so give it its size.
    if (entry.sparse) fsSync.ftruncateSync(fd, entry.size);
    metadata.finishFd(fd, entry, `${state.artifact.name}/${entry.path}`);
  } catch (error) {
    fsSync.closeSync(fd);
    fsSync.rmSync(file.temp, { force: true });
    temps.delete(file.temp);
    throw error;
  }
  fsSync.closeSync(fd);
  try {
    fsSync.renameSync(file.temp, file.dest);
  } catch (error) {
    fsSync.rmSync(file.temp, { force: true });
    temps.delete(file.temp);
    // rename(2) onto a directory: EISDIR (or ENOTEMPTY/EEXIST on some systems), not checked beforehand
    // with a stat per file.
    if (lstatOrUndefined(file.dest)?.isDirectory()) throw new CassetteError('E_TARGET', `cannot restore file ${shown(file.dest)}: a directory is in the way`);
    throw new CassetteError('E_TARGET', `cannot restore file ${shown(file.dest)}: ${messageOf(error)}`, { cause: error });
  }
  temps.delete(file.temp);
}

/** Sparse blocks: a block of this many bytes (at a multiple of it in the file) that is all zeros is not written. */
const SPARSE_BLOCK = 4096;
const ZEROS = Buffer.alloc(SPARSE_BLOCK);

/** Writes `data` at `position`, leaving every whole all-zero block unwritten (a hole), in as few writes as the data allows. */
export function writeSparse(fd: number, data: Buffer, position: number): void {
  let runStart = -1;
  const flush = (end: number): void => {
    for (let done = runStart; done < end;) done += fsSync.writeSync(fd, data, done, end - done, position + done);
    runStart = -1;
  };
  for (let at = 0; at < data.length;) {
    // Blocks are aligned to the file, not to the slice.
    const end = Math.min(data.length, at + SPARSE_BLOCK - ((position + at) % SPARSE_BLOCK));
    const zero = data.subarray(at, end).equals(ZEROS.subarray(0, end - at));
    if (zero && runStart !== -1) flush(at);
    else if (!zero && runStart === -1) runStart = at;
    at = end;
  }
  if (runStart !== -1) flush(data.length);
}

function lstatOrUndefined(p: string | Buffer): fsSync.Stats | undefined {
  try {
    return fsSync.lstatSync(p);
  } catch {
    return undefined;
  }
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
