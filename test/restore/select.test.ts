import { describe, expect, it } from 'vitest';
import { isCassetteError } from '../../src/errors.js';
import { artifactMayMatch, compileSelector, type SelectOptions } from '../../src/restore/select.js';

/** Entries as `artifact/path`, split at the first slash the way restore calls the predicate. */
const ENTRIES = [
  'etc/passwd',
  'etc/ssh',
  'etc/ssh/sshd_config',
  'etc/ssh/ssh_host_rsa_key',
  'etc/ssh/sshd_config.d/50-cloud.conf',
  'etc/sshd-not-ssh',
  'etc/.hidden',
  'etc/.git/config',
  'etc/nginx/nginx.conf',
  'var/log/syslog',
  'var/lib/pg/base/1/2',
  'cassatt/images/CollageIdle/disk.img',
  'cassatt/images/Other/x',
  'cassatt/app/.env',
];

function select(options: SelectOptions): string[] {
  const selected = compileSelector(options);
  return ENTRIES.filter((full) => {
    const slash = full.indexOf('/');
    return selected(full.slice(0, slash), full.slice(slash + 1));
  });
}

describe('compileSelector', () => {
  it.each<{ name: string; options: SelectOptions; expected: string[] }>([
    { name: 'no patterns select everything', options: {}, expected: ENTRIES },
    { name: 'empty pattern lists select everything', options: { include: [], exclude: [] }, expected: ENTRIES },
    { name: 'an exact file path', options: { include: ['etc/passwd'] }, expected: ['etc/passwd'] },
    {
      name: 'a directory pattern selects the directory and everything below it',
      options: { include: ['etc/ssh'] },
      expected: ['etc/ssh', 'etc/ssh/sshd_config', 'etc/ssh/ssh_host_rsa_key', 'etc/ssh/sshd_config.d/50-cloud.conf'],
    },
    {
      name: 'a directory pattern with a trailing slash means the same',
      options: { include: ['etc/ssh/'] },
      expected: ['etc/ssh', 'etc/ssh/sshd_config', 'etc/ssh/ssh_host_rsa_key', 'etc/ssh/sshd_config.d/50-cloud.conf'],
    },
    {
      name: 'a leading slash is ignored',
      options: { include: ['/etc/ssh'] },
      expected: ['etc/ssh', 'etc/ssh/sshd_config', 'etc/ssh/ssh_host_rsa_key', 'etc/ssh/sshd_config.d/50-cloud.conf'],
    },
    { name: 'a directory pattern is a path prefix by component, not by string', options: { include: ['etc/sshd'] }, expected: [] },
    {
      name: 'an artifact name selects the whole artifact, dot files included',
      options: { include: ['etc'] },
      expected: ENTRIES.filter((e) => e.startsWith('etc/')),
    },
    {
      name: 'a single star stays within one component',
      options: { include: ['etc/ssh/*'] },
      expected: ['etc/ssh/sshd_config', 'etc/ssh/ssh_host_rsa_key', 'etc/ssh/sshd_config.d/50-cloud.conf'],
    },
    { name: 'globstar finds files at any depth', options: { include: ['**/*.conf'] }, expected: ['etc/ssh/sshd_config.d/50-cloud.conf', 'etc/nginx/nginx.conf'] },
    {
      name: 'a pattern without / matches a name at any depth (*.conf)',
      options: { include: ['*.conf'] },
      expected: ['etc/ssh/sshd_config.d/50-cloud.conf', 'etc/nginx/nginx.conf'],
    },
    { name: 'a bare file name matches at any depth', options: { include: ['sshd_config'] }, expected: ['etc/ssh/sshd_config'] },
    {
      name: 'a bare directory name selects that directory anywhere, with its contents',
      options: { include: ['ssh'] },
      expected: ['etc/ssh', 'etc/ssh/sshd_config', 'etc/ssh/ssh_host_rsa_key', 'etc/ssh/sshd_config.d/50-cloud.conf'],
    },
    { name: 'a pattern with / is anchored at the artifact name', options: { include: ['ssh/sshd_config'] }, expected: [] },
    { name: 'a leading slash anchors a name at the artifact', options: { include: ['/pg'] }, expected: [] },
    {
      name: 'a bare name exclude removes it at any depth',
      options: { include: ['etc'], exclude: ['.git', '*.conf'] },
      expected: ENTRIES.filter((e) => e.startsWith('etc/') && !e.includes('.git') && !e.endsWith('.conf')),
    },
    { name: 'stars match dot files', options: { include: ['etc/*'] }, expected: ENTRIES.filter((e) => e.startsWith('etc/')) },
    { name: 'globstar matches inside dot directories', options: { include: ['**/config'] }, expected: ['etc/.git/config'] },
    { name: 'dot files can be named', options: { include: ['cassatt/app/.env'] }, expected: ['cassatt/app/.env'] },
    { name: 'braces', options: { include: ['{etc/passwd,var/log}'] }, expected: ['etc/passwd', 'var/log/syslog'] },
    { name: 'several include patterns are a union', options: { include: ['etc/passwd', 'var'] }, expected: ['etc/passwd', 'var/log/syslog', 'var/lib/pg/base/1/2'] },
    {
      name: 'exclude alone removes matches from everything',
      options: { exclude: ['etc', 'var'] },
      expected: ['cassatt/images/CollageIdle/disk.img', 'cassatt/images/Other/x', 'cassatt/app/.env'],
    },
    {
      name: 'an excluded directory excludes everything below it (the runbook images)',
      options: { include: ['cassatt'], exclude: ['cassatt/images/CollageIdle'] },
      expected: ['cassatt/images/Other/x', 'cassatt/app/.env'],
    },
    { name: 'exclude wins over include of the same path', options: { include: ['etc/passwd'], exclude: ['etc/passwd'] }, expected: [] },
    {
      name: 'exclude wins over a broader include',
      options: { include: ['etc/ssh'], exclude: ['**/*_key'] },
      expected: ['etc/ssh', 'etc/ssh/sshd_config', 'etc/ssh/sshd_config.d/50-cloud.conf'],
    },
    {
      name: 'excluding dot files by glob',
      options: { include: ['etc'], exclude: ['**/.*'] },
      expected: ['etc/passwd', 'etc/ssh', 'etc/ssh/sshd_config', 'etc/ssh/ssh_host_rsa_key', 'etc/ssh/sshd_config.d/50-cloud.conf', 'etc/sshd-not-ssh', 'etc/nginx/nginx.conf'],
    },
    { name: 'an include that matches nothing selects nothing', options: { include: ['nope/**'] }, expected: [] },
    { name: 'a lone slash means everything', options: { include: ['/'] }, expected: ENTRIES },
  ])('$name', ({ options, expected }) => {
    expect(select(options)).toEqual(expected);
  });

  it('does not select parent directories of a selected file as entries', () => {
    const selected = compileSelector({ include: ['etc/ssh/sshd_config'] });
    expect(selected('etc', 'ssh')).toBe(false);
    expect(selected('etc', 'ssh/sshd_config')).toBe(true);
  });

  it('matches unicode and names with spaces literally', () => {
    const selected = compileSelector({ include: ['home/données/my file.txt'] });
    expect(selected('home', 'données/my file.txt')).toBe(true);
    expect(selected('home', 'donnees/my file.txt')).toBe(false);
  });

  it.each([
    { name: 'refuses an empty include pattern, naming it', options: { include: ['etc', ''] }, message: /include pattern "" is empty/ },
    { name: 'refuses a blank exclude pattern, naming it', options: { exclude: ['  '] }, message: /exclude pattern " {2}" is empty/ },
    { name: 'refuses a negated include pattern', options: { include: ['!etc/ssh'] }, message: /include pattern "!etc\/ssh" is negated.*use an exclude pattern/ },
    { name: 'refuses a negated exclude pattern', options: { exclude: ['!etc'] }, message: /exclude pattern "!etc" is negated/ },
    { name: 'refuses a pattern with a NUL byte', options: { include: ['etc\0'] }, message: /NUL byte/ },
    { name: 'refuses patterns that are not in an array', options: { include: 'etc' as unknown as string[] }, message: /`include` to be an array/ },
  ])('$name', ({ options, message }) => {
    let error: unknown;
    try {
      compileSelector(options);
    } catch (e) {
      error = e;
    }
    expect(isCassetteError(error, 'E_USAGE')).toBe(true);
    expect((error as Error).message).toMatch(message);
  });

  it('accepts an extglob that starts with !( (not a negation)', () => {
    const selected = compileSelector({ include: ['etc/!(passwd)'] });
    expect(selected('etc', 'passwd')).toBe(false);
    expect(selected('etc', 'ssh/sshd_config')).toBe(true);
  });
});

