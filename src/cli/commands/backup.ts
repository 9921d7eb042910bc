// `cassette backup`: parse flags, call the backup engine, print a summary.

import { Command } from 'commander';
import { backup, type BackupSource } from '../../backup/backup.js';
import { DEFAULTS } from '../../defaults.js';
import { CassetteError } from '../../errors.js';
import { collect, interruptSignal, openRepo, parseInteger, parseSize, run, withRepoOptions, type RepoFlags } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { createRenderer, humanBytes, humanDuration } from '../render.js';

interface BackupFlags extends RepoFlags {
  exclude?: string[];
  oneFileSystem: boolean;
  tag?: string[];
  level?: number;
  frameSize?: number;
  threads?: number;
}

export function backupCommand(): Command {
  return withRepoOptions(new Command('backup')
    .description('back up directories (one artifact each) into a new snapshot')
    .argument('[paths...]', 'directories or files to back up')
    .option('-e, --exclude <glob>', 'leave out matching paths (repeatable): "/abs/path", "rel/path/**" or a name like "*.tmp"', collect)
    .option('--one-file-system', 'do not cross mount points (default)', true)
    .option('--no-one-file-system', 'descend into other file systems mounted below a source')
    .option('-t, --tag <tag>', 'tag the snapshot (repeatable)', collect)
    .option('--level <n>', `zstd level 1-19 (default ${DEFAULTS.compressionLevel})`, parseInteger('level', 1, 19))
    .option('--frame-size <size>', 'uncompressed bytes per zstd frame (default 4MiB)', parseSize('frame-size'))
    .option('--threads <n>', 'compression threads (default: one per core)', parseInteger('threads', 1, 256)))
    .action(async (paths: string[], flags: BackupFlags) => {
      await run(async () => {
        if (paths.length === 0) throw new CassetteError('E_USAGE', 'give at least one path to back up, e.g. `cassette backup /etc`');
        const store = openRepo(flags);
        const renderer = createRenderer({ json: !!flags.json });
        const sources: BackupSource[] = paths.map((p) => ({ kind: 'tree', path: p }));
        try {
          const started = Date.now();
          const result = await backup({
            store,
            sources,
            exclude: flags.exclude,
            oneFileSystem: flags.oneFileSystem,
            tags: flags.tag,
            compressionLevel: flags.level,
            frameSize: flags.frameSize,
            threads: flags.threads,
            signal: interruptSignal(),
            progress: renderer,
          });
          renderer.stop();
          const { record } = result;
          const read = record.artifacts.reduce((s, a) => s + a.bytesRead, 0);
          const stored = record.artifacts.reduce((s, a) => s + a.storedBytes, 0);
          const seconds = (Date.now() - started) / 1000;
          if (flags.json) {
            process.stdout.write(JSON.stringify({ type: 'summary', snapshot: record.id, bytesRead: read, bytesStored: stored, seconds, warnings: result.warningCount, partial: result.partial }) + '\n');
          } else {
            for (const a of record.artifacts) {
              process.stderr.write(`  ${a.name.padEnd(20)} ${String(a.entryCount).padStart(8)} entries  ${humanBytes(a.bytesRead).padStart(10)} read  ${humanBytes(a.storedBytes).padStart(10)} stored  ${a.volumes.length > 1 ? `${a.volumes.length} volumes` : ''}${a.warningCount ? ` ${a.warningCount} warnings` : ''}\n`);
            }
            process.stderr.write(`snapshot ${record.id} committed to ${store.url}: ${humanBytes(read)} read, ${humanBytes(stored)} stored in ${humanDuration(seconds * 1000)} (${humanBytes(Math.round(read / Math.max(seconds, 0.001)))}/s)\n`);
            if (result.partial) process.stderr.write(`partial: ${result.warningCount} warnings, some files could not be read completely (exit ${EXIT.PARTIAL})\n`);
            process.stdout.write(`${record.id}\n`);
          }
          return result.partial ? EXIT.PARTIAL : EXIT.OK;
        } finally {
          renderer.stop();
          await store.close();
        }
      }, flags.json);
    });
}
