// Runs every example of the README, in order, as a user following it would: each shell block as one
// script in a sandbox (test/helpers/readme-examples.ts says how paths, servers and placeholders are
// moved there), against a test S3 server and the local PostgreSQL. A block or line that is not run
// is listed below with the reason, and the list must match the README (issue 17).

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, PROJECT_ROOT } from '../helpers/cli.js';
import { codeBlocks, crontabScript, isCrontab, sandboxLine, sandboxPlan, shellLines, subcommandOf, type CodeBlock, type Sandbox } from '../helpers/readme-examples.js';
import { createBucket, RGW_KMS_KEY_ID, s3Server, TEST_AWS_ENV } from '../helpers/s3.js';

/** Blocks not run, by their first line, with the reason. */
const BLOCKS_NOT_RUN: Record<string, string> = {
  'npm ci && npm start': 'the set-up commands themselves: .ci/run runs the test line on a clean clone, test/cli/demo.test.ts the demo',
  '# ~/.aws/config (or $AWS_CONFIG_FILE)': 'an AWS config file: test/cli/aws-config.test.ts backs up and restores with each of its forms',
  '# /etc/systemd/system/cassette-backup.service': "a systemd unit: its ExecStart is the crontab's nightly backup, which runs",
};
/** Lines of run blocks that are not run, with the reason. */
const LINES_NOT_RUN: Record<string, string> = {
  'docker compose up -d': "no Docker engine here: the compose file's MinIO is stood in for by the test S3 server",
};

/** Blocks that need server-side encryption or storage classes, which only Ceph RGW of the test servers has. */
const NEEDS_RGW = /--sse|--storage-class|SSE_C/;

