// walk() on names that are not UTF-8: every entry is yielded under its exact bytes (pathBytes, a
// Buffer absPath below such a name), siblings come in byte order, excludes see the display path,
// and warnings tell entries not stored (isNotStored: exit 3) from sockets skipped by design.

import { execFileSync } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walk, type WalkItem, type WalkOptions } from '../../src/backup/walk.js';
import { isNotStored, type BackupWarning } from '../../src/format/types.js';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-walkb-'));
});
afterAll(() => {
  // rm(1), not fs.rm: the deep tree below has paths longer than PATH_MAX, which rm -rf handles
  // with openat and Node's recursive rm does not.
  execFileSync('rm', ['-rf', '--', tmp]);
});

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** A new directory under tmp holding `files` (relative byte paths → content; null makes a directory). */
function tree(name: string, files: Array<[Buffer, string | null]>): string {
  const root = path.join(tmp, name);
  fsSync.mkdirSync(root);
  for (const [rel, content] of files) {
    const abs = Buffer.concat([Buffer.from(`${root}/`), rel]);
    if (content === null) fsSync.mkdirSync(abs, { recursive: true });
    else fsSync.writeFileSync(abs, content);
  }
  return root;
}

async function run(options: WalkOptions): Promise<{ items: WalkItem[]; warnings: BackupWarning[] }> {
  const warnings: BackupWarning[] = [];
  const items: WalkItem[] = [];
  for await (const item of walk({ ...options, onWarning: (w) => warnings.push(w) })) items.push(item);
  return { items, warnings };
}

/** An item's path as bytes, however it is given. */
const bytesOf = (item: WalkItem): Buffer => item.pathBytes ?? utf8(item.path);

describe('walk on names that are not UTF-8', () => {
  const files: Array<[Buffer, string | null]> = [
    [latin1('latin1-\xe9.txt'), 'latin-1 name'],
    [latin1('dir-\xff'), null],
    [latin1('dir-\xff/child.txt'), 'child'],
    [latin1('dir-\xff/sub'), null],
    [latin1('dir-\xff/sub/\xe9\xe8'), 'deeper'],
    [utf8('plain.txt'), 'plain'],
  ];

  it('yields each one with its display path, its exact pathBytes and a Buffer absPath', async () => {
    const root = tree('bytes', files);
    const { items, warnings } = await run({ root });
    expect(warnings).toEqual([]);
    expect(items.map((i) => [i.path, i.pathBytes, i.type])).toEqual([
      ['dir-\uFFFD', latin1('dir-\xff'), 'dir'],
      ['dir-\uFFFD/child.txt', latin1('dir-\xff/child.txt'), 'file'],
      ['dir-\uFFFD/sub', latin1('dir-\xff/sub'), 'dir'],
      ['dir-\uFFFD/sub/\uFFFD\uFFFD', latin1('dir-\xff/sub/\xe9\xe8'), 'file'],
      ['latin1-\uFFFD.txt', latin1('latin1-\xe9.txt'), 'file'],
      ['plain.txt', undefined, 'file'],
    ]);
    for (const item of items) {
      const expectedAbs = Buffer.concat([Buffer.from(`${root}/`), bytesOf(item)]);
      if (item.pathBytes) {
        // A child with a UTF-8 name under a non-UTF-8 directory is still reached by bytes.
        expect(Buffer.isBuffer(item.absPath), item.path).toBe(true);
        expect(item.absPath, item.path).toEqual(expectedAbs);
      } else {
        expect(item.absPath).toBe(path.join(root, item.path));
      }
      // The stats are the entry's own: same inode as an lstat of the exact bytes.
      expect(item.stats.ino, item.path).toBe(fsSync.lstatSync(expectedAbs, { bigint: true }).ino);
    }
    const content = (p: string): number => Number(items.find((i) => i.path === p)!.stats.size);
    expect([content('dir-\uFFFD/child.txt'), content('dir-\uFFFD/sub/\uFFFD\uFFFD'), content('latin1-\uFFFD.txt')]).toEqual([5, 6, 12]);
  });

  it('a real U+FFFD in valid UTF-8 and an invalid byte that displays the same are two entries', async () => {
    const root = tree('same-display', [
      [utf8('rep-\uFFFD.txt'), 'valid utf-8'],
      [latin1('rep-\xff.txt'), 'invalid'],
      [latin1('rep-\xfe.txt'), 'also invalid'],
    ]);
    const { items, warnings } = await run({ root });
    expect(warnings).toEqual([]);
    // Same display path three times; byte order: EF BF BD < FE < FF.
    expect(items.map((i) => i.path)).toEqual(['rep-\uFFFD.txt', 'rep-\uFFFD.txt', 'rep-\uFFFD.txt']);
    expect(items.map((i) => i.pathBytes)).toEqual([undefined, latin1('rep-\xfe.txt'), latin1('rep-\xff.txt')]);
    expect(items[0]!.absPath).toBe(path.join(root, 'rep-\uFFFD.txt'));
    // Each was lstat'ed at its own bytes: the sizes are the three different contents'.
    expect(items.map((i) => Number(i.stats.size))).toEqual([11, 12, 7]);
    expect(new Set(items.map((i) => i.stats.ino)).size).toBe(3);
  });

  it('siblings come in byte order, where UTF-16 order differs', async () => {
    // UTF-8 bytes: Z 5A, a 61, é C3 A9, ﬁ EF AC 81, U+FFFD EF BF BD, 😀 F0 9F 98 80, invalid FF.
    // UTF-16 puts 😀 (D83D DE00) before ﬁ (FB01) and U+FFFD: a sort of the decoded strings would too.
    const names = [utf8('\u{1F600}'), latin1('\xff'), utf8('\uFB01'), utf8('a'), utf8('\uFFFD'), utf8('\u00e9'), utf8('Z')];
    const root = tree(
      'order',
      names.map((n): [Buffer, string] => [n, 'x']),
    );
    const { items } = await run({ root });
    expect(items.map(bytesOf)).toEqual([utf8('Z'), utf8('a'), utf8('\u00e9'), utf8('\uFB01'), utf8('\uFFFD'), utf8('\u{1F600}'), latin1('\xff')]);
    const displayed = items.map((i) => i.path);
    expect([...displayed].sort()).not.toEqual(displayed);
  });

  it('children of a non-UTF-8 directory are in byte order too, after their parent', async () => {
    const root = tree('order-in-bytes-dir', [
      [latin1('d\xe9'), null],
      [latin1('d\xe9/\xfb'), 'x'],
      [Buffer.concat([latin1('d\xe9/'), utf8('\u{1F600}')]), 'x'],
      [Buffer.concat([latin1('d\xe9/'), utf8('\uFB01')]), 'x'],
      [latin1('d\xe9/\x01'), 'x'],
    ]);
    const { items } = await run({ root });
    // 01 < EF AC 81 (ﬁ) < F0 9F 98 80 (😀) < FB.
    expect(items.map(bytesOf)).toEqual([
      latin1('d\xe9'),
      latin1('d\xe9/\x01'),
      Buffer.concat([latin1('d\xe9/'), utf8('\uFB01')]),
      Buffer.concat([latin1('d\xe9/'), utf8('\u{1F600}')]),
      latin1('d\xe9/\xfb'),
    ]);
  });
});

