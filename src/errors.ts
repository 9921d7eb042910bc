// Error classes with a stable `code`; the CLI maps codes to exit statuses in one place (cli/exit-codes.ts).

/** Every error Cassette raises on purpose carries one of these codes. */
export type CassetteErrorCode =
  /** Bad flags, bad arguments, bad plan file. */
  | 'E_USAGE'
  /** The repository URL or its endpoint is malformed (a usage error: exit 2). */
  | 'E_REPO'
  /** A snapshot reference matched nothing, or more than one snapshot. */
  | 'E_SNAPSHOT_NOT_FOUND'
  /** An object the snapshot needs is missing from the store. */
  | 'E_NOT_FOUND'
  /** The store refused or failed a request. */
  | 'E_STORAGE'
  /** Stored data does not match what its index or commit record says (hash, size, frame). */
  | 'E_INTEGRITY'
  /** A stored format this version cannot read. */
  | 'E_FORMAT'
  /** A source path cannot be backed up at all (missing root, not a directory). */
  | 'E_SOURCE'
  /** A restore entry would write outside its target (absolute path, `..`, symlink escape). */
  | 'E_UNSAFE_PATH'
  /** A target file or directory could not be written during restore. */
  | 'E_TARGET'
  /** pg_dump, pg_restore, createdb, dropdb or psql failed. */
  | 'E_DATABASE'
  /** A pre/post hook failed. */
  | 'E_HOOK'
  /** The operation was cancelled (Ctrl-C, AbortSignal). */
  | 'E_ABORTED'
  /** An encrypted repository or object and no key that opens it: none given, or the wrong one (wrong identity, wrong passphrase). */
  | 'E_KEY';

export class CassetteError extends Error {
  readonly code: CassetteErrorCode;
  /**
   * A storage request that the store definitely refused (it answered 4xx to the request's only
   * attempt), so it took no effect. False for every other failure, including those that leave
   * the outcome unknown: a dropped connection, a timeout, a 5xx after retries (the request may
   * have been carried out and its answer lost). See ObjectStore.put.
   */
  readonly refused: boolean;

  constructor(code: CassetteErrorCode, message: string, options?: { cause?: unknown; refused?: boolean }) {
    super(message, options);
    this.name = 'CassetteError';
    this.code = code;
    this.refused = options?.refused ?? false;
  }
}

export function isCassetteError(error: unknown, code?: CassetteErrorCode): error is CassetteError {
  return error instanceof CassetteError && (code === undefined || error.code === code);
}

/** The message of any thrown value, for wrapping into a CassetteError. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Throws E_ABORTED if the signal has fired; call between steps of long operations. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new CassetteError('E_ABORTED', 'operation interrupted', { cause: signal.reason });
  }
}
