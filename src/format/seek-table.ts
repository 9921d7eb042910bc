// The zstd seekable-format seek table (facebook/zstd contrib/seekable_format): encode and parse, pure.
//
// Layout, all little-endian: a skippable frame (magic 0x184D2A5E, u32 frame size), one entry per
// frame (u32 compressed size, u32 decompressed size, [u32 checksum]), then the 9-byte footer
// (u32 number of frames, descriptor byte, u32 seekable magic 0x8F92EAB1). zstd -d skips it.

import { CassetteError } from '../errors.js';

/** One zstd frame of a volume, in the order the frames are stored. */
export interface SeekEntry {
  compressedSize: number;
  decompressedSize: number;
}

const SKIPPABLE_MAGIC = 0x184d2a5e;
const SEEKABLE_MAGIC = 0x8f92eab1;
/** Skippable magic and frame size field. */
const FRAME_HEADER_SIZE = 8;
/** Size of the footer, the last bytes of a seekable object. */
export const SEEK_TABLE_FOOTER_SIZE = 9;
/** Checksum_Flag in the Seek_Table_Descriptor. */
const CHECKSUM_FLAG = 0x80;
/** Reserved_Bits (6-2): must be 0; a set bit means a format change this code cannot read. */
const RESERVED_BITS = 0x7c;
/** The reference implementation's frame limit; a larger count means a corrupt footer. */
const MAX_FRAMES = 0x8000000;
const MAX_U32 = 0xffffffff;

/** The whole seek-table skippable frame: one entry per frame, no checksums, then the footer. */
export function encodeSeekTable(entries: readonly SeekEntry[]): Buffer {
  if (entries.length > MAX_FRAMES) throw new RangeError(`a seek table holds at most ${MAX_FRAMES} frames, got ${entries.length}`);
  const frameSize = entries.length * 8 + SEEK_TABLE_FOOTER_SIZE;
  const out = Buffer.alloc(FRAME_HEADER_SIZE + frameSize);
  out.writeUInt32LE(SKIPPABLE_MAGIC, 0);
  out.writeUInt32LE(frameSize, 4);
  let at = FRAME_HEADER_SIZE;
  for (const [i, entry] of entries.entries()) {
    for (const field of ['compressedSize', 'decompressedSize'] as const) {
      const value = entry[field];
      if (!Number.isInteger(value) || value < 0 || value > MAX_U32) {
        throw new RangeError(`seek table entry ${i}: expected \`${field}\` to be an integer from 0 to ${MAX_U32} (u32), got ${value}`);
      }
    }
    out.writeUInt32LE(entry.compressedSize, at);
    out.writeUInt32LE(entry.decompressedSize, at + 4);
    at += 8;
  }
  out.writeUInt32LE(entries.length, at);
  out.writeUInt8(0, at + 4);
  out.writeUInt32LE(SEEKABLE_MAGIC, at + 5);
  return out;
}

/**
 * Parse the footer, the last 9 bytes of `footer` (a longer buffer is fine): the frame count,
 * whether entries carry checksums, and the byte size of the whole seek-table skippable frame.
 */
export function parseSeekTableFooter(footer: Buffer): { frames: number; checksums: boolean; tableSize: number } {
  if (footer.length < SEEK_TABLE_FOOTER_SIZE) {
    throw new CassetteError('E_INTEGRITY', `zstd seek table footer needs ${SEEK_TABLE_FOOTER_SIZE} bytes, got ${footer.length}`);
  }
  const tail = footer.subarray(footer.length - SEEK_TABLE_FOOTER_SIZE);
  const magic = tail.readUInt32LE(5);
  if (magic !== SEEKABLE_MAGIC) {
    throw new CassetteError('E_INTEGRITY', `no zstd seek table at the end of the object: bad seekable magic number 0x${hex(magic)} (expected 0x${hex(SEEKABLE_MAGIC)})`);
  }
  const descriptor = tail.readUInt8(4);
  if ((descriptor & RESERVED_BITS) !== 0) {
    throw new CassetteError('E_FORMAT', `zstd seek table descriptor 0x${descriptor.toString(16)} has reserved bits set: a newer seekable format`);
  }
  const frames = tail.readUInt32LE(0);
  if (frames > MAX_FRAMES) throw new CassetteError('E_INTEGRITY', `zstd seek table footer claims ${frames} frames (at most ${MAX_FRAMES})`);
  const checksums = (descriptor & CHECKSUM_FLAG) !== 0;
  return { frames, checksums, tableSize: FRAME_HEADER_SIZE + frames * (checksums ? 12 : 8) + SEEK_TABLE_FOOTER_SIZE };
}

/**
 * Parse a whole seek-table skippable frame (what encodeSeekTable returns, or the last
 * `tableSize` bytes of an object). Checksums, when present, are skipped.
 */
export function parseSeekTable(table: Buffer): SeekEntry[] {
  const { frames, checksums, tableSize } = parseSeekTableFooter(table);
  if (table.length !== tableSize) {
    throw new CassetteError('E_INTEGRITY', `zstd seek table of ${frames} frames${checksums ? ' with checksums' : ''} should be ${tableSize} bytes, got ${table.length}`);
  }
  const magic = table.readUInt32LE(0);
  if (magic !== SKIPPABLE_MAGIC) {
    throw new CassetteError('E_INTEGRITY', `zstd seek table does not start with the skippable frame magic number: 0x${hex(magic)} (expected 0x${hex(SKIPPABLE_MAGIC)})`);
  }
  const frameSize = table.readUInt32LE(4);
  if (frameSize !== tableSize - FRAME_HEADER_SIZE) {
    throw new CassetteError('E_INTEGRITY', `zstd seek table frame size field says ${frameSize} bytes, its ${frames} entries and footer take ${tableSize - FRAME_HEADER_SIZE}`);
  }
  const entrySize = checksums ? 12 : 8;
  const entries: SeekEntry[] = [];
  for (let i = 0, at = FRAME_HEADER_SIZE; i < frames; i++, at += entrySize) {
    entries.push({ compressedSize: table.readUInt32LE(at), decompressedSize: table.readUInt32LE(at + 4) });
  }
  return entries;
}

const hex = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
