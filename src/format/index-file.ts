// Index (`.idx.zst`) lines: header, frame records, entries — encoding and a streaming, validating reader.

import { StringDecoder } from 'node:string_decoder';
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

/** Lines of a text stream, one batch per chunk of text; a `\r` before the `\n` stays on the line (JSON ignores it). */
async function* lineBatches(text: AsyncIterable<string | Buffer> | Iterable<string | Buffer>): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  for await (const chunk of text) {
    const lines = (partial + (typeof chunk === 'string' ? chunk : decoder.write(chunk))).split('\n');
    partial = lines.pop()!;
    if (lines.length > 0) yield lines;
  }
  partial += decoder.end();
  if (partial) yield [partial];
}

/**
 * Read an uncompressed index: a stream of text or bytes. `name` (usually the object key) appears in
 * every error. Validates the header version, the frame count and contiguity, and each entry's
 * required fields. Closing the reader (or an error) stops reading `text`.
 */
export async function readIndex(text: AsyncIterable<string | Buffer> | Iterable<string | Buffer>, name: string): Promise<IndexReader> {
  const batches = lineBatches(text);
  let batch: string[] = [];
  let inBatch = 0;
  let lineNumber = 0;
  const stop = (): void => void batches.return(undefined).catch(() => undefined);
  const fail = (message: string): never => {
    stop();
    throw new CassetteError('E_FORMAT', `index ${name}, line ${lineNumber}: ${message}`);
  };
  /** False once the text has ended; otherwise `batch` holds at least one more line. */
  const more = async (): Promise<boolean> => {
    while (inBatch === batch.length) {
      const step = await batches.next();
      if (step.done) return false;
      batch = step.value;
      inBatch = 0;
    }
    return true;
  };
  /** The next line of the current batch, parsed (call after more() said true). */
  const parsed = (): unknown => {
    const line = batch[inBatch++]!;
    lineNumber++;
    try {
      return JSON.parse(line) as unknown;
    } catch {
      return fail('not valid JSON');
    }
  };
  const next = async (): Promise<unknown> => ((await more()) ? parsed() : undefined);

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
    // Lines of a batch parse without awaiting anything: only a new batch waits for the stream.
    while (inBatch < batch.length || (await more())) {
      const entry = parsed() as IndexEntry;
      if (
        typeof entry !== 'object' ||
        entry === null ||
        typeof entry.path !== 'string' ||
        typeof entry.type !== 'string' ||
        typeof entry.offset !== 'number' ||
        typeof entry.dataOffset !== 'number' ||
        typeof entry.size !== 'number'
      ) {
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
    close: stop,
  };
}
