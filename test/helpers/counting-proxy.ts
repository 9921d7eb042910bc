// An HTTP proxy in front of a test S3 server that counts the response body bytes it serves (to prove selective reads).

import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request that went through the proxy. */
export interface ProxiedRequest {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  /** The client's Range header, if any. */
  range?: string;
  status: number;
  /** Response body bytes forwarded to the client. */
  bytes: number;
}

export interface CountingProxy {
  /** Point the S3 client (or the CLI's AWS_ENDPOINT_URL) here instead of at the server. */
  endpoint: string;
  /** Response body bytes served so far, optionally only for the requests matching `filter`. */
  bytesServed(filter?: (request: ProxiedRequest) => boolean): number;
  /** Every request answered since the start or the last reset, in order of response. */
  requests(): ProxiedRequest[];
  /** Forget the requests counted so far. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * Starts a proxy on 127.0.0.1 that forwards every request unchanged: method, path, query and
 * headers, Host included. The SDK signs the Host header it sends (the proxy's address), so the
 * request must reach the server with that same Host for SigV4 to hold; s3rver and moto do not
 * compare the Host with their own port.
 */
export async function startCountingProxy(targetEndpoint: string): Promise<CountingProxy> {
  const target = new URL(targetEndpoint);
  let log: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (response) => {
        const record: ProxiedRequest = { method: req.method ?? '', path: req.url ?? '', range: req.headers.range, status: response.statusCode ?? 0, bytes: 0 };
        log.push(record);
        res.writeHead(response.statusCode ?? 502, response.statusMessage, response.headers);
        response.on('data', (chunk: Buffer) => {
          record.bytes += chunk.length;
        });
        response.on('error', () => res.destroy());
        response.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (res.headersSent) res.destroy(error);
      else res.writeHead(502, { 'content-type': 'text/plain' }).end(`counting proxy: ${error.message}`);
    });
    // A client that goes away (an aborted get) must not leave the upstream request open.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
