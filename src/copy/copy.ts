// Copies snapshots to another repository: every object a snapshot names (its own and those it references), server-side where the stores allow it, streamed otherwise; the commit record last.

import os from 'node:os';
import pLimit from 'p-limit';
import { BackupLease } from '../backup/lease.js';
import { commit } from '../backup/commit.js';
import { planPartSize, uploadQueueSize } from '../backup/part-size.js';
import { PASSPHRASE_KEY_KEY } from '../crypto/keys.js';
import { readRepositoryRecord, REPOSITORY_RECORD_KEY, type RepositoryRecord } from '../crypto/repository-encryption.js';
import { CassetteError, isCassetteError } from '../errors.js';
import type { CommitRecord } from '../format/types.js';
import { commitKey, compareSnapshots, parseCommitRecord, resolveSnapshot, SNAPSHOTS_PREFIX, snapshotIdOfKey } from '../repository.js';
import type { SnapshotFilter } from '../snapshot-filter.js';
import type { ObjectStore } from '../store/object-store.js';

export interface CopyOptions {
  /** Both plain stores (not EncryptedStore): objects are copied as stored. */
  source: ObjectStore;
  target: ObjectStore;
  /** Snapshot references in the source: ids, unique prefixes, `latest` (the newest `filter` selects). */
  refs: readonly string[];
  filter?: SnapshotFilter;
  /** Objects copied at once. Default 4. */
  concurrency?: number;
  /** Report what would be copied; write nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Called after each object is in the target (copied or found there). */
  onObject?: (event: { snapshot: string; key: string; bytes: number; how: CopyHow }) => void;
}

/** How an object got into the target: server-side (no byte through this process), streamed through it, or already there. */
export type CopyHow = 'server-side' | 'streamed' | 'present';

export interface CopiedSnapshot {
  id: string;
  /** Objects it names (own and referenced), and their bytes. */
  objects: number;
  bytes: number;
}

export interface CopyReport {
  source: string;
  target: string;
  copied: CopiedSnapshot[];
  /** Snapshots the target already has (a commit record with the same id): nothing is written for them. */
  skipped: Array<{ id: string; reason: string }>;
  /** Objects and bytes per way they got there, over the copied snapshots. */
  serverSide: { objects: number; bytes: number };
  streamed: { objects: number; bytes: number };
  present: { objects: number; bytes: number };
  /** The target was empty and is now marked encrypted like the source (repository.json, and its passphrase key when it has one). */
  markedEncrypted: boolean;
  dryRun: boolean;
}

/** What the encryption of the source and target repositories allows, and what must be written to the target first. */
export interface EncryptionPlan {
  /** Write the target's repository.json (a copy of the source's) and, when the source has one, its passphrase key. */
  markTarget: boolean;
}

/**
 * Whether snapshots can be copied as stored (docs/FORMAT.md §8: an encrypted snapshot's objects
 * and sealed record are readable with the keys it was encrypted to, wherever they lie). Pure.
 * - Unencrypted snapshots never go into an encrypted repository (they would sit there in plain
 *   text, unnoticed), and encrypted ones never into one with unencrypted snapshots (mixed).
 * - Encrypted snapshots into an empty repository: it is marked encrypted like the source.
 * - Passphrase mode: the source's snapshots are encrypted to its passphrase key, so the target
 *   must have the same one (or none yet and be empty: it is copied).
 */
export function planEncryption(input: {
  sourceRecord: RepositoryRecord | undefined;
  targetRecord: RepositoryRecord | undefined;
  targetHasSnapshots: boolean;
  /** The source's and target's keys/passphrase.age, when they have one. */
  sourcePassphraseKey: Buffer | undefined;
  targetPassphraseKey: Buffer | undefined;
  encrypted: readonly string[];
  plain: readonly string[];
  target: string;
}): EncryptionPlan {
  const targetEncrypted = !!input.targetRecord?.encryption;
  if (input.encrypted.length > 0 && input.plain.length > 0)
    throw new CassetteError(
      'E_USAGE',
      `snapshots ${input.encrypted[0]!} (encrypted) and ${input.plain[0]!} (not encrypted) cannot go into one repository as they are: copy them in two runs, into different repositories`,
    );
  if (input.plain.length > 0) {
    if (targetEncrypted)
      throw new CassetteError(
        'E_USAGE',
        `${input.target} is an encrypted repository and snapshot ${input.plain[0]!} is not encrypted: copied as it is stored it would lie there in plain text; copy it into an unencrypted repository`,
      );
    return { markTarget: false };
  }
  if (input.encrypted.length === 0) return { markTarget: false };
  if (!targetEncrypted) {
    if (input.targetHasSnapshots)
      throw new CassetteError(
        'E_USAGE',
        `snapshot ${input.encrypted[0]!} is encrypted and ${input.target} holds unencrypted snapshots: copy it into an empty or an encrypted repository`,
      );
    if (input.targetPassphraseKey && !input.sourcePassphraseKey?.equals(input.targetPassphraseKey))
      throw new CassetteError('E_USAGE', `${input.target} has another passphrase key (${PASSPHRASE_KEY_KEY}) than the source: the copied snapshots could not be opened there`);
    return { markTarget: true };
  }
  if (input.sourcePassphraseKey && !input.targetPassphraseKey?.equals(input.sourcePassphraseKey))
    throw new CassetteError(
      'E_USAGE',
      `the source repository uses a passphrase key (${PASSPHRASE_KEY_KEY}) that ${input.target} ${input.targetPassphraseKey ? 'does not share (it has its own)' : 'does not have'}: its snapshots could not be opened there with that repository's passphrase; copy into an empty repository, which gets the source's key`,
    );
  return { markTarget: false };
}

