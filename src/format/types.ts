// The stored format's records (index header, frames, entries, commit record) as TypeScript types; docs/FORMAT.md is the contract.

/**
 * The newest version of the index and commit-record layout this code reads. Readers refuse newer versions.
 * Version 2 (2026-11-30) adds incremental snapshots: frames may live in objects that earlier
 * snapshots stored (ArtifactRecord.references), frames carry the SHA-256 of their content, and each
 * artifact has a recipe. Version 1 stays readable.
 */
export const FORMAT_VERSION = 3;

/** Version of the commit records of unencrypted snapshots, and of every index (version 3 changed neither). */
export const PLAIN_VERSION = 2;

/**
 * Version 3 (2026-11-30): an encrypted snapshot (docs/FORMAT.md §8). Its commit record is stored
 * as a public part without names plus the whole record sealed; its objects are age v1 objects.
 * Unencrypted snapshots are still written as version 2.
 */
export const ENCRYPTED_VERSION = 3;

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'chardev' | 'blockdev';

/** One member of the tar stream, as recorded in the index (line 2 + frameCount onwards). */
export interface IndexEntry {
  /**
   * Path relative to the artifact's source root, `/`-separated, no leading `./` or `/`, no trailing
   * `/`. When the name's bytes are not valid UTF-8, this is their UTF-8 decoding with U+FFFD for
   * each invalid sequence (for display and globs), and `pathBytes` holds the exact bytes.
   */
  path: string;
  /** Base64 of the path's exact bytes, only when they are not valid UTF-8. */
  pathBytes?: string;
  type: EntryType;
  /** Content bytes stored in the tar member (0 for everything but `file`). */
  size: number;
  /** Permission bits including setuid/setgid/sticky (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Owner and group names when the backed-up system knows them. */
  uname?: string;
  gname?: string;
  /** Modification time as decimal seconds since the epoch, exactly as in the PAX `mtime` record (e.g. `"1764170000.123456789"`, `"-86400"`). */
  mtime: string;
  /** Symlink target (as stored, verbatim) or, for `hardlink`, the path of the earlier entry it links to (U+FFFD for invalid UTF-8, as `path`). */
  link?: string;
  /** Base64 of the link target's exact bytes, only when they are not valid UTF-8 (for a hard link: the earlier entry's `pathBytes`). */
  linkBytes?: string;
  /** Device numbers for `chardev` and `blockdev`. */
  devmajor?: number;
  devminor?: number;
  /** Lower-case hex SHA-256 of the content, for `file` entries. */
  sha256?: string;
  /**
   * Extended attributes in every namespace the backup could read (`user.`, `trusted.`,
   * `security.`, and POSIX ACLs as `system.posix_acl_access` / `system.posix_acl_default` in the
   * kernel's binary form): name → base64 of the value, in the order the kernel listed them.
   * Absent when the entry has none (or the backup ran with --no-xattrs).
   */
  xattrs?: Record<string, string>;
  /** For `file`: the source occupied fewer blocks than its size (it has holes). Restore then leaves all-zero blocks unwritten. */
  sparse?: boolean;
  /** Offset in the uncompressed tar stream of the member's first header block (its PAX header when it has one). */
  offset: number;
  /** Offset in the uncompressed tar stream of the member's content (= offset of its ustar header + 512). */
  dataOffset: number;
  /**
   * Version 2, files only: the source file's identity when it was read, for the next backup's
   * metadata fast path (a file whose size, mtime, ctime, inode and device are unchanged is not
   * read again). Decimal strings: device and inode numbers can exceed 2^53, ctime is exact like `mtime`.
   */
  dev?: string;
  ino?: string;
  ctime?: string;
}

/** One independent zstd frame of an archive (index lines 2 .. 1 + frameCount). */
export interface FrameRecord {
  /** Number of the frame, from 0, over the whole artifact. */
  frame: number;
  /**
   * Object that holds it, from 0: an index into ArtifactRecord.volumes followed by
   * ArtifactRecord.references (version 2; version 1 has volumes only). See objectsOf().
   */
  volume: number;
  /** Offset of the compressed frame within its volume object. */
  offset: number;
  /** Compressed size of the frame in bytes. */
  size: number;
  /** Offset of the frame's content in the uncompressed tar stream of the artifact. */
  tarOffset: number;
  /** Uncompressed (tar) bytes in the frame. */
  tarSize: number;
  /** Version 2: lower-case hex SHA-256 of the frame's uncompressed bytes (what an incremental backup matches frames by). */
  sha256?: string;
}

