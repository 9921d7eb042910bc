// Fidelity end to end through the CLI: names as bytes, extended attributes, ACLs, capabilities, owners, holes; restored by Cassette and by stock zstd | tar; nothing skipped silently.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTrees } from '../../src/demo/compare-trees.js';
import type { CommitRecord, IndexEntry } from '../../src/format/types.js';
import { readXattrs } from '../../src/fs/xattrs.js';
import { cassette, CLI } from '../helpers/cli.js';
import { createBucket, s3Env, s3Server } from '../helpers/s3.js';

const server = s3Server('s3rver')!;
const GiB = 1024 ** 3;
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** A path inside `root` made of raw bytes (names that are not UTF-8). */
function bytesPath(root: string, ...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat([Buffer.from(root), ...parts.flatMap((p) => [Buffer.from('/'), typeof p === 'string' ? Buffer.from(p) : p])]);
}

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

/** The tree of the issue: every kind of name and attribute a control node has. */
async function makeFidelityTree(root: string): Promise<void> {
  await fs.mkdir(root, { recursive: true });
  const run = (command: string, ...args: string[]): void => void execFileSync(command, args, { cwd: root, stdio: 'pipe' });
  // Names that are not UTF-8: a file, a directory with a child, a symlink target, a symlink name.
  await fs.writeFile(bytesPath(root, latin1('latin1-\xe9t\xe9.txt')), 'latin-1 name\n');
  await fs.mkdir(bytesPath(root, latin1('dir-\xff')));
  await fs.writeFile(bytesPath(root, latin1('dir-\xff'), latin1('child-\xe8')), 'in a latin-1 directory\n');
  await fs.symlink(latin1('target-\xe9'), bytesPath(root, 'dangling-latin1-target'));
  await fs.symlink('plain.txt', bytesPath(root, latin1('link-\xe9')));
  // Extended attributes in every namespace; a label ends in NUL as the kernel returns it under SELinux.
  await fs.writeFile(path.join(root, 'plain.txt'), 'plain\n');
  await fs.writeFile(path.join(root, 'labelled.conf'), 'label\n');
  run('setfattr', '-n', 'user.origin', '-v', 'control-node-1', 'labelled.conf');
  run('setfattr', '-n', 'trusted.md5', '-v', '0x00ff00ff', 'labelled.conf');
  run('setfattr', '-n', 'security.selinux', '-v', `0x${Buffer.from('system_u:object_r:etc_t:s0\0').toString('hex')}`, 'labelled.conf');
  await fs.symlink('plain.txt', path.join(root, 'plain-link'));
  run('setfattr', '-h', '-n', 'security.selinux', '-v', `0x${Buffer.from('system_u:object_r:bin_t:s0\0').toString('hex')}`, 'plain-link');
  await fs.writeFile(path.join(root, 'ping'), 'a tool with a capability\n', { mode: 0o755 });
  run('setcap', 'cap_net_raw+ep', 'ping');
  // ACLs: an access ACL on a file, an access and a default ACL on a directory.
  await fs.writeFile(path.join(root, 'shared.txt'), 'acl\n');
  run('setfacl', '-m', 'u:daemon:r-x,g:adm:rw-', 'shared.txt');
  await fs.mkdir(path.join(root, 'inbox'));
  run('setfacl', '-m', 'g:adm:rwx', 'inbox');
  run('setfacl', '-d', '-m', 'u:daemon:rwx', 'inbox');
  // 1 GiB with three 4 KiB blocks of data.
  const sparse = await fs.open(path.join(root, 'disk.img'), 'w');
  for (const at of [0, 300 * 1024 * 1024, GiB - 4096]) await sparse.write(Buffer.alloc(4096, (at % 251) + 1), 0, 4096, at);
  await sparse.truncate(GiB);
  await sparse.close();
  // Owners: names that exist here, and numbers that have no name.
  await fs.writeFile(path.join(root, 'daemon-owned'), 'daemon\n');
  await fs.chown(path.join(root, 'daemon-owned'), 1, 4);
  await fs.writeFile(path.join(root, 'nameless-owner'), 'no name\n');
  await fs.chown(path.join(root, 'nameless-owner'), 4242, 4343);
  // Read-only with attributes: they must go on before the mode.
  await fs.writeFile(path.join(root, 'read-only'), 'ro\n');
  run('setfattr', '-n', 'user.kept', '-v', 'yes', 'read-only');
  await fs.chmod(path.join(root, 'read-only'), 0o444);
}

