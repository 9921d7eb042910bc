// What an S3 store is asked to do with the objects it keeps: server-side encryption (SSE-S3, SSE-KMS, SSE-C) and storage classes, checked and turned into request parameters; and what a refused request says about them.

import { createHash } from 'node:crypto';
import { CassetteError } from '../errors.js';

/**
 * How the store encrypts what it stores: with keys it manages (SSE-S3, `AES256`), with a KMS key
 * (SSE-KMS, `aws:kms`, with the bucket's or the account's default key when no `keyId` is given),
 * or with a key the client sends with every request (SSE-C, `customer`). One way per object: S3
 * refuses requests that ask for two.
 */
export type ServerSideEncryption = { kind: 'AES256' } | { kind: 'aws:kms'; keyId?: string } | CustomerKey;

/**
 * SSE-C: a 256-bit AES key sent with every write and every read of the objects. WARNING: the store
 * does not keep the key (only a salted hash of it), so an object stored with it can be read with
 * that key only; lose the key and the backups are lost.
 */
export interface CustomerKey {
  kind: 'customer';
  /** Exactly 32 bytes. */
  key: Buffer;
  /** Where the key came from, for messages: `/etc/cassette/sse-c.key (--sse-c-key-file)`. */
  source: string;
}

/**
 * Storage classes for what a backup writes (S3 `x-amz-storage-class`); none given: the bucket's
 * default (STANDARD on AWS).
 */
export interface StorageClasses {
  /** For archive volumes (`data/…/*.tar.zst`), the bulk of a repository. */
  archives?: string;
  /** For everything else: indexes, recipes, commit records and leases. */
  metadata?: string;
}

/** The storage classes S3 knows (the SDK's StorageClass values). */
export const STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER',
  'DEEP_ARCHIVE',
  'OUTPOSTS',
  'GLACIER_IR',
  'EXPRESS_ONEZONE',
  'SNOW',
] as const;

export type StorageClass = (typeof STORAGE_CLASSES)[number];

/** Classes whose objects must be restored (a RestoreObject request, minutes to hours) before a GET can read them. */
const ARCHIVAL: readonly string[] = ['GLACIER', 'DEEP_ARCHIVE'];

/**
 * The storage class `value` names (case-insensitive), for the flag `flag` (in messages). Refuses
 * names S3 does not know, and GLACIER and DEEP_ARCHIVE: their objects cannot be read until a
 * restore request has brought them back, so restore, verify and incremental backups (which read
 * earlier indexes and archives) would fail.
 */
export function parseStorageClass(value: string, flag: string): StorageClass {
  const name = value.trim().toUpperCase();
  const known = STORAGE_CLASSES.find((c) => c === name);
  if (known === undefined) {
    throw new CassetteError('E_USAGE', `Expected \`${flag}\` to be an S3 storage class (${STORAGE_CLASSES.filter((c) => !ARCHIVAL.includes(c)).join(', ')}), got "${value}"`);
  }
  if (ARCHIVAL.includes(known)) {
    throw new CassetteError(
      'E_USAGE',
      `${flag} ${known} is refused: objects in ${known} cannot be read until a restore request brings them back (hours), so restore, verify and incremental backups would fail; GLACIER_IR (Glacier Instant Retrieval) is read like STANDARD_IA`,
    );
  }
  return known;
}

/** Whether `key` (relative to the repository) is an archive volume, `data/<id>/<artifact>[.volN].tar.zst`, which gets `archives` storage. */
export function isArchiveKey(key: string): boolean {
  return key.startsWith('data/') && key.endsWith('.tar.zst');
}

/** The storage class for the object at `key` (relative to the repository), if one was chosen. */
export function storageClassFor(classes: StorageClasses | undefined, key: string): string | undefined {
  return isArchiveKey(key) ? classes?.archives : classes?.metadata;
}

/** Throws E_USAGE unless `encryption` is well-formed; returns it. */
export function checkEncryption(encryption: ServerSideEncryption | undefined): ServerSideEncryption | undefined {
  if (encryption === undefined) return undefined;
  switch (encryption.kind) {
    case 'AES256':
      return encryption;
    case 'aws:kms':
      if (encryption.keyId !== undefined && encryption.keyId.trim() === '')
        throw new CassetteError('E_USAGE', 'the SSE-KMS key id is empty: give a key id, ARN or alias, or none for the default key');
      return encryption;
    case 'customer':
      if (encryption.key.length !== 32) {
        throw new CassetteError('E_USAGE', `the SSE-C key from ${encryption.source} has ${encryption.key.length} bytes; SSE-C takes a 256-bit AES key, 32 bytes`);
      }
      return encryption;
    default: {
      const kind = (encryption as { kind: unknown }).kind;
      throw new CassetteError('E_USAGE', `unknown server-side encryption ${JSON.stringify(kind)}: expected AES256, aws:kms or an SSE-C key`);
    }
  }
}

/** Throws E_USAGE unless both classes are storage classes S3 knows and may be read at once; returns them upper-cased. */
export function checkStorageClasses(classes: StorageClasses | undefined): StorageClasses | undefined {
  if (classes === undefined) return undefined;
  return {
    ...(classes.archives === undefined ? {} : { archives: parseStorageClass(classes.archives, 'the storage class of archives') }),
    ...(classes.metadata === undefined ? {} : { metadata: parseStorageClass(classes.metadata, 'the storage class of indexes and commit records') }),
  };
}

/** The SSE-C request parameters (S3 needs them on every request that writes or reads the object's bytes or metadata). */
export interface CustomerKeyParameters {
  SSECustomerAlgorithm?: 'AES256';
  SSECustomerKey?: string;
  SSECustomerKeyMD5?: string;
}

