// Reads a stored index (docs/FORMAT.md §4, §7) line by line with zstd and JSON.parse alone, not with Cassette's reader: header, frame lines, entry lines.

import { decompress } from 'zstd-napi';
import type { FrameRecord, IndexEntry } from '../../src/format/types.js';

export interface IndexText {
  header: { version: number; frameCount: number; entryCount: number; tarSize: number } & Record<string, unknown>;
  frames: FrameRecord[];
  entries: IndexEntry[];
}

export function parseIndex(compressed: Buffer): IndexText {
  const lines = decompress(compressed)
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const header = lines[0] as IndexText['header'];
  return {
    header,
    frames: lines.slice(1, 1 + header.frameCount) as unknown as FrameRecord[],
    entries: lines.slice(1 + header.frameCount) as unknown as IndexEntry[],
  };
}
