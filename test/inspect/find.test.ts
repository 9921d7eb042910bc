import { describe, expect, it } from 'vitest';
import { isCassetteError } from '../../src/errors.js';
import { artifactsToSearch, findEntries } from '../../src/inspect/find.js';
import { artifact, collect, dir, entry, memoryIndexes, record } from '../helpers/index-entries.js';

const etc = [dir('ssh'), entry('ssh/sshd_config', { size: 3 }), entry('hosts', { size: 7 }), entry('link', { type: 'symlink', size: 0, link: 'hosts' })];
const srv = [dir('log'), entry('log/app.log')];
const A = record('A', [artifact('etc', { index: { key: 'A/etc', size: 0 } }), artifact('srv-data', { index: { key: 'A/srv', size: 0 } })]);
const B = record('B', [artifact('etc', { index: { key: 'B/etc', size: 0 } })]);
const indexes = (): ReturnType<typeof memoryIndexes> => memoryIndexes({ 'A/etc': etc, 'A/srv': srv, 'B/etc': [entry('hosts', { size: 9 })] });

describe('findEntries', () => {
  it.each<{ name: string; patterns: string[]; expected: string[]; opened: string[] }>([
    { name: 'an exact path, in every snapshot holding it', patterns: ['etc/hosts'], expected: ['A etc/hosts 7', 'B etc/hosts 9'], opened: ['A/etc', 'B/etc'] },
    { name: 'a directory selects what is below it', patterns: ['etc/ssh'], expected: ['A etc/ssh 0', 'A etc/ssh/sshd_config 3'], opened: ['A/etc', 'B/etc'] },
    { name: 'a glob across artifacts', patterns: ['**/*.log'], expected: ['A srv-data/log/app.log 10'], opened: ['A/etc', 'A/srv', 'B/etc'] },
    { name: 'an artifact no pattern can match is not read', patterns: ['srv-data/**'], expected: ['A srv-data/log 0', 'A srv-data/log/app.log 10'], opened: ['A/srv'] },
    {
      name: 'several patterns: any of them',
      patterns: ['etc/link', 'srv-data/log'],
      expected: ['A etc/link 0', 'A srv-data/log 0', 'A srv-data/log/app.log 10'],
      opened: ['A/etc', 'A/srv', 'B/etc'],
    },
    { name: 'nothing', patterns: ['etc/nothing'], expected: [], opened: ['A/etc', 'B/etc'] },
  ])('$name', async ({ patterns, expected, opened }) => {
    const index = indexes();
    const found = await collect(findEntries([A, B], { patterns, openIndex: index.open }));
    expect(found.map((f) => `${f.snapshot} ${f.artifact}/${f.path} ${f.size}`)).toEqual(expected);
    expect(index.opened).toEqual(opened);
  });

  it('leaves out what an exclude pattern matches, below an excluded directory too', async () => {
    const found = await collect(findEntries([A], { patterns: ['etc'], exclude: ['etc/ssh', '**/link'], openIndex: indexes().open }));
    expect(found.map((f) => `${f.artifact}/${f.path}`)).toEqual(['etc/hosts']);
  });

  it('reports type, mode, mtime and link target', async () => {
    const [found] = await collect(findEntries([A], { patterns: ['etc/link'], openIndex: indexes().open }));
    expect(found).toEqual({ snapshot: 'A', artifact: 'etc', path: 'link', entryType: 'symlink', size: 0, mode: 0o644, mtime: '1764170000', link: 'hosts' });
  });

  it('refuses no pattern, and a bad one, as usage errors', async () => {
    for (const patterns of [[], [''], ['!etc']]) {
      const error: unknown = await collect(findEntries([A], { patterns, openIndex: indexes().open })).catch((e: unknown) => e);
      expect(isCassetteError(error, 'E_USAGE'), JSON.stringify(patterns)).toBe(true);
    }
  });
});

describe('artifactsToSearch', () => {
  it('keeps the artifacts a pattern could match', () => {
    expect(artifactsToSearch(A, { include: ['etc/**'] }).map((a) => a.name)).toEqual(['etc']);
    expect(artifactsToSearch(A, { include: ['**/x'] }).map((a) => a.name)).toEqual(['etc', 'srv-data']);
    expect(artifactsToSearch(A, { include: ['s*/log'] }).map((a) => a.name)).toEqual(['srv-data']);
  });
});
