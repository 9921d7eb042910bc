// Index entries and commit records built by hand for the inspect tests: only the fields a test names differ from a plain file.

import type { IndexReader } from '../../src/format/index-file.js';
import type { ArtifactRecord, CommitRecord, IndexEntry } from '../../src/format/types.js';

export function entry(path: string, fields: Partial<IndexEntry> = {}): IndexEntry {
  return { path, type: 'file', size: 10, mode: 0o644, uid: 1000, gid: 1000, mtime: '1764170000', sha256: 'a'.repeat(64), offset: 0, dataOffset: 512, ...fields };
}

export function dir(path: string, fields: Partial<IndexEntry> = {}): IndexEntry {
  return entry(path, { type: 'dir', size: 0, mode: 0o755, sha256: undefined, ...fields });
}

export async function* stream<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export function artifact(name: string, fields: Partial<ArtifactRecord> = {}): ArtifactRecord {
  return {
    name,
    kind: 'tree',
    source: `/${name}`,
    volumes: [],
    index: { key: `data/x/${name}.idx.zst`, size: 0 },
    bytesRead: 0,
    tarBytes: 0,
    storedBytes: 0,
    frameCount: 0,
    entryCount: 0,
    warnings: [],
    warningCount: 0,
    ...fields,
  };
}

export function record(id: string, artifacts: ArtifactRecord[], fields: Partial<CommitRecord> = {}): CommitRecord {
  return {
    format: 'cassette-snapshot',
    version: 2,
    id,
    host: 'h',
    tags: [],
    startedAt: '2026-11-30T00:00:00Z',
    finishedAt: '2026-11-30T00:00:01Z',
    cassetteVersion: 'test',
    compressionLevel: 3,
    artifacts,
    ...fields,
  };
}

/** An openIndex over in-memory entries by artifact index key; records every key it opens. */
export function memoryIndexes(byKey: Record<string, IndexEntry[]>): { open: (a: ArtifactRecord) => Promise<IndexReader>; opened: string[] } {
  const opened: string[] = [];
  return {
    opened,
    open: (a) => {
      opened.push(a.index.key);
      const entries = byKey[a.index.key];
      if (!entries) return Promise.reject(new Error(`no index ${a.index.key}`));
      return Promise.resolve({
        header: { format: 'cassette-index', version: 2, artifact: a.name, kind: a.kind, source: a.source, frameCount: 0, entryCount: entries.length, tarSize: 0, hash: 'sha256' },
        frames: [],
        entries: stream(entries),
        close: () => undefined,
      });
    },
  };
}
