// Snapshots written by format version 2 stay readable: the incremental fixture (test/fixtures/v2-2026-11-30) restores, lists and verifies with today's code, and with stock tools from its recipe.

import { execa } from 'execa';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommitRecord } from '../../src/format/types.js';
import { cassette, PROJECT_ROOT } from '../helpers/cli.js';
import { checkTree, type FixtureEntry } from '../helpers/fixture-tree.js';

const FIXTURE = path.join(PROJECT_ROOT, 'test/fixtures/v2-2026-11-30');
const SNAPSHOTS = ['20261130T185456Z-c5c1cc', '20261130T185458Z-a542d1'] as const;
const ARTIFACT = 'tmp-fx3-src';

describe('format version 2 fixture: a full and an incremental snapshot', () => {
  let work: string;
  let repo: string;
  const expected: FixtureEntry[][] = [];

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-v2-'));
    // A copy: nothing may change the fixture, not even a lock or a temp file.
    repo = path.join(work, 'repo');
    await fs.cp(path.join(FIXTURE, 'repo'), repo, { recursive: true });
    for (const n of [1, 2]) expected.push(JSON.parse(await fs.readFile(path.join(FIXTURE, `tree-${n}.json`), 'utf8')) as FixtureEntry[]);
  });

  afterAll(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it("the second snapshot reads frames from the first one's volume", async () => {
    const second = JSON.parse(await fs.readFile(path.join(repo, 'snapshots', `${SNAPSHOTS[1]}.json`), 'utf8')) as CommitRecord;
    expect(second.version).toBe(2);
    const artifact = second.artifacts[0]!;
    expect(artifact.parent).toBe(SNAPSHOTS[0]);
    expect(artifact.references!.map((r) => r.key)).toEqual([`data/${SNAPSHOTS[0]}/${ARTIFACT}.tar.zst`]);
    expect(artifact.reusedFrames).toBeGreaterThan(0);
    expect(artifact.newFrames).toBeGreaterThan(0);
  });

  it.each([0, 1])('restores snapshot %i with its contents, modes, times and links', async (n) => {
    const target = path.join(work, `out-${n}`);
    const result = await cassette(['restore', SNAPSHOTS[n]!, '--target', target, '--repo', repo]);
    expect(result.exitCode, result.stderr as string).toBe(0);
    await checkTree(path.join(target, ARTIFACT), expected[n]!);
    // The hard link is restored as one.
    const [a, b] = await Promise.all(['etc/f0.conf', 'etc/f0-link.conf'].map((p) => fs.stat(path.join(target, ARTIFACT, p))));
    expect(a!.ino).toBe(b!.ino);
  });

  it.each([0, 1])('restores snapshot %i with stock tools from its recipe (tail, head, zstd, tar)', async (n) => {
    const target = path.join(work, `stock-${n}`);
    await fs.mkdir(target);
    const recipe = path.join(repo, 'data', SNAPSHOTS[n]!, `${ARTIFACT}.recipe`);
    // FORMAT.md §7, the file:// variant of the loop.
    const script = 'while read -r key first last; do tail -c +$((first+1)) "$REPO/$key" | head -c $((last-first+1)); done < "$RECIPE" | zstd -dc | tar -x -C "$TARGET"';
    await execa('sh', ['-c', script], { env: { REPO: repo, RECIPE: recipe, TARGET: target } });
    await checkTree(target, expected[n]!);
  });

  it('lists, selects and verifies the incremental snapshot', async () => {
    const ls = await cassette(['ls', SNAPSHOTS[1], '--repo', repo, '--json']);
    expect(ls.exitCode).toBe(0);
    const paths = (ls.stdout as string)
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { path: string }).path);
    expect(paths).toEqual(expect.arrayContaining(['etc/f5.conf', 'img/disk.img', 'current']));
    const one = await cassette(['restore', SNAPSHOTS[1], '--repo', repo, '--include', `${ARTIFACT}/img/disk.img`, '--stdout'], { binary: true });
    expect(one.exitCode).toBe(0);
    expect(
      createHash('sha256')
        .update(one.stdout as unknown as Buffer)
        .digest('hex'),
    ).toBe(expected[1]!.find((e) => e.path === 'img/disk.img')!.sha256);
    const verify = await cassette(['verify', SNAPSHOTS[1], '--repo', repo, '--read-data']);
    expect(verify.exitCode, verify.stderr as string).toBe(0);
  });
});
