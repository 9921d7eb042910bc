// Server-side options of S3 stores: storage class names, which class each repository key gets, the request parameters, and what refused requests are said to mean.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isCassetteError } from '../../src/errors.js';
import { commitKey, indexKey, leaseKey, recipeKey, volumeKey } from '../../src/repository.js';
import { openStore } from '../../src/store/open-store.js';
import {
  checkEncryption,
  checkStorageClasses,
  customerKeyParameters,
  customerKeyProblem,
  isArchiveKey,
  parseStorageClass,
  refusedWriteNote,
  writeParameters,
  type CustomerKey,
  type RefusedRead,
} from '../../src/store/server-side.js';
import { makeS3Store } from '../helpers/s3.js';

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

const ID = '20261130T170402Z-9d18b2';
const KEY = Buffer.alloc(32, 0xab);
const CUSTOMER: CustomerKey = { kind: 'customer', key: KEY, source: '/etc/cassette/sse-c.key (--sse-c-key-file)' };

describe('parseStorageClass', () => {
  it.each([
    ['STANDARD_IA', 'STANDARD_IA'],
    ['standard_ia', 'STANDARD_IA'],
    [' Glacier_IR ', 'GLACIER_IR'],
    ['intelligent_tiering', 'INTELLIGENT_TIERING'],
    ['ONEZONE_IA', 'ONEZONE_IA'],
    ['REDUCED_REDUNDANCY', 'REDUCED_REDUNDANCY'],
    ['EXPRESS_ONEZONE', 'EXPRESS_ONEZONE'],
    ['OUTPOSTS', 'OUTPOSTS'],
    ['SNOW', 'SNOW'],
    ['standard', 'STANDARD'],
  ])('%j is %s', (value, expected) => {
    expect(parseStorageClass(value, '--storage-class')).toBe(expected);
  });

  it.each(['STANDARD-IA', 'IA', '', 'COLD', 'GLACIER_INSTANT'])('refuses %j, listing the classes', (value) => {
    const error = thrown(() => parseStorageClass(value, '--storage-class'));
    expect(isCassetteError(error, 'E_USAGE')).toBe(true);
    expect((error as Error).message).toBe(
      `Expected \`--storage-class\` to be an S3 storage class (STANDARD, REDUCED_REDUNDANCY, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, OUTPOSTS, GLACIER_IR, EXPRESS_ONEZONE, SNOW), got "${value}"`,
    );
  });

  it.each([
    ['glacier', 'GLACIER'],
    ['DEEP_ARCHIVE', 'DEEP_ARCHIVE'],
  ])('refuses %j outright: its objects cannot be read without a restore request', (value, name) => {
    const error = thrown(() => parseStorageClass(value, '--index-storage-class'));
    expect(isCassetteError(error, 'E_USAGE')).toBe(true);
    expect((error as Error).message).toBe(
      `--index-storage-class ${name} is refused: objects in ${name} cannot be read until a restore request brings them back (hours), so restore, verify and incremental backups would fail; GLACIER_IR (Glacier Instant Retrieval) is read like STANDARD_IA`,
    );
  });
});

describe('which objects are archives', () => {
  it.each([
    [volumeKey(ID, 'etc', 0), true],
    [volumeKey(ID, 'etc', 1), true],
    [volumeKey(ID, 'pg-collage', 7), true],
    [indexKey(ID, 'etc'), false],
    [recipeKey(ID, 'etc'), false],
    [commitKey(ID), false],
    [leaseKey(ID), false],
    ['locks/prune-clock-1.json', false],
    // Not under data/: never an archive, whatever its name.
    ['snapshots/x.tar.zst', false],
  ])('%s: %s', (key, archive) => {
    expect(isArchiveKey(key)).toBe(archive);
    const parameters = writeParameters(undefined, { archives: 'STANDARD_IA', metadata: 'STANDARD' }, key);
    expect(parameters).toEqual({ StorageClass: archive ? 'STANDARD_IA' : 'STANDARD' });
  });

  it('sends no storage class for a kind of object that has none chosen', () => {
    expect(writeParameters(undefined, { archives: 'GLACIER_IR' }, indexKey(ID, 'etc'))).toEqual({});
    expect(writeParameters(undefined, { metadata: 'STANDARD' }, volumeKey(ID, 'etc', 0))).toEqual({});
    expect(writeParameters(undefined, undefined, volumeKey(ID, 'etc', 0))).toEqual({});
  });
});

