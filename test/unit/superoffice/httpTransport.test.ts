import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import { createNodeHttpTransport, fetchTransport, nodeHttpTransport } from '../../../shared/net/httpTransport.js';
import {
  UpstreamTransportError,
  defaultTransport,
  sendUpstreamBytes,
  type UpstreamRequest,
  type UpstreamTransport,
} from '../../../shared/superoffice/upstream.js';
import { selfSignedCert } from './selfSignedCert.js';

/**
 * The default transport (node:http/https with keep-alive agents) against real local servers: what passes
 * through, what is bounded, how failures classify (requirements 33, 49, 55, 68), connection reuse, and
 * the same scenarios through `fetchTransport(fetch)` giving the same outcome.
 */

interface TestServer {
  readonly base: string;
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Resolves when the next accepted connection closes (or the open one, if one is open). */
  closed(): Promise<void>;
  close(): Promise<void>;
}

const servers: TestServer[] = [];

/** A server on 127.0.0.1, port 0 (HTTPS with `tls`), closed after each test. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, tls?: { readonly cert: string; readonly key: string }): Promise<TestServer> {
  const server: Server | HttpsServer = tls === undefined ? createServer(handler) : createHttpsServer(tls, handler);
  let accepted = 0;
  const sockets = new Set<Socket>();
  let waiters: Array<() => void> = [];
  server.on('connection', (socket: Socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      const ready = waiters;
      waiters = [];
      for (const w of ready) w();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const protocol = tls === undefined ? 'http' : 'https';
  const test: TestServer = {
    base: `${protocol}://127.0.0.1:${port}`,
    port,
    connections: () => accepted,
    closed: () => new Promise<void>((resolve) => waiters.push(resolve)),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  servers.push(test);
  return test;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Rejects after `ms` with `message`; `clear` stops the timer. */
function deadline(ms: number, message: string): { readonly expired: Promise<never>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return { expired, clear: () => clearTimeout(timer) };
}

/** Runs `promise` to its error, which must be thrown within `ms`. */
async function failure(promise: Promise<unknown>, ms = 3000): Promise<unknown> {
  const limit = deadline(ms, `no failure within ${ms} ms`);
  try {
    return await Promise.race([promise.then(() => new Error('expected a failure, got an answer'), (e: unknown) => e), limit.expired]);
  } finally {
    limit.clear();
  }
}

/** Waits for `closed` or fails the test after `ms` (the server never saw its connection end). */
async function within(closed: Promise<void>, ms = 3000): Promise<'closed'> {
  const limit = deadline(ms, `the server's connection was still open after ${ms} ms`);
  try {
    await Promise.race([closed, limit.expired]);
    return 'closed';
  } finally {
    limit.clear();
  }
}

const send = (request: Omit<UpstreamRequest, 'timeoutMs'> & { timeoutMs?: number }, transport: UpstreamTransport = nodeHttpTransport) =>
  sendUpstreamBytes({ timeoutMs: 3000, ...request }, transport);

