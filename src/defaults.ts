// Every tunable default in one place, each with the reason it has this value.

import os from 'node:os';

const MiB = 1024 * 1024;

export const DEFAULTS = {
  /** zstd level 3: zstd's own default; ≈145 MB/s per core here (NOTES.md), the ratio of `zstd -3` that the baseline pipeline uses. */
  compressionLevel: 3,
  /**
   * Target uncompressed tar bytes per frame. A small file always lies inside one frame, so a
   * selective restore of one file downloads at most one compressed frame (≈1–2 MiB at level 3).
   * 4 MiB frames compress within ~1% of a single zstd stream on mixed data.
   */
  frameSize: 4 * MiB,
  /**
   * Frames of small files (incremental backups, docs/FORMAT.md §7): content-defined, at least
   * 64 KiB and about 256 KiB of tar bytes on average (at most frameSize). A changed file makes its
   * whole frame new: at 256 KiB, 100 changed config files spread over a tree re-store about
   * 100 × 256 KiB before compression, where 4 MiB frames would re-store 400 MiB. Small frames
   * compress a little worse (measured in the README) and restore one small file with less download.
   */
  smallFrames: { min: 64 * 1024, average: 256 * 1024 },
  /**
   * Content-defined chunks of files larger than a frame (FastCDC-style gear hash, native): at least
   * 512 KiB, about 2 MiB on average (1.9 on random data), at most a frame less a block. An in-place
   * change re-stores the chunks it touches and those until the cuts fall into step again: for 8 MiB
   * rewritten in 64 MiB of random data, a median 10.6 MiB (at most 14.6 MiB in 20 trials); for
   * 1 MiB, 4.0 MiB (at most 10.7). Smaller minimums or averages (256 KiB, 1 MiB) changed these by
   * under 1.5 MiB. An insertion shifts no cut beyond that.
   */
  chunks: { min: 512 * 1024, normal: 1.5 * MiB, bits: 20 },
  /** One worker thread per core: compression is the CPU-bound stage. */
  threads: Math.max(1, os.availableParallelism()),
  /** Smallest multipart part: S3 rejects parts under 5 MiB; 8 MiB halves the request count for little memory. */
  minPartSize: 8 * MiB,
  /** Largest part we plan: with 10,000 parts a volume holds 320 GiB; bigger artifacts roll over to further volumes instead of growing the memory held in parts. */
  maxPartSize: 32 * MiB,
  /** S3's limit on parts in one multipart upload. */
  maxParts: 10_000,
  /**
   * Memory for the part buffers of all uploads of a backup together: each of the artifacts
   * uploading at once gets an equal share, and its queue depth is clamp(share / partSize − 1, 1, 4).
   * 64 MiB gives two artifacts with 8 MiB parts three parts in flight each: the 5 GB bench backup
   * to s3rver on loopback ran as fast as with four (21.7 s vs 24.5 s, noise) and its peak RSS fell
   * from 309 to 266-291 MiB.
   */
  uploadMemoryBudget: 64 * MiB,
  /** Archives packed and uploaded at once: two keeps both cores busy when one artifact is small. */
  artifactConcurrency: 2,
  /**
   * Frames of one artifact handed to the pool beyond one per thread, so workers never wait on the
   * reader. Each costs a frame buffer and a compressed-result buffer (≈ 8 MiB at 4 MiB frames).
   */
  framesQueued: 1,
  /**
   * Files up to this size are read whole with synchronous calls (see backup/prefetch.ts: 4-6×
   * cheaper than promise-based reads for cached small files); larger files are read straight
   * into frame buffers in large reads.
   */
  prefetchFileSize: 256 * 1024,
  /**
   * Attempts per storage request (the SDK's retries with backoff, for errors, throttling and
   * timeouts), and attempts in a row that bring no new byte when a GET body is re-requested
   * after a dropped connection. Five rides out a store restarting or a minute of throttling.
   */
  storageAttempts: 5,
  /** A TCP (and TLS) connection to a reachable store takes milliseconds; 10 s allows a congested link while a black-holed address fails fast. */
  connectTimeoutMs: 10_000,
  /**
   * A request is given up (and retried) after this long without a byte sent or received: while
   * its body goes out, while the store prepares its answer, and between bytes of a response body.
   * It measures inactivity, not duration, so a large UploadPart on a slow link is never cut while
   * it moves. 60 s covers a loaded store's first byte and a CompleteMultipartUpload of many parts
   * (AWS sends whitespace while it assembles them), and still fails a dead connection within
   * about five minutes over all attempts.
   */
  idleTimeoutMs: 60_000,
  /** First backoff before a dropped GET body is re-requested; it doubles per attempt in a row (with jitter) up to 20 s. */
  resumeDelayMs: 200,
  /** Ranged GETs in flight during restore. */
  fetchConcurrency: 4,
  /**
   * Largest ranged GET during restore. Neighbouring frames merge up to this size; 8 MiB keeps
   * memory at ≈ fetchConcurrency × (8 MiB compressed + its ≈ 20 MiB decompressed) while each
   * request is still large enough to run at full throughput.
   */
  restoreRequestBytes: 8 * MiB,
  /** Merge two needed frames into one GET when the compressed bytes between them are at most this: cheaper than another round trip. */
  restoreMaxGapBytes: 1 * MiB,
  /** Restore selected entries in batches along the tar stream, so memory does not grow with the selection. */
  restoreBatchEntries: 4096,
  /** At most this many warnings are kept in a commit record; the count is kept exactly. */
  maxRecordedWarnings: 1000,
  /**
   * A running backup rewrites its lease (`locks/<id>.json`) this often. Five minutes costs one
   * small PUT per five minutes (a versioned bucket keeps ~12 old versions an hour: expire
   * noncurrent versions of `locks/`).
   */
  leaseRefreshMs: 5 * 60_000,
  /**
   * Prune honours a lease until it is this old by the store's clock: six refresh intervals, so
   * five refreshes in a row may fail (a store outage, a paused VM) before a prune may take the
   * data of a running backup, and a crashed backup's data is freed 30 minutes after it died
   * (plus prune's grace period).
   */
  leaseTtlMs: 30 * 60_000,
  /** A prune honours at most this TTL, whatever a lease says: a lease cannot pin data for longer. */
  leaseMaxTtlMs: 7 * 24 * 3600_000,
  /** Prune removes clock markers of other prunes (that crashed before removing their own) older than this. */
  clockMarkerMaxAgeMs: 3600_000,
  /** At most one counter event per this many ms (progress.ts CoalescedReport): 4 a second keep a status line live without flooding --json. */
  progressIntervalMs: 250,
  /**
   * A bandwidth limit (--limit-upload, --limit-download) lets at most this many seconds' worth of
   * bytes through at once after an idle spell: a quarter second keeps the link's use close to the
   * limit at every moment while sparing a short request (a HEAD, a small PUT) a wait.
   */
  bandwidthBurstSeconds: 0.25,
  /**
   * A limited transfer goes out in slices of an eighth of a second's worth of bytes (at most
   * 64 KiB), each waiting its turn in the shared bucket: concurrent requests interleave instead of
   * one taking the whole link for a part, and none waits long between two of its own slices.
   */
  bandwidthSliceSeconds: 0.125,
  /** Where the repository is when neither --repo nor CASSETTE_REPO is given. */
  localRepository: './cassette-repo',
} as const;