/** The parameters of a request that creates an object: PutObject, CreateMultipartUpload. */
export interface WriteParameters extends CustomerKeyParameters {
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
  StorageClass?: StorageClass;
}

/** The SSE-C parameters for UploadPart, CompleteMultipartUpload, GetObject and HeadObject; none without SSE-C. */
export function customerKeyParameters(encryption: ServerSideEncryption | undefined): CustomerKeyParameters {
  if (encryption?.kind !== 'customer') return {};
  return {
    SSECustomerAlgorithm: 'AES256',
    SSECustomerKey: encryption.key.toString('base64'),
    SSECustomerKeyMD5: createHash('md5').update(encryption.key).digest('base64'),
  };
}

/** The parameters of a request that creates the object `key` (relative to the repository). */
export function writeParameters(encryption: ServerSideEncryption | undefined, classes: StorageClasses | undefined, key: string): WriteParameters {
  const storageClass = storageClassFor(classes, key) as StorageClass | undefined;
  return {
    ...(encryption?.kind === 'AES256' ? { ServerSideEncryption: 'AES256' } : {}),
    ...(encryption?.kind === 'aws:kms' ? { ServerSideEncryption: 'aws:kms', ...(encryption.keyId === undefined ? {} : { SSEKMSKeyId: encryption.keyId }) } : {}),
    ...customerKeyParameters(encryption),
    ...(storageClass === undefined ? {} : { StorageClass: storageClass }),
  };
}

/**
 * A note for the error of a refused write of `key` that asked for a storage class or encryption,
 * which a store refuses when it does not offer the class or is not set up for the encryption:
 * " (it asked for storage class GLACIER_IR, which a store refuses when it does not offer it)".
 * Empty when the write asked for neither.
 */
export function refusedWriteNote(encryption: ServerSideEncryption | undefined, classes: StorageClasses | undefined, key: string): string {
  const storageClass = storageClassFor(classes, key);
  const sse =
    encryption?.kind === 'AES256'
      ? 'SSE AES256'
      : encryption?.kind === 'aws:kms'
        ? `SSE aws:kms with ${encryption.keyId === undefined ? 'the default key' : `key ${encryption.keyId}`}`
        : encryption?.kind === 'customer'
          ? `SSE-C with the key of ${encryption.source}`
          : undefined;
  const asked = [...(storageClass === undefined ? [] : [`storage class ${storageClass}`]), ...(sse === undefined ? [] : [sse])];
  if (asked.length === 0) return '';
  const reasons = [...(storageClass === undefined ? [] : ['a storage class it does not offer']), ...(sse === undefined ? [] : ['encryption it is not set up for'])];
  return ` (it asked for ${asked.join(' and ')}; a store refuses ${reasons.join(' and ')})`;
}

/** A refused read as S3 reports it. */
export interface RefusedRead {
  operation: 'GET' | 'HEAD';
  /** HTTP status. */
  status: number | undefined;
  /** S3 error code (the SDK error's name); HEAD answers have no body, so no code. */
  code: string | undefined;
  message: string;
}

/** The option that gives an SSE-C key, for messages. */
const KEY_OPTION = '--sse-c-key-file FILE (or CASSETTE_SSE_C_KEY_FILE)';

/**
 * What a refused GET or HEAD says about SSE-C, if anything: an explanation to add to the error,
 * and whether it certainly is about the key (E_USAGE: the command line lacks the right key) or
 * may be (a 403 or a HEAD's bare 400 could also be permissions or another fault). Answers seen:
 *
 * - no key for an SSE-C object: AWS 400 InvalidRequest "The object was stored using a form of
 *   Server Side Encryption. The correct parameters must be provided to retrieve the object.";
 *   Ceph RGW 400 InvalidArgument "Requests specifying Server Side Encryption with Customer
 *   provided keys must provide a valid encryption algorithm."
 * - another key than the object's: AWS 403 AccessDenied; RGW 400 InvalidArgument "The calculated
 *   MD5 hash of the key did not match the hash that was provided."
 * - a key for an object stored without SSE-C: AWS 400 InvalidRequest "The encryption parameters
 *   are not applicable to this object."; RGW ignores the key.
 * - HEAD: the same statuses without a body (no code, no message).
 */
export function customerKeyProblem(refused: RefusedRead, key: CustomerKey | undefined): { certain: boolean; explanation: string } | undefined {
  const { status, message } = refused;
  if (status !== 400 && status !== 403) return undefined;
  const bare = refused.operation === 'HEAD' || refused.code === undefined || refused.code === 'Unknown';
  if (key === undefined) {
    if (status === 400 && /server side encryption|customer provided key/i.test(message)) {
      return { certain: true, explanation: `the object is stored with SSE-C (a key of your own) and can only be read with that key: give it with ${KEY_OPTION}` };
    }
    if (status === 400 && bare) return { certain: false, explanation: `if the repository is stored with SSE-C, give its key with ${KEY_OPTION}` };
    return undefined;
  }
  if (status === 400 && /md5 hash of the key did not match/i.test(message)) {
    return { certain: true, explanation: `the object is stored with another SSE-C key than the one in ${key.source}` };
  }
  if (status === 400 && /encryption parameters are not applicable/i.test(message)) {
    return {
      certain: true,
      explanation: `the object is stored without SSE-C, but an SSE-C key was given (${key.source}): leave it out for objects written without it (every object of a repository needs the same key, or none)`,
    };
  }
  if (status === 403 || bare) {
    return { certain: false, explanation: `the SSE-C key in ${key.source} may not be the one the object is stored with (or the object is stored without SSE-C)` };
  }
  return undefined;
}
