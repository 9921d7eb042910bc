// `restore --delete`: what to remove under each restored artifact's destination root that the snapshot's selection does not hold, and removing it.
//
// For each restored tree artifact with destination root R:
//   kept     = the snapshot's entries of the artifact that the selection selects (read from its index)
//   walk R without following symlinks and without entering another file system (lstat, readdir):
//     a path that is kept stays; a real directory is entered (kept or not), except
//       the root of another artifact of the snapshot nested in R (its own pass, or not restored),
//       a mount point (another device than R), and, in place, the directory that a kept directory
//       symlink leads to (`lib -> usr/lib`: the snapshot's `lib/…` went there, under other names)
//     a path that is not kept is deleted when the selection selects it: a file, a symlink (the
//       link itself; what it points to is never touched) or a special file is unlinked; a
//       directory is removed once everything below it was
//   a path the selection leaves out (--include, --exclude) is never a candidate, nor is anything
//   above R: R itself is never deleted.
// Memory: the kept paths of one artifact at a time, in a set (about 100 bytes a path).
// planDeletions is pure over a TargetView (the target as a listing), so the plan is table-tested;
// deleteExtra carries it out (or, dry, only reports it).

import fsSync from 'node:fs';
import path from 'node:path';
import { CassetteError, messageOf, throwIfAborted } from '../errors.js';
import { entryPathBytes } from '../format/entry-bytes.js';
import type { ArtifactRecord, CommitRecord } from '../format/types.js';
import { openIndex } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';
import { joinPath, normalizeEntryBytes, normalizeEntryPath, resolveInside } from './safe-path.js';
import { artifactMayMatch, compileSelector, type SelectOptions } from './select.js';

/** What is at a path of the target, as lstat says (never followed). */
export type TargetKind = 'dir' | 'file' | 'symlink' | 'other';

export interface TargetChild {
  /** The name's exact bytes. */
  name: Buffer;
  kind: TargetKind;
  /** A directory on another device than the root (a mount point): never entered nor deleted. */
  mountPoint?: boolean;
}

/** The target as a listing: the children of a directory given by its path relative to the root (empty = the root). */
export interface TargetView {
  list(dir: Buffer): TargetChild[];
}

export interface DeletionRules {
  /** The snapshot's selection holds this path (relative to the root, exact bytes). */
  kept(rel: Buffer): boolean;
  /** The selection (include / exclude) selects this path: only such paths may be deleted. */
  selected(rel: Buffer): boolean;
  /** Not to be entered nor deleted: the root of another artifact nested here. */
  skipped(rel: Buffer): boolean;
}

export interface Deletion {
  /** Path relative to the root, exact bytes. */
  rel: Buffer;
  kind: TargetKind;
}

const SLASH = Buffer.from('/');

/**
 * The paths to delete below the root, children before their directory. Pure over `view`: a
 * directory is listed only when it is entered. A directory is deleted only when it is not kept,
 * is selected and everything below it is deleted too.
 */
export function* planDeletions(view: TargetView, rules: DeletionRules): Generator<Deletion> {
  yield* planBelow(view, rules, Buffer.alloc(0));
}

/** Deletions below `dir`; returns whether every child of it is deleted. */
function* planBelow(view: TargetView, rules: DeletionRules, dir: Buffer): Generator<Deletion, boolean> {
  let all = true;
  for (const child of view.list(dir)) {
    const rel = dir.length === 0 ? child.name : Buffer.concat([dir, SLASH, child.name]);
    if (rules.skipped(rel) || child.mountPoint) {
      all = false;
      continue;
    }
    const kept = rules.kept(rel);
    let emptied = true;
    if (child.kind === 'dir') emptied = yield* planBelow(view, rules, rel);
    if (!kept && emptied && rules.selected(rel)) yield { rel, kind: child.kind };
    else all = false;
  }
  return all;
}

/** The target's real file system under `root`, as a TargetView: lstat only, never a symlink followed below the root (the root itself is the user's choice, and may be one). */
export function fileSystemView(root: string): TargetView {
  const rootDevice = fsSync.statSync(root).dev;
  return {
    list: (dir) => {
      const abs = dir.length === 0 ? root : joinPath(root, dir);
      let names: Buffer[];
      try {
        names = fsSync.readdirSync(abs, { encoding: 'buffer' });
      } catch (error) {
        throw new CassetteError('E_TARGET', `--delete: cannot list ${abs.toString()}: ${messageOf(error)}`, { cause: error });
      }
      names.sort((a, b) => Buffer.compare(a, b));
      return names.map((name): TargetChild => {
        const stats = fsSync.lstatSync(joinPath(abs, name));
        const kind: TargetKind = stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : stats.isFile() ? 'file' : 'other';
        return kind === 'dir' && stats.dev !== rootDevice ? { name, kind, mountPoint: true } : { name, kind };
      });
    },
  };
}

