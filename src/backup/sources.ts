// Pure planning of backup sources: artifact names from paths, and which nested sources each tree leaves out.

import path from 'node:path';
import { CassetteError } from '../errors.js';

/** `/srv/data` → `srv-data`, `/` → `rootfs`; characters outside [A-Za-z0-9._-] become `_`. */
export function artifactNameFor(sourcePath: string): string {
  const trimmed = path.resolve(sourcePath).replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return 'rootfs';
  return trimmed.replace(/\//g, '-').replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Makes names unique in order of appearance: a second `etc` becomes `etc-2`. */
export function uniqueNames(names: readonly string[]): string[] {
  const seen = new Map<string, number>();
  const taken = new Set(names);
  return names.map((name) => {
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    if (count === 1) return name;
    let candidate = `${name}-${count}`;
    while (taken.has(candidate)) candidate += '_';
    taken.add(candidate);
    return candidate;
  });
}

/** True when `inner` is strictly below `outer` (both absolute, normalized). */
export function isInside(outer: string, inner: string): boolean {
  const rel = path.relative(outer, inner);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * For each source, the other sources nested inside it: each path is stored once, in the
 * innermost source that holds it. Throws E_USAGE when the same path is given twice.
 */
export function nestedSources(paths: readonly string[]): Array<Set<string>> {
  const resolved = paths.map((p) => path.resolve(p));
  const seen = new Set<string>();
  for (const p of resolved) {
    if (seen.has(p)) throw new CassetteError('E_USAGE', `source ${p} is given twice`);
    seen.add(p);
  }
  return resolved.map((outer) => new Set(resolved.filter((inner) => isInside(outer, inner))));
}
