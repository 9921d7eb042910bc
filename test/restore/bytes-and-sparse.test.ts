// Restore's byte paths (safe-path.ts: normalizeEntryBytes, joinPath, parentPath, pathKey, and the
// symlink check on byte paths) and sparse writing (write-files.ts: writeSparse) on real files, where
// the holes are read back with SEEK_DATA/SEEK_HOLE and st_blocks.

import { execFileSync } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCassetteError } from '../../src/errors.js';
import { writeSparse } from '../../src/restore/write-files.js';
import { assertNoSymlinkParents, joinPath, normalizeEntryBytes, normalizeEntryPath, normalizeLinkTarget, parentPath, pathKey, resolveInside } from '../../src/restore/safe-path.js';
import { thrown } from '../helpers/rejection.js';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-bytes-sparse-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The reason of an E_UNSAFE_PATH message, without the entry it names: `refusing entry "…": <reason>`. */
const reasonOf = (error: Error): string => error.message.slice(error.message.lastIndexOf('": ') + 3);

describe('normalizeEntryBytes refuses hostile byte paths exactly like their string forms', () => {
  // Each case: the bytes (Latin-1 \xNN are raw bytes, never valid UTF-8 here), and the same path
  // with those bytes replaced by a UTF-8 character, as a string.
  it.each<[string, string, RegExp]>([
    ['absolute', '/etc/\xff', /absolute path/],
    ['absolute with several slashes', '///\xe9/x', /absolute path/],
    ['a bare ..', '..', /"\.\." component/],
    ['a leading ..', '../\xff', /"\.\." component/],
    ['.. after a non-UTF-8 component', 'a/\xff/../../x', /"\.\." component/],
    ['.. that stays inside', '\xff/b/../c', /"\.\." component/],
    ['a trailing ..', '\xfe/..', /"\.\." component/],
    // A decoder that took the '/' after a cut multi-byte sequence into it would see one name '\uFFFD..'.
    ['.. after a lead byte with no continuation', '\xe2/..', /"\.\." component/],
    ['.. after a 4-byte sequence cut short', '\xf0\x9f\x98/../x', /"\.\." component/],
    ['.. behind ./ and repeated slashes', './/..//\xff', /"\.\." component/],
    ['a NUL byte', 'a\x00\xff', /NUL byte/],
    ['a NUL byte that would cut to ..', '..\x00\xff', /NUL byte/],
    ['a drive letter', 'C:\xff', /drive letter/],
    ['a drive-relative ..', 'c:..\\\xff', /drive letter/],
    ['.. with backslashes', 'a\\..\\b\xff', /"\.\." component/],
    ['.. with backslashes climbing out', '\xff\\..\\..\\x', /"\.\." component/],
    ['a UNC path', '\\\\server\\\xff', /absolute path/],
    ['only . components', './/./', /restore root itself/],
    ['empty', '', /empty path/],
  ])('%s', (_, raw, reason) => {
    const bytes = latin1(raw);
    const error = thrown(() => normalizeEntryBytes(bytes));
    expect(isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
    expect(reasonOf(error)).toMatch(reason);
    // The string form, with every non-ASCII byte a real character, is refused for the same reason.
    const asString = raw.replace(/[\x80-\xff]/g, 'é');
    expect(reasonOf(thrown(() => normalizeEntryPath(asString)))).toBe(reasonOf(error));
    // And as a hard link target, the same reason in the target's words.
    const asTarget = thrown(() => normalizeEntryBytes(bytes, 'hard link target'));
    expect(isCassetteError(asTarget, 'E_UNSAFE_PATH')).toBe(true);
    expect(reasonOf(asTarget)).toBe(reasonOf(thrown(() => normalizeLinkTarget(asString))));
    // resolveInside goes through the same check for byte paths.
    expect(
      isCassetteError(
        thrown(() => resolveInside('/restore', bytes)),
        'E_UNSAFE_PATH',
      ),
    ).toBe(true);
  });
});

describe('normalizeEntryBytes keeps the bytes exact', () => {
  it.each<[string, Buffer, Buffer]>([
    ['plain non-UTF-8 bytes', latin1('dir-\xff/f\xe9'), latin1('dir-\xff/f\xe9')],
    ['. components and repeated slashes dropped', latin1('./a//./\xff/./b'), latin1('a/\xff/b')],
    ['a trailing slash and a trailing . dropped', latin1('\xff/x/./'), latin1('\xff/x')],
    ['names that start with dots kept', latin1('..\xff/.\xfe/...'), latin1('..\xff/.\xfe/...')],
    // Overlong encodings of '.' and '/' (C0 AE, C0 AF) are ordinary bytes to the kernel: no ".." here.
    [
      'overlong-encoded .. and / kept as they are',
      Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0x2f, 0x61, 0xc0, 0xaf, 0x62]),
      Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0x2f, 0x61, 0xc0, 0xaf, 0x62]),
    ],
    ['a byte that decodes to U+FFFD before a colon is not a drive letter', latin1('\xff:x'), latin1('\xff:x')],
    ['a backslash inside a name kept', latin1('a\\\xff\\b'), latin1('a\\\xff\\b')],
    ['valid UTF-8 among invalid bytes kept', Buffer.concat([Buffer.from('日本/'), latin1('\xff')]), Buffer.concat([Buffer.from('日本/'), latin1('\xff')])],
  ])('%s', (_, input, expected) => {
    const out = normalizeEntryBytes(input);
    expect(out).toEqual(expected);
    expect(normalizeEntryBytes(out)).toEqual(expected);
    expect(resolveInside('/restore', input)).toEqual(Buffer.concat([Buffer.from('/restore/'), expected]));
  });
});

