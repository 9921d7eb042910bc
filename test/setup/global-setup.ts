// Vitest global setup: starts the S3 servers the tests talk to (s3rver in a child process, moto_server when on PATH).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

export interface S3Server {
  name: 's3rver' | 'moto';
  endpoint: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3Servers: S3Server[];
  }
}

const here = path.dirname(fileURLToPath(import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const servers: S3Server[] = [];

  const s3rverDir = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-s3rver-'));
  dirs.push(s3rverDir);
  const s3rver = spawn(process.execPath, ['--openssl-legacy-provider', path.join(here, 's3rver-process.mjs'), s3rverDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(s3rver);
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    s3rver.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n')) resolve((JSON.parse(line!) as { port: number }).port);
    });
    s3rver.on('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  servers.push({ name: 's3rver', endpoint: `http://127.0.0.1:${port}` });

  if (await hasMoto()) {
    const motoPort = await freePort();
    const moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(motoPort)], { stdio: ['ignore', 'ignore', 'ignore'] });
    children.push(moto);
    await waitForHttp(`http://127.0.0.1:${motoPort}/`, 30_000);
    servers.push({ name: 'moto', endpoint: `http://127.0.0.1:${motoPort}` });
  } else if (process.env.CI === 'true') {
    throw new Error('moto_server is not on PATH, and CI=true requires it');
  }

  project.provide('s3Servers', servers);
  const kill = (): void => {
    for (const child of children) child.kill('SIGTERM');
  };
  process.once('exit', kill);
  return async () => {
    kill();
    await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
  };
}

async function hasMoto(): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    try {
      await fs.access(path.join(dir, 'moto_server'), fs.constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}
