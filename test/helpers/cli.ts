// Runs the built cassette CLI (dist/) as a subprocess, as a user would.

import { execa, type Result } from 'execa';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(PROJECT_ROOT, 'dist/src/cli/main.js');

export interface CliOptions {
  env?: Record<string, string>;
  input?: string | Buffer;
  /** Keep stdout as a Buffer (binary output). */
  binary?: boolean;
  cwd?: string;
  /** Kill it (SIGTERM) after this many milliseconds; the result then says `timedOut`. */
  timeout?: number;
}

export async function cassette(args: string[], options: CliOptions = {}): Promise<Result> {
  return execa('node', [CLI, ...args], {
    env: { ...options.env, CASSETTE_REPO: options.env?.CASSETTE_REPO ?? '' },
    reject: false,
    encoding: options.binary ? 'buffer' : 'utf8',
    input: options.input,
    cwd: options.cwd ?? PROJECT_ROOT,
    stripFinalNewline: false,
    timeout: options.timeout,
    forceKillAfterDelay: 1000,
  }) as unknown as Promise<Result>;
}