export interface DeleteExtraOptions {
  store: Pick<ObjectStore, 'get'>;
  record: CommitRecord;
  selection: SelectOptions;
  /** Where each artifact was restored (restore.ts destinationRoot). */
  rootOf: (artifact: ArtifactRecord) => string;
  /** Report only; delete nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Directory symlinks the restore wrote through (its keep-symlink events): what they lead to is left alone. */
  keptSymlinks?: readonly string[];
  /** Told of each path deleted (or, dry, that would be). */
  onDelete?: (artifact: string, deletion: Deletion, absolute: string) => void;
}

export interface DeleteSummary {
  /** Paths deleted (or, dry, to delete). */
  deleted: number;
}

/** Removes what each restored artifact's root holds beyond the snapshot's selection (see the top of this file). */
export async function deleteExtra(options: DeleteExtraOptions): Promise<DeleteSummary> {
  const { record, selection } = options;
  const selected = compileSelector(selection);
  const trees = record.artifacts.filter((a) => a.kind === 'tree');
  // A one-file artifact's place is its file (its one entry, named after the source), which an enclosing artifact's deletion must not touch.
  const roots = trees.map((a) => (a.sourceIsFile ? path.resolve(options.rootOf(a), path.basename(a.source)) : path.resolve(options.rootOf(a))));
  const summary: DeleteSummary = { deleted: 0 };
  for (const [i, artifact] of trees.entries()) {
    // A one-file artifact restores into the directory that holds it (its siblings are not the snapshot's): nothing of it is extra.
    if (artifact.sourceIsFile || !artifactMayMatch(selection, artifact.name)) continue;
    const root = roots[i]!;
    const rootStats = statOrUndefined(root);
    // Nothing restored there (a dry run into a new target), or a single-file artifact: nothing to delete.
    if (!rootStats?.isDirectory()) continue;
    const kept = await keptPaths(options.store, artifact, selected);
    const nested = new Set(roots.filter((other) => isInside(root, other)).map((other) => Buffer.from(path.relative(root, other)).toString('latin1')));
    const realRoot = fsSync.realpathSync(root);
    for (const link of options.keptSymlinks ?? []) {
      const real = realpathOrUndefined(link);
      if (real !== undefined && (real === realRoot || isInside(realRoot, real))) nested.add(Buffer.from(path.relative(realRoot, real)).toString('latin1'));
    }
    // A kept symlink that leads to the root itself: nothing in this root is a candidate.
    if (nested.has('')) continue;
    const rules: DeletionRules = {
      kept: (rel) => kept.has(rel.toString('latin1')),
      selected: (rel) => selected(artifact.name, rel.toString()),
      skipped: (rel) => nested.has(rel.toString('latin1')),
    };
    for (const deletion of planDeletions(fileSystemView(root), rules)) {
      throwIfAborted(options.signal);
      const absolute = resolveInside(root, deletion.rel);
      options.onDelete?.(artifact.name, deletion, absolute.toString());
      summary.deleted++;
      if (options.dryRun) continue;
      try {
        if (deletion.kind === 'dir') fsSync.rmdirSync(absolute);
        else fsSync.unlinkSync(absolute);
      } catch (error) {
        throw new CassetteError('E_TARGET', `--delete: cannot remove ${absolute.toString()}: ${messageOf(error)}`, { cause: error });
      }
    }
  }
  return summary;
}

/** The selected entries' paths of an artifact, normalized, as latin1 strings of their bytes (one key for any name). */
async function keptPaths(store: Pick<ObjectStore, 'get'>, artifact: ArtifactRecord, selected: (artifact: string, path: string) => boolean): Promise<Set<string>> {
  const kept = new Set<string>();
  const index = await openIndex(store, artifact);
  try {
    for await (const entry of index.entries) {
      if (!selected(artifact.name, entry.path)) continue;
      const bytes = entryPathBytes(entry);
      kept.add((bytes ? normalizeEntryBytes(bytes) : Buffer.from(normalizeEntryPath(entry.path))).toString('latin1'));
    }
  } finally {
    index.close();
  }
  return kept;
}

/** True when `inner` is strictly below `outer` (both absolute, normalized). */
function isInside(outer: string, inner: string): boolean {
  const rel = path.relative(outer, inner);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

function realpathOrUndefined(p: string): string | undefined {
  try {
    return fsSync.realpathSync(p);
  } catch {
    return undefined;
  }
}

function statOrUndefined(p: string): fsSync.Stats | undefined {
  try {
    return fsSync.statSync(p);
  } catch {
    return undefined;
  }
}