describe('nodeHttpTransport: what passes through', () => {
  it('status, headers (repeated ones and Set-Cookie kept apart) and body', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(201, [
        ['Content-Type', 'application/json; charset=utf-8'],
        ['ETag', '"v1"'],
        ['Set-Cookie', 'a=1; Path=/'],
        ['Set-Cookie', 'b=2; Path=/'],
        ['X-Multi', 'one'],
        ['X-Multi', 'two'],
        ['Retry-After', '9'],
      ].flat());
      res.end('{"ok":true}');
    });
    const response = await send({ method: 'GET', url: `${s.base}/x?q=1` });
    expect(response.status).toBe(201);
    expect(response.body.toString()).toBe('{"ok":true}');
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('etag')).toBe('"v1"');
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(response.headers.get('x-multi')).toBe('one, two');
    expect(response.retryAfterSec).toBe(9);
  });

  it('a body with no bytes, and a 204, come back empty', async () => {
    const s = await serve((req, res) => {
      res.statusCode = req.url === '/none' ? 204 : 200;
      res.end();
    });
    expect((await send({ method: 'DELETE', url: `${s.base}/none` })).body.byteLength).toBe(0);
    expect((await send({ method: 'GET', url: `${s.base}/empty` })).body.byteLength).toBe(0);
  });

  it('a 302 is returned with its Location, never followed', async () => {
    let followed = 0;
    const s = await serve((req, res) => {
      if (req.url === '/elsewhere') {
        followed++;
        res.end('followed');
        return;
      }
      res.writeHead(302, { Location: '/elsewhere' });
      res.end('moved');
    });
    const response = await send({ method: 'GET', url: `${s.base}/start` });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/elsewhere');
    expect(response.body.toString()).toBe('moved');
    expect(followed).toBe(0);
  });

  it('the request body arrives whole with its Content-Length and method (POST, PUT, PATCH, DELETE; text and bytes)', async () => {
    const seen: Array<{ method: string; length: string | undefined; chunked: boolean; body: string; contentType: string | undefined }> = [];
    const s = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, length: req.headers['content-length'], chunked: req.headers['transfer-encoding'] !== undefined, body: Buffer.concat(chunks).toString(), contentType: req.headers['content-type'] });
        res.end('ok');
      });
    });
    const text = 'grant_type=x&ü=€';
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      await send({ method, url: `${s.base}/t`, body: text, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
      await send({ method, url: `${s.base}/b`, body: new Uint8Array(Buffer.from('{"a":1}')) });
    }
    await send({ method: 'POST', url: `${s.base}/empty` });
    await send({ method: 'GET', url: `${s.base}/get` });
    const textLength = String(Buffer.byteLength(text));
    expect(seen).toEqual([
      ...['POST', 'PUT', 'PATCH', 'DELETE'].flatMap((method) => [
        { method, length: textLength, chunked: false, body: text, contentType: 'application/x-www-form-urlencoded' },
        { method, length: '7', chunked: false, body: '{"a":1}', contentType: undefined },
      ]),
      { method: 'POST', length: '0', chunked: false, body: '', contentType: undefined },
      { method: 'GET', length: undefined, chunked: false, body: '', contentType: undefined },
    ]);
  });

  it('a body of exactly the bound is read; one byte more is refused', async () => {
    const s = await serve((req, res) => res.end('x'.repeat(req.url === '/at' ? 100 : 101)));
    expect((await send({ method: 'GET', url: `${s.base}/at`, maxBodyBytes: 100 })).body.byteLength).toBe(100);
    const error = await failure(send({ method: 'GET', url: `${s.base}/over`, maxBodyBytes: 100 }));
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).code).toBe('upstream_bad_response');
  });
});

describe('nodeHttpTransport: oversized bodies stop the read (requirement 55)', () => {
  it('a declared Content-Length over the bound: upstream_bad_response, and the connection is destroyed, not drained', async () => {
    let finished = false;
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': String(10 * 1024 * 1024) });
      res.write(Buffer.alloc(16 * 1024, 'a'));
      // The rest never comes: a client that waited for the whole body would hang until its timeout.
      res.on('finish', () => { finished = true; });
    });
    const closed = s.closed();
    const error = await failure(send({ method: 'GET', url: `${s.base}/big`, maxBodyBytes: 64 * 1024, timeoutMs: 10_000 }));
    expect((error as BrokerError).code).toBe('upstream_bad_response');
    expect(error).not.toBeInstanceOf(UpstreamTransportError);
    expect(await within(closed)).toBe('closed');
    expect(finished).toBe(false);
  });

  it('a chunked body growing over the bound: upstream_bad_response once past it, and the connection is destroyed', async () => {
    let written = 0;
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      const timer = setInterval(() => {
        if (res.destroyed || written >= 100 * 16 * 1024) return clearInterval(timer);
        res.write(Buffer.alloc(16 * 1024, 'b'));
        written += 16 * 1024;
      }, 2);
      res.on('close', () => clearInterval(timer));
    });
    const closed = s.closed();
    const error = await failure(send({ method: 'GET', url: `${s.base}/stream`, maxBodyBytes: 64 * 1024, timeoutMs: 10_000 }));
    expect((error as BrokerError).code).toBe('upstream_bad_response');
    expect(await within(closed)).toBe('closed');
    expect(written).toBeLessThan(100 * 16 * 1024);
  });

  it('after a destroyed oversized answer the next call to the same server works', async () => {
    const s = await serve((req, res) => res.end(req.url === '/big' ? 'x'.repeat(2000) : 'small'));
    expect(await failure(send({ method: 'GET', url: `${s.base}/big`, maxBodyBytes: 1000 }))).toMatchObject({ code: 'upstream_bad_response' });
    expect((await send({ method: 'GET', url: `${s.base}/small`, maxBodyBytes: 1000 })).body.toString()).toBe('small');
  });
});

