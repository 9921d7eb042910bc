// Which index entries a restore or `ls` selects: include/exclude globs over `artifact/path`, and nothing else.
//
// Rules:
// - A pattern is matched (picomatch, dot files included) against `artifact/path`, e.g.
//   `etc/ssh/sshd_config` for the entry `ssh/sshd_config` of the artifact `etc`. Patterns are
//   anchored at the artifact name: `*.conf` matches nothing below an artifact, `**/*.conf` does.
// - A pattern that names a directory (`etc/ssh`, `etc/ssh/`) also matches everything below it;
//   so does a pattern naming an artifact (`etc`). A leading `/` is ignored (`/etc/ssh` = `etc/ssh`).
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
import { CassetteError } from '../errors.js';

export interface SelectOptions {
  /**
   * Globs matched against `artifact/path` (picomatch, dot files included). Empty = everything.
   * A pattern naming a directory (e.g. 'etc/ssh' or 'etc/ssh/') also selects everything below it.
   */
  include?: string[];
  /** Globs matched the same way; an excluded directory excludes everything below it. Exclude wins over include. */
  exclude?: string[];
}

type Kind = 'include' | 'exclude';

interface CompiledPattern {
  /** The pattern as the user gave it, for messages. */
  raw: string;
  /** Matches the named path itself (`etc/ssh`). */
  self: (candidate: string) => boolean;
  /** Matches the path or anything below it (`etc/ssh`, `etc/ssh/**`). */
  selfOrBelow: (candidate: string) => boolean;
}

const PICOMATCH_OPTIONS = { dot: true } as const;

/** Checks one pattern at the boundary and returns its normalized form ('' = everything). */
function normalizePattern(raw: unknown, kind: Kind): string {
  if (typeof raw !== 'string') throw new CassetteError('E_USAGE', `${kind} pattern ${String(raw)} is not a string`);
  if (raw.trim() === '') throw new CassetteError('E_USAGE', `${kind} pattern ${JSON.stringify(raw)} is empty`);
  if (raw.includes('\0')) throw new CassetteError('E_USAGE', `${kind} pattern ${JSON.stringify(raw)} contains a NUL byte`);
  if (raw.startsWith('!') && !raw.startsWith('!(')) {
    const instead = kind === 'include' ? 'an exclude pattern' : 'an include pattern';
    throw new CassetteError('E_USAGE', `${kind} pattern ${JSON.stringify(raw)} is negated; negation is not supported, use ${instead} instead`);
  }
  return raw.replace(/^\/+/, '').replace(/\/+$/, '');
}

function compilePattern(raw: string, kind: Kind): CompiledPattern {
  const pattern = normalizePattern(raw, kind);
  if (pattern === '') return { raw, self: () => true, selfOrBelow: () => true };
  try {
    const self = picomatch(pattern, PICOMATCH_OPTIONS);
    const below = picomatch(`${pattern}/**`, PICOMATCH_OPTIONS);
    return { raw, self, selfOrBelow: (candidate) => self(candidate) || below(candidate) };
  } catch (error) {
    throw new CassetteError('E_USAGE', `${kind} pattern ${JSON.stringify(raw)} is not a valid glob: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function compileAll(patterns: readonly string[] | undefined, kind: Kind): CompiledPattern[] {
  if (patterns !== undefined && !Array.isArray(patterns)) throw new CassetteError('E_USAGE', `Expected \`${kind}\` to be an array of glob patterns`);
  return (patterns ?? []).map((raw: string) => compilePattern(raw, kind));
}

/** Compile once; returns a predicate over (artifact, entryPath). Throws CassetteError E_USAGE naming a bad pattern (e.g. empty string). */
export function compileSelector(options: SelectOptions): (artifact: string, path: string) => boolean {
  const include = compileAll(options.include, 'include');
  const exclude = compileAll(options.exclude, 'exclude');
  return (artifact, entryPath) => {
    const full = `${artifact}/${entryPath}`;
    if (include.length > 0 && !include.some((p) => p.selfOrBelow(full))) return false;
    return !exclude.some((p) => p.selfOrBelow(full));
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
 * and also when an exclude pattern names the artifact itself (`etc`, `etc/`, `e*`), which
 * excludes everything under it. When unsure (a `**` or a `/` inside a group in the first
 * segment) it answers true: the per-entry predicate still decides.
 */
export function artifactMayMatch(options: SelectOptions, artifact: string): boolean {
  const include = compileAll(options.include, 'include');
  const exclude = compileAll(options.exclude, 'exclude');
  if (exclude.some((p) => p.self(artifact))) return false;
  if (include.length === 0) return true;
  return include.some((p) => {
    const pattern = normalizePattern(p.raw, 'include');
    if (pattern === '') return true;
    const first = firstSegment(pattern);
    if (first === undefined || first.includes('**')) return true;
    return picomatch(first, PICOMATCH_OPTIONS)(artifact);
  });
}