describe('joinPath, parentPath, pathKey', () => {
  it.each<[string, string | Buffer, string | Buffer, string | Buffer]>([
    ['two strings: path.join', '/r/', 'a/b', '/r/a/b'],
    ['a Buffer tail', '/r', latin1('a/\xff'), latin1('/r/a/\xff')],
    ['a Buffer head ending in /', latin1('/r\xff/'), 'x', latin1('/r\xff/x')],
    ['a string head ending in / and a Buffer tail', '/', latin1('\xff'), latin1('/\xff')],
    ['two Buffers', latin1('/\xe9'), latin1('\xff'), latin1('/\xe9/\xff')],
  ])('joinPath: %s', (_, base, rel, expected) => {
    expect(joinPath(base, rel)).toEqual(expected);
  });

  it.each<[string, string | Buffer, string | Buffer]>([
    ['a string', '/r/a/b', '/r/a'],
    ['bytes', latin1('/r/\xff/b\xfe'), latin1('/r/\xff')],
    ['bytes directly under /', latin1('/\xff'), Buffer.from('/')],
    ['bytes /', Buffer.from('/'), Buffer.from('/')],
  ])('parentPath: %s', (_, p, expected) => {
    expect(parentPath(p)).toEqual(expected);
  });

  it('pathKey: bytes that are UTF-8 share the string key; different invalid bytes never share one', () => {
    expect(pathKey('/r/é')).toBe('/r/é');
    expect(pathKey(Buffer.from('/r/é'))).toBe('/r/é');
    const keys = [pathKey(latin1('/r/\xff')), pathKey(latin1('/r/\xfe')), pathKey('/r/\uFFFD'), pathKey(Buffer.from('/r/\uFFFD')), pathKey(latin1('/r/\xe9'))];
    // \xff and \xfe both display as U+FFFD, which is also a real character: four distinct paths, and
    // the real U+FFFD given as a string or as its UTF-8 bytes is one path.
    expect(new Set(keys).size).toBe(4);
    expect(keys[2]).toBe(keys[3]);
    // A key for bytes can be turned back into the bytes.
    expect(latin1(pathKey(latin1('/r/\xff')).slice(1))).toEqual(latin1('/r/\xff'));
  });
});

