// `cassette restore`: parse flags, call the restore engine (to a directory, in place, to stdout or as a tar stream).

import { Command } from 'commander';
import { CassetteError } from '../../errors.js';
import { resolveSnapshot } from '../../repository.js';
import { restoreRecord } from '../../restore/restore.js';
import { restoreFileToStream, restoreTarToStream } from '../../restore/stream-out.js';
import { collect, interruptSignal, openRepo, parseInteger, run, withRepoOptions, type RepoFlags } from '../common.js';
import { createRenderer, humanBytes, humanDuration } from '../render.js';

interface RestoreFlags extends RepoFlags {
  target?: string;
  inPlace?: boolean;
  include?: string[];
  exclude?: string[];
  skipExisting?: boolean;
  dryRun?: boolean;
  stdout?: boolean;
  tar?: boolean;
  owners?: boolean;
  fetchConcurrency?: number;
}

export function restoreCommand(): Command {
  return withRepoOptions(new Command('restore')
    .description('restore a snapshot, or part of it, downloading only the frames that hold the selected files')
    .argument('<snapshot>', 'snapshot id, unique id prefix, or "latest"')
    .option('--target <dir>', 'restore into <dir>/<artifact>/…')
    .option('--in-place', 'restore onto the original absolute paths')
    .option('-i, --include <glob>', 'restore only matching artifact/path entries (repeatable); a directory selects its contents', collect)
    .option('-e, --exclude <glob>', 'leave out matching artifact/path entries (repeatable)', collect)
    .option('--skip-existing', 'keep files that already exist at the destination')
    .option('--dry-run', 'print what would be written and how many bytes would be downloaded')
    .option('--stdout', 'write the content of the single selected file to standard output')
    .option('--tar', 'write the selection to standard output as a plain tar stream (paths artifact/…)')
    .option('--no-owners', 'do not restore owner and group (they are restored when running as root)')
    .option('--fetch-concurrency <n>', 'ranged GETs in flight (default 4)', parseInteger('fetch-concurrency', 1, 64)))
    .action(async (ref: string, flags: RestoreFlags) => {
      await run(async () => {
        const modes = [flags.target !== undefined, !!flags.inPlace, !!flags.stdout, !!flags.tar].filter(Boolean).length;
        if (modes !== 1) throw new CassetteError('E_USAGE', 'choose exactly one of --target DIR, --in-place, --stdout or --tar');
        if ((flags.stdout || flags.tar) && process.stdout.isTTY) {
          throw new CassetteError('E_USAGE', `--${flags.stdout ? 'stdout' : 'tar'} writes binary data: redirect standard output to a file or a pipe`);
        }
        const store = openRepo({ ...flags, json: flags.json || flags.stdout || flags.tar });
        const signal = interruptSignal();
        try {
          const record = await resolveSnapshot(store, ref);
          if (flags.stdout || flags.tar) {
            const options = { store, record, out: process.stdout, include: flags.include, exclude: flags.exclude, signal };
            if (flags.stdout) await restoreFileToStream(options);
            else await restoreTarToStream(options);
            return;
          }
          const renderer = createRenderer({ json: !!flags.json });
          const started = Date.now();
          const lines: string[] = [];
          const summary = await restoreRecord(record, {
            store,
            snapshot: record.id,
            target: flags.target,
            inPlace: flags.inPlace,
            include: flags.include,
            exclude: flags.exclude,
            skipExisting: flags.skipExisting,
            dryRun: flags.dryRun,
            owners: flags.owners === false ? false : undefined,
            fetchConcurrency: flags.fetchConcurrency,
            signal,
            progress: renderer,
            onEntry: flags.dryRun
              ? (artifact, entry, destination) => {
                if (flags.json) process.stdout.write(JSON.stringify({ type: 'entry', artifact, path: entry.path, entryType: entry.type, size: entry.size, destination }) + '\n');
                else lines.push(`would write ${entry.type.padEnd(8)} ${String(entry.size).padStart(12)}  ${destination}\n`);
                if (lines.length >= 1000) process.stdout.write(lines.splice(0).join(''));
              }
              : undefined,
          });
          renderer.stop();
          if (lines.length) process.stdout.write(lines.join(''));
          const seconds = (Date.now() - started) / 1000;
          if (flags.json) {
            process.stdout.write(JSON.stringify({ type: 'summary', ...summary, seconds, dryRun: !!flags.dryRun }) + '\n');
          } else if (flags.dryRun) {
            process.stdout.write(`dry run: ${summary.entries} entries (${summary.files} files, ${humanBytes(summary.bytes)}) from snapshot ${summary.snapshot}; would download ${humanBytes(summary.downloadBytes)} in ${summary.requests} requests plus the indexes\n`);
          } else {
            process.stderr.write(`restored ${summary.entries} entries (${summary.files} files, ${humanBytes(summary.bytes)}) from snapshot ${summary.snapshot} in ${humanDuration(seconds * 1000)}; downloaded ${humanBytes(summary.downloadBytes)} in ${summary.requests} requests${summary.skipped ? `; kept ${summary.skipped} existing files` : ''}\n`);
          }
          if (summary.entries === 0 && summary.skipped === 0) {
            throw new CassetteError('E_SNAPSHOT_NOT_FOUND', `nothing in snapshot ${summary.snapshot} matches the selection`);
          }
        } finally {
          await store.close();
        }
      }, flags.json);
    });
}
