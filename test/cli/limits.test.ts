// --limit-upload and --limit-download through the CLI: a backup and a restore under limits, to S3 and to a local repository, still restore every byte; bad values are usage errors.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTrees } from '../../src/demo/compare-trees.js';
import { cassette } from '../helpers/cli.js';
import { createBucket, s3Env, s3Server } from '../helpers/s3.js';

const server = s3Server('s3rver')!;

let work: string;
let tree: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-limits-'));
  tree = path.join(work, 'tree');
  await fs.mkdir(path.join(tree, 'sub'), { recursive: true });
  await fs.writeFile(path.join(tree, 'random.bin'), randomBytes(600 * 1024));
  await fs.writeFile(path.join(tree, 'sub', 'text.txt'), 'limited\n'.repeat(5000));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe.each([
  ['S3', async () => ({ repo: `s3://${await createBucket(server.endpoint, 'limits')}/x`, env: s3Env(server.endpoint) })],
  ['a local repository', () => Promise.resolve({ repo: path.join(work, 'local-repo'), env: {} })],
])('backup and restore with limits (%s)', (name, where) => {
  it('restores every byte', async () => {
    const { repo, env } = await where();
    // 1 MiB/s: the 600 KiB of random data (stored as is) is held back for about half a second each way.
    const backup = await cassette(['backup', tree, '--repo', repo, '--limit-upload', '1024', '--limit-download', '1024'], { env });
    expect(backup.stderr).not.toContain('cassette:');
    expect(backup.exitCode).toBe(0);
    const target = path.join(work, `restored-${name.replace(/\W+/g, '-')}`);
    const restore = await cassette(['restore', 'latest', '--repo', repo, '--target', target, '--limit-download', '1024', '--limit-upload', '1024'], { env });
    expect(restore.stderr).not.toContain('cassette:');
    expect(restore.exitCode).toBe(0);
    expect(await compareTrees(tree, path.join(target, tree.slice(1).replace(/\//g, '-')))).toEqual([]);
  });
});

it.each([
  ['--limit-upload', '0'],
  ['--limit-download', 'fast'],
  ['--limit-upload', '1.5'],
])('%s %s is a usage error (exit 2)', async (flag, value) => {
  const result = await cassette(['snapshots', '--repo', path.join(work, 'never'), flag, value]);
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain(`Expected \`${flag}\` to be a whole number from 1 to`);
  expect(result.stderr).toContain(`"${value}"`);
});
