import { describe, expect, it } from 'vitest';
import { isCassetteError } from '../../src/errors.js';
import type { IndexEntry } from '../../src/format/types.js';
import { changesContent, countDiffItem, diffEntries, diffSnapshots, emptyTotals, entryChanges, pairArtifacts, type DiffItem, type EntryChange } from '../../src/inspect/diff.js';
import { artifact, collect, dir, entry, memoryIndexes, record, stream } from '../helpers/index-entries.js';

const ACL = Buffer.from('acl').toString('base64');

describe('entryChanges', () => {
  it.each<{ name: string; after: Partial<IndexEntry>; expected: EntryChange[] }>([
    { name: 'nothing', after: {}, expected: [] },
    { name: 'size', after: { size: 11 }, expected: ['content'] },
    { name: 'same size, other hash', after: { sha256: 'b'.repeat(64) }, expected: ['content'] },
    { name: 'file to symlink', after: { type: 'symlink', size: 0, sha256: undefined, link: 'x' }, expected: ['type', 'content'] },
    { name: 'mode', after: { mode: 0o600 }, expected: ['mode'] },
    { name: 'setuid bit only', after: { mode: 0o4644 }, expected: ['mode'] },
    { name: 'uid', after: { uid: 0 }, expected: ['owner'] },
    { name: 'group name only', after: { gname: 'staff' }, expected: ['owner'] },
    { name: 'mtime nanoseconds', after: { mtime: '1764170000.000000001' }, expected: ['mtime'] },
    { name: 'an xattr added', after: { xattrs: { 'user.a': 'eA==' } }, expected: ['xattrs'] },
    { name: 'an ACL added', after: { xattrs: { 'system.posix_acl_access': ACL } }, expected: ['acl'] },
    { name: 'several at once', after: { size: 1, mode: 0o600, mtime: '1', uid: 2 }, expected: ['content', 'mode', 'owner', 'mtime'] },
  ])('$name', ({ after, expected }) => {
    expect(entryChanges(entry('f'), entry('f', after))).toEqual(expected);
  });

  it('a symlink retargeted and a device renumbered are content changes', () => {
    expect(entryChanges(entry('l', { type: 'symlink', size: 0, link: 'a' }), entry('l', { type: 'symlink', size: 0, link: 'b' }))).toEqual(['content']);
    expect(entryChanges(entry('d', { type: 'chardev', size: 0, devmajor: 1, devminor: 3 }), entry('d', { type: 'chardev', size: 0, devmajor: 1, devminor: 5 }))).toEqual([
      'content',
    ]);
  });

  it('xattrs listed in another order are the same', () => {
    expect(entryChanges(entry('f', { xattrs: { 'user.a': 'YQ==', 'user.b': 'Yg==' } }), entry('f', { xattrs: { 'user.b': 'Yg==', 'user.a': 'YQ==' } }))).toEqual([]);
  });
});

const summary = (items: DiffItem[]): string[] => items.map((item) => `${item.kind} ${item.path}${item.kind === 'changed' ? ` ${item.changes.join(',')}` : ''}`);

describe('diffEntries', () => {
  it.each<{ name: string; before: IndexEntry[]; after: IndexEntry[]; expected: string[] }>([
    { name: 'both empty', before: [], after: [], expected: [] },
    { name: 'all added', before: [], after: [dir('a'), entry('a/x')], expected: ['added a', 'added a/x'] },
    { name: 'all removed', before: [dir('a'), entry('a/x')], after: [], expected: ['removed a', 'removed a/x'] },
    { name: 'the same', before: [dir('a'), entry('a/x')], after: [dir('a'), entry('a/x')], expected: [] },
    {
      // Walk order: a, a/x, a-b (the walk emits a/ and all below it before a-b, though '-' < '/' in bytes).
      name: 'walk order, not byte order: a/x before a-b',
      before: [dir('a'), entry('a/x'), entry('a-b')],
      after: [dir('a'), entry('a/x', { size: 3 }), entry('a-b'), entry('b')],
      expected: ['changed a/x content', 'added b'],
    },
    {
      name: 'interleaved adds and removes',
      before: [entry('a'), entry('c'), entry('e')],
      after: [entry('b'), entry('c', { mode: 0o600 }), entry('d')],
      expected: ['removed a', 'added b', 'changed c mode', 'added d', 'removed e'],
    },
    {
      name: 'a directory replaced by a file with the same name',
      before: [dir('a'), entry('a/x')],
      after: [entry('a', { size: 4 })],
      expected: ['changed a type,content,mode', 'removed a/x'],
    },
  ])('$name', async ({ before, after, expected }) => {
    expect(summary(await collect(diffEntries('t', stream(before), stream(after))))).toEqual(expected);
  });

  it('refuses an index whose entries are out of walk order, naming it', async () => {
    const error: unknown = await collect(diffEntries('t', stream([entry('b'), entry('a')]), stream([]), ['data/x/t.idx.zst', 'other'])).catch((e: unknown) => e);
    expect(isCassetteError(error, 'E_FORMAT')).toBe(true);
    expect((error as Error).message).toContain('data/x/t.idx.zst');
  });
});

