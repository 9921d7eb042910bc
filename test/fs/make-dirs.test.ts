// mkdir -p without Node's recursive mkdir: makes what is missing, says whether it made the directory, and fails at once where mkdir(2) says ENOENT under an existing parent (procfs).

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDirs, makeDirsSync } from '../../src/fs/make-dirs.js';

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-make-dirs-'));
  // One copy of the fixtures for each form.
  for (const form of ['sync', 'async']) {
    const dir = path.join(work, form);
    await fs.mkdir(path.join(dir, 'real'), { recursive: true });
    await fs.writeFile(path.join(dir, 'file'), 'x');
    await fs.symlink('real', path.join(dir, 'link-to-dir'));
    await fs.symlink('nowhere', path.join(dir, 'dangling'));
  }
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

type Outcome = { made: boolean } | { code: string };

async function outcome(call: () => boolean | Promise<boolean>): Promise<Outcome> {
  try {
    return { made: await call() };
  } catch (error) {
    return { code: (error as NodeJS.ErrnoException).code ?? String(error) };
  }
}

/** A case's path for one form: absolute ones as they are, others inside that form's fixtures. */
const place = (form: string, rel: string): string => (rel.startsWith('/') ? rel : path.join(work, form, rel));

describe('makeDirsSync and makeDirs', () => {
  it.each<[string, string, Outcome]>([
    ['a missing directory', 'new', { made: true }],
    ['missing parents too', 'deep/er/still', { made: true }],
    ['a directory that is there', 'real', { made: false }],
    ['a symlink to a directory (as mkdir -p)', 'link-to-dir', { made: false }],
    ['below a symlink to a directory', 'link-to-dir/inner', { made: true }],
    ['a file in the way', 'file', { code: 'EEXIST' }],
    ['below a file', 'file/below', { code: 'ENOTDIR' }],
    ['a dangling symlink in the way', 'dangling', { code: 'EEXIST' }],
    ['/proc/x: ENOENT under an existing parent (Node loops forever here)', '/proc/cassette-x', { code: 'ENOENT' }],
    ['/proc/x/y/z', '/proc/cassette-x/y/z', { code: 'ENOENT' }],
  ])('%s', async (_name, rel, expected) => {
    expect(await outcome(() => makeDirsSync(place('sync', rel)))).toEqual(expected);
    expect(await outcome(() => makeDirs(place('async', rel)))).toEqual(expected);
    for (const form of ['sync', 'async']) {
      if ('made' in expected) expect(fsSync.statSync(place(form, rel)).isDirectory()).toBe(true);
    }
  });

  it('takes a path as bytes that are not UTF-8, and makes exactly those bytes', async () => {
    const dir = Buffer.concat([Buffer.from(path.join(work, 'latin1-')), Buffer.from([0xe9]), Buffer.from('/inner')]);
    expect(makeDirsSync(dir)).toBe(true);
    expect(makeDirsSync(dir)).toBe(false);
    const names = fsSync.readdirSync(work, { encoding: 'buffer' });
    expect(names.some((name) => name.equals(Buffer.from([...Buffer.from('latin1-'), 0xe9])))).toBe(true);
  });
});