describe('assertNoSymlinkParents on byte paths', () => {
  let root: string;
  let outside: string;
  beforeAll(() => {
    root = path.join(tmp, 'root');
    outside = path.join(tmp, 'outside');
    fsSync.mkdirSync(root);
    fsSync.mkdirSync(outside);
    const at = (name: string): Buffer => Buffer.concat([Buffer.from(`${root}/`), latin1(name)]);
    fsSync.mkdirSync(at('a\xff'));
    // Same display path as a\xff (a\uFFFD), but a symlink out of the root.
    fsSync.symlinkSync(outside, at('a\xfe'));
    fsSync.mkdirSync(path.join(root, 'b\uFFFD'));
    fsSync.symlinkSync(outside, at('b\xff'));
  });

  it('refuses a non-UTF-8 parent that is a symlink', async () => {
    const error = await assertNoSymlinkParents(root, latin1('a\xfe/payload'), new Set()).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error && isCassetteError(error, 'E_UNSAFE_PATH')).toBe(true);
    expect(error!.message).toMatch(/is a symlink/);
  });

  it('a directory found safe does not vouch for another whose bytes display the same', async () => {
    const safe = new Set<string>();
    await expect(assertNoSymlinkParents(root, latin1('a\xff/x'), safe)).resolves.toEqual(Buffer.concat([Buffer.from(`${root}/`), latin1('a\xff/x')]));
    expect(safe.size).toBe(1);
    await expect(assertNoSymlinkParents(root, latin1('a\xfe/x'), safe)).rejects.toMatchObject({ code: 'E_UNSAFE_PATH' });
    // A real U+FFFD directory found safe, then invalid bytes that display as it: checked, refused.
    await expect(assertNoSymlinkParents(root, 'b\uFFFD/x', safe)).resolves.toBe(path.join(root, 'b\uFFFD/x'));
    await expect(assertNoSymlinkParents(root, latin1('b\xff/x'), safe)).rejects.toMatchObject({ code: 'E_UNSAFE_PATH' });
    expect(fsSync.readdirSync(outside)).toEqual([]);
  });
});

