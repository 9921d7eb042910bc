// Which index entries a restore or `ls` selects: include/exclude globs over `artifact/path`.
//
// A selected file's parent directories are not selected as entries themselves; restore creates
// missing parents as plain directories. A pattern that names a directory selects (or excludes)
// everything below it. Exclude wins over include.

import picomatch from 'picomatch';
import { CassetteError } from '../errors.js';

export interface SelectOptions {
  /** Globs over `artifact/path` (dot files included). Empty: everything. */
  include?: string[];
  /** Globs over `artifact/path`; exclude wins over include. */
  exclude?: string[];
}

type Matcher = (candidate: string) => boolean;

function compile(patterns: readonly string[], flag: string): Matcher[] {
  return patterns.map((raw) => {
    if (raw.trim() === '') throw new CassetteError('E_USAGE', `an --${flag} pattern is empty`);
    const pattern = raw.replace(/^\/+/, '').replace(/\/+$/, '');
    if (pattern === '') return () => true;
    const self = picomatch(pattern, { dot: true });
    const below = picomatch(`${pattern}/**`, { dot: true });
    return (candidate: string) => self(candidate) || below(candidate);
  });
}

/** A predicate over (artifact, entry path). */
export function compileSelector(options: SelectOptions): (artifact: string, path: string) => boolean {
  const include = compile(options.include ?? [], 'include');
  const exclude = compile(options.exclude ?? [], 'exclude');
  return (artifact, entryPath) => {
    const full = `${artifact}/${entryPath}`;
    if (include.length > 0 && !include.some((m) => m(full))) return false;
    return !exclude.some((m) => m(full));
  };
}

/** False only when no include pattern could match anything inside `artifact/`. */
export function artifactMayMatch(options: SelectOptions, artifact: string): boolean {
  const include = options.include ?? [];
  if (include.length === 0) return true;
  return include.some((raw) => {
    const pattern = raw.replace(/^\/+/, '');
    const first = pattern.split('/')[0]!;
    if (pattern.startsWith('**')) return true;
    return picomatch(first, { dot: true })(artifact);
  });
}
