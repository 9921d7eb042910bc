// The end of a backup: check that every object the commit record names is stored, write the record (reading it back when its answer is lost), or remove what a failed backup stored.

import { CassetteError, isCassetteError, messageOf } from '../errors.js';
import type { ArtifactRecord } from '../format/types.js';
import { commitKey, dataPrefix } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';

/**
 * Before the commit: every volume and index the record names is in the store with its size —
 * one LIST of data/<id>/, and a HEAD for what the listing lacks (a store whose listings lag).
 * A prune that judged this backup dead (its lease expired: a suspended host, a store outage)
 * may have removed some; committing then would give a snapshot that cannot be restored.
 */
export async function checkStored(store: Pick<ObjectStore, 'list' | 'head' | 'url'>, id: string, artifacts: readonly ArtifactRecord[]): Promise<void> {
  const listed = new Map<string, number>();
  for await (const object of store.list(dataPrefix(id))) listed.set(object.key, object.size);
  const problems: string[] = [];
  const own = artifacts.flatMap((a) => [...a.volumes, a.index, ...(a.recipe ? [a.recipe] : [])]);
  for (const { key, size } of own) {
    const found = listed.get(key) ?? (await store.head(key))?.size;
    if (found === undefined) problems.push(`${key} is missing`);
    else if (found !== size) problems.push(`${key} has ${found} bytes, not ${size}`);
  }
  // Objects of earlier snapshots that frames are read from: a prune may have removed their snapshot since this backup chose it as its parent.
  const referenced = new Map<string, number>();
  for (const artifact of artifacts) for (const reference of artifact.references ?? []) referenced.set(reference.key, reference.size);
  for (const [key, size] of referenced) {
    const found = (await store.head(key))?.size;
    if (found === undefined) problems.push(`${key} (stored by an earlier snapshot, and reused) is missing`);
    else if (found !== size) problems.push(`${key} (stored by an earlier snapshot, and reused) has ${found} bytes, not ${size}`);
  }
  if (problems.length > 0) {
    throw new CassetteError(
      'E_STORAGE',
      `snapshot ${id} not committed: ${problems.length} of the objects it needs ${problems.length === 1 ? 'is' : 'are'} not as stored in ${store.url} (${problems.join('; ')}); a prune may have removed them (one that ran while this backup's lease was not being refreshed, one that removed the parent snapshot, or a Cassette version without leases); nothing was committed and the rest of its data was removed`,
    );
  }
}

/** The commit record's PUT failed and reading it back could not tell whether it was stored. */
export class CommitOutcomeUnknown extends CassetteError {
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
export async function commit(store: Pick<ObjectStore, 'put' | 'getBuffer'>, id: string, body: Buffer): Promise<'stored' | 'read back'> {
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
      throw new CommitOutcomeUnknown(
        `${error.message}; reading ${key} back to learn whether it was stored failed too (${messageOf(readError)}): snapshot ${id} may or may not be committed (\`cassette snapshots\` lists it if it is); its data is kept, and a prune removes it after the grace period if it is not`,
        error,
      );
    }
    if (stored.equals(body)) return 'read back';
    throw new CommitOutcomeUnknown(`${error.message}; ${key} was read back and holds other bytes than this backup wrote: its data is kept`, error);
  }
}

/** Best effort: remove what a failed backup already stored (prune also removes such leftovers later). */
export async function removeSnapshotData(store: ObjectStore, id: string): Promise<void> {
  try {
    const keys: string[] = [];
    for await (const object of store.list(dataPrefix(id))) keys.push(object.key);
    await store.delete(keys);
  } catch {
    // Left for prune.
  }
}