describe('artifactMayMatch', () => {
  it.each<{ name: string; options: SelectOptions; artifact: string; expected: boolean }>([
    { name: 'no include: every artifact may match', options: {}, artifact: 'etc', expected: true },
    { name: 'an include inside the artifact', options: { include: ['etc/ssh'] }, artifact: 'etc', expected: true },
    { name: 'an include inside another artifact', options: { include: ['etc/ssh'] }, artifact: 'var', expected: false },
    { name: 'an include naming the artifact', options: { include: ['var'] }, artifact: 'var', expected: true },
    { name: 'an include naming the artifact with a trailing slash', options: { include: ['var/'] }, artifact: 'var', expected: true },
    { name: 'an include naming the artifact with a leading slash', options: { include: ['/var/log'] }, artifact: 'var', expected: true },
    { name: 'a name that only shares a prefix does not match', options: { include: ['etc/ssh'] }, artifact: 'etc-old', expected: false },
    { name: 'a glob in the first segment', options: { include: ['e*/passwd'] }, artifact: 'etc', expected: true },
    { name: 'a glob in the first segment that does not fit', options: { include: ['v*/log'] }, artifact: 'etc', expected: false },
    { name: 'a leading globstar may match anything', options: { include: ['**/*.conf'] }, artifact: 'var', expected: true },
    { name: 'braces listing artifacts', options: { include: ['{etc,var}/x'] }, artifact: 'var', expected: true },
    { name: 'braces not listing the artifact', options: { include: ['{etc,var}/x'] }, artifact: 'opt', expected: false },
    { name: 'braces with a slash inside are answered conservatively', options: { include: ['{etc/ssh,var/log}'] }, artifact: 'opt', expected: true },
    { name: 'dot artifacts match a star', options: { include: ['*/x'] }, artifact: '.hidden', expected: true },
    { name: 'any of several includes', options: { include: ['etc/ssh', 'var/log'] }, artifact: 'var', expected: true },
    { name: 'an exclude naming the artifact skips it', options: { exclude: ['var'] }, artifact: 'var', expected: false },
    { name: 'an exclude naming the artifact beats an include inside it', options: { include: ['var/log'], exclude: ['var/'] }, artifact: 'var', expected: false },
    { name: 'an exclude inside the artifact does not skip it', options: { exclude: ['var/log'] }, artifact: 'var', expected: true },
    { name: 'a name include may match below any artifact', options: { include: ['*.conf'] }, artifact: 'opt', expected: true },
    { name: 'an anchored name include matches only its artifact', options: { include: ['/etc'] }, artifact: 'opt', expected: false },
    { name: 'a name exclude matching the artifact skips it', options: { exclude: ['o*'] }, artifact: 'opt', expected: false },
  ])('$name', ({ options, artifact, expected }) => {
    expect(artifactMayMatch(options, artifact)).toBe(expected);
  });

  it('never skips an artifact that has a selected entry (agrees with compileSelector)', () => {
    const cases: SelectOptions[] = [
      { include: ['etc/ssh'] },
      { include: ['**/*.conf'] },
      { include: ['{etc/passwd,var/log}'] },
      { include: ['c*'] },
      { include: ['etc'], exclude: ['etc/ssh'] },
      { exclude: ['var'] },
      { include: ['var/*'], exclude: ['e*'] },
      { include: ['config'] },
      { include: ['/cassatt'], exclude: ['CollageIdle'] },
    ];
    for (const options of cases) {
      const selected = compileSelector(options);
      for (const full of ENTRIES) {
        const slash = full.indexOf('/');
        const artifact = full.slice(0, slash);
        if (selected(artifact, full.slice(slash + 1))) expect(artifactMayMatch(options, artifact), `${JSON.stringify(options)} ${full}`).toBe(true);
      }
    }
  });

  it('refuses an empty pattern like compileSelector', () => {
    expect(() => artifactMayMatch({ include: [''] }, 'etc')).toThrow(/include pattern "" is empty/);
  });
});
