// Which snapshots a --host / --tag / --path selection picks (restic's filters): pure, over commit records.

import type { CommitRecord } from './format/types.js';

/** A selection of snapshots; an absent or empty field selects every snapshot. */
export interface SnapshotFilter {
  /** The snapshot's host is one of these. */
  hosts?: readonly string[];
  /** The snapshot has every tag of at least one of these groups (`--tag a,b --tag c`: a and b, or c). */
  tagGroups?: ReadonlyArray<readonly string[]>;
  /** The snapshot has an artifact with each of these sources (a tree's absolute path, or a database's source); trailing slashes are ignored. */
  paths?: readonly string[];
}

export function isEmptyFilter(filter: SnapshotFilter | undefined): boolean {
  return !filter || (!filter.hosts?.length && !filter.tagGroups?.length && !filter.paths?.length);
}

/** True when the record is selected. A sealed record (encrypted, no key given) shows no sources, so a --path never selects it. */
export function matchesFilter(record: Pick<CommitRecord, 'host' | 'tags' | 'artifacts'>, filter: SnapshotFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.hosts?.length && !filter.hosts.includes(record.host)) return false;
  if (filter.tagGroups?.length && !filter.tagGroups.some((group) => group.every((tag) => record.tags.includes(tag)))) return false;
  if (filter.paths?.length) {
    const sources = new Set(record.artifacts.map((a) => trimSlash(a.source)));
    if (!filter.paths.every((p) => sources.has(trimSlash(p)))) return false;
  }
  return true;
}

/** The filter in words, for messages: `host web1, tag daily`. */
export function describeFilter(filter: SnapshotFilter): string {
  const parts = [
    ...(filter.hosts?.length ? [`host ${filter.hosts.join(' or ')}`] : []),
    ...(filter.tagGroups?.length ? [`tag ${filter.tagGroups.map((g) => g.join('+')).join(' or ')}`] : []),
    ...(filter.paths?.length ? [`path ${filter.paths.join(' and ')}`] : []),
  ];
  return parts.join(', ');
}

function trimSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}