async function readOptional(store: Pick<ObjectStore, 'getBuffer'>, key: string): Promise<Buffer | undefined> {
  try {
    return await store.getBuffer(key);
  } catch (error) {
    if (isCassetteError(error, 'E_NOT_FOUND')) return undefined;
    throw error;
  }
}

/** The objects a snapshot needs in the target: its own volumes, indexes and recipes, and the objects of earlier snapshots it references, with their stored sizes. */
function objectsOf(record: CommitRecord): Map<string, number> {
  const objects = new Map<string, number>();
  for (const artifact of record.artifacts) {
    for (const volume of artifact.volumes) objects.set(volume.key, volume.size);
    objects.set(artifact.index.key, artifact.index.size);
    if (artifact.recipe) objects.set(artifact.recipe.key, artifact.recipe.size);
    for (const reference of artifact.references ?? []) objects.set(reference.key, reference.size);
  }
  return objects;
}

/**
 * Copy snapshots. What holds:
 * - The commit record is written last, after a check found every object it names in the
 *   target with its recorded size, and with a lease on the snapshot's id in the target (naming
 *   the snapshots whose objects it references as parents), so that a prune of the target leaves
 *   the copied data alone meanwhile. An interrupted copy leaves no commit record: its objects are
 *   incomplete data that a prune of the target removes, or that the next copy of the same
 *   snapshot finds there and does not copy again.
 * - An object already in the target with the recorded size is not copied again (keys are unique
 *   to their snapshot, and stores make objects visible whole).
 * - Objects go server-side when the target store can copy from the source (ObjectStore.copy);
 *   otherwise they are streamed: memory is the upload's parts in flight, at most about
 *   DEFAULTS.uploadMemoryBudget over `concurrency` objects, never a whole object.
 * - Snapshots are copied oldest first, so a parent is in the target before its children.
 */