describe('excludes match the display path', () => {
  const files: Array<[Buffer, string | null]> = [
    [latin1('latin1-\xe9.txt'), 'x'],
    [utf8('latin1-e.txt'), 'x'],
    [latin1('dir-\xff'), null],
    [latin1('dir-\xff/child.txt'), 'x'],
    [latin1('dir-\xff/sub'), null],
    [latin1('dir-\xff/sub/deep.txt'), 'x'],
    [utf8('keep.txt'), 'x'],
  ];

  it.each<[string, (root: string) => string[], string[]]>([
    ['a name pattern', () => ['*-\uFFFD.txt'], ['dir-\uFFFD', 'dir-\uFFFD/child.txt', 'dir-\uFFFD/sub', 'dir-\uFFFD/sub/deep.txt', 'keep.txt', 'latin1-e.txt']],
    ['a relative path to a directory under a non-UTF-8 name', () => ['dir-\uFFFD/sub'], ['dir-\uFFFD', 'dir-\uFFFD/child.txt', 'keep.txt', 'latin1-e.txt', 'latin1-\uFFFD.txt']],
    ['a relative glob below a non-UTF-8 directory', () => ['dir-\uFFFD/**/*.txt'], ['dir-\uFFFD', 'dir-\uFFFD/sub', 'keep.txt', 'latin1-e.txt', 'latin1-\uFFFD.txt']],
    [
      'an absolute path through a non-UTF-8 directory',
      (root) => [`${root}/dir-\uFFFD/child.txt`],
      ['dir-\uFFFD', 'dir-\uFFFD/sub', 'dir-\uFFFD/sub/deep.txt', 'keep.txt', 'latin1-e.txt', 'latin1-\uFFFD.txt'],
    ],
    ['the non-UTF-8 directory by name', () => ['dir-?'], ['keep.txt', 'latin1-e.txt', 'latin1-\uFFFD.txt']],
  ])('%s', async (label, patterns, expected) => {
    const root = tree(`ex-${label.replace(/\W+/g, '-')}`, files);
    const { items, warnings } = await run({ root, exclude: patterns(root) });
    expect(warnings).toEqual([]);
    expect(items.map((i) => i.path)).toEqual(expected);
  });

  it('both names of one display path are excluded by it', async () => {
    const root = tree('ex-same-display', [
      [utf8('rep-\uFFFD'), 'x'],
      [latin1('rep-\xff'), 'x'],
      [utf8('rep-x'), 'x'],
    ]);
    const { items } = await run({ root, exclude: ['rep-\uFFFD'] });
    expect(items.map((i) => i.path)).toEqual(['rep-x']);
  });
});

