// Places a batch's entries: checks each path, makes directories, keeps links, symlinks and special files for the end of the artifact, and returns the files to restore.
// It reads and writes no file content (the frames do: read-frames.ts onwards).

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import { CassetteError, isCassetteError } from '../errors.js';
import { entryKey } from '../format/entry-bytes.js';
import type { IndexEntry } from '../format/types.js';
import { linkTargetOf, lstatOrUndefined, makeDirectories, relPathOf, shown, type ArtifactState, type PendingFile } from './destination.js';
import { assertNoSymlinkParents, judgeExistingSymlink, normalizeEntryPath, pathKey, resolveInside, type RelPath } from './safe-path.js';

export interface PlaceEntriesOptions {
  state: ArtifactState;
  /** The run's totals: entries placed, files and their bytes, existing files skipped. */
  summary: { entries: number; files: number; bytes: number; skipped: number };
  /** Keep files that already exist at the destination. */
  skipExisting?: boolean;
  /** Make nothing: only count, report and (in place) preview the directory symlinks kept. */
  dryRun?: boolean;
  /** Called for each entry placed, with its printable destination. */
  onEntry?: (artifact: string, entry: IndexEntry, destination: string) => void;
  /** The run's selection: a hard link whose target it leaves out gets the target's content later (ArtifactState.orphanLinks). */
  selected: (artifact: string, path: string) => boolean;
  /** Existing directory symlinks the run has written through: once there is one, directories' metadata goes to their real paths. */
  keptSymlinks: ReadonlySet<string>;
  /** Lets the event loop turn now and then, and throws once the restore is interrupted. */
  turn: () => Promise<void>;
}

/** The batch's regular files to restore (empty ones too), in tar order; every other entry is made or kept in `state`. */
export async function placeEntries(batch: readonly IndexEntry[], options: PlaceEntriesOptions): Promise<PendingFile[]> {
  const { state, summary } = options;
  const { artifact } = state;
  const files: PendingFile[] = [];
  for (const entry of batch) {
    await options.turn();
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
        const place = options.dryRun ? dest : await makeDirectory(state, options.keptSymlinks, rel, dest);
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
        if (options.selected(artifact.name, entry.link ?? '')) {
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
  return files;
}

/** A path below an earlier symlink entry would be written through that symlink once it exists: refuse it. */
function refuseBelowSymlink(state: ArtifactState, entry: IndexEntry, rel: string): void {
  if (state.symlinkPaths.size === 0) return;
  for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
    const parent = rel.slice(0, i);
    if (state.symlinkPaths.has(parent)) {
      throw new CassetteError(
        'E_UNSAFE_PATH',
        `refusing entry "${entry.path}": it lies below the symlink entry "${parent}" of the same archive, and nothing is written through symlinks`,
      );
    }
  }
}

/**
 * A directory entry: check its parents, then make it a real directory (replacing a non-directory in
 * the way) — or, in place, keep the directory symlink there. Returns where its metadata goes at
 * the end: nowhere for a kept symlink (GNU tar does not apply it through the link either); once a
 * symlink was kept, the directory's real path, so that a symlink made later in the restore cannot
 * redirect it; else dest.
 */
async function makeDirectory(state: ArtifactState, keptSymlinks: ReadonlySet<string>, rel: RelPath, dest: string | Buffer): Promise<string | Buffer | undefined> {
  await assertNoSymlinkParents(state.root, rel, state.safeDirs, state.keep);
  const existing = lstatOrUndefined(dest);
  if (state.keep && existing?.isSymbolicLink() && (await judgeExistingSymlink(state.root, dest, state.keep)).verdict.keep) return undefined;
  if (existing && !existing.isDirectory()) fsSync.rmSync(dest, { force: true });
  if (!existing?.isDirectory() && makeDirectories(dest)) state.cleanDirs.add(pathKey(dest));
  if (keptSymlinks.size === 0) return dest;
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
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}
