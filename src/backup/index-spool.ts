// Spools index entries to a temporary file while the archive is packed, then emits the whole index once frames are known.

import { createWriteStream, type WriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { indexLine } from '../format/index-file.js';
import type { FrameRecord, IndexEntry, IndexHeader } from '../format/types.js';

/** Bytes read from the spool file at a time while the index is uploaded. */
const SPOOL_READ_SIZE = 1 << 20;

/**
 * The file's bytes in pieces that are views of one buffer, refilled for each piece: a piece is
 * valid only until the next is asked for. A read stream's fresh buffer per read left the whole
 * index (26 MB at 500,000 files) as garbage at the end of a backup, its peak RSS.
 */
async function* readReusing(file: string, size: number): AsyncGenerator<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafeSlow(size);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, size, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/**
 * The index header comes first but needs the frame table, known only at the end; entries are
 * written to disk as they are produced so memory does not grow with the number of files.
 */
export class IndexSpool {
  private readonly file: string;
  private readonly out: WriteStream;
  private pending = '';
  count = 0;

  private constructor(file: string) {
    this.file = file;
    this.out = createWriteStream(file);
    this.out.on('error', () => undefined);
  }

  static async create(): Promise<IndexSpool> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-index-'));
    return new IndexSpool(path.join(dir, 'entries.ndjson'));
  }

  /** Queue one entry; call `flush` now and then to bound memory (the packer does it per frame). */
  add(entry: IndexEntry): void {
    this.pending += indexLine(entry);
    this.count++;
  }

  /** Write queued entries out, waiting for the disk when the stream is full. */
  async flush(): Promise<void> {
    if (this.pending === '') return;
    const chunk = this.pending;
    this.pending = '';
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }

  /** The complete index text: header, frame records, then the spooled entries; each piece is valid until the next is asked for. */
  async *lines(header: Omit<IndexHeader, 'entryCount' | 'frameCount'>, frames: readonly FrameRecord[]): AsyncGenerator<Buffer> {
    await this.flush();
    this.out.end();
    await once(this.out, 'finish');
    const full: IndexHeader = { ...header, frameCount: frames.length, entryCount: this.count } as IndexHeader;
    let text = indexLine(full);
    for (const frame of frames) {
      text += indexLine(frame);
      if (text.length >= 1 << 20) {
        yield Buffer.from(text);
        text = '';
      }
    }
    if (text) yield Buffer.from(text);
    yield* readReusing(this.file, SPOOL_READ_SIZE);
  }

  async dispose(): Promise<void> {
    this.out.destroy();
    await fs.rm(path.dirname(this.file), { recursive: true, force: true });
  }
}