describe('warnings: not stored, or skipped by design', () => {
  it('a socket is W_SKIPPED, which isNotStored does not count', async () => {
    const root = tree('socket', [
      [latin1('a-\xe9'), 'a'],
      [utf8('z'), 'z'],
    ]);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path.join(root, 'm.sock'), resolve);
    });
    try {
      const { items, warnings } = await run({ root });
      expect(items.map(bytesOf)).toEqual([latin1('a-\xe9'), utf8('z')]);
      expect(warnings).toEqual([expect.objectContaining({ code: 'W_SKIPPED', path: 'm.sock' })]);
      expect(warnings.map(isNotStored)).toEqual([false]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a directory whose path is longer than PATH_MAX cannot be read, even by root: W_UNREADABLE, which isNotStored counts', async () => {
    // Made by walking down with relative mkdir/chdir (no absolute path that long can be passed);
    // names not UTF-8, so the walk carries Buffer paths all the way down.
    const root = path.join(tmp, 'deep');
    fsSync.mkdirSync(root);
    const component = `\xe9${'d'.repeat(240)}`;
    const depth = 20; // 20 × 242 bytes > 4096
    execFileSync('python3', [
      '-c',
      `import os\nos.chdir(${JSON.stringify(root)})\nfor _ in range(${depth}):\n    os.mkdir(b'${'\\xe9' + 'd'.repeat(240)}')\n    os.chdir(b'${'\\xe9' + 'd'.repeat(240)}')\nopen('leaf', 'w').close()\n`,
    ]);
    const { items, warnings } = await run({ root });
    const nameBytes = latin1(component);
    // Every directory whose absolute path fits PATH_MAX (4096 with the NUL) is yielded, as bytes.
    const fits = Array.from({ length: depth }, (_, i) => i + 1).filter((n) => Buffer.byteLength(root) + n * (nameBytes.length + 1) < 4096);
    expect(fits.length).toBeGreaterThan(10);
    expect(fits.length).toBeLessThan(depth);
    expect(items.map((i) => i.pathBytes)).toEqual(
      fits.map((n) => Buffer.concat(Array.from({ length: n }, (_, i) => (i === 0 ? nameBytes : Buffer.concat([Buffer.from('/'), nameBytes]))))),
    );
    expect(items.every((i) => i.type === 'dir' && Buffer.isBuffer(i.absPath))).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'W_UNREADABLE' });
    expect(warnings[0]!.message).toMatch(/ENAMETOOLONG/);
    expect(warnings[0]!.path).toBe(Array.from({ length: fits.length + 1 }, () => `\uFFFD${'d'.repeat(240)}`).join('/'));
    expect(isNotStored(warnings[0]!)).toBe(true);
  });

  it('a file removed between the listing and its lstat is W_VANISHED, which isNotStored counts', async () => {
    // walk lists a directory, then checks each name (isUtf8) before its lstat: the removal is made
    // to happen at that check, through node:buffer's isUtf8 (syncBuiltinESMExports carries the
    // replacement to `import { isUtf8 }`), so the race happens on every run.
    const root = tree('vanish', [
      [Buffer.from('a'), 'a'],
      [Buffer.from('gone'), 'g'],
      [Buffer.from('z'), 'z'],
    ]);
    const buffer = createRequire(import.meta.url)('node:buffer') as typeof import('node:buffer');
    const original = buffer.isUtf8;
    let removed = false;
    buffer.isUtf8 = (input) => {
      if (!removed && Buffer.isBuffer(input) && input.equals(Buffer.from('gone'))) {
        removed = true;
        fsSync.unlinkSync(path.join(root, 'gone'));
      }
      return original(input);
    };
    syncBuiltinESMExports();
    let result;
    try {
      result = await run({ root });
    } finally {
      buffer.isUtf8 = original;
      syncBuiltinESMExports();
    }
    expect(removed).toBe(true);
    expect(result.items.map((i) => i.path)).toEqual(['a', 'z']);
    expect(result.warnings).toEqual([expect.objectContaining({ code: 'W_VANISHED', path: 'gone' })]);
    expect(isNotStored(result.warnings[0]!)).toBe(true);
  });

  it.each<[BackupWarning['code'], boolean]>([
    ['W_UNREADABLE', true],
    ['W_CHANGED', true],
    ['W_VANISHED', true],
    ['W_SKIPPED', false],
    ['W_HOOK', false],
  ])('isNotStored(%s) is %s', (code, notStored) => {
    expect(isNotStored({ code, path: 'x', message: 'm' })).toBe(notStored);
    expect(isNotStored({ code, message: 'no path' })).toBe(notStored);
  });
});
