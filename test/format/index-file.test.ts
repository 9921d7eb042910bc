import { describe, expect, it } from 'vitest';
import { CassetteError } from '../../src/errors.js';
import { indexLine, readIndex } from '../../src/format/index-file.js';
import { FORMAT_VERSION, type FrameRecord, type IndexEntry, type IndexHeader } from '../../src/format/types.js';
import { cut, rejection } from '../helpers/rejection.js';

const header: IndexHeader = {
  format: 'cassette-index',
  version: FORMAT_VERSION,
  artifact: 'etc',
  kind: 'tree',
  source: '/etc',
  frameCount: 1,
  entryCount: 2,
  tarSize: 4096,
  hash: 'sha256',
};
const frame: FrameRecord = { frame: 0, volume: 0, offset: 0, size: 300, tarOffset: 0, tarSize: 4096 };
const entry = (path: string, offset: number): IndexEntry => ({
  path,
  type: 'file',
  size: 10,
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: '1764170000',
  sha256: 'a'.repeat(64),
  offset,
  dataOffset: offset + 512,
});
const good = [indexLine(header), indexLine(frame), indexLine(entry('hosts', 0)), indexLine(entry('passwd', 1024))];

async function entriesOf(lines: string[], size = 7): Promise<IndexEntry[]> {
  const index = await readIndex(cut(lines.join(''), size), 'test.idx.zst');
  const out: IndexEntry[] = [];
  for await (const e of index.entries) out.push(e);
  return out;
}

const failure = (lines: string[]): Promise<CassetteError> => rejection(entriesOf(lines), 'reading the index');

describe('readIndex', () => {
  it('reads header, frames and entries whatever the cut of the text, bytes or strings, with CRLF line ends', async () => {
    for (const size of [1, 7, 100, 100_000]) expect((await entriesOf(good, size)).map((e) => e.path)).toEqual(['hosts', 'passwd']);
    const index = await readIndex([Buffer.from(good.join('').replaceAll('\n', '\r\n'))], 'test.idx.zst');
    expect(index.header).toEqual(header);
    expect(index.frames).toEqual([frame]);
  });

  it.each<[string, string[], RegExp]>([
    ['a line that is not JSON', [...good.slice(0, 3), '{"path": "passwd"\n'], /line 4: not valid JSON/],
    ['an entry that is null', [...good.slice(0, 3), 'null\n'], /line 4: entry lacks path/],
    ['an entry without an offset', [...good.slice(0, 3), JSON.stringify({ path: 'x', type: 'file', size: 1 }) + '\n'], /line 4: entry lacks/],
    ['an entry past the end of the archive', [...good.slice(0, 3), indexLine(entry('passwd', 8192))], /line 4: entry passwd lies beyond the end/],
    ['a missing entry', good.slice(0, 3), /expected 2 entries, found 1/],
    ['a frame out of sequence', [good[0]!, indexLine({ ...frame, frame: 1 }), ...good.slice(2)], /line 2: frame record 0 is out of sequence/],
    ['no header', good.slice(1), /line 1: missing index header/],
  ])('refuses %s with E_FORMAT naming the index and the line', async (_what, lines, message) => {
    const error = await failure(lines);
    expect(error).toBeInstanceOf(CassetteError);
    expect(error.code).toBe('E_FORMAT');
    expect(error.message).toContain('test.idx.zst');
    expect(error.message).toMatch(message);
  });
});
