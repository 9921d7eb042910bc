// Helpers of the encryption end-to-end tests: age keys made with `cassette key generate`, backups run with --json, restores compared with their source, unique marker strings and a search of stored bytes for them.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { afterAll, beforeAll, expect } from 'vitest';
import { compareTrees } from '../../src/demo/compare-trees.js';
import { cassette } from './cli.js';
import type { RawRepository } from './raw-repository.js';

/** Every age v1 object starts with this line (age-encryption.org/v1). */
export const AGE_HEADER = Buffer.from('age-encryption.org/v1\n');
/** The magic number of a zstd frame. */
export const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** An age key pair written by `cassette key generate`. */
export interface AgeKey {
  /** The identity file (secret). */
  file: string;
  /** Its recipient, age1… */
  recipient: string;
  /** The secret key line, AGE-SECRET-KEY-1… */
  identity: string;
}

/** `cassette key generate -o <dir>/<name> --json`; checks the file (mode 0600) and that stock age-keygen derives the same recipient from it. */
export async function generateKey(dir: string, name: string): Promise<AgeKey> {
  const file = path.join(dir, name);
  const result = await cassette(['key', 'generate', '-o', file, '--json']);
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  const { identityFile, recipient } = JSON.parse(String(result.stdout)) as { identityFile: string; recipient: string };
  expect(identityFile).toBe(file);
  expect(recipient).toMatch(/^age1[02-9ac-hj-np-z]{58}$/);
  expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  const identity = (await fs.readFile(file, 'utf8')).split('\n').find((line) => line.startsWith('AGE-SECRET-KEY-1'));
  expect(identity).toMatch(/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/);
  expect(execFileSync('age-keygen', ['-y', file]).toString().trim()).toBe(recipient);
  return { file, recipient, identity: identity! };
}

/** The `--json` summary line of `cassette backup`. */
export interface BackupSummary {
  type: 'summary';
  snapshot: string;
  bytesRead: number;
  bytesStored: number;
  bytesReused: number;
  parents: string[];
  warnings: number;
}

/** `cassette backup … --json`, which must succeed without warnings; its summary. */
export async function backupJson(args: string[], env?: Record<string, string>): Promise<BackupSummary> {
  const result = await cassette(['backup', ...args, '--json'], { env });
  expect(result.stderr, String(result.stdout)).toBe('');
  expect(result.exitCode).toBe(0);
  const summary = JSON.parse(String(result.stdout).trim().split('\n').at(-1)!) as BackupSummary;
  expect(summary.type).toBe('summary');
  expect(summary.warnings).toBe(0);
  return summary;
}

/** `<label>-<16 random hex digits>`: a string no stored byte holds by chance. */
export function marker(label: string): string {
  return `${label}-${randomBytes(8).toString('hex')}`;
}

/**
 * Where the `secrets` (label → string) occur in a stored object: in its name, in its bytes (as
 * UTF-8 and as UTF-16LE), and in the bytes of every base64 run of 40 characters or more in it (a
 * JSON object's `sealed` member, for one), so that text stored merely encoded is caught too.
 */
export function secretsIn(name: string, bytes: Buffer, secrets: Record<string, string>): string[] {
  const places: Array<[string, Buffer]> = [
    ['its name', Buffer.from(name)],
    ['its bytes', bytes],
  ];
  for (const run of bytes.toString('latin1').matchAll(/[A-Za-z0-9+/]{40,}={0,2}/g)) places.push([`base64 at byte ${run.index}`, Buffer.from(run[0], 'base64')]);
  const found: string[] = [];
  for (const [label, secret] of Object.entries(secrets)) {
    for (const [where, place] of places) {
      for (const encoding of ['utf8', 'utf16le'] as const) if (place.includes(Buffer.from(secret, encoding))) found.push(`${name}: ${label} in ${where} (${encoding})`);
    }
  }
  return found;
}

/** Polls `check` until it holds; fails after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Whether `file` exists. */
export async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/**
 * A small tree: 30 text files in three directories, a symlink, an empty directory and a 5 MiB file
 * of random bytes, larger than a frame: stored in content-defined chunks that a later backup
 * reuses whatever changes in the text files.
 */
export async function makeSmallTree(root: string): Promise<void> {
  for (let d = 0; d < 3; d++) {
    await fs.mkdir(path.join(root, `dir${d}`), { recursive: true });
    for (let f = 0; f < 10; f++) await fs.writeFile(path.join(root, `dir${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(20 + 7 * f));
  }
  await fs.writeFile(path.join(root, 'random.bin'), randomBytes(5 * 1024 * 1024));
  await fs.symlink('dir0/f0.txt', path.join(root, 'current'));
  await fs.mkdir(path.join(root, 'empty'));
}

/** A temp dir for one describe block, removed after it. */
export function workDir(label: string): () => string {
  let dir = '';
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), `cassette-enc-${label}-`));
  });
  afterAll(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}

/** What expectRestores restores and compares. */
export interface RestoreCheck {
  /** The backed-up directory: its artifact is restored. */
  source: string;
  /** The restore's --target. */
  target: string;
  /** The tree the restored artifact must equal; default `source`. */
  expected?: string;
  flags?: string[];
  env?: Record<string, string>;
}

/** `cassette restore <id> --target …` must succeed and give back the source tree (or `expected`) exactly. */
export async function expectRestores(repo: RawRepository, id: string, check: RestoreCheck): Promise<void> {
  const result = await cassette(['restore', id, '--target', check.target, '--repo', repo.url, ...(check.flags ?? [])], { env: { ...repo.env, ...check.env } });
  expect(result.stderr).toMatch(/restored \d+ entries/);
  expect(result.exitCode).toBe(0);
  const artifact = check.source.slice(1).replace(/\//g, '-');
  expect(await compareTrees(check.expected ?? check.source, path.join(check.target, artifact), { owners: true })).toEqual([]);
}

/** The ids `cassette snapshots --json` lists, oldest first. */
export async function snapshotIds(repo: RawRepository, flags: string[] = []): Promise<string[]> {
  const result = await cassette(['snapshots', '--repo', repo.url, '--json', ...flags], { env: repo.env });
  expect(result.exitCode).toBe(0);
  return (JSON.parse(String(result.stdout)) as { snapshots: Array<{ id: string }> }).snapshots.map((s) => s.id);
}
