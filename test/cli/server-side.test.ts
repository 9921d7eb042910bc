// The server-side flags: SSE-C key files, which flags go together, and the usage errors (exit 2) the cassette command gives for bad ones.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCustomerKey, serverSideEncryption, serverSideStoreOptions, storageClasses, type ServerSideFlags } from '../../src/cli/server-side.js';
import { isCassetteError } from '../../src/errors.js';
import { cassette } from '../helpers/cli.js';

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

const KEY = randomBytes(32);
const FORMS = 'it must hold the 256-bit key as exactly 32 bytes (openssl rand -out FILE 32), or those bytes in base64, 44 characters (openssl rand -base64 32 > FILE)';

describe('parseCustomerKey', () => {
  it.each([
    ['32 raw bytes', KEY],
    ['base64', Buffer.from(KEY.toString('base64'))],
    ['base64 and a newline', Buffer.from(KEY.toString('base64') + '\n')],
    ['base64 between blanks and CRLF', Buffer.from(`  ${KEY.toString('base64')}\r\n`)],
  ])('reads %s', (_name, content) => {
    expect(parseCustomerKey(content, 'key')).toEqual(KEY);
  });

  it('takes 32 bytes as the key even when they are printable', () => {
    const printable = Buffer.from('0123456789abcdef0123456789abcdef');
    expect(parseCustomerKey(printable, 'key')).toEqual(printable);
  });

  it.each([
    ['31 raw bytes', randomBytes(31), '31 bytes'],
    ['33 raw bytes (a key and a stray byte)', Buffer.concat([KEY.subarray(0, 32), Buffer.from([0x80])]), '33 bytes'],
    ['hex (64 characters)', Buffer.from(KEY.toString('hex') + '\n'), '64 characters of text'],
    ['base64 of 16 bytes', Buffer.from(randomBytes(16).toString('base64')), '24 characters of text'],
    ['base64 of 33 bytes (44 characters, no padding)', Buffer.from(randomBytes(33).toString('base64') + '\n'), '44 characters of text'],
    ['an empty file', Buffer.alloc(0), '0 characters of text'],
  ])('refuses %s, naming the file', (_name, content, what) => {
    const error = thrown(() => parseCustomerKey(content, '/etc/k'));
    expect(isCassetteError(error, 'E_USAGE')).toBe(true);
    expect((error as Error).message).toBe(`the SSE-C key file /etc/k holds ${what}; ${FORMS}`);
  });
});

describe('serverSideEncryption and storageClasses', () => {
  let dir: string;
  let keyFile: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-sse-flags-'));
    keyFile = path.join(dir, 'sse-c.key');
    await fs.writeFile(keyFile, KEY.toString('base64'));
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('turns flags into store options', () => {
    expect(serverSideEncryption({}, {})).toBeUndefined();
    expect(serverSideEncryption({ sse: 'AES256' }, {})).toEqual({ kind: 'AES256' });
    expect(serverSideEncryption({ sse: 'aws:kms' }, {})).toEqual({ kind: 'aws:kms' });
    expect(serverSideEncryption({ sse: 'aws:kms', sseKmsKeyId: 'alias/b' }, {})).toEqual({ kind: 'aws:kms', keyId: 'alias/b' });
    expect(serverSideEncryption({ sseCKeyFile: keyFile }, {})).toEqual({ kind: 'customer', key: KEY, source: `${keyFile} (--sse-c-key-file)` });
    expect(storageClasses({})).toBeUndefined();
    expect(storageClasses({ storageClass: 'GLACIER_IR' })).toEqual({ archives: 'GLACIER_IR' });
    expect(serverSideStoreOptions({ indexStorageClass: 'STANDARD', sse: 'AES256' }, {})).toEqual({ encryption: { kind: 'AES256' }, storageClass: { metadata: 'STANDARD' } });
    expect(serverSideStoreOptions({}, {})).toEqual({});
  });

  it('takes the key file from CASSETTE_SSE_C_KEY_FILE when the flag is not given, and the flag over it', async () => {
    expect(serverSideEncryption({}, { CASSETTE_SSE_C_KEY_FILE: keyFile })).toEqual({ kind: 'customer', key: KEY, source: `${keyFile} (CASSETTE_SSE_C_KEY_FILE)` });
    expect(serverSideEncryption({}, { CASSETTE_SSE_C_KEY_FILE: '' })).toBeUndefined();
    const other = path.join(dir, 'other.key');
    const otherKey = randomBytes(32);
    await fs.writeFile(other, otherKey);
    expect(serverSideEncryption({ sseCKeyFile: other }, { CASSETTE_SSE_C_KEY_FILE: keyFile })).toEqual({ kind: 'customer', key: otherKey, source: `${other} (--sse-c-key-file)` });
  });

  it('refuses flags that do not go together', () => {
    const cases: Array<[ServerSideFlags, NodeJS.ProcessEnv, string]> = [
      [{ sseKmsKeyId: 'k' }, {}, '--sse-kms-key-id needs --sse aws:kms'],
      [{ sse: 'AES256', sseKmsKeyId: 'k' }, {}, '--sse-kms-key-id needs --sse aws:kms (got --sse AES256)'],
      [
        { sse: 'AES256', sseCKeyFile: keyFile },
        {},
        `--sse AES256 and the SSE-C key of ${keyFile} (--sse-c-key-file) cannot be used together: S3 encrypts an object with one kind of key`,
      ],
      [
        { sse: 'aws:kms' },
        { CASSETTE_SSE_C_KEY_FILE: keyFile },
        `--sse aws:kms and the SSE-C key of ${keyFile} (CASSETTE_SSE_C_KEY_FILE) cannot be used together: S3 encrypts an object with one kind of key`,
      ],
    ];
    for (const [flags, env, message] of cases) {
      const error = thrown(() => serverSideEncryption(flags, env));
      expect(isCassetteError(error, 'E_USAGE')).toBe(true);
      expect((error as Error).message).toBe(message);
    }
  });

  it('names a key file it cannot read', () => {
    const missing = path.join(dir, 'missing.key');
    const error = thrown(() => serverSideEncryption({ sseCKeyFile: missing }, {}));
    expect(isCassetteError(error, 'E_USAGE')).toBe(true);
    expect((error as Error).message).toBe(`cannot read the SSE-C key file ${missing} (--sse-c-key-file): ENOENT: no such file or directory, open '${missing}'`);
  });
});

