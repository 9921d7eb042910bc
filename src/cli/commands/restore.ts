// `cassette restore`: parse flags, call the restore engine (to a directory, in place, to stdout or as a tar stream).

import { EncryptedStore } from '../../crypto/encrypted-store.js';
import { storeForReading, requireUnsealed } from '../../crypto/repository-encryption.js';
import type { KeyFlags } from '../../crypto/keys.js';
import { withIdentityOptions } from '../keys.js';
import { Command } from 'commander';
import { CassetteError } from '../../errors.js';
import { resolveSnapshot } from '../../repository.js';
import type { IndexEntry } from '../../format/types.js';
import type { Progress } from '../../progress.js';
import { restoreDatabase } from '../../pg/restore-db.js';
import { plannedRestore, type PlannedRestoreResult } from '../../plan/planned-restore.js';
import { destinationRoot, restoreRecord, type RestoreOptions } from '../../restore/restore.js';
import { deleteExtra } from '../../restore/delete-extra.js';
import { loadPlan } from './backup.js';
import { withRunbookOptions, type RunbookFlags } from '../runbook.js';
import { restoreFileToStream, restoreTarToStream } from '../../restore/stream-out.js';
import { collect, interruptSignal, openRepo, parseInteger, noteWriter, run, verbosity, withOutputOptions, withRepoOptions, type RepoFlags } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { createRenderer, humanBytes, humanDuration, keptSymlinkLine } from '../render.js';
import { counted, entries } from '../words.js';
import { snapshotFilter, withSnapshotFilterOptions, type SnapshotFilterFlags } from '../snapshot-filter.js';

interface RestoreFlags
  extends RepoFlags, KeyFlags, RunbookFlags, SnapshotFilterFlags, Pick<RestoreOptions, 'target' | 'inPlace' | 'include' | 'exclude' | 'skipExisting' | 'dryRun'> {
  stdout?: boolean;
  tar?: boolean;
  owners?: boolean;
  numericOwner?: boolean;
  xattrs: boolean;
  fetchConcurrency?: number;
  pg?: string[];
  pgTarget?: string;
  drop: boolean;
  dumpTo?: string;
  plan?: string;
  role?: string;
  root?: string;
  restoreUtilityImages?: boolean;
  database: boolean;
  hooks: boolean;
  delete?: boolean;
}

