import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { packFrames, type PackedFrame } from '../../src/backup/pack.js';
import { matchParent, ParentArtifact } from '../../src/backup/parent.js';
import { prefetch } from '../../src/backup/prefetch.js';
import { walk, type WalkItem } from '../../src/backup/walk.js';
import { compareTrees } from '../../src/demo/compare-trees.js';
import { DEFAULTS } from '../../src/defaults.js';
import type { BackupWarning, IndexEntry } from '../../src/format/types.js';
import { restore } from '../../src/restore/restore.js';
import { LocalStore } from '../../src/store/local-store.js';

const MiB = 1024 * 1024;
let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'cassette-incremental-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function makeTree(root: string): Promise<void> {
  await fs.mkdir(path.join(root, 'etc/conf.d'), { recursive: true });
  await fs.mkdir(path.join(root, 'images'), { recursive: true });
  for (let i = 0; i < 300; i++)
    await fs.writeFile(path.join(root, 'etc/conf.d', `item${String(i).padStart(3, '0')}.conf`), `key${i} = ${randomBytes(200 + (i % 50) * 40).toString('base64')}\n`);
  await fs.writeFile(path.join(root, 'images/disk.img'), randomBytes(24 * MiB));
  await fs.symlink('images/disk.img', path.join(root, 'current'));
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

async function decodeTar(stream: Buffer): Promise<Array<{ name: string; data: Buffer }>> {
  const extract = tar.extract();
  const members: Array<{ name: string; data: Buffer }> = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      members.push({ name: entry.header.name, data: Buffer.concat(chunks) });
    }
  })();
  extract.end(stream);
  await reading;
  return members;
}

