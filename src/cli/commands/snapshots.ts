// `cassette snapshots`: list committed snapshots, with the bytes each stored and (version 2) reused from earlier ones.

import { storeForReading } from '../../crypto/repository-encryption.js';
import type { KeyFlags } from '../../crypto/keys.js';
import { withIdentityOptions } from '../keys.js';
import { Command } from 'commander';
import type { ArtifactRecord } from '../../format/types.js';
import { listSnapshots } from '../../repository.js';
import { openRepo, run, withRepoOptions, type RepoFlags } from '../common.js';
import { humanBytes } from '../render.js';
import { cut, DEFAULT_TABLE_WIDTH, snapshotTable } from '../snapshot-table.js';
import { counted } from '../words.js';
import { snapshotFilter, withSnapshotFilterOptions, type SnapshotFilterFlags } from '../snapshot-filter.js';
import { describeFilter, matchesFilter } from '../../snapshot-filter.js';

/** What an artifact stored, and (version 2) reused from earlier snapshots: `--json` prints these per artifact. */
interface ArtifactReuse {
  /** Compressed bytes of this snapshot's own volumes (new frames, seek tables). */
  storedBytes: number;
  /** Compressed bytes of the frames read from earlier snapshots' objects; 0 in version 1. */
  reusedBytes: number;
  newFrames: number;
  /** 0 in version 1. */
  reusedFrames: number;
  /** The snapshot this artifact was compared with; null in version 1 and for a full backup. */
  parent: string | null;
}

interface ArtifactRow extends ArtifactReuse {
  name: string;
  kind: ArtifactRecord['kind'];
  source: string;
  entries: number;
  bytesRead: number;
  database?: ArtifactRecord['database'];
}

/** One snapshot as `--json` prints it; the byte and frame counts are sums over its artifacts. */
interface SnapshotRow extends Omit<ArtifactReuse, 'parent'> {
  id: string;
  time: string;
  host: string;
  tags: string[];
  profile?: string;
  role?: string;
  /** Format version of the commit record: version 1 reuses nothing (the text output shows '-'). */
  version: number;
  /** Version 3: the recipients' fingerprint of an encrypted snapshot; null when it is not encrypted. */
  encryptedTo: string | null;
  /** An encrypted snapshot that no key given opened: its artifacts show their stored names (a1, a2…) and no source. */
  sealed: boolean;
  artifacts: ArtifactRow[];
  bytesRead: number;
  /** The same as storedBytes, under its name from before version 2. */
  bytesStored: number;
  ratio: number;
  durationSeconds: number;
  warnings: number;
}

export function snapshotsCommand(): Command {
  return withSnapshotFilterOptions(
    withIdentityOptions(withRepoOptions(new Command('snapshots').description('list committed snapshots (incomplete ones, without a commit record, are not shown)'))),
  ).action(async (flags: RepoFlags & KeyFlags & SnapshotFilterFlags) => {
    await run(async () => {
      const store = await storeForReading(openRepo(flags), flags);
      try {
        const filter = snapshotFilter(flags);
        const records = (await listSnapshots(store)).filter((r) => matchesFilter(r, filter));
        const rows = records.map((r): SnapshotRow => {
          const artifacts = r.artifacts.map((a): ArtifactRow => ({
            name: a.name,
            kind: a.kind,
            source: a.source,
            entries: a.entryCount,
            bytesRead: a.bytesRead,
            ...reuseOf(a),
            ...(a.database ? { database: a.database } : {}),
          }));
          const read = r.artifacts.reduce((s, a) => s + a.bytesRead, 0);
          const stored = artifacts.reduce((s, a) => s + a.storedBytes, 0);
          return {
            id: r.id,
            time: r.startedAt,
            host: r.host,
            tags: r.tags,
            profile: r.profile,
            role: r.role,
            version: r.version,
            encryptedTo: r.encryption?.recipients ?? null,
            sealed: r.sealed !== undefined,
            artifacts,
            bytesRead: read,
            bytesStored: stored,
            storedBytes: stored,
            reusedBytes: artifacts.reduce((s, a) => s + a.reusedBytes, 0),
            newFrames: artifacts.reduce((s, a) => s + a.newFrames, 0),
            reusedFrames: artifacts.reduce((s, a) => s + a.reusedFrames, 0),
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
          process.stdout.write(`no snapshots${filter ? ` with ${describeFilter(filter)}` : ''} in ${store.url}\n`);
          return;
        }
        const width = process.stdout.isTTY ? process.stdout.columns : DEFAULT_TABLE_WIDTH;
        const table = snapshotTable(
          rows.map((row) => ({
            ...row,
            reusedBytes: row.version >= 2 ? row.reusedBytes : undefined,
            artifacts: row.sealed ? `(encrypted: ${row.artifacts.length})` : row.artifacts.map((a) => a.name).join(','),
          })),
          width,
        );
        process.stdout.write(table.header + '\n');
        for (const [i, row] of rows.entries()) {
          process.stdout.write(table.rows[i]!.join('\n') + '\n');
          for (const a of row.artifacts) {
            if (!a.database) continue;
            const db = a.database;
            const line = `${''.padEnd(24)} database ${db.name}: pg_dump ${db.dumpFormat === 'tar' ? '-Ft' : '-Fc'}, ${humanBytes(a.bytesRead)} dump${db.databaseSize ? ` of a ${humanBytes(db.databaseSize)} database` : ''}${db.tocEntries !== undefined ? `, ${db.tocEntries} TOC entries` : ''}${db.serverVersion ? `, server ${db.serverVersion}` : ''}`;
            process.stdout.write(cut(line, width) + '\n');
          }
        }
        process.stdout.write(`${counted(rows.length, 'snapshot')}${filter ? ` with ${describeFilter(filter)}` : ''} in ${store.url}\n`);
        const sealed = rows.filter((row) => row.sealed).length;
        if (sealed > 0)
          process.stdout.write(
            `${sealed} of them encrypted to keys not given: their artifact names show with --identity FILE or the passphrase (CASSETTE_IDENTITY, CASSETTE_PASSPHRASE)\n`,
          );
      } finally {
        await store.close();
      }
    }, flags.json);
  });
}

/**
 * What an artifact stored and what it reused. Version 1 reuses nothing: all its frames are new and
 * it has no parent. A version-2 record without the counters (none is written so) falls back on
 * its volumes and references.
 */
function reuseOf(artifact: ArtifactRecord): ArtifactReuse {
  const references = artifact.references ?? [];
  return {
    storedBytes: artifact.storedBytes,
    reusedBytes: artifact.reusedBytes ?? references.reduce((s, r) => s + r.bytes, 0),
    newFrames: artifact.newFrames ?? artifact.volumes.reduce((s, v) => s + v.frames, 0),
    reusedFrames: artifact.reusedFrames ?? references.reduce((s, r) => s + r.frames, 0),
    parent: artifact.parent ?? null,
  };
}