describe('the cassette command with bad server-side flags', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-sse-cli-'));
    await fs.writeFile(path.join(dir, 'file.txt'), 'x\n');
    await fs.writeFile(path.join(dir, 'short.key'), randomBytes(16));
    await fs.writeFile(path.join(dir, 'good.key'), randomBytes(32));
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  // No server is needed: each is refused before the repository is touched.
  it.each([
    [
      ['backup', 'SRC', '--repo', 's3://bucket/p', '--sse', 'AES128'],
      'Expected `--sse` to be AES256 (SSE-S3) or aws:kms (SSE-KMS), got "AES128"; for a key of your own (SSE-C) use --sse-c-key-file',
    ],
    [['backup', 'SRC', '--repo', 's3://bucket/p', '--sse-kms-key-id', 'alias/b'], '--sse-kms-key-id needs --sse aws:kms'],
    [
      ['backup', 'SRC', '--repo', 's3://bucket/p', '--storage-class', 'deep_archive'],
      '--storage-class DEEP_ARCHIVE is refused: objects in DEEP_ARCHIVE cannot be read until a restore request',
    ],
    [['backup', 'SRC', '--repo', 's3://bucket/p', '--index-storage-class', 'COLD'], 'Expected `--index-storage-class` to be an S3 storage class'],
    [['restore', 'latest', '--target', 'DIR/out', '--repo', 's3://bucket/p', '--sse-c-key-file', 'DIR/short.key'], 'the SSE-C key file DIR/short.key holds 16 bytes; '],
    [
      ['backup', 'SRC', '--repo', 'DIR/repo', '--sse', 'aws:kms', '--storage-class', 'STANDARD_IA'],
      '--sse aws:kms and --storage-class STANDARD_IA apply to S3 repositories only, and file://DIR/repo is a local directory',
    ],
    [
      ['ls', 'latest', '--repo', 'DIR/repo', '--sse-c-key-file', 'DIR/good.key'],
      'the SSE-C key of DIR/good.key (--sse-c-key-file) applies to S3 repositories only, and file://DIR/repo is a local directory',
    ],
  ])('%j exits 2: %s', async (args, message) => {
    const result = await cassette(
      args.map((arg) => arg.replace('SRC', path.join(dir, 'file.txt')).replace('DIR', dir)),
      { env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:9' } },
    );
    expect(result.stderr).toContain(`cassette: ${message.replace(/DIR/g, dir)}`);
    expect(result.exitCode).toBe(2);
    // A local repository was not created.
    await expect(fs.access(path.join(dir, 'repo'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('ls takes the SSE-C key from CASSETTE_SSE_C_KEY_FILE, and refuses it for a local repository too', async () => {
    const result = await cassette(['ls', 'latest', '--repo', path.join(dir, 'repo')], { env: { CASSETTE_SSE_C_KEY_FILE: path.join(dir, 'good.key') } });
    expect(result.stderr).toBe(
      `cassette: the SSE-C key of ${path.join(dir, 'good.key')} (CASSETTE_SSE_C_KEY_FILE) applies to S3 repositories only, and file://${dir}/repo is a local directory\n`,
    );
    expect(result.exitCode).toBe(2);
  });
});
