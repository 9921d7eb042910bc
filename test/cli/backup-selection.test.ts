import { describe, expect, it } from 'vitest';
import { parseFilesFrom, type FilesFromFormat } from '../../src/cli/backup-selection.js';

describe('parseFilesFrom', () => {
  it.each<{ name: string; format: FilesFromFormat; text: string; expected: string[] }>([
    {
      name: 'lines: one a line, comments and blank lines skipped, blanks trimmed',
      format: 'lines',
      text: '# list\n/etc\n\n  srv/data  \r\n#/skipped\n',
      expected: ['/etc', 'srv/data'],
    },
    { name: 'lines: an empty list', format: 'lines', text: '\n# only a comment\n', expected: [] },
    {
      name: 'verbatim: lines as written, only empty ones skipped',
      format: 'verbatim',
      text: '#not a comment\n  spaced  \n\n/etc\n',
      expected: ['#not a comment', '  spaced  ', '/etc'],
    },
    { name: 'raw: NUL-separated, newlines are part of names', format: 'raw', text: 'a\nb\0/etc\0\0c\0', expected: ['a\nb', '/etc', 'c'] },
  ])('$name', ({ format, text, expected }) => {
    expect(parseFilesFrom(text, format)).toEqual(expected);
  });
});
