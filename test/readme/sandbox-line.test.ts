// The rules that move a README example into the test sandbox (test/helpers/readme-examples.ts), table-tested: a wrong rule would run an example against the real machine.

import { describe, expect, it } from 'vitest';
import { codeBlocks, crontabScript, isCrontab, sandboxLine, sandboxPlan, shellLines, type Sandbox } from '../helpers/readme-examples.js';

const sandbox: Sandbox = {
  root: '/tmp/sb',
  endpoint: 'http://127.0.0.1:7480',
  accessKeyId: 'test',
  secretAccessKey: 'test',
  kmsKeyId: 'kms-test',
  bucket: (name) => `${name}-x1`,
  database: (name) => `p_${name}`,
};

describe('sandboxLine', () => {
  it.each([
    // A backup keeps its source paths (so artifacts keep their names) and gets --root; its file options and redirections are re-rooted.
    ['npx cassette backup /srv/data /etc --repo s3://bucket/prefix', 'npx cassette backup --root /tmp/sb /srv/data /etc --repo s3://bucket-x1/prefix'],
    ['npx cassette backup /etc --exclude /etc/ssh --plan /etc/p.yaml', 'npx cassette backup --root /tmp/sb /etc --exclude /etc/ssh --plan /tmp/sb/etc/p.yaml'],
    [
      '/usr/local/bin/cassette backup --runbook cassatt --tag nightly --json >> /var/log/cassette.log 2>&1',
      '/tmp/sb/usr/local/bin/cassette backup --root /tmp/sb --pg-name collage=p_collage --runbook cassatt --tag nightly --json >> /tmp/sb/var/log/cassette.log 2>&1',
    ],
    // Other commands: every absolute path is re-rooted.
    ['npx cassette restore latest --target /tmp/r --repo s3://b1/p', 'npx cassette restore latest --target /tmp/sb/tmp/r --repo s3://b1-x1/p'],
    ['npx cassette restore latest --in-place --include etc/** > /tmp/out', 'npx cassette restore latest --in-place --include etc/** > /tmp/sb/tmp/out'],
    ['npx cassette restore <id> --runbook cassatt --in-place', 'npx cassette restore --root /tmp/sb latest --runbook cassatt --in-place'],
    ['npx cassette backup /srv --parent 20261130T020000Z-3f9a1c', 'npx cassette backup --root /tmp/sb /srv --parent latest'],
    ['export CASSETTE_SSE_C_KEY_FILE=/etc/cassette/sse-c.key', 'export CASSETTE_SSE_C_KEY_FILE=/tmp/sb/etc/cassette/sse-c.key'],
    ['openssl rand -out /etc/k 32 && chmod 600 /etc/k', 'openssl rand -out /tmp/sb/etc/k 32 && chmod 600 /tmp/sb/etc/k'],
    ['npx cassette backup /home --repo file:///mnt/disk/cassette', 'npx cassette backup --root /tmp/sb /home --repo file:///tmp/sb/mnt/disk/cassette'],
    // Servers, credentials, keys and databases are the test ones.
    ['npx cassette diff 20261129T020000Z latest', 'npx cassette diff latest latest'],
    ['npx cassette diff <older-id> latest', 'npx cassette diff latest latest'],
    ['npx cassette forget 20261201T0815 --prune', 'npx cassette forget latest --prune'],
    ['npx cassette copy latest --to s3://o1/p --to-endpoint https://s3.other.example', 'npx cassette copy latest --to s3://o1-x1/p --to-endpoint http://127.0.0.1:7480'],
    ['export AWS_ENDPOINT_URL=http://127.0.0.1:9000', 'export AWS_ENDPOINT_URL=http://127.0.0.1:7480'],
    ['npx cassette snapshots --endpoint https://rgw.example.net:7480', 'npx cassette snapshots --endpoint http://127.0.0.1:7480'],
    ['export AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_REGION=us-east-1', 'export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1'],
    ['npx cassette backup /srv --sse aws:kms --sse-kms-key-id alias/backups', 'npx cassette backup --root /tmp/sb /srv --sse aws:kms --sse-kms-key-id kms-test'],
    [
      "npx cassette backup /etc --pg collage --pg 'postgres://backup@db1/inventory'",
      "npx cassette backup --root /tmp/sb /etc --pg p_collage --pg 'postgres://postgres@127.0.0.1:5432/p_inventory'",
    ],
    [
      'npx cassette restore latest --pg collage --pg-target collage_check --dump-to ./collage.tar',
      'npx cassette restore latest --pg p_collage --pg-target p_collage_check --dump-to ./collage.tar',
    ],
    ['npx cassette backup --runbook cassatt --pg-name collage=collage_staging', 'npx cassette backup --root /tmp/sb --runbook cassatt --pg-name collage=p_collage_staging'],
    [
      "find /srv -name '*.db' -print0 | npx cassette backup --files-from-raw - --repo s3://b1/p",
      "find /tmp/sb/srv -name '*.db' -print0 | npx cassette backup --files-from-raw - --repo s3://b1-x1/p",
    ],
    ['npx cassette plan check --plan /etc/p.yaml', 'npx cassette plan check --root /tmp/sb --plan /tmp/sb/etc/p.yaml'],
    ['npx cassette bench --repo s3://b1/p --path /srv/data', 'npx cassette bench --transfer 4MiB --read-limit 8MiB --repo s3://b1-x1/p --path /tmp/sb/srv/data'],
  ])('%s', (line, expected) => {
    expect(sandboxLine(line, sandbox)).toBe(expected);
  });

  it('fills age1… with the public key of the key generated earlier in the block, and refuses it without one', () => {
    const state = {};
    expect(sandboxLine('npx cassette key generate -o k.txt', sandbox, state)).toBe('npx cassette key generate -o k.txt');
    expect(sandboxLine('npx cassette backup /etc --encrypt-to age1…', sandbox, state)).toBe(
      `npx cassette backup --root /tmp/sb /etc --encrypt-to "$(sed -n 's/^# public key: //p' k.txt)"`,
    );
    expect(() => sandboxLine('npx cassette backup /etc --encrypt-to age1…', sandbox, {})).toThrow(/no key was generated/);
  });
});

