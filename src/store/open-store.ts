// Opens a repository from its URL: s3://bucket/prefix, file:///path, or a plain directory path.

import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DEFAULTS } from '../defaults.js';
import { CassetteError, messageOf } from '../errors.js';
import { LocalStore } from './local-store.js';
import type { ObjectStore } from './object-store.js';
import type { CopySource, GetOptions, ObjectInfo, ObjectWriter, PendingUpload, PutOptions } from './object-store.js';
import type { S3StoreOptions } from './s3-store.js';
import { loadS3Settings, pathStyleFor } from './aws-config.js';
import { processLimits } from './bandwidth.js';
import { checkEncryption, checkStorageClasses, type ServerSideEncryption, type StorageClasses } from './server-side.js';

export interface OpenStoreOptions {
  /** S3 endpoint; default: what the environment and the AWS config file say (aws-config.ts), else AWS. */
  endpoint?: string;
  region?: string;
  /** The AWS profile for credentials, region, endpoint and addressing style; default $AWS_PROFILE, else `default`. */
  awsProfile?: string;
  /** Bucket addressing, as --path-style or --virtual-host ask; default: the profile's addressing_style, else path style for a custom endpoint (aws-config.ts). */
  addressing?: 'path' | 'virtual';
  /** Upload limit in KiB/s for all transfers of the process together (bandwidth.ts); default none. */
  limitUploadKiBps?: number;
  /** Download limit in KiB/s, likewise. */
  limitDownloadKiBps?: number;
  /**
   * Seconds without a byte sent or received before a storage request is given up and retried
   * (the idle timeout); the connect timeout is the smaller of this and DEFAULTS.connectTimeoutMs.
   * Default DEFAULTS.idleTimeoutMs. Local repositories ignore it.
   */
  timeout?: number;
  /** Server-side encryption of what is written (and the SSE-C key of every read). S3 only: a local repository refuses it. */
  encryption?: ServerSideEncryption;
  /** Storage classes of what is written. S3 only: a local repository refuses them. */
  storageClass?: StorageClasses;
}

/** The server-side options given, as the command line names them, for the refusal of a local repository. */
function serverSideOptionsGiven(options: OpenStoreOptions): string[] {
  const { encryption, storageClass } = options;
  return [
    ...(encryption?.kind === 'AES256' ? ['--sse AES256'] : []),
    ...(encryption?.kind === 'aws:kms' ? ['--sse aws:kms'] : []),
    ...(encryption?.kind === 'customer' ? [`the SSE-C key of ${encryption.source}`] : []),
    ...(storageClass?.archives === undefined ? [] : [`--storage-class ${storageClass.archives}`]),
    ...(storageClass?.metadata === undefined ? [] : [`--index-storage-class ${storageClass.metadata}`]),
  ];
}

/** The accepted repository forms, for error messages. */
const FORMS = 's3://bucket/prefix, file:///absolute/path, or a directory path';

/** Where a repository URL points, before anything is opened. */
export type RepositoryLocation = { kind: 's3'; bucket: string; prefix: string; url: string } | { kind: 'local'; dir: string; url: string };

/**
 * Parses a repository URL: `s3://bucket[/prefix]` (the prefix may be empty), `file:///abs/path`,
 * or a bare directory path (relative paths resolve against the working directory). Anything
 * else fails with E_REPO naming the URL and the accepted forms. Pure: touches neither the
 * network nor the file system.
 */
export function parseRepositoryUrl(url: string): RepositoryLocation {
  if (typeof url !== 'string' || url.trim() === '') throw new CassetteError('E_REPO', `the repository is empty; give ${FORMS}`);
  // A scheme is two or more characters before ':' (a single letter would be a Windows drive).
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined || (scheme !== 's3' && scheme !== 'file' && !url.slice(scheme.length + 1).startsWith('//'))) {
    // No scheme (or something like `backups:2024`, a directory name with a colon): a path.
    const dir = path.resolve(url);
    return { kind: 'local', dir, url: `file://${dir}` };
  }
  if (scheme === 'file') {
    if (!url.toLowerCase().startsWith('file:///') && !url.toLowerCase().startsWith('file://localhost/')) {
      throw new CassetteError('E_REPO', `repository "${url}" is not a valid file URL: it needs an absolute path (file:///path, three slashes); use ${FORMS}`);
    }
    let dir: string;
    try {
      dir = fileURLToPath(url);
    } catch (error) {
      throw new CassetteError('E_REPO', `repository "${url}" is not a valid file URL (${messageOf(error)}); use ${FORMS}`, { cause: error });
    }
    dir = path.resolve(dir);
    return { kind: 'local', dir, url: `file://${dir}` };
  }
  if (scheme === 's3') {
    if (!url.slice(3).startsWith('//')) {
      throw new CassetteError('E_REPO', `repository "${url}" is not a valid S3 URL: write s3://bucket/prefix; use ${FORMS}`);
    }
    const rest = url.slice('s3://'.length);
    if (/[?#]/.test(rest)) {
      throw new CassetteError(
        'E_REPO',
        `repository "${url}" has a query or fragment; an S3 repository is s3://bucket/prefix (set the endpoint with --endpoint or AWS_ENDPOINT_URL)`,
      );
    }
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix =
      slash === -1
        ? ''
        : rest
            .slice(slash + 1)
            .replace(/^\/+|\/+$/g, '')
            .replace(/\/{2,}/g, '/');
    if (bucket === '') throw new CassetteError('E_REPO', `repository "${url}" has no valid bucket name (""): write s3://bucket/prefix`);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new CassetteError(
        'E_REPO',
        `repository "${url}" has no valid bucket name ("${bucket}"): bucket names are 3-63 lower-case letters, digits, dots and hyphens; write s3://bucket/prefix`,
      );
    }
    return { kind: 's3', bucket, prefix, url: `s3://${bucket}${prefix ? `/${prefix}` : ''}` };
  }
  const hint = scheme === 'http' || scheme === 'https' ? ' (for an S3-compatible server, use s3://bucket/prefix with --endpoint or AWS_ENDPOINT_URL)' : '';
  throw new CassetteError('E_REPO', `repository "${url}" has an unsupported scheme "${scheme}://"; use ${FORMS}${hint}`);
}

