// Test helpers for the S3 servers the global setup starts: endpoints, fresh buckets, clients, stores and CLI environments.

import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { S3Store, type S3StoreOptions } from '../../src/store/s3-store.js';
import { RGW_KMS_KEY_ID, TEST_AWS_ENV, type S3Server } from '../setup/global-setup.js';

export { RGW_KMS_KEY_ID, TEST_AWS_ENV, type S3Server };

export type S3ServerName = S3Server['name'];

/** Credentials every test server accepts (the same values as TEST_AWS_ENV). */
export const TEST_CREDENTIALS = {
  accessKeyId: TEST_AWS_ENV.AWS_ACCESS_KEY_ID,
  secretAccessKey: TEST_AWS_ENV.AWS_SECRET_ACCESS_KEY,
};

/** Every server the global setup started: s3rver always, moto and rgw when installed (always under CI=true). */
export function s3Servers(): S3Server[] {
  return inject('s3Servers');
}

/** One server by name, or undefined when it was not started (use with `describe.skipIf(!server)`). */
export function s3Server(name: S3ServerName): S3Server | undefined {
  return s3Servers().find((server) => server.name === name);
}

/**
 * Environment for CLI subprocesses talking to a test server: test credentials, region and endpoint.
 * Both AWS_ENDPOINT_URL_S3 (which wins) and AWS_ENDPOINT_URL are set, so an endpoint inherited from
 * the developer's shell cannot leak in; to point a subprocess elsewhere, pass `--endpoint`.
 */
export function s3Env(endpoint: string): Record<string, string> {
  return { ...TEST_AWS_ENV, AWS_ENDPOINT_URL: endpoint, AWS_ENDPOINT_URL_S3: endpoint };
}

/** A raw SDK client for a test server, configured as S3Store configures its own (path style, WHEN_REQUIRED checksums). */
export function testClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: TEST_AWS_ENV.AWS_REGION,
    forcePathStyle: true,
    credentials: TEST_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Creates a fresh bucket with a unique name (`<prefix>-<random>`) and returns the name. */
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

/** An S3Store on a test server with the test credentials. */
export function makeS3Store(endpoint: string, bucket: string, prefix = '', options: Partial<S3StoreOptions> = {}): S3Store {
  return new S3Store({ bucket, prefix, endpoint, region: TEST_AWS_ENV.AWS_REGION, credentials: TEST_CREDENTIALS, ...options });
}

/** The whole stored object `key` of `bucket`, read with a raw client (not through the store under test). */
export async function getObject(endpoint: string, bucket: string, key: string): Promise<Buffer> {
  const client = testClient(endpoint);
  try {
    const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await response.Body!.transformToByteArray());
  } finally {
    client.destroy();
  }
}
