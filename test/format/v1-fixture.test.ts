// Snapshots written by earlier versions stay readable: the format-1 fixture (test/fixtures/v1) restores, lists and verifies with today's code.

import { execa } from 'execa';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cassette, PROJECT_ROOT } from '../helpers/cli.js';

const FIXTURE = path.join(PROJECT_ROOT, 'test/fixtures/v1');
const SNAPSHOT = '20261130T160330Z-668030';
const ARTIFACT = 'tmp-fx-src';

interface FixtureEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  size?: number;
  sha256?: string;
  link?: string;
  hardlinks?: string[];
}

const PG = { PGHOST: '127.0.0.1', PGUSER: 'postgres' };
const database = `cassette_v1fixture_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
const serverUp = (await execa('psql', ['-XAtq', '-d', 'postgres', '-c', 'select 1'], { reject: false, env: PG })).exitCode === 0;
// Under CI the database tests must run: a PostgreSQL that is down fails the run instead of skipping them.
if (!serverUp && process.env.CI === 'true') throw new Error('PostgreSQL is not reachable on 127.0.0.1:5432 (bash test/setup/prepare-machine.sh starts it)');

describe('format version 1 fixture', () => {
  let work: string;
  let repo: string;
  let expected: FixtureEntry[];

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-v1-'));
    // A copy: nothing may change the fixture, not even a lock or a temp file.
    repo = path.join(work, 'repo');
    await fs.cp(path.join(FIXTURE, 'repo'), repo, { recursive: true });
    expected = JSON.parse(await fs.readFile(path.join(FIXTURE, 'tree.json'), 'utf8')) as FixtureEntry[];
  });

  afterAll(async () => {
    await execa('dropdb', ['--if-exists', '--force', database], { reject: false, env: PG });
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('restores every entry with its content, mode, owner, mtime, link and hard links', async () => {
    const target = path.join(work, 'out');
    const result = await cassette(['restore', SNAPSHOT, '--target', target, '--repo', repo]);
    expect(result.stderr).toContain('restored 21 entries');
    expect(result.exitCode).toBe(0);
    const root = path.join(target, ARTIFACT);
    for (const entry of expected) {
      const file = path.join(root, entry.path);
      const stats = await fs.lstat(file, { bigint: true });
      expect(Number(stats.mode & 0o7777n), entry.path).toBe(entry.mode);
      expect([Number(stats.uid), Number(stats.gid)], entry.path).toEqual([entry.uid, entry.gid]);
      // Restored to the microsecond (fs.utimes' resolution).
      expect(stats.mtimeNs / 1000n, entry.path).toBe(BigInt(entry.mtimeNs) / 1000n);
      if (entry.type === 'dir') expect(stats.isDirectory(), entry.path).toBe(true);
      if (entry.type === 'fifo') expect(stats.isFIFO(), entry.path).toBe(true);
      if (entry.type === 'symlink') expect(await fs.readlink(file), entry.path).toBe(entry.link);
      if (entry.type === 'file') {
        expect(
          createHash('sha256')
            .update(await fs.readFile(file))
            .digest('hex'),
          entry.path,
        ).toBe(entry.sha256);
        for (const other of entry.hardlinks ?? []) {
          expect((await fs.stat(path.join(root, other))).ino, `${entry.path} = ${other}`).toBe(Number(stats.ino));
        }
      }
    }
    const restored: string[] = [];
    for (const name of await fs.readdir(root, { recursive: true })) restored.push(name);
    expect(restored.sort()).toEqual(expected.map((e) => e.path).sort());
  });

  it('lists the entries from the old index', async () => {
    const result = await cassette(['ls', SNAPSHOT, `${ARTIFACT}/data/**`, '--json', '--repo', repo]);
    expect(result.exitCode).toBe(0);
    const entries = (result.stdout as string)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { path: string; type: string });
    expect(entries.map((e) => `${e.path} ${e.type}`)).toEqual([
      'data dir',
      'data/fifo fifo',
      'data/random.bin file',
      'data/text.hardlink file',
      'data/text.log hardlink',
      'data/tool file',
    ]);
  });

  it('verifies with --read-data', async () => {
    const result = await cassette(['verify', SNAPSHOT, '--read-data', '--repo', repo]);
    expect(`${String(result.stderr)}${String(result.stdout)}`).not.toMatch(/error|mismatch|missing/i);
    expect(result.exitCode).toBe(0);
  });

  it.runIf(serverUp)('restores the old database artifact under a new name', async () => {
    const result = await cassette(['restore', SNAPSHOT, '--pg', 'cassette_fixture_v1', '--pg-target', database, '--repo', repo], { env: PG });
    expect(result.exitCode, result.stderr as string).toBe(0);
    const rows = await execa('psql', ['-XAtq', '-d', database, '-c', 'select count(*), sum(id), min(name), max(name) from t'], { env: PG });
    expect(rows.stdout.trim()).toBe('100|5050|row 1|row 99');
  });
});

interface ByteFixtureEntry {
  pathBase64: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  size?: number;
  sha256?: string;
  linkBase64?: string;
  xattrs?: Record<string, string>;
  sparse?: boolean;
}

// Written on 2026-11-30 by format 1 with the members added that day (pathBytes, linkBytes,
// uname/gname, xattrs, sparse): later readers must restore it the same way.
describe('format version 1 fixture with the members of 2026-11-30', () => {
  const DIR = path.join(PROJECT_ROOT, 'test/fixtures/v1-2026-11-30');
  let work: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-v1b-'));
    await fs.cp(path.join(DIR, 'repo'), path.join(work, 'repo'), { recursive: true });
  });

  afterAll(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('restores names and link targets byte for byte, attributes, ACLs, owners by name and holes', async () => {
    const expected = JSON.parse(await fs.readFile(path.join(DIR, 'tree.json'), 'utf8')) as ByteFixtureEntry[];
    const target = path.join(work, 'out');
    const result = await cassette(['restore', 'latest', '--target', target, '--repo', path.join(work, 'repo')]);
    expect(result.exitCode, result.stderr as string).toBe(0);
    const root = Buffer.from(path.join(target, 'tmp-fx2-src'));
    const { readXattrs } = await import('../../src/fs/xattrs.js');
    for (const entry of expected) {
      const rel = Buffer.from(entry.pathBase64, 'base64');
      const file = Buffer.concat([root, Buffer.from('/'), rel]);
      const shown = rel.toString('latin1');
      const stats = await fs.lstat(file, { bigint: true });
      expect(Number(stats.mode & 0o7777n), shown).toBe(entry.mode);
      expect([Number(stats.uid), Number(stats.gid)], shown).toEqual([entry.uid, entry.gid]);
      if (entry.type !== 'symlink') expect(stats.mtimeNs / 1000n, shown).toBe(BigInt(entry.mtimeNs) / 1000n);
      const xattrs = Object.fromEntries(readXattrs(file).xattrs.map(([n, v]) => [n, v.toString('base64')]));
      expect(xattrs, shown).toEqual(entry.xattrs ?? {});
      if (entry.type === 'symlink') expect((await fs.readlink(file, { encoding: 'buffer' })).toString('base64'), shown).toBe(entry.linkBase64);
      if (entry.type === 'file') {
        expect(
          createHash('sha256')
            .update(await fs.readFile(file))
            .digest('hex'),
          shown,
        ).toBe(entry.sha256);
        if (entry.sparse) expect(Number(stats.blocks) * 512, shown).toBeLessThan(64 * 1024);
      }
    }
    // Nothing more than the fixture's entries (Node's recursive readdir cannot give names as bytes).
    const count = async (dir: Buffer): Promise<number> => {
      let n = 0;
      for (const entry of await fs.readdir(dir, { encoding: 'buffer', withFileTypes: true })) {
        n++;
        if (entry.isDirectory()) n += await count(Buffer.concat([dir, Buffer.from('/'), entry.name as unknown as Buffer]));
      }
      return n;
    };
    expect(await count(root)).toBe(expected.length);
  });
});