export type ArtifactKind = 'tree' | 'database';

/** Line 1 of an index. */
export interface IndexHeader {
  format: 'cassette-index';
  version: number;
  /** Artifact name, e.g. `etc`, `srv-data`, `pg-collage`. */
  artifact: string;
  kind: ArtifactKind;
  /** Absolute source path for trees; for databases the name, or the connection URI without its password (PgConnection.display). */
  source: string;
  /** Number of frame lines that follow the header. */
  frameCount: number;
  /** Number of entry lines that follow the frames. */
  entryCount: number;
  /** Total uncompressed tar bytes of the artifact. */
  tarSize: number;
  /** Hash algorithm of `IndexEntry.sha256`. */
  hash: 'sha256';
}

/** One stored object of an archive. An archive has several only when one object would need more than 10,000 parts. */
export interface VolumeRecord {
  key: string;
  /** Stored (compressed) size, seek table included. */
  size: number;
  /** Lower-case hex SHA-256 of the whole stored object. */
  sha256: string;
  /** Frames in this volume (the seek table's entry count). */
  frames: number;
}

/** The stored index object of an artifact. */
export interface IndexObjectRecord {
  key: string;
  /** Stored (compressed) size. */
  size: number;
  /** Lower-case hex SHA-256 of the whole stored object. Added 2026-11-30: older commit records lack it. */
  sha256?: string;
}

/** Something that did not stop the backup but makes the snapshot differ from the source. */
export interface BackupWarning {
  /**
   * W_UNREADABLE, W_CHANGED, W_VANISHED: the entry (or one of its attributes) is not stored as it
   * was, and the backup exits 3. W_SKIPPED: an entry the format does not store (a socket); W_HOOK:
   * a hook's note. Neither changes the exit code.
   */
  code: 'W_UNREADABLE' | 'W_CHANGED' | 'W_VANISHED' | 'W_SKIPPED' | 'W_HOOK';
  /** Path relative to the artifact's source root, when the warning is about one path. */
  path?: string;
  message: string;
}

export interface DatabaseInfo {
  /** Database name. */
  name: string;
  /** `tar` for `pg_dump -Ft`, `custom` for `-Fc`. */
  dumpFormat: 'tar' | 'custom';
  pgDumpVersion?: string;
  serverVersion?: string;
  /** `pg_database_size()` at dump time, bytes. */
  databaseSize?: number;
  /** Entries in the dump's table of contents (`pg_restore -l`). */
  tocEntries?: number;
  owner?: string;
  encoding?: string;
  collate?: string;
  ctype?: string;
}

/** Version 2: an object an earlier snapshot stored that frames of this artifact are read from. */
export interface ReferenceRecord {
  /** `data/<other id>/<name>`: never under this snapshot's own prefix. */
  key: string;
  /** Stored bytes of the whole object (as its own snapshot recorded them). */
  size: number;
  /** SHA-256 of the whole object, as its own snapshot recorded it. */
  sha256: string;
  /** Frames of this artifact read from it, and their compressed bytes (informative). */
  frames: number;
  bytes: number;
}

/** Version 2: `data/<id>/<artifact>.recipe`, the artifact's frames as (object, byte range) segments in tar order. */
export interface RecipeObjectRecord {
  key: string;
  size: number;
  sha256: string;
}

