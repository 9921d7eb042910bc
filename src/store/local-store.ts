// Local-directory repository: same layout as S3; puts write a temporary file and rename it, so objects appear whole.

import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { CassetteError, messageOf, throwIfAborted } from '../errors.js';
import { makeDirs } from '../fs/make-dirs.js';
import { Throttle, waitForBytes, type BandwidthLimits } from './bandwidth.js';
import {
  GuardedWriter,
  readBody,
  writeStream,
  type CopySource,
  type GetOptions,
  type ObjectInfo,
  type ObjectStore,
  type ObjectWriter,
  type PendingUpload,
  type PutOptions,
} from './object-store.js';

/** Name prefix of the temporary file a put writes before renaming it; listings skip such files. */
export const TEMP_PREFIX = '.cassette-tmp-';

/** Writes the whole chunk at the handle's current position (a write may store fewer bytes than asked). */
async function writeAll(handle: fs.FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length;) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/**
 * A failure of the file system under the repository, as a sentence: a permission problem (a
 * repository below a directory this user cannot write) names the path and what the user can do.
 */
export function fileFailure(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const where = e.path ?? 'the repository';
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    const user = process.getuid ? ` (uid ${process.getuid()})` : '';
    return (
      `permission denied${e.syscall ? ` (${e.syscall})` : ''} on ${where}: the user running cassette${user} may not do this there; ` +
      `give another --repo, change the owner or permissions of ${where} or its parent directory (chown, chmod), or run cassette as the user who owns it`
    );
  }
  if (e.code === 'EROFS') return `${where} is on a read-only file system; give another --repo`;
  return messageOf(error);
}

/** Makes a rename durable: fsync the directory that holds the entry (best effort; some file systems refuse). */
async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Not supported here (EINVAL/EISDIR on some platforms): the rename itself is still atomic.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Writes a temporary file next to the object, then fsyncs and renames it into place on finish. */
class LocalWriter extends GuardedWriter {
  private readonly file: string;
  private readonly temp: string;
  private handle: Promise<fs.FileHandle> | undefined;
  private size = 0;

  constructor(
    private readonly store: LocalStore,
    key: string,
    private readonly options: PutOptions,
  ) {
    super(key);
    this.file = store.fileFor(key);
    this.temp = path.join(path.dirname(this.file), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
  }

  private open(): Promise<fs.FileHandle> {
    this.handle ??= (async () => {
      // Not Node's recursive mkdir: it spins forever where mkdir(2) says ENOENT below an existing parent (a repository in /proc).
      await makeDirs(path.dirname(this.file));
      // The temp file exists before any byte flows, so a failure at any point knows what to remove.
      return fs.open(this.temp, 'wx');
    })();
    return this.handle;
  }

  protected check(): void {
    throwIfAborted(this.options.signal);
  }

  protected abortReason(): unknown {
    return new CassetteError('E_ABORTED', 'upload aborted');
  }

  protected async append(chunk: Buffer): Promise<void> {
    const handle = await this.open();
    const bucket = this.store.limits.upload;
    const slice = bucket?.slice ?? chunk.length;
    for (let at = 0; at < chunk.length; at += slice) {
      const piece = chunk.subarray(at, at + slice);
      if (bucket) await waitForBytes(bucket, piece.length);
      await writeAll(handle, piece);
      this.size += piece.length;
      this.options.onProgress?.(this.size);
    }
  }

  protected async complete(): Promise<number> {
    const handle = await this.open();
    await handle.sync();
    this.handle = undefined;
    await handle.close();
    throwIfAborted(this.options.signal);
    await fs.rename(this.temp, this.file);
    await syncDirectory(path.dirname(this.file));
    return this.size;
  }

  protected async cleanUp(error: unknown): Promise<CassetteError> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.then((h) => h.close()).catch(() => undefined);
    await fs.rm(this.temp, { force: true }).catch(() => undefined);
    const url = this.store.url;
    if (this.options.signal?.aborted) return new CassetteError('E_ABORTED', `upload of ${this.key} to ${url} interrupted`, { cause: error });
    if (error instanceof CassetteError) return error;
    return new CassetteError('E_STORAGE', `PUT ${this.key} in ${url} failed: ${fileFailure(error)}`, { cause: error });
  }
}

export interface LocalStoreOptions {
  /** Bandwidth limits shared with every other transfer of the process (bandwidth.ts): writes count as uploads, reads as downloads. Default: none. */
  limits?: BandwidthLimits;
}

export class LocalStore implements ObjectStore {
  readonly url: string;
  private readonly root: string;
  readonly limits: BandwidthLimits;

  constructor(rootDir: string, options: LocalStoreOptions = {}) {
    this.root = path.resolve(rootDir);
    this.url = `file://${this.root}`;
    this.limits = options.limits ?? {};
  }

  private pathFor(key: string): string {
    if (key === '' || key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '.' || part === '')) {
      throw new CassetteError('E_STORAGE', `invalid object key "${key}"`);
    }
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<{ size: number }> {
    const writer = new LocalWriter(this, key, options);
    if (Buffer.isBuffer(body)) {
      await writer.write(body);
      return writer.finish();
    }
    const stopBody = (): void => void body.destroy(new CassetteError('E_ABORTED', 'upload interrupted'));
    options.signal?.addEventListener('abort', stopBody, { once: true });
    try {
      return await writeStream(writer, body, (cause) => writer.fail(cause));
    } finally {
      options.signal?.removeEventListener('abort', stopBody);
    }
  }

