// liveObjects / splitObjects: which objects of a removed snapshot's data/<id>/ go, and which stay because snapshots that stay name them (FORMAT.md §7).

import { describe, expect, it } from 'vitest';
import type { ArtifactRecord, CommitRecord } from '../../src/format/types.js';
import { keptSummary, liveObjects, splitObjects, type KeptObject } from '../../src/prune/plan-objects.js';
import type { ObjectInfo } from '../../src/store/object-store.js';

const S1 = '20261201T010000Z-111111';
const S2 = '20261202T010000Z-222222';
const S3 = '20261203T010000Z-333333';
const S4 = '20261204T010000Z-444444';
const vol = (id: string, artifact = 'etc', n = 1): string => (n === 1 ? `data/${id}/${artifact}.tar.zst` : `data/${id}/${artifact}.vol${n}.tar.zst`);
const idx = (id: string, artifact = 'etc'): string => `data/${id}/${artifact}.idx.zst`;
const rcp = (id: string, artifact = 'etc'): string => `data/${id}/${artifact}.recipe`;

/** An artifact with one volume of 1000 bytes (unless `volumes` says otherwise), an index of 10, a recipe of 5 when version 2, and the given references. */
function artifact(id: string, options: { name?: string; volumes?: number; references?: Array<[string, number]>; v1?: boolean } = {}): ArtifactRecord {
  const name = options.name ?? 'etc';
  return {
    name,
    kind: 'tree',
    source: `/${name}`,
    volumes: Array.from({ length: options.volumes ?? 1 }, (_, i) => ({ key: vol(id, name, i + 1), size: 1000, sha256: 'a'.repeat(64), frames: 4 })),
    index: { key: idx(id, name), size: 10 },
    ...(options.v1 ? {} : { recipe: { key: rcp(id, name), size: 5, sha256: 'b'.repeat(64) } }),
    ...(options.references ? { references: options.references.map(([key, bytes]) => ({ key, size: 1000, sha256: 'c'.repeat(64), frames: 1, bytes })) } : {}),
    bytesRead: 0,
    tarBytes: 0,
    storedBytes: 1000,
    frameCount: 4,
    entryCount: 1,
    warnings: [],
    warningCount: 0,
  };
}

const snapshot = (id: string, ...artifacts: ArtifactRecord[]): Pick<CommitRecord, 'id' | 'artifacts'> => ({ id, artifacts });

/** What data/<id>/ holds, as listed: every object the snapshot wrote, each 1000 bytes unless an index (10) or recipe (5). */
const listed = (...keys: string[]): ObjectInfo[] => keys.map((key) => ({ key, size: key.endsWith('.idx.zst') ? 10 : key.endsWith('.recipe') ? 5 : 1000 }));

describe('liveObjects', () => {
  it('names every volume, index, recipe and reference of the snapshots given, with who names it and the bytes in use', () => {
    const live = liveObjects([
      snapshot(S2, artifact(S2, { references: [[vol(S1), 300]] })),
      snapshot(
        S3,
        artifact(S3, {
          references: [
            [vol(S1), 200],
            [vol(S2), 700],
          ],
        }),
        artifact(S3, { name: 'srv', v1: true }),
      ),
    ]);
    expect(Object.fromEntries(live)).toEqual({
      [vol(S2)]: { namedBy: [S2, S3], usedBytes: 1000 },
      [idx(S2)]: { namedBy: [S2], usedBytes: 10 },
      [rcp(S2)]: { namedBy: [S2], usedBytes: 5 },
      [vol(S1)]: { namedBy: [S2, S3], usedBytes: 300 },
      [vol(S3)]: { namedBy: [S3], usedBytes: 1000 },
      [idx(S3)]: { namedBy: [S3], usedBytes: 10 },
      [rcp(S3)]: { namedBy: [S3], usedBytes: 5 },
      [vol(S3, 'srv')]: { namedBy: [S3], usedBytes: 1000 },
      [idx(S3, 'srv')]: { namedBy: [S3], usedBytes: 10 },
    });
  });

  it('counts a snapshot once when two of its artifacts read the same object', () => {
    const live = liveObjects([snapshot(S3, artifact(S3, { references: [[vol(S1), 100]] }), artifact(S3, { name: 'srv', references: [[vol(S1), 400]] }))]);
    expect(live.get(vol(S1))).toEqual({ namedBy: [S3], usedBytes: 400 });
  });

  it('is empty when nothing stays', () => {
    expect(liveObjects([]).size).toBe(0);
  });
});

