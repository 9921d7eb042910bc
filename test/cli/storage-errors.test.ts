// Storage errors say what to do (issue 17): no credentials, wrong credentials, a missing bucket, a local repository the user may not write; each with its exit code and no stack trace.

import { execa } from 'execa';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cassette } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { createBucket, s3Env, s3Server } from '../helpers/s3.js';

const server = s3Server('s3rver')!;

/** A stack trace line, which a user must never see. */
const STACK = /\n\s+at /;

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-storage-errors-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('S3', () => {
  let bucket: string;
  let proxy: FaultProxy;
  beforeAll(async () => {
    bucket = await createBucket(server.endpoint, 'errors');
    proxy = await startFaultProxy(server.endpoint);
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('no credentials anywhere: names what to set (exit 1)', async () => {
    const home = path.join(work, 'empty-home');
    await fs.mkdir(home, { recursive: true });
    const result = await cassette(['snapshots', '--repo', `s3://${bucket}/x`, '--endpoint', server.endpoint], {
      env: {
        HOME: home,
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_SESSION_TOKEN: '',
        AWS_PROFILE: '',
        AWS_CONFIG_FILE: '',
        AWS_SHARED_CREDENTIALS_FILE: '',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /^cassette: .*no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put .* in a profile \(AWS_PROFILE or --aws-profile\) in ~\/\.aws\/credentials/m,
    );
    expect(result.stderr).not.toMatch(STACK);
  });

  it('a chosen profile without credentials: names the profile, and that the environment keys are not used (exit 1)', async () => {
    const home = path.join(work, 'profile-home');
    await fs.mkdir(path.join(home, '.aws'), { recursive: true });
    await fs.writeFile(path.join(home, '.aws', 'config'), '[profile ghost]\nregion = us-east-1\n');
    const result = await cassette(['snapshots', '--repo', `s3://${bucket}/x`, '--endpoint', server.endpoint, '--aws-profile', 'ghost'], {
      env: { HOME: home, AWS_PROFILE: '', AWS_CONFIG_FILE: '', AWS_SHARED_CREDENTIALS_FILE: '', AWS_EC2_METADATA_DISABLED: 'true' },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('no AWS credentials found for the profile ghost: put aws_access_key_id and aws_secret_access_key in [ghost] of ~/.aws/credentials');
    expect(result.stderr).not.toMatch(STACK);
  });

  it('a bucket that does not exist: says so and gives the command that creates it (exit 1)', async () => {
    const result = await cassette(['snapshots', '--repo', 's3://no-such-bucket-here/x', '--json'], { env: s3Env(server.endpoint) });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      `the bucket no-such-bucket-here does not exist at ${server.endpoint}; create it with: aws s3 mb s3://no-such-bucket-here --endpoint-url ${server.endpoint}`,
    );
    expect(result.stderr).not.toMatch(STACK);
    expect(JSON.parse((result.stdout as string).trim())).toMatchObject({ type: 'error', code: 'E_STORAGE' });
  });

  it.each([
    ['InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', 'the store does not know the access key ID: check AWS_ACCESS_KEY_ID'],
    [
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
      'the secret access key does not match the access key ID: check AWS_SECRET_ACCESS_KEY',
    ],
    ['AccessDenied', 'Access Denied', 'access denied to the bucket BUCKET: the credentials are valid but may not do this'],
  ])('%s: says which and what to check (exit 1)', async (code, message, advice) => {
    proxy.setFaults([{ fault: { kind: 'error', status: 403, code, message } }]);
    try {
      const result = await cassette(['snapshots', '--repo', `s3://${bucket}/x`], { env: s3Env(proxy.endpoint) });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(advice.replace('BUCKET', bucket));
      expect(result.stderr).toContain(`HTTP 403: ${code}`);
      expect(result.stderr).not.toMatch(STACK);
    } finally {
      proxy.setFaults([]);
    }
  });
});

// Root may write anywhere: the CLI runs as nobody (65534) below a directory owned by root.
describe.skipIf(process.getuid?.() !== 0)('a local repository the user may not write', () => {
  it('names the path and the choices (exit 1), for backup; a listing of it finds nothing', async () => {
    const base = path.join(work, 'eacces');
    await fs.mkdir(path.join(base, 'locked'), { recursive: true });
    await fs.mkdir(path.join(base, 'tree'));
    await fs.writeFile(path.join(base, 'tree', 'a.txt'), 'alpha\n');
    for (const dir of [work, base, path.join(base, 'locked'), path.join(base, 'tree')]) await fs.chmod(dir, 0o755);
    await fs.chmod(path.join(base, 'tree', 'a.txt'), 0o644);
    const repo = path.join(base, 'locked', 'repo');
    const result = await execa('node', [CLI, 'backup', path.join(base, 'tree'), '--repo', repo], {
      uid: 65534,
      gid: 65534,
      env: { HOME: base, CASSETTE_REPO: '' },
      reject: false,
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`permission denied (mkdir) on ${repo}: the user running cassette (uid 65534) may not do this there`);
    expect(result.stderr).toContain('give another --repo, change the owner or permissions');
    expect(result.stderr).toContain('or run cassette as the user who owns it');
    expect(result.stderr).not.toMatch(STACK);
  });
});
