// `cassette backup`: parse flags, call the backup engine, print a summary.

import { Command } from 'commander';
import path from 'node:path';
import { pgDumpSource } from '../../pg/dump.js';
import { effectivePlan, readPlanFile, type Plan, type PlanDatabase } from '../../plan/plan.js';
import { plannedBackup } from '../../plan/planned-backup.js';
import { profile } from '../../plan/profiles.js';
import { artifactNameFor } from '../../backup/sources.js';
import { runbookName, withRunbookOptions, type RunbookFlags } from '../runbook.js';
import { DEFAULTS } from '../../defaults.js';
import { CassetteError } from '../../errors.js';
import {
  collect,
  collectPgName,
  interruptSignal,
  openRepo,
  parseInteger,
  parseSize,
  noteWriter,
  run,
  verbosity,
  withOutputOptions,
  withRepoOptions,
  type RepoFlags,
} from '../common.js';
import { EXIT } from '../exit-codes.js';
import { storeForBackup, type BackupEncryptionFlags } from '../../crypto/repository-encryption.js';
import { withEncryptionOptions } from '../keys.js';
import { createRenderer, humanBytes, humanDuration } from '../render.js';
import { withStorageClassOptions } from '../server-side.js';
import { counted, entries } from '../words.js';
import { readExcludeFiles, readFilesFrom, type BackupSelectionFlags } from '../backup-selection.js';
import { printBackupDryRun } from '../backup-dry-run.js';
import { readOnlyStore } from '../../store/read-only-store.js';
import type { StreamSource } from '../../backup/backup.js';

interface BackupFlags extends RepoFlags, BackupEncryptionFlags, RunbookFlags, BackupSelectionFlags {
  exclude?: string[];
  excludeCaches?: boolean;
  excludeLargerThan?: number;
  pg?: string[];
  pgFormat: string;
  plan?: string;
  role?: string;
  skipImages?: boolean;
  root?: string;
  pgName?: Record<string, string>;
  oneFileSystem: boolean;
  xattrs: boolean;
  tag?: string[];
  host?: string;
  level?: number;
  frameSize?: number;
  threads?: number;
  partSize?: number;
  uploadQueue?: number;
  parent?: string;
  full?: boolean;
  forceRead?: boolean;
  hooks: boolean;
  dryRun?: boolean;
}

