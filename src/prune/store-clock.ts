// The store's "now" without trusting the local clock: the LastModified the store gives a marker object written for the purpose.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { CassetteError } from '../errors.js';
import { LOCKS_PREFIX } from '../repository.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';

const MARKER_SUFFIX = '.clock';

/** Whether a key under locks/ is a prune's clock marker (not a lease). */
export function isClockMarker(key: string): boolean {
  return key.startsWith(`${LOCKS_PREFIX}prune-`) && key.endsWith(MARKER_SUFFIX);
}

/**
 * Why a marker and not the local clock or the HTTP Date header: prune must compare the
 * LastModified of leases and data (set by the store's clock) with "now", and the pruning host's
 * clock may be hours off the store's — or the backing-up host's. The LastModified of an object
 * written a moment ago is "now" in exactly the clock, and with exactly the precision, that set
 * the times it is compared with, on every store (a directory's mtimes included, where there is
 * no Date header). It costs a PUT and a DELETE per prune.
 */
export class ClockMarker {
  private constructor(
    private readonly store: Pick<ObjectStore, 'put' | 'head' | 'delete'>,
    readonly key: string,
  ) {}

  static async write(store: Pick<ObjectStore, 'put' | 'head' | 'delete'>): Promise<ClockMarker> {
    const key = `${LOCKS_PREFIX}prune-${randomBytes(6).toString('hex')}${MARKER_SUFFIX}`;
    await store.put(key, Buffer.from(JSON.stringify({ host: os.hostname(), pid: process.pid }) + '\n'));
    return new ClockMarker(store, key);
  }

  /**
   * The marker's LastModified: from `listed` (a listing of locks/ made after it was written:
   * the same precision as the leases' times) when it is there, else from a HEAD.
   */
  async time(listed: readonly ObjectInfo[]): Promise<Date> {
    const time = listed.find((object) => object.key === this.key)?.lastModified ?? (await this.store.head(this.key))?.lastModified;
    if (!time) throw new CassetteError('E_STORAGE', `the store reports no modification time for ${this.key}: prune cannot judge the age of leases and incomplete snapshots`);
    return time;
  }

  /** Best effort: a marker left behind is removed by a later prune (DEFAULTS.clockMarkerMaxAgeMs). */
  async remove(): Promise<void> {
    await this.store.delete([this.key]).catch(() => undefined);
  }
}
