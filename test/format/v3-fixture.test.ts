// Snapshots written by format version 3 (encrypted) stay readable: the fixture (test/fixtures/v3-2026-11-30) restores, lists and verifies with today's code and its identity, with age and the other stock tools, and not at all without the identity.

import { execa } from 'execa';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommitRecord } from '../../src/format/types.js';
import { cassette, PROJECT_ROOT } from '../helpers/cli.js';
import { checkTree, type FixtureEntry } from '../helpers/fixture-tree.js';

const FIXTURE = path.join(PROJECT_ROOT, 'test/fixtures/v3-2026-11-30');
const SNAPSHOTS = ['20261130T212903Z-918c83', '20261130T212905Z-cd91e9'] as const;
/** The artifact's real name, sealed in the records; its objects are named a1. */
const ARTIFACT = 'tmp-fx4-src';

describe('format version 3 fixture: an encrypted full and incremental snapshot', () => {
  let work: string;
  let repo: string;
  const key = path.join(FIXTURE, 'key.txt');
  const expected: FixtureEntry[][] = [];

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-v3-'));
    repo = path.join(work, 'repo');
    await fs.cp(path.join(FIXTURE, 'repo'), repo, { recursive: true });
    for (const n of [1, 2]) expected.push(JSON.parse(await fs.readFile(path.join(FIXTURE, `tree-${n}.json`), 'utf8')) as FixtureEntry[]);
  });

  afterAll(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('stores no name and no content in plain text; its records are version 3 with a sealed part', async () => {
    const names = [ARTIFACT, 'fx4', ...expected[1]!.flatMap((e) => e.path.split('/'))];
    for (const file of await fs.readdir(repo, { recursive: true })) {
      const full = path.join(repo, file);
      if (!(await fs.stat(full)).isFile()) continue;
      const bytes = await fs.readFile(full);
      for (const name of new Set(names)) expect(bytes.includes(name), `${file} holds "${name}"`).toBe(false);
      expect(bytes.includes('setting'), `${file} holds file content`).toBe(false);
      if (file.startsWith('data')) expect(bytes.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    }
    const second = JSON.parse(await fs.readFile(path.join(repo, 'snapshots', `${SNAPSHOTS[1]}.json`), 'utf8')) as CommitRecord;
    expect(second.version).toBe(3);
    expect(second.encryption?.scheme).toBe('age');
    expect(typeof second.sealed).toBe('string');
    expect(second.artifacts[0]!.parent).toBe(SNAPSHOTS[0]);
    expect(second.artifacts[0]!.references!.map((r) => r.key)).toEqual([`data/${SNAPSHOTS[0]}/a1.tar.zst`]);
  });

  it.each([0, 1])('restores snapshot %i with its identity: contents, modes, times and links', async (n) => {
    const target = path.join(work, `out-${n}`);
    const result = await cassette(['restore', SNAPSHOTS[n]!, '--target', target, '--repo', repo, '--identity', key]);
    expect(result.exitCode, result.stderr as string).toBe(0);
    await checkTree(path.join(target, ARTIFACT), expected[n]!);
    const [a, b] = await Promise.all(['etc/f0.conf', 'etc/f0-link.conf'].map((p) => fs.stat(path.join(target, ARTIFACT, p))));
    expect(a!.ino).toBe(b!.ino);
  });

  it('without the identity: exit 6, and nothing is written', async () => {
    const target = path.join(work, 'locked');
    const result = await cassette(['restore', SNAPSHOTS[1], '--target', target, '--repo', repo]);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/--identity FILE/);
    await expect(fs.access(target)).rejects.toThrow();
  });

  it('restores the full snapshot with age | zstd | tar, and the incremental one from its recipe with age in the loop', async () => {
    const full = path.join(work, 'stock-0');
    await fs.mkdir(full);
    await execa('bash', ['-c', 'set -o pipefail; age -d -i "$KEY" < "$REPO/data/$ID/a1.tar.zst" | zstd -dc | tar -x -C "$TARGET"'], {
      env: { KEY: key, REPO: repo, ID: SNAPSHOTS[0], TARGET: full },
    });
    await checkTree(full, expected[0]!);
    const incremental = path.join(work, 'stock-1');
    await fs.mkdir(incremental);
    // FORMAT.md §8: each segment's object decrypted whole, then cut (tail is killed by SIGPIPE once head has its bytes: no pipefail here).
    const script = [
      'age -d -i "$KEY" < "$REPO/data/$ID/a1.recipe" > "$WORK/recipe.txt"',
      'while read -r key first last; do age -d -i "$KEY" < "$REPO/$key" | tail -c +$((first+1)) | head -c $((last-first+1)); done < "$WORK/recipe.txt" | zstd -dc | tar -x -C "$TARGET"',
    ].join('\n');
    await execa('bash', ['-c', script], { env: { KEY: key, REPO: repo, ID: SNAPSHOTS[1], TARGET: incremental, WORK: work } });
    await checkTree(incremental, expected[1]!);
  });

  it('lists, selects one file of, and verifies the incremental snapshot', async () => {
    const ls = await cassette(['ls', SNAPSHOTS[1], '--repo', repo, '--json', '--identity', key]);
    expect(ls.exitCode, ls.stderr as string).toBe(0);
    const paths = (ls.stdout as string)
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { path: string }).path);
    expect(paths).toEqual(expect.arrayContaining(['etc/f5.conf', 'img/disk.img', 'current']));
    const one = await cassette(['restore', SNAPSHOTS[1], '--repo', repo, '--include', `${ARTIFACT}/img/disk.img`, '--stdout', '--identity', key], { binary: true });
    expect(one.exitCode).toBe(0);
    expect(
      createHash('sha256')
        .update(one.stdout as unknown as Buffer)
        .digest('hex'),
    ).toBe(expected[1]!.find((e) => e.path === 'img/disk.img')!.sha256);
    const verify = await cassette(['verify', SNAPSHOTS[1], '--repo', repo, '--read-data', '--identity', key]);
    expect(verify.exitCode, verify.stderr as string).toBe(0);
  });
});