  openWriter(key: string, options: PutOptions = {}): ObjectWriter {
    return new LocalWriter(this, key, options);
  }

  /** From another local directory: the kernel copies the file (copy_file_range, a reflink where the file system has them) into a temporary file renamed into place, as put does. */
  async copy(key: string, from: CopySource, options: { signal?: AbortSignal } = {}): Promise<{ size: number } | undefined> {
    if (!(from.store instanceof LocalStore)) return undefined;
    const source = from.store.fileFor(from.key);
    const file = this.pathFor(key);
    const temp = path.join(path.dirname(file), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      throwIfAborted(options.signal);
      await makeDirs(path.dirname(file));
      await fs.copyFile(source, temp, fs.constants.COPYFILE_EXCL);
      const handle = await fs.open(temp, 'r+');
      let size: number;
      try {
        await handle.sync();
        size = (await handle.stat()).size;
      } finally {
        await handle.close();
      }
      throwIfAborted(options.signal);
      await fs.rename(temp, file);
      await syncDirectory(path.dirname(file));
      return { size };
    } catch (error) {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      if (error instanceof CassetteError) throw error;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !(await fs.stat(source).catch(() => undefined)))
        throw new CassetteError('E_NOT_FOUND', `object ${from.key} not found in ${from.store.url}`, { cause: error });
      throw new CassetteError('E_STORAGE', `copy of ${from.store.url}/${from.key} to ${this.url}/${key} failed: ${messageOf(error)}`, { cause: error });
    }
  }

  /** The file of an object key (keys with empty, `.` or `..` segments are refused). */
  fileFor(key: string): string {
    return this.pathFor(key);
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    const file = this.pathFor(key);
    const handle = await fs.open(file, 'r').catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new CassetteError('E_NOT_FOUND', `object ${key} not found in ${this.url}`, { cause: error });
      throw new CassetteError('E_STORAGE', `cannot read ${key} in ${this.url}: ${fileFailure(error)}`, { cause: error });
    });
    const range = options.range;
    if (range && (range.start < 0 || range.end < range.start)) throw new RangeError(`bad range ${range.start}-${range.end}`);
    const stream = createReadStream('', { fd: handle, start: range?.start, end: range?.end, highWaterMark: 1 << 20, signal: options.signal });
    if (!this.limits.download) return stream;
    const limited = new Throttle(this.limits.download);
    pipeline(stream, limited, () => undefined);
    return limited;
  }

  async getBuffer(key: string, options: GetOptions = {}): Promise<Buffer> {
    const stream = await this.get(key, options);
    try {
      return await readBody(stream, options.into, options.onProgress);
    } finally {
      stream.destroy();
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await fs.stat(this.pathFor(key));
      return st.isFile() ? { key, size: st.size, lastModified: st.mtime } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CassetteError('E_STORAGE', `cannot stat ${key} in ${this.url}: ${fileFailure(error)}`, { cause: error });
    }
  }

  private async *walk(dir: string, rel: string, temps: boolean): AsyncGenerator<ObjectInfo> {
    let names: string[];
    try {
      names = (await fs.readdir(dir)).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw new CassetteError('E_STORAGE', `cannot list ${this.url}/${rel}: ${fileFailure(error)}`, { cause: error });
    }
    for (const name of names) {
      const key = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(path.join(dir, name)).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) yield* this.walk(path.join(dir, name), key, temps);
      else if (st.isFile() && name.startsWith(TEMP_PREFIX) === temps) yield { key, size: st.size, lastModified: st.mtime };
    }
  }

  /** Keys in lexicographic order (directories are walked in sorted order, `/` sorting as the separator it is). */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const all: ObjectInfo[] = [];
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    for await (const object of this.walk(dirPart ? path.join(this.root, ...dirPart.split('/')) : this.root, dirPart, false)) {
      if (object.key.startsWith(prefix)) all.push(object);
    }
    all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* all;
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) {
      const file = this.pathFor(key);
      await fs.rm(file, { force: true });
      // Remove directories left empty, up to the root.
      let dir = path.dirname(file);
      while (dir.startsWith(this.root) && dir !== this.root) {
        try {
          await fs.rmdir(dir);
        } catch {
          break;
        }
        dir = path.dirname(dir);
      }
    }
  }

  /** Temporary files of puts that never finished (a crashed writer): the local analogue of pending multipart uploads. */
  async *listPendingUploads(prefix: string): AsyncIterable<PendingUpload> {
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    for await (const object of this.walk(dirPart ? path.join(this.root, ...dirPart.split('/')) : this.root, dirPart, true)) {
      if (object.key.startsWith(prefix)) yield { key: object.key, uploadId: path.posix.basename(object.key), initiated: object.lastModified };
    }
  }

  async abortPendingUpload(upload: PendingUpload): Promise<void> {
    await fs.rm(this.pathFor(upload.key), { force: true });
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}
