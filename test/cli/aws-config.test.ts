// The CLI reaches an S3 server through what the AWS config file says (issue 17): endpoint_url with `localhost` (it used to resolve bucket.localhost), services sections, profiles, addressing style, and the precedence of flag, environment and file.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTrees } from '../../src/demo/compare-trees.js';
import { cassette } from '../helpers/cli.js';
import { createBucket, s3Server, TEST_AWS_ENV } from '../helpers/s3.js';

const server = s3Server('s3rver')!;

describe('the AWS config file', () => {
  let work: string;
  let tree: string;
  let bucket: string;
  /** The test server by the host name `localhost`, as a user writes it. */
  let localhost: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-aws-config-'));
    tree = path.join(work, 'tree');
    await fs.mkdir(path.join(tree, 'sub'), { recursive: true });
    await fs.writeFile(path.join(tree, 'a.txt'), 'alpha\n');
    await fs.writeFile(path.join(tree, 'sub', 'b.bin'), Buffer.alloc(100_000, 7));
    bucket = await createBucket(server.endpoint, 'awsconfig');
    localhost = `http://localhost:${new URL(server.endpoint).port}`;
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  /** A home directory whose ~/.aws/config is `config`; the environment names no endpoint. */
  async function home(name: string, config: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
    const dir = path.join(work, name);
    await fs.mkdir(path.join(dir, '.aws'), { recursive: true });
    await fs.writeFile(path.join(dir, '.aws', 'config'), config);
    return { ...TEST_AWS_ENV, HOME: dir, AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_S3: '', AWS_PROFILE: '', AWS_CONFIG_FILE: '', ...extra };
  }

  it('endpoint_url = http://localhost:PORT in ~/.aws/config: backup and restore, path style', async () => {
    const env = await home('plain', `[default]\nregion = us-east-1\nendpoint_url = ${localhost}\n`);
    const repo = `s3://${bucket}/plain`;
    const backup = await cassette(['backup', tree, '--repo', repo], { env });
    expect(backup.stderr).not.toMatch(/ENOTFOUND|\n\s+at /);
    expect(backup.exitCode).toBe(0);
    const target = path.join(work, 'restored-plain');
    const restore = await cassette(['restore', 'latest', '--repo', repo, '--target', target], { env });
    expect(restore.exitCode).toBe(0);
    expect(await compareTrees(tree, path.join(target, tree.slice(1).replace(/\//g, '-')))).toEqual([]);
  });

  it('a services section named by the profile chosen with --aws-profile, AWS_PROFILE, in AWS_CONFIG_FILE', async () => {
    const configFile = path.join(work, 'elsewhere.ini');
    await fs.writeFile(configFile, `[default]\nendpoint_url = not-a-url\n[profile dev]\nservices = local\n\n[services local]\ns3 =\n  endpoint_url = ${localhost}\n`);
    // A chosen profile takes its credentials from the profile (the SDK then skips AWS_ACCESS_KEY_ID, as the AWS CLI does).
    const credentialsFile = path.join(work, 'credentials.ini');
    await fs.writeFile(credentialsFile, `[dev]\naws_access_key_id = ${TEST_AWS_ENV.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${TEST_AWS_ENV.AWS_SECRET_ACCESS_KEY}\n`);
    const env = await home('services', '', { AWS_CONFIG_FILE: configFile, AWS_SHARED_CREDENTIALS_FILE: credentialsFile, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' });
    const repo = `s3://${bucket}/services`;
    const backup = await cassette(['backup', tree, '--repo', repo, '--aws-profile', 'dev'], { env });
    expect(backup.stderr).not.toMatch(/WARNING|cassette:/);
    expect(backup.exitCode).toBe(0);
    const listed = await cassette(['snapshots', '--repo', repo, '--json'], { env: { ...env, AWS_PROFILE: 'dev' } });
    expect(listed.exitCode).toBe(0);
    expect((JSON.parse(listed.stdout as string) as { snapshots: unknown[] }).snapshots).toHaveLength(1);
    // The default profile's endpoint is not a URL: using it fails, naming where it came from.
    const fromDefault = await cassette(['snapshots', '--repo', repo], { env });
    expect(fromDefault.exitCode).toBe(2);
    expect(fromDefault.stderr).toContain(`endpoint "not-a-url" (from endpoint_url in [default] in ${configFile}) is not an http:// or https:// URL`);
  });

  describe('precedence: --endpoint, then AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the services section, the profile endpoint_url', () => {
    // Each case gives the working endpoint to the source that should win and "not-a-url" to the one that should lose:
    // picking the loser fails with exit 2 naming it.
    it.each([
      ['--endpoint beats AWS_ENDPOINT_URL_S3', ['--endpoint', 'WORKS'], { AWS_ENDPOINT_URL_S3: 'not-a-url' }, ''],
      ['--endpoint beats the profile endpoint_url', ['--endpoint', 'WORKS'], {}, '[default]\nendpoint_url = not-a-url\n'],
      ['AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL', [], { AWS_ENDPOINT_URL_S3: 'WORKS', AWS_ENDPOINT_URL: 'not-a-url' }, ''],
      ['AWS_ENDPOINT_URL beats the services section', [], { AWS_ENDPOINT_URL: 'WORKS' }, '[default]\nservices = s\n[services s]\ns3 =\n  endpoint_url = not-a-url\n'],
      ['the services section beats the profile endpoint_url', [], {}, '[default]\nendpoint_url = not-a-url\nservices = s\n[services s]\ns3 =\n  endpoint_url = WORKS\n'],
    ])('%s', async (name, args, environment, config) => {
      const works = (value: string): string => value.replace('WORKS', localhost);
      const env = await home(`precedence-${name.replace(/\W+/g, '-')}`, works(config), Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, works(v)])));
      const result = await cassette(['snapshots', '--repo', `s3://${bucket}/precedence`, ...args.map(works)], { env });
      expect(result.stderr).not.toContain('not-a-url');
      expect(result.exitCode).toBe(0);
    });
  });

  describe('addressing style', () => {
    it.each([
      ['--virtual-host', ['--virtual-host'], ''],
      ["the profile's s3 addressing_style = virtual", [], 's3 =\n  addressing_style = virtual\n'],
    ])('%s addresses bucket.localhost, which does not resolve', async (name, args, block) => {
      const env = await home(`virtual-${name.replace(/\W+/g, '-')}`, `[default]\nendpoint_url = ${localhost}\n${block}`);
      const result = await cassette(['snapshots', '--repo', `s3://${bucket}/style`, '--timeout', '2', ...args], { env });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`${bucket}.localhost`);
    });

    it('--path-style wins over addressing_style = virtual', async () => {
      const env = await home('path-over-virtual', `[default]\nendpoint_url = ${localhost}\ns3 =\n  addressing_style = virtual\n`);
      const result = await cassette(['snapshots', '--repo', `s3://${bucket}/style`, '--path-style'], { env });
      expect(result.exitCode).toBe(0);
    });

    it('--path-style and --virtual-host together are a usage error', async () => {
      const result = await cassette(['snapshots', '--repo', `s3://${bucket}/style`, '--path-style', '--virtual-host']);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/--path-style.*cannot be used with.*--virtual-host|--virtual-host.*cannot be used with.*--path-style/);
    });

    it('an unknown addressing_style is a usage error naming the file', async () => {
      const env = await home('sideways', `[default]\nendpoint_url = ${localhost}\ns3 =\n  addressing_style = sideways\n`);
      const result = await cassette(['snapshots', '--repo', `s3://${bucket}/style`], { env });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain('addressing_style = sideways in the s3 block of [default] in');
    });
  });
});
