// The public part of an encrypted snapshot's commit record: what prune, `snapshots` and retention need without a key, and no name of a file, directory, database or artifact (docs/FORMAT.md §8).

import { createHash } from 'node:crypto';
import type { ArtifactRecord, CommitRecord } from '../format/types.js';

/** The stored name of artifact number `i` (from 0) of an encrypted snapshot, in its object keys and public record: `a1`, `a2`… */
export function sealedArtifactName(i: number): string {
  return `a${i + 1}`;
}

/** One artifact's public part: its objects, sizes and counts; its name, source, database details and warnings are sealed. */
function publicArtifact(artifact: ArtifactRecord, i: number): ArtifactRecord {
  const shown: ArtifactRecord = {
    name: sealedArtifactName(i),
    kind: artifact.kind,
    source: '',
    volumes: artifact.volumes,
    index: artifact.index,
    bytesRead: artifact.bytesRead,
    tarBytes: artifact.tarBytes,
    storedBytes: artifact.storedBytes,
    frameCount: artifact.frameCount,
    entryCount: artifact.entryCount,
    warnings: [],
    warningCount: artifact.warningCount,
  };
  if (artifact.references) shown.references = artifact.references;
  if (artifact.recipe) shown.recipe = artifact.recipe;
  if (artifact.parent !== undefined) shown.parent = artifact.parent;
  if (artifact.newFrames !== undefined) shown.newFrames = artifact.newFrames;
  if (artifact.reusedFrames !== undefined) shown.reusedFrames = artifact.reusedFrames;
  if (artifact.reusedBytes !== undefined) shown.reusedBytes = artifact.reusedBytes;
  if (artifact.notStored !== undefined) shown.notStored = artifact.notStored;
  return shown;
}

/**
 * The public part of a commit record, built from an allow-list so that a field added later is
 * sealed unless it is added here: ids, host, tags, times, versions, the encryption fingerprint,
 * and per artifact its kind, object keys (which carry no names), sizes and counts. Pure.
 */
export function publicRecord(record: CommitRecord): CommitRecord {
  const shown: CommitRecord = {
    format: record.format,
    version: record.version,
    id: record.id,
    host: record.host,
    tags: record.tags,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    cassetteVersion: record.cassetteVersion,
    compressionLevel: record.compressionLevel,
    artifacts: record.artifacts.map(publicArtifact),
  };
  if (record.encryption) shown.encryption = record.encryption;
  return shown;
}

/** What the metadata cache keys a sealed record's plaintext by: the sealed text's digest. */
export function sealedDigest(sealed: string): string {
  return createHash('sha256').update(sealed).digest('hex');
}