describe('nodeHttpTransport: failures classify as with fetch (requirements 33, 49, 68)', () => {
  it('the per-hop timeout while waiting for headers: upstream_timeout, sent, and the connection is closed', async () => {
    const s = await serve(() => undefined);
    const closed = s.closed();
    const started = Date.now();
    const error = await failure(send({ method: 'GET', url: `${s.base}/hang?secret=canary`, timeoutMs: 200 }));
    expect(error).toBeInstanceOf(UpstreamTransportError);
    expect(error).toMatchObject({ code: 'upstream_timeout', sent: true, target: { method: 'GET', host: `127.0.0.1:${s.port}`, path: '/hang' } });
    expect(Date.now() - started).toBeLessThan(2000);
    expect((error as Error).message).not.toContain('canary');
    expect(JSON.stringify(error)).not.toContain('canary');
    expect(await within(closed)).toBe('closed');
  });

  it("the caller's signal while waiting for headers: upstream_timeout", async () => {
    const s = await serve(() => undefined);
    const caller = new AbortController();
    setTimeout(() => caller.abort(), 100);
    expect(await failure(send({ method: 'POST', url: `${s.base}/hang`, body: 'a=1', signal: caller.signal, timeoutMs: 10_000 }))).toMatchObject({ code: 'upstream_timeout', sent: true });
  });

  it('a signal aborted before the call: upstream_timeout without a connection', async () => {
    const s = await serve((_req, res) => res.end('ok'));
    const caller = new AbortController();
    caller.abort();
    expect(await failure(send({ method: 'GET', url: `${s.base}/x`, signal: caller.signal }))).toMatchObject({ code: 'upstream_timeout' });
    expect(s.connections()).toBe(0);
  });

  it('the timeout while reading the body: upstream_timeout, and the connection is closed', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"partial":');
    });
    const closed = s.closed();
    const error = await failure(send({ method: 'GET', url: `${s.base}/slow`, timeoutMs: 300 }));
    expect(error).toMatchObject({ code: 'upstream_timeout', sent: true });
    expect(await within(closed)).toBe('closed');
  });

  it('a refused connection: upstream_unavailable, not sent', async () => {
    const gone = await serve(() => undefined);
    const port = gone.port;
    await gone.close();
    const error = await failure(send({ method: 'POST', url: `http://127.0.0.1:${port}/x?secret=canary`, body: 'a=1' }));
    expect(error).toBeInstanceOf(UpstreamTransportError);
    expect(error).toMatchObject({ code: 'upstream_unavailable', sent: false });
    expect((error as Error).message).not.toContain('canary');
  });

  it('the server dropping the connection after reading the request: upstream_unavailable, sent', async () => {
    const s = await serve((req) => {
      req.resume();
      req.on('end', () => req.socket.destroy());
    });
    expect(await failure(send({ method: 'POST', url: `${s.base}/reset`, body: 'a=1' }))).toMatchObject({ code: 'upstream_unavailable', sent: true });
  });

  it('the server dropping the connection in the middle of the body: upstream_unavailable, sent', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('only part', () => res.socket?.destroy());
    });
    expect(await failure(send({ method: 'GET', url: `${s.base}/cut` }))).toMatchObject({ code: 'upstream_unavailable', sent: true });
  });
});

