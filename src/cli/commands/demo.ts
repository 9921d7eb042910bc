// `cassette demo` (npm start): the main job end to end on a generated appliance-shaped tree and a loopback S3 server.

import { Command } from 'commander';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { backup } from '../../backup/backup.js';
import { DEFAULTS } from '../../defaults.js';
import { CassetteError } from '../../errors.js';
import { compareTrees } from '../../demo/compare-trees.js';
import { generateSampleTree, SAMPLE_SIZES, UTILITY_IMAGES } from '../../demo/sample-tree.js';
import { listSnapshots } from '../../repository.js';
import { restoreRecord } from '../../restore/restore.js';
import { openStore } from '../../store/open-store.js';
import type { ObjectStore } from '../../store/object-store.js';
import { run } from '../common.js';
import { humanBytes, humanDuration } from '../render.js';
import { counted } from '../words.js';

interface DemoFlags {
  keep?: boolean;
  local?: boolean;
}

/** Starts @20minutes/s3rver on loopback when it is installed (it is a dev dependency). */
async function startS3(directory: string): Promise<{ endpoint: string; close: () => Promise<void> } | undefined> {
  let S3rver: new (options: Record<string, unknown>) => { run(): Promise<{ port: number }>; close(): Promise<void> };
  try {
    S3rver = ((await import('@20minutes/s3rver' as string)) as { default: typeof S3rver }).default;
  } catch {
    return undefined;
  }
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, allowMismatchedSignatures: true, configureBuckets: [{ name: 'demo' }] });
  const { port } = await server.run();
  return { endpoint: `http://127.0.0.1:${port}`, close: () => server.close() };
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('generate a small appliance-shaped tree, back it up to a loopback S3 server, restore part and all of it, and verify')
    .option('--keep', 'keep the temporary directory')
    .option('--local', `use the embedded default repository ${DEFAULTS.localRepository} instead of a loopback S3 server`)
    .action(async (flags: DemoFlags) => {
      await run(async () => {
        const say = (line: string): void => void process.stdout.write(line + '\n');
        const work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-demo-'));
        const tree = path.join(work, 'appliance');
        let s3: Awaited<ReturnType<typeof startS3>>;
        let store: ObjectStore | undefined;
        try {
          say(`1. generating a control-node-shaped tree in ${tree}`);
          const generated = await generateSampleTree({ root: tree, seed: 7, ...SAMPLE_SIZES.demo });
          say(`   ${counted(generated.files, 'file')}, ${humanBytes(generated.bytes)} (images incl. ${UTILITY_IMAGES.join(', ')}, configs, keys, binaries, logs, links)`);

          s3 = flags.local ? undefined : await startS3(path.join(work, 's3'));
          if (s3) {
            // s3rver's built-in account.
            process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
            process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
            process.env.AWS_REGION ??= 'us-east-1';
            store = openStore('s3://demo/cassette', { endpoint: s3.endpoint });
            say(`2. started an S3 server on ${s3.endpoint}; repository ${store.url}`);
          } else {
            store = openStore(DEFAULTS.localRepository);
            say(`2. using the embedded default repository ${store.url}`);
          }

          const sources = ['cassatt', 'etc', 'root', 'opt', 'var', 'usr', 'lib'].map((name) => ({ kind: 'tree' as const, path: path.join(tree, name), name }));
          let started = Date.now();
          const { record } = await backup({ store, sources, tags: ['demo'] });
          const backupMs = Date.now() - started;
          const read = record.artifacts.reduce((s, a) => s + a.bytesRead, 0);
          const stored = record.artifacts.reduce((s, a) => s + a.storedBytes, 0);
          say(
            `3. backed up ${counted(record.artifacts.length, 'artifact')}: ${humanBytes(read)} read, ${humanBytes(stored)} stored (ratio ${(read / stored).toFixed(2)}) in ${humanDuration(backupMs)}, ${humanBytes(Math.round(read / (backupMs / 1000)))}/s`,
          );

          const snapshots = await listSnapshots(store);
          say(`4. snapshots in the repository: ${snapshots.map((s) => `${s.id} [${s.artifacts.map((a) => a.name).join(',')}]`).join('; ')}`);

          started = Date.now();
          const partial = await restoreRecord(record, { store, snapshot: record.id, target: path.join(work, 'restore-etc'), include: ['etc/**'] });
          const partialMs = Date.now() - started;
          const etcDiffs = await compareTrees(path.join(tree, 'etc'), path.join(work, 'restore-etc', 'etc'));
          say(
            `5. restored etc/** selectively: ${counted(partial.files, 'file')}, ${humanBytes(partial.bytes)}, downloaded ${humanBytes(partial.downloadBytes)} of ${humanBytes(stored)} stored, in ${humanDuration(partialMs)}: ${etcDiffs.length === 0 ? 'identical to the source' : counted(etcDiffs.length, 'difference')}`,
          );

          started = Date.now();
          const full = await restoreRecord(record, { store, snapshot: record.id, target: path.join(work, 'restore-all') });
          const fullMs = Date.now() - started;
          const allDiffs = (await Promise.all(sources.map((s) => compareTrees(s.path, path.join(work, 'restore-all', s.name))))).flat();
          say(
            `6. restored everything: ${counted(full.files, 'file')}, ${humanBytes(full.bytes)} in ${humanDuration(fullMs)}, ${humanBytes(Math.round(full.bytes / (fullMs / 1000)))}/s: ${allDiffs.length === 0 ? 'identical to the source (content, modes, mtimes, links)' : counted(allDiffs.length, 'difference')}`,
          );

          // An incremental backup: one file changed; unchanged files are not read, unchanged frames not stored again.
          await fs.appendFile(path.join(tree, 'etc/hosts'), '10.0.0.3 node3\n');
          started = Date.now();
          const { record: next, reusedBytes } = await backup({ store, sources, tags: ['demo'] });
          const nextMs = Date.now() - started;
          const nextRead = next.artifacts.reduce((s, a) => s + a.bytesRead, 0);
          const nextStored = next.artifacts.reduce((s, a) => s + a.storedBytes, 0);
          await restoreRecord(next, { store, snapshot: next.id, target: path.join(work, 'restore-next'), include: ['etc/**'] });
          const nextDiffs = await compareTrees(path.join(tree, 'etc'), path.join(work, 'restore-next', 'etc'));
          say(
            `7. changed etc/hosts and backed up again: ${humanBytes(nextRead)} read, ${humanBytes(nextStored)} stored, ${humanBytes(reusedBytes)} reused from the first snapshot, in ${humanDuration(nextMs)}; etc/** restored from it: ${nextDiffs.length === 0 ? 'identical to the source' : `${nextDiffs.length} differences`}`,
          );

          const diffs = [...etcDiffs, ...allDiffs, ...nextDiffs];
          if (diffs.length > 0) {
            for (const d of diffs.slice(0, 10)) say(`   ${d.path}: ${d.what}`);
            throw new CassetteError('E_INTEGRITY', 'the demo restore does not match its source');
          }
          say(`done. Try: npx cassette --help${flags.keep ? `; files kept in ${work}` : ''}`);
        } finally {
          await store?.close();
          await s3?.close();
          if (!flags.keep) await fs.rm(work, { recursive: true, force: true });
        }
      });
    });
}
