// This host's plaintext copies of the metadata it wrote to an encrypted repository (commit records, indexes, recipes; never archives), so that its next backup can be incremental with public keys only.

import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isSnapshotId } from '../format/snapshot-id.js';

/** Snapshots whose metadata a cache keeps: the newest this host wrote. */
export const CACHED_SNAPSHOTS = 8;

/** The cache's base directory: $CASSETTE_CACHE_DIR, else $XDG_CACHE_HOME/cassette, else ~/.cache/cassette. */
export function cacheBase(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CASSETTE_CACHE_DIR) return path.resolve(env.CASSETTE_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'cassette');
  return path.join(os.homedir(), '.cache', 'cassette');
}

/** The id of the snapshot whose metadata `key` is (`snapshots/<id>.json` or `data/<id>/…`). */
function snapshotOf(key: string): string | undefined {
  const match = /^(?:snapshots\/([^/]+)\.json|data\/([^/]+)\/[^/]+)$/.exec(key);
  const id = match?.[1] ?? match?.[2];
  return id !== undefined && isSnapshotId(id) ? id : undefined;
}

/**
 * One repository's cache, per recipient set: `<base>/<hash of url and fingerprint>/<key>`, files
 * of mode 0600 in directories of mode 0700. It holds what this host wrote (names, sizes and
 * digests of its own files, no content and no key), so that a host holding only public keys can
 * read its last snapshots' indexes; older snapshots stay unreadable to it. Losing it only makes the
 * next backup full.
 */
export class MetadataCache {
  constructor(readonly dir: string) {}

  static forRepository(url: string, fingerprint: string, base = cacheBase()): MetadataCache {
    return new MetadataCache(path.join(base, createHash('sha256').update(`${url}\n${fingerprint}`).digest('hex').slice(0, 24)));
  }

  private fileOf(key: string): string | undefined {
    return snapshotOf(key) === undefined ? undefined : path.join(this.dir, ...key.split('/'));
  }

  /** The cached bytes of `key`; with `digest`, only when they were stored with it (a sealed commit record's). */
  async get(key: string, digest?: string): Promise<Buffer | undefined> {
    const file = this.fileOf(key);
    if (!file) return undefined;
    try {
      if (digest !== undefined && (await fs.readFile(`${file}.sealed`, 'utf8')) !== digest) return undefined;
      return await fs.readFile(file);
    } catch {
      return undefined;
    }
  }

  /** Keep `body` as `key`; best effort (a cache that cannot be written is no error). */
  async put(key: string, body: Buffer, digest?: string): Promise<void> {
    const writer = this.writer(key, digest);
    await writer.write(body);
    await writer.commit();
  }

  /** Keep a stream as `key`, visible once committed; best effort. */
  writer(key: string, digest?: string): { write(chunk: Buffer): Promise<void>; commit(): Promise<void>; discard(): Promise<void> } {
    const file = this.fileOf(key);
    const temp = file ? `${file}.${randomBytes(6).toString('hex')}.tmp` : undefined;
    let handle: Promise<fs.FileHandle | undefined> | undefined;
    const open = (): Promise<fs.FileHandle | undefined> =>
      (handle ??= (async () => {
        if (!file || !temp) return undefined;
        try {
          await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
          return await fs.open(temp, 'wx', 0o600);
        } catch {
          return undefined;
        }
      })());
    let failed = false;
    return {
      write: async (chunk) => {
        const fd = await open();
        if (!fd || failed) return;
        try {
          await fd.write(chunk);
        } catch {
          failed = true;
        }
      },
      commit: async () => {
        const fd = await open();
        if (!fd || !file || !temp) return;
        await fd.close().catch(() => undefined);
        try {
          if (failed) throw new Error('not written');
          if (digest !== undefined) await fs.writeFile(`${file}.sealed`, digest, { mode: 0o600 });
          await fs.rename(temp, file);
        } catch {
          await fs.rm(temp, { force: true });
        }
      },
      discard: async () => {
        const fd = await open();
        if (!fd || !temp) return;
        await fd.close().catch(() => undefined);
        await fs.rm(temp, { force: true });
      },
    };
  }

  /** Remove all but the newest `keep` snapshots' metadata; best effort. */
  async trim(keep = CACHED_SNAPSHOTS): Promise<void> {
    try {
      const records = (await fs.readdir(path.join(this.dir, 'snapshots')).catch(() => [] as string[])).filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -5));
      const data = await fs.readdir(path.join(this.dir, 'data')).catch(() => [] as string[]);
      const ids = [...new Set([...records, ...data])].filter((id) => isSnapshotId(id)).sort();
      for (const id of ids.slice(0, Math.max(0, ids.length - keep))) {
        await fs.rm(path.join(this.dir, 'data', id), { recursive: true, force: true });
        await fs.rm(path.join(this.dir, 'snapshots', `${id}.json`), { force: true });
        await fs.rm(path.join(this.dir, 'snapshots', `${id}.json.sealed`), { force: true });
      }
    } catch {
      // A cache that cannot be trimmed is no error.
    }
  }
}