export async function copySnapshots(options: CopyOptions): Promise<CopyReport> {
  const { source, target } = options;
  if (options.refs.length === 0) throw new CassetteError('E_USAGE', 'copy needs at least one snapshot (an id, a unique prefix, or latest)');
  const records = new Map<string, CommitRecord>();
  for (const ref of options.refs) {
    const record = await resolveSnapshot(source, ref, options.filter);
    records.set(record.id, record);
  }
  const ordered = [...records.values()].sort(compareSnapshots);
  const report: CopyReport = {
    source: source.url,
    target: target.url,
    copied: [],
    skipped: [],
    serverSide: { objects: 0, bytes: 0 },
    streamed: { objects: 0, bytes: 0 },
    present: { objects: 0, bytes: 0 },
    markedEncrypted: false,
    dryRun: !!options.dryRun,
  };
  const toCopy: CommitRecord[] = [];
  for (const record of ordered) {
    if (await target.head(commitKey(record.id))) report.skipped.push({ id: record.id, reason: 'the target has it' });
    else toCopy.push(record);
  }
  if (toCopy.length === 0) return report;

  const isEncrypted = (r: CommitRecord): boolean => r.sealed !== undefined || r.encryption !== undefined;
  const [sourceRecord, targetRecord, sourcePassphraseKey, targetPassphraseKey] = await Promise.all([
    readRepositoryRecord(source),
    readRepositoryRecord(target),
    readOptional(source, PASSPHRASE_KEY_KEY),
    readOptional(target, PASSPHRASE_KEY_KEY),
  ]);
  let targetHasSnapshots = false;
  for await (const object of target.list(SNAPSHOTS_PREFIX)) {
    if (object.key.endsWith('.json')) {
      targetHasSnapshots = true;
      break;
    }
  }
  const plan = planEncryption({
    sourceRecord,
    targetRecord,
    targetHasSnapshots,
    sourcePassphraseKey,
    targetPassphraseKey,
    encrypted: toCopy.filter(isEncrypted).map((r) => r.id),
    plain: toCopy.filter((r) => !isEncrypted(r)).map((r) => r.id),
    target: target.url,
  });
  if (plan.markTarget && !options.dryRun) {
    // Before any snapshot: a backup into the target from now on is refused without keys, as in the source.
    if (sourcePassphraseKey && !targetPassphraseKey) await target.put(PASSPHRASE_KEY_KEY, sourcePassphraseKey);
    const marked: RepositoryRecord = sourceRecord?.encryption
      ? sourceRecord
      : { format: 'cassette-repository', version: 1, encryption: { scheme: 'age', since: new Date().toISOString() } };
    await target.put(REPOSITORY_RECORD_KEY, Buffer.from(JSON.stringify(marked, null, 2) + '\n'));
    report.markedEncrypted = true;
  }

  const concurrency = options.concurrency ?? 4;
  for (const record of toCopy) {
    const objects = objectsOf(record);
    const bytes = [...objects.values()].reduce((sum, size) => sum + size, 0);
    if (options.dryRun) {
      report.copied.push({ id: record.id, objects: objects.size, bytes });
      continue;
    }
    // The record as stored (an encrypted one with its sealed part), byte for byte.
    const stored = await source.getBuffer(commitKey(record.id));
    parseCommitRecord(stored, commitKey(record.id));
    const parents = [...new Set([...objects.keys()].map(snapshotIdOfKey).filter((id): id is string => id !== undefined && id !== record.id))];
    const lease = await BackupLease.acquire({ store: target, id: record.id, host: os.hostname(), parents, signal: options.signal });
    try {
      await copyObjects(source, target, objects, concurrency, options.signal, (key, size, how) => {
        report[how === 'server-side' ? 'serverSide' : how].objects++;
        report[how === 'server-side' ? 'serverSide' : how].bytes += size;
        options.onObject?.({ snapshot: record.id, key, bytes: size, how });
      });
      await checkCopied(target, objects);
      await commit(target, record.id, stored);
    } catch (error) {
      if (isCassetteError(error) && error.code !== 'E_ABORTED')
        error.message = `copy of snapshot ${record.id} to ${target.url} stopped, nothing committed there: ${error.message} (copy it again to finish: the objects already copied are kept and not copied twice; a prune of the target removes them otherwise)`;
      throw error;
    } finally {
      await lease.release();
    }
    report.copied.push({ id: record.id, objects: objects.size, bytes });
  }
  return report;
}

/**
 * Every object into the target, `concurrency` at once. The first failure stops the others (queued
 * ones return at once, running ones are aborted) and is thrown once all have settled, so nothing
 * is still writing when the caller goes on.
 */
async function copyObjects(
  source: ObjectStore,
  target: ObjectStore,
  objects: ReadonlyMap<string, number>,
  concurrency: number,
  signal: AbortSignal | undefined,
  done: (key: string, size: number, how: CopyHow) => void,
): Promise<void> {
  const controller = new AbortController();
  const stop = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal;
  const limit = pLimit(concurrency);
  let failure: { error: unknown } | undefined;
  await Promise.allSettled(
    [...objects].map(([key, size]) =>
      limit(async () => {
        if (failure) return;
        try {
          done(key, size, await copyObject(source, target, key, size, concurrency, stop));
        } catch (error) {
          failure ??= { error };
          controller.abort(error);
        }
      }),
    ),
  );
  if (failure) throw failure.error;
}

/** Every object is in the target with its recorded size (a HEAD each): the check before the commit. */
async function checkCopied(target: Pick<ObjectStore, 'head'>, objects: ReadonlyMap<string, number>): Promise<void> {
  const limit = pLimit(8);
  const problems = (
    await Promise.all(
      [...objects].map(([key, size]) =>
        limit(async () => {
          const found = (await target.head(key))?.size;
          return found === size ? undefined : found === undefined ? `${key} is missing` : `${key} has ${found} bytes, not ${size}`;
        }),
      ),
    )
  ).filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new CassetteError('E_STORAGE', `objects are not as copied (${problems.join('; ')}); a prune of the target may have removed them`);
}

/** One object into the target: found there with its size, copied server-side, or streamed. */
async function copyObject(source: ObjectStore, target: ObjectStore, key: string, size: number, concurrency: number, signal?: AbortSignal): Promise<CopyHow> {
  if ((await target.head(key))?.size === size) return 'present';
  if (target.copy && (await target.copy(key, { store: source, key, size }, { signal }))) return 'server-side';
  const body = await source.get(key, { signal });
  const partSize = planPartSize(size);
  const stored = await target.put(key, body, { partSize, queueSize: uploadQueueSize(partSize, concurrency), signal });
  if (stored.size !== size) throw new CassetteError('E_INTEGRITY', `${key} in ${source.url} has ${stored.size} bytes, not the ${size} its snapshot records`);
  return 'streamed';
}