export function backupCommand(): Command {
  return withEncryptionOptions(
    withRepoOptions(
      withRunbookOptions(withStorageClassOptions(withOutputOptions(new Command('backup'))), 'back up what a built-in plan says (cassatt: the Cassatt Active Response runbook)')
        .description('back up directories (one artifact each) and databases into a new snapshot')
        .argument('[paths...]', 'directories or files to back up')
        .option('-e, --exclude <glob>', 'leave out matching paths (repeatable): "/abs/path", "rel/path/**" or a name like "*.tmp"', collect)
        .option('--exclude-file <file>', 'read exclude patterns from <file>, one a line (# comments; repeatable)', collect)
        .option('--exclude-caches', 'leave out the contents of directories holding a valid CACHEDIR.TAG (the directory and the tag are kept)')
        .option('--exclude-larger-than <size>', 'leave out files larger than <size> (e.g. 1GiB); the summary counts them', parseSize('exclude-larger-than'))
        .option('--files-from <file>', 'back up the paths listed in <file>, one a line (# comments; - for stdin; repeatable)', collect)
        .option('--files-from-verbatim <file>', 'like --files-from, each line exactly as written (no comments, no trimming)', collect)
        .option('--files-from-raw <file>', 'like --files-from, paths separated by NUL bytes (find -print0)', collect)
        .option('--one-file-system', 'do not cross mount points', true)
        .option('--no-one-file-system', 'descend into other file systems mounted below a source')
        .option('--no-xattrs', 'do not store extended attributes, SELinux labels, capabilities and ACLs')
        .option('-t, --tag <tag>', 'tag the snapshot (repeatable)', collect)
        .option('--host <name>', "record this host name in the snapshot, and take parents from its snapshots (default: this machine's hostname)", hostName)
        .option('--pg <database>', 'also dump this PostgreSQL database (name, using PG* variables, or postgres:// URI); repeatable', collect)
        .option('--pg-format <format>', 'pg_dump format: tar (-Ft, as the Cassatt runbook) or custom (-Fc)', 'tar')
        .option('--plan <file>', 'use a plan file (YAML or JSON)')
        .option('--role <role>', 'plan role, e.g. secondary (second control node: no /cassatt, /cassatt/database, database)')
        .option('--skip-images', 'do not back up /cassatt/images (when images are already backed up)')
        .option(
          '--root <dir>',
          're-root every path, of the plan and given here, and absolute --exclude patterns, under <dir> (a mounted disk, or a test tree); artifacts keep the names of the paths',
        )
        .option('--no-hooks', 'with a plan: do not run its pre- and post-backup hooks (the service is not quiesced)')
        .option(
          '--pg-name <name=database>',
          "back up the plan's database <name> as <database> on the same server, e.g. collage=collage_test (a staging node, a test); repeatable",
          collectPgName,
        )
        .option(
          '--parent <snapshot>',
          'compare with this snapshot (id, prefix or latest) and reuse its unchanged frames; default: the latest snapshot of this host with the same artifact',
        )
        .option('--dry-run', 'walk the sources and say what would be read and stored (unchanged files too), writing nothing to the repository; entries as NDJSON with --json')
        .option('--full', 'store every frame anew (start a new chain of incremental snapshots)')
        .option('--force-read', 'read every file, also those whose size, times, inode and device say unchanged (frames are still reused when their content is the same)')
        .option('--level <n>', `zstd level 1-19 (default ${DEFAULTS.compressionLevel})`, parseInteger('level', 1, 19))
        .option('--frame-size <size>', 'uncompressed bytes per zstd frame (default 4MiB)', parseSize('frame-size'))
        .option('--threads <n>', 'compression threads (default: one per core)', parseInteger('threads', 1, 256))
        .option('--part-size <size>', 'smallest multipart part (default 8MiB; larger streams get larger parts, see docs/FORMAT.md)', parseSize('part-size'))
        .option('--upload-queue <n>', 'parts of one upload in flight (default: 4 parts within 128 MiB)', parseInteger('upload-queue', 1, 64)),
    ),
  ).action(async (given: string[], flags: BackupFlags) => {
    await run(async () => {
      const plan = await loadPlan({ ...flags, root: flags.runbook !== undefined || flags.profile !== undefined || flags.plan !== undefined ? flags.root : undefined });
      const paths = [...given, ...(await readFilesFrom(flags, flags.root))];
      const patterns = [...(flags.exclude ?? []), ...(await readExcludeFiles(flags.excludeFile ?? []))];
      if (paths.length === 0 && !plan && (flags.pg ?? []).length === 0) {
        throw new CassetteError('E_USAGE', 'give at least one path or --pg database to back up (or --runbook / --plan), e.g. `cassette backup /etc`');
      }
      if (flags.pgFormat !== 'tar' && flags.pgFormat !== 'custom') throw new CassetteError('E_USAGE', `--pg-format must be tar or custom, got "${flags.pgFormat}"`);
      const plainStore = openRepo({ ...flags, repo: flags.repo ?? plan?.repository, endpoint: flags.endpoint ?? plan?.endpoint });
      const level = verbosity(flags);
      const say = noteWriter(flags);
      const renderer = createRenderer({ json: !!flags.json, verbosity: level });
      const signal = interruptSignal();
      let store = plainStore;
      try {
        const encrypted = await storeForBackup(
          flags.dryRun ? readOnlyStore(plainStore, 'backup --dry-run writes nothing to the repository', 'run one backup without --dry-run first') : plainStore,
          flags,
        );
        store = encrypted.store;
        const started = Date.now();
        // --root re-roots the paths given here as it does a plan's: `backup /etc --root /mnt/sysimage` reads /mnt/sysimage/etc into the artifact etc.
        const reroot = (p: string): string => (flags.root ? path.resolve(flags.root, '.' + path.resolve(p)) : path.resolve(p));
        const exclude = patterns.map((e) => (e.startsWith('/') ? reroot(e) : e));
        const extra = {
          sources: paths.map((p) => ({ path: reroot(p), ...(flags.root ? { name: artifactNameFor(path.resolve(p)) } : {}) })),
          databases: (flags.pg ?? []).map((connection) => ({ connection, format: flags.pgFormat as 'tar' | 'custom' })),
        };
        const effective: Plan = plan
          ? { ...plan, sources: [...plan.sources, ...extra.sources], databases: [...plan.databases, ...extra.databases], hooks: flags.hooks ? plan.hooks : {} }
          : { sources: extra.sources, databases: extra.databases, exclude: [], hooks: {}, tags: [], restoreExclude: [], restoreOrder: [], roles: [] };
        if (plan && !flags.hooks && (plan.hooks['pre-backup'] || plan.hooks['post-backup']) && !flags.json)
          say("note: not running the plan's pre- and post-backup hooks (--no-hooks)\n");
        const databaseSource = (database: PlanDatabase): StreamSource => pgDumpSource({ connection: database.connection, format: database.format });
        if (flags.dryRun) {
          await printBackupDryRun({
            store,
            plan: effective,
            json: !!flags.json,
            databaseSource,
            exclude,
            excludeCaches: flags.excludeCaches,
            excludeLargerThan: flags.excludeLargerThan,
            oneFileSystem: flags.oneFileSystem,
            compressionLevel: flags.level ?? plan?.compressionLevel,
            parent: flags.parent,
            full: flags.full,
            forceRead: flags.forceRead,
            encryption: encrypted.encryption,
            signal,
          });
          return EXIT.OK;
        }
        const result = await plannedBackup({
          store,
          plan: effective,
          root: flags.root,
          exclude,
          excludeCaches: flags.excludeCaches,
          excludeLargerThan: flags.excludeLargerThan,
          oneFileSystem: flags.oneFileSystem,
          xattrs: flags.xattrs,
          tags: flags.tag,
          host: flags.host,
          role: plan ? (flags.role ?? plan.roles[0]) : undefined,
          compressionLevel: flags.level ?? plan?.compressionLevel,
          artifactConcurrency: plan?.concurrency,
          frameSize: flags.frameSize,
          threads: flags.threads,
          parent: flags.parent,
          full: flags.full,
          forceRead: flags.forceRead,
          encryption: encrypted.encryption,
          partPlan: flags.partSize ? { minPartSize: Math.max(5 * 1024 * 1024, flags.partSize) } : undefined,
          uploadQueueSize: flags.uploadQueue,
          signal,
          progress: renderer,
          estimateTotal: !flags.json && level !== 'quiet' && process.stderr.isTTY,
          databaseSource,
          onNotice: (message) => say(`note: ${message}\n`),
        });
        renderer.stop();
        await encrypted.cache?.trim();
        const { record } = result;
        const read = record.artifacts.reduce((s, a) => s + a.bytesRead, 0);
        const stored = record.artifacts.reduce((s, a) => s + a.storedBytes, 0);
        const reused = result.reusedBytes;
        const seconds = (Date.now() - started) / 1000;
        if (flags.json) {
          process.stdout.write(
            JSON.stringify({
              type: 'summary',
              snapshot: record.id,
              bytesRead: read,
              bytesStored: stored,
              bytesUploaded: result.storedBytes,
              bytesReused: reused,
              parents: [...new Set(record.artifacts.flatMap((a) => (a.parent ? [a.parent] : [])))],
              seconds,
              warnings: result.warningCount,
              notStored: result.notStored,
              leftOut: result.leftOut,
              partial: result.partial,
              commitReadBack: result.commitReadBack,
              hooks: record.hooks ?? [],
            }) + '\n',
          );
        } else {
          for (const a of record.artifacts) {
            say(
              `  ${a.name.padEnd(20)} ${entries(a.entryCount).padStart(16)}  ${humanBytes(a.bytesRead).padStart(10)} read  ${humanBytes(a.storedBytes).padStart(10)} stored ${humanBytes(a.reusedBytes ?? 0).padStart(10)} reused  ${a.volumes.length > 1 ? `${a.volumes.length} volumes` : ''}${a.warningCount ? ` ${counted(a.warningCount, 'warning')}` : ''}\n`,
            );
          }
          if (result.commitReadBack) say(`note: the store's answer to the commit record's PUT was lost; reading it back shows snapshot ${record.id} committed\n`);
          say(
            `snapshot ${record.id} committed to ${store.url}: ${humanBytes(read)} read, ${humanBytes(stored)} stored${reused > 0 ? `, ${humanBytes(reused)} reused from earlier snapshots` : ''} in ${humanDuration(seconds * 1000)} (${humanBytes(Math.round(read / Math.max(seconds, 0.001)))}/s)\n`,
          );
          if (result.leftOut.files > 0)
            process.stderr.write(
              `left out ${result.leftOut.files} ${result.leftOut.files === 1 ? 'file' : 'files'} larger than ${humanBytes(flags.excludeLargerThan ?? 0)} (${humanBytes(result.leftOut.bytes)}; --exclude-larger-than)\n`,
            );
          if (result.partial)
            process.stderr.write(`partial: ${entries(result.notStored)} not stored as they were (see the warnings above and in the snapshot record; exit ${EXIT.PARTIAL})\n`);
          if (level !== 'quiet') process.stdout.write(`${record.id}\n`);
        }
        if (result.postHookFailure) {
          throw new CassetteError(
            'E_HOOK',
            `snapshot ${record.id} was committed, but the post-backup hook \`${result.postHookFailure.command}\` failed with exit ${result.postHookFailure.exitCode}: ${result.postHookFailure.output.trim()}`,
          );
        }
        return result.partial ? EXIT.PARTIAL : EXIT.OK;
      } finally {
        renderer.stop();
        await store.close();
      }
    }, flags.json);
  });
}

