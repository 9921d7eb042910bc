import { describe, expect, it } from 'vitest';
import { compilePathPattern } from '../../src/path-pattern.js';
import { escapeGlob, restoreCommand, shellQuote } from '../../src/report/restore-command.js';

describe('escapeGlob', () => {
  // Each path, escaped, must match itself and nothing else that differs in its last character.
  it.each([
    'etc/hosts',
    'etc/a*b',
    'etc/[1].log',
    'etc/{a,b}',
    'etc/!x',
    'etc/x(1)+@y|z',
    'etc/back\\slash',
    'etc/ä ö',
    'etc/.hidden',
    'etc/a?',
    'etc/ex!(y)',
    "etc/it's",
    'etc/#x',
  ])('makes %s a pattern of itself alone', (path) => {
    const pattern = compilePathPattern(escapeGlob(path), 'include');
    expect(pattern.matchesItself(path)).toBe(true);
    expect(pattern.matchesItself(path.slice(0, -1) + 'Q')).toBe(false);
    expect(pattern.matchesItself(path + 'Q')).toBe(false);
  });

  it('matches a glob metacharacter literally, not as a glob', () => {
    const pattern = compilePathPattern(escapeGlob('etc/a*'), 'include');
    expect(pattern.matchesItself('etc/a*')).toBe(true);
    expect(pattern.matchesItself('etc/ab')).toBe(false);
  });
});

describe('shellQuote', () => {
  it.each([
    ['etc/hosts', 'etc/hosts'],
    ['s3://bucket/prefix', 's3://bucket/prefix'],
    ['a b', "'a b'"],
    ["it's", "'it'\\''s'"],
    ['$HOME', "'$HOME'"],
    ['a\\*', "'a\\*'"],
    ['', "''"],
  ])('quotes %j as %s', (text, quoted) => {
    expect(shellQuote(text)).toBe(quoted);
  });
});

describe('restoreCommand', () => {
  it('names the snapshot, the file as a literal pattern and the repository', () => {
    expect(restoreCommand('s3://b/p', '20261201T000000Z-abcd', 'etc', 'ssh/sshd_config')).toBe(
      'cassette restore 20261201T000000Z-abcd --include etc/ssh/sshd_config --stdout --repo s3://b/p',
    );
    expect(restoreCommand('/tmp/my repo', 'ID', 'srv', "a [x]'s.txt")).toBe("cassette restore ID --include 'srv/a \\[x\\]'\\''s.txt' --stdout --repo '/tmp/my repo'");
  });
});
