// Runs the PostgreSQL client programs through execa and describes how they ended, quoting the end of their stderr; builds no messages about steps.

import type { Readable } from 'node:stream';
import type { Result } from 'execa';

/** How much of a tool's stderr a message quotes: its last 2 KB (the real error is at the end). */
export const STDERR_QUOTE_CHARS = 2048;

/**
 * Every client program runs with `--no-password`: the password comes from the URI, PGPASSWORD or
 * ~/.pgpass. Without it a missing password makes libpq prompt on /dev/tty, and a backup run from
 * cron or a restore behind a progress bar would hang instead of failing.
 */
export const NO_PASSWORD = '--no-password';

/** Keeps the last `limit` characters of a stream's text, and whether "error:" appeared anywhere in it. */
export class StderrTail {
  private tail = '';
  /** True once the text contained `error:` (any case), e.g. `pg_dump: error: …`. */
  sawError = false;

  constructor(private readonly limit = 64 * 1024) {}

  /** Collect from a stream (puts it in flowing mode). */
  attach(stream: Readable | null | undefined): this {
    stream?.on('data', (chunk: Buffer | string) => this.push(chunk.toString()));
    stream?.on('error', () => undefined);
    return this;
  }

  push(text: string): void {
    // Look across the chunk boundary too: "err" + "or:".
    if (!this.sawError && /error:/i.test(this.tail.slice(-16) + text)) this.sawError = true;
    this.tail = (this.tail + text).slice(-this.limit);
  }

  get text(): string {
    return this.tail;
  }
}

/** The end of a tool's stderr for a message: trimmed, at most STDERR_QUOTE_CHARS, `…` when cut; `(no message)` when empty. */
export function quoteStderr(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return '(no message on stderr)';
  return trimmed.length > STDERR_QUOTE_CHARS ? `…${trimmed.slice(-STDERR_QUOTE_CHARS)}` : trimmed;
}

/** How a process ended, in words: `exit 1`, `killed by SIGKILL`, `could not be started (spawn pg_dump ENOENT)`. */
export function describeEnd(result: Pick<Result, 'exitCode' | 'signal' | 'failed'> & { cause?: unknown; originalMessage?: string }): string {
  if (result.signal) return `killed by ${result.signal}`;
  if (typeof result.exitCode === 'number') return `exit ${result.exitCode}`;
  const cause = result.cause instanceof Error ? result.cause.message : result.originalMessage;
  return `could not be started (${cause ?? 'unknown reason'})`;
}

export interface ToolOutcome {
  ok: boolean;
  /** Whole stdout, trimmed. */
  stdout: string;
  stderr: string;
  /** `exit 0`, `exit 1`, `killed by SIGTERM`, … */
  end: string;
  /** Stopped through the signal. */
  canceled: boolean;
}

export interface ToolOptions {
  signal?: AbortSignal;
  /** Milliseconds; default none. */
  timeout?: number;
}

/** Run a short client program (psql, createdb, dropdb, `pg_dump --version`) to completion; never throws for its failure. */
export async function runTool(file: string, args: readonly string[], options: ToolOptions = {}): Promise<ToolOutcome> {
  // Loaded on first use, as in hooks.ts: importing execa costs about 0.1 s of start-up (0.18 vs
  // 0.08 s for an empty `node`), which commands that run no PostgreSQL tool should not pay.
  const { execa } = await import('execa');
  const result = await execa(file, args, {
    stdin: 'ignore',
    reject: false,
    cancelSignal: options.signal,
    timeout: options.timeout,
    forceKillAfterDelay: 2000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return {
    ok: !result.failed,
    stdout: typeof result.stdout === 'string' ? result.stdout.trim() : '',
    stderr: typeof result.stderr === 'string' ? result.stderr : '',
    end: describeEnd(result),
    canceled: result.isCanceled,
  };
}

/** Fields of one `psql -XAtq -F '\x1f'` row. */
export const FIELD_SEPARATOR = '\x1f';

/** Run one SQL statement with psql (`-X`: no ~/.psqlrc; `-A -t -q`: bare values) and return its output. */
export function psql(dbnameArgs: readonly string[], sql: string, options: ToolOptions = {}): Promise<ToolOutcome> {
  return runTool('psql', ['-XAtq', NO_PASSWORD, '-v', 'ON_ERROR_STOP=1', '-F', FIELD_SEPARATOR, ...dbnameArgs, '-c', sql], options);
}
