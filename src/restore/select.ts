// Which index entries a restore or `ls` selects: include/exclude patterns over `artifact/path`, and nothing else.
//
// Rules (path-pattern.ts holds them for backup excludes too):
// - A pattern without `/` matches a name at any depth, the artifact's name included: `*.conf`
//   matches `etc/nginx/nginx.conf`; `etc` selects the artifact `etc` and every directory named
//   `etc` in any artifact.
// - A pattern with `/` is anchored at the artifact name: `etc/ssh/sshd_config` is the entry
//   `ssh/sshd_config` of the artifact `etc`; `/etc` (a leading `/`) is the artifact `etc` only.
// - A pattern that matches a directory (`etc/ssh`, `etc/ssh/`, `ssh`) also matches everything below it.
// - No include pattern selects everything; exclude wins over include.
// - Negated patterns (`!x`) are refused: use an exclude pattern instead.
//
// What selection does not do:
// - A selected entry's parent directories are not selected as entries themselves: restoring
//   `etc/ssh/sshd_config` alone creates `ssh/` as a plain directory (default mode, current time)
//   rather than restoring the `ssh` entry's mode, owner and mtime. Select `etc/ssh` to get them.
// - Hard links are not followed here: a selected hard link whose target is not selected is the
//   restore planner's business (restore.ts restores the target's content under the link's name).

import picomatch from 'picomatch';
import { compilePathPatterns, type PathPattern } from '../path-pattern.js';

export interface SelectOptions {
  /**
   * Patterns matched against `artifact/path` (path-pattern.ts). Empty = everything.
   * A pattern naming a directory (e.g. 'etc/ssh' or 'ssh') also selects everything below it.
   */
  include?: string[];
  /** Patterns matched the same way; an excluded directory excludes everything below it. Exclude wins over include. */
  exclude?: string[];
}

const PICOMATCH_OPTIONS = { dot: true } as const;

/** Compile once; returns a predicate over (artifact, entryPath). Throws CassetteError E_USAGE naming a bad pattern (e.g. empty string). */
export function compileSelector(options: SelectOptions): (artifact: string, path: string) => boolean {
  const include = compilePathPatterns(options.include, 'include');
  const exclude = compilePathPatterns(options.exclude, 'exclude');
  return (artifact, entryPath) => {
    const full = `${artifact}/${entryPath}`;
    if (include.length > 0 && !include.some((p) => p.matches(full))) return false;
    return !exclude.some((p) => p.matches(full));
  };
}

/**
 * The first `/`-separated segment of a glob, or undefined when a `/` sits inside a brace, bracket
 * or extglob group (`{etc,var/log}/x`), where the first segment is not well defined.
 */
function firstSegment(pattern: string): string | undefined {
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (c === '{' || c === '[' || c === '(') depth++;
    else if ((c === '}' || c === ']' || c === ')') && depth > 0) depth--;
    else if (c === '/') return depth === 0 ? pattern.slice(0, i) : undefined;
  }
  return depth === 0 ? pattern : undefined;
}

/**
 * Whether any entry of an artifact could match (lets restore skip whole artifacts without
 * reading their index): false when no include pattern could match anything under `artifact/`,
 * and also when an exclude pattern matches the artifact itself (`etc`, `etc/`, `e*`, `/etc`),
 * which excludes everything under it. A name pattern may match below any artifact. When unsure
 * (a `**` or a `/` inside a group in the first segment) it answers true: the per-entry predicate
 * still decides.
 */
export function artifactMayMatch(options: SelectOptions, artifact: string): boolean {
  const include = compilePathPatterns(options.include, 'include');
  const exclude = compilePathPatterns(options.exclude, 'exclude');
  if (exclude.some((p) => p.matchesItself(artifact))) return false;
  if (include.length === 0) return true;
  return include.some((p: PathPattern) => {
    if (!p.anchored || p.glob === '') return true;
    const first = firstSegment(p.glob);
    if (first === undefined || first.includes('**')) return true;
    return picomatch(first, PICOMATCH_OPTIONS)(artifact);
  });
}
