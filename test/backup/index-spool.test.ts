import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IndexSpool } from '../../src/backup/index-spool.js';
import { readIndex } from '../../src/format/index-file.js';
import { FORMAT_VERSION, type FrameRecord, type IndexEntry } from '../../src/format/types.js';

function entry(i: number): IndexEntry {
  return {
    path: `dir-${i % 97}/file-${i}.conf`,
    type: 'file',
    size: i % 500,
    mode: 0o644,
    uid: 1000,
    gid: 1000,
    mtime: `${1764170000 + i}.5`,
    sha256: i.toString(16).padStart(64, '0'),
    offset: i * 1024,
    dataOffset: i * 1024 + 512,
  };
}

describe('IndexSpool', () => {
  it('gives back every spooled entry, in order, after the header and frames, across many reads of the spool file', async () => {
    const spool = await IndexSpool.create();
    const count = 40_000; // about 8 MB of lines: several reads of the spool file
    const tarSize = (count + 1) * 1024;
    const frames: FrameRecord[] = [
      { frame: 0, volume: 0, offset: 0, size: 100, tarOffset: 0, tarSize: tarSize - 2048 },
      { frame: 1, volume: 0, offset: 100, size: 50, tarOffset: tarSize - 2048, tarSize: 2048 },
    ];
    try {
      for (let i = 0; i < count; i++) {
        spool.add(entry(i));
        if (i % 1000 === 999) await spool.flush();
      }
      expect(spool.count).toBe(count);
      // Each piece is a view of a buffer that is refilled for the next: keep copies, as the upload does.
      const pieces: Buffer[] = [];
      const views = new Set<ArrayBufferLike>();
      for await (const piece of spool.lines(
        { format: 'cassette-index', version: FORMAT_VERSION, artifact: 'etc', kind: 'tree', source: '/etc', tarSize, hash: 'sha256' },
        frames,
      )) {
        pieces.push(Buffer.from(piece));
        views.add(piece.buffer);
      }
      expect(pieces.length).toBeGreaterThan(4);
      // One read buffer for the spooled entries, however many reads there were.
      expect(views.size).toBeLessThan(pieces.length);

      const index = await readIndex(Readable.from([Buffer.concat(pieces)]), 'test index');
      expect(index.header).toMatchObject({ artifact: 'etc', entryCount: count, frameCount: 2, tarSize });
      expect(index.frames).toEqual(frames);
      let i = 0;
      for await (const read of index.entries) {
        expect(read).toEqual(entry(i));
        i++;
      }
      expect(i).toBe(count);
    } finally {
      await spool.dispose();
    }
  });

  it('removes its temporary directory when disposed', async () => {
    const spool = await IndexSpool.create();
    spool.add(entry(1));
    await spool.flush();
    const file = (spool as unknown as { file: string }).file;
    await expect(fs.stat(path.dirname(file))).resolves.toBeTruthy();
    await spool.dispose();
    await expect(fs.stat(path.dirname(file))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
