// An ObjectStore wrapper that injects failures (failed puts, failed or corrupted reads), for failure-path tests.

import { Readable, Transform } from 'node:stream';
import { CassetteError } from '../../src/errors.js';
import type { GetOptions, ObjectInfo, ObjectStore, ObjectWriter, PendingUpload, PutOptions } from '../../src/store/object-store.js';

export interface FaultOptions {
  /**
   * Fail puts of matching keys once more than `bytes` body bytes went through: the body stream
   * errors, as a broken connection or a failing source would, so the inner store's cleanup runs.
   */
  failPutAfter?: { match: (key: string) => boolean; bytes: number; message?: string };
  /** Fail `get` and `getBuffer` of matching keys with E_STORAGE, before any byte is read. */
  failGet?: (key: string) => boolean;
  /**
   * Flip bits of the bytes `get` and `getBuffer` return for matching keys. `at` lists offsets
   * within the returned bytes (the range, when one was asked for); default: the first byte.
   * Offsets past the end of what is returned are ignored.
   */
  corruptGet?: { match: (key: string) => boolean; at?: number[]; xor?: number };
  /** The stream `get` returns for matching keys errors once `bytes` bytes went through, as a dropped connection would. */
  breakGet?: { match: (key: string) => boolean; bytes: number };
}

/** Calls the FaultyStore made, for assertions ("the index was read once"). */
export interface FaultyStoreCall {
  method: 'put' | 'get' | 'getBuffer' | 'head' | 'list' | 'delete';
  key: string;
  options?: GetOptions;
}

/** A pass-through that lets `bytes` bytes by, then fails with `error()`. */
function breakingAfter(bytes: number, error: () => Error): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const allowed = bytes - seen;
      seen += chunk.length;
      if (seen <= bytes) return callback(null, chunk);
      // Pass the bytes up to the limit, then fail.
      if (allowed > 0) this.push(chunk.subarray(0, allowed));
      callback(error());
    },
  });
}

export class FaultyStore implements ObjectStore {
  /** Every call, in order. */
  readonly calls: FaultyStoreCall[] = [];

  constructor(
    readonly inner: ObjectStore,
    private readonly faults: FaultOptions = {},
  ) {}

  get url(): string {
    return this.inner.url;
  }

  put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<{ size: number }> {
    this.calls.push({ method: 'put', key });
    const fault = this.faults.failPutAfter;
    if (!fault || !fault.match(key)) return this.inner.put(key, body, options);
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    const breaking = breakingAfter(fault.bytes, () => new Error(fault.message ?? `injected storage failure after ${fault.bytes} bytes of ${key}`));
    source.on('error', (error) => breaking.destroy(error));
    breaking.on('error', () => source.destroy());
    return this.inner.put(key, source.pipe(breaking), options);
  }

  /** A writer that fails like a broken connection once more than `failPutAfter.bytes` went through. */
  openWriter(key: string, options?: PutOptions): ObjectWriter {
    this.calls.push({ method: 'put', key });
    const inner = this.inner.openWriter(key, options);
    const fault = this.faults.failPutAfter;
    if (!fault || !fault.match(key)) return inner;
    let seen = 0;
    return {
      write: async (chunk) => {
        const allowed = fault.bytes - seen;
        seen += chunk.length;
        if (seen <= fault.bytes) return inner.write(chunk);
        if (allowed > 0) await inner.write(chunk.subarray(0, allowed));
        const error = new Error(fault.message ?? `injected storage failure after ${fault.bytes} bytes of ${key}`);
        await inner.abort(error);
        throw new CassetteError('E_STORAGE', `upload of ${key} to ${this.url} failed: ${error.message}`, { cause: error });
      },
      finish: () => inner.finish(),
      abort: (reason) => inner.abort(reason),
    };
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    this.calls.push({ method: 'get', key, options });
    return this.read(key, options);
  }

  async getBuffer(key: string, options?: GetOptions): Promise<Buffer> {
    this.calls.push({ method: 'getBuffer', key, options });
    if (!this.faults.corruptGet?.match(key)) {
      this.maybeFailGet(key);
      return this.inner.getBuffer(key, options);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of await this.read(key, options)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  private async read(key: string, options?: GetOptions): Promise<Readable> {
    this.maybeFailGet(key);
    const stream = this.breakIfAsked(key, await this.inner.get(key, options));
    const corrupt = this.faults.corruptGet;
    if (!corrupt || !corrupt.match(key)) return stream;
    const offsets = new Set(corrupt.at ?? [0]);
    const xor = corrupt.xor ?? 0xff;
    let position = 0;
    const corrupting = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        let out = chunk;
        for (const offset of offsets) {
          if (offset >= position && offset < position + chunk.length) {
            if (out === chunk) out = Buffer.from(chunk);
            out[offset - position] = out[offset - position]! ^ xor;
          }
        }
        position += chunk.length;
        callback(null, out);
      },
    });
    stream.on('error', (error) => corrupting.destroy(error));
    corrupting.on('close', () => stream.destroy());
    return stream.pipe(corrupting);
  }

  private breakIfAsked(key: string, stream: Readable): Readable {
    const fault = this.faults.breakGet;
    if (!fault || !fault.match(key)) return stream;
    const breaking = breakingAfter(fault.bytes, () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    stream.on('error', (error) => breaking.destroy(error));
    breaking.on('close', () => stream.destroy());
    return stream.pipe(breaking);
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    this.calls.push({ method: 'head', key });
    return this.inner.head(key);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    this.calls.push({ method: 'list', key: prefix });
    return this.inner.list(prefix);
  }

  delete(keys: string[]): Promise<void> {
    for (const key of keys) this.calls.push({ method: 'delete', key });
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

  private maybeFailGet(key: string): void {
    if (this.faults.failGet?.(key)) {
      throw new CassetteError('E_STORAGE', `GET ${this.url}/${key} failed: injected read failure`);
    }
  }
}
