// The zstd seekable-format seek table (facebook/zstd contrib/seekable_format): encode and parse, pure.

export interface SeekEntry {
  compressedSize: number;
  decompressedSize: number;
}

const SKIPPABLE_MAGIC = 0x184d2a5e;
const SEEKABLE_MAGIC = 0x8f92eab1;
export const SEEK_TABLE_FOOTER_SIZE = 9;

/** A skippable frame holding one entry per frame (no checksums) and the 9-byte footer. */
export function encodeSeekTable(entries: readonly SeekEntry[]): Buffer {
  const body = entries.length * 8 + SEEK_TABLE_FOOTER_SIZE;
  const out = Buffer.alloc(8 + body);
  out.writeUInt32LE(SKIPPABLE_MAGIC, 0);
  out.writeUInt32LE(body, 4);
  let at = 8;
  for (const [i, entry] of entries.entries()) {
    if (!(entry.compressedSize >= 0 && entry.compressedSize <= 0xffffffff) || !(entry.decompressedSize >= 0 && entry.decompressedSize <= 0xffffffff)) {
      throw new RangeError(`seek table entry ${i} does not fit in 32 bits`);
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

/** Parse the last 9 bytes of an object: the frame count and the size of the whole seek-table frame. */
export function parseSeekTableFooter(footer: Buffer): { frames: number; checksums: boolean; tableSize: number } {
  if (footer.length < SEEK_TABLE_FOOTER_SIZE) throw new Error(`seek table footer needs ${SEEK_TABLE_FOOTER_SIZE} bytes, got ${footer.length}`);
  const tail = footer.subarray(footer.length - SEEK_TABLE_FOOTER_SIZE);
  if (tail.readUInt32LE(5) !== SEEKABLE_MAGIC) throw new Error('no zstd seek table at the end of the object (bad seekable magic number)');
  const descriptor = tail.readUInt8(4);
  if ((descriptor & 0x7c) !== 0) throw new Error('seek table descriptor has reserved bits set');
  const frames = tail.readUInt32LE(0);
  const checksums = (descriptor & 0x80) !== 0;
  return { frames, checksums, tableSize: 8 + frames * (checksums ? 12 : 8) + SEEK_TABLE_FOOTER_SIZE };
}

/** Parse a whole seek-table skippable frame. */
export function parseSeekTable(table: Buffer): SeekEntry[] {
  const { frames, checksums, tableSize } = parseSeekTableFooter(table);
  if (table.length !== tableSize) throw new Error(`seek table of ${frames} frames should be ${tableSize} bytes, got ${table.length}`);
  if (table.readUInt32LE(0) !== SKIPPABLE_MAGIC) throw new Error('seek table does not start with the skippable frame magic number');
  if (table.readUInt32LE(4) !== tableSize - 8) throw new Error('seek table frame size field does not match its length');
  const size = checksums ? 12 : 8;
  const entries: SeekEntry[] = [];
  for (let i = 0, at = 8; i < frames; i++, at += size) {
    entries.push({ compressedSize: table.readUInt32LE(at), decompressedSize: table.readUInt32LE(at + 4) });
  }
  return entries;
}
