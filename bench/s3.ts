// The bench's S3 side: a loopback s3rver child process (or a given endpoint), buckets, and stored-byte listings through @aws-sdk/client-s3.

import { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface S3Target {
  endpoint: string;
  /** Server process to account CPU and RSS to (only when we started it). */
  pid?: number;
  /** Environment for child processes: credentials and region. */
  env: NodeJS.ProcessEnv;
  client: S3Client;
  close(): Promise<void>;
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
    pid: child.pid,
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
  return { endpoint, env, client: clientFor(endpoint, env), close: async () => undefined };
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
