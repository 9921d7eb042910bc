// Snapshot ids: sortable by time, unique without coordination (`20261126T154959Z-3f9a1c`).

import { randomBytes } from 'node:crypto';

const ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

export function newSnapshotId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function isSnapshotId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** Time encoded in an id (second precision). */
export function snapshotIdTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  if (!m) throw new RangeError(`not a snapshot id: ${id}`);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}
