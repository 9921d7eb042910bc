import { describe, expect, it } from 'vitest';
import { isCassetteError } from '../src/errors.js';
import { compilePathPattern, parsePatternFile, type PatternList } from '../src/path-pattern.js';

const PATHS = [
  'etc',
  'etc/ssh',
  'etc/ssh/sshd_config',
  'etc/nginx/nginx.conf',
  'etc/x.conf',
  'etc/.git/config',
  'etc/.conf',
  'cassatt/conf/controller.properties',
  'cassatt/app/controller.properties.bak',
  'cassatt/images/[1].img',
  'cassatt/images/1.img',
  'cassatt/images/a*b',
  'cassatt/images/axb',
  'var/cache',
  'var/cache/apt/x.deb',
  'var/cachet',
  'srv/etc/passwd',
];

function matching(pattern: string): string[] {
  const compiled = compilePathPattern(pattern, 'include');
  return PATHS.filter((p) => compiled.matches(p));
}

describe('compilePathPattern: what a pattern matches (the path or an ancestor)', () => {
  it.each<{ name: string; pattern: string; expected: string[] }>([
    {
      name: 'a name pattern matches at any depth, and a directory selects its contents',
      pattern: 'etc',
      expected: ['etc', 'etc/ssh', 'etc/ssh/sshd_config', 'etc/nginx/nginx.conf', 'etc/x.conf', 'etc/.git/config', 'etc/.conf', 'srv/etc/passwd'],
    },
    { name: 'a leading slash anchors a name at the start', pattern: '/etc/ssh', expected: ['etc/ssh', 'etc/ssh/sshd_config'] },
    {
      name: 'a leading slash alone anchors a single name too',
      pattern: '/etc',
      expected: ['etc', 'etc/ssh', 'etc/ssh/sshd_config', 'etc/nginx/nginx.conf', 'etc/x.conf', 'etc/.git/config', 'etc/.conf'],
    },
    { name: 'a leading ./ anchors a name', pattern: './var', expected: ['var/cache', 'var/cache/apt/x.deb', 'var/cachet'] },
    { name: '*.conf matches names at any depth, dot files included', pattern: '*.conf', expected: ['etc/nginx/nginx.conf', 'etc/x.conf', 'etc/.conf'] },
    { name: 'a bare file name matches at any depth (the issue-17 case)', pattern: 'controller.properties', expected: ['cassatt/conf/controller.properties'] },
    { name: 'a leading star in a name', pattern: '*controller.properties', expected: ['cassatt/conf/controller.properties'] },
    { name: 'a pattern with / is anchored at the start', pattern: 'ssh/sshd_config', expected: [] },
    { name: 'an anchored pattern naming a path', pattern: 'etc/ssh/sshd_config', expected: ['etc/ssh/sshd_config'] },
    { name: 'a trailing slash is ignored (a name pattern)', pattern: 'cache/', expected: ['var/cache', 'var/cache/apt/x.deb'] },
    { name: 'a name is matched whole, not as a prefix', pattern: 'cach', expected: [] },
    { name: '** alone matches everything', pattern: '**', expected: PATHS },
    { name: '* alone matches everything (every first name)', pattern: '*', expected: PATHS },
    { name: 'a lone slash matches everything', pattern: '/', expected: PATHS },
    { name: '**/name is the same as name', pattern: '**/sshd_config', expected: ['etc/ssh/sshd_config'] },
    { name: 'globstar in the middle', pattern: 'etc/**/config', expected: ['etc/.git/config'] },
    { name: 'a single star stays within one name', pattern: 'etc/*/config', expected: ['etc/.git/config'] },
    { name: 'a dot file can be named', pattern: '.git', expected: ['etc/.git/config'] },
    // picomatch also lets unescaped brackets match themselves: both names match.
    { name: 'brackets are a character class (or literal brackets)', pattern: '[1].img', expected: ['cassatt/images/[1].img', 'cassatt/images/1.img'] },
    { name: 'a character class that only the class form fits', pattern: '[0-9].img', expected: ['cassatt/images/1.img'] },
    { name: 'escaped brackets match a name with brackets', pattern: '\\[1\\].img', expected: ['cassatt/images/[1].img'] },
    { name: 'a star matches any characters', pattern: 'a*b', expected: ['cassatt/images/a*b', 'cassatt/images/axb'] },
    { name: 'an escaped star matches only a star', pattern: 'a\\*b', expected: ['cassatt/images/a*b'] },
    { name: 'braces in a name pattern', pattern: '{sshd_config,nginx.conf}', expected: ['etc/ssh/sshd_config', 'etc/nginx/nginx.conf'] },
    { name: 'an extglob starting with !( is not a negation', pattern: 'cassatt/images/!(*.img)', expected: ['cassatt/images/a*b', 'cassatt/images/axb'] },
  ])('$name: $pattern', ({ pattern, expected }) => {
    expect(matching(pattern)).toEqual(expected);
  });

  it('matchesItself: a name pattern looks at the last name only, an anchored one at the whole path', () => {
    const name = compilePathPattern('etc', 'exclude');
    expect(name.anchored).toBe(false);
    expect(name.matchesItself('srv/etc')).toBe(true);
    expect(name.matchesItself('etc/passwd')).toBe(false);
    const anchored = compilePathPattern('etc/ssh', 'exclude');
    expect(anchored.anchored).toBe(true);
    expect(anchored.matchesItself('etc/ssh')).toBe(true);
    expect(anchored.matchesItself('etc/ssh/x')).toBe(false);
  });

  it('says whether a pattern is absolute, and the glob it matches', () => {
    expect(compilePathPattern('/srv/cache/', 'exclude')).toMatchObject({ absolute: true, anchored: true, glob: 'srv/cache' });
    expect(compilePathPattern('*.tmp', 'exclude')).toMatchObject({ absolute: false, anchored: false, glob: '*.tmp' });
    expect(compilePathPattern('./a//', 'exclude')).toMatchObject({ absolute: false, anchored: true, glob: 'a' });
  });

  it.each<{ name: string; pattern: unknown; list: PatternList; message: RegExp }>([
    { name: 'empty', pattern: '', list: 'include', message: /include pattern "" is empty/ },
    { name: 'blank', pattern: ' \t', list: 'exclude', message: /exclude pattern " \\t" is empty/ },
    { name: 'a NUL byte', pattern: 'a\0b', list: 'exclude', message: /NUL byte/ },
    { name: 'a negated include', pattern: '!etc', list: 'include', message: /include pattern "!etc" is negated.*use an exclude pattern instead/ },
    { name: 'a negated exclude', pattern: '!*.log', list: 'exclude', message: /exclude pattern "!\*\.log" is negated.*use an include pattern instead/ },
    { name: 'a .. component', pattern: 'etc/../root', list: 'include', message: /"etc\/\.\.\/root" has a "\." or "\.\." component/ },
    { name: 'a lone ..', pattern: '..', list: 'exclude', message: /has a "\." or "\.\." component/ },
    { name: 'a . in the middle', pattern: 'a/./b', list: 'exclude', message: /has a "\." or "\.\." component/ },
    { name: 'not a string', pattern: 42, list: 'include', message: /include pattern 42 is not a string/ },
  ])('refuses $name, naming the pattern', ({ pattern, list, message }) => {
    let error: unknown;
    try {
      compilePathPattern(pattern, list);
    } catch (e) {
      error = e;
    }
    expect(isCassetteError(error, 'E_USAGE')).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});

describe('parsePatternFile', () => {
  it('takes one pattern a line, skipping blank lines and # comments, trimming blanks and CRs', () => {
    const text = '# caches\n*.tmp\n\n   \n  /var/cache/  \r\n#not a pattern\n  # indented comment\nnode_modules\r\n\\#literal';
    expect(parsePatternFile(text)).toEqual(['*.tmp', '/var/cache/', 'node_modules', '\\#literal']);
  });

  it('an empty file has no patterns', () => {
    expect(parsePatternFile('')).toEqual([]);
  });
});