describe('writeSparse', () => {
  const B = 4096;

  /** Data and hole segments of a file, from SEEK_DATA/SEEK_HOLE (python3: Node has no lseek). */
  function dataSegments(file: string): Array<[number, number]> {
    const script = [
      'import json, os, sys',
      'fd = os.open(sys.argv[1], os.O_RDONLY)',
      'size = os.fstat(fd).st_size',
      'out, at = [], 0',
      'while at < size:',
      '    try:',
      '        start = os.lseek(fd, at, os.SEEK_DATA)',
      '    except OSError:',
      '        break',
      '    end = os.lseek(fd, start, os.SEEK_HOLE)',
      '    out.append([start, end])',
      '    at = end',
      'print(json.dumps(out))',
    ].join('\n');
    return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' })) as Array<[number, number]>;
  }

  const ZEROS = Buffer.alloc(9 * 1024 * 1024);
  const isZero = (bytes: Buffer): boolean => bytes.equals(ZEROS.subarray(0, bytes.length));

  /** Where the file must have data: every 4 KiB block (aligned to the file) with a non-zero byte, runs merged, cut at the end. */
  function expectedSegments(content: Buffer): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let start = 0; start < content.length; start += B) {
      const end = Math.min(start + B, content.length);
      if (isZero(content.subarray(start, end))) continue;
      const last = out.at(-1);
      if (last && last[1] === start) last[1] = end;
      else out.push([start, end]);
    }
    return out;
  }

  /** A `size`-byte file content: zero but for `blocks` ([offset, length] runs of non-zero bytes). */
  function content(size: number, runs: Array<[number, number]>): Buffer {
    const buf = Buffer.alloc(size);
    for (const [offset, length] of runs) for (let i = 0; i < length; i++) buf[offset + i] = (((offset + i) * 131 + 7) % 255) + 1;
    return buf;
  }

  /**
   * Writes content[from, to) with writeSparse in slices of the given lengths (repeated), at their
   * positions in the file, then gives the file its size as restore does; returns the file.
   */
  function write(name: string, data: Buffer, from: number, to: number, slices: number[]): string {
    const file = path.join(tmp, name);
    const fd = fsSync.openSync(file, 'wx');
    try {
      let at = from;
      for (let i = 0; at < to; i++) {
        const length = Math.min(slices[i % slices.length]!, to - at);
        writeSparse(fd, data.subarray(at, at + length), at);
        at += length;
      }
      fsSync.ftruncateSync(fd, data.length);
      fsSync.fsyncSync(fd);
    } finally {
      fsSync.closeSync(fd);
    }
    return file;
  }

  const MiB = 1024 * 1024;
  const SIZE = 8 * MiB + 100; // the last block is partial

  // Data blocks: a whole block at the start, a block holding one non-zero byte at its last
  // offset, one at its first, a run spanning two blocks that starts and ends mid-block, and a
  // non-zero byte in the final partial block.
  const layout: Array<[number, number]> = [
    [0, B],
    [100 * B + B - 1, 1],
    [1000 * B, 1],
    [1500 * B + 2000, B + 100],
    [SIZE - 1, 1],
  ];

  it.each<[string, Buffer, number, number, number[]]>([
    ['one call for the whole file', content(SIZE, layout), 0, SIZE, [SIZE]],
    ['aligned 64 KiB slices', content(SIZE, layout), 0, SIZE, [64 * 1024]],
    ['unaligned slices of odd sizes', content(SIZE, layout), 0, SIZE, [1, 4095, 4097, 12345, 65539, 3 * B + 1, 777_777]],
    ['slices that split data blocks in two', content(SIZE, layout), 0, SIZE, [100 * B + B - 1, 1, 900 * B - 1, 2, 500 * B + 1000, 1500, MiB]],
    // Zero blocks at both ends and in the middle of the written range.
    [
      'data in the middle of zeros',
      content(SIZE, [
        [3 * MiB + 5, 3 * B],
        [5 * MiB, 10],
      ]),
      0,
      SIZE,
      [1 * MiB + 3],
    ],
    // The range starts mid-block, with zeros first: that block stays a hole.
    [
      'a slice starting mid-block with zeros first',
      content(SIZE, [
        [6 * B + 100, 50],
        [2 * MiB, B],
      ]),
      5 * B + 2048,
      4 * MiB,
      [B * 10 + 7],
    ],
    [
      'a slice starting mid-block with data first',
      content(SIZE, [
        [5 * B + 2048, 10],
        [7 * B, B],
      ]),
      5 * B + 2048,
      4 * MiB,
      [B * 2 + 1],
    ],
    // A first slice of one byte at the end of a block, then the rest: the first block holds data.
    ['a one-byte slice at the end of a block', content(SIZE, [[B - 1, 1]]), B - 1, SIZE, [1, MiB]],
    ['all zeros', Buffer.alloc(SIZE), 0, SIZE, [12345]],
    ['a small file shorter than one block', content(3000, [[2999, 1]]), 0, 3000, [1000]],
  ])('%s: same content, holes where whole aligned zero blocks were', (label, data, from, to, slices) => {
    // Only the written range may hold data (the rest of the file is never written).
    expect(isZero(data.subarray(0, from)) && isZero(data.subarray(to))).toBe(true);
    const file = write(label.replace(/\W+/g, '-'), data, from, to, slices);
    expect(fsSync.readFileSync(file).equals(data)).toBe(true);
    const expected = expectedSegments(data);
    expect(dataSegments(file)).toEqual(expected);
    const stats = fsSync.statSync(file);
    expect(stats.size).toBe(data.length);
    const dataBytes = expected.reduce((sum, [start, end]) => sum + Math.ceil((end - start) / B) * B, 0);
    // The blocks in use are those of the data (and at most a few for the extent tree).
    expect(stats.blocks * 512).toBeGreaterThanOrEqual(dataBytes);
    expect(stats.blocks * 512).toBeLessThanOrEqual(dataBytes + 4 * B);
    if (data.length > MiB) expect(stats.blocks * 512).toBeLessThan(data.length / 100);
  });

  it('a file without holes is written whole', () => {
    const data = content(3 * B + 5, [[0, 3 * B + 5]]);
    const file = write('dense', data, 0, data.length, [B + 3]);
    expect(fsSync.readFileSync(file).equals(data)).toBe(true);
    expect(dataSegments(file)).toEqual([[0, data.length]]);
  });
});
