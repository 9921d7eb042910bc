// Rewrites the tags of committed snapshots: their commit records, whole (both parts of an encrypted one), every other member as it was.

import { CassetteError } from '../errors.js';
import { EncryptedStore } from '../crypto/encrypted-store.js';
import { identityToRecipient, recipientsFingerprint, type Keys } from '../crypto/keys.js';
import { MetadataCache } from '../crypto/metadata-cache.js';
import { commitKey, parseCommitRecord, resolveSnapshot } from '../repository.js';
import type { SnapshotFilter } from '../snapshot-filter.js';
import type { ObjectStore } from '../store/object-store.js';
import { holdSnapshots } from './hold.js';

/** How the tags change: `set` replaces them; otherwise `remove` goes, then `add` is appended (each tag once, order kept). */
export type TagChange = { set: readonly string[] } | { add?: readonly string[]; remove?: readonly string[] };

export interface RetagOptions {
  /** The plain store (not an EncryptedStore): the stored records are read and written as they are. */
  store: ObjectStore;
  refs: readonly string[];
  filter?: SnapshotFilter;
  change: TagChange;
  /**
   * Keys for encrypted snapshots: an identity (or the metadata cache of the host that wrote it)
   * opens the sealed record; its recipients are those given and those of the identities, and must
   * make up the set the snapshot is encrypted to.
   */
  keys?: Keys;
  /** Report, write nothing. */
  dryRun?: boolean;
}

export interface RetaggedSnapshot {
  id: string;
  before: string[];
  after: string[];
  /** False when the tags were already so: the record is not rewritten. */
  changed: boolean;
  encrypted: boolean;
}

/** The tags after `change`. Pure. */
export function applyTagChange(tags: readonly string[], change: TagChange): string[] {
  if ('set' in change) return [...new Set(change.set)];
  const remove = new Set(change.remove ?? []);
  return [...new Set([...tags.filter((t) => !remove.has(t)), ...(change.add ?? [])])];
}

/** Refuses a tag that is empty, has a comma (`--tag a,b` filters could never select it) or a control character. */
export function checkTag(tag: string): string {
  if (tag === '' || tag.includes(',') || /[\x00-\x1f\x7f]/.test(tag))
    throw new CassetteError('E_USAGE', `Expected a tag without commas or control characters, got ${JSON.stringify(tag)}`);
  return tag;
}

/**
 * Rewrite the tags of the snapshots `refs` name. Safety:
 * - The new record replaces the old one with one PUT of the same key, which is atomic on every
 *   store (S3 replaces an object whole; a local store writes a temporary file and renames it):
 *   a failure leaves the old record or the new one, both complete. Running it again finishes it.
 * - Only `tags` changes: the record is parsed as plain JSON and written back with every other
 *   member as it was (members this version does not know included), formatted as a backup writes it.
 * - An encrypted snapshot (FORMAT.md §8) has its tags in the public part and in the sealed
 *   record: both are rewritten, the sealed one re-sealed to the same recipients. Without an
 *   identity that opens it, or without every recipient it is encrypted to, it is refused (E_KEY)
 *   before anything is written, never left with two parts that disagree. This host's metadata
 *   cache gets the new record (other hosts' caches miss it and read it with their identities).
 * - While it runs it holds the snapshots (hold.ts): no prune or forget removes them meanwhile,
 *   so a rewritten record never brings back a snapshot whose data a prune deleted.
 */
