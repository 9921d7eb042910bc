// An HTTP proxy in front of a test S3 server: forwards every request byte for byte, counts the response body bytes it serves (to prove selective reads), injects faults into the requests a rule matches, and can limit the bandwidth of each direction.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the proxy does to a request a rule picked. */
export type Fault =
  /** Answer with this status and an S3 error body (read the request first; the server never sees it). */
  | { kind: 'error'; status: number; code: string; message?: string }
  /** Read the request and never answer; the connection stays open. */
  | { kind: 'stall' }
  /** Reset the connection (RST) once `afterBytes` bytes of the request body arrived; the server never sees it. */
  | { kind: 'reset-request'; afterBytes: number }
  /** Forward; send the response headers and `afterBytes` bytes of its body, then nothing more (the connection stays open). */
  | { kind: 'stall-body'; afterBytes: number }
  /** Forward; send the response headers and `afterBytes` bytes of its body, then reset the connection (RST). */
  | { kind: 'reset'; afterBytes: number }
  /** Forward; send the response headers (Content-Length intact) and `afterBytes` bytes of its body, then close the connection cleanly. */
  | { kind: 'truncate'; afterBytes: number }
  /**
   * Forward; once the server has answered in full, reset the client's connection (RST) without
   * sending any of the answer: the request was carried out, and the client cannot know it.
   */
  | { kind: 'lose-response' };

export const internalError: Fault = { kind: 'error', status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again. (fault proxy)' };
export const serviceUnavailable: Fault = { kind: 'error', status: 503, code: 'ServiceUnavailable', message: 'Service is unable to handle request. (fault proxy)' };
export const slowDown: Fault = { kind: 'error', status: 503, code: 'SlowDown', message: 'Please reduce your request rate. (fault proxy)' };

/** Which requests get a fault. Every given condition must hold. */
export interface FaultRule {
  /** HTTP method, e.g. 'PUT' (UploadPart, PutObject), 'POST' (CompleteMultipartUpload), 'GET'. */
  method?: string;
  /** Tested against the path and query the client sent: /partNumber=/ for UploadPart, /uploadId=/ for the other multipart calls, /\.idx\.zst/ for index objects. */
  path?: RegExp;
  /** Tested against the Range header; true: any ranged request; false: only requests without one. */
  range?: RegExp | boolean;
  /**
   * Which of the requests matching the conditions above get the fault, counted from 1 for this
   * rule: 'all' (the default), the nth, or a list. The others go on to the next rule.
   */
  nth?: number | number[] | 'all';
  /** None: the request is forwarded unchanged (after `before`). */
  fault?: Fault;
  /** Awaited before the fault is applied or the request forwarded (e.g. to change the object behind the client's back). */
  before?: () => Promise<void> | void;
}

/** One request that went through the proxy. */
export interface ProxiedRequest {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  /** The client's Range header, if any. */
  range?: string;
  /** The client's If-Match header, if any. */
  ifMatch?: string;
  /** Response status (0 while unanswered, or when never answered). */
  status: number;
  /** Response body bytes forwarded to the client. */
  bytes: number;
  /** The fault applied to it, if any. */
  fault?: Fault['kind'];
  /** Resolves when the connection to the client closed or the response ended. */
  closed: Promise<void>;
}

export interface FaultProxy {
  /** Point the S3 client (or the CLI's AWS_ENDPOINT_URL, or --endpoint) here instead of at the server. */
  endpoint: string;
  /** Response body bytes served so far, optionally only for the requests matching `filter`. */
  bytesServed(filter?: (request: ProxiedRequest) => boolean): number;
  /** Every request since the start or the last reset, in order of arrival. */
  requests(): ProxiedRequest[];
  /** Forget the requests counted so far (the rules and their counts stay). */
  reset(): void;
  /** Replace the rules (and restart their counts); no rules: forward everything. */
  setFaults(rules: FaultRule[]): void;
  /** Limit the bytes per second of request bodies (upload) and response bodies (download), over all connections; undefined: no limit. */
  setBandwidth(limits: Bandwidth): void;
  close(): Promise<void>;
}

/** Bytes per second in each direction, shared by every connection through the proxy. */
export interface Bandwidth {
  /** Request bodies, client to server (PutObject, UploadPart). */
  upload?: number;
  /** Response bodies, server to client (GetObject). */
  download?: number;
}

/** Pieces a limited direction sends at a time: small, so that a limit of a few hundred KiB/s still flows evenly. */
const PACED_PIECE = 16 * 1024;

/** One direction's limit: every piece, from any connection, takes its turn at `rate` bytes per second. */
class Pacer {
  private free = 0;

  constructor(private readonly rate: () => number | undefined) {}

  /** A transform that passes bytes on no faster than the limit (at once while there is none). */
  stream(): Transform {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the transform's own `this` is the stream
    const pacer = this;
    return new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        pacer.pass(chunk, (piece) => this.push(piece)).then(() => callback(), callback);
      },
    });
  }

  private async pass(chunk: Buffer, push: (piece: Buffer) => void): Promise<void> {
    for (let at = 0; at < chunk.length; at += PACED_PIECE) {
      const piece = chunk.subarray(at, at + PACED_PIECE);
      const rate = this.rate();
      if (rate !== undefined) {
        const now = Date.now();
        this.free = Math.max(this.free, now) + (piece.length * 1000) / rate;
        if (this.free > now) await sleep(this.free - now);
      }
      push(piece);
    }
  }
}