describe('splitObjects', () => {
  // Three snapshots: S2 reads 300 bytes of S1's volume; S3 reads 200 of S1's and 700 of S2's second volume.
  const s1 = snapshot(S1, artifact(S1));
  const s2 = snapshot(S2, artifact(S2, { volumes: 2, references: [[vol(S1), 300]] }));
  const s3 = snapshot(
    S3,
    artifact(S3, {
      references: [
        [vol(S1), 200],
        [vol(S2, 'etc', 2), 700],
      ],
    }),
  );
  const s4 = snapshot(S4, artifact(S4));
  const data: Record<string, ObjectInfo[]> = {
    [S1]: listed(vol(S1), idx(S1), rcp(S1)),
    [S2]: listed(vol(S2), vol(S2, 'etc', 2), idx(S2), rcp(S2)),
    [S3]: listed(vol(S3), idx(S3), rcp(S3)),
    // A stray object no record names (a retried upload's leftover): it goes with its snapshot.
    [S4]: listed(vol(S4), idx(S4), rcp(S4), `data/${S4}/etc.tar.zst.partial`),
  };
  const kept = (key: string, usedBytes: number, ...referencedBy: string[]): KeptObject => ({ key, size: 1000, usedBytes, referencedBy });

  it.each<[string, string, Array<Pick<CommitRecord, 'id' | 'artifacts'>>, { remove: string[]; keep: KeptObject[] }]>([
    ['S1 removed, S2 and S3 stay: its volume stays for both, at the larger use', S1, [s2, s3], { remove: [idx(S1), rcp(S1)], keep: [kept(vol(S1), 300, S2, S3)] }],
    ["S1 and S2 removed, S3 stays: S1's volume stays for S3 alone, at its use", S1, [s3], { remove: [idx(S1), rcp(S1)], keep: [kept(vol(S1), 200, S3)] }],
    ['S2 removed, S3 stays: only the volume S3 reads stays', S2, [s1, s3], { remove: [vol(S2), idx(S2), rcp(S2)], keep: [kept(vol(S2, 'etc', 2), 700, S3)] }],
    ['S3 removed: nothing of it is referenced', S3, [s1, s2, s4], { remove: [vol(S3), idx(S3), rcp(S3)], keep: [] }],
    ['S1 removed, only an unrelated S4 stays: all of S1 goes', S1, [s4], { remove: [vol(S1), idx(S1), rcp(S1)], keep: [] }],
    ['S4 removed: the stray object goes too', S4, [s1, s2, s3], { remove: [vol(S4), idx(S4), rcp(S4), `data/${S4}/etc.tar.zst.partial`], keep: [] }],
    ['S1 removed, nothing stays', S1, [], { remove: [vol(S1), idx(S1), rcp(S1)], keep: [] }],
  ])('%s', (_label, removed, staying, expected) => {
    const split = splitObjects(data[removed]!, liveObjects(staying));
    expect({ remove: split.remove.map((o) => o.key), keep: split.keep }).toEqual(expected);
  });

  it('reports at most the listed size as in use (a record that claims more bytes than the object has)', () => {
    const split = splitObjects(listed(vol(S1)), liveObjects([snapshot(S2, artifact(S2, { references: [[vol(S1), 5000]] }))]));
    expect(split.keep).toEqual([kept(vol(S1), 1000, S2)]);
  });

  it('sums what stays', () => {
    const split = splitObjects([...data[S1]!, ...data[S2]!], liveObjects([s3]));
    expect(keptSummary(split.keep)).toEqual({ keptObjects: 2, keptBytes: 2000, keptUsedBytes: 900, kept: [kept(vol(S1), 200, S3), kept(vol(S2, 'etc', 2), 700, S3)] });
  });
});
