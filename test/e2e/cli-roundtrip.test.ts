// End to end through the built CLI against s3rver and against Ceph RGW (a real S3 server): backup, stock-tool restore, full and selective restore.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompress } from 'zstd-napi';
import { compareTrees } from '../../src/demo/compare-trees.js';
import { parseSeekTable, parseSeekTableFooter, SEEK_TABLE_FOOTER_SIZE } from '../../src/format/seek-table.js';
import type { CommitRecord, FrameRecord, IndexEntry } from '../../src/format/types.js';
import { makeAwkwardTree } from '../helpers/awkward-tree.js';
import { cassette } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { createBucket, getObject, s3Env, s3Server } from '../helpers/s3.js';

function readIndexText(compressed: Buffer): { frames: FrameRecord[]; entries: IndexEntry[]; header: Record<string, unknown> } {
  const lines = decompress(compressed)
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const header = lines[0]!;
  const frameCount = header.frameCount as number;
  return { header, frames: lines.slice(1, 1 + frameCount) as unknown as FrameRecord[], entries: lines.slice(1 + frameCount) as unknown as IndexEntry[] };
}

// RGW is started when it is installed, and always under CI=true, where the global setup fails
// without it (global-setup.ts warns when it leaves RGW out).
const servers = (['s3rver', 'rgw'] as const).map((name) => s3Server(name)).filter((server) => server !== undefined);
describe.each(servers)('backup and restore through the CLI ($name)', (server) => {
  const { endpoint } = server;
  const getStored = (key: string): Promise<Buffer> => getObject(endpoint, bucket, key);
  let work: string;
  let tree: string;
  let bucket: string;
  let repo: string;
  let env: Record<string, string>;
  let record: CommitRecord;
  let proxy: FaultProxy;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-e2e-'));
    tree = path.join(work, 'src', 'awkward');
    await makeAwkwardTree(tree);
    bucket = await createBucket(endpoint);
    repo = `s3://${bucket}/backups/host1`;
    env = s3Env(endpoint);
    proxy = await startFaultProxy(endpoint);
    const result = await cassette(['backup', tree, '--repo', repo, '--tag', 'e2e', '--json'], { env });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const listed = await cassette(['snapshots', '--repo', repo, '--json'], { env });
    expect(listed.exitCode).toBe(0);
    const snapshots = (JSON.parse(listed.stdout as string) as { snapshots: Array<{ id: string; tags: string[]; artifacts: Array<{ name: string }> }> }).snapshots;
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]!.tags).toEqual(['e2e']);
    record = JSON.parse((await getStored(`backups/host1/snapshots/${snapshots[0]!.id}.json`)).toString()) as CommitRecord;
  }, 300_000);

  afterAll(async () => {
    await proxy?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('names the artifact after its path and records counts', () => {
    expect(record.artifacts).toHaveLength(1);
    const artifact = record.artifacts[0]!;
    expect(artifact.name).toBe(tree.slice(1).replace(/\//g, '-'));
    expect(artifact.bytesRead).toBeGreaterThan(100 * 1024 * 1024);
    expect(artifact.storedBytes).toBeLessThan(artifact.bytesRead);
    expect(artifact.warningCount).toBe(0);
  });

  it('stores an archive that aws s3 cp … - | zstd -dc | tar -x restores exactly', async () => {
    const artifact = record.artifacts[0]!;
    const out = path.join(work, 'stock');
    await fs.mkdir(out);
    execFileSync(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        'aws s3 cp "$1" - --endpoint-url "$2" | zstd -dc | tar -x --numeric-owner -C "$3"',
        'stock-restore',
        `s3://${bucket}/backups/host1/${artifact.volumes[0]!.key}`,
        endpoint,
        out,
      ],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    expect(await compareTrees(tree, out, { owners: true })).toEqual([]);
  });

  it('ends each archive with a seek table that matches the index, and every frame decompresses alone', async () => {
    const artifact = record.artifacts[0]!;
    const archive = await getStored(`backups/host1/${artifact.volumes[0]!.key}`);
    const footer = parseSeekTableFooter(archive.subarray(archive.length - SEEK_TABLE_FOOTER_SIZE));
    const table = parseSeekTable(archive.subarray(archive.length - footer.tableSize));
    const index = readIndexText(await getStored(`backups/host1/${artifact.index.key}`));
    expect(table).toHaveLength(index.frames.length);
    expect(index.header.entryCount).toBe(index.entries.length);
    let tarOffset = 0;
    for (const [i, frame] of index.frames.entries()) {
      expect(frame.size).toBe(table[i]!.compressedSize);
      expect(frame.tarSize).toBe(table[i]!.decompressedSize);
      expect(frame.tarOffset).toBe(tarOffset);
      const alone = decompress(archive.subarray(frame.offset, frame.offset + frame.size));
      expect(alone.length).toBe(frame.tarSize);
      tarOffset += frame.tarSize;
    }
    expect(index.frames.at(-1)!.offset + index.frames.at(-1)!.size + footer.tableSize).toBe(archive.length);
    // Every small member lies inside one frame.
    for (const entry of index.entries) {
      if (entry.size > 1024 * 1024) continue;
      const end = entry.dataOffset + entry.size - 1;
      const frame = index.frames.find((f) => f.tarOffset <= entry.offset && entry.offset < f.tarOffset + f.tarSize)!;
      expect(end).toBeLessThan(frame.tarOffset + frame.tarSize);
    }
    // sha256 in the index is what sha256sum prints.
    const hosts = index.entries.find((e) => e.path === 'etc/hosts')!;
    expect(hosts.sha256).toBe(
      createHash('sha256')
        .update(await fs.readFile(path.join(tree, 'etc/hosts')))
        .digest('hex'),
    );
  });

  it('lists entries from the index with ls', async () => {
    const name = record.artifacts[0]!.name;
    const result = await cassette(['ls', 'latest', `${name}/etc/ssh/**`, '--repo', repo], { env });
    expect(result.exitCode).toBe(0);
    // `dir/**` matches the directory itself too (as a globstar matches zero segments).
    expect((result.stdout as string).trim().split('\n').sort()).toEqual([`${name}/etc/ssh`, `${name}/etc/ssh/ssh_host_key`, `${name}/etc/ssh/sshd_config`]);
  });

  it('restores everything with all metadata', async () => {
    const target = path.join(work, 'full');
    const result = await cassette(['restore', 'latest', '--target', target, '--repo', repo], { env });
    expect(result.stderr).toMatch(/restored \d+ entries/);
    expect(result.exitCode).toBe(0);
    expect(await compareTrees(tree, path.join(target, record.artifacts[0]!.name), { owners: true })).toEqual([]);
  });

  it('restores one small file by downloading the index and about one frame', async () => {
    const artifact = record.artifacts[0]!;
    const target = path.join(work, 'one');
    proxy.reset();
    const result = await cassette(
      ['restore', record.id.slice(0, 12), '--target', target, '--include', `${artifact.name}/etc/hosts`, '--repo', repo, '--endpoint', proxy.endpoint],
      { env },
    );
    expect(result.exitCode).toBe(0);
    expect(await fs.readFile(path.join(target, artifact.name, 'etc/hosts'), 'utf8')).toBe(await fs.readFile(path.join(tree, 'etc/hosts'), 'utf8'));
    const archiveBytes = proxy.bytesServed((r) => r.path.includes('.tar.zst'));
    const index = readIndexText(await getStored(`backups/host1/${artifact.index.key}`));
    const hosts = index.entries.find((e) => e.path === 'etc/hosts')!;
    const frame = index.frames.find((f) => f.tarOffset <= hosts.dataOffset && hosts.dataOffset < f.tarOffset + f.tarSize)!;
    expect(archiveBytes).toBe(frame.size);
    expect(proxy.bytesServed()).toBeLessThan(artifact.index.size + frame.size + 64 * 1024);
    expect(proxy.bytesServed()).toBeLessThan(artifact.storedBytes / 10);
  });

  it('restores one directory reading only the frames that hold it', async () => {
    const artifact = record.artifacts[0]!;
    const target = path.join(work, 'dir');
    proxy.reset();
    const result = await cassette(['restore', 'latest', '--target', target, '--include', `${artifact.name}/etc`, '--repo', repo, '--endpoint', proxy.endpoint], { env });
    expect(result.exitCode).toBe(0);
    expect(await compareTrees(path.join(tree, 'etc'), path.join(target, artifact.name, 'etc'), { ignore: (p) => p === 'hosts.hard' || p === 'hosts' })).toEqual([]);
    const index = readIndexText(await getStored(`backups/host1/${artifact.index.key}`));
    const needed = new Set<number>();
    for (const entry of index.entries) {
      if (!entry.path.startsWith('etc/') || entry.size === 0) continue;
      for (const f of index.frames) if (f.tarOffset < entry.dataOffset + entry.size && entry.dataOffset < f.tarOffset + f.tarSize) needed.add(f.frame);
    }
    const neededBytes = [...needed].reduce((sum, n) => sum + index.frames[n]!.size, 0);
    const archiveBytes = proxy.bytesServed((r) => r.path.includes('.tar.zst'));
    expect(archiveBytes).toBeGreaterThanOrEqual(neededBytes);
    // Gaps under 1 MiB between needed frames may be read through; nothing beyond.
    expect(archiveBytes).toBeLessThanOrEqual(neededBytes + needed.size * 1024 * 1024);
    expect(archiveBytes).toBeLessThan(artifact.storedBytes / 4);
  });

  it('writes one file byte-exact to stdout', async () => {
    const artifact = record.artifacts[0]!;
    const result = await cassette(['restore', 'latest', '--include', `${artifact.name}/etc/ssh/ssh_host_key`, '--stdout', '--repo', repo], { env, binary: true });
    expect(result.exitCode).toBe(0);
    expect(Buffer.compare(result.stdout as unknown as Buffer, await fs.readFile(path.join(tree, 'etc/ssh/ssh_host_key')))).toBe(0);
  });

  it('writes a selection as a plain tar stream that tar lists and extracts exactly', async () => {
    const artifact = record.artifacts[0]!;
    const tarFile = path.join(work, 'selection.tar');
    const result = await cassette(['restore', 'latest', '--include', `${artifact.name}/etc/ssh`, '--include', `${artifact.name}/unicode/**`, '--tar', '--repo', repo], {
      env,
      binary: true,
    });
    expect(result.exitCode).toBe(0);
    await fs.writeFile(tarFile, result.stdout as unknown as Buffer);
    const listed = execFileSync('tar', ['-tf', tarFile]).toString().trim().split('\n').sort();
    expect(listed).toEqual(
      [
        `${artifact.name}/etc/ssh/`,
        `${artifact.name}/etc/ssh/ssh_host_key`,
        `${artifact.name}/etc/ssh/sshd_config`,
        `${artifact.name}/unicode/`,
        `${artifact.name}/unicode/café/`,
        `${artifact.name}/unicode/café/naïve résumé.txt`,
        `${artifact.name}/unicode/emoji 🎞️.txt`,
        `${artifact.name}/unicode/日本語/`,
        `${artifact.name}/unicode/日本語/ファイル.txt`,
      ].sort(),
    );
    const out = path.join(work, 'from-tar');
    await fs.mkdir(out);
    execFileSync('tar', ['-xf', tarFile, '-C', out]);
    expect(await compareTrees(path.join(tree, 'unicode'), path.join(out, artifact.name, 'unicode'))).toEqual([]);
    expect(await compareTrees(path.join(tree, 'etc/ssh'), path.join(out, artifact.name, 'etc/ssh'))).toEqual([]);
  });

  it('says what it would restore with --dry-run, and writes nothing', async () => {
    const artifact = record.artifacts[0]!;
    const target = path.join(work, 'dry');
    const result = await cassette(['restore', 'latest', '--target', target, '--include', `${artifact.name}/etc/**`, '--dry-run', '--repo', repo], { env });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`would write file`);
    expect(result.stdout).toMatch(/would download [\d.]+ (B|KiB|MiB) in \d+ requests?/);
    await expect(fs.access(target)).rejects.toThrow();
  });

  it('a dry run needs no destination: it shows the restore in place, onto the original paths, and writes nothing', async () => {
    const artifact = record.artifacts[0]!;
    const result = await cassette(['restore', 'latest', '--include', `${artifact.name}/etc/**`, '--dry-run', '--repo', repo], { env });
    expect(result.exitCode, result.stderr as string).toBe(0);
    expect(result.stderr).toContain('showing a restore in place, onto the original paths');
    expect(result.stdout).toMatch(new RegExp(`would write file +\\d+  ${artifact.source.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/etc/`));
  });

  it('fails clearly on a snapshot that does not exist', async () => {
    const result = await cassette(['restore', 'nope', '--target', path.join(work, 'x'), '--repo', repo], { env });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain('no committed snapshot matches "nope"');
  });
});