const PG = { PGHOST: '127.0.0.1', PGUSER: 'postgres', PGPORT: '5432' };
const psql = (sql: string): string =>
  execFileSync('psql', ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', sql], { env: { ...process.env, ...PG } })
    .toString()
    .trim();

const readme = await fs.readFile(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
const blocks = codeBlocks(readme);
const firstLine = (block: CodeBlock): string => block.lines.find((l) => l.trim() !== '') ?? '';
/** Why a block is not run (its first line starts with a key of BLOCKS_NOT_RUN), if it is not. */
const notRun = (block: CodeBlock): string | undefined => Object.entries(BLOCKS_NOT_RUN).find(([start]) => firstLine(block).startsWith(start))?.[1];
/** A YAML block is the plan file that the next block's `--plan FILE` names. */
const planFileAfter = (index: number): string | undefined => {
  const next = blocks[index + 1];
  return next ? /--plan\s+(\S+)/.exec(next.lines.join('\n'))?.[1] : undefined;
};

const server = s3Server('rgw') ?? s3Server('moto') ?? s3Server('s3rver')!;
const prefix = `cassette_readme_${process.pid}_${randomBytes(3).toString('hex')}`;

describe(`the README's examples, in order, on ${server.name}`, () => {
  let root: string;
  let sandbox: Sandbox;
  const buckets = new Map<string, string>();
  const bucketNames = new Set<string>();
  const databases = new Set<string>();

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-readme-'));
    for (const name of new Set([...readme.matchAll(/s3:\/\/([a-z0-9.-]+)/g)].map((m) => m[1]!))) {
      // A README bucket must be one a user can create: the test's stands in for it, with a unique name.
      expect(name, 'a bucket name in the README').toMatch(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/);
      bucketNames.add(name);
      buckets.set(name, await createBucket(server.endpoint, name.slice(0, 40)));
    }
    sandbox = {
      root,
      endpoint: server.endpoint,
      accessKeyId: TEST_AWS_ENV.AWS_ACCESS_KEY_ID,
      secretAccessKey: TEST_AWS_ENV.AWS_SECRET_ACCESS_KEY,
      kmsKeyId: RGW_KMS_KEY_ID,
      bucket: (name) => buckets.get(name) ?? name,
      database: (name) => {
        const stand = `${prefix}_${name}`;
        databases.add(stand);
        return stand;
      },
    };
    await buildMachine(root);
    // The databases the examples back up; `restore --pg-target` and friends make more, all named with the prefix.
    for (const name of ['collage', 'collage_staging', 'appdb', 'inventory']) {
      psql(`create database ${sandbox.database(name)}`);
      execFileSync(
        'psql',
        ['-XAtq', '-d', sandbox.database(name), '-c', `create table t(id int primary key, note text); insert into t select g, 'row ' || g from generate_series(1, 200) g`],
        {
          env: { ...process.env, ...PG },
        },
      );
    }
  });

  afterAll(async () => {
    // Only databases this test created: every one has the unique prefix.
    for (const name of psql(`select datname from pg_database where datname like '${prefix}%'`).split('\n').filter(Boolean)) {
      execFileSync('dropdb', ['--if-exists', '--force', name], { env: { ...process.env, ...PG } });
    }
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  it('lists every block and line it does not run, and nothing else', () => {
    const firsts = blocks.map(firstLine);
    for (const skipped of Object.keys(BLOCKS_NOT_RUN))
      expect(
        firsts.some((f) => f.startsWith(skipped)),
        skipped,
      ).toBe(true);
    const lines = blocks.flatMap((b) => b.lines.map((l) => l.trim()));
    for (const skipped of Object.keys(LINES_NOT_RUN)) expect(lines.some((l) => l.startsWith(skipped))).toBe(true);
  });

  for (const [index, block] of blocks.entries()) {
    const first = firstLine(block);
    const title = `line ${block.line}: ${first}`;
    if (notRun(block) !== undefined) continue;
    if (block.lang === 'yaml') {
      it(`${title} (the plan file of the next example)`, async () => {
        const file = planFileAfter(index);
        expect(file, 'a YAML block is followed by an example that uses it with --plan FILE').toBeDefined();
        const target = path.join(root, file!);
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.writeFile(target, sandboxPlan(block.lines.join('\n') + '\n', sandbox));
      });
      continue;
    }
    if (block.lang !== '' && block.lang !== 'sh' && block.lang !== 'bash') {
      it(`${title}: a ${block.lang} block is listed as not run`, () => {
        expect(notRun(block), `the README's ${block.lang} block at line ${block.line} is neither run nor listed in BLOCKS_NOT_RUN`).toBeDefined();
      });
      continue;
    }
    const script = isCrontab(block) ? crontabScript(block) : shellLines(block.lines);
    const run = script.filter((line) => !Object.keys(LINES_NOT_RUN).some((skipped) => line.startsWith(skipped)));
    it.skipIf(NEEDS_RGW.test(run.join('\n')) && server.name !== 'rgw')(`${title}${isCrontab(block) ? ' (a crontab: its commands, as cron runs them)' : ''}`, async () => {
      expect(run.some((line) => subcommandOf(line) !== undefined) || run.some((line) => line.startsWith('export ')), `block at line ${block.line} runs no cassette command`).toBe(
        true,
      );
      const state = {};
      const lines = run.map((line) => sandboxLine(line, sandbox, state));
      const result = spawnSync('bash', ['-c', ['set -euo pipefail', ...lines].join('\n')], {
        cwd: path.join(root, 'work'),
        env: machineEnv(root, server.endpoint),
        encoding: 'utf8',
        timeout: 240_000,
      });
      expect(result.status, `README block at line ${block.line}, run as:\n${lines.join('\n')}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`).toBe(0);
    });
  }

  it('the examples touched only the sandbox: the in-place restores wrote its etc, and the plan hooks ran the stand-in systemctl', async () => {
    expect(await fs.readFile(path.join(root, 'systemctl.log'), 'utf8')).toBe('stop app-worker\nstart app-worker\n');
    expect(await fs.readFile(path.join(root, 'work/hosts'), 'utf8')).toBe(await fs.readFile(path.join(root, 'etc/hosts'), 'utf8'));
  });
});

/** The environment of every example: the sandbox's HOME with AWS credentials in ~/.aws, the test server as the endpoint of "your S3", no repository set. */
function machineEnv(root: string, endpoint: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: `${path.join(root, 'bin')}:${process.env.PATH ?? ''}`,
    HOME: path.join(root, 'home/operator'),
    AWS_REGION: TEST_AWS_ENV.AWS_REGION,
    AWS_ENDPOINT_URL: endpoint,
    CASSETTE_CACHE_DIR: path.join(root, 'cache'),
    ...PG,
  };
  return env;
}

/** The machine the examples run on, under `root`: sources with content, a Cassatt control node, stand-ins for npx, cassette and systemctl. */
async function buildMachine(root: string): Promise<void> {
  const write = async (rel: string, data: string | Buffer, mode = 0o644): Promise<void> => {
    const file = path.join(root, rel);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, data, { mode });
  };
  await write('etc/hosts', '127.0.0.1 localhost\n');
  await write('etc/ssh/sshd_config', 'PermitRootLogin no\n', 0o600);
  await write('etc/cassatt/collage.conf', 'db=collage\n');
  await write('srv/data/reports/2026-11.csv', 'month,total\n2026-11,42\n'.repeat(500));
  await write('srv/data/blob.bin', randomBytes(300_000));
  await write('srv/app/app.js', 'console.log(1)\n');
  await write('srv/app/session.tmp', 'scratch\n');
  await write('srv/app/cache/page.html', '<p>cached</p>\n');
  await write('srv/app/app.db', Buffer.alloc(20_000, 5));
  await write('home/operator/.cache/CACHEDIR.TAG', 'Signature: 8a477f597d28d172789f06886806bc55\n');
  await write('home/operator/.cache/thumbs/1.png', Buffer.alloc(4096, 9));
  await write('var/lib/app/state.json', '{"ok":true}\n');
  await write('var/log/cassatt/controller.log', 'started\n');
  await write('cassatt/config/controller.properties', 'tier.count=4\n');
  await write('cassatt/images/WebTier/disk.img', Buffer.alloc(100_000, 1));
  await write('cassatt/images/CollageIdle/disk.img', Buffer.alloc(50_000, 2));
  await write('cassatt/database/PG_VERSION', '15\n', 0o600);
  await write('usr/lib/php4/collage.php', '<?php ?>\n');
  await write(
    'home/operator/.aws/credentials',
    `[default]\naws_access_key_id = ${TEST_AWS_ENV.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${TEST_AWS_ENV.AWS_SECRET_ACCESS_KEY}\n[backup]\naws_access_key_id = ${TEST_AWS_ENV.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${TEST_AWS_ENV.AWS_SECRET_ACCESS_KEY}\n`,
    0o600,
  );
  await write('home/operator/notes.txt', 'remember the key\n');
  await fs.mkdir(path.join(root, 'mnt/backup-disk'), { recursive: true });
  await fs.mkdir(path.join(root, 'work'), { recursive: true });
  await fs.mkdir(path.join(root, 'etc/cassette'), { recursive: true });
  const cli = `#!/bin/sh\nexec node ${JSON.stringify(CLI)} "$@"\n`;
  await write('usr/local/bin/cassette', cli, 0o755);
  // `npx cassette …` runs the built CLI, as npx does in the project.
  await write('bin/npx', `#!/bin/sh\n[ "$1" = cassette ] || { echo "npx: only cassette here" >&2; exit 127; }\nshift\nexec node ${JSON.stringify(CLI)} "$@"\n`, 0o755);
  await write('bin/systemctl', `#!/bin/sh\necho "$*" >> ${JSON.stringify(path.join(root, 'systemctl.log'))}\n`, 0o755);
  await write('opt/cassatt/bin/cccoreservice', `#!/bin/sh\necho "$1 $CASSETTE_HOOK" >> ${JSON.stringify(path.join(root, 'cccoreservice.log'))}\n`, 0o755);
}
