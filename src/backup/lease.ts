// The lease of a running backup: `locks/<id>.json`, written before any data, rewritten on a timer, deleted after the commit or the failure's cleanup.

import { DEFAULTS } from '../defaults.js';
import { CassetteError, isCassetteError } from '../errors.js';
import type { LeaseRecord } from '../format/types.js';
import { leaseKey } from '../repository.js';
import type { ObjectStore } from '../store/object-store.js';

export interface LeaseOptions {
  store: Pick<ObjectStore, 'put' | 'delete'>;
  id: string;
  host: string;
  /** Rewrite the lease this often. Default DEFAULTS.leaseRefreshMs. */
  refreshMs?: number;
  /** How long a prune honours each version of the lease, by the store's clock. Default DEFAULTS.leaseTtlMs. */
  ttlMs?: number;
  /** The backup host's clock, for the informative timestamps in the lease. */
  clock?: () => Date;
  signal?: AbortSignal;
  /** Snapshots whose objects this backup reuses (its parents): a prune keeps their objects while the lease is fresh. */
  parents?: readonly string[];
}

/** The lease's content for one refresh. Pure. */
export function leaseRecord(fields: {
  id: string;
  host: string;
  pid: number;
  started: Date;
  refreshed: Date;
  refreshMs: number;
  ttlMs: number;
  parents?: readonly string[];
}): LeaseRecord {
  const record: LeaseRecord = {
    format: 'cassette-lease',
    version: 1,
    id: fields.id,
    host: fields.host,
    pid: fields.pid,
    started: fields.started.toISOString(),
    refreshed: fields.refreshed.toISOString(),
    expires: new Date(fields.refreshed.getTime() + fields.ttlMs).toISOString(),
    refreshSeconds: fields.refreshMs / 1000,
    ttlSeconds: fields.ttlMs / 1000,
  };
  if (fields.parents && fields.parents.length > 0) record.parents = [...fields.parents];
  return record;
}

/** The parent snapshots a lease names (whose objects the running backup reuses); empty when unreadable. Pure. */
export function leaseParents(bytes: Buffer | undefined): string[] {
  try {
    const parents = (JSON.parse(bytes?.toString('utf8') ?? '') as Partial<LeaseRecord>).parents;
    return Array.isArray(parents) ? parents.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * How long a prune honours a lease, from its content: `ttlSeconds` when it is a positive number,
 * at most DEFAULTS.leaseMaxTtlMs; DEFAULTS.leaseTtlMs for a lease it cannot read (written by a
 * later version, or damaged), so an unreadable lease still protects a running backup. Pure.
 */
export function leaseTtlMs(bytes: Buffer | undefined): number {
  let ttl: unknown;
  try {
    ttl = bytes ? (JSON.parse(bytes.toString('utf8')) as Partial<LeaseRecord>).ttlSeconds : undefined;
  } catch {
    ttl = undefined;
  }
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) return DEFAULTS.leaseTtlMs;
  return Math.min(ttl * 1000, DEFAULTS.leaseMaxTtlMs);
}

/** Host and pid from a lease's content, for prune's report; empty when unreadable. Pure. */
export function leaseHolder(bytes: Buffer | undefined): { host?: string; pid?: number } {
  try {
    const record = JSON.parse(bytes?.toString('utf8') ?? '') as Partial<LeaseRecord>;
    return { ...(typeof record.host === 'string' ? { host: record.host } : {}), ...(typeof record.pid === 'number' ? { pid: record.pid } : {}) };
  } catch {
    return {};
  }
}

/**
 * A backup's lease. `acquire` writes it (a failure fails the backup: nothing is stored yet);
 * after that a timer rewrites it every `refreshMs`. A failed rewrite is not fatal: the next one
 * may succeed, and the check before the commit finds any data a prune took meanwhile.
 */
export class BackupLease {
  private readonly key: string;
  private readonly refreshMs: number;
  private readonly ttlMs: number;
  private readonly clock: () => Date;
  private readonly started: Date;
  private timer: NodeJS.Timeout | undefined;
  /** The refresh in progress, if any: refreshes never overlap, and release waits for it. */
  private writing: Promise<void> = Promise.resolve();
  private released = false;
  /** The last failed refresh, if the latest one failed. */
  lastFailure: unknown;

  private constructor(private readonly options: LeaseOptions) {
    this.key = leaseKey(options.id);
    this.refreshMs = options.refreshMs ?? DEFAULTS.leaseRefreshMs;
    this.ttlMs = options.ttlMs ?? DEFAULTS.leaseTtlMs;
    this.clock = options.clock ?? (() => new Date());
    this.started = this.clock();
    this.parents = options.parents;
    if (!(this.refreshMs > 0) || !(this.ttlMs > 0)) {
      throw new CassetteError('E_USAGE', `Expected the lease's refresh interval and TTL to be above 0 ms, got ${this.refreshMs} and ${this.ttlMs}`);
    }
  }

  /** Write the lease and start refreshing it. */
  static async acquire(options: LeaseOptions): Promise<BackupLease> {
    const lease = new BackupLease(options);
    try {
      await lease.write();
    } catch (error) {
      if (isCassetteError(error)) error.message = `cannot write the backup's lease ${lease.key}: ${error.message}`;
      throw error;
    }
    lease.timer = setInterval(() => void lease.refresh(), lease.refreshMs);
    lease.timer.unref();
    return lease;
  }

  /** Snapshots the backup reuses (protectParents). */
  private parents: readonly string[] | undefined;

  /**
   * Name the snapshots this backup reuses, and write the lease at once: from then on a prune that
   * lists the lease keeps them. Throws when the write fails (the backup must not rely on them then).
   */
  async protectParents(parents: readonly string[]): Promise<void> {
    this.parents = [...parents];
    const done = this.writing.then(() => this.write());
    this.writing = done.catch(() => undefined);
    await done;
  }

  private async write(): Promise<void> {
    const record = leaseRecord({
      id: this.options.id,
      host: this.options.host,
      pid: process.pid,
      started: this.started,
      refreshed: this.clock(),
      refreshMs: this.refreshMs,
      ttlMs: this.ttlMs,
      parents: this.parents,
    });
    await this.options.store.put(this.key, Buffer.from(JSON.stringify(record, null, 2) + '\n'), { signal: this.options.signal });
  }

  /** Rewrite the lease now (after any refresh in progress); never rejects. */
  refresh(): Promise<void> {
    this.writing = this.writing.then(async () => {
      if (this.released) return;
      try {
        await this.write();
        this.lastFailure = undefined;
      } catch (error) {
        this.lastFailure = error;
      }
    });
    return this.writing;
  }

  /** Stop refreshing and delete the lease (best effort: an expired lease is removed by prune). Idempotent. */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.writing;
    if (this.released) return;
    this.released = true;
    await this.options.store.delete([this.key]).catch(() => undefined);
  }
}
