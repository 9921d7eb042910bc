// Seek table codec: round trips, footer parsing, error paths, and the zstd CLI skipping our table.

import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CassetteError } from '../../src/errors.js';
import { encodeSeekTable, parseSeekTable, parseSeekTableFooter, SEEK_TABLE_FOOTER_SIZE, type SeekEntry } from '../../src/format/seek-table.js';

const entriesOf = (n: number): SeekEntry[] =>
  Array.from({ length: n }, (_, i) => ({ compressedSize: (i * 7919 + 13) % 0xffffffff, decompressedSize: i === n - 1 ? 0xffffffff : i * 4096 + 1 }));

describe('seek table round trip', () => {
  it.each([0, 1, 1000])('%i entries', (n) => {
    const entries = entriesOf(n);
    const table = encodeSeekTable(entries);
    expect(table.length).toBe(8 + 8 * n + 9);
    expect(table.readUInt32LE(0)).toBe(0x184d2a5e);
    expect(table.readUInt32LE(4)).toBe(8 * n + 9);
    expect(table.readUInt32LE(table.length - 4)).toBe(0x8f92eab1);
    expect(table[table.length - 5]).toBe(0);
    expect(table.readUInt32LE(table.length - 9)).toBe(n);
    expect(parseSeekTable(table)).toEqual(entries);
  });

  it('the footer alone (last 9 bytes of a volume) gives the frame count and table size', () => {
    const table = encodeSeekTable(entriesOf(5));
    const volume = Buffer.concat([randomBytes(100), table]);
    expect(parseSeekTableFooter(volume.subarray(volume.length - SEEK_TABLE_FOOTER_SIZE))).toEqual({ frames: 5, checksums: false, tableSize: table.length });
    // A longer tail works too: only its last 9 bytes count.
    expect(parseSeekTableFooter(volume)).toEqual({ frames: 5, checksums: false, tableSize: table.length });
    expect(parseSeekTable(volume.subarray(volume.length - table.length))).toEqual(entriesOf(5));
  });

  it('rejects entries that do not fit in 32 bits', () => {
    expect(() => encodeSeekTable([{ compressedSize: 2 ** 32, decompressedSize: 1 }])).toThrow(RangeError);
    expect(() => encodeSeekTable([{ compressedSize: 1, decompressedSize: -1 }])).toThrow(RangeError);
  });
});

describe('seek table errors', () => {
  it('bad seekable magic throws', () => {
    const table = encodeSeekTable(entriesOf(2));
    table[table.length - 1] ^= 0xff;
    expect(() => parseSeekTableFooter(table)).toThrow(/magic/);
    expect(() => parseSeekTable(table)).toThrow(/magic/);
  });

  it('bad skippable magic throws', () => {
    const table = encodeSeekTable(entriesOf(2));
    table.writeUInt32LE(0x184d2a50, 0);
    expect(() => parseSeekTable(table)).toThrow(/magic/);
  });

  it('a footer shorter than 9 bytes throws', () => {
    expect(() => parseSeekTableFooter(Buffer.alloc(8))).toThrow();
  });

  it('reserved descriptor bits throw', () => {
    const table = encodeSeekTable(entriesOf(1));
    table[table.length - 5] = 0x04;
    expect(() => parseSeekTable(table)).toThrow(/reserved/);
  });

  it('a wrong length or Frame_Size field throws', () => {
    const table = encodeSeekTable(entriesOf(3));
    expect(() => parseSeekTable(Buffer.concat([Buffer.alloc(8), table]))).toThrow();
    const bad = Buffer.from(table);
    bad.writeUInt32LE(8 * 3 + 10, 4);
    expect(() => parseSeekTable(bad)).toThrow(/frame size/);
  });
});

describe('a table with the checksum flag', () => {
  it('parses 12-byte entries (the checksums are ignored)', () => {
    const entries = entriesOf(3);
    const table = Buffer.alloc(8 + 12 * 3 + 9);
    table.writeUInt32LE(0x184d2a5e, 0);
    table.writeUInt32LE(12 * 3 + 9, 4);
    let at = 8;
    for (const e of entries) {
      table.writeUInt32LE(e.compressedSize, at);
      table.writeUInt32LE(e.decompressedSize, at + 4);
      table.writeUInt32LE(0xdeadbeef, at + 8);
      at += 12;
    }
    table.writeUInt32LE(3, at);
    table[at + 4] = 0x80;
    table.writeUInt32LE(0x8f92eab1, at + 5);
    expect(parseSeekTableFooter(table)).toEqual({ frames: 3, checksums: true, tableSize: table.length });
    expect(parseSeekTable(table)).toEqual(entries);
  });
});

