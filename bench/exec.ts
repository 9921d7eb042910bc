// Runs a shell pipeline with every process timed on its own (wall, user, sys, peak RSS) and the S3 server's CPU delta read from /proc.

import { spawn } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface ProcTimes {
  name: string;
  wallS: number;
  userS: number;
  sysS: number;
  /** Peak resident set size in KiB (0 when unknown). */
  maxRssKiB: number;
}

export interface ServerUsage {
  cpuS: number;
  /** VmHWM of the server during the measurement (KiB): reset through clear_refs before, read after. */
  peakRssKiB: number;
}

export interface TimedResult {
  wallS: number;
  /** Busy CPU seconds of the whole machine (all cores, /proc/stat) during the run: ours, the server's and everyone else's. */
  machineBusyS: number;
  procs: ProcTimes[];
  server?: ServerUsage;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** One command of a pipeline: a display name and its argv. */
export interface Stage {
  name: string;
  argv: string[];
}

export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const GNU_TIME = '/usr/bin/time';
export const HAVE_GNU_TIME = (() => {
  try {
    fsSync.accessSync(GNU_TIME, fsSync.constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();

let clockTicks = 100;
try {
  const { execFileSync } = await import('node:child_process');
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  // 100 is the Linux default.
}

/** utime+stime of a process and its waited-for children, in seconds. */
export function procCpuSeconds(pid: number): number {
  const stat = fsSync.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the comm field: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / clockTicks;
}

/** Busy CPU seconds of the whole machine since boot (user+nice+system+irq+softirq+steal of /proc/stat). */
export function machineBusySeconds(): number {
  try {
    const line = fsSync.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / clockTicks;
  } catch {
    return NaN;
  }
}

function procStatusKiB(pid: number, field: string): number {
  const status = fsSync.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : 0;
}

/**
 * Watches long-lived processes (the S3 server: s3rver's one, or Ceph's monitor, OSD and gateway)
 * across one measurement: their CPU delta from /proc/<pid>/stat, summed, and the sum of their
 * peak RSS, each by resetting VmHWM (clear_refs 5) before and reading it after; where the reset
 * is not allowed, VmRSS is sampled every 100 ms instead.
 */
export class ServerWatch {
  private readonly pids: number[];
  private cpu0 = 0;
  private canReset = false;
  private peaks: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(pid: number | readonly number[]) {
    this.pids = typeof pid === 'number' ? [pid] : [...pid];
  }

  start(): void {
    this.cpu0 = this.pids.reduce((sum, pid) => sum + procCpuSeconds(pid), 0);
    this.canReset = true;
    for (const pid of this.pids) {
      try {
        fsSync.writeFileSync(`/proc/${pid}/clear_refs`, '5');
      } catch {
        this.canReset = false;
      }
    }
    this.peaks = this.pids.map((pid) => procStatusKiB(pid, 'VmRSS'));
    this.timer = setInterval(() => {
      this.pids.forEach((pid, i) => {
        try {
          this.peaks[i] = Math.max(this.peaks[i]!, procStatusKiB(pid, 'VmRSS'));
        } catch {
          // gone
        }
      });
    }, 100);
  }

  stop(): ServerUsage {
    clearInterval(this.timer);
    const cpuS = this.pids.reduce((sum, pid) => sum + procCpuSeconds(pid), 0) - this.cpu0;
    const peak = this.pids.reduce((sum, pid, i) => sum + (this.canReset ? procStatusKiB(pid, 'VmHWM') : Math.max(this.peaks[i]!, procStatusKiB(pid, 'VmRSS'))), 0);
    return { cpuS, peakRssKiB: peak };
  }
}

function parseGnuTime(text: string): Omit<ProcTimes, 'name'> {
  // `time -o` writes "Command exited with non-zero status N" or "Command terminated by signal" first.
  const line = text
    .trim()
    .split('\n')
    .filter((l) => /^[\d.]+ [\d.]+ [\d.]+ \d+$/.test(l.trim()))
    .pop();
  if (!line) return { wallS: NaN, userS: NaN, sysS: NaN, maxRssKiB: 0 };
  const [e, u, s, m] = line.trim().split(' ').map(Number);
  return { wallS: e!, userS: u!, sysS: s!, maxRssKiB: m! };
}

function parseBashTimes(text: string): Omit<ProcTimes, 'name'> {
  // `times` prints the shell's times, then its children's: "0m1.234s 0m0.120s".
  const lines = text.trim().split('\n');
  const child = lines[lines.length - 1] ?? '';
  const secs = [...child.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { wallS: NaN, userS: secs[0] ?? NaN, sysS: secs[1] ?? NaN, maxRssKiB: 0 };
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** File for the pipeline's standard input (default /dev/null). */
  stdinFile?: string;
  /** File for the last stage's standard output; default captured (returned in stdout). */
  stdoutFile?: string;
  server?: ServerWatch;
  /** Fail (throw) on a non-zero exit. Default true. */
  check?: boolean;
}

/**
 * Runs `stages` as one bash pipeline (`set -o pipefail`), each process wrapped in
 * `/usr/bin/time -f '%e %U %S %M' -o FILE` (or, without GNU time, `{ cmd; times > FILE; }`), so
 * short-lived processes are measured exactly at exit, not sampled.
 */
export async function runTimed(stages: Stage[], options: RunOptions = {}): Promise<TimedResult> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-bench-time-'));
  const files = stages.map((_, i) => path.join(dir, `t${i}`));
  const parts = stages.map((stage, i) => {
    const cmd = stage.argv.map(shellQuote).join(' ');
    return HAVE_GNU_TIME ? `${GNU_TIME} -f '%e %U %S %M' -o ${shellQuote(files[i]!)} ${cmd}` : `{ ${cmd}; rc=$?; times > ${shellQuote(files[i]!)}; exit $rc; }`;
  });
  let script = `set -o pipefail; ${parts.join(' | ')}`;
  if (options.stdinFile) script += ` < ${shellQuote(options.stdinFile)}`;
  if (options.stdoutFile) script += ` > ${shellQuote(options.stdoutFile)}`;
  options.server?.start();
  const busy0 = machineBusySeconds();
  const started = performance.now();
  const child = spawn('bash', ['-c', script], { cwd: options.cwd, env: options.env ?? process.env, stdio: [options.stdinFile ? 'ignore' : 'ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => void (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => void (stderr += c.toString()));
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  const wallS = (performance.now() - started) / 1000;
  const machineBusyS = machineBusySeconds() - busy0;
  const server = options.server?.stop();
  const procs: ProcTimes[] = [];
  for (let i = 0; i < stages.length; i++) {
    const text = await fs.readFile(files[i]!, 'utf8').catch(() => '');
    const parsed = HAVE_GNU_TIME ? parseGnuTime(text) : parseBashTimes(text);
    procs.push({ name: stages[i]!.name, ...parsed, wallS: Number.isNaN(parsed.wallS) ? wallS : parsed.wallS });
  }
  await fs.rm(dir, { recursive: true, force: true });
  if (exitCode !== 0 && options.check !== false) {
    throw new Error(`pipeline failed (exit ${exitCode}): ${stages.map((s) => s.argv.join(' ')).join(' | ')}\n${stderr.slice(-2000)}`);
  }
  return { wallS, machineBusyS, procs, server, exitCode, stdout, stderr };
}

/** Runs a command untimed; throws with its stderr on failure. */
export async function sh(argv: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<string> {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env: options.env ?? process.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => void (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => void (stderr += c.toString()));
  if (child.stdin) {
    // A program that exits without reading its input (aws --version) closes the pipe: not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input);
  }
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`${argv.join(' ')} failed (exit ${code}): ${stderr.slice(-2000)}`);
  return stdout;
}