describe('README blocks', () => {
  it('parses fenced blocks, joins continued lines and drops comments', () => {
    const [shell, yaml] = codeBlocks('text\n```\nnpx cassette a \\\n  --b\n# comment\n\nnpx cassette c # note\n```\n```yaml\nname: x\n```\n');
    expect(shell).toEqual(expect.objectContaining({ line: 2, lang: '' }));
    expect(shellLines(shell!.lines)).toEqual(['npx cassette a   --b', 'npx cassette c # note']);
    expect(yaml).toEqual({ line: 9, lang: 'yaml', lines: ['name: x'] });
  });

  it('runs a crontab as cron would: variables exported, the commands after the user field', () => {
    const [block] = codeBlocks('```\nCASSETTE_REPO=s3://b/c\n30 2 * * *  root  /usr/local/bin/cassette backup --json >> /var/log/c.log 2>&1\n```\n');
    expect(isCrontab(block!)).toBe(true);
    expect(crontabScript(block!)).toEqual(['export CASSETTE_REPO=s3://b/c', '/usr/local/bin/cassette backup --json >> /var/log/c.log 2>&1']);
    expect(isCrontab(codeBlocks('```\nnpx cassette backup /etc\n```\n')[0]!)).toBe(false);
  });

  it('moves a plan file: its buckets and databases are the test ones, its paths stay for --root', () => {
    expect(sandboxPlan('repository: s3://backups/web1\nsources:\n  - /etc\ndatabases: [appdb, other]\n', sandbox)).toBe(
      'repository: s3://backups-x1/web1\nsources:\n  - /etc\ndatabases: [p_appdb, p_other]\n',
    );
  });
});
