// Command-line options for S3 server-side encryption (every repository command: an SSE-C key is needed to read too) and storage classes (backup), turned into store options.

import { Option, type Command } from 'commander';
import fs from 'node:fs';
import { CassetteError, messageOf } from '../errors.js';
import type { OpenStoreOptions } from '../store/open-store.js';
import { parseStorageClass, type ServerSideEncryption, type StorageClass, type StorageClasses } from '../store/server-side.js';

export interface ServerSideFlags {
  sse?: 'AES256' | 'aws:kms';
  sseKmsKeyId?: string;
  sseCKeyFile?: string;
}

export interface StorageClassFlags {
  storageClass?: StorageClass;
  indexStorageClass?: StorageClass;
}

/** The environment variable naming the SSE-C key file when --sse-c-key-file is not given. */
export const SSE_C_KEY_FILE_ENV = 'CASSETTE_SSE_C_KEY_FILE';

/** How to make a key file, for messages and help. */
const KEY_FILE_FORMS = 'exactly 32 bytes (openssl rand -out FILE 32), or those bytes in base64, 44 characters (openssl rand -base64 32 > FILE)';

/** Adds --sse, --sse-kms-key-id and --sse-c-key-file. */
export function withServerSideOptions(command: Command): Command {
  return command
    .addOption(new Option('--sse <algorithm>', 'S3 server-side encryption of the objects written: AES256 (SSE-S3) or aws:kms (SSE-KMS)').argParser(parseSse))
    .addOption(new Option('--sse-kms-key-id <id>', "with --sse aws:kms: the KMS key id, ARN or alias/NAME (default: the bucket's or the account's aws/s3 key)"))
    .addOption(
      new Option(
        '--sse-c-key-file <file>',
        `S3 SSE-C: encrypt with a key of your own, which every later command on these objects needs too (restore, ls, verify, prune…); the file holds the 256-bit key as 32 raw bytes or 44 characters of base64 (default: $${SSE_C_KEY_FILE_ENV})`,
      ),
    );
}

/** Adds --storage-class and --index-storage-class (commands that write a snapshot). */
export function withStorageClassOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--storage-class <class>', "S3 storage class of archive volumes (*.tar.zst), e.g. STANDARD_IA or GLACIER_IR (default: the bucket's)").argParser((value) =>
        parseStorageClass(value, '--storage-class'),
      ),
    )
    .addOption(
      new Option('--index-storage-class <class>', "S3 storage class of everything else: indexes, recipes, commit records, leases (default: the bucket's)").argParser((value) =>
        parseStorageClass(value, '--index-storage-class'),
      ),
    );
}

function parseSse(value: string): 'AES256' | 'aws:kms' {
  const lower = value.trim().toLowerCase();
  if (lower === 'aes256') return 'AES256';
  if (lower === 'aws:kms') return 'aws:kms';
  throw new CassetteError('E_USAGE', `Expected \`--sse\` to be AES256 (SSE-S3) or aws:kms (SSE-KMS), got "${value}"; for a key of your own (SSE-C) use --sse-c-key-file`);
}

/**
 * The key in an SSE-C key file's content: exactly 32 bytes are the key itself; otherwise, without
 * surrounding white space, 44 characters of base64 that decode to 32 bytes. Anything else fails
 * with E_USAGE naming the file.
 */
export function parseCustomerKey(content: Buffer, file: string): Buffer {
  if (content.length === 32) return Buffer.from(content);
  const text = content.toString('latin1').trim();
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64');
  const what = /^[\x20-\x7e\s]*$/.test(content.toString('latin1')) ? `${text.length} characters of text` : `${content.length} bytes`;
  throw new CassetteError('E_USAGE', `the SSE-C key file ${file} holds ${what}; it must hold the 256-bit key as ${KEY_FILE_FORMS}`);
}

/** The server-side encryption the flags (and CASSETTE_SSE_C_KEY_FILE in `env`) ask for; reads the key file. */
export function serverSideEncryption(flags: ServerSideFlags, env: NodeJS.ProcessEnv = process.env): ServerSideEncryption | undefined {
  if (flags.sseKmsKeyId !== undefined && flags.sse !== 'aws:kms') {
    throw new CassetteError('E_USAGE', `--sse-kms-key-id needs --sse aws:kms${flags.sse === undefined ? '' : ` (got --sse ${flags.sse})`}`);
  }
  const fromEnv = flags.sseCKeyFile === undefined && (env[SSE_C_KEY_FILE_ENV] ?? '') !== '';
  const file = flags.sseCKeyFile ?? (fromEnv ? env[SSE_C_KEY_FILE_ENV] : undefined);
  if (file !== undefined) {
    const source = `${file} (${fromEnv ? SSE_C_KEY_FILE_ENV : '--sse-c-key-file'})`;
    if (flags.sse !== undefined) {
      throw new CassetteError('E_USAGE', `--sse ${flags.sse} and the SSE-C key of ${source} cannot be used together: S3 encrypts an object with one kind of key`);
    }
    let content: Buffer;
    try {
      content = fs.readFileSync(file);
    } catch (error) {
      throw new CassetteError('E_USAGE', `cannot read the SSE-C key file ${source}: ${messageOf(error)}`, { cause: error });
    }
    return { kind: 'customer', key: parseCustomerKey(content, file), source };
  }
  if (flags.sse === 'aws:kms') return { kind: 'aws:kms', ...(flags.sseKmsKeyId === undefined ? {} : { keyId: flags.sseKmsKeyId }) };
  if (flags.sse === 'AES256') return { kind: 'AES256' };
  return undefined;
}

/** The storage classes the flags ask for, if any. */
export function storageClasses(flags: StorageClassFlags): StorageClasses | undefined {
  if (flags.storageClass === undefined && flags.indexStorageClass === undefined) return undefined;
  return {
    ...(flags.storageClass === undefined ? {} : { archives: flags.storageClass }),
    ...(flags.indexStorageClass === undefined ? {} : { metadata: flags.indexStorageClass }),
  };
}

/** The store options for the server-side flags. */
export function serverSideStoreOptions(flags: ServerSideFlags & StorageClassFlags, env: NodeJS.ProcessEnv = process.env): Pick<OpenStoreOptions, 'encryption' | 'storageClass'> {
  const encryption = serverSideEncryption(flags, env);
  const storageClass = storageClasses(flags);
  return { ...(encryption === undefined ? {} : { encryption }), ...(storageClass === undefined ? {} : { storageClass }) };
}