export function restoreCommand(): Command {
  return withIdentityOptions(
    withRepoOptions(
      withRunbookOptions(
        withSnapshotFilterOptions(withOutputOptions(new Command('restore'))),
        "follow a built-in plan's restore procedure (cassatt: hooks, order, never the utility images, database last)",
      )
        .description('restore a snapshot, or part of it, downloading only the frames that hold the selected files')
        .argument('<snapshot>', 'snapshot id, unique id prefix, or "latest"')
        .option('--target <dir>', 'restore into <dir>/<artifact>/…')
        .option('--in-place', 'restore onto the original absolute paths')
        .option(
          '-i, --include <glob>',
          'restore only matching entries (repeatable): "artifact/path/**", or a name like "*.conf" at any depth; a directory selects its contents',
          collect,
        )
        .option('-e, --exclude <glob>', 'leave out matching entries (repeatable), the same patterns as --include', collect)
        .option('--skip-existing', 'keep files that already exist at the destination')
        .option('--dry-run', 'print what would be written and how many bytes would be downloaded')
        .option('--delete', 'after restoring, delete what each restored directory holds beyond the selected snapshot entries (see --dry-run)')
        .option('--stdout', 'write the content of the single selected file to standard output')
        .option('--tar', 'write the selection to standard output as a plain tar stream (paths artifact/…)')
        .option('--no-owners', 'do not restore owner and group (they are restored when running as root)')
        .option('--numeric-owner', 'restore owners by the recorded numbers only (default: by name when the name exists here, else by number)')
        .option('--no-xattrs', 'do not restore extended attributes, SELinux labels, capabilities and ACLs')
        .option('--fetch-concurrency <n>', 'ranged GETs in flight (default 4)', parseInteger('fetch-concurrency', 1, 64))
        .option('--pg <database>', 'restore this database from the snapshot (drop, create, pg_restore, ANALYZE); repeatable', collect)
        .option('--pg-target <name>', 'restore the --pg database under another name, leaving the original untouched')
        .option('--no-drop', 'refuse to touch a database that already exists')
        .option('--dump-to <file>', 'write the --pg database dump (pg_dump file) instead of restoring it')
        .option('--plan <file>', "follow a plan file's restore procedure")
        .option('--role <role>', 'plan role')
        .option('--root <dir>', 'with --in-place and a plan: restore under <dir> (a mounted disk)')
        .option('--restore-utility-images', 'with the cassatt runbook: also restore CollageIdle, CollageInventory and CollageDiagnostic (the runbook says not to)')
        .option('--no-database', 'with a plan: do not restore databases')
        .option('--no-hooks', 'with a plan: do not run its pre- and post-restore hooks (a fresh disk under --root has no service to stop)'),
    ),
  ).action(async (ref: string, flags: RestoreFlags) => {
    await run(async () => {
      const level = verbosity(flags);
      const say = noteWriter(flags);
      const plan = await loadPlan({ runbook: flags.runbook, profile: flags.profile, plan: flags.plan, role: flags.role, root: flags.root, json: flags.json });
      const pgOnly = (flags.pg ?? []).length > 0 && flags.target === undefined && !flags.inPlace && !flags.stdout && !flags.tar;
      const modes = [flags.target !== undefined, !!flags.inPlace, !!flags.stdout, !!flags.tar].filter(Boolean).length;
      // A dry run writes nothing, so it needs no destination: it shows a restore in place (the original paths), which is what a plan does (issue 17).
      if (flags.dryRun && modes === 0 && !pgOnly) {
        flags.inPlace = true;
        say('dry run without --target, --stdout or --tar: showing a restore in place, onto the original paths\n');
      } else if (!pgOnly && modes !== 1) throw new CassetteError('E_USAGE', 'choose exactly one of --target DIR, --in-place, --stdout or --tar (or only --pg DATABASE)');
      if (flags.delete && (flags.stdout || flags.tar || pgOnly || plan))
        throw new CassetteError(
          'E_USAGE',
          `--delete applies to a restore with --target or --in-place, not to ${flags.stdout ? '--stdout' : flags.tar ? '--tar' : plan ? 'a --runbook or --plan restore' : 'a --pg database'}`,
        );
      if ((flags.pgTarget || flags.dumpTo) && (flags.pg ?? []).length !== 1) throw new CassetteError('E_USAGE', '--pg-target and --dump-to need exactly one --pg database');
      if ((flags.stdout || flags.tar) && process.stdout.isTTY) {
        throw new CassetteError('E_USAGE', `--${flags.stdout ? 'stdout' : 'tar'} writes binary data: redirect standard output to a file or a pipe`);
      }
      if (flags.restoreUtilityImages && !flags.json)
        process.stderr.write('warning: restoring the utility images CollageIdle, CollageInventory and CollageDiagnostic, which the runbook says not to restore\n');
      const store = await storeForReading(openRepo({ ...flags, repo: flags.repo ?? plan?.repository, json: flags.json || flags.stdout || flags.tar }), flags);
      const signal = interruptSignal();
      try {
        const record = await resolveSnapshot(store, ref, snapshotFilter(flags));
        requireUnsealed(record, store);
        if (flags.stdout || flags.tar) {
          const options = { store, record, out: process.stdout, include: flags.include, exclude: flags.exclude, signal };
          if (flags.stdout) await restoreFileToStream(options);
          else await restoreTarToStream(options);
          return;
        }
        const restoreDb = async (name: string): Promise<void> => {
          const result = await restoreDatabase({
            store,
            record,
            database: name,
            target: flags.pgTarget,
            noDrop: !flags.drop,
            dumpTo: flags.dumpTo,
            signal,
            onStep: (step, detail) => {
              if (flags.json) process.stdout.write(JSON.stringify({ type: 'step', database: name, step, detail }) + '\n');
              else say(`${name}: ${step}${detail ? ` (${detail})` : ''}\n`);
            },
          });
          say(`database ${name} restored${flags.dumpTo ? ` to ${flags.dumpTo}` : ` as ${result.database}`} (${humanBytes(result.bytes)})\n`);
        };
        if (pgOnly) {
          for (const name of flags.pg!) await restoreDb(name);
          return;
        }
        const renderer = createRenderer({ json: !!flags.json, verbosity: level });
        const started = Date.now();
        const lines: string[] = [];
        const keptSymlinks: string[] = [];
        const shownProgress = flags.dryRun && !flags.json ? withKeptSymlinksIn(lines, renderer) : renderer;
        const common = {
          store,
          target: flags.target,
          inPlace: flags.inPlace,
          include: flags.include,
          exclude: flags.exclude,
          skipExisting: flags.skipExisting,
          dryRun: flags.dryRun,
          owners: flags.owners === false ? false : undefined,
          numericOwner: flags.numericOwner,
          xattrs: flags.xattrs,
          fetchConcurrency: flags.fetchConcurrency,
          estimateTotal: !flags.dryRun && (!!flags.json || (level !== 'quiet' && process.stderr.isTTY)),
          signal,
          progress: flags.delete ? collectingKeptSymlinks(keptSymlinks, shownProgress) : shownProgress,
          onEntry: flags.dryRun
            ? (artifact: string, entry: IndexEntry, destination: string) => {
                if (flags.json) process.stdout.write(JSON.stringify({ type: 'entry', artifact, path: entry.path, entryType: entry.type, size: entry.size, destination }) + '\n');
                else lines.push(`would write ${entry.type.padEnd(8)} ${String(entry.size).padStart(12)}  ${destination}\n`);
                if (lines.length >= 1000) process.stdout.write(lines.splice(0).join(''));
              }
            : undefined,
        };
        let postHookFailure: PlannedRestoreResult['postHookFailure'];
        const summary = plan
          ? await plannedRestore({
              ...common,
              plan,
              record,
              root: flags.root,
              includeProtected: flags.restoreUtilityImages,
              skipDatabases: !flags.database,
              restoreDatabase: async (artifact) => restoreDb(artifact.database?.name ?? artifact.name),
              hooks: flags.hooks,
              onWarning: (message) => {
                if (flags.json) process.stdout.write(JSON.stringify({ type: 'warning', message }) + '\n');
                else process.stderr.write(`warning: ${message}\n`);
              },
              onStep: (step) => {
                if (flags.json) process.stdout.write(JSON.stringify({ type: 'step', step }) + '\n');
                else if (flags.dryRun) lines.push(`step: ${step}\n`);
                else renderer.event({ type: 'step', step });
              },
            }).then((result) => {
              postHookFailure = result.postHookFailure;
              return result.summary;
            })
          : await restoreRecord(record, { ...common, snapshot: record.id });
        for (const name of plan ? [] : (flags.pg ?? [])) await restoreDb(name);
        // A selection that matched nothing deletes nothing: more likely a mistyped pattern than a wish to empty the target.
        const deleted = !flags.delete
          ? undefined
          : summary.entries + summary.skipped === 0
            ? 0
            : (
                await deleteExtra({
                  store,
                  record,
                  selection: { include: flags.include, exclude: flags.exclude },
                  rootOf: (artifact) => destinationRoot(common, artifact),
                  dryRun: flags.dryRun,
                  signal,
                  keptSymlinks,
                  onDelete: (artifact, deletion, absolute) => {
                    if (flags.json) process.stdout.write(JSON.stringify({ type: 'delete', artifact, path: absolute, entryType: deletion.kind, dryRun: !!flags.dryRun }) + '\n');
                    else if (flags.dryRun) lines.push(`would delete ${deletion.kind.padEnd(8)} ${absolute}\n`);
                    if (lines.length >= 1000) process.stdout.write(lines.splice(0).join(''));
                  },
                })
              ).deleted;
        renderer.stop();
        if (lines.length) process.stdout.write(lines.join(''));
        // One message when nothing matched, not a summary of 0 entries and then an error (issue 17).
        if (summary.entries === 0 && summary.skipped === 0) {
          throw new CassetteError('E_SNAPSHOT_NOT_FOUND', `nothing in snapshot ${summary.snapshot} matches the selection${selectionText(flags)}`);
        }
        const seconds = (Date.now() - started) / 1000;
        // Encrypted objects are read in whole 64 KiB chunks, with their headers: what was actually transferred for them.
        const encrypted = store instanceof EncryptedStore && store.encryptedBytesRead > 0 ? { encryptedBytesDownloaded: store.encryptedBytesRead } : {};
        if (flags.json) {
          process.stdout.write(
            JSON.stringify({ type: 'summary', ...summary, ...encrypted, ...(deleted !== undefined ? { deleted } : {}), seconds, dryRun: !!flags.dryRun }) + '\n',
          );
        } else if (flags.dryRun) {
          process.stdout.write(
            `dry run: ${entries(summary.entries)} (${counted(summary.files, 'file')}, ${humanBytes(summary.bytes)}) from snapshot ${summary.snapshot}; would download ${humanBytes(summary.downloadBytes)} in ${counted(summary.requests, 'request')} plus the indexes${deleted !== undefined ? `; would delete ${counted(deleted, 'path')} not in the snapshot` : ''}\n`,
          );
        } else {
          say(
            `restored ${entries(summary.entries)} (${counted(summary.files, 'file')}, ${humanBytes(summary.bytes)}) from snapshot ${summary.snapshot} in ${humanDuration(seconds * 1000)}; downloaded ${humanBytes(summary.downloadBytes)} in ${counted(summary.requests, 'request')}${encrypted.encryptedBytesDownloaded !== undefined ? ` (${humanBytes(encrypted.encryptedBytesDownloaded)} of encrypted objects, indexes and headers included)` : ''}${summary.skipped ? `; kept ${counted(summary.skipped, 'existing file')}` : ''}${deleted !== undefined ? `; deleted ${counted(deleted, 'path')} not in the snapshot` : ''}\n`,
          );
          for (const refused of summary.refused)
            process.stderr.write(`partial: the target refused ${refused.kind} on ${entries(refused.count)} (first: ${refused.path}) (exit ${EXIT.PARTIAL})\n`);
        }
        // After the summary: everything was restored, and only starting the service again failed (issue 17).
        if (postHookFailure) {
          throw new CassetteError(
            'E_HOOK',
            `everything was restored, but the post-restore hook \`${postHookFailure.command}\` failed with exit ${postHookFailure.exitCode}${postHookFailure.output.trim() ? `: ${postHookFailure.output.trim()}` : ''}`,
          );
        }
        return summary.refused.length > 0 ? EXIT.PARTIAL : EXIT.OK;
      } finally {
        await store.close();
      }
    }, flags.json);
  });
}

/** --delete leaves alone what a kept directory symlink leads to: it learns them from the restore's keep-symlink events. */
function collectingKeptSymlinks(links: string[], progress: Progress): Progress {
  return {
    event: (event) => {
      if (event.type === 'keep-symlink') links.push(event.path);
      progress.event(event);
    },
  };
}

/** A dry run lists the directory symlinks it would keep with the entries (on stdout), not on stderr. */
function withKeptSymlinksIn(lines: string[], renderer: Progress): Progress {
  return {
    event: (event) => {
      if (event.type === 'keep-symlink') lines.push(keptSymlinkLine(event));
      else renderer.event(event);
    },
  };
}

/** The selection flags in words, for the message when nothing matches: ` (--include 'x', --exclude 'y')`. */
function selectionText(flags: Pick<RestoreFlags, 'include' | 'exclude'>): string {
  const parts = [...(flags.include ?? []).map((p) => `--include '${p}'`), ...(flags.exclude ?? []).map((p) => `--exclude '${p}'`)];
  return parts.length ? ` (${parts.join(', ')}; patterns match artifact/path as \`cassette ls\` prints it)` : '';
}
