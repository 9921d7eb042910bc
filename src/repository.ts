// Repository layout (keys of commit records, archives and indexes) and reading of snapshots from a store.

import { describeFilter, isEmptyFilter, matchesFilter, type SnapshotFilter } from './snapshot-filter.js';
import pLimit from 'p-limit';
import { CassetteError, isCassetteError } from './errors.js';
import { readIndex, type IndexReader } from './format/index-file.js';
import { isSnapshotId } from './format/snapshot-id.js';
import { FORMAT_VERSION, type ArtifactRecord, type CommitRecord } from './format/types.js';
import type { ObjectStore } from './store/object-store.js';
import { decompressText } from './zstd/text.js';

export const SNAPSHOTS_PREFIX = 'snapshots/';
export const DATA_PREFIX = 'data/';
/** Leases of running backups, `locks/<id>.json` (docs/FORMAT.md §1), and prune's clock markers. */
export const LOCKS_PREFIX = 'locks/';

export function commitKey(id: string): string {
  return `${SNAPSHOTS_PREFIX}${id}.json`;
}

export function dataPrefix(id: string): string {
  return `${DATA_PREFIX}${id}/`;
}

/** The lease a running backup of snapshot `id` holds (backup/lease.ts). */
export function leaseKey(id: string): string {
  return `${LOCKS_PREFIX}${id}.json`;
}

/** Volume 0 is `<artifact>.tar.zst`; a rolled-over volume n ≥ 1 is `<artifact>.vol<n+1>.tar.zst`. */
export function volumeKey(id: string, artifact: string, volume: number): string {
  return volume === 0 ? `${dataPrefix(id)}${artifact}.tar.zst` : `${dataPrefix(id)}${artifact}.vol${volume + 1}.tar.zst`;
}

export function indexKey(id: string, artifact: string): string {
  return `${dataPrefix(id)}${artifact}.idx.zst`;
}

/** Version 2: the artifact's recipe, its frames as `<key> <first byte> <last byte>` lines in tar order (docs/FORMAT.md §6). */
export function recipeKey(id: string, artifact: string): string {
  return `${dataPrefix(id)}${artifact}.recipe`;
}

/** Every object a committed snapshot needs: its volumes, indexes and recipes, and the objects of earlier snapshots its frames are read from. */
export function objectKeysOf(record: Pick<CommitRecord, 'artifacts'>): string[] {
  return record.artifacts.flatMap((a) => [...a.volumes.map((v) => v.key), a.index.key, ...(a.recipe ? [a.recipe.key] : []), ...(a.references ?? []).map((r) => r.key)]);
}

/** Whether `key` is `<prefix><name>` with a name of safe segments (no empty, `.` or `..` segment, no control character). */
function safeKeyUnder(key: string, prefix: string): boolean {
  return (
    key.startsWith(prefix) &&
    key
      .slice(prefix.length)
      .split('/')
      .every((part) => part !== '' && part !== '.' && part !== '..') &&
    !/[\x00-\x1f\x7f]/.test(key)
  );
}

/** The snapshot id whose data prefix holds `key`, or undefined when it is not `data/<id>/<name>`. */
export function snapshotIdOfKey(key: string): string | undefined {
  if (!key.startsWith(DATA_PREFIX)) return undefined;
  const id = key.slice(DATA_PREFIX.length).split('/', 1)[0]!;
  return isSnapshotId(id) && safeKeyUnder(key, dataPrefix(id)) ? id : undefined;
}

/** Parse and check a commit record; `key` names it in errors. */
export function parseCommitRecord(bytes: Buffer, key: string): CommitRecord {
  let record: CommitRecord;
  try {
    record = JSON.parse(bytes.toString('utf8')) as CommitRecord;
  } catch (error) {
    throw new CassetteError('E_FORMAT', `commit record ${key} is not valid JSON`, { cause: error });
  }
  if (record?.format !== 'cassette-snapshot' || !Array.isArray(record.artifacts) || typeof record.id !== 'string') {
    throw new CassetteError('E_FORMAT', `commit record ${key} is not a cassette snapshot record`);
  }
  if (typeof record.version !== 'number' || record.version > FORMAT_VERSION) {
    throw new CassetteError('E_FORMAT', `commit record ${key} has format version ${String(record.version)}; this cassette reads up to ${FORMAT_VERSION}`);
  }
  const problem = unsafeCommitRecord(record, key);
  if (problem) throw new CassetteError('E_INTEGRITY', `commit record ${key} is refused: ${problem}`);
  return record;
}

