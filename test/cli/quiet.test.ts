// -q on the commands a nightly job runs besides backup: verify, prune, forget, tag and copy print nothing on success, and still say what went wrong (issue 17, defect 7).

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cassette } from '../helpers/cli.js';

describe('-q for cron', () => {
  let work: string;
  let repo: string;
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-quiet-'));
    repo = path.join(work, 'repo');
    await fs.mkdir(path.join(work, 'src'));
    await fs.writeFile(path.join(work, 'src', 'a.txt'), 'a\n');
    for (let i = 0; i < 3; i++) {
      const backup = await cassette(['backup', '-q', path.join(work, 'src'), '--repo', repo]);
      expect({ code: backup.exitCode, stdout: backup.stdout, stderr: backup.stderr }).toEqual({ code: 0, stdout: '', stderr: '' });
    }
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it.each([
    [['verify', 'latest', '--read-data']],
    [['tag', 'latest', '--add', 'checked']],
    [['copy', 'latest', '--to', 'COPY']],
    [['prune', '--keep-last', '2']],
    [['forget', 'latest']],
    [['snapshots']],
  ])('%j -q prints nothing on success, and the same command without -q does', async (args) => {
    const withTarget = args.map((a) => (a === 'COPY' ? path.join(work, 'copy') : a));
    if (args[0] === 'snapshots') {
      // snapshots is a listing: -q is not one of its options.
      expect((await cassette([...withTarget, '-q', '--repo', repo])).exitCode).toBe(2);
      return;
    }
    const quiet = await cassette([...withTarget, '-q', '--repo', repo]);
    expect({ code: quiet.exitCode, stdout: quiet.stdout, stderr: quiet.stderr }).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('-q still reports a failure, on stderr', async () => {
    const result = await cassette(['verify', 'no-such-snapshot', '-q', '--repo', repo]);
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^cassette: no committed snapshot matches "no-such-snapshot"/);
  });

  it('without -q the same commands say what they did', async () => {
    const verify = await cassette(['verify', 'latest', '--repo', repo]);
    expect(verify.stdout).toMatch(/: OK\n$/);
    const dry = await cassette(['prune', '--keep-last', '1', '--dry-run', '--repo', repo]);
    expect(dry.stdout).toMatch(/would remove/);
  });
});