describe('request parameters', () => {
  const md5 = createHash('md5').update(KEY).digest('base64');

  it.each([
    ['SSE-S3', { kind: 'AES256' } as const, { ServerSideEncryption: 'AES256' }],
    ['SSE-KMS with the default key', { kind: 'aws:kms' } as const, { ServerSideEncryption: 'aws:kms' }],
    ['SSE-KMS with a key', { kind: 'aws:kms', keyId: 'alias/backups' } as const, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'alias/backups' }],
    ['SSE-C', CUSTOMER, { SSECustomerAlgorithm: 'AES256', SSECustomerKey: KEY.toString('base64'), SSECustomerKeyMD5: md5 }],
  ])('%s on writes, with a storage class', (_name, encryption, expected) => {
    expect(writeParameters(encryption, { archives: 'GLACIER_IR' }, volumeKey(ID, 'a', 0))).toEqual({ ...expected, StorageClass: 'GLACIER_IR' });
  });

  it('sends the SSE-C key on reads and parts, and nothing else there', () => {
    expect(customerKeyParameters(CUSTOMER)).toEqual({ SSECustomerAlgorithm: 'AES256', SSECustomerKey: KEY.toString('base64'), SSECustomerKeyMD5: md5 });
    expect(customerKeyParameters({ kind: 'aws:kms', keyId: 'k' })).toEqual({});
    expect(customerKeyParameters({ kind: 'AES256' })).toEqual({});
    expect(customerKeyParameters(undefined)).toEqual({});
  });
});

describe('checks of store options', () => {
  it.each([
    [
      'a 16-byte SSE-C key',
      { kind: 'customer', key: Buffer.alloc(16), source: 'k16 (--sse-c-key-file)' },
      'the SSE-C key from k16 (--sse-c-key-file) has 16 bytes; SSE-C takes a 256-bit AES key, 32 bytes',
    ],
    ['an empty KMS key id', { kind: 'aws:kms', keyId: ' ' }, 'the SSE-KMS key id is empty: give a key id, ARN or alias, or none for the default key'],
    ['another algorithm', { kind: 'aws:kms:dsse' }, 'unknown server-side encryption "aws:kms:dsse": expected AES256, aws:kms or an SSE-C key'],
  ])('refuses %s', (_name, encryption, message) => {
    const error = thrown(() => checkEncryption(encryption as never));
    expect(isCassetteError(error, 'E_USAGE')).toBe(true);
    expect((error as Error).message).toBe(message);
  });

  it('upper-cases storage classes and refuses archival ones', () => {
    expect(checkStorageClasses({ archives: 'standard_ia', metadata: 'Standard' })).toEqual({ archives: 'STANDARD_IA', metadata: 'STANDARD' });
    expect(checkStorageClasses({ metadata: 'STANDARD' })).toEqual({ metadata: 'STANDARD' });
    expect((thrown(() => checkStorageClasses({ archives: 'DEEP_ARCHIVE' })) as Error).message).toMatch(/^the storage class of archives DEEP_ARCHIVE is refused: /);
  });

  it('S3Store checks its options when it is made', () => {
    const error = thrown(() => makeS3Store('http://127.0.0.1:9', 'bucket', '', { storageClass: { archives: 'GLACIER' } }));
    expect(isCassetteError(error, 'E_USAGE')).toBe(true);
  });

  it('openStore checks them before the S3 client is loaded, and a local repository refuses them', () => {
    expect(
      isCassetteError(
        thrown(() => openStore('s3://bucket/p', { storageClass: { archives: 'COLD' } })),
        'E_USAGE',
      ),
    ).toBe(true);
    expect(
      isCassetteError(
        thrown(() => openStore('s3://bucket/p', { encryption: { kind: 'customer', key: Buffer.alloc(31), source: 'x' } })),
        'E_USAGE',
      ),
    ).toBe(true);
    const local = thrown(() => openStore('/var/backups/cassette', { encryption: { kind: 'AES256' }, storageClass: { archives: 'STANDARD_IA' } }));
    expect(isCassetteError(local, 'E_USAGE')).toBe(true);
    expect((local as Error).message).toBe('--sse AES256 and --storage-class STANDARD_IA apply to S3 repositories only, and file:///var/backups/cassette is a local directory');
    expect((thrown(() => openStore('file:///srv/repo', { encryption: CUSTOMER })) as Error).message).toBe(
      'the SSE-C key of /etc/cassette/sse-c.key (--sse-c-key-file) applies to S3 repositories only, and file:///srv/repo is a local directory',
    );
    expect((thrown(() => openStore('file:///srv/repo', { storageClass: { metadata: 'STANDARD' } })) as Error).message).toBe(
      '--index-storage-class STANDARD applies to S3 repositories only, and file:///srv/repo is a local directory',
    );
  });
});

