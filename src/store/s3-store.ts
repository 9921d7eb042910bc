// S3 repository (AWS S3, MinIO, Ceph RGW, R2, moto, s3rver) through @aws-sdk/client-s3, with multipart uploads of our own (PartUploader).

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { pipeline, Readable } from 'node:stream';
import { DEFAULTS } from '../defaults.js';
import { CassetteError, messageOf } from '../errors.js';
import {
  GuardedWriter,
  readBody,
  writeStream,
  type ByteRange,
  type CopySource,
  type GetOptions,
  type ObjectInfo,
  type ObjectStore,
  type ObjectWriter,
  type PendingUpload,
  type PutOptions,
} from './object-store.js';
import { Throttle, type BandwidthLimits, type TokenBucket } from './bandwidth.js';
import { ResumableBody, type BodyFailure, type ServedBody } from './resumable-body.js';
import {
  checkEncryption,
  checkStorageClasses,
  customerKeyParameters,
  customerKeyProblem,
  refusedWriteNote,
  writeParameters,
  type CustomerKeyParameters,
  type ServerSideEncryption,
  type StorageClasses,
  type WriteParameters,
} from './server-side.js';
import { s3Advice } from './s3-advice.js';

const MiB = 1024 * 1024;

/** Default part size: large enough that 10,000 parts hold 80 GiB, small enough for 4 in flight. */
export const DEFAULT_PART_SIZE = 8 * MiB;
/** S3 rejects parts under 5 MiB except the last one. */
export const MIN_PART_SIZE = 5 * MiB;
/** Default parts in flight per put. */
export const DEFAULT_QUEUE_SIZE = 4;
/** The largest object one CopyObject may copy (the S3 limit); larger ones are copied in parts (UploadPartCopy). */
export const MAX_SINGLE_COPY = 5 * 1024 * MiB;
/** Parts of a copy in parts: large, so that 10,000 of them hold 5 TiB. */
const COPY_PART_SIZE = 512 * MiB;
/** Keys per DeleteObjects request (the S3 maximum). */
const DELETE_BATCH = 1000;

