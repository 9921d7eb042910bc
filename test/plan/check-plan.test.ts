// plan check through the CLI: a runbook under --root on a temp tree, with a database of its own, and the problems it must name.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPlan, hookProgram } from '../../src/plan/check-plan.js';
import { cassette } from '../helpers/cli.js';

const PG = { PGHOST: '127.0.0.1', PGUSER: 'postgres', PGPORT: '5432' };
const DB = `cassette_check_${process.pid}_${Math.floor(Math.random() * 1e9)}`;

interface Report {
  problems: number;
  findings: Array<{ kind: string; subject: string; level: string; message: string }>;
}

describe('plan check', () => {
  let root: string;
  let created = false;
  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-plan-check-'));
    for (const dir of ['cassatt/config', 'cassatt/database', 'var/log', 'usr/lib/php4', 'etc']) await fs.mkdir(path.join(root, dir), { recursive: true });
    await fs.mkdir(path.join(root, 'opt/cassatt/bin'), { recursive: true });
    await fs.writeFile(path.join(root, 'opt/cassatt/bin/cccoreservice'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    execFileSync('createdb', [DB], { env: { ...process.env, ...PG } });
    created = true;
  });
  afterAll(async () => {
    if (created) execFileSync('dropdb', ['--if-exists', '--force', DB], { env: { ...process.env, ...PG } });
    await fs.rm(root, { recursive: true, force: true });
  });

  const check = async (extra: string[]): Promise<{ exitCode: number | undefined; report: Report; text: string }> => {
    const args = ['plan', 'check', '--runbook', 'cassatt', '--root', root, ...extra];
    const json = await cassette([...args, '--json'], { env: PG });
    const text = await cassette(args, { env: PG });
    expect(text.exitCode).toBe(json.exitCode);
    return { exitCode: json.exitCode, report: JSON.parse(json.stdout as string) as Report, text: text.stdout as string };
  };

  it('passes on a node that has what the runbook needs: optional sources absent are notes', async () => {
    const { exitCode, report, text } = await check(['--pg-name', `collage=${DB}`]);
    expect(exitCode).toBe(0);
    expect(report.problems).toBe(0);
    expect(
      report.findings
        .filter((f) => f.kind === 'source' && f.level === 'note')
        .map((f) => path.relative(root, f.subject))
        .sort(),
    ).toEqual(['lib/modules', 'root']);
    expect(report.findings.find((f) => f.kind === 'database')).toEqual(
      expect.objectContaining({ subject: DB, level: 'ok', message: expect.stringMatching(/^reachable, server \d+/) }),
    );
    expect(report.findings.filter((f) => f.kind === 'hook').map((f) => `${f.subject}:${f.level}`)).toEqual([
      'pre-backup:ok',
      'post-backup:ok',
      'pre-restore:ok',
      'post-restore:ok',
    ]);
    expect(text).toMatch(/plan cassatt: no problem found\n$/);
  });

  it('names each problem: a missing source, a database it cannot reach, a quiesce program that is not there (exit 1)', async () => {
    await fs.rename(path.join(root, 'opt/cassatt/bin/cccoreservice'), path.join(root, 'cccoreservice.away'));
    await fs.rm(path.join(root, 'cassatt/database'), { recursive: true });
    try {
      const { exitCode, report, text } = await check(['--pg-name', `collage=${DB}_missing`]);
      expect(exitCode).toBe(1);
      const problems = report.findings.filter((f) => f.level === 'problem');
      expect(problems.map((f) => `${f.kind} ${f.kind === 'source' ? path.relative(root, f.subject) : f.subject}`)).toEqual([
        'source cassatt/database',
        `database ${DB}_missing`,
        'hook pre-backup',
        'hook post-backup',
      ]);
      expect(problems[1]!.message).toMatch(/cannot connect: .*does not exist/);
      expect(report.findings.find((f) => f.subject === 'pre-restore')).toEqual(
        expect.objectContaining({ level: 'note', message: expect.stringContaining('a restore skips this stop hook') }),
      );
      expect(text).toMatch(/plan cassatt: 4 problems\n$/);
    } finally {
      await fs.mkdir(path.join(root, 'cassatt/database'), { recursive: true });
      await fs.rename(path.join(root, 'cccoreservice.away'), path.join(root, 'opt/cassatt/bin/cccoreservice'));
    }
  });

  it('says when pg_dump cannot run', async () => {
    const findings = await checkPlan(
      { sources: [], databases: [{ connection: 'x' }], exclude: [], hooks: {}, tags: [], restoreExclude: [], restoreOrder: [], roles: [] },
      { run: async (file) => Promise.resolve(file === 'pg_dump' ? { exitCode: 127, stdout: '', stderr: 'pg_dump: not found' } : { exitCode: 0, stdout: '15.4', stderr: '' }) },
    );
    expect(findings[0]).toEqual({ kind: 'tool', subject: 'pg_dump', level: 'problem', message: 'cannot run pg_dump: pg_dump: not found (install the PostgreSQL client)' });
  });

  it.each([
    ['"$CASSETTE_ROOT/opt/cassatt/bin/cccoreservice" stop', '/mnt/s', '/mnt/s/opt/cassatt/bin/cccoreservice'],
    ['${CASSETTE_ROOT}/bin/x --now', '', '/bin/x'],
    ['systemctl stop app-worker', '/mnt/s', 'systemctl'],
  ])('hookProgram(%s)', (command, root, program) => {
    expect(hookProgram(command, root)).toBe(program);
  });
});