/** `--host NAME`: a name to record, not an empty one. */
function hostName(value: string): string {
  if (value.trim() === '' || /[\x00-\x1f\x7f]/.test(value)) throw new CassetteError('E_USAGE', `Expected \`--host\` to be a host name, got ${JSON.stringify(value)}`);
  return value;
}

/** The plan from --runbook (or its old name --profile) or --plan (flags --role, --root, --skip-images, --pg-name applied), if any. */
export async function loadPlan(
  flags: RunbookFlags & {
    plan?: string;
    json?: boolean;
    role?: string;
    root?: string;
    skipImages?: boolean;
    pgName?: Record<string, string>;
  },
): Promise<Plan | undefined> {
  const runbook = runbookName(flags, (message) => {
    if (!flags.json) process.stderr.write(`note: ${message}\n`);
  });
  if (runbook && flags.plan) throw new CassetteError('E_USAGE', 'give --runbook or --plan, not both');
  const base = runbook ? profile(runbook) : flags.plan ? await readPlanFile(flags.plan) : undefined;
  if (!base) {
    if (flags.role || flags.skipImages || flags.root || flags.pgName)
      throw new CassetteError('E_USAGE', '--role, --skip-images, --root and --pg-name apply to a --runbook or --plan');
    return undefined;
  }
  return effectivePlan(base, { role: flags.role, root: flags.root, skipImages: flags.skipImages, pgNames: flags.pgName });
}
