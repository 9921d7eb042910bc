import { describe, expect, it } from 'vitest';
import { cut, shortDuration, snapshotTable, wrapList, type SnapshotTableRow } from '../../src/cli/snapshot-table.js';

const row = (over: Partial<SnapshotTableRow> = {}): SnapshotTableRow => ({
  id: '20261201T002021Z-bb653f',
  time: '2026-12-01T00:20:21.123Z',
  host: 'control-node-1.example.org',
  bytesRead: 1023.9 * 1024 ** 3,
  storedBytes: 512 * 1024 ** 3,
  reusedBytes: 999 * 1024 ** 2,
  ratio: 2.01,
  durationSeconds: 3 * 3600 + 59 * 60 + 59,
  tags: ['nightly', 'cassatt', 'before-upgrade-2026'],
  artifacts: 'root,cassatt,cassatt-database,var,usr-lib-php4,opt,etc,root-home,lib-modules,pg-collage',
  ...over,
});

describe('snapshotTable', () => {
  it('fits 120 columns with the runbook profile’s ten artifacts, long tags and a long host name (issue 17: it wrapped)', () => {
    const table = snapshotTable([row(), row({ tags: [] })]);
    for (const line of [table.header, ...table.rows.flat()]) expect(line.length).toBeLessThanOrEqual(120);
    expect(table.header).toMatch(/^ID +TIME \(UTC\) +HOST +READ +STORED +REUSED +RATIO +TOOK +TAGS +ARTIFACTS$/);
    const [first, ...more] = table.rows[0]!;
    expect(first).toContain(' control-nod… ');
    expect(first).toContain('2026-12-01 00:20 ');
    expect(first).toContain(' 1024 GiB ');
    expect(first).toContain(' 4h 00m ');
    // No artifact name is lost: the ones that do not fit follow on indented lines.
    expect([first!.slice(first!.lastIndexOf('  ') + 2), ...more.map((l) => l.trim())].join(',')).toBe(row().artifacts);
  });

  it('fits a narrower terminal too, and uses a wide one', () => {
    const narrow = snapshotTable([row()], 110);
    for (const line of [narrow.header, ...narrow.rows.flat()]) expect(line.length).toBeLessThanOrEqual(110);
    const wide = snapshotTable([row()], 300);
    expect(wide.rows[0]).toHaveLength(1);
    expect(wide.rows[0]![0]).toContain(row().artifacts);
    expect(wide.rows[0]![0]).toContain('nightly,cassatt…');
  });

  it("shows '-' for a version-1 snapshot's reuse and leaves the tags column out when no snapshot has tags", () => {
    const { header, rows } = snapshotTable([row({ reusedBytes: undefined, tags: [], host: 'vm', artifacts: 'etc' })]);
    expect(header).not.toContain('TAGS');
    const end = header.indexOf('REUSED') + 'REUSED'.length;
    expect(rows[0]![0]!.slice(end - 8, end).trim()).toBe('-');
    expect(rows[0]).toEqual([expect.stringMatching(/ vm +.* {2}etc$/)]);
  });

  it.each([
    [0.051, '51 ms'],
    [59.94, '59.9 s'],
    [599, '9m 59s'],
    [3599.4, '59m 59s'],
    [3 * 3600 + 59 * 60 + 59, '4h 00m'],
    [3 * 3600 + 29 * 60, '3h 29m'],
    [50 * 3600, '2d 02h'],
    [1000 * 86400, '1000d 00h'],
  ])('shortDuration(%f) = %s', (seconds, expected) => {
    expect(shortDuration(seconds)).toBe(expected);
    expect(expected.length).toBeLessThanOrEqual(seconds < 100 * 86400 ? 8 : 9);
  });

  it.each<[string, number, number, string[]]>([
    ['a,b,c', 10, 10, ['a,b,c']],
    ['alpha,beta,gamma', 11, 20, ['alpha,beta', 'gamma']],
    ['alpha,beta,gamma', 5, 5, ['alpha', 'beta', 'gamma']],
    ['averyveryverylongname,b', 8, 8, ['averyve…', 'b']],
  ])('wrapList(%s, %i, %i)', (list, first, next, expected) => {
    expect(wrapList(list, first, next)).toEqual(expected);
  });

  it.each([
    ['abc', 3, 'abc'],
    ['abcd', 3, 'ab…'],
    ['', 2, ''],
  ])('cut(%s, %i) = %s', (text, width, expected) => {
    expect(cut(text, width)).toBe(expected);
  });
});
