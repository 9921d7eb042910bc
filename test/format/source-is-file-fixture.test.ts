// The optional artifact member sourceIsFile (2026-12-01) kept format version 2: the fixture written when it was added reads, verifies and restores with today's code, and its dry run in place names the file itself.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommitRecord } from '../../src/format/types.js';
import { cassette, PROJECT_ROOT } from '../helpers/cli.js';

const FIXTURE = path.join(PROJECT_ROOT, 'test/fixtures/v2-2026-12-01-file');
const ID = '20261201T023102Z-8ba58b';
const CONTENT = 'UUID=1 / ext4 defaults 0 1\n';

describe('format version 2 fixture with sourceIsFile', () => {
  let work: string;
  let repo: string;
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-v2-file-'));
    // A copy: nothing may change the fixture.
    repo = path.join(work, 'repo');
    await fs.cp(path.join(FIXTURE, 'repo'), repo, { recursive: true });
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('is a version-2 record whose one artifact says its source is a file', async () => {
    const record = JSON.parse(await fs.readFile(path.join(repo, 'snapshots', `${ID}.json`), 'utf8')) as CommitRecord;
    expect(record.version).toBe(2);
    expect(record.artifacts).toEqual([expect.objectContaining({ name: 'tmp-fx5-src-fstab', source: '/tmp/fx5/src/fstab', sourceIsFile: true, entryCount: 1 })]);
  });

  it('verifies with --read-data, and restores to a target byte for byte', async () => {
    const verify = await cassette(['verify', ID, '--read-data', '--repo', repo]);
    expect(verify.exitCode, verify.stderr as string).toBe(0);
    const target = path.join(work, 'out');
    const restore = await cassette(['restore', ID, '--target', target, '--repo', repo]);
    expect(restore.exitCode, restore.stderr as string).toBe(0);
    const file = path.join(target, 'tmp-fx5-src-fstab', 'fstab');
    expect(await fs.readFile(file, 'utf8')).toBe(CONTENT);
    const stat = await fs.stat(file);
    expect({ mode: stat.mode & 0o7777, mtime: stat.mtime.toISOString() }).toEqual({ mode: 0o644, mtime: '2026-11-30T12:00:00.000Z' });
  });

  it('an in-place dry run (which writes nothing) names the source file itself', async () => {
    const dry = await cassette(['restore', ID, '--in-place', '--dry-run', '--repo', repo]);
    expect(dry.exitCode, dry.stderr as string).toBe(0);
    expect(dry.stdout).toMatch(/^would write file +27 {2}\/tmp\/fx5\/src\/fstab$/m);
  });
});
