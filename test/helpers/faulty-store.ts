// An ObjectStore wrapper that injects failures, for failure-path tests.

import { Readable, Transform } from 'node:stream';
import type { GetOptions, ObjectInfo, ObjectStore, PendingUpload, PutOptions } from '../../src/store/object-store.js';

export interface FaultOptions {
  /** Fail puts of keys matching this after this many body bytes. */
  failPutAfter?: { match: (key: string) => boolean; bytes: number; message?: string };
  /** Fail gets of matching keys. */
  failGet?: (key: string) => boolean;
}

export class FaultyStore implements ObjectStore {
  constructor(private readonly inner: ObjectStore, private readonly faults: FaultOptions) {}

  get url(): string {
    return this.inner.url;
  }

  put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<{ size: number }> {
    const fault = this.faults.failPutAfter;
    if (!fault || !fault.match(key)) return this.inner.put(key, body, options);
    let seen = 0;
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    const breaking = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        seen += chunk.length;
        if (seen > fault.bytes) callback(new Error(fault.message ?? `injected storage failure after ${fault.bytes} bytes`));
        else callback(null, chunk);
      },
    });
    source.on('error', (error) => breaking.destroy(error));
    return this.inner.put(key, source.pipe(breaking), options);
  }

  get(key: string, options?: GetOptions): Promise<Readable> {
    if (this.faults.failGet?.(key)) return Promise.reject(new Error(`injected read failure for ${key}`));
    return this.inner.get(key, options);
  }

  getBuffer(key: string, options?: GetOptions): Promise<Buffer> {
    if (this.faults.failGet?.(key)) return Promise.reject(new Error(`injected read failure for ${key}`));
    return this.inner.getBuffer(key, options);
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  delete(keys: string[]): Promise<void> {
    return this.inner.delete(keys);
  }

  listPendingUploads(prefix: string): AsyncIterable<PendingUpload> {
    return this.inner.listPendingUploads(prefix);
  }

  abortPendingUpload(upload: PendingUpload): Promise<void> {
    return this.inner.abortPendingUpload(upload);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