/**
 * Opens the repository at `url` (see parseRepositoryUrl). S3 endpoint: `options.endpoint`,
 * else what the environment and the AWS config file say (aws-config.ts: AWS_ENDPOINT_URL_S3,
 * AWS_ENDPOINT_URL, the profile's services section, its endpoint_url), else AWS itself. The S3
 * implementation is loaded on first use.
 */
export function openStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  const location = parseRepositoryUrl(url);
  const limits = processLimits({ uploadKiBps: options.limitUploadKiBps, downloadKiBps: options.limitDownloadKiBps });
  if (location.kind === 'local') {
    const given = serverSideOptionsGiven(options);
    if (given.length > 0) {
      throw new CassetteError('E_USAGE', `${given.join(' and ')} ${given.length > 1 ? 'apply' : 'applies'} to S3 repositories only, and ${location.url} is a local directory`);
    }
    return new LocalStore(location.dir, { limits });
  }
  const settings = loadS3Settings(options.awsProfile);
  const endpoint = options.endpoint || settings.endpoint || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
    const source = options.endpoint ? '' : ` (from ${settings.endpointSource ?? 'the environment'})`;
    throw new CassetteError('E_REPO', `endpoint "${endpoint}"${source} is not an http:// or https:// URL (e.g. http://127.0.0.1:9000)`);
  }
  const forcePathStyle = pathStyleFor(options.addressing, settings.addressingStyle, endpoint !== undefined);
  const { bucket, prefix } = location;
  // Checked now, not when the SDK is loaded on first use: a bad option fails before any work starts.
  const encryption = checkEncryption(options.encryption);
  const storageClass = checkStorageClasses(options.storageClass);
  const timeouts = options.timeout === undefined ? {} : { idleTimeoutMs: options.timeout * 1000, connectTimeoutMs: Math.min(options.timeout * 1000, DEFAULTS.connectTimeoutMs) };
  return new LazyStore(
    location.url,
    async () =>
      new (await import('./s3-store.js')).S3Store({
        bucket,
        prefix,
        endpoint,
        region: options.region,
        profile: options.awsProfile,
        forcePathStyle,
        limits,
        ...timeouts,
        encryption,
        storageClass,
      } satisfies S3StoreOptions),
  );
}

/**
 * Loads a store implementation on first use: the AWS SDK takes ~300 ms to import, which
 * commands on a local repository (and --help) should not pay.
 */
class LazyStore implements ObjectStore {
  private loaded: Promise<ObjectStore> | undefined;

  constructor(
    readonly url: string,
    private readonly load: () => Promise<ObjectStore>,
  ) {}

  private store(): Promise<ObjectStore> {
    this.loaded ??= this.load();
    return this.loaded;
  }

  async put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<{ size: number }> {
    return (await this.store()).put(key, body, options);
  }

  openWriter(key: string, options?: PutOptions): ObjectWriter {
    const inner = this.store().then((store) => store.openWriter(key, options));
    inner.catch(() => undefined); // reported by the first call that awaits it
    return {
      write: async (chunk) => (await inner).write(chunk),
      finish: async () => (await inner).finish(),
      abort: async (reason) => {
        await (await inner.catch(() => undefined))?.abort(reason);
      },
    };
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    return (await this.store()).get(key, options);
  }

  async getBuffer(key: string, options?: GetOptions): Promise<Buffer> {
    return (await this.store()).getBuffer(key, options);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    return (await this.store()).head(key);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    yield* (await this.store()).list(prefix);
  }

  async delete(keys: string[]): Promise<void> {
    return (await this.store()).delete(keys);
  }

  async *listPendingUploads(prefix: string): AsyncIterable<PendingUpload> {
    yield* (await this.store()).listPendingUploads(prefix);
  }

  async abortPendingUpload(upload: PendingUpload): Promise<void> {
    return (await this.store()).abortPendingUpload(upload);
  }

  /** The loaded store's copy, with a lazy source unwrapped to its loaded store (so two S3 stores can see each other). */
  async copy(key: string, from: CopySource, options?: { signal?: AbortSignal }): Promise<{ size: number } | undefined> {
    const inner = await this.store();
    const source = from.store instanceof LazyStore ? await from.store.store() : from.store;
    return inner.copy ? inner.copy(key, { ...from, store: source }, options) : undefined;
  }

  async close(): Promise<void> {
    if (this.loaded) await (await this.loaded).close();
  }
}