describe('interop with the zstd CLI', () => {
  it('frames compressed separately by zstd, concatenated and followed by our seek table, decode with zstd -dc', async () => {
    const chunks = [Buffer.from('first chunk '.repeat(1000)), randomBytes(50_000), Buffer.alloc(0x20000, 7)];
    const frames: Buffer[] = [];
    for (const chunk of chunks) {
      const { stdout } = await execa('zstd', ['-c', '-q'], { input: chunk, encoding: 'buffer', stripFinalNewline: false });
      frames.push(Buffer.from(stdout));
    }
    const table = encodeSeekTable(frames.map((f, i) => ({ compressedSize: f.length, decompressedSize: chunks[i]!.length })));
    const volume = Buffer.concat([...frames, table]);
    const { stdout } = await execa('zstd', ['-dc'], { input: volume, encoding: 'buffer', stripFinalNewline: false });
    expect(Buffer.from(stdout).equals(Buffer.concat(chunks))).toBe(true);

    // And the table read back from the volume's tail locates every frame.
    const { tableSize } = parseSeekTableFooter(volume.subarray(volume.length - 9));
    const parsed = parseSeekTable(volume.subarray(volume.length - tableSize));
    let offset = 0;
    for (const [i, entry] of parsed.entries()) {
      const { stdout: one } = await execa('zstd', ['-dc'], { input: volume.subarray(offset, offset + entry.compressedSize), encoding: 'buffer', stripFinalNewline: false });
      expect(Buffer.from(one).equals(chunks[i]!)).toBe(true);
      offset += entry.compressedSize;
    }
    expect(offset + tableSize).toBe(volume.length);
  });
});

describe('seek table edge cases', () => {
  it('accepts the u32 limits and rejects fractions, NaN and > 2^32 - 1 with a RangeError naming the entry', () => {
    const limits = [
      { compressedSize: 0, decompressedSize: 0 },
      { compressedSize: 0xffffffff, decompressedSize: 0xffffffff },
    ];
    expect(parseSeekTable(encodeSeekTable(limits))).toEqual(limits);
    for (const bad of [1.5, Number.NaN, 0x100000000, Number.MAX_SAFE_INTEGER]) {
      expect(() => encodeSeekTable([limits[0]!, { compressedSize: 1, decompressedSize: bad }])).toThrow(/entry 1: expected `decompressedSize`/);
    }
  });

  it('errors carry a stable code: E_INTEGRITY for damage, E_FORMAT for a newer format', () => {
    const table = encodeSeekTable(entriesOf(2));
    const damaged = Buffer.from(table);
    damaged.writeUInt32LE(0, damaged.length - 4);
    const newer = Buffer.from(table);
    newer[newer.length - 5] = 0x40;
    const codeOf = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(CassetteError);
        return (error as CassetteError).code;
      }
      return undefined;
    };
    expect(codeOf(() => parseSeekTable(damaged))).toBe('E_INTEGRITY');
    expect(codeOf(() => parseSeekTable(newer))).toBe('E_FORMAT');
  });

  it('ignores the unused descriptor bits 1-0, as the spec asks', () => {
    const table = encodeSeekTable(entriesOf(4));
    table[table.length - 5] = 0x03;
    expect(parseSeekTable(table)).toEqual(entriesOf(4));
  });

  it('refuses a footer claiming more frames than the format allows (a corrupt count would mean a huge ranged read)', () => {
    const footer = Buffer.alloc(9);
    footer.writeUInt32LE(0x8000001, 0);
    footer.writeUInt32LE(0x8f92eab1, 5);
    expect(() => parseSeekTableFooter(footer)).toThrow(/frames/);
    footer.writeUInt32LE(0x8000000, 0);
    expect(parseSeekTableFooter(footer).tableSize).toBe(8 + 8 * 0x8000000 + 9);
  });

  it('a truncated table (only the tail of a longer one) is refused', () => {
    const table = encodeSeekTable(entriesOf(10));
    expect(() => parseSeekTable(table.subarray(8))).toThrow(/should be 97 bytes, got 89/);
  });

  it('zstd -dc also skips a seek table placed after an empty table-only object and between frames', async () => {
    const a = Buffer.from('alpha '.repeat(100));
    const b = Buffer.from('beta '.repeat(100));
    const fa = Buffer.from((await execa('zstd', ['-c', '-q'], { input: a, encoding: 'buffer', stripFinalNewline: false })).stdout);
    const fb = Buffer.from((await execa('zstd', ['-c', '-q'], { input: b, encoding: 'buffer', stripFinalNewline: false })).stdout);
    const stream = Buffer.concat([
      fa,
      encodeSeekTable([]),
      fb,
      encodeSeekTable([
        { compressedSize: fa.length, decompressedSize: a.length },
        { compressedSize: fb.length, decompressedSize: b.length },
      ]),
    ]);
    const { stdout } = await execa('zstd', ['-dc'], { input: stream, encoding: 'buffer', stripFinalNewline: false });
    expect(Buffer.from(stdout).equals(Buffer.concat([a, b]))).toBe(true);
  });
});