describe('incremental backups through the library (LocalStore)', () => {
  it('reads nothing and stores nothing for an unchanged tree; after changes, stores only their frames and restores exactly', async () => {
    const root = path.join(work, 'tree');
    await makeTree(root);
    const store = new LocalStore(path.join(work, 'repo'));
    const source = { kind: 'tree' as const, path: root, name: 'tree' };
    const first = await backup({ store, sources: [source], threads: 2 });
    const full = first.record.artifacts[0]!;
    expect(full.references).toEqual([]);
    expect(full.newFrames).toBe(full.frameCount);

    const second = await backup({ store, sources: [source], threads: 2 });
    const same = second.record.artifacts[0]!;
    expect(same.parent).toBe(first.record.id);
    expect({ bytesRead: same.bytesRead, storedBytes: same.storedBytes, volumes: same.volumes.length, newFrames: same.newFrames }).toEqual({
      bytesRead: 0,
      storedBytes: 0,
      volumes: 0,
      newFrames: 0,
    });
    expect(same.reusedFrames).toBe(full.frameCount);
    expect(same.references!.map((r) => r.key)).toEqual(full.volumes.map((v) => v.key));

    // One config file, and 1 MiB in the middle of the image (same size: an in-place write).
    await fs.appendFile(path.join(root, 'etc/conf.d/item150.conf'), 'changed = yes\n');
    const image = await fs.open(path.join(root, 'images/disk.img'), 'r+');
    await image.write(randomBytes(MiB), 0, MiB, 12 * MiB);
    await image.close();
    const third = await backup({ store, sources: [source], threads: 2 });
    const changed = third.record.artifacts[0]!;
    expect(changed.parent).toBe(second.record.id);
    // The image is read again (its mtime changed); the 299 other config files are not, unless they share the changed file's frame.
    expect(changed.bytesRead).toBeLessThan(24 * MiB + 300 * 2400);
    expect(changed.bytesRead).toBeGreaterThanOrEqual(24 * MiB);
    // Stored: the image's headers, the chunks the change touches and those until the cuts fall into
    // step again (for 1 MiB rewritten in random data: a median 4.0 MiB, at most 10.7 MiB in 20
    // trials, defaults.ts), and one small frame.
    expect(changed.storedBytes).toBeLessThan(12 * MiB);
    expect(changed.storedBytes).toBeGreaterThan(MiB);
    expect(changed.reusedBytes).toBeGreaterThan(full.storedBytes - 12 * MiB);
    // Frames come straight from the first snapshot's object (no hop through the second).
    expect(changed.references!.map((r) => r.key)).toEqual(full.volumes.map((v) => v.key));

    const target = path.join(work, 'restored');
    await restore({ store, snapshot: third.record.id, target });
    expect(await compareTrees(root, path.join(target, 'tree'))).toEqual([]);
  });

  // With attributes, the packer notices the vanished file when it lists them; without, only when it
  // reads the file into the rebuilt frame, and then takes it out of the frame (the members after it move up).
  it.each([true, false])(
    'a frame with a changed member is rebuilt: its unchanged files are read then, and one that vanished meanwhile is left out with a warning (xattrs %s)',
    async (xattrs) => {
      const root = path.join(work, `holes-${String(xattrs)}`);
      await fs.mkdir(root);
      // Few small files: they share one frame.
      const contents = new Map<string, Buffer>();
      for (const name of ['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt']) {
        contents.set(name, randomBytes(3000));
        await fs.writeFile(path.join(root, name), contents.get(name)!);
      }
      const store = new LocalStore(path.join(work, `repo-holes-${String(xattrs)}`));
      const { record } = await backup({ store, sources: [{ kind: 'tree', path: root, name: 'holes' }], threads: 1, xattrs });
      const parent = await ParentArtifact.open(store, record, record.artifacts[0]!);
      try {
        contents.set('d.txt', randomBytes(3000));
        await fs.writeFile(path.join(root, 'd.txt'), contents.get('d.txt')!);
        const items: WalkItem[] = await collect(walk({ root }));
        // b.txt is unchanged by its metadata when walked, and gone when its frame is rebuilt.
        await fs.rm(path.join(root, 'b.txt'));
        contents.delete('b.txt');
        const warnings: BackupWarning[] = [];
        let read = 0;
        const frames: PackedFrame[] = await collect(
          packFrames(prefetch(matchParent(fromArray(items), parent, false), { maxFileSize: DEFAULTS.prefetchFileSize }), {
            frameSize: DEFAULTS.frameSize,
            smallFrames: DEFAULTS.smallFrames,
            chunks: DEFAULTS.chunks,
            parent,
            xattrs,
            onWarning: (w) => warnings.push(w),
            onBytesRead: (n) => (read += n),
          }),
        );
        expect(warnings.map((w) => [w.code, w.path])).toEqual([['W_VANISHED', 'b.txt']]);
        expect(frames.map((f) => f.kind)).toEqual(['new', 'new']); // the files' frame, rebuilt; the end-of-archive frame (same digest as the parent's, found later by the pool)
        // d.txt was read by the prefetch; a, c and e as holes of the rebuilt frame.
        expect(read).toBe(4 * 3000);
        const stream = Buffer.concat(frames.map((f) => (f.kind === 'new' ? f.data : Buffer.alloc(0))));
        const entries: IndexEntry[] = frames.flatMap((f) => f.entries);
        expect(entries.map((e) => e.path)).toEqual(['', 'a.txt', 'c.txt', 'd.txt', 'e.txt'].filter((p) => p !== ''));
        for (const entry of entries) {
          const data = stream.subarray(entry.dataOffset, entry.dataOffset + entry.size);
          expect({ path: entry.path, ok: data.equals(contents.get(entry.path)!), sha: entry.sha256 }).toEqual({
            path: entry.path,
            ok: true,
            sha: createHash('sha256').update(data).digest('hex'),
          });
        }
        const members = await decodeTar(stream);
        expect(members.map((m) => m.name)).toEqual(['a.txt', 'c.txt', 'd.txt', 'e.txt']);
      } finally {
        parent.close();
      }
    },
  );
});
