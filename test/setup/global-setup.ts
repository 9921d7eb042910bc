// Vitest global setup: starts the S3 servers the tests talk to (s3rver always; moto_server and a throwaway Ceph RGW when installed) and provides their endpoints.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

/** One S3 server started for the test run. */
export interface S3Server {
  name: 's3rver' | 'moto' | 'rgw';
  /** `http://127.0.0.1:<port>`, for S3 clients with path-style addressing. */
  endpoint: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3Servers: S3Server[];
  }
}

/**
 * The AWS environment every test and CLI subprocess uses: fixed test credentials (every server
 * accepts them: s3rver has them registered by s3rver-process.mjs, rgw.sh creates its S3 user with
 * them, moto takes any) and a fixed region. The global setup also puts them into process.env,
 * which test workers inherit, so no test can pick up a developer's real AWS credentials from the
 * environment.
 */
export const TEST_AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
} as const;

/** The one SSE-KMS key the test RGW knows (its "testing" KMS backend, set up by rgw.sh). */
export const RGW_KMS_KEY_ID = 'cassette-test-key';

const here = path.dirname(fileURLToPath(import.meta.url));

/** How long a server may take to answer after it was started. */
const START_TIMEOUT_MS = 60_000;

const RGW_SH = path.join(here, 'rgw.sh');
/** What a Ceph RGW needs on PATH; prepare-machine.sh installs them (rgw.sh checks the rest). */
const RGW_COMMANDS = ['radosgw', 'radosgw-admin', 'ceph-mon', 'ceph-osd'];

/**
 * Runs a command and kills it when this watchdog's stdin closes (the test runner died, even by
 * SIGKILL) or when the watchdog gets SIGTERM/SIGINT: moto_server cannot watch its parent itself.
 */
const WATCHDOG = `
const { spawn } = require('node:child_process');
const [cmd, ...args] = process.argv.slice(1);
const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), 3000).unref();
};
child.on('error', (error) => { process.stderr.write(String(error.message) + '\\n'); process.exit(127); });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
`;

/**
 * Runs a command once, when this guard's stdin closes (the test runner ended, even by SIGKILL) or
 * it gets SIGTERM/SIGINT/SIGHUP, then removes a directory and exits: the Ceph daemons are not its
 * children (rgw.sh starts them in their own sessions), so stopping them takes `rgw.sh stop DIR`.
 */
const CLEANUP_GUARD = `
const { spawnSync } = require('node:child_process');
const { rmSync } = require('node:fs');
const [dir, cmd, ...args] = process.argv.slice(1);
let done = false;
const cleanUp = () => {
  if (done) return;
  done = true;
  const result = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(dir, { recursive: true, force: true });
  process.exit(result.status ?? 1);
};
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, cleanUp);
process.stdin.on('end', cleanUp);
process.stdin.on('error', cleanUp);
process.stdin.resume();
`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function onPath(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      await fs.access(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

/** Keeps the last few KiB a child wrote, for the message when it fails to start; keeps draining so its pipes never fill. */
function tail(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer): void => {
    text = (text + chunk.toString()).slice(-4096);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text.trim();
}

/** Rejects when the child exits or fails to spawn (before `settled` is set). */
function exitFailure(child: ChildProcess, name: string, output: () => string): Promise<never> {
  return new Promise((_resolve, reject) => {
    child.once('error', (error) => reject(new Error(`${name} could not be started: ${error.message}`)));
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${signal ?? `code ${String(code)}`}) before it was ready:\n${output()}`)));
  });
}

async function waitForHttp(url: string, child: ChildProcess, name: string, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  const failed = exitFailure(child, name, output);
  failed.catch(() => undefined);
  for (;;) {
    const answered = await Promise.race([
      fetch(url, { signal: AbortSignal.timeout(2000) }).then(
        async (response) => {
          await response.body?.cancel();
          return true;
        },
        () => false,
      ),
      failed,
    ]);
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`${name} did not answer on ${url} within ${START_TIMEOUT_MS} ms:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

async function startS3rver(directory: string, children: ChildProcess[]): Promise<S3Server> {
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', path.join(here, 's3rver-process.mjs'), directory, TEST_AWS_ENV.AWS_ACCESS_KEY_ID, TEST_AWS_ENV.AWS_SECRET_ACCESS_KEY],
    { stdio: ['pipe', 'pipe', 'pipe'], detached: false, env: { ...process.env, CASSETTE_S3RVER_REMOVE_DIR: '1' } },
  );
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4096);
  });
  const port = await Promise.race([
    new Promise<number>((resolve, reject) => {
      let text = '';
      const onData = (chunk: Buffer): void => {
        text += chunk.toString();
        const newline = text.indexOf('\n');
        if (newline === -1) return;
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        try {
          resolve((JSON.parse(text.slice(0, newline)) as { port: number }).port);
        } catch (error) {
          reject(new Error(`s3rver printed ${JSON.stringify(text.slice(0, newline))} instead of its port`, { cause: error }));
        }
      };
      child.stdout!.on('data', onData);
    }),
    exitFailure(child, 's3rver', () => stderr.trim()),
    new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms:\n${stderr}`)), START_TIMEOUT_MS).unref()),
  ]);
  return { name: 's3rver', endpoint: `http://127.0.0.1:${port}` };
}

async function startMoto(children: ChildProcess[]): Promise<S3Server> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', WATCHDOG, 'moto_server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: false,
  });
  children.push(child);
  const output = tail(child);
  const endpoint = `http://127.0.0.1:${port}`;
  await waitForHttp(`${endpoint}/`, child, 'moto_server', output);
  return { name: 'moto', endpoint };
}

