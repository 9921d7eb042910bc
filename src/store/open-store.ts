// Opens a repository from its URL: s3://bucket/prefix, file:///path, or a plain directory path.

import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CassetteError } from '../errors.js';
import { LocalStore } from './local-store.js';
import type { ObjectStore } from './object-store.js';
import type { GetOptions, ObjectInfo, PendingUpload, PutOptions } from './object-store.js';
import type { S3StoreOptions } from './s3-store.js';

export interface OpenStoreOptions {
  /** S3 endpoint; default $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL. */
  endpoint?: string;
  region?: string;
}

const FORMS = 's3://bucket/prefix, file:///absolute/path, or a directory path';

export function openStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  if (!url || url.trim() === '') throw new CassetteError('E_REPO', `the repository is empty; give ${FORMS}`);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return new LocalStore(path.resolve(url));
  if (scheme === 'file') {
    let dir: string;
    try {
      dir = fileURLToPath(url);
    } catch (error) {
      throw new CassetteError('E_REPO', `repository "${url}" is not a valid file URL; use ${FORMS}`, { cause: error });
    }
    return new LocalStore(dir);
  }
  if (scheme === 's3') {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new CassetteError('E_REPO', `repository "${url}" has no valid bucket name ("${bucket}"): bucket names are 3-63 lower-case letters, digits, dots and hyphens`);
    }
    const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
      throw new CassetteError('E_REPO', `endpoint "${endpoint}" is not an http:// or https:// URL`);
    }
    return new LazyStore(`s3://${bucket}${prefix ? `/${prefix}` : ''}`, async () => new (await import('./s3-store.js')).S3Store({ bucket, prefix, endpoint: endpoint || undefined, region: options.region } satisfies S3StoreOptions));
  }
  throw new CassetteError('E_REPO', `repository "${url}" has an unsupported scheme "${scheme}://"; use ${FORMS}`);
}

/**
 * Loads a store implementation on first use: the AWS SDK takes ~300 ms to import, which
 * commands on a local repository (and --help) should not pay.
 */
class LazyStore implements ObjectStore {
  private loaded: Promise<ObjectStore> | undefined;

  constructor(readonly url: string, private readonly load: () => Promise<ObjectStore>) {}

  private store(): Promise<ObjectStore> {
    this.loaded ??= this.load();
    return this.loaded;
  }

  async put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<{ size: number }> {
    return (await this.store()).put(key, body, options);
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

  async close(): Promise<void> {
    if (this.loaded) await (await this.loaded).close();
  }
}
