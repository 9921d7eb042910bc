// The bench's S3 side: a loopback s3rver child process (or a given endpoint), buckets, and stored-byte listings through @aws-sdk/client-s3.

import { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface S3Target {
  endpoint: string;
  /** Server processes to account CPU and RSS to (only when we started them). */
  pids?: number[];
  /** What the report calls the server. */
  label: string;
  /** Environment for child processes: credentials and region. */
  env: NodeJS.ProcessEnv;
  client: S3Client;
  close(): Promise<void>;
  /** For an interrupted run, which cannot wait: stops what close() stops (a Ceph cluster's daemons live in their own sessions and outlive us). */
  stopNow?: () => void;
}

function clientFor(endpoint: string, env: NodeJS.ProcessEnv): S3Client {
  return new S3Client({
    endpoint,
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: true,
    credentials: env.AWS_ACCESS_KEY_ID ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '' } : undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Starts s3rver on 127.0.0.1 in a child process (its CPU is then measured from /proc). */
export async function startS3rver(parent: string = os.tmpdir()): Promise<S3Target> {
  const directory = await fs.mkdtemp(path.join(parent, 'cassette-bench-s3rver-'));
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', path.join(here, 's3rver-process.js'), directory], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve((JSON.parse(text.split('\n')[0]!) as { port: number }).port);
    });
    child.on('exit', (code, signal) => reject(new Error(`s3rver exited with ${code === null ? `signal ${String(signal)}` : `code ${code}`}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1' };
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  return {
    endpoint,
    pids: child.pid === undefined ? undefined : [child.pid],
    label: 's3rver 4.0.4 (child process on loopback)',
    env,
    client: clientFor(endpoint, env),
    close: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}

/** An endpoint given with --endpoint: credentials from the AWS_* environment. */
export function externalEndpoint(endpoint: string): S3Target {
  const env: NodeJS.ProcessEnv = { ...process.env };
  env.AWS_REGION ??= env.AWS_DEFAULT_REGION ?? 'us-east-1';
  env.AWS_DEFAULT_REGION ??= env.AWS_REGION;
  return { endpoint, label: `endpoint ${endpoint}`, env, client: clientFor(endpoint, env), close: async () => undefined };
}

const RGW_SH = path.resolve(here, '../../test/setup/rgw.sh');

/**
 * Starts a throwaway single-node Ceph cluster and its RADOS Gateway on loopback with the test
 * setup's script (test/setup/rgw.sh: monitor, one bluestore OSD on a sparse file of `blockGiB`,
 * the gateway), and accounts the three daemons' CPU and RSS to the server. Stopped and removed by
 * close(). Needs the packages prepare-machine.sh installs (radosgw, ceph-mon, ceph-osd).
 */
export async function startRgw(blockGiB: number): Promise<S3Target> {
  // Short: Ceph's admin sockets live in it, and a Unix socket path has at most 107 bytes.
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'cb-rgw-'));
  const stop = async (): Promise<void> => {
    await new Promise<void>((resolve) => spawn('bash', [RGW_SH, 'stop', directory], { stdio: 'inherit' }).once('close', () => resolve()));
    await fs.rm(directory, { recursive: true, force: true });
  };
  const starter = spawn('bash', [RGW_SH, 'start', directory], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RGW_BLOCK_GIB: String(blockGiB) } });
  let stdout = '';
  starter.stdout!.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    starter.once('error', reject);
    starter.once('close', resolve);
  });
  const endpoint = stdout.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !/^http:\/\/127\.0\.0\.1:\d+$/.test(endpoint)) {
    await stop();
    throw new Error(`Ceph RGW did not start (rgw.sh start ${directory} exited with ${String(code)})`);
  }
  const pids: number[] = [];
  for (const name of await fs.readdir(path.join(directory, 'pids'))) pids.push(Number(await fs.readFile(path.join(directory, 'pids', name), 'utf8')));
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1' };
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  const version = await new Promise<string>((resolve) => {
    let text = '';
    const child = spawn('radosgw', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (chunk: Buffer) => void (text += chunk.toString()));
    child.once('close', () => resolve(/version (\S+)/.exec(text)?.[1] ?? '?'));
    child.once('error', () => resolve('?'));
  });
  return {
    endpoint,
    pids,
    label: `Ceph RGW ${version} (single-node cluster on loopback: mon, one bluestore OSD on a ${blockGiB} GiB sparse file, beast)`,
    env,
    client: clientFor(endpoint, env),
    close: stop,
    stopNow: () => {
      spawnSync('bash', [RGW_SH, 'stop', directory], { stdio: 'inherit' });
      fsSync.rmSync(directory, { recursive: true, force: true });
    },
  };
}

export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  }
}

/** Sum of the sizes of every object under `prefix`, and their keys. */
export async function listPrefix(client: S3Client, bucket: string, prefix: string): Promise<{ bytes: number; keys: string[] }> {
  let bytes = 0;
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      bytes += object.Size ?? 0;
      keys.push(object.Key!);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { bytes, keys };
}

export async function deletePrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
  const { keys } = await listPrefix(client, bucket, prefix);
  for (let i = 0; i < keys.length; i += 1000) {
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) } }));
  }
}
