// `cassette bench`: measure read, compression and storage throughput on the user's own machine and endpoint.

import { Command, Option } from 'commander';
import { runUserBench } from '../../bench/user-bench.js';
import { collect, openRepo, parseSize, run, withRepoOptions, type RepoFlags } from '../common.js';
import { humanBytes } from '../render.js';

interface BenchFlags extends RepoFlags {
  path?: string;
  readLimit: number;
  transfer: number;
  level?: string[];
}

export function benchCommand(): Command {
  return withRepoOptions(
    new Command('bench')
      .description(
        'measure read speed of a path, zstd speed per level and thread count, and upload/download throughput of the repository across part sizes and concurrency; recommend settings',
      )
      .option('--path <dir>', 'directory to read and to sample for compression (default: synthetic mixed data)')
      .addOption(new Option('--read-limit <size>', 'read at most this much of --path').argParser(parseSize('read-limit')).default(512 * 1024 * 1024, '512MiB'))
      .addOption(new Option('--transfer <size>', 'bytes per upload/download trial').argParser(parseSize('transfer')).default(64 * 1024 * 1024, '64MiB'))
      .option('--level <n>', 'zstd levels to try (repeatable; default 1, 3, 6)', collect),
  ).action(async (flags: BenchFlags) => {
    await run(async () => {
      const store = openRepo(flags);
      try {
        const MiB = 1024 * 1024;
        const report = await runUserBench({
          store,
          path: flags.path,
          readLimit: flags.readLimit,
          transferBytes: flags.transfer,
          levels: (flags.level ?? ['1', '3', '6']).map(Number),
          partSizes: [8 * MiB, 16 * MiB, 32 * MiB],
          concurrencies: [2, 4, 8],
          onResult: (r) => {
            if (flags.json) process.stdout.write(JSON.stringify({ type: 'result', ...r }) + '\n');
            else
              process.stdout.write(
                `${r.test.padEnd(9)} ${Object.entries(r.settings)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' ')
                  .padEnd(
                    36,
                  )} ${humanBytes(r.bytes).padStart(10)} in ${r.seconds.toFixed(2)} s = ${r.mbPerSecond.toFixed(0).padStart(5)} MB/s${r.ratio !== undefined ? `  ratio ${(r.ratio * 100).toFixed(1)}%` : ''}\n`,
              );
          },
        });
        const rec = report.recommendation;
        if (flags.json) process.stdout.write(JSON.stringify({ type: 'recommendation', ...rec }) + '\n');
        else
          process.stdout.write(
            `\nrecommended: cassette backup --level ${rec.compressionLevel} --threads ${rec.threads} --part-size ${rec.partSize / 1024 / 1024}MiB --upload-queue ${rec.uploadConcurrency}\n${rec.reasons.map((r) => `  - ${r}`).join('\n')}\n`,
          );
      } finally {
        await store.close();
      }
    }, flags.json);
  });
}
