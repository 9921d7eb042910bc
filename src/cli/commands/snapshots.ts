// `cassette snapshots`: list committed snapshots.

import { Command } from 'commander';
import { listSnapshots } from '../../repository.js';
import { openRepo, run, withRepoOptions, type RepoFlags } from '../common.js';
import { humanBytes, humanDuration } from '../render.js';

export function snapshotsCommand(): Command {
  return withRepoOptions(new Command('snapshots')
    .description('list committed snapshots (incomplete ones, without a commit record, are not shown)'))
    .action(async (flags: RepoFlags) => {
      await run(async () => {
        const store = openRepo(flags);
        try {
          const records = await listSnapshots(store);
          const rows = records.map((r) => {
            const read = r.artifacts.reduce((s, a) => s + a.bytesRead, 0);
            const stored = r.artifacts.reduce((s, a) => s + a.storedBytes, 0);
            return {
              id: r.id,
              time: r.startedAt,
              host: r.host,
              tags: r.tags,
              profile: r.profile,
              role: r.role,
              artifacts: r.artifacts.map((a) => ({
                name: a.name, kind: a.kind, source: a.source, entries: a.entryCount, bytesRead: a.bytesRead, storedBytes: a.storedBytes,
                ...(a.database ? { database: a.database } : {}),
              })),
              bytesRead: read,
              bytesStored: stored,
              ratio: stored > 0 ? read / stored : 0,
              durationSeconds: (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000,
              warnings: r.artifacts.reduce((s, a) => s + a.warningCount, 0),
            };
          });
          if (flags.json) {
            process.stdout.write(JSON.stringify({ repository: store.url, snapshots: rows }, null, 2) + '\n');
            return;
          }
          if (rows.length === 0) {
            process.stdout.write(`no snapshots in ${store.url}\n`);
            return;
          }
          process.stdout.write(`${'ID'.padEnd(24)} ${'TIME'.padEnd(20)} ${'HOST'.padEnd(14)} ${'READ'.padStart(10)} ${'STORED'.padStart(10)} ${'RATIO'.padStart(6)} ${'TOOK'.padStart(9)}  ARTIFACTS  TAGS\n`);
          for (const row of rows) {
            process.stdout.write(`${row.id.padEnd(24)} ${row.time.slice(0, 19).replace('T', ' ').padEnd(20)} ${row.host.slice(0, 14).padEnd(14)} ${humanBytes(row.bytesRead).padStart(10)} ${humanBytes(row.bytesStored).padStart(10)} ${row.ratio.toFixed(2).padStart(6)} ${humanDuration(row.durationSeconds * 1000).padStart(9)}  ${row.artifacts.map((a) => a.name).join(',')}  ${row.tags.join(',')}\n`);
            for (const a of row.artifacts) {
              if (!a.database) continue;
              const db = a.database;
              process.stdout.write(`${''.padEnd(24)} database ${db.name}: pg_dump ${db.dumpFormat === 'tar' ? '-Ft' : '-Fc'}, ${humanBytes(a.bytesRead)} dump${db.databaseSize ? ` of a ${humanBytes(db.databaseSize)} database` : ''}${db.tocEntries !== undefined ? `, ${db.tocEntries} TOC entries` : ''}${db.serverVersion ? `, server ${db.serverVersion}` : ''}\n`);
            }
          }
          process.stdout.write(`${rows.length} snapshot${rows.length === 1 ? '' : 's'} in ${store.url}\n`);
        } finally {
          await store.close();
        }
      }, flags.json);
    });
}
