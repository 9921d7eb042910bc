// Raw access to a test repository past cassette, for the encryption tests: every stored object's key and bytes (a directory walked, or a bucket listed with a raw S3 client), an object replaced behind cassette's back, and a bash function that streams one object with stock tools.

import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createBucket, s3Env, testClient, TEST_AWS_ENV, type S3Server } from './s3.js';

/** Where a test repository lives: a directory (file://) or a bucket on one of the suite's S3 servers. */
export type RepositoryTarget = { name: 'file' } | S3Server;

export interface RawRepository {
  /** 'file' or the S3 server's name. */
  name: string;
  /** The --repo URL. */
  url: string;
  /** Environment for cassette subprocesses (the S3 endpoint and test credentials). */
  env: Record<string, string>;
  /** The repository's root within the stored names: '' for a directory, the key prefix in the bucket. */
  prefix: string;
  /**
   * Every object stored (the whole bucket, or every file under the directory), by stored name, read
   * raw; an S3 object's user metadata, if it has any, as one more entry `<name> (metadata)` (JSON).
   */
  objects(): Promise<Map<string, Buffer>>;
  /** The stored bytes of the repository's object `key` (relative to the repository root). */
  get(key: string): Promise<Buffer>;
  /** Replace the repository's object `key` with `body`. */
  put(key: string, body: Buffer): Promise<void>;
  /**
   * Bash that defines `fetch_object KEY`, which writes the repository's object KEY to standard
   * output with stock tools (`cat`, or `aws s3 cp … -`), and the environment it needs.
   */
  stock: { functions: string; env: Record<string, string> };
}

/** A new, empty repository on `target`: the directory `dir` (not created), or a fresh bucket with the repository under a prefix. */
export async function rawRepository(target: RepositoryTarget, dir: string): Promise<RawRepository> {
  if (target.name === 'file') {
    const walk = async (at: string, out: Map<string, Buffer>): Promise<void> => {
      for (const entry of await fs.readdir(at, { withFileTypes: true })) {
        const full = path.join(at, entry.name);
        if (entry.isDirectory()) await walk(full, out);
        else out.set(path.relative(dir, full), await fs.readFile(full));
      }
    };
    return {
      name: 'file',
      url: `file://${dir}`,
      env: {},
      prefix: '',
      objects: async () => {
        const out = new Map<string, Buffer>();
        await walk(dir, out);
        return out;
      },
      get: (key) => fs.readFile(path.join(dir, key)),
      put: (key, body) => fs.writeFile(path.join(dir, key), body),
      stock: { functions: 'fetch_object() { cat "$REPO_DIR/$1"; }', env: { REPO_DIR: dir } },
    };
  }
  const { endpoint } = target;
  const bucket = await createBucket(endpoint, 'enc');
  const prefix = 'backups/host1/';
  const withClient = async <T>(f: (client: ReturnType<typeof testClient>) => Promise<T>): Promise<T> => {
    const client = testClient(endpoint);
    try {
      return await f(client);
    } finally {
      client.destroy();
    }
  };
  const getKey = (client: ReturnType<typeof testClient>, key: string): Promise<Buffer> =>
    client.send(new GetObjectCommand({ Bucket: bucket, Key: key })).then(async (response) => Buffer.from(await response.Body!.transformToByteArray()));
  return {
    name: target.name,
    url: `s3://${bucket}/${prefix.slice(0, -1)}`,
    env: s3Env(endpoint),
    prefix,
    objects: () =>
      withClient(async (client) => {
        const out = new Map<string, Buffer>();
        let token: string | undefined;
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
          for (const object of page.Contents ?? []) {
            const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key! }));
            out.set(object.Key!, Buffer.from(await response.Body!.transformToByteArray()));
            if (Object.keys(response.Metadata ?? {}).length > 0) out.set(`${object.Key!} (metadata)`, Buffer.from(JSON.stringify(response.Metadata)));
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return out;
      }),
    get: (key) => withClient((client) => getKey(client, prefix + key)),
    put: (key, body) =>
      withClient(async (client) => {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + key, Body: body }));
      }),
    stock: {
      functions: 'fetch_object() { aws --endpoint-url "$ENDPOINT" s3 cp "s3://$BUCKET/$PREFIX$1" -; }',
      env: {
        AWS_ACCESS_KEY_ID: TEST_AWS_ENV.AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: TEST_AWS_ENV.AWS_SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION: TEST_AWS_ENV.AWS_REGION,
        ENDPOINT: endpoint,
        BUCKET: bucket,
        PREFIX: prefix,
      },
    },
  };
}