/**
 * Why a parsed commit record must not be used, or undefined. A record is data from storage, and
 * restore, verify and prune act on what it names: its id must be a snapshot id and the one its key
 * `snapshots/<id>.json` says (prune removes `snapshots/<record id>.json` and that id's data), and
 * every object key must lie under `data/<id>/` with no empty, `.` or `..` segment and no control
 * character, so that a hostile record naming `../x`, `/etc/passwd` or another snapshot's objects
 * can make no command read, check or delete them. Pure.
 */
export function unsafeCommitRecord(record: Pick<CommitRecord, 'id' | 'artifacts'>, key: string): string | undefined {
  if (!isSnapshotId(record.id)) return `its id ${JSON.stringify(record.id)} is not a snapshot id`;
  if (key !== commitKey(record.id)) return `it names snapshot ${record.id}, not the one of its key`;
  const prefix = dataPrefix(record.id);
  for (const [i, artifact] of record.artifacts.entries()) {
    const name = typeof artifact?.name === 'string' ? JSON.stringify(artifact.name) : `#${i}`;
    if (!Array.isArray(artifact?.volumes)) return `artifact ${name} has no list of volumes`;
    const keys = [...artifact.volumes.map((volume) => volume?.key), artifact.index?.key, ...(artifact.recipe ? [artifact.recipe.key] : [])];
    for (const objectKey of keys) {
      if (typeof objectKey !== 'string') return `artifact ${name} has an object without a key`;
      if (!safeKeyUnder(objectKey, prefix)) return `artifact ${name} names the object ${JSON.stringify(objectKey)}, which is not a key under ${prefix}`;
    }
    if (artifact.references !== undefined && !Array.isArray(artifact.references)) return `artifact ${name} has a list of references that is not a list`;
    // A reference reads another snapshot's object: it must be one (data/<other id>/<name>), never this snapshot's.
    for (const reference of artifact.references ?? []) {
      const objectKey = reference?.key;
      if (typeof objectKey !== 'string') return `artifact ${name} has a reference without a key`;
      const owner = snapshotIdOfKey(objectKey);
      if (owner === undefined || owner === record.id)
        return `artifact ${name} references the object ${JSON.stringify(objectKey)}, which is not a key under another snapshot's data/<id>/`;
    }
  }
  return undefined;
}

export async function readCommitRecord(store: Pick<ObjectStore, 'getBuffer'>, id: string): Promise<CommitRecord> {
  const key = commitKey(id);
  return parseCommitRecord(await store.getBuffer(key), key);
}

/** Ids of committed snapshots, oldest first. Objects under snapshots/ that are not `<id>.json` are ignored. */
export async function listSnapshotIds(store: Pick<ObjectStore, 'list'>): Promise<string[]> {
  const ids: string[] = [];
  for await (const object of store.list(SNAPSHOTS_PREFIX)) {
    const name = object.key.slice(SNAPSHOTS_PREFIX.length);
    if (!name.endsWith('.json')) continue;
    const id = name.slice(0, -'.json'.length);
    if (isSnapshotId(id)) ids.push(id);
  }
  return ids.sort();
}

/** Length of the time part of an id, `YYYYMMDDTHHMMSSZ`. */
const ID_TIME_LENGTH = 16;

const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The order of snapshots (docs/FORMAT.md §1), oldest first: by the second in the id, then by
 * the commit record's `startedAt` as a time (one that does not parse ties), then by id.
 * `startedAt` is not the first key: it can be later than the id's second (the id is made
 * before the pre-backup hook runs), and `latest` must be found from the ids of the last second
 * alone.
 */
export function compareSnapshots(a: Pick<CommitRecord, 'id' | 'startedAt'>, b: Pick<CommitRecord, 'id' | 'startedAt'>): number {
  return byteOrder(a.id.slice(0, ID_TIME_LENGTH), b.id.slice(0, ID_TIME_LENGTH)) || Date.parse(a.startedAt) - Date.parse(b.startedAt) || 0 || byteOrder(a.id, b.id);
}