describe('nodeHttpTransport: connections', () => {
  it('20 sequential calls (GET and POST) reuse one kept-alive connection', async () => {
    const s = await serve((req, res) => {
      req.resume();
      req.on('end', () => res.end(`hello ${req.method}`));
    });
    for (let i = 0; i < 20; i++) {
      const response = await send(i % 2 === 0 ? { method: 'GET', url: `${s.base}/n/${i}` } : { method: 'POST', url: `${s.base}/n/${i}`, body: `i=${i}` });
      expect(response.body.toString()).toBe(i % 2 === 0 ? 'hello GET' : 'hello POST');
    }
    expect(s.connections()).toBe(1);
  });

  it('an idle connection is closed after idleSocketMs; a call slower than that is not cut', async () => {
    const transport = createNodeHttpTransport({ idleSocketMs: 150 });
    const s = await serve((req, res) => {
      setTimeout(() => res.end('late'), req.url === '/slow' ? 500 : 0);
    });
    expect((await send({ method: 'GET', url: `${s.base}/slow` }, transport)).body.toString()).toBe('late');
    const closed = s.closed();
    expect(await within(closed, 2000)).toBe('closed');
    expect(s.connections()).toBe(1);
  });

  it('https: verified against the trusted root, kept alive; an untrusted certificate is refused (as with fetch)', async () => {
    const { cert, key } = selfSignedCert();
    const s = await serve((_req, res) => res.end('secure'), { cert, key });
    const trusting = createNodeHttpTransport({ ca: cert });
    for (let i = 0; i < 5; i++) expect((await send({ method: 'GET', url: `${s.base}/x` }, trusting)).body.toString()).toBe('secure');
    expect(s.connections()).toBe(1);
    const viaNode = await failure(send({ method: 'GET', url: `${s.base}/x` }));
    const viaFetch = await failure(send({ method: 'GET', url: `${s.base}/x` }, fetchTransport(fetch)));
    expect(viaNode).toMatchObject({ code: 'upstream_unavailable', sent: true });
    expect(viaFetch).toMatchObject({ code: 'upstream_unavailable', sent: true });
  });
});

/**
 * Parity: each scenario through `fetchTransport(fetch)` and `nodeHttpTransport` gives the same status,
 * headers (but `date`), body or error code and `sent`. Echo scenarios answer with what the server received
 * (method, body and the request headers that steer SuperOffice's answer), so the two send the same request.
 * Both ask for gzip and deflate and decode gzip, deflate and br answers, bounding the decoded bytes. Not
 * compared, on purpose: fetch's browser-only `sec-fetch-mode`.
 */
