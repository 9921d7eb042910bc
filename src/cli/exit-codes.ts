// Exit statuses of the cassette command, mapped from error codes in this one place.

import type { CassetteErrorCode } from '../errors.js';

export const EXIT = {
  /** Everything asked for was done. */
  OK: 0,
  /** A runtime failure: storage, database, hook, unreadable source root, unwritable target. */
  FAILURE: 1,
  /** Bad command line, repository URL or plan file; also an SSE-C object read without its key or with another one (where the store says so). */
  USAGE: 2,
  /**
   * Partial success. Backup: the snapshot was committed, but some entries or attributes are not
   * stored as they were (unreadable, vanished or changed while read; see its warnings). Restore:
   * everything was written, but the target refused some attributes (extended attributes, ACLs).
   * Forget: a named snapshot was kept because a running backup reuses it.
   */
  PARTIAL: 3,
  /** The snapshot or an object it needs does not exist. */
  NOT_FOUND: 4,
  /** Stored data failed a check (hash, size, corrupt frame) or is in an unreadable format, or an entry path was unsafe. */
  INTEGRITY: 5,
  /** Encrypted data and no key that opens it: no --identity or passphrase given, or the wrong one. Nothing was written. */
  KEY: 6,
  /** Interrupted (Ctrl-C / SIGTERM); nothing was committed. */
  INTERRUPTED: 130,
} as const;

export function exitCodeFor(code: CassetteErrorCode): number {
  switch (code) {
    case 'E_USAGE':
    case 'E_REPO':
      return EXIT.USAGE;
    case 'E_SNAPSHOT_NOT_FOUND':
    case 'E_NOT_FOUND':
      return EXIT.NOT_FOUND;
    case 'E_INTEGRITY':
    case 'E_FORMAT':
    case 'E_UNSAFE_PATH':
      return EXIT.INTEGRITY;
    case 'E_ABORTED':
      return EXIT.INTERRUPTED;
    case 'E_KEY':
      return EXIT.KEY;
    case 'E_STORAGE':
    case 'E_SOURCE':
    case 'E_TARGET':
    case 'E_DATABASE':
    case 'E_HOOK':
      return EXIT.FAILURE;
  }
}

/** The text appended to every command's --help. */
export const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    failure (storage, database, hook, source or target error); nothing partial is committed
  2    usage error (bad flag, argument, repository URL or plan file; missing or wrong SSE-C key)
  3    partial success: backup committed, but some entries or attributes are not stored as they were
       (unreadable, vanished or changed while read); restore done, but the target refused some attributes
  4    snapshot or stored object not found
  5    integrity error: stored data failed a check, or an entry path was unsafe
  6    encrypted repository and no key that opens it (no --identity or passphrase, or the wrong one);
       nothing was written
  130  interrupted; nothing was committed`;
