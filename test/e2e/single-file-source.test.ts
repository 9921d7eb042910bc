// A backup source that is one file: its artifact records sourceIsFile, and an in-place restore writes the file itself (it wrote <file>/<name> before), while a directory holding one entry of its own name stays a directory.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSnapshots } from '../../src/repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { cassette } from '../helpers/cli.js';

describe('a source that is one file', () => {
  let work: string;
  let repo: string;
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-single-file-'));
    repo = path.join(work, 'repo');
    await fs.mkdir(path.join(work, 'x'));
    await fs.writeFile(path.join(work, 'x', 'one.txt'), 'the original\n');
    await fs.writeFile(path.join(work, 'x', 'sibling.txt'), 'not backed up\n');
    // The case a record cannot tell from the other without the field: a directory b holding only a file b.
    await fs.mkdir(path.join(work, 'y', 'b'), { recursive: true });
    await fs.writeFile(path.join(work, 'y', 'b', 'b'), 'inner b\n');
    for (const source of [path.join(work, 'x', 'one.txt'), path.join(work, 'y', 'b')]) {
      const backup = await cassette(['backup', '-q', source, '--repo', repo]);
      expect(backup.exitCode, backup.stderr as string).toBe(0);
    }
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('records sourceIsFile for the file, and not for the directory', async () => {
    const [file, dir] = await listSnapshots(new LocalStore(repo));
    expect(file!.artifacts[0]).toEqual(expect.objectContaining({ source: path.join(work, 'x', 'one.txt'), sourceIsFile: true, entryCount: 1 }));
    expect(dir!.artifacts[0]).toEqual(expect.objectContaining({ source: path.join(work, 'y', 'b'), entryCount: 1 }));
    expect(dir!.artifacts[0]!.sourceIsFile).toBeUndefined();
  });

  it('an in-place restore writes the file itself, and --delete leaves its siblings alone', async () => {
    const [file] = await listSnapshots(new LocalStore(repo));
    await fs.writeFile(path.join(work, 'x', 'one.txt'), 'changed since\n');
    const dry = await cassette(['restore', file!.id, '--in-place', '--dry-run', '--repo', repo]);
    expect(dry.stdout).toMatch(new RegExp(`^would write file +13  ${path.join(work, 'x', 'one.txt')}$`, 'm'));
    const result = await cassette(['restore', file!.id, '--in-place', '--delete', '--repo', repo]);
    expect(result.exitCode, result.stderr as string).toBe(0);
    expect(await fs.readFile(path.join(work, 'x', 'one.txt'), 'utf8')).toBe('the original\n');
    expect(await fs.readFile(path.join(work, 'x', 'sibling.txt'), 'utf8')).toBe('not backed up\n');
    expect((await fs.readdir(path.join(work, 'x'))).sort()).toEqual(['one.txt', 'sibling.txt']);
  });

  it('a directory holding one entry of its own name restores in place into itself', async () => {
    await fs.rm(path.join(work, 'y', 'b', 'b'));
    const result = await cassette(['restore', 'latest', '--in-place', '--repo', repo]);
    expect(result.exitCode, result.stderr as string).toBe(0);
    expect(await fs.readFile(path.join(work, 'y', 'b', 'b'), 'utf8')).toBe('inner b\n');
  });

  it('--target puts the file under the artifact name, as before', async () => {
    const [file] = await listSnapshots(new LocalStore(repo));
    const target = path.join(work, 'target');
    const result = await cassette(['restore', file!.id, '--target', target, '--repo', repo]);
    expect(result.exitCode, result.stderr as string).toBe(0);
    expect(await fs.readFile(path.join(target, file!.artifacts[0]!.name, 'one.txt'), 'utf8')).toBe('the original\n');
  });
});