describe('parity with fetchTransport(fetch)', () => {
  let s: TestServer;
  let refusedPort: number;
  beforeAll(async () => {
    s = await serve((req, res) => {
      const path = new URL(req.url!, 'http://x').pathname;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        switch (path) {
          case '/json':
            res.writeHead(200, [['Content-Type', 'application/json'], ['ETag', '"7"'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['X-Multi', 'one'], ['X-Multi', 'two']].flat());
            return res.end('{"id":7}');
          case '/no-content':
            res.statusCode = 204;
            return res.end();
          case '/redirect':
            res.writeHead(302, { Location: 'https://elsewhere.example.com/next' });
            return res.end();
          case '/busy':
            res.writeHead(503, { 'Retry-After': '30', 'Content-Type': 'text/plain' });
            return res.end('busy');
          case '/echo': {
            const h = req.headers;
            res.setHeader('Content-Type', 'application/json');
            return res.end(JSON.stringify({
              method: req.method,
              body: Buffer.concat(chunks).toString(),
              headers: { accept: h.accept, 'accept-encoding': h['accept-encoding'], 'accept-language': h['accept-language'], 'user-agent': h['user-agent'], 'content-type': h['content-type'], 'content-length': h['content-length'], 'transfer-encoding': h['transfer-encoding'], authorization: h.authorization },
            }));
          }
          case '/big-declared':
            res.writeHead(200, { 'Content-Length': '5000' });
            return res.end('z'.repeat(5000));
          case '/big-chunked':
            res.writeHead(200);
            for (let i = 0; i < 10; i++) res.write('y'.repeat(1000));
            return res.end();
          case '/gzip':
          case '/deflate':
          case '/br': {
            const json = Buffer.from(JSON.stringify({ id: 7, name: 'æøå'.repeat(50) }));
            const coded = path === '/gzip' ? gzipSync(json) : path === '/deflate' ? deflateSync(json) : brotliCompressSync(json);
            res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': path.slice(1), 'Content-Length': String(coded.length) });
            return res.end(coded);
          }
          case '/gzip-bomb': {
            const coded = gzipSync(Buffer.alloc(200_000, 0x61));
            res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Length': String(coded.length) });
            return res.end(coded);
          }
          case '/gzip-no-content':
            res.writeHead(204, { 'Content-Encoding': 'gzip' });
            return res.end();
          case '/hang':
            return undefined;
          case '/slow-body':
            res.writeHead(200, { 'Content-Length': '10' });
            return res.write('12345');
          case '/reset':
            return req.socket.destroy();
          case '/cut':
            res.writeHead(200, { 'Content-Length': '100' });
            return res.write('part', () => res.socket?.destroy());
          default:
            res.statusCode = 404;
            return res.end('nope');
        }
      });
    });
    const gone = await serve(() => undefined);
    refusedPort = gone.port;
    await gone.close();
    servers.splice(servers.indexOf(s), 1); // kept for the whole describe; closed in afterAll
  });
  afterAll(async () => {
    await s.close();
  });

  type Scenario = readonly [name: string, request: () => Omit<UpstreamRequest, 'timeoutMs'> & { timeoutMs?: number }, expected: Record<string, unknown>];
  const scenarios: readonly Scenario[] = [
    ['JSON with repeated headers and cookies', () => ({ method: 'GET', url: `${s.base}/json?x=1` }), { status: 200, body: '{"id":7}' }],
    ['204 without a body', () => ({ method: 'DELETE', url: `${s.base}/no-content` }), { status: 204, body: '' }],
    ['302 not followed', () => ({ method: 'GET', url: `${s.base}/redirect` }), { status: 302 }],
    ['503 with Retry-After', () => ({ method: 'GET', url: `${s.base}/busy` }), { status: 503, body: 'busy', retryAfterSec: 30 }],
    ['404', () => ({ method: 'GET', url: `${s.base}/missing` }), { status: 404 }],
    ['echo: GET, no headers given', () => ({ method: 'GET', url: `${s.base}/echo` }), { status: 200 }],
    ['echo: GET with Accept and Authorization', () => ({ method: 'GET', url: `${s.base}/echo`, headers: { Accept: 'application/json', Authorization: 'Bearer t', 'Accept-Language': 'nb' } }), { status: 200 }],
    ['echo: POST form text', () => ({ method: 'POST', url: `${s.base}/echo`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=%C3%A6' }), { status: 200 }],
    ['echo: POST text without Content-Type', () => ({ method: 'POST', url: `${s.base}/echo`, body: '{"ü":1}' }), { status: 200 }],
    ['echo: POST without a body', () => ({ method: 'POST', url: `${s.base}/echo` }), { status: 200 }],
    ['echo: PUT bytes', () => ({ method: 'PUT', url: `${s.base}/echo`, headers: { 'content-type': 'application/json' }, body: new Uint8Array(Buffer.from('{"a":1}')) }), { status: 200 }],
    ['echo: PATCH bytes', () => ({ method: 'PATCH', url: `${s.base}/echo`, body: new Uint8Array([104, 105]) }), { status: 200 }],
    ['echo: DELETE without a body', () => ({ method: 'DELETE', url: `${s.base}/echo` }), { status: 200 }],
    ['echo: DELETE with a body', () => ({ method: 'DELETE', url: `${s.base}/echo`, body: 'x' }), { status: 200 }],
    ['gzip answer decoded', () => ({ method: 'GET', url: `${s.base}/gzip` }), { status: 200, body: JSON.stringify({ id: 7, name: 'æøå'.repeat(50) }) }],
    ['deflate answer decoded', () => ({ method: 'GET', url: `${s.base}/deflate` }), { status: 200, body: JSON.stringify({ id: 7, name: 'æøå'.repeat(50) }) }],
    ['br answer decoded', () => ({ method: 'GET', url: `${s.base}/br` }), { status: 200, body: JSON.stringify({ id: 7, name: 'æøå'.repeat(50) }) }],
    ['gzip answer over the bound once decoded', () => ({ method: 'GET', url: `${s.base}/gzip-bomb`, maxBodyBytes: 4096 }), { error: 'upstream_bad_response' }],
    ['204 marked gzip, no body', () => ({ method: 'DELETE', url: `${s.base}/gzip-no-content` }), { status: 204, body: '' }],
    ['over the bound by Content-Length', () => ({ method: 'GET', url: `${s.base}/big-declared`, maxBodyBytes: 4096 }), { error: 'upstream_bad_response' }],
    ['over the bound, chunked', () => ({ method: 'GET', url: `${s.base}/big-chunked`, maxBodyBytes: 4096 }), { error: 'upstream_bad_response' }],
    ['hangs before headers', () => ({ method: 'GET', url: `${s.base}/hang`, timeoutMs: 200 }), { error: 'upstream_timeout', sent: true }],
    ['hangs in the body', () => ({ method: 'GET', url: `${s.base}/slow-body`, timeoutMs: 200 }), { error: 'upstream_timeout', sent: true }],
    ['connection refused', () => ({ method: 'POST', url: `http://127.0.0.1:${refusedPort}/x`, body: 'a=1' }), { error: 'upstream_unavailable', sent: false }],
    ['dropped after the request', () => ({ method: 'POST', url: `${s.base}/reset`, body: 'a=1' }), { error: 'upstream_unavailable', sent: true }],
    ['dropped in the body', () => ({ method: 'GET', url: `${s.base}/cut` }), { error: 'upstream_unavailable', sent: true }],
    ['GET with a body', () => ({ method: 'GET', url: `${s.base}/echo`, body: 'x' }), { error: 'upstream_unavailable', sent: true }],
    ['credentials in the URL', () => ({ method: 'GET', url: `http://user:pw@127.0.0.1:${s.port}/echo` }), { error: 'upstream_unavailable', sent: true }],
    ['not http(s)', () => ({ method: 'GET', url: `ftp://127.0.0.1:${s.port}/echo` }), { error: 'upstream_unavailable', sent: true }],
  ];

  async function outcome(request: Omit<UpstreamRequest, 'timeoutMs'> & { timeoutMs?: number }, transport: UpstreamTransport): Promise<Record<string, unknown>> {
    try {
      const r = await send(request, transport);
      const headers = [...r.headers.entries()].filter(([name]) => name !== 'date');
      return { status: r.status, headers, setCookie: r.headers.getSetCookie(), body: r.body.toString(), retryAfterSec: r.retryAfterSec };
    } catch (error) {
      if (!(error instanceof BrokerError)) throw error;
      return { error: error.code, ...(error instanceof UpstreamTransportError ? { sent: error.sent } : {}), message: error.message };
    }
  }

  for (const [name, request, expected] of scenarios) {
    it(name, async () => {
      const viaFetch = await outcome(request(), fetchTransport(fetch));
      const viaNode = await outcome(request(), nodeHttpTransport);
      expect(viaFetch).toMatchObject(expected);
      expect(viaNode).toEqual(viaFetch);
    });
  }
});

describe('defaultTransport', () => {
  it('sends over node:http, unless the global fetch has been replaced: then through that fetch', async () => {
    const s = await serve((req, res) => res.end(req.headers['sec-fetch-mode'] === undefined ? 'node' : 'fetch'));
    expect((await send({ method: 'GET', url: `${s.base}/x` }, defaultTransport)).body.toString()).toBe('node');
    const seen: string[] = [];
    const original = globalThis.fetch;
    vi.stubGlobal('fetch', async (input: string | URL | Request, init?: RequestInit) => {
      seen.push(input instanceof Request ? input.url : input.toString());
      return original(input, init);
    });
    try {
      expect((await send({ method: 'GET', url: `${s.base}/y` }, defaultTransport)).body.toString()).toBe('fetch');
      expect(seen).toEqual([`${s.base}/y`]);
    } finally {
      vi.unstubAllGlobals();
    }
    expect((await send({ method: 'GET', url: `${s.base}/z` }, defaultTransport)).body.toString()).toBe('node');
  });
});
