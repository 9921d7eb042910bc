// Restore temporary names: the exact pattern, when a name is certainly stale, and what removeStaleTemps takes away (only regular files of processes that are gone) against real processes.

import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/cli.js';
import {
  currentRestorer,
  isStaleTemp,
  nextRestoreTempName,
  parseProcStat,
  parseRestoreTempName,
  removeStaleTemps,
  restoreTempName,
  type ProcessState,
  type Restorer,
} from '../../src/restore/temp-name.js';

const BOOT = '06676765ef6c473e84dc190ec37fa5f8';
const SELF: Restorer = { boot: BOOT, pidNamespace: '4026531836', timeNamespace: '4026531834', pid: 4242, start: '414910' };
const MAKER: Restorer = { ...SELF, pid: 777, start: '1000' };

describe('restore temporary names', () => {
  it('round-trips a name through the exact pattern', () => {
    const name = restoreTempName(MAKER, 35);
    expect(name).toBe(`.cassette-tmp-${BOOT}-4026531836-4026531834-777-1000-z`);
    expect(parseRestoreTempName(name)).toEqual(MAKER);
    expect(parseRestoreTempName(restoreTempName({ ...MAKER, timeNamespace: '0', start: '0' }, 0))).toEqual({ ...MAKER, timeNamespace: '0', start: '0' });
  });

  const good = `.cassette-tmp-${BOOT}-4026531836-4026531834-777-1000-1a`;
  it.each([
    ['a user file named like an old temporary name', '.cassette-tmp-xyz'],
    ['the old restore name (random, counter)', '.cassette-tmp-0a1b2c3d-1f'],
    ['the local store put name', '.cassette-tmp-0123456789ab'],
    ['a boot id in upper case', good.replace(BOOT, BOOT.toUpperCase())],
    ['a boot id of 31 digits', good.replace(BOOT, BOOT.slice(1))],
    ['a boot id with dashes', good.replace(BOOT, '06676765-ef6c-473e-84dc-190ec37fa5f8')],
    ['a pid with a leading zero', good.replace('-777-', '-0777-')],
    ['pid 0', good.replace('-777-', '-0-')],
    ['a counter in upper case', good.replace(/-1a$/, '-1A')],
    ['a field missing', good.replace('-4026531834', '')],
    ['a suffix', `${good}.tmp`],
    ['a suffix after a newline', `${good}\nx`],
    ['a prefix', `x${good}`],
    ['no leading dot', good.slice(1)],
  ])('does not take %s for one', (_what, name) => {
    expect(parseRestoreTempName(name)).toBeUndefined();
  });

  it('reads state and start time from /proc/<pid>/stat, even with spaces and parentheses in the command name', () => {
    const tail = '0 1 0 414910 3133440 400';
    expect(parseProcStat(`14609 (cat) R 14605 14605 1327 0 -1 4194304 101 0 0 0 0 0 0 0 20 ${tail}`)).toEqual({ state: 'R', start: '414910' });
    expect(parseProcStat(`14609 (a) b (c) Z 14605 14605 1327 0 -1 4194304 101 0 0 0 0 0 0 0 20 ${tail}`)).toEqual({ state: 'Z', start: '414910' });
    expect(parseProcStat('garbage')).toBeUndefined();
    const own = parseProcStat(fsSync.readFileSync('/proc/self/stat', 'latin1'));
    expect(own?.state).toMatch(/^[RS]$/);
    expect(currentRestorer()?.start).toBe(own?.start);
  });

  const alive: ProcessState = { state: 'S', start: MAKER.start };
  it.each<[string, Restorer, ProcessState, boolean]>([
    ['its maker is gone', MAKER, 'gone', true],
    ['its pid now belongs to a later process', MAKER, { state: 'S', start: '2000' }, true],
    ['its maker is a zombie', MAKER, { state: 'Z', start: MAKER.start }, true],
    ['its pid is ours, with another start time', { ...MAKER, pid: SELF.pid }, { state: 'R', start: SELF.start }, true],
    ['its maker still runs', MAKER, alive, false],
    ['its maker cannot be seen (EACCES)', MAKER, 'unknown', false],
    ['it is ours', SELF, { state: 'R', start: SELF.start }, false],
    ['it is from another boot, or another machine', { ...MAKER, boot: 'f'.repeat(32) }, 'gone', false],
    ['it is from another pid namespace (a container)', { ...MAKER, pidNamespace: '4026532000' }, 'gone', false],
    ['it is from another time namespace (start times differ there)', { ...MAKER, timeNamespace: '4026532001' }, { state: 'S', start: '5' }, false],
  ])('a name is stale when %s: %s', (_what, maker, now, stale) => {
    expect(isStaleTemp(maker, SELF, now)).toBe(stale);
  });

  it('names this process in its own names, each one new', () => {
    const first = nextRestoreTempName();
    const second = nextRestoreTempName();
    expect(first).not.toBe(second);
    expect(parseRestoreTempName(first)).toEqual(currentRestorer());
  });
});

