// Path patterns: the one set of rules for backup excludes and for restore / ls selection, as restic and gitignore have them.
//
// Rules (the README's "Patterns" section says the same with examples):
// - A pattern is a glob (picomatch): `*`, `?`, `[abc]`, `{a,b}`, `**` across directories, extglobs
//   such as `!(x)`. Dot files match like any other name. `\` makes a metacharacter literal:
//   `\[1\].txt` matches the file `[1].txt` only.
// - A pattern without `/` matches a name at any depth: `*.conf` matches `x.conf`, `a/b/x.conf`.
// - A pattern with `/` is anchored: matched against the whole path, from its start. What the path
//   starts at is the caller's: `artifact/path` for restore and `ls`; for a backup, the path relative
//   to the source root, or the absolute path when the pattern starts with `/`.
// - A pattern that matches a directory matches everything below it.
// - Trailing slashes are ignored (`cache/` = `cache`); a leading `./` anchors a name (`./cache`
//   matches `cache` at the top only). A pattern of slashes only matches everything.
// - Refused, naming the pattern: an empty one, a NUL byte, a `!` negation (use the other list:
//   include or exclude), a `.` or `..` component (no stored path has one), an invalid glob.
//
// Paths given to the matchers are `/`-separated with no leading slash.

import picomatch from 'picomatch';
import { CassetteError } from './errors.js';

/** Which list a pattern is in: error messages name it, and say which list to use instead of a negation. */
export type PatternList = 'include' | 'exclude';

export interface PathPattern {
  /** The pattern as the user gave it, for messages. */
  readonly raw: string;
  /** True when it contains `/` (or starts with `./`): matched against the whole path; false for a name pattern, matched against each name. */
  readonly anchored: boolean;
  /** True when it starts with `/` (a backup matches it against the absolute path). */
  readonly absolute: boolean;
  /** The glob that is matched: without leading `/` or `./` and trailing `/`; '' matches everything. */
  readonly glob: string;
  /** The path itself matches: a name pattern its last name, an anchored pattern the whole path. */
  matchesItself(path: string): boolean;
  /** The path or one of its ancestor directories matches: what selects or excludes an entry. */
  matches(path: string): boolean;
}

const PICOMATCH_OPTIONS = { dot: true } as const;

const EVERYTHING: Omit<PathPattern, 'raw' | 'absolute'> = { anchored: true, glob: '', matchesItself: () => true, matches: () => true };

/** Checks and compiles one pattern; throws CassetteError E_USAGE naming it when it is refused. */
export function compilePathPattern(raw: unknown, list: PatternList): PathPattern {
  if (typeof raw !== 'string') throw new CassetteError('E_USAGE', `${list} pattern ${String(raw)} is not a string`);
  const quoted = JSON.stringify(raw);
  if (raw.trim() === '') throw new CassetteError('E_USAGE', `${list} pattern ${quoted} is empty`);
  if (raw.includes('\0')) throw new CassetteError('E_USAGE', `${list} pattern ${quoted} contains a NUL byte`);
  if (raw.startsWith('!') && !raw.startsWith('!(')) {
    const instead = list === 'include' ? 'an exclude pattern' : 'an include pattern';
    throw new CassetteError('E_USAGE', `${list} pattern ${quoted} is negated; negation is not supported, use ${instead} instead`);
  }
  let body = raw.replace(/\/+$/, '');
  const absolute = body.startsWith('/');
  body = body.replace(/^\/+/, '');
  let anchored = absolute || body.includes('/');
  if (/^(\.\/+)+/.test(body)) {
    body = body.replace(/^(\.\/+)+/, '');
    anchored = true;
  }
  if (body === '') return { ...EVERYTHING, raw, absolute };
  if (body.split('/').some((name) => name === '.' || name === '..'))
    throw new CassetteError('E_USAGE', `${list} pattern ${quoted} has a "." or ".." component; stored paths have none, so it would match nothing`);
  let itself: picomatch.Matcher;
  let below: picomatch.Matcher;
  try {
    itself = picomatch(body, PICOMATCH_OPTIONS);
    below = picomatch(`${body}/**`, PICOMATCH_OPTIONS);
  } catch (error) {
    throw new CassetteError('E_USAGE', `${list} pattern ${quoted} is not a valid glob: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (anchored) return { raw, anchored, absolute, glob: body, matchesItself: itself, matches: (path) => itself(path) || below(path) };
  return {
    raw,
    anchored,
    absolute,
    glob: body,
    matchesItself: (path) => itself(path.slice(path.lastIndexOf('/') + 1)),
    matches: (path) => {
      for (let start = 0; ;) {
        const end = path.indexOf('/', start);
        if (itself(end < 0 ? path.slice(start) : path.slice(start, end))) return true;
        if (end < 0) return false;
        start = end + 1;
      }
    },
  };
}

/** Compiles a list of patterns (undefined = none); throws E_USAGE when it is not an array or a pattern is refused. */
export function compilePathPatterns(patterns: readonly string[] | undefined, list: PatternList): PathPattern[] {
  if (patterns !== undefined && !Array.isArray(patterns)) throw new CassetteError('E_USAGE', `Expected \`${list}\` to be an array of glob patterns`);
  return (patterns ?? []).map((raw: string) => compilePathPattern(raw, list));
}

/**
 * The patterns of a pattern file (`--exclude-file`): one per line; blank lines and lines whose
 * first non-blank character is `#` are skipped; leading and trailing blanks are trimmed (a name
 * that starts or ends with a blank needs a glob: `?name`). CR before LF is dropped.
 */
export function parsePatternFile(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}
