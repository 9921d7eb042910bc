// Whether a repository is encrypted (its `repository.json`), and the store a command uses on it: the plain store, or the encrypting one with the command's keys.

import { CassetteError, isCassetteError } from '../errors.js';
import type { CommitRecord, EncryptionRecord } from '../format/types.js';
import { SNAPSHOTS_PREFIX } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';
import { EncryptedStore } from './encrypted-store.js';
import { recipientsFingerprint, resolveKeys, type KeyFlags } from './keys.js';
import { MetadataCache } from './metadata-cache.js';

/** The repository's own record, at its root (docs/FORMAT.md §8). */
export const REPOSITORY_RECORD_KEY = 'repository.json';

export interface RepositoryRecord {
  format: 'cassette-repository';
  version: 1;
  /** Present once a snapshot was encrypted: backups without keys are refused from then on. */
  encryption?: { scheme: 'age'; since: string; /** The passphrase mode was set up: keys/passphrase.age must exist. */ passphrase?: boolean };
}

export async function readRepositoryRecord(store: Pick<ObjectStore, 'getBuffer'>): Promise<RepositoryRecord | undefined> {
  let bytes: Buffer;
  try {
    bytes = await store.getBuffer(REPOSITORY_RECORD_KEY);
  } catch (error) {
    if (isCassetteError(error, 'E_NOT_FOUND')) return undefined;
    throw error;
  }
  try {
    const record = JSON.parse(bytes.toString('utf8')) as RepositoryRecord;
    if (record?.format !== 'cassette-repository') throw new Error('not a cassette repository record');
    return record;
  } catch (error) {
    throw new CassetteError('E_FORMAT', `${REPOSITORY_RECORD_KEY} is not a cassette repository record`, { cause: error });
  }
}

/**
 * The store a reading command (restore, ls, verify, snapshots) uses: the encrypting one when the
 * repository is encrypted or identities were given (an identity opens encrypted snapshots of a
 * repository that also holds plain ones), else the plain store.
 */
export async function storeForReading(store: ObjectStore, flags: KeyFlags): Promise<ObjectStore> {
  // Identities alone need no look at repository.json (one request less for a one-file restore): the encrypting store reads plain objects as they are.
  const identitiesOnly = (flags.identity?.length || process.env.CASSETTE_IDENTITY) && flags.passphraseFile === undefined && process.env.CASSETTE_PASSPHRASE === undefined;
  const record = identitiesOnly ? undefined : await readRepositoryRecord(store);
  const keys = await resolveKeys(flags, store, { create: false, expected: record?.encryption?.passphrase });
  if (!record?.encryption && keys.identities.length === 0) return store;
  return new EncryptedStore(store, { ...keys, recipients: [] }, undefined);
}

export interface BackupEncryptionFlags extends KeyFlags {
  /** Back up into a repository of the other kind (plain into encrypted, or encrypted into one with plain snapshots). */
  allowMixedEncryption?: boolean;
}

/** The store a backup writes through, what its commit record says about encryption, and the metadata cache to trim after it. */
export interface BackupStore {
  store: ObjectStore;
  encryption?: EncryptionRecord;
  cache?: MetadataCache;
}

/**
 * The store a backup uses. With recipients (--encrypt-to, --encrypt-to-file, a passphrase) it
 * encrypts, and the repository is marked encrypted; a repository that already holds unencrypted
 * snapshots is refused unless `allowMixedEncryption`. Without recipients, an encrypted repository
 * is refused unless `allowMixedEncryption`.
 */
export async function storeForBackup(store: ObjectStore, flags: BackupEncryptionFlags): Promise<BackupStore> {
  const record = await readRepositoryRecord(store);
  const asksToEncrypt = !!(flags.encryptTo?.length || flags.encryptToFile?.length || flags.passphraseFile !== undefined || process.env.CASSETTE_PASSPHRASE !== undefined);
  // Before any key is made (the passphrase mode stores one): a repository with unencrypted snapshots is refused.
  if (asksToEncrypt && !record?.encryption && !flags.allowMixedEncryption) {
    for await (const object of store.list(SNAPSHOTS_PREFIX)) {
      if (object.key.endsWith('.json'))
        throw new CassetteError(
          'E_USAGE',
          `repository ${store.url} holds unencrypted snapshots (${object.key}…), which stay readable to anyone who can read the bucket: encrypt into a new repository, or pass --allow-mixed-encryption to add encrypted snapshots to this one`,
        );
    }
  }
  const keys = await resolveKeys(flags, store, { create: true, expected: record?.encryption?.passphrase });
  if (keys.recipients.length === 0) {
    if (record?.encryption && !flags.allowMixedEncryption) {
      throw new CassetteError(
        'E_KEY',
        `repository ${store.url} is encrypted (since ${record.encryption.since}) and this backup has no key to encrypt to: pass --encrypt-to age1…, --encrypt-to-file FILE or --passphrase-file FILE (or CASSETTE_PASSPHRASE); --allow-mixed-encryption stores this snapshot unencrypted`,
      );
    }
    return { store: record?.encryption || keys.identities.length > 0 ? new EncryptedStore(store, keys, undefined) : store };
  }
  if (!record?.encryption || (keys.createdPassphraseKey && !record.encryption.passphrase)) {
    const encryption = { ...(record?.encryption ?? { scheme: 'age' as const, since: new Date().toISOString() }), ...(keys.createdPassphraseKey ? { passphrase: true } : {}) };
    const marked: RepositoryRecord = { ...(record ?? { format: 'cassette-repository', version: 1 }), encryption };
    await store.put(REPOSITORY_RECORD_KEY, Buffer.from(JSON.stringify(marked, null, 2) + '\n'));
  }
  const fingerprint = recipientsFingerprint(keys.recipients);
  const cache = MetadataCache.forRepository(store.url, fingerprint);
  return { store: new EncryptedStore(store, keys, fingerprint, cache), encryption: { scheme: 'age', recipients: fingerprint }, cache };
}

/**
 * Throws E_KEY when `record` is still sealed: the snapshot is encrypted and no key given opened it.
 * Commands that read names or data call it before they write anything.
 */
export function requireUnsealed(record: Pick<CommitRecord, 'id' | 'sealed' | 'encryption'>, store: object): void {
  if (record.sealed === undefined) return;
  const source = store instanceof EncryptedStore ? store.encryption.identitySource : undefined;
  const recipients = record.encryption ? ` (encrypted to the key set ${record.encryption.recipients})` : '';
  if (source)
    throw new CassetteError(
      'E_KEY',
      `snapshot ${record.id} is encrypted to other keys${recipients}: the identities from ${source} do not open it; give the identity it was encrypted to (an older key after a key rotation?)`,
    );
  throw new CassetteError(
    'E_KEY',
    `snapshot ${record.id} is encrypted${recipients}: pass --identity FILE (an age identity file), set CASSETTE_IDENTITY=FILE, or give the passphrase with --passphrase-file FILE or CASSETTE_PASSPHRASE`,
  );
}