/**
 * Starts a fresh single-node Ceph cluster with its RADOS Gateway in a temp dir (test/setup/rgw.sh;
 * ≈ 6 s here) and returns the server and how to stop it: the daemons are stopped and the dir
 * removed at teardown, or by the guard when the runner dies without one.
 */
async function startRgw(): Promise<{ server: S3Server; stop: () => Promise<void> }> {
  // Short: Ceph's admin sockets live in it, and a Unix socket path has at most 107 bytes.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-rgw-'));
  const guard = spawn(process.execPath, ['-e', CLEANUP_GUARD, dir, 'bash', RGW_SH, 'stop', dir], { stdio: ['pipe', 'ignore', 'inherit'] });
  const guardExited = new Promise<void>((resolve) => guard.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    guard.stdin!.end();
    await guardExited;
  };
  try {
    const starter = spawn('bash', [RGW_SH, 'start', dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RGW_KMS_KEY_ID } });
    const output = tail(starter);
    let stdout = '';
    starter.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      starter.once('error', (error) => reject(new Error(`rgw.sh could not be started: ${error.message}`)));
      starter.once('close', (exitCode) => resolve(exitCode));
    });
    const endpoint = stdout.trim().split('\n').at(-1) ?? '';
    if (code !== 0 || !/^http:\/\/127\.0\.0\.1:\d+$/.test(endpoint)) {
      throw new Error(`Ceph RGW did not start (rgw.sh start ${dir} exited with code ${String(code)}):\n${output()}`);
    }
    return { server: { name: 'rgw', endpoint }, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const stops: Array<() => Promise<void>> = [];
  const savedEnv = Object.fromEntries([...Object.keys(TEST_AWS_ENV), 'CASSETTE_CACHE_DIR', 'CASSETTE_IDENTITY', 'CASSETTE_PASSPHRASE'].map((name) => [name, process.env[name]]));

  // Last resort when the runner exits without teardown: 'exit' handlers must be synchronous.
  const killAll = (): void => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
  };
  process.once('exit', killAll);

  const teardown = async (): Promise<void> => {
    await Promise.all([...children.map(stopChild), ...stops.map((stop) => stop())]);
    process.off('exit', killAll);
    await Promise.all(dirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
    for (const [name, value] of Object.entries(savedEnv)) {
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- an unset variable must be absent, not the string 'undefined'
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };

  try {
    Object.assign(process.env, TEST_AWS_ENV);
    // Encrypted backups keep metadata in a cache (crypto/metadata-cache.ts): never the user's ~/.cache in a test. No key of the user's either.
    const cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-cache-'));
    dirs.push(cacheDir);
    process.env.CASSETTE_CACHE_DIR = cacheDir;
    delete process.env.CASSETTE_IDENTITY;
    delete process.env.CASSETTE_PASSPHRASE;
    const s3rverDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-s3rver-'));
    dirs.push(s3rverDir);
    const servers: S3Server[] = [];
    const hasMoto = (await onPath('moto_server')) && (process.env.CI === 'true' || (process.env.CASSETTE_TEST_SERVERS?.split(',').includes('moto') ?? true));
    if (!hasMoto && process.env.CI === 'true') {
      throw new Error('moto_server is not on PATH, and CI=true requires it (pip install "moto[server]")');
    }
    // A developer may run a few test files against fewer servers (CASSETTE_TEST_SERVERS=s3rver,moto): starting RGW takes 20 s and 1 GiB. CI always runs all three.
    const wanted = process.env.CI === 'true' ? undefined : process.env.CASSETTE_TEST_SERVERS?.split(',');
    const hasRgw = (await Promise.all(RGW_COMMANDS.map(onPath))).every(Boolean) && (wanted?.includes('rgw') ?? true);
    if (!hasRgw && process.env.CI === 'true') {
      throw new Error(`${RGW_COMMANDS.join(', ')} are not all on PATH, and CI=true requires them for Ceph RGW (bash test/setup/prepare-machine.sh installs them)`);
    }
    if (!hasRgw && !wanted) {
      console.warn(`Ceph RGW is not installed (${RGW_COMMANDS.join(', ')}): the tests that run on it skip it. bash test/setup/prepare-machine.sh installs it.`);
    }
    const rgw = hasRgw
      ? startRgw().then(({ server, stop }) => {
          stops.push(stop);
          return server;
        })
      : undefined;
    const started = await Promise.allSettled([startS3rver(s3rverDir, children), hasMoto ? startMoto(children) : undefined, rgw]);
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    for (const result of started) if (result.status === 'fulfilled' && result.value) servers.push(result.value);
    project.provide('s3Servers', servers);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