export interface ArtifactRecord {
  name: string;
  kind: ArtifactKind;
  /** Absolute path of the tree, or the database name / connection URI without password. */
  source: string;
  /**
   * Archive objects this snapshot stored, in order. In version 1 their concatenation is one zstd
   * stream of the whole tar; in version 2 the recipe gives the order of all frames, these and the
   * referenced ones.
   */
  volumes: VolumeRecord[];
  index: IndexObjectRecord;
  /** Version 2: objects of earlier snapshots that frames are read from (frame `volume` numbers volumes.length and up). */
  references?: ReferenceRecord[];
  /** Version 2: the recipe object. */
  recipe?: RecipeObjectRecord;
  /** Version 2: the snapshot whose index this artifact was compared with, when it had one. */
  parent?: string;
  /** Version 2: frames stored new by this snapshot, and frames reused from earlier snapshots with their compressed bytes. */
  newFrames?: number;
  reusedFrames?: number;
  reusedBytes?: number;
  /** Bytes read from the source (file contents, or dump bytes). */
  bytesRead: number;
  /** Uncompressed tar bytes. */
  tarBytes: number;
  /** Compressed bytes this snapshot stored across its volumes (seek tables included); reused frames are in reusedBytes. */
  storedBytes: number;
  frameCount: number;
  entryCount: number;
  /** First warnings, at most 1000; `warningCount` has the total. */
  warnings: BackupWarning[];
  warningCount: number;
  /** Warnings that an entry or an attribute is not stored as it was (W_UNREADABLE, W_CHANGED, W_VANISHED). Absent in records written before 2026-11-30. */
  notStored?: number;
  /**
   * Trees (added 2026-12-01): true when the source is one file (or another non-directory), whose
   * one entry is named after it; an in-place restore then writes the source path itself. Absent
   * for a directory, and in older records.
   */
  sourceIsFile?: true;
  database?: DatabaseInfo;
}

/** A hook that ran around the backup (pre-backup, post-backup). */
export interface HookRecord {
  hook: string;
  command: string;
  exitCode: number;
  /** Last lines of its output. */
  output: string;
  durationMs: number;
}

/** `snapshots/<id>.json`: written last; its presence means the snapshot is complete. */
export interface CommitRecord {
  format: 'cassette-snapshot';
  version: number;
  id: string;
  host: string;
  tags: string[];
  /** ISO 8601 times. */
  startedAt: string;
  finishedAt: string;
  /** Profile and role the snapshot was taken with, when any. */
  profile?: string;
  role?: string;
  cassetteVersion: string;
  /** zstd level used for the archives. */
  compressionLevel: number;
  artifacts: ArtifactRecord[];
  /** Hooks that ran for this snapshot, in order. */
  hooks?: HookRecord[];
  /** Version 3: the snapshot is encrypted (docs/FORMAT.md §8): its objects under data/ are age v1 objects for these recipients. */
  encryption?: EncryptionRecord;
  /**
   * Version 3, as stored: the whole record as an age v1 object, base64. The stored record's
   * other members are its public part (no names); a reader with a key uses the sealed one.
   * Present on a record read without a key that opens it.
   */
  sealed?: string;
}

/** Version 3: how a snapshot is encrypted. */
export interface EncryptionRecord {
  scheme: 'age';
  /** recipientsFingerprint() of the recipients: frames are reused only between snapshots with the same one. */
  recipients: string;
}

/**
 * The lease of a running backup, `locks/<id>.json` (docs/FORMAT.md §1). Its timestamps are the
 * backing-up host's clock and only informative: prune judges a lease by the object's
 * LastModified, in the store's clock, and `ttlSeconds`, a duration.
 */
export interface LeaseRecord {
  format: 'cassette-lease';
  version: 1;
  /** Snapshot id the backup writes. */
  id: string;
  host: string;
  pid: number;
  /** ISO 8601 UTC, the backup host's clock: when the backup took the lease. */
  started: string;
  /** ISO 8601 UTC, the backup host's clock: when this version of the lease was written. */
  refreshed: string;
  /** `refreshed` + `ttlSeconds`, for people reading the object. */
  expires: string;
  /** The backup rewrites the lease this often. */
  refreshSeconds: number;
  /** The lease is fresh while its LastModified is less than this old in the store's clock. */
  ttlSeconds: number;
  /** Snapshots whose objects the backup reuses (its parents, format version 2): a prune keeps their objects while the lease is fresh. */
  parents?: string[];
}

/** Warnings that mean an entry, or part of it, is not in the snapshot as it was on disk: they make a backup exit 3. */
export function isNotStored(warning: BackupWarning): boolean {
  return warning.code === 'W_UNREADABLE' || warning.code === 'W_CHANGED' || warning.code === 'W_VANISHED';
}

/** Every object the frames of an artifact can name, in `FrameRecord.volume` order: its volumes, then its references (version 2). */
export function objectsOf(artifact: Pick<ArtifactRecord, 'volumes' | 'references'>): Array<{ key: string; size: number; sha256: string }> {
  return [...artifact.volumes, ...(artifact.references ?? [])];
}
