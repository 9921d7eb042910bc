// A target the restore cannot write gets a message naming the path and what to do (issue 17: a raw "EACCES: permission denied, mkdir …").

import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { targetAdvice, targetError } from '../../src/restore/destination.js';
import { cassette, CLI } from '../helpers/cli.js';

describe('targetAdvice', () => {
  it.each([
    ['EACCES', /as a user that may write there .* --target DIR/],
    ['EPERM', /as a user that may write there/],
    ['EROFS', /read-only: remount it read-write/],
    ['ENOSPC', /no space left/],
    ['EDQUOT', /no space left/],
  ])('%s', (code, advice) => {
    expect(targetAdvice(code)).toMatch(advice);
  });

  it('says nothing it does not know', () => {
    expect(targetAdvice('EIO')).toBe('');
    expect(targetAdvice(undefined)).toBe('');
    const error = Object.assign(new Error("EACCES: permission denied, mkdir '/x/y'"), { code: 'EACCES' });
    expect(targetError('create directory', '/x/y', error).message).toBe(`cannot create directory /x/y: EACCES: permission denied, mkdir '/x/y'${targetAdvice('EACCES')}`);
  });
});

describe('restore into a directory the user may not write', () => {
  let work: string;
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-target-errors-'));
    await fs.mkdir(path.join(work, 'src'));
    await fs.writeFile(path.join(work, 'src', 'a.txt'), 'a\n');
    expect((await cassette(['backup', path.join(work, 'src'), '--repo', path.join(work, 'repo')])).exitCode).toBe(0);
    await fs.mkdir(path.join(work, 'locked'), { mode: 0o555 });
    // The user who runs the restore must be able to read the repository and the CLI, but not write into `locked`.
    execFileSync('chmod', ['-R', 'a+rX', work]);
    await fs.chmod(path.join(work, 'locked'), 0o555);
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('exits 1 with the path and the choices, no stack trace', async () => {
    const args = [CLI, 'restore', 'latest', '--repo', path.join(work, 'repo'), '--target', path.join(work, 'locked', 'r')];
    // root writes anywhere: run the restore as nobody then (runuser), as the user it is otherwise.
    const asUser = process.getuid?.() === 0 ? ['runuser', ['-u', 'nobody', '--', 'node', ...args]] : ['node', args];
    const { execa } = await import('execa');
    const result = await execa(asUser[0] as string, asUser[1] as string[], { reject: false, cwd: work, env: { CASSETTE_REPO: '' } });
    expect(result.exitCode).toBe(1);
    const artifact = path.join(work, 'src').slice(1).replace(/\//g, '-');
    expect(result.stderr).toBe(
      `cassette: cannot create directory ${path.join(work, 'locked', 'r', artifact)}: EACCES: permission denied, mkdir '${path.join(work, 'locked', 'r')}'${targetAdvice('EACCES')}`,
    );
  });
});