describe('customerKeyProblem: what a refused read says about SSE-C', () => {
  const read = (operation: 'GET' | 'HEAD', status: number, code: string | undefined, message = ''): RefusedRead => ({ operation, status, code, message });
  const AWS_NO_KEY = 'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.';
  const RGW_NO_KEY = 'Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.';
  const RGW_WRONG_KEY = 'The calculated MD5 hash of the key did not match the hash that was provided.';
  const AWS_NOT_SSE_C = 'The encryption parameters are not applicable to this object.';
  const GIVE = 'the object is stored with SSE-C (a key of your own) and can only be read with that key: give it with --sse-c-key-file FILE (or CASSETTE_SSE_C_KEY_FILE)';

  it.each([
    ['AWS, no key', read('GET', 400, 'InvalidRequest', AWS_NO_KEY), undefined, { certain: true, explanation: GIVE }],
    ['RGW, no key', read('GET', 400, 'InvalidArgument', RGW_NO_KEY), undefined, { certain: true, explanation: GIVE }],
    [
      'HEAD without a body, no key',
      read('HEAD', 400, 'Unknown', 'UnknownError'),
      undefined,
      { certain: false, explanation: 'if the repository is stored with SSE-C, give its key with --sse-c-key-file FILE (or CASSETTE_SSE_C_KEY_FILE)' },
    ],
    [
      'RGW, another key',
      read('GET', 400, 'InvalidArgument', RGW_WRONG_KEY),
      CUSTOMER,
      { certain: true, explanation: 'the object is stored with another SSE-C key than the one in /etc/cassette/sse-c.key (--sse-c-key-file)' },
    ],
    [
      'AWS, a key for an object without SSE-C',
      read('GET', 400, 'InvalidRequest', AWS_NOT_SSE_C),
      CUSTOMER,
      {
        certain: true,
        explanation:
          'the object is stored without SSE-C, but an SSE-C key was given (/etc/cassette/sse-c.key (--sse-c-key-file)): leave it out for objects written without it (every object of a repository needs the same key, or none)',
      },
    ],
    [
      'AWS, another key (403, also what missing permissions answer)',
      read('GET', 403, 'AccessDenied', 'Access Denied'),
      CUSTOMER,
      {
        certain: false,
        explanation: 'the SSE-C key in /etc/cassette/sse-c.key (--sse-c-key-file) may not be the one the object is stored with (or the object is stored without SSE-C)',
      },
    ],
    [
      'HEAD without a body, with a key',
      read('HEAD', 400, 'Unknown', 'UnknownError'),
      CUSTOMER,
      {
        certain: false,
        explanation: 'the SSE-C key in /etc/cassette/sse-c.key (--sse-c-key-file) may not be the one the object is stored with (or the object is stored without SSE-C)',
      },
    ],
  ])('%s', (_name, refused, key, expected) => {
    expect(customerKeyProblem(refused, key)).toEqual(expected);
  });

  it.each([
    ['403 without a key: permissions', read('GET', 403, 'AccessDenied', 'Access Denied'), undefined],
    ['a bad range', read('GET', 400, 'InvalidArgument', 'Invalid range'), CUSTOMER],
    ['a 400 about something else, no key', read('GET', 400, 'InvalidArgument', 'Invalid range'), undefined],
    ['a 500', read('GET', 500, 'InternalError', 'We encountered an internal error'), CUSTOMER],
    ['a 404', read('HEAD', 404, 'NotFound', ''), undefined],
  ])('says nothing of SSE-C for %s', (_name, refused, key) => {
    expect(customerKeyProblem(refused, key)).toBeUndefined();
  });
});

describe('refusedWriteNote', () => {
  it.each([
    [undefined, { archives: 'GLACIER_IR' }, volumeKey(ID, 'a', 0), ' (it asked for storage class GLACIER_IR; a store refuses a storage class it does not offer)'],
    [undefined, { archives: 'GLACIER_IR' }, indexKey(ID, 'a'), ''],
    [{ kind: 'aws:kms' } as const, undefined, leaseKey(ID), ' (it asked for SSE aws:kms with the default key; a store refuses encryption it is not set up for)'],
    [
      { kind: 'aws:kms', keyId: 'alias/b' } as const,
      { metadata: 'STANDARD' },
      commitKey(ID),
      ' (it asked for storage class STANDARD and SSE aws:kms with key alias/b; a store refuses a storage class it does not offer and encryption it is not set up for)',
    ],
    [{ kind: 'AES256' } as const, undefined, commitKey(ID), ' (it asked for SSE AES256; a store refuses encryption it is not set up for)'],
    [CUSTOMER, undefined, commitKey(ID), ' (it asked for SSE-C with the key of /etc/cassette/sse-c.key (--sse-c-key-file); a store refuses encryption it is not set up for)'],
    [undefined, undefined, commitKey(ID), ''],
  ])('%j %j %s', (encryption, classes, key, note) => {
    expect(refusedWriteNote(encryption, classes, key)).toBe(note);
  });
});