describe('removeStaleTemps', () => {
  let work: string;
  const children: ChildProcess[] = [];

  /** A real process that sleeps, and its identity as a maker of temporary names. */
  async function sleeper(): Promise<{ child: ChildProcess; maker: Restorer }> {
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    const stat = parseProcStat(await fs.readFile(`/proc/${String(child.pid)}/stat`, 'latin1'))!;
    return { child, maker: { ...currentRestorer()!, pid: child.pid!, start: stat.start } };
  }

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-stale-temps-'));
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await fs.rm(work, { recursive: true, force: true });
  });

  it('removes the regular files of a restore that is gone, and nothing else', async () => {
    const dir = path.join(work, 'dir');
    await fs.mkdir(dir);
    const live = await sleeper();
    const dead = await sleeper();
    dead.child.kill('SIGKILL');
    await new Promise((resolve) => dead.child.once('exit', resolve));
    const victim = path.join(work, 'victim.txt');
    await fs.writeFile(victim, 'not a temporary file\n');

    const stale = [restoreTempName(dead.maker, 0), restoreTempName(dead.maker, 1)];
    const kept = {
      liveMaker: restoreTempName(live.maker, 0),
      thisProcess: restoreTempName(currentRestorer()!, 99),
      otherBoot: restoreTempName({ ...dead.maker, boot: 'f'.repeat(32) }, 0),
      userFile: '.cassette-tmp-xyz',
      oldStyle: '.cassette-tmp-0a1b2c3d-1f',
      symlink: restoreTempName(dead.maker, 2),
      directory: restoreTempName(dead.maker, 3),
      plain: 'data.txt',
    };
    for (const name of [...stale, kept.liveMaker, kept.thisProcess, kept.otherBoot, kept.userFile, kept.oldStyle, kept.plain]) {
      await fs.writeFile(path.join(dir, name), `${name}\n`);
    }
    await fs.symlink(victim, path.join(dir, kept.symlink));
    await fs.mkdir(path.join(dir, kept.directory));

    expect(removeStaleTemps(dir)).toBe(stale.length);
    expect((await fs.readdir(dir)).sort()).toEqual(Object.values(kept).sort());
    expect(await fs.readFile(victim, 'utf8')).toBe('not a temporary file\n');
    expect((await fs.lstat(path.join(dir, kept.symlink))).isSymbolicLink()).toBe(true);
    // Nothing else is stale: a second pass removes nothing.
    expect(removeStaleTemps(dir)).toBe(0);
  });

  it("as an ordinary user, removes only that user's stale files (with /proc mounted hidepid, other users' restores look gone)", async () => {
    const dir = path.join(work, 'shared');
    await fs.mkdir(dir, { mode: 0o777 });
    await fs.chmod(dir, 0o777);
    await fs.chmod(work, 0o755);
    const dead = await sleeper();
    dead.child.kill('SIGKILL');
    await new Promise((resolve) => dead.child.once('exit', resolve));
    const [rootOwned, nobodyOwned] = [restoreTempName(dead.maker, 0), restoreTempName(dead.maker, 1)];
    await fs.writeFile(path.join(dir, rootOwned), 'root\n');
    await fs.writeFile(path.join(dir, nobodyOwned), 'nobody\n');
    await fs.chown(path.join(dir, nobodyOwned), 65534, 65534);
    const module = path.join(PROJECT_ROOT, 'dist/src/restore/temp-name.js');
    const result = await execa(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        'node',
        '--input-type=module',
        '-e',
        `const { removeStaleTemps } = await import(${JSON.stringify(module)}); console.log(removeStaleTemps(${JSON.stringify(dir)}));`,
      ],
      { reject: false },
    );
    expect(result.stdout, result.stderr).toBe('1');
    expect(await fs.readdir(dir)).toEqual([rootOwned]);
  });

  it('takes a directory given as bytes that are not UTF-8', async () => {
    const dir = Buffer.concat([Buffer.from(path.join(work, 'latin1-')), Buffer.from([0xe9])]);
    fsSync.mkdirSync(dir);
    const dead = await sleeper();
    dead.child.kill('SIGKILL');
    await new Promise((resolve) => dead.child.once('exit', resolve));
    const name = Buffer.from(restoreTempName(dead.maker, 0));
    fsSync.writeFileSync(Buffer.concat([dir, Buffer.from('/'), name]), 'x');
    expect(removeStaleTemps(dir)).toBe(1);
    expect(fsSync.readdirSync(dir)).toEqual([]);
  });
});