export async function retag(options: RetagOptions): Promise<RetaggedSnapshot[]> {
  for (const tag of 'set' in options.change ? options.change.set : [...(options.change.add ?? []), ...(options.change.remove ?? [])]) checkTag(tag);
  if (options.refs.length === 0) throw new CassetteError('E_USAGE', 'tag needs at least one snapshot (an id, a unique prefix, or latest)');
  const { store } = options;
  const keys: Keys = options.keys ?? { recipients: [], identities: [] };
  // Refs are resolved through a store that opens sealed records, so that --path selects encrypted snapshots too.
  const reading = keys.identities.length > 0 ? new EncryptedStore(store, { ...keys, recipients: [] }, undefined) : store;
  const ids: string[] = [];
  for (const ref of options.refs) ids.push((await resolveSnapshot(reading, ref, options.filter)).id);
  const unique = [...new Set(ids)];

  // Everything is read, opened and checked before anything is written.
  const plans = await Promise.all(unique.map((id) => planRetag(store, id, options.change, keys)));
  if (options.dryRun) return plans.map((p) => p.result);
  const hold = await holdSnapshots(store, unique);
  try {
    for (const plan of plans) {
      if (!plan.result.changed) continue;
      // Read again under the hold: a record deleted since (forget) stays deleted.
      const now = await store.getBuffer(commitKey(plan.result.id)).catch(() => undefined);
      if (!now?.equals(plan.stored))
        throw new CassetteError('E_SNAPSHOT_NOT_FOUND', `snapshot ${plan.result.id} changed or was removed while it was being tagged: nothing written for it`);
      await plan.write();
    }
  } finally {
    await hold.release();
  }
  return plans.map((p) => p.result);
}

interface RetagPlan {
  result: RetaggedSnapshot;
  /** The record's stored bytes as read. */
  stored: Buffer;
  write(): Promise<void>;
}

async function planRetag(store: ObjectStore, id: string, change: TagChange, keys: Keys): Promise<RetagPlan> {
  const key = commitKey(id);
  const stored = await store.getBuffer(key);
  const record = parseCommitRecord(stored, key);
  const after = applyTagChange(record.tags, change);
  const changed = after.length !== record.tags.length || after.some((t, i) => t !== record.tags[i]);
  const result: RetaggedSnapshot = { id, before: [...record.tags], after, changed, encrypted: record.sealed !== undefined };
  if (record.sealed === undefined) {
    const raw = JSON.parse(stored.toString('utf8')) as Record<string, unknown>;
    return { result, stored, write: async () => void (await store.put(key, serialize({ ...raw, tags: after }))) };
  }
  const fingerprint = record.encryption?.recipients;
  if (!fingerprint) throw new CassetteError('E_FORMAT', `commit record ${key} is sealed but names no recipients' fingerprint`);
  const recipients = await recipientSet(keys, fingerprint);
  if (!recipients)
    throw new CassetteError(
      'E_KEY',
      `snapshot ${id} is encrypted to the key set ${fingerprint}, and the keys given do not make it up: tagging re-seals its record to the same recipients; give an identity of each (--identity, the passphrase) or the missing public keys (--encrypt-to, --encrypt-to-file)`,
    );
  const cache = MetadataCache.forRepository(store.url, fingerprint);
  const sealing = new EncryptedStore(store, { ...keys, recipients }, fingerprint, cache);
  const opened = await sealing.getBuffer(key);
  const plain = JSON.parse(opened.toString('utf8')) as Record<string, unknown>;
  if (plain.sealed !== undefined)
    throw new CassetteError(
      'E_KEY',
      `snapshot ${id} is encrypted and no key given opens its sealed record: pass --identity FILE, set CASSETTE_IDENTITY=FILE, or give the passphrase (--passphrase-file FILE or CASSETTE_PASSPHRASE)`,
    );
  const full = parseCommitRecord(opened, key);
  if (full.id !== id) throw new CassetteError('E_INTEGRITY', `the sealed part of ${key} names snapshot ${full.id}`);
  return { result, stored, write: async () => void (await sealing.put(key, serialize({ ...plain, tags: after }))) };
}

/** A record as a backup writes it (backup.ts). */
function serialize(record: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify(record, null, 2) + '\n');
}

/**
 * The recipients whose fingerprint is `fingerprint`, among those given and those of the
 * identities; undefined when no subset of them has it (a recipient is missing).
 */
async function recipientSet(keys: Keys, fingerprint: string): Promise<string[] | undefined> {
  const candidates = [...new Set([...keys.recipients, ...(await Promise.all(keys.identities.map(identityToRecipient)))])];
  // Key sets are small (a few recipients): every subset is tried, up to 2^12 of them.
  if (candidates.length > 12) return recipientsFingerprint(candidates) === fingerprint ? candidates : undefined;
  for (let mask = 1; mask < 1 << candidates.length; mask++) {
    const subset = candidates.filter((_, i) => mask & (1 << i));
    if (recipientsFingerprint(subset) === fingerprint) return subset;
  }
  return undefined;
}
