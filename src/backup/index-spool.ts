// Spools index entries to a temporary file while the archive is packed, then emits the whole index once frames are known.

import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { indexLine } from '../format/index-file.js';
import type { FrameRecord, IndexEntry, IndexHeader } from '../format/types.js';

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

  /** The complete index text: header, frame records, then the spooled entries. */
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
    for await (const chunk of createReadStream(this.file, { highWaterMark: 1 << 20 })) yield chunk as Buffer;
  }

  async dispose(): Promise<void> {
    this.out.destroy();
    await fs.rm(path.dirname(this.file), { recursive: true, force: true });
  }
}