describe('fidelity: names, attributes, ACLs, owners and holes', () => {
  let work: string;
  let source: string;
  let repo: string;
  let env: Record<string, string>;
  let snapshot: string;
  let artifact: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-fidelity-'));
    source = path.join(work, 'node');
    await makeFidelityTree(source);
    env = s3Env(server.endpoint);
    repo = `s3://${await createBucket(server.endpoint)}/fidelity`;
    const result = await cassette(['backup', source, '--repo', repo, '--json'], { env });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const summary = JSON.parse((result.stdout as string).trim().split('\n').at(-1)!) as { snapshot: string; notStored: number; partial: boolean };
    expect(summary).toMatchObject({ notStored: 0, partial: false });
    snapshot = summary.snapshot;
    artifact = source.slice(1).replace(/\//g, '-');
  }, 120_000);

  afterAll(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('restores every name byte, content, mode, owner, mtime, link target, attribute and ACL, with the image sparse', async () => {
    const target = path.join(work, 'restored');
    const result = await cassette(['restore', snapshot, '--target', target, '--repo', repo], { env });
    expect(result.exitCode, result.stderr as string).toBe(0);
    const restored = path.join(target, artifact);
    expect(await compareTrees(source, restored, { owners: true, xattrs: true })).toEqual([]);
    // Exact name bytes (compareTrees goes by bytes too; this says it in plain terms).
    expect((await fs.readdir(restored, { encoding: 'buffer' })).map((n) => n.toString('latin1')).sort()).toEqual(
      (await fs.readdir(source, { encoding: 'buffer' })).map((n) => n.toString('latin1')).sort(),
    );
    expect(await fs.readlink(bytesPath(restored, 'dangling-latin1-target'), { encoding: 'buffer' })).toEqual(latin1('target-\xe9'));
    const image = await fs.stat(path.join(restored, 'disk.img'));
    expect(image.size).toBe(GiB);
    expect(image.blocks * 512).toBeLessThan(2 * 1024 * 1024);
    const [want, got] = await Promise.all([sha256(path.join(source, 'disk.img')), sha256(path.join(restored, 'disk.img'))]);
    expect(got).toBe(want);
    expect(execFileSync('getcap', [path.join(restored, 'ping')], { encoding: 'utf8' })).toContain('cap_net_raw=ep');
    expect(execFileSync('getfacl', ['-n', '--omit-header', path.join(restored, 'inbox')], { encoding: 'utf8' })).toContain('default:user:1:rwx');
    const owners = await fs.stat(path.join(restored, 'nameless-owner'));
    expect([owners.uid, owners.gid]).toEqual([4242, 4343]);
  }, 120_000);

  it('records names and owners losslessly in the index, and ls shows and selects them', async () => {
    const listed = await cassette(['ls', snapshot, '--json', '--repo', repo], { env });
    expect(listed.exitCode).toBe(0);
    const entries = (listed.stdout as string)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as IndexEntry);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    const latinFile = entries.find((e) => e.pathBytes === latin1('latin1-\xe9t\xe9.txt').toString('base64'))!;
    expect(latinFile.path).toBe('latin1-\ufffdt\ufffd.txt');
    expect(entries.find((e) => e.path === 'dir-\ufffd/child-\ufffd')!.pathBytes).toBe(latin1('dir-\xff/child-\xe8').toString('base64'));
    expect(byPath.get('dangling-latin1-target')).toMatchObject({ type: 'symlink', link: 'target-\ufffd', linkBytes: latin1('target-\xe9').toString('base64') });
    expect(byPath.get('daemon-owned')).toMatchObject({ uid: 1, gid: 4, uname: 'daemon', gname: 'adm' });
    expect(byPath.get('nameless-owner')).toMatchObject({ uid: 4242, gid: 4343 });
    expect(byPath.get('nameless-owner')!.uname).toBeUndefined();
    expect(byPath.get('disk.img')!.sparse).toBe(true);
    expect(byPath.get('plain.txt')!.sparse).toBeUndefined();
    expect(Object.keys(byPath.get('labelled.conf')!.xattrs!).sort()).toEqual(['security.selinux', 'trusted.md5', 'user.origin']);
    expect(Object.keys(byPath.get('inbox')!.xattrs!).sort()).toEqual(['system.posix_acl_access', 'system.posix_acl_default']);
    const long = await cassette(['ls', snapshot, `${artifact}/daemon-owned`, `${artifact}/nameless-owner`, '-l', '--repo', repo], { env });
    expect(
      (long.stdout as string)
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(/\s+/).slice(1, 3).join(':')),
    ).toEqual(['daemon:adm', '4242:4343']);
    // A glob over the display name selects the file, and --stdout gets its bytes.
    const one = await cassette(['restore', snapshot, '--include', `${artifact}/latin1-*`, '--stdout', '--repo', repo], { env, binary: true });
    expect(one.exitCode).toBe(0);
    expect(Buffer.from(one.stdout as unknown as Uint8Array).toString()).toBe('latin-1 name\n');
  });

  it('gives the same tree through stock zstd -dc | tar --xattrs --acls --selinux -x, apart from holes', async () => {
    const record = JSON.parse((await cassette(['snapshots', '--json', '--repo', repo], { env })).stdout as string) as { snapshots: Array<{ id: string }> };
    expect(record.snapshots.map((s) => s.id)).toEqual([snapshot]);
    const target = path.join(work, 'stock');
    await fs.mkdir(target);
    const { stdout: archive } = await execa('aws', ['s3', 'cp', `${repo}/data/${snapshot}/${artifact}.tar.zst`, '-', '--endpoint-url', server.endpoint], {
      env,
      encoding: 'buffer',
    });
    const tar = await execa('sh', ['-c', `zstd -dc | tar --xattrs --xattrs-include='*' --acls --selinux -xpf - -C '${target}'`], { input: archive, reject: false });
    expect(tar.exitCode, tar.stderr).toBe(0);
    // GNU tar 1.34 does not know the pax hdrcharset keyword: it says so and uses the raw bytes.
    expect(tar.stderr.split('\n').filter((line) => line !== '' && !line.includes("unknown extended header keyword 'hdrcharset'"))).toEqual([]);
    expect(await compareTrees(source, target, { owners: true, xattrs: true })).toEqual([]);
  }, 120_000);

  it('--no-xattrs stores no attributes, and restoring with it sets none', async () => {
    const local = path.join(work, 'no-xattrs-repo');
    const backup = await cassette(['backup', source, '--no-xattrs', '--repo', local, '--json']);
    expect(backup.exitCode, backup.stderr as string).toBe(0);
    const listed = await cassette(['ls', 'latest', '--json', '--repo', local]);
    expect((listed.stdout as string).includes('"xattrs"')).toBe(false);
    const target = path.join(work, 'no-xattrs-out');
    expect((await cassette(['restore', snapshot, '--target', target, '--no-xattrs', '--repo', repo], { env })).exitCode).toBe(0);
    expect(readXattrs(path.join(target, artifact, 'labelled.conf')).xattrs).toEqual([]);
  }, 120_000);
});

