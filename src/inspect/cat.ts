// Which stored file `cassette cat SNAPSHOT artifact/path` prints: the exact path (no glob), found in the artifact's index; a hard link is followed to its file.

import { CassetteError } from '../errors.js';
import { entryKey } from '../format/entry-bytes.js';
import type { IndexReader } from '../format/index-file.js';
import type { ArtifactRecord, CommitRecord, FrameRecord, IndexEntry } from '../format/types.js';

/**
 * `artifact/path` split at its first `/`, a leading or trailing `/` ignored: `etc/ssh/sshd_config`
 * is the entry `ssh/sshd_config` of the artifact `etc`. The path is '' when only an artifact is
 * named. Pure.
 */
export function splitArtifactPath(target: string): { artifact: string; path: string } {
  const trimmed = target.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') throw new CassetteError('E_USAGE', `Expected a path as ls prints it (artifact/path, e.g. etc/hosts), got ${JSON.stringify(target)}`);
  const slash = trimmed.indexOf('/');
  return slash < 0 ? { artifact: trimmed, path: '' } : { artifact: trimmed.slice(0, slash), path: trimmed.slice(slash + 1) };
}

/** A file entry of a snapshot, with what reading its content needs. */
export interface StoredFile {
  artifact: ArtifactRecord;
  frames: FrameRecord[];
  /** A `file` entry (a hard link's target when the path named a hard link). */
  entry: IndexEntry;
}

/**
 * The file `target` (`artifact/path`) of `record`. A missing path, a directory, a symlink or a
 * special file is E_NOT_FOUND with a message that says which (exit 4). Reads the artifact's index
 * (twice for a hard link, whose target comes earlier in it).
 */
export async function findStoredFile(record: CommitRecord, target: string, openIndex: (artifact: ArtifactRecord) => Promise<IndexReader>): Promise<StoredFile> {
  const { artifact: name, path } = splitArtifactPath(target);
  const artifact = record.artifacts.find((a) => a.name === name);
  if (!artifact) {
    throw new CassetteError(
      'E_NOT_FOUND',
      `snapshot ${record.id} has no artifact ${JSON.stringify(name)} (it has ${record.artifacts.map((a) => a.name).join(', ') || 'none'}); give artifact/path as ls prints it`,
    );
  }
  if (path === '') throw new CassetteError('E_NOT_FOUND', `${name} is an artifact (a directory), not a file: give artifact/path as ls prints it`);
  const found = await entryAt(artifact, (entry) => entry.path === path, openIndex);
  if (!found) throw new CassetteError('E_NOT_FOUND', `snapshot ${record.id} has no entry ${name}/${path}`);
  let { entry } = found;
  if (entry.type === 'hardlink') {
    const linked = entryKey(entry.link ?? '', entry.linkBytes);
    const file = await entryAt(artifact, (candidate) => candidate.type === 'file' && entryKey(candidate.path, candidate.pathBytes) === linked, openIndex);
    if (!file) throw new CassetteError('E_INTEGRITY', `${name}/${path} is a hard link to ${entry.link ?? ''}, which the index does not hold`);
    entry = file.entry;
  }
  if (entry.type === 'dir') throw new CassetteError('E_NOT_FOUND', `${name}/${path} is a directory, not a file (list it with: cassette ls ${record.id} ${name}/${path})`);
  if (entry.type === 'symlink') throw new CassetteError('E_NOT_FOUND', `${name}/${path} is a symlink to ${entry.link ?? ''}, not a file`);
  if (entry.type !== 'file') throw new CassetteError('E_NOT_FOUND', `${name}/${path} is a ${entry.type}, not a regular file`);
  return { artifact, frames: found.frames, entry };
}

async function entryAt(
  artifact: ArtifactRecord,
  matches: (entry: IndexEntry) => boolean,
  openIndex: (artifact: ArtifactRecord) => Promise<IndexReader>,
): Promise<{ entry: IndexEntry; frames: FrameRecord[] } | undefined> {
  const index = await openIndex(artifact);
  try {
    for await (const entry of index.entries) if (matches(entry)) return { entry, frames: index.frames };
    return undefined;
  } finally {
    index.close();
  }
}