/** Every committed snapshot's record, oldest first (compareSnapshots). */
export async function listSnapshots(store: Pick<ObjectStore, 'list' | 'getBuffer'>): Promise<CommitRecord[]> {
  const ids = await listSnapshotIds(store);
  const limit = pLimit(8);
  const records = await Promise.all(ids.map((id) => limit(() => readCommitRecord(store, id))));
  return records.sort(compareSnapshots);
}

/**
 * Resolve a snapshot reference: a full id, a unique prefix of one, or `latest`.
 * A snapshot whose commit record is missing is never found: it is incomplete.
 * With a filter (--host, --tag, --path), `latest` is the newest snapshot it selects, and an id it does not select is refused.
 */
export async function resolveSnapshot(store: Pick<ObjectStore, 'list' | 'getBuffer'>, ref: string, filter?: SnapshotFilter): Promise<CommitRecord> {
  if (!isEmptyFilter(filter)) {
    const selected = ref === 'latest' ? (await listSnapshots(store)).filter((r) => matchesFilter(r, filter)).at(-1) : await resolveSnapshot(store, ref);
    if (!selected) throw new CassetteError('E_SNAPSHOT_NOT_FOUND', `no committed snapshot has ${describeFilter(filter!)}`);
    if (!matchesFilter(selected, filter)) throw new CassetteError('E_SNAPSHOT_NOT_FOUND', `snapshot ${selected.id} does not have ${describeFilter(filter!)}`);
    return selected;
  }
  const ids = await listSnapshotIds(store);
  let id: string | undefined;
  if (ref === 'latest') {
    const last = ids.at(-1);
    if (!last) throw new CassetteError('E_SNAPSHOT_NOT_FOUND', 'the repository has no committed snapshot yet');
    // Several snapshots started within the same second: their records say which is newest.
    const sameSecond = ids.filter((candidate) => candidate.slice(0, ID_TIME_LENGTH) === last.slice(0, ID_TIME_LENGTH));
    if (sameSecond.length === 1) return readCommitRecord(store, last);
    const records = await Promise.all(sameSecond.map((candidate) => readCommitRecord(store, candidate)));
    return records.sort(compareSnapshots).at(-1)!;
  } else {
    const matches = ids.filter((candidate) => candidate.startsWith(ref));
    if (matches.length === 0) {
      throw new CassetteError('E_SNAPSHOT_NOT_FOUND', `no committed snapshot matches "${ref}"`);
    }
    if (matches.length > 1 && !matches.includes(ref)) {
      throw new CassetteError('E_SNAPSHOT_NOT_FOUND', `"${ref}" matches ${matches.length} snapshots (${matches.slice(0, 3).join(', ')}…): give more characters`);
    }
    id = matches.includes(ref) ? ref : matches[0];
  }
  try {
    return await readCommitRecord(store, id!);
  } catch (error) {
    if (isCassetteError(error, 'E_NOT_FOUND')) {
      throw new CassetteError('E_SNAPSHOT_NOT_FOUND', `snapshot ${id} has no commit record: it is incomplete`, { cause: error });
    }
    throw error;
  }
}

/** A stored object's bytes as they arrive; a failure on the way (a dropped connection) is E_STORAGE naming the object. */
async function* streamed(body: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (error) {
    if (isCassetteError(error)) throw error;
    throw new CassetteError('E_STORAGE', `${what}: reading it from the store failed: ${(error as Error).message}`, { cause: error });
  }
}

/** Open an artifact's index for streaming. */
export async function openIndex(store: Pick<ObjectStore, 'get'>, artifact: ArtifactRecord): Promise<IndexReader> {
  const compressed = await store.get(artifact.index.key);
  const reader = await readIndex(decompressText(streamed(compressed, `index ${artifact.index.key}`), `index ${artifact.index.key}`), artifact.index.key);
  const close = reader.close.bind(reader);
  // Closing the reader must release the stored object's stream (a file handle for local stores) at once.
  reader.close = () => {
    close();
    compressed.destroy();
  };
  return reader;
}