export interface S3StoreOptions {
  /** Bucket name. */
  bucket: string;
  /** Key prefix of the repository, without leading or trailing `/` (those are stripped); may be empty. */
  prefix: string;
  /**
   * Custom endpoint for S3-compatible stores (MinIO, RGW, R2, moto, s3rver). Implies path-style
   * addressing and `WHEN_REQUIRED` request/response checksums: the default `WHEN_SUPPORTED`
   * sends streaming bodies as aws-chunked with trailing checksums, which several stores reject or
   * store verbatim (NOTES.md).
   */
  endpoint?: string;
  /** Region; default: the AWS chain (AWS_REGION, the shared config file...), else `us-east-1`. */
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`); default: true whenever `endpoint` is set. */
  forcePathStyle?: boolean;
  /**
   * The AWS profile for credentials and region (as AWS_PROFILE); default: AWS_PROFILE, else
   * `default`. The endpoint is not read from it here: openStore resolves it (aws-config.ts), and
   * the SDK's own endpoint lookup is turned off so that one place decides.
   */
  profile?: string;
  /** Bandwidth limits shared with every other transfer of the process (bandwidth.ts); default: none. */
  limits?: BandwidthLimits;
  /** Credentials; default: the standard AWS chain (environment, shared files, SSO, instance role). */
  credentials?: S3ClientConfig['credentials'];
  /**
   * Attempts per request, with backoff between them (the SDK's retries: errors, throttling,
   * timeouts); also the attempts in a row without a new byte when a GET body whose connection
   * dropped is re-requested from its first missing byte. Default DEFAULTS.storageAttempts.
   */
  maxAttempts?: number;
  /** Milliseconds to establish a connection. Default DEFAULTS.connectTimeoutMs. */
  connectTimeoutMs?: number;
  /**
   * Milliseconds without a byte sent or received before a request is given up and retried:
   * while its body is sent, while waiting for the response, and between bytes of a response
   * body. Inactivity, not duration: a long transfer that keeps moving is never cut. Default
   * DEFAULTS.idleTimeoutMs.
   */
  idleTimeoutMs?: number;
  /** First backoff before a dropped GET body is re-requested. Default DEFAULTS.resumeDelayMs. */
  resumeDelayMs?: number;
  /**
   * Hash upload bodies into the SigV4 signature. Default false: uploads are signed with
   * UNSIGNED-PAYLOAD (see `unsignedUploads`). WARNING: only turn it off on TLS endpoints when a
   * proxy between you and the store could alter bodies; the SHA-256 in each commit record is the
   * end-to-end check either way.
   */
  signPayload?: boolean;
  /**
   * Server-side encryption of every object written (server-side.ts); with SSE-C the key also goes
   * with every read. Default: none asked for (the bucket's default encryption applies).
   * WARNING: objects written with an SSE-C key can only be read with that key.
   */
  encryption?: ServerSideEncryption;
  /** Storage classes of the objects written, archives apart from the rest (server-side.ts). Default: none sent (the bucket's default). */
  storageClass?: StorageClasses;
  /** Objects above this size are copied server-side in parts (UploadPartCopy), of `copyPartSize` each. Default MAX_SINGLE_COPY; tests lower both. */
  singleCopyLimit?: number;
  /** Part size of a copy in parts; default 512 MiB, more when 10,000 parts would not hold the object. */
  copyPartSize?: number;
}

type SdkError = Error & { $metadata?: { httpStatusCode?: number; attempts?: number }; Code?: string; code?: string };

function statusOf(error: unknown): number | undefined {
  return (error as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/** ", 4 attempts" when the SDK tried more than once, for messages. */
function attemptsNote(error: unknown): string {
  const attempts = (error as SdkError | undefined)?.$metadata?.attempts;
  return attempts !== undefined && attempts > 1 ? `, ${attempts} attempts` : '';
}

/**
 * Which of the HTTP handler's own timers failed a request. Its timeouts are Errors named
 * TimeoutError without a `code` (socket errors such as ECONNRESET get that name too, with their
 * code); only the message tells the connect timer from the idle one.
 */
function timeoutOf(error: unknown): 'connect' | 'idle' | undefined {
  const e = error as SdkError | undefined;
  if (e?.name !== 'TimeoutError' || e.code !== undefined) return undefined;
  if (/establish a connection/.test(e.message)) return 'connect';
  if (/inactivity/.test(e.message)) return 'idle';
  return undefined;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

function isPreconditionFailed(error: unknown): boolean {
  return statusOf(error) === 412 || nameOf(error) === 'PreconditionFailed';
}

function nameOf(error: unknown): string | undefined {
  return (error as { name?: string } | undefined)?.name;
}

/** The object is missing (a missing bucket is not "not found": it is a repository problem). */
function isNotFound(error: unknown): boolean {
  const name = nameOf(error);
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(error) === 404 && name !== 'NoSuchBucket');
}

/**
 * The store answered the request's only attempt with a 4xx (AccessDenied, NoSuchBucket…): it
 * was refused and took no effect. After a retry the earlier attempt's fate is unknown (the SDK
 * retries only failures that may have been carried out: resets, timeouts, 5xx, throttling), so a
 * 4xx on a later attempt is not a refusal of the whole operation.
 */
function isRefusal(error: unknown): boolean {
  const status = statusOf(error);
  const attempts = (error as SdkError | undefined)?.$metadata?.attempts ?? 1;
  return status !== undefined && status >= 400 && status < 500 && attempts <= 1;
}

function isAbortError(error: unknown): boolean {
  return nameOf(error) === 'AbortError';
}

/** The store does not implement the request (s3rver: multipart listing and abort, sometimes DeleteObjects). */
function isNotImplemented(error: unknown): boolean {
  const status = statusOf(error);
  return status === 405 || status === 501 || nameOf(error) === 'NotImplemented' || nameOf(error) === 'MethodNotAllowed';
}

/** The server's words: its error code and message ("NoSuchBucket: The specified bucket does not exist"). */
function serverMessage(error: unknown): string {
  const name = nameOf(error);
  const message = messageOf(error);
  if (!name || name === 'Error' || message.includes(name)) return message;
  return message && message !== 'UnknownError' ? `${name}: ${message}` : name;
}

function abortError(): Error {
  return Object.assign(new Error('upload aborted'), { name: 'AbortError' });
}

/**
 * The region from the standard AWS chain (AWS_REGION, then the shared config file's profile),
 * else AWS_DEFAULT_REGION (the AWS CLI's variable), else us-east-1. The chain is the SDK's own
 * default provider, borrowed from a client built without a region (it throws "Region is
 * missing" when nothing is configured).
 */
function regionWithFallback(profile: string | undefined): () => Promise<string> {
  const probe = new S3Client({ profile });
  const chain = probe.config.region;
  probe.destroy();
  let resolved: Promise<string> | undefined;
  const fallback = (): string => process.env.AWS_DEFAULT_REGION || 'us-east-1';
  return () => {
    resolved ??= chain().then((region) => region || fallback(), fallback);
    return resolved;
  };
}

export class S3Store implements ObjectStore {
  readonly url: string;
  /** The SDK client; exposed for tests and for wrappers that need raw requests. */
  readonly client: S3Client;
  readonly bucket: string;
  /** Normalised key prefix (no leading or trailing `/`), possibly empty. */
  readonly prefix: string;
  private readonly maxAttempts: number;
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly resumeDelayMs: number;
  private readonly encryption: ServerSideEncryption | undefined;
  private readonly storageClasses: StorageClasses | undefined;
  /** SSE-C parameters for UploadPart, CompleteMultipartUpload, GetObject and HeadObject; empty without SSE-C. */
  readonly customerKey: CustomerKeyParameters;
  private readonly endpoint: string | undefined;
  private readonly profile: string | undefined;
  /** Where requests go and as whom: two stores with the same may copy server-side between them. */
  private readonly service: { endpoint: string | undefined; credentials: S3StoreOptions['credentials'] };
  private readonly singleCopyLimit: number;
  private readonly copyPartSize: number | undefined;

  constructor(options: S3StoreOptions) {
    if (!options.bucket) throw new CassetteError('E_REPO', 'S3Store needs a bucket name');
    this.encryption = checkEncryption(options.encryption);
    this.storageClasses = checkStorageClasses(options.storageClass);
    this.customerKey = customerKeyParameters(this.encryption);
    this.bucket = options.bucket;
    this.prefix = options.prefix.replace(/^\/+|\/+$/g, '');
    this.url = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
    const custom = options.endpoint !== undefined;
    this.endpoint = options.endpoint;
    this.profile = options.profile || process.env.AWS_PROFILE || undefined;
    this.maxAttempts = options.maxAttempts ?? DEFAULTS.storageAttempts;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
    this.resumeDelayMs = options.resumeDelayMs ?? DEFAULTS.resumeDelayMs;
    this.service = { endpoint: options.endpoint?.replace(/\/+$/, ''), credentials: options.credentials };
    this.singleCopyLimit = options.singleCopyLimit ?? MAX_SINGLE_COPY;
    this.copyPartSize = options.copyPartSize;
    this.client = new S3Client({
      region: options.region ?? regionWithFallback(options.profile),
      profile: options.profile,
      endpoint: options.endpoint,
      ignoreConfiguredEndpointUrls: true,
      forcePathStyle: options.forcePathStyle ?? custom,
      credentials: options.credentials,
      maxAttempts: this.maxAttempts,
      // Without these the SDK waits forever on a server that accepts a request and never answers.
      // socketTimeout is the socket's inactivity (reads and writes), from the request to the end of
      // the response body; its TimeoutError is retried like any transient error, except in a
      // streamed GET body, which ResumableBody re-requests. requestTimeout is not used: in this
      // SDK it runs from the start of a request to its response headers (a large UploadPart on a
      // slow link would be cut however well it moves), and does not cover the body.
      requestHandler: { connectionTimeout: this.connectTimeoutMs, socketTimeout: this.idleTimeoutMs },
      ...(custom ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
    });
    if (options.signPayload !== true) this.unsignedUploads();
    if (options.limits?.upload || options.limits?.download) this.limitBandwidth(options.limits);
  }

  /**
   * Every attempt of every request sends its body and reads its response body through the
   * process's buckets. It sits next to the HTTP handler (the innermost step), so a retried
   * request counts again, and it sees the socket: while a limit holds bytes back, the socket's
   * idle timer is re-armed (Throttle), so --timeout measures the store's silence, not ours.
   */
  private limitBandwidth(limits: BandwidthLimits): void {
    this.client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body?: unknown };
        const upload = limits.upload;
        const body = request.body;
        const bytes = typeof body === 'string' ? Buffer.from(body) : body instanceof Uint8Array ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined;
        // A copy of the request for this attempt: a retry starts again from the original bytes.
        const sent =
          upload && bytes && bytes.length > 0
            ? { ...args, request: Object.assign(Object.create(Object.getPrototypeOf(request) as object) as object, request, { body: uploadBody(upload, bytes) }) }
            : args;
        const result = await next(sent);
        const response = result.response as { body?: unknown };
        if (limits.download && response.body instanceof Readable) response.body = downloadBody(limits.download, response.body);
        return result;
      },
      { step: 'deserialize', priority: 'low', name: 'cassetteBandwidthLimit', override: true },
    );
  }

  /**
   * Sign object uploads with UNSIGNED-PAYLOAD instead of hashing every body for SigV4: over
   * plain HTTP the SDK otherwise SHA-256-hashes each part, which doubled the hashing CPU of a
   * backup here (811 ms vs 389 ms of hash time for 427 MB). Integrity of what is stored is
   * checked end to end with the SHA-256 of each object and each file (verify --read-data).
   */
  private unsignedUploads(): void {
    this.client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { method?: string; headers?: Record<string, string> };
        if (request.method === 'PUT' && request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        return next(args);
      },
      { step: 'build', name: 'cassetteUnsignedPayload', override: true },
    );
  }

  /** The full object key of a repository key: `prefix/key`, without doubled slashes. */
  keyFor(key: string): string {
    const relative = key.replace(/^\/+/, '');
    return this.prefix ? `${this.prefix}/${relative}` : relative;
  }

  /** Encryption and storage class of PutObject and CreateMultipartUpload for `key` (relative to the repository). */
  writeParameters(key: string): WriteParameters {
    return writeParameters(this.encryption, this.storageClasses, key);
  }

  private relative(fullKey: string): string {
    return this.prefix && fullKey.startsWith(`${this.prefix}/`) ? fullKey.slice(this.prefix.length + 1) : fullKey;
  }

  /** Turns any failure into the CassetteError the contract promises. */
  failure(operation: string, key: string, error: unknown): CassetteError {
    if (error instanceof CassetteError) return error;
    if (isAbortError(error)) return new CassetteError('E_ABORTED', `${operation} ${this.url}/${key} interrupted`, { cause: error });
    if (isNotFound(error) && (operation === 'GET' || operation === 'HEAD')) {
      return new CassetteError('E_NOT_FOUND', `object ${key} not found in ${this.url}`, { cause: error });
    }
    const what = `${operation} s3://${this.bucket}/${this.keyFor(key)} ${this.whatWentWrong(error)}`;
    const refused = isRefusal(error);
    if (operation === 'GET' || operation === 'HEAD') {
      const customerKey = this.encryption?.kind === 'customer' ? this.encryption : undefined;
      const problem = customerKeyProblem({ operation, status: statusOf(error), code: nameOf(error), message: messageOf(error) }, customerKey);
      if (problem) {
        const answer = `HTTP ${String(statusOf(error))}: ${serverMessage(error)}${attemptsNote(error)}`;
        return new CassetteError(problem.certain ? 'E_USAGE' : 'E_STORAGE', `${operation} s3://${this.bucket}/${this.keyFor(key)} failed: ${problem.explanation} (${answer})`, {
          cause: error,
          refused,
        });
      }
    }
    // s3rver checks the storage class of a multipart upload only when it is completed.
    const creates = operation === 'PUT' || operation === 'CreateMultipartUpload of' || operation === 'CompleteMultipartUpload of';
    const note = refused && creates ? refusedWriteNote(this.encryption, this.storageClasses, key) : '';
    const advice = s3Advice(nameOf(error), { bucket: this.bucket, endpoint: this.endpoint, profile: this.profile }, messageOf(error));
    if (advice) {
      const answer = statusOf(error) === undefined ? ` (${messageOf(error)})` : ` (HTTP ${String(statusOf(error))}: ${serverMessage(error)}${attemptsNote(error)})`;
      return new CassetteError('E_STORAGE', `${operation} s3://${this.bucket}/${this.keyFor(key)} failed: ${advice}${answer}${note}`, { cause: error, refused });
    }
    return new CassetteError('E_STORAGE', what + note, { cause: error, refused });
  }

  /** "failed (HTTP 503): SlowDown: …, 5 attempts", "timed out after 60 s without a response, 5 attempts"… */
  private whatWentWrong(error: unknown): string {
    const timeout = timeoutOf(error);
    if (timeout === 'idle') return `timed out after ${seconds(this.idleTimeoutMs)} without a response${attemptsNote(error)}`;
    if (timeout === 'connect') return `failed: no connection within ${seconds(this.connectTimeoutMs)}${attemptsNote(error)}`;
    const status = statusOf(error);
    return `failed${status ? ` (HTTP ${status})` : ''}: ${serverMessage(error)}${attemptsNote(error)}`;
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<{ size: number }> {
    const partSize = Math.max(MIN_PART_SIZE, options.partSize ?? DEFAULT_PART_SIZE);
    if (Buffer.isBuffer(body) && body.length < partSize) return this.putSmall(key, body, options);
    return this.putMultipart(key, body, partSize, options);
  }

  private async putSmall(key: string, body: Buffer, options: PutOptions): Promise<{ size: number }> {
    try {
      if (options.signal?.aborted) throw abortError();
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.keyFor(key), Body: body, ContentLength: body.length, ...this.writeParameters(key) }), {
        abortSignal: options.signal,
      });
    } catch (error) {
      throw this.failure('PUT', key, error);
    }
    options.onProgress?.(body.length);
    return { size: body.length };
  }

  /**
   * A stream (or a large buffer) as a multipart upload of our own rather than lib-storage's
   * Upload: lib-storage concatenates every part into a new buffer (its remainder pins the old
   * one) and only aborts once the body drains. Here a stream is copied into at most
   * queueSize + 1 part buffers that are reused for the whole upload, so memory is fixed and the
   * garbage collector sees no per-part allocations; a buffer body is cut into views, not
   * copied. The first failure stops everything: in-flight part requests are cancelled, the body
   * is destroyed, and the multipart upload is aborted before the error is reported.
   */
  private async putMultipart(key: string, body: Buffer | Readable, partSize: number, options: PutOptions): Promise<{ size: number }> {
    const writer = new S3Writer(this, key, partSize, options);
    if (!Buffer.isBuffer(body)) {
      const stopBody = (): void => void body.destroy(abortError());
      options.signal?.addEventListener('abort', stopBody, { once: true });
      try {
        return await writeStream(writer, body, (cause) => writer.fail(cause));
      } finally {
        options.signal?.removeEventListener('abort', stopBody);
      }
    }
    return writer.putBuffer(body);
  }

  openWriter(key: string, options: PutOptions = {}): ObjectWriter {
    return new S3Writer(this, key, Math.max(MIN_PART_SIZE, options.partSize ?? DEFAULT_PART_SIZE), options);
  }

  /**
   * The object or range as one stream that survives dropped connections (ResumableBody): a body
   * that fails or stalls is re-requested from its first missing byte, If-Match the first
   * response's ETag. A stall inside a body is ended by the client's socket idle timeout, which in
   * this SDK covers response bodies (tested in s3-faults.test.ts). Some servers answer a range
   * with the whole object (status 200, no Content-Range) or with more than asked (s3rver for
   * bytes=0-0): the stream is cut to exactly the range.
   */
  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    const range = options.range;
    if (range && (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start)) {
      throw new RangeError(`bad byte range ${range.start}-${range.end} for ${key}`);
    }
    let first: ServedBody;
    try {
      first = await this.request(key, range, undefined, options.signal);
    } catch (error) {
      // A range that starts past the end: clipped to nothing, as the contract says.
      if (range && (statusOf(error) === 416 || nameOf(error) === 'InvalidRange')) return Readable.from([]);
      throw this.failure('GET', key, error);
    }
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? Infinity, first.objectSize === undefined ? Infinity : first.objectSize - 1);
    if (end < start) {
      // An empty object, or a range past the end answered with the whole object.
      if (first.length === 0) first.body.resume();
      else first.body.on('error', () => undefined).destroy();
      return Readable.from([]);
    }
    return new ResumableBody(first, {
      start,
      end,
      refetch: (from, etag, signal) => this.request(key, { start: from, end }, etag, signal),
      maxAttempts: this.maxAttempts,
      resumeDelayMs: this.resumeDelayMs,
      signal: options.signal,
      fail: (failure) => this.bodyFailure(key, range ? { start, end } : undefined, end - start + 1, failure),
    });
  }

  /** One GetObject; `end` may be Infinity (to the end of the object). */
  private async request(key: string, range: ByteRange | undefined, ifMatch: string | undefined, signal: AbortSignal | undefined): Promise<ServedBody> {
    const response = await this.client.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.keyFor(key),
        Range: range ? `bytes=${range.start}-${Number.isFinite(range.end) ? range.end : ''}` : undefined,
        IfMatch: ifMatch,
        ...this.customerKey,
      }),
      { abortSignal: signal },
    );
    const served = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.ContentRange ?? '');
    return {
      body: response.Body as Readable,
      offset: served ? Number(served[1]) : 0,
      length: response.ContentLength,
      objectSize: served ? (served[2] === '*' ? undefined : Number(served[2])) : response.ContentLength,
      etag: response.ETag,
    };
  }

  /** The error a GET body fails with once ResumableBody gives up. */
  private bodyFailure(key: string, range: ByteRange | undefined, expected: number, failure: BodyFailure): CassetteError {
    if (failure.kind === 'aborted') return new CassetteError('E_ABORTED', `GET ${this.url}/${key} interrupted`, { cause: failure.cause });
    const what = `GET s3://${this.bucket}/${this.keyFor(key)}${range ? ` bytes ${range.start}-${Number.isFinite(range.end) ? range.end : ''}` : ''}`;
    const total = Number.isFinite(expected) ? ` (of ${expected})` : '';
    switch (failure.kind) {
      case 'dropped': {
        const { received, attempts, cause } = failure;
        if (timeoutOf(cause) === 'idle')
          return new CassetteError('E_STORAGE', `${what}: no data for ${seconds(this.idleTimeoutMs)} after ${received} bytes${total}, ${attempts} attempts`, { cause });
        return new CassetteError('E_STORAGE', `${what}: connection dropped after ${received} bytes${total}, ${attempts} attempts (last: ${messageOf(cause)})`, { cause });
      }
      case 'refetch': {
        const { received, cause } = failure;
        if (isPreconditionFailed(cause)) return this.bodyFailure(key, range, expected, { kind: 'changed', received, etag: undefined, now: undefined, cause });
        if (isAbortError(cause)) return new CassetteError('E_ABORTED', `GET ${this.url}/${key} interrupted`, { cause });
        if (isNotFound(cause)) return new CassetteError('E_NOT_FOUND', `object ${key} was deleted from ${this.url} while it was read (${what})`, { cause });
        return new CassetteError(
          'E_STORAGE',
          `${what}: connection dropped after ${received} bytes${total} (${messageOf(failure.dropped)}), and asking for the rest ${this.whatWentWrong(cause)}`,
          { cause },
        );
      }
      case 'changed': {
        const change = failure.now ? `its ETag is now ${failure.now}, was ${failure.etag ?? 'none'}` : 'it no longer matches the ETag of the first response';
        return new CassetteError('E_INTEGRITY', `object ${key} in ${this.url} changed while it was read (${what}, after ${failure.received} bytes): ${change}`, {
          cause: failure.cause,
        });
      }
      case 'gap':
        return new CassetteError('E_STORAGE', `${what}: asked for the bytes from ${failure.asked}, the store answered from ${failure.offset}`);
    }
  }

  async getBuffer(key: string, options: GetOptions = {}): Promise<Buffer> {
    const stream = await this.get(key, options);
    try {
      return await readBody(stream, options.into, options.onProgress);
    } catch (error) {
      stream.destroy();
      throw this.failure('GET', key, error);
    }
  }

  /**
   * Server-side copy from another S3Store on the same endpoint with the same credentials (the
   * default chain on both, or the same object): CopyObject up to 5 GiB, else a multipart upload
   * of UploadPartCopy parts, aborted on any failure. Undefined (the caller streams) for another
   * endpoint or kind of store, and with SSE-C on either side (a copy would need both keys).
   */
  async copy(key: string, from: CopySource, options: { signal?: AbortSignal } = {}): Promise<{ size: number } | undefined> {
    const source = from.store;
    if (!(source instanceof S3Store) || source.service.endpoint !== this.service.endpoint || source.service.credentials !== this.service.credentials) return undefined;
    if (this.encryption?.kind === 'customer' || source.encryption?.kind === 'customer') return undefined;
    const copySource = encodeURI(`${source.bucket}/${source.keyFor(from.key)}`);
    if (from.size <= this.singleCopyLimit) {
      try {
        await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: this.keyFor(key), CopySource: copySource, ...this.writeParameters(key) }), {
          abortSignal: options.signal,
        });
      } catch (error) {
        throw this.copyFailure(source, from.key, key, error);
      }
      return { size: from.size };
    }
    const partSize = Math.max(this.copyPartSize ?? COPY_PART_SIZE, Math.ceil(from.size / 10_000));
    let uploadId: string | undefined;
    try {
      uploadId = (
        await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.keyFor(key), ...this.writeParameters(key) }), { abortSignal: options.signal })
      ).UploadId;
      if (!uploadId) throw new Error('the store returned no upload id');
      const parts: Array<{ ETag: string; PartNumber: number }> = [];
      for (let start = 0, n = 1; start < from.size; start += partSize, n++) {
        const end = Math.min(from.size, start + partSize) - 1;
        const response = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: this.keyFor(key),
            UploadId: uploadId,
            PartNumber: n,
            CopySource: copySource,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
          { abortSignal: options.signal },
        );
        const etag = response.CopyPartResult?.ETag;
        if (!etag) throw new Error(`the store returned no ETag for part ${n}`);
        parts.push({ ETag: etag, PartNumber: n });
      }
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: this.keyFor(key), UploadId: uploadId, MultipartUpload: { Parts: parts } }), {
        abortSignal: options.signal,
      });
      return { size: from.size };
    } catch (error) {
      if (uploadId) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.keyFor(key), UploadId: uploadId })).catch(() => undefined);
      throw this.copyFailure(source, from.key, key, error);
    }
  }

  private copyFailure(source: S3Store, sourceKey: string, key: string, error: unknown): CassetteError {
    if (isNotFound(error)) return new CassetteError('E_NOT_FOUND', `object ${sourceKey} not found in ${source.url}`, { cause: error });
    return this.failure(`copy of s3://${source.bucket}/${source.keyFor(sourceKey)} to`, key, error);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyFor(key), ...this.customerKey }));
      return { key, size: response.ContentLength ?? 0, lastModified: response.LastModified };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.failure('HEAD', key, error);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let response;
      try {
        response = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.keyFor(prefix), ContinuationToken: token }));
      } catch (error) {
        throw this.failure('LIST', prefix, error);
      }
      for (const object of response.Contents ?? []) {
        if (!object.Key) continue;
        yield { key: this.relative(object.Key), size: object.Size ?? 0, lastModified: object.LastModified };
      }
      token = response.IsTruncated ? response.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: string[]): Promise<void> {
    let multiDelete = true;
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      if (multiDelete) {
        try {
          const response = await this.client.send(
            new DeleteObjectsCommand({
              Bucket: this.bucket,
              Delete: { Objects: batch.map((key) => ({ Key: this.keyFor(key) })), Quiet: true },
            }),
          );
          const failed = (response.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
          if (failed.length > 0) {
            const first = failed[0]!;
            throw new CassetteError(
              'E_STORAGE',
              `DELETE of ${failed.length} object(s) in s3://${this.bucket} failed, first ${first.Key ?? '(no key)'}: ${first.Code ?? '(no code)'}: ${first.Message ?? '(no message)'}`,
            );
          }
          continue;
        } catch (error) {
          if (!isNotImplemented(error)) throw this.failure('DELETE (multi-object)', batch[0]!, error);
          // Stores without multi-object delete: one request per key from now on.
          multiDelete = false;
        }
      }
      for (const key of batch) {
        try {
          await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyFor(key) }));
        } catch (error) {
          if (!isNotFound(error)) throw this.failure('DELETE', key, error);
        }
      }
    }
  }

  async *listPendingUploads(prefix: string): AsyncIterable<PendingUpload> {
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    for (;;) {
      let response;
      try {
        response = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.keyFor(prefix), KeyMarker, UploadIdMarker }));
      } catch (error) {
        // Stores without multipart listing (s3rver) have nothing we could abort anyway.
        if (isNotImplemented(error)) return;
        throw this.failure('LIST multipart uploads under', prefix, error);
      }
      for (const upload of response.Uploads ?? []) {
        if (upload.Key && upload.UploadId) yield { key: this.relative(upload.Key), uploadId: upload.UploadId, initiated: upload.Initiated };
      }
      if (!response.IsTruncated || (!response.NextKeyMarker && !response.NextUploadIdMarker)) return;
      KeyMarker = response.NextKeyMarker;
      UploadIdMarker = response.NextUploadIdMarker;
    }
  }

  async abortPendingUpload(upload: PendingUpload): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.keyFor(upload.key), UploadId: upload.uploadId }));
    } catch (error) {
      if (nameOf(error) === 'NoSuchUpload') return;
      throw this.failure('ABORT multipart upload of', upload.key, error);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/**
 * An ObjectWriter over a PartUploader: bytes are copied into reused part buffers; a full part is
 * sent while the next one fills. An object that never fills one part is stored with one PutObject.
 */
class S3Writer extends GuardedWriter {
  private readonly upload: PartUploader;
  private part: Buffer | undefined;
  private filled = 0;

  constructor(
    private readonly store: S3Store,
    key: string,
    private readonly partSize: number,
    private readonly options: PutOptions,
  ) {
    super(key);
    this.upload = new PartUploader(
      store.client,
      store.bucket,
      store.keyFor(key),
      { write: store.writeParameters(key), customerKey: store.customerKey },
      options.queueSize ?? DEFAULT_QUEUE_SIZE,
      options.onProgress,
    );
    if (options.signal?.aborted) this.onAbort();
    else options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => this.upload.stop(abortError());

  /** Finished or failed: the signal no longer concerns this upload. */
  private settle(): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }

  protected check(): void {
    this.upload.check();
  }

  protected abortReason(): unknown {
    return abortError();
  }

  protected async append(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      this.part ??= await this.upload.buffer(this.partSize);
      const n = Math.min(this.partSize - this.filled, chunk.length - at);
      chunk.copy(this.part, this.filled, at, at + n);
      this.filled += n;
      at += n;
      if (this.filled === this.partSize) {
        this.upload.send(this.part, this.partSize);
        this.part = undefined;
        this.filled = 0;
      }
    }
  }

  protected async complete(): Promise<number> {
    try {
      const size = await this.upload.finish(this.part ?? EMPTY, this.filled);
      this.settle();
      return size;
    } finally {
      this.part = undefined;
    }
  }

  /** A whole buffer, cut into views of it (no copy). */
  putBuffer(buffer: Buffer): Promise<{ size: number }> {
    return this.guarded(async () => {
      let at = 0;
      for (; at + this.partSize < buffer.length; at += this.partSize) {
        await this.upload.slot();
        this.upload.send(buffer.subarray(at, at + this.partSize), this.partSize, false);
      }
      const size = await this.upload.finish(buffer.subarray(at), buffer.length - at);
      this.settle();
      return { size };
    }, true);
  }

  protected async cleanUp(error: unknown): Promise<CassetteError> {
    this.upload.stop(error);
    this.part = undefined;
    const cleanup = await this.upload.cleanUp();
    const failure = this.describe(this.upload.cause ?? error, cleanup);
    this.settle();
    return failure;
  }

  /** The error for a failure of this upload: an interruption, a failed request, or a failed body. */
  private describe(cause: unknown, cleanup: string): CassetteError {
    const url = this.store.url;
    if (this.options.signal?.aborted) return new CassetteError('E_ABORTED', `upload of ${this.key} to ${url} interrupted${cleanup}`, { cause });
    if (this.upload.failedRequest === cause) {
      const failed = this.store.failure(this.upload.failedOperation!, this.key, cause);
      return cleanup ? new CassetteError(failed.code, failed.message + cleanup, { cause }) : failed;
    }
    if (cause instanceof CassetteError && !cleanup) return cause;
    const code = cause instanceof CassetteError ? cause.code : 'E_STORAGE';
    return new CassetteError(code, `upload of ${this.key} to ${url} failed: ${messageOf(cause)}${cleanup}`, { cause });
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * One multipart upload: parts go out as they are handed over, at most `queueSize` at once, from
 * at most queueSize + 1 reused buffers. The upload is created when the first part is sent, so an
 * object smaller than one part is a single PutObject. After `stop` (first failure or abort),
 * nothing new is sent and in-flight parts are cancelled; `cleanUp` then aborts the upload.
 */
class PartUploader {
  private readonly cancel = new AbortController();
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly etags: string[] = [];
  private uploadId: Promise<string> | undefined;
  private createdId: string | undefined;
  private stored = 0;
  private partCount = 0;
  /** The first failure: a request error or the reason given to stop(). */
  cause: unknown;
  /** Set when `cause` is a failed request, with the operation for the message. */
  failedRequest: unknown;
  failedOperation: string | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    /** Encryption and storage class for PutObject and CreateMultipartUpload; the SSE-C key for UploadPart and CompleteMultipartUpload. */
    private readonly parameters: { write: WriteParameters; customerKey: CustomerKeyParameters },
    private readonly queueSize: number,
    private readonly onProgress?: (bytes: number) => void,
  ) {}

  /** Throws the first failure, if any. */
  check(): void {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the first failure as it came, also an abort reason that is not an Error
    if (this.cause !== undefined) throw this.cause;
  }

  stop(reason: unknown): void {
    this.cause ??= reason;
    if (!this.cancel.signal.aborted) this.cancel.abort(reason);
  }

  /** Waits until fewer than queueSize parts are in flight. */
  async slot(): Promise<void> {
    while (this.inFlight.size >= this.queueSize) {
      await Promise.race(this.inFlight);
      this.check();
    }
    this.check();
  }

  /** A part buffer to fill: a reused one, or a new one while fewer than queueSize + 1 exist. */
  async buffer(size: number): Promise<Buffer> {
    await this.slot();
    while (this.free.length === 0 && this.allocated > this.queueSize) {
      await Promise.race(this.inFlight);
      this.check();
    }
    const reused = this.free.pop();
    if (reused) return reused;
    this.allocated++;
    return Buffer.allocUnsafeSlow(size);
  }

  private async request<T>(operation: string, run: () => Promise<T>): Promise<T> {
    this.check();
    try {
      return await run();
    } catch (error) {
      if (this.cause === undefined) {
        this.failedRequest = error;
        this.failedOperation = operation;
        this.stop(error);
      }
      throw error;
    }
  }

  private created(): Promise<string> {
    this.uploadId ??= this.request('CreateMultipartUpload of', async () => {
      const response = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, ...this.parameters.write }));
      if (!response.UploadId) throw new Error('the store returned no upload id');
      this.createdId = response.UploadId;
      return response.UploadId;
    });
    return this.uploadId;
  }

  /** Upload the first `length` bytes of `part` as the next part; a reusable buffer returns to the free list when done. */
  send(part: Buffer, length: number, reusable = true): void {
    this.check();
    const number = ++this.partCount;
    const body = length === part.length ? part : part.subarray(0, length);
    const promise = (async () => {
      const UploadId = await this.created();
      const response = await this.request('UploadPart of', () =>
        this.client.send(
          new UploadPartCommand({ Bucket: this.bucket, Key: this.key, UploadId, PartNumber: number, Body: body, ContentLength: length, ...this.parameters.customerKey }),
          {
            abortSignal: this.cancel.signal,
          },
        ),
      );
      this.etags[number - 1] = response.ETag ?? '';
      this.stored += length;
      this.onProgress?.(this.stored);
    })();
    const tracked = promise.then(
      () => {
        this.inFlight.delete(tracked);
        if (reusable) this.free.push(part);
      },
      () => {
        this.inFlight.delete(tracked);
      },
    );
    this.inFlight.add(tracked);
  }

  /** Send the last part (or the whole object, when no part went out yet) and complete the upload. */
  async finish(last: Buffer, length: number): Promise<number> {
    this.check();
    if (this.partCount === 0) {
      const Body = last.subarray(0, length);
      await this.request('PUT', () =>
        this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body, ContentLength: length, ...this.parameters.write }), { abortSignal: this.cancel.signal }),
      );
      this.onProgress?.(length);
      return length;
    }
    if (length > 0) {
      await this.slot();
      this.send(last, length, false);
    }
    while (this.inFlight.size > 0) {
      await Promise.race(this.inFlight);
      this.check();
    }
    const UploadId = await this.created();
    await this.request('CompleteMultipartUpload of', () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.key,
          UploadId,
          MultipartUpload: { Parts: this.etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          ...this.parameters.customerKey,
        }),
      ),
    );
    this.free.length = 0;
    return this.stored;
  }

  /**
   * After a failure: let in-flight requests settle, then abort the multipart upload. Returns a
   * note for the error message when it could not be aborted.
   */
  async cleanUp(): Promise<string> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.uploadId?.catch(() => undefined);
    this.free.length = 0;
    if (!this.createdId) return '';
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.createdId }));
    } catch (error) {
      // NoSuchUpload: already gone. s3rver has no AbortMultipartUpload (405/501): nothing more we can do.
      if (nameOf(error) !== 'NoSuchUpload' && !isNotImplemented(error)) {
        return `; multipart upload ${this.createdId} could not be aborted (${serverMessage(error)}); prune removes it later`;
      }
    }
    return '';
  }
}

/** A request body sent through the upload bucket; it re-arms the idle timer of the request's socket while it waits. */
function uploadBody(bucket: TokenBucket, bytes: Buffer): Readable {
  let destination: { socket?: Socket | null } | undefined;
  const body = new (class extends Throttle {
    override pipe<T extends NodeJS.WritableStream>(to: T, options?: { end?: boolean }): T {
      destination = to as { socket?: Socket | null };
      return super.pipe(to, options);
    }
  })(bucket, () => destination?.socket);
  body.end(bytes);
  return body;
}

/** A response body read through the download bucket; failures of either side reach the other, and the idle timer of its socket is re-armed while it waits. */
function downloadBody(bucket: TokenBucket, response: Readable & Partial<Pick<IncomingMessage, 'socket'>>): Readable {
  const body = new Throttle(bucket, () => response.socket);
  pipeline(response, body, () => undefined);
  return body;
}