describe('changesContent', () => {
  it('keeps additions, removals, content and type changes; drops metadata-only changes', async () => {
    const items = await collect(
      diffEntries(
        't',
        stream([entry('a'), entry('b'), entry('c'), entry('d'), dir('e')]),
        stream([
          entry('a', { size: 1, mode: 0o600 }),
          entry('b', { mode: 0o600, mtime: '2' }),
          entry('d', { type: 'symlink', size: 0, sha256: undefined }),
          dir('e', { uid: 0 }),
          entry('f'),
        ]),
      ),
    );
    expect(summary(items.filter(changesContent))).toEqual(['changed a content,mode', 'removed c', 'changed d type,content', 'added f']);
  });
});

describe('pairArtifacts', () => {
  it('pairs by name and kind (a tree and a database of one name do not pair); the rest are added or removed whole', () => {
    const pairs = pairArtifacts([artifact('etc'), artifact('db', { kind: 'database' }), artifact('old')], [artifact('new'), artifact('etc'), artifact('db')]);
    expect(pairs.map((p) => `${p.before?.name ?? '-'}:${p.after?.name ?? '-'}`)).toEqual(['etc:etc', 'db:-', 'old:-', '-:new', '-:db']);
  });
});

describe('diffSnapshots', () => {
  it('reads the indexes of the artifacts both snapshots hold, and reports the others whole without reading theirs', async () => {
    const a = record('A', [artifact('etc', { index: { key: 'a/etc', size: 0 } }), artifact('gone', { index: { key: 'a/gone', size: 0 }, entryCount: 5, bytesRead: 50 })]);
    const b = record('B', [artifact('etc', { index: { key: 'b/etc', size: 0 } }), artifact('new', { index: { key: 'b/new', size: 0 }, entryCount: 2, bytesRead: 7 })]);
    const indexes = memoryIndexes({ 'a/etc': [dir('x'), entry('x/hosts')], 'b/etc': [dir('x'), entry('x/hosts', { sha256: 'c'.repeat(64) }), entry('x/new', { size: 4 })] });
    const items = await collect(diffSnapshots(a, b, { openIndex: indexes.open }));
    expect(items.map((i) => `${i.kind} ${i.artifact}/${i.path} ${i.entryType}`)).toEqual([
      'changed etc/x/hosts file',
      'added etc/x/new file',
      'removed gone/ artifact',
      'added new/ artifact',
    ]);
    expect(indexes.opened.sort()).toEqual(['a/etc', 'b/etc']);
    const totals = emptyTotals();
    for (const item of items) countDiffItem(totals, item);
    expect(totals).toEqual({
      files: { added: 1, removed: 0, changed: 1 },
      directories: { added: 0, removed: 0, changed: 0 },
      others: { added: 0, removed: 0, changed: 0 },
      artifacts: { added: 1, removed: 1 },
      bytesAdded: 4 + 10 + 7,
      bytesRemoved: 10 + 50,
    });
  });

  it('sorts a database artifact’s entries (pg_dump order) before merging them', async () => {
    const a = record('A', [artifact('pg', { kind: 'database', index: { key: 'a/pg', size: 0 } })]);
    const b = record('B', [artifact('pg', { kind: 'database', index: { key: 'b/pg', size: 0 } })]);
    const indexes = memoryIndexes({
      'a/pg': [entry('toc.dat'), entry('3001.dat'), entry('restore.sql')],
      'b/pg': [entry('toc.dat', { size: 20 }), entry('3001.dat'), entry('3002.dat')],
    });
    const items = await collect(diffSnapshots(a, b, { openIndex: indexes.open }));
    expect(summary(items)).toEqual(['added 3002.dat', 'removed restore.sql', 'changed toc.dat content']);
  });
});
