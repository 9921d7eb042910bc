// Opens a repository from its URL: s3://bucket/prefix, file:///path, or a plain directory path.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CassetteError } from '../errors.js';
import { LocalStore } from './local-store.js';
import type { ObjectStore } from './object-store.js';
import { S3Store } from './s3-store.js';

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
    return new S3Store({ bucket, prefix, endpoint: endpoint || undefined, region: options.region });
  }
  throw new CassetteError('E_REPO', `repository "${url}" has an unsupported scheme "${scheme}://"; use ${FORMS}`);
}
