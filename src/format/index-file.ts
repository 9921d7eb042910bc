// Index (`.idx.zst`) lines: header, frame records, entries — encoding and a streaming, validating reader.

import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { CassetteError } from '../errors.js';
import { FORMAT_VERSION, type FrameRecord, type IndexEntry, type IndexHeader } from './types.js';

/** One NDJSON line (with its newline) for any index record. */
export function indexLine(record: IndexHeader | FrameRecord | IndexEntry): string {
  return JSON.stringify(record) + '\n';
}

/** A parsed index: the header and frames are read eagerly, entries stream. */
export interface IndexReader {
  header: IndexHeader;
  frames: FrameRecord[];
  /** Entries in tar order; can be iterated once. */
  entries: AsyncIterable<IndexEntry>;
  /** Stop reading (when the caller does not need every entry). */
  close(): void;
}

/**
 * Read an uncompressed index stream. `name` (usually the object key) appears in every error.
 * Validates the header version, the frame count and contiguity, and each entry's required fields.
 */
export async function readIndex(text: Readable, name: string): Promise<IndexReader> {
  const lines = createInterface({ input: text, crlfDelay: Infinity });
  const iterator = lines[Symbol.asyncIterator]();
  let lineNumber = 0;
  const fail = (message: string): never => {
    lines.close();
    text.destroy();
    throw new CassetteError('E_FORMAT', `index ${name}, line ${lineNumber}: ${message}`);
  };
  const next = async (): Promise<unknown | undefined> => {
    const step = await iterator.next();
    if (step.done) return undefined;
    lineNumber++;
    try {
      return JSON.parse(step.value) as unknown;
    } catch {
      return fail('not valid JSON');
    }
  };

  const header = (await next()) as IndexHeader | undefined;
  if (!header || header.format !== 'cassette-index') fail('missing index header');
  if (typeof header!.version !== 'number' || header!.version > FORMAT_VERSION) {
    fail(`index format version ${String(header!.version)} is newer than this cassette reads (${FORMAT_VERSION})`);
  }
  const frames: FrameRecord[] = [];
  let tarOffset = 0;
  for (let i = 0; i < header!.frameCount; i++) {
    const frame = (await next()) as FrameRecord | undefined;
    if (!frame) fail(`expected ${header!.frameCount} frames, found ${i}`);
    if (frame!.frame !== i || frame!.tarOffset !== tarOffset || !(frame!.size > 0)) {
      fail(`frame record ${i} is out of sequence`);
    }
    tarOffset += frame!.tarSize;
    frames.push(frame!);
  }
  if (tarOffset !== header!.tarSize) fail(`frames cover ${tarOffset} tar bytes, header says ${header!.tarSize}`);

  async function* entries(): AsyncGenerator<IndexEntry> {
    let count = 0;
    for (;;) {
      const entry = (await next()) as IndexEntry | undefined;
      if (entry === undefined) break;
      if (typeof entry.path !== 'string' || typeof entry.type !== 'string' || typeof entry.offset !== 'number'
        || typeof entry.dataOffset !== 'number' || typeof entry.size !== 'number') {
        fail('entry lacks path, type, size, offset or dataOffset');
      }
      if (entry.dataOffset + entry.size > header!.tarSize) fail(`entry ${entry.path} lies beyond the end of the archive`);
      count++;
      yield entry;
    }
    if (count !== header!.entryCount) fail(`expected ${header!.entryCount} entries, found ${count}`);
  }

  return {
    header: header!,
    frames,
    entries: entries(),
    close: () => {
      lines.close();
      text.destroy();
    },
  };
}
