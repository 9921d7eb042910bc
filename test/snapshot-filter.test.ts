import { describe, expect, it } from 'vitest';
import { describeFilter, isEmptyFilter, matchesFilter, type SnapshotFilter } from '../src/snapshot-filter.js';

const record = (host: string, tags: string[], sources: string[]) => ({
  host,
  tags,
  artifacts: sources.map((source) => ({ source }) as never),
});

describe('matchesFilter', () => {
  const web = record('web1', ['daily', 'etc'], ['/etc', '/var/www/']);
  it.each<[string, SnapshotFilter | undefined, boolean]>([
    ['no filter', undefined, true],
    ['empty filter', {}, true],
    ['host', { hosts: ['web1'] }, true],
    ['other host', { hosts: ['db1'] }, false],
    ['any of the hosts', { hosts: ['db1', 'web1'] }, true],
    ['one tag', { tagGroups: [['daily']] }, true],
    ['all tags of a group', { tagGroups: [['daily', 'etc']] }, true],
    ['a group with a missing tag', { tagGroups: [['daily', 'weekly']] }, false],
    ['any group', { tagGroups: [['weekly'], ['etc']] }, true],
    ['a path', { paths: ['/etc'] }, true],
    ['a path with a trailing slash against one without', { paths: ['/etc/'] }, true],
    ['a source with a trailing slash', { paths: ['/var/www'] }, true],
    ['all paths', { paths: ['/etc', '/var/www'] }, true],
    ['a path not backed up', { paths: ['/etc', '/root'] }, false],
    ['a path below a source is not the source', { paths: ['/etc/ssh'] }, false],
    ['all fields', { hosts: ['web1'], tagGroups: [['etc']], paths: ['/etc'] }, true],
    ['all fields, one wrong', { hosts: ['web1'], tagGroups: [['etc']], paths: ['/srv'] }, false],
  ])('%s', (_name, filter, expected) => {
    expect(matchesFilter(web, filter)).toBe(expected);
  });

  it('says what it selects', () => {
    expect(describeFilter({ hosts: ['a', 'b'], tagGroups: [['x', 'y'], ['z']], paths: ['/etc'] })).toBe('host a or b, tag x+y or z, path /etc');
    expect(isEmptyFilter({ hosts: [] })).toBe(true);
    expect(isEmptyFilter({ paths: ['/'] })).toBe(false);
  });
});
