// restic as the incremental bench's reference: whether it is on PATH, its command lines against the bench's S3 server, and the numbers of its `backup --json` summary.

import { sh } from './exec.js';

/** Fixed: the bench's repositories are thrown away. */
export const RESTIC_PASSWORD = 'cassette-bench';

/** `restic version`'s line, or undefined when restic is not on PATH. */
export async function resticVersion(): Promise<string | undefined> {
  try {
    return (await sh(['restic', 'version'])).trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

/** A restic repository on an S3 server: `s3:http://host:port/bucket/prefix` (http endpoints are used without TLS). */
export function resticRepository(endpoint: string, bucket: string, prefix: string): string {
  return `s3:${endpoint.replace(/\/+$/, '')}/${bucket}/${prefix}`;
}

/** The credentials of the S3 target (AWS_*) and the fixed password. */
export function resticEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...base, RESTIC_PASSWORD };
}

/**
 * argv of one restic command on `repository`, with its cache in `cacheDir` (thrown away with the
 * bench's work directory, so the first backup starts from an empty cache as a new user's would).
 * Everything else is restic's default: `-o s3.connections` (5), compression `auto`, the parent
 * snapshot chosen by host and paths.
 */
export function resticArgv(repository: string, cacheDir: string, command: string[]): string[] {
  return ['restic', '-r', repository, '--cache-dir', cacheDir, ...command];
}

export interface ResticSummary {
  snapshotId?: string;
  /** Bytes of new blobs before compression (`data_added`). */
  dataAdded?: number;
  /** Bytes of new blobs as stored (`data_added_packed`, restic ≥ 0.17). */
  dataAddedPacked?: number;
  totalBytesProcessed?: number;
  counts: Record<string, number>;
}

const COUNTS = ['files_new', 'files_changed', 'files_unmodified', 'dirs_new', 'dirs_changed', 'dirs_unmodified', 'data_blobs', 'tree_blobs', 'total_files_processed'] as const;

/** The `{"message_type":"summary"}` line of `restic backup --json` (the last one, if several); undefined without one. */
export function parseResticSummary(stdout: string): ResticSummary | undefined {
  for (const line of stdout.trim().split('\n').reverse()) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (parsed.message_type !== 'summary') continue;
    const number = (key: string): number | undefined => (typeof parsed[key] === 'number' ? (parsed[key] as number) : undefined);
    const counts: Record<string, number> = {};
    for (const key of COUNTS) {
      const value = number(key);
      if (value !== undefined) counts[key] = value;
    }
    return {
      snapshotId: typeof parsed.snapshot_id === 'string' ? parsed.snapshot_id : undefined,
      dataAdded: number('data_added'),
      dataAddedPacked: number('data_added_packed'),
      totalBytesProcessed: number('total_bytes_processed'),
      counts,
    };
  }
  return undefined;
}
