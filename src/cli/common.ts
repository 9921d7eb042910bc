// Shared CLI plumbing: repository resolution, interrupt handling, error reporting with exit codes.

import { Option, type Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { CassetteError, isCassetteError } from '../errors.js';
import { openStore } from '../store/open-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { EXIT, EXIT_CODES_HELP, exitCodeFor } from './exit-codes.js';
import { stopStatusLine, type Verbosity } from './render.js';
import { serverSideStoreOptions, withServerSideOptions, type ServerSideFlags, type StorageClassFlags } from './server-side.js';

export interface RepoFlags extends ServerSideFlags, StorageClassFlags, OutputFlags {
  repo?: string;
  endpoint?: string;
  region?: string;
  awsProfile?: string;
  pathStyle?: boolean;
  virtualHost?: boolean;
  limitUpload?: number;
  limitDownload?: number;
  timeout?: number;
}

export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

/**
 * Adds -q/--quiet and -v/--verbose. A command that takes them prints its notes, summaries and
 * result lines only when `verbosity(flags)` is not 'quiet' (warnings and errors always, on
 * stderr), and its per-item lines only when it is 'verbose'; createRenderer does so for progress
 * events. With --json neither changes stdout.
 */
export function withOutputOptions(command: Command): Command {
  return command.option('-q, --quiet', QUIET_HELP).option('-v, --verbose', 'also list each entry as it is stored or restored, on stderr');
}

/** The help of -q alone, for commands that list no entries (verify, prune, forget, tag, copy): nothing on success, for cron. */
export const QUIET_HELP = 'print nothing on success, only warnings and errors (on stderr): for cron';

/** Writes a result line to stdout, except with -q (JSON documents are written directly, whatever -q says). */
export function resultWriter(flags: OutputFlags): (text: string) => void {
  return (text) => {
    if (!flags.quiet) process.stdout.write(text);
  };
}

/** How much to print, from the flags; -q and -v together are refused. */
export function verbosity(flags: OutputFlags): Verbosity {
  if (flags.quiet && flags.verbose) throw new CassetteError('E_USAGE', 'give -q/--quiet or -v/--verbose, not both');
  return flags.quiet ? 'quiet' : flags.verbose ? 'verbose' : 'normal';
}

/** Writes a note, a summary or a result line to stderr, except with --json or -q (warnings and errors are written directly, always). */
export function noteWriter(flags: OutputFlags): (text: string) => void {
  const level = verbosity(flags);
  return (text) => {
    if (!flags.json && level !== 'quiet') process.stderr.write(text);
  };
}

/**
 * Adds --repo, --endpoint, --region, --aws-profile, --path-style/--virtual-host, --timeout,
 * --limit-upload/--limit-download, --json, the server-side encryption options and the exit-code
 * help to a command.
 */
export function withRepoOptions(command: Command): Command {
  command
    .addOption(new Option('-r, --repo <url>', 's3://bucket/prefix, file:///path or a directory (default: $CASSETTE_REPO, else ./cassette-repo)'))
    .addOption(
      new Option(
        '--endpoint <url>',
        "S3 endpoint for MinIO, Ceph, R2… (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else the AWS profile's services section or endpoint_url); a custom endpoint uses path-style addressing unless --virtual-host",
      ),
    )
    .addOption(new Option('--region <region>', 'S3 region (default: the AWS chain, else us-east-1)'))
    .addOption(new Option('--aws-profile <name>', 'AWS config and credentials profile (same as $AWS_PROFILE; default: default)'))
    .addOption(
      new Option('--path-style', "address buckets as endpoint/bucket (default for a custom endpoint, or as the profile's s3 addressing_style says)").conflicts('virtualHost'),
    )
    .addOption(new Option('--virtual-host', 'address buckets as bucket.endpoint (default for AWS itself)').conflicts('pathStyle'))
    .addOption(
      new Option('--limit-upload <KiB/s>', 'limit uploads to this many KiB/s, all transfers together (default: unlimited)').argParser(parseInteger('--limit-upload', 1, 1024 ** 3)),
    )
    .addOption(
      new Option('--limit-download <KiB/s>', 'limit downloads to this many KiB/s, all transfers together (default: unlimited)').argParser(
        parseInteger('--limit-download', 1, 1024 ** 3),
      ),
    )
    .addOption(
      new Option(
        '--timeout <seconds>',
        `give up a storage request after this long without a byte sent or received, and retry it (default: ${DEFAULTS.idleTimeoutMs / 1000}; connecting: at most ${DEFAULTS.connectTimeoutMs / 1000})`,
      ).argParser(parseSeconds('timeout', 0.1, 3600)),
    )
    .option('--json', 'machine-readable output (one JSON document, or NDJSON events for long commands)')
    .addHelpText('after', EXIT_CODES_HELP);
  return withServerSideOptions(command);
}

/** The repository URL from flags or environment; says so on stderr when it falls back to the embedded default. */
export function repoUrl(flags: RepoFlags): string {
  const url = flags.repo ?? process.env.CASSETTE_REPO;
  if (url) return url;
  if (!flags.json && !flags.quiet) process.stderr.write(`using the local repository ${DEFAULTS.localRepository} (no --repo given and CASSETTE_REPO is not set)\n`);
  return DEFAULTS.localRepository;
}

export function openRepo(flags: RepoFlags): ObjectStore {
  return openStore(repoUrl(flags), {
    endpoint: flags.endpoint,
    region: flags.region,
    awsProfile: flags.awsProfile,
    addressing: flags.pathStyle ? 'path' : flags.virtualHost ? 'virtual' : undefined,
    limitUploadKiBps: flags.limitUpload,
    limitDownloadKiBps: flags.limitDownload,
    timeout: flags.timeout,
    ...serverSideStoreOptions(flags),
  });
}

/** An AbortSignal fired by the first Ctrl-C or SIGTERM; a second one exits at once. The progress line is cleared first, so the message has a line of its own. */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  let count = 0;
  const onSignal = (name: string): void => {
    count++;
    if (count > 1) process.exit(EXIT.INTERRUPTED);
    stopStatusLine();
    // On a terminal the line may hold the terminal's own echo of ^C: start the message at the left, on a cleared line.
    process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}${name}: stopping, cleaning up (press again to quit at once)\n`);
    controller.abort(new CassetteError('E_ABORTED', `interrupted by ${name}`));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  return controller.signal;
}

/** Runs a command body; maps errors to a one-line message and the documented exit status. */
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- a body returns its exit status, or nothing for success
export async function run(body: () => Promise<number | void>, json = false): Promise<void> {
  try {
    const code = await body();
    process.exitCode = code ?? EXIT.OK;
  } catch (error) {
    // The error goes on a line of its own, not over the progress line.
    stopStatusLine();
    if (isCassetteError(error)) {
      report(json, error.code, error.message);
      process.exitCode = exitCodeFor(error.code);
      if (process.env.CASSETTE_DEBUG && error.cause) console.error(error.cause);
    } else {
      report(json, 'E_INTERNAL', error instanceof Error ? error.message : String(error));
      if (process.env.CASSETTE_DEBUG) console.error(error);
      process.exitCode = EXIT.FAILURE;
    }
  }
}

function report(json: boolean, code: string, message: string): void {
  if (json) process.stdout.write(JSON.stringify({ type: 'error', code, message }) + '\n');
  process.stderr.write(`cassette: ${message}\n`);
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--pg-name NAME=DATABASE`, repeatable: the plan's database NAME → the database to back up instead. */
export function collectPgName(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf('=');
  if (at <= 0) throw new CassetteError('E_USAGE', `Expected \`--pg-name\` to be NAME=DATABASE (the plan's database, then the one to use), got "${value}"`);
  const name = value.slice(0, at);
  if (Object.hasOwn(previous, name)) throw new CassetteError('E_USAGE', `--pg-name ${name}=… is given twice`);
  return { ...previous, [name]: value.slice(at + 1) };
}

export function parseInteger(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new CassetteError('E_USAGE', `Expected \`${name}\` to be a whole number from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

/** Parse a number of seconds (fractions allowed) from min to max. */
export function parseSeconds(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new CassetteError('E_USAGE', `Expected \`${name}\` to be a number of seconds from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

/** Parse sizes like 4MiB, 8M, 1048576. */
export function parseSize(name: string): (value: string) => number {
  return (value: string) => {
    const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(value.trim());
    if (!m) throw new CassetteError('E_USAGE', `Expected \`${name}\` to be a size like 4MiB, got "${value}"`);
    const power = ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
    return Math.round(Number(m[1]) * 1024 ** power);
  };
}