describe('nothing is skipped silently', () => {
  let work: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-skip-'));
    await fs.chmod(work, 0o755);
  });

  afterAll(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('an unreadable file is a warning in the record, "1 entry not stored" and exit 3', async () => {
    const source = path.join(work, 'unreadable');
    await fs.mkdir(source);
    await fs.writeFile(path.join(source, 'readable'), 'ok\n', { mode: 0o644 });
    await fs.writeFile(path.join(source, 'secret'), 'no\n', { mode: 0o600 });
    const repo = path.join(work, 'repo-unreadable');
    await fs.mkdir(repo, { mode: 0o777 });
    await fs.chmod(repo, 0o777);
    const result = await execa('setpriv', [...NOBODY, 'node', CLI, 'backup', source, '--repo', repo], { reject: false, env: { CASSETTE_REPO: '' } });
    expect(result.exitCode, result.stderr).toBe(3);
    expect(result.stderr).toContain('secret');
    expect(result.stderr).toContain('partial: 1 entry not stored');
    const id = result.stdout.trim();
    const record = JSON.parse(await fs.readFile(path.join(repo, 'snapshots', `${id}.json`), 'utf8')) as CommitRecord;
    expect(record.artifacts[0]).toMatchObject({ notStored: 1, warningCount: 1, warnings: [expect.objectContaining({ code: 'W_UNREADABLE', path: 'secret' })] });
  });

  it('a socket is recorded as not stored by design and the backup still exits 0', async () => {
    const source = path.join(work, 'with-socket');
    await fs.mkdir(source);
    await fs.writeFile(path.join(source, 'file'), 'ok\n');
    const net = await import('node:net');
    const socketServer = net.createServer();
    await new Promise<void>((resolve) => socketServer.listen(path.join(source, 'app.sock'), resolve));
    try {
      const repo = path.join(work, 'repo-socket');
      const result = await cassette(['backup', source, '--repo', repo]);
      expect(result.exitCode, result.stderr as string).toBe(0);
      expect(result.stderr).toContain('app.sock: socket not stored');
      expect(result.stderr).not.toContain('partial');
    } finally {
      socketServer.close();
    }
  });

  it('a target that refuses attributes gets one warning per kind and exit 3, and the content is restored', async () => {
    const source = path.join(work, 'privileged');
    await fs.mkdir(source);
    await fs.writeFile(path.join(source, 'a'), 'a\n');
    await fs.writeFile(path.join(source, 'b'), 'b\n');
    for (const name of ['a', 'b']) {
      execFileSync('setfattr', ['-n', 'trusted.tag', '-v', name, path.join(source, name)]);
      execFileSync('setfattr', ['-n', 'user.tag', '-v', name, path.join(source, name)]);
    }
    const repo = path.join(work, 'repo-privileged');
    expect((await cassette(['backup', source, '--repo', repo])).exitCode).toBe(0);
    await fs.chmod(repo, 0o755);
    const target = path.join(work, 'restore-as-nobody');
    await fs.mkdir(target);
    await fs.chown(target, 65534, 65534);
    // Only root may set trusted.* attributes: an ordinary user's restore is refused them.
    const result = await execa('setpriv', [...NOBODY, 'node', CLI, 'restore', 'latest', '--target', target, '--repo', repo], { reject: false, env: { CASSETTE_REPO: '' } });
    expect(result.exitCode, result.stderr).toBe(3);
    expect(result.stderr.match(/warning: .*refused trusted\.\* attributes \(EPERM\)/g)).toHaveLength(1);
    expect(result.stderr).toContain('partial: the target refused trusted.* attributes (EPERM) on 2 entries');
    const restored = path.join(target, source.slice(1).replace(/\//g, '-'));
    expect(await fs.readFile(path.join(restored, 'b'), 'utf8')).toBe('b\n');
    expect(readXattrs(path.join(restored, 'b')).xattrs.map(([n, v]) => `${n}=${v.toString()}`)).toEqual(['user.tag=b']);
  });
});

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await fs.open(file);
  try {
    const buffer = Buffer.alloc(1 << 20);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}
