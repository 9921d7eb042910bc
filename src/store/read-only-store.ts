// A store that refuses every write: what a command that promises to write nothing (backup --dry-run) hands on.

import { CassetteError } from '../errors.js';
import type { ObjectStore } from './object-store.js';

/** `store` with put, openWriter, delete and abortPendingUpload refused (E_USAGE: `why`, the write, then `hint`); reads pass through. */
export function readOnlyStore(store: ObjectStore, why: string, hint: string): ObjectStore {
  const refused = (what: string): CassetteError => new CassetteError('E_USAGE', `${why}, and this would first ${what} in ${store.url}; ${hint}`);
  const refuse = (what: string): never => {
    throw refused(what);
  };
  return {
    url: store.url,
    put: (key) => Promise.reject(refused(`write ${key}`)),
    openWriter: (key) => refuse(`write ${key}`),
    get: (key, options) => store.get(key, options),
    getBuffer: (key, options) => store.getBuffer(key, options),
    head: (key) => store.head(key),
    list: (prefix) => store.list(prefix),
    delete: (keys) => Promise.reject(refused(`delete ${keys.join(', ')}`)),
    listPendingUploads: (prefix) => store.listPendingUploads(prefix),
    abortPendingUpload: (upload) => Promise.reject(refused(`abort the upload ${upload.key}`)),
    close: () => store.close(),
    ...(store.contentSize ? { contentSize: (key: string, storedSize: number) => store.contentSize!(key, storedSize) } : {}),
  };
}