function errorBody(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}

function matches(rule: FaultRule, req: http.IncomingMessage): boolean {
  if (rule.method !== undefined && rule.method.toUpperCase() !== req.method) return false;
  if (rule.path && !rule.path.test(req.url ?? '')) return false;
  if (rule.range !== undefined) {
    const range = req.headers.range;
    if (typeof rule.range === 'boolean' ? rule.range !== (range !== undefined) : range === undefined || !rule.range.test(range)) return false;
  }
  return true;
}

function applies(nth: FaultRule['nth'], count: number): boolean {
  if (nth === undefined || nth === 'all') return true;
  return typeof nth === 'number' ? nth === count : nth.includes(count);
}

/**
 * Starts a proxy on 127.0.0.1 that forwards every request unchanged (method, path, query and
 * headers, Host included) and streams both bodies through. The SDK signs the Host header it
 * sends (the proxy's address), so the request must reach the server with that same Host for
 * SigV4 to hold; s3rver and moto do not compare the Host with their own port. Rules are tried in
 * order; the first that matches a request and counts it as its nth picks the fault.
 */
export async function startFaultProxy(targetEndpoint: string, initialRules: FaultRule[] = []): Promise<FaultProxy> {
  const target = new URL(targetEndpoint);
  let log: ProxiedRequest[] = [];
  let rules: Array<{ rule: FaultRule; count: number }> = [];
  let bandwidth: Bandwidth = {};
  const uploads = new Pacer(() => bandwidth.upload);
  const downloads = new Pacer(() => bandwidth.download);
  const setFaults = (next: FaultRule[]): void => {
    rules = next.map((rule) => ({ rule, count: 0 }));
  };
  setFaults(initialRules);

  const pick = (req: http.IncomingMessage): FaultRule | undefined => {
    let picked: FaultRule | undefined;
    for (const entry of rules) {
      if (!matches(entry.rule, req)) continue;
      entry.count++;
      if (!picked && applies(entry.rule.nth, entry.count)) picked = entry.rule;
    }
    return picked;
  };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, record: ProxiedRequest, fault: Fault | undefined): void => {
    const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (response) => {
      record.status = response.statusCode ?? 0;
      if (fault?.kind === 'lose-response') {
        response.on('end', () => void (res.socket as Socket).resetAndDestroy());
        response.resume();
        return;
      }
      res.writeHead(response.statusCode ?? 502, response.statusMessage, response.headers);
      response.on('error', () => res.destroy());
      if (!fault || (fault.kind !== 'stall-body' && fault.kind !== 'reset' && fault.kind !== 'truncate')) {
        response.on('data', (chunk: Buffer) => {
          record.bytes += chunk.length;
        });
        response.pipe(downloads.stream()).pipe(res);
        return;
      }
      // Send `afterBytes` of the body, then break the response as asked.
      const socket = res.socket as Socket;
      const limit = fault.afterBytes;
      let sent = 0;
      const breakIt = (): void => {
        response.destroy();
        if (fault.kind === 'reset') socket.resetAndDestroy();
        else if (fault.kind === 'truncate') socket.end();
        // stall-body: keep the connection open and silent.
      };
      if (limit === 0) {
        res.flushHeaders();
        breakIt();
        return;
      }
      response.on('data', (chunk: Buffer) => {
        const room = limit - sent;
        if (room <= 0) return;
        const piece = chunk.length <= room ? chunk : chunk.subarray(0, room);
        sent += piece.length;
        record.bytes += piece.length;
        if (sent < limit) res.write(piece);
        else res.write(piece, breakIt);
      });
      // A body shorter than the limit goes through whole.
      response.on('end', () => {
        if (sent < limit) res.end();
      });
    });
    upstream.on('error', (error) => {
      if (res.headersSent) res.destroy(error);
      else res.writeHead(502, { 'content-type': 'text/plain' }).end(`fault proxy: ${error.message}`);
    });
    // A client that goes away (an aborted get, a timed-out request) must not leave the upstream request open.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(uploads.stream()).pipe(upstream);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const closed = new Promise<void>((resolve) => res.once('close', resolve));
    const record: ProxiedRequest = { method: req.method ?? '', path: req.url ?? '', range: req.headers.range, ifMatch: req.headers['if-match'], status: 0, bytes: 0, closed };
    log.push(record);
    const rule = pick(req);
    if (rule) {
      record.fault = rule.fault?.kind;
      req.pause();
      await rule.before?.();
    }
    const fault = rule?.fault;
    if (fault?.kind === 'error') {
      req.resume();
      req.on('end', () => {
        record.status = fault.status;
        const body = errorBody(fault.code, fault.message ?? fault.code);
        res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'fault-proxy' }).end(body);
      });
    } else if (fault?.kind === 'stall') {
      req.resume();
    } else if (fault?.kind === 'reset-request') {
      let received = 0;
      const reset = (): void => void req.socket.resetAndDestroy();
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= fault.afterBytes) reset();
      });
      req.on('end', reset);
      req.resume();
    } else {
      forward(req, res, record, fault);
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => res.destroy(error as Error));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bytesServed: (filter) => log.filter((r) => (filter ? filter(r) : true)).reduce((sum, r) => sum + r.bytes, 0),
    requests: () => log.map((r) => ({ ...r })),
    reset: () => {
      log = [];
    },
    setFaults,
    setBandwidth: (limits) => {
      bandwidth = { ...limits };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
