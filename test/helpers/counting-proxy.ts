// An HTTP proxy in front of a test S3 server that counts the response bytes it serves (to prove selective reads).

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  range?: string;
  status: number;
  bytes: number;
}

export interface CountingProxy {
  endpoint: string;
  bytesServed(filter?: (r: ProxiedRequest) => boolean): number;
  requests(): ProxiedRequest[];
  reset(): void;
  close(): Promise<void>;
}

/** Forwards every request unchanged (Host included, so SigV4 signatures stay valid). */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const targetUrl = new URL(target);
  let log: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    const upstream = http.request({
      host: targetUrl.hostname,
      port: targetUrl.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    }, (response) => {
      const record: ProxiedRequest = { method: req.method ?? '', path: req.url ?? '', range: req.headers.range, status: response.statusCode ?? 0, bytes: 0 };
      log.push(record);
      res.writeHead(response.statusCode ?? 502, response.headers);
      response.on('data', (chunk: Buffer) => {
        record.bytes += chunk.length;
      });
      response.pipe(res);
    });
    upstream.on('error', (error) => {
      res.writeHead(502);
      res.end(String(error));
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // The client signs this host; the proxy forwards the same Host header, which the server does not check against its own port.
    endpoint: `http://127.0.0.1:${port}`,
    bytesServed: (filter) => log.filter((r) => (filter ? filter(r) : true)).reduce((sum, r) => sum + r.bytes, 0),
    requests: () => [...log],
    reset: () => {
      log = [];
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
