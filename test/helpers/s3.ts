// Test helpers for the S3 servers started by the global setup.

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { S3Store } from '../../src/store/s3-store.js';

export type S3ServerName = 's3rver' | 'moto';

/** Credentials both servers accept (s3rver's built-in account; moto accepts anything). */
export const TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export function s3Servers(): Array<{ name: S3ServerName; endpoint: string }> {
  return inject('s3Servers');
}

export function s3Server(name: S3ServerName): { name: S3ServerName; endpoint: string } | undefined {
  return s3Servers().find((s) => s.name === name);
}

/** Environment for CLI subprocesses talking to a test server. */
export function s3Env(endpoint: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: endpoint,
  };
}

export function testClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: TEST_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A fresh bucket with a unique name. */
export async function createBucket(endpoint: string, prefix = 'test'): Promise<string> {
  const name = `${prefix}-${randomBytes(5).toString('hex')}`;
  const client = testClient(endpoint);
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
  return name;
}

export function makeS3Store(endpoint: string, bucket: string, prefix = ''): S3Store {
  return new S3Store({ bucket, prefix, endpoint, credentials: TEST_CREDENTIALS });
}
