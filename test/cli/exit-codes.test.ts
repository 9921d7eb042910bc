// Exit statuses through the built CLI: a malformed repository URL is a usage error (2); a commit record naming objects outside its snapshot is an integrity error (5) for every command, and prune then deletes nothing.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommitRecord } from '../../src/format/types.js';
import { commitKey } from '../../src/repository.js';
import { cassette } from '../helpers/cli.js';
import { buildRepo } from '../helpers/hand-built-repo.js';

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-exit-codes-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('a malformed repository URL', () => {
  it.each([
    ['s3://', /no valid bucket name/],
    ['s3:///x', /no valid bucket name/],
    ['s3://bucket with space/', /no valid bucket name \("bucket with space"\)/],
    ['ftp://x', /unsupported scheme "ftp:\/\/"/],
    ['file://relative', /not a valid file URL/],
    ['https://s3.example.com/bucket', /unsupported scheme "https:\/\/"/],
  ])('--repo %j is a usage error (exit 2), for every command', async (url, message) => {
    const commands = [
      ['snapshots'],
      ['ls', 'latest'],
      ['restore', 'latest', '--target', path.join(work, 'never')],
      ['verify', 'latest'],
      ['prune', '--keep-last', '1'],
      ['backup', work],
      ['bench', '--transfer', '1MiB', '--read-limit', '1MiB'],
    ];
    for (const args of commands) {
      const result = await cassette([...args, '--repo', url]);
      expect({ args, code: result.exitCode }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain(url);
    }
  });

  it("from a plan file's repository too (exit 2, issue 17)", async () => {
    const plan = path.join(work, 'plan.yaml');
    await fs.writeFile(plan, `repository: ftp://backups/x\nsources:\n  - ${work}\n`);
    const result = await cassette(['backup', '--plan', plan]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^cassette: repository "ftp:\/\/backups\/x" has an unsupported scheme "ftp:\/\/"/);
  });

  it('from CASSETTE_REPO too, and a malformed --endpoint (exit 2)', async () => {
    const fromEnv = await cassette(['snapshots'], { env: { CASSETTE_REPO: 's3://Bad_Bucket/x' } });
    expect(fromEnv.exitCode).toBe(2);
    expect(fromEnv.stderr).toContain('no valid bucket name ("Bad_Bucket")');
    const endpoint = await cassette(['snapshots', '--repo', 's3://bucket-name/x', '--endpoint', 'localhost:9000']);
    expect(endpoint.exitCode).toBe(2);
    expect(endpoint.stderr).toContain('endpoint "localhost:9000" is not an http');
  });

  it('--json reports it with its code', async () => {
    const result = await cassette(['snapshots', '--repo', 's3://', '--json']);
    expect(result.exitCode).toBe(2);
    expect(JSON.parse((result.stdout as string).trim())).toMatchObject({ type: 'error', code: 'E_REPO' });
  });
});

describe('a commit record naming objects outside its snapshot', () => {
  const OLDER = '20261125T120000Z-111111';
  const NEWER = '20261126T120000Z-abcdef';

  /** Every file under `dir` with its content, to show that nothing was removed or changed. */
  async function contents(dir: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const name of await fs.readdir(dir, { recursive: true })) {
      const file = path.join(dir, name);
      if ((await fs.stat(file)).isFile()) out[name] = (await fs.readFile(file)).toString('base64');
    }
    return out;
  }

  it.each<[string, (record: CommitRecord) => void]>([
    ['a volume key with ..', (r) => (r.artifacts[0]!.volumes[0]!.key = `data/${NEWER}/../../outside.tar.zst`)],
    ['an absolute volume key', (r) => (r.artifacts[0]!.volumes[0]!.key = '/etc/passwd')],
    ['a volume key of another snapshot', (r) => (r.artifacts[0]!.volumes[0]!.key = `data/${OLDER}/evil.tar.zst`)],
    ['an index key under snapshots/', (r) => (r.artifacts[0]!.index.key = commitKey(OLDER))],
    ['the id of another snapshot', (r) => (r.id = OLDER)],
  ])('%s: prune, restore, verify, ls and snapshots exit 5, and prune deletes nothing', async (what, corrupt) => {
    const repo = path.join(work, what.replace(/[^a-z]+/g, '-'));
    // Two honest snapshots; the newer one's record is then made hostile.
    await buildRepo(repo, [{ path: 'a.txt', type: 'file', content: Buffer.from('older\n') }], { id: OLDER });
    const { record } = await buildRepo(repo, [{ path: 'a.txt', type: 'file', content: Buffer.from('newer\n') }], { id: NEWER });
    corrupt(record);
    await fs.writeFile(path.join(repo, commitKey(NEWER)), JSON.stringify(record));
    const before = await contents(repo);

    const target = path.join(work, `${what.replace(/[^a-z]+/g, '-')}-target`);
    // Prune first: before the records were checked, it removed the newer snapshot's data as
    // incomplete when the newer record claimed the older id (its commit record named no such id).
    for (const args of [['prune', '--keep-last', '1'], ['restore', 'latest', '--target', target], ['verify', 'latest'], ['ls', 'latest'], ['snapshots']]) {
      const result = await cassette([...args, '--repo', repo]);
      expect({ args, code: result.exitCode }).toEqual({ args, code: 5 });
      expect(result.stderr).toContain(`commit record ${commitKey(NEWER)} is refused`);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    expect(await contents(repo)).toEqual(before);
    await expect(fs.stat(target)).rejects.toThrow();
  });
});
