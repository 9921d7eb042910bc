// Finishes written files: checks each one's SHA-256, sets its metadata (metadata.ts) and renames its temporary name onto its real name.

import { createHash } from 'node:crypto';
import fsSync from 'node:fs';
import { CassetteError, messageOf } from '../errors.js';
import { objectsOf } from '../format/types.js';
import { lstatOrUndefined, openTemp, shown, type ArtifactState, type PendingFile } from './destination.js';
import type { MetadataWriter } from './metadata.js';
import type { WrittenFile } from './write-files.js';

/** SHA-256 of no bytes: the digest of an empty file. */
const EMPTY_SHA256 = createHash('sha256').digest('hex');

export interface FinishFilesOptions {
  /** The files' artifact (for messages) and where they go. */
  state: ArtifactState;
  metadata: MetadataWriter;
  /** Temporary files not yet renamed: each one renamed or removed here leaves it. */
  temps: Set<string | Buffer>;
  /** Called for each file once it is under its real name. */
  onFinished?: (file: PendingFile) => void;
}

/** Finishes each file as it comes; the first that fails stops the restore (its temporary file removed). */
export async function finishFiles(written: AsyncIterable<WrittenFile>, options: FinishFilesOptions): Promise<void> {
  for await (const { file, digest } of written) finishFile(file, digest, options);
}

/** Empty files need no frame: each is created and finished at once. Files with data are left alone. */
export async function finishEmptyFiles(files: readonly PendingFile[], options: FinishFilesOptions & { turn: () => Promise<void> }): Promise<void> {
  for (const file of files) {
    if (file.entry.size > 0) continue;
    await options.turn();
    file.fd = await openTemp(file, options.state, options.temps);
    finishFile(file, EMPTY_SHA256, options);
  }
}

/**
 * Check the hash, set owner, attributes, mode and mtime (metadata.ts), and rename the temporary
 * file onto its real name. Synchronous system calls: for thousands of small files the promise
 * API's thread-pool round trips (about ten per file) made restores several times slower than
 * `tar -x` here.
 */
function finishFile(file: PendingFile, digest: string, { state, metadata, temps, onFinished }: FinishFilesOptions): void {
  const { entry } = file;
  const fd = file.fd!;
  file.fd = undefined;
  try {
    if (entry.sha256 && digest !== entry.sha256) {
      const volumes = objectsOf(state.artifact)
        .map((v) => v.key)
        .join(', ');
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
  onFinished?.(file);
}
