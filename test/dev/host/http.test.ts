import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import type { HttpHandler, HttpRequest, InvocationContext } from '@azure/functions';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDevHost, type DevHost } from '../../../dev/host/index.js';
import { collectingLog, httpFunction } from '../../support/devHostFunctions.js';

/** Echoes what the handler received, so each test can assert one semantic. */
function echo(name: string): HttpHandler {
  return async (request: HttpRequest, context: InvocationContext) => ({
    jsonBody: {
      name,
      functionName: context.functionName,
      invocationId: context.invocationId,
      method: request.method,
      url: request.url,
      params: request.params,
      query: [...request.query.entries()],
    },
  });
}

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

describe('dev host HTTP triggers', () => {
  const { lines, log } = collectingLog();
  let host: DevHost;

  beforeAll(async () => {
    host = await startDevHost({
      port: 0,
      log,
      functions: [
        httpFunction('items', 'items/{id?}', ['GET'], echo('items')),
        httpFunction('itemsNew', 'items/new', ['GET'], echo('itemsNew')),
        httpFunction('createItem', 'items', ['POST'], echo('createItem')),
        httpFunction('orders', 'orders/{id}', ['GET', 'DELETE'], echo('orders')),
        httpFunction('orderLines', 'orders/{id}/lines', ['GET'], echo('orderLines')),
        httpFunction('files', 'files/{*rest}', ['GET'], echo('files')),
        httpFunction('mixed', 'Connections/{ctx}/{associateId}/Revoke', ['POST'], echo('mixed')),
        httpFunction('headers', 'headers', ['GET'], async (request) => ({
          status: 201,
          headers: [
            ['X-Multi', 'one'],
            ['X-Multi', 'two'],
            ['X-Seen-Accept', request.headers.get('accept') ?? ''],
            ['X-Seen-Custom', request.headers.get('x-custom') ?? ''],
            ['Connection', 'close'],
          ],
        })),
        httpFunction('binary', 'binary', ['POST'], async (request) => {
          const bytes = Buffer.from(await request.arrayBuffer());
          return { body: Buffer.from(bytes.reverse()), headers: { 'Content-Type': 'application/octet-stream' } };
        }),
        httpFunction('jsonEcho', 'json', ['POST', 'PUT'], async (request) => ({
          status: 200,
          jsonBody: { received: await request.json(), contentType: request.headers.get('content-type') },
        })),
        httpFunction('typedJson', 'typed-json', ['GET'], async () => ({
          jsonBody: { ok: true },
          headers: { 'Content-Type': 'application/problem+json' },
        })),
        httpFunction('text', 'text', ['GET'], async () => ({ body: 'plain text' })),
        httpFunction('stream', 'stream', ['GET'], async () => ({ body: Readable.from([Buffer.from('chunk-1;'), Buffer.from('chunk-2')]) })),
        httpFunction('cookies', 'cookies', ['GET'], async () => ({
          status: 204,
          headers: { 'Set-Cookie': 'fromHeader=1; Path=/' },
          cookies: [
            {
              name: '__Host-state',
              value: 'abc',
              path: '/',
              secure: true,
              httpOnly: true,
              sameSite: 'Lax',
              maxAge: 600,
            },
            { name: 'dated', value: 'x y', domain: 'example.test', expires: Date.UTC(2030, 0, 1), sameSite: 'Strict' },
          ],
        })),
        httpFunction('boom', 'boom', ['GET'], async () => {
          throw new Error('secret-internal-detail');
        }),
        // The type asks for a response; a plain JavaScript handler can still return nothing.
        httpFunction('nothing', 'nothing', ['POST'], (async () => undefined) as unknown as HttpHandler),
        httpFunction('limited', 'limited', ['POST'], async (request) => ({ body: String((await request.arrayBuffer()).byteLength) })),
      ],
      maxRequestBodyBytes: 1024,
    });
  });

  afterAll(async () => {
    await host.close();
  });

  afterEach(() => {
    lines.length = 0;
  });

  // Negative cases first (docs/style.md §10).
  it('answers 404 with no body for a path no route matches, including outside the route prefix', async () => {
    for (const path of ['/api/nope', '/items', '/api', '/api/items/1/extra', '/api/orders//1']) {
      const res = await fetch(`${host.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).toBe('');
    }
  });

  it('answers 405 with Allow when the route matches but not the method', async () => {
    const res = await fetch(`${host.url}/api/orders/5`, { method: 'PUT' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('DELETE, GET, HEAD');
    const items = await fetch(`${host.url}/api/items`, { method: 'DELETE' });
    expect(items.status).toBe(405);
    expect(items.headers.get('allow')).toBe('GET, HEAD, POST');
  });

  it('answers 500 with a generic body and no stack when the handler throws', async () => {
    const res = await fetch(`${host.url}/api/boom`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).toBe('Internal Server Error');
    expect(text).not.toContain('secret-internal-detail');
    expect(text).not.toMatch(/at .*\.ts/);
    expect(lines.some((l) => l.includes('function boom failed: Error: secret-internal-detail'))).toBe(true);
    expect(lines.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('answers 413 when the body is over the limit', async () => {
    const res = await fetch(`${host.url}/api/limited`, { method: 'POST', body: Buffer.alloc(2048, 1) });
    expect(res.status).toBe(413);
    const ok = await fetch(`${host.url}/api/limited`, { method: 'POST', body: Buffer.alloc(1024, 1) });
    expect(await ok.text()).toBe('1024');
  });

  it('serves under the route prefix with literal segments matched case-insensitively', async () => {
    const res = await fetch(`${host.url}/API/Items/NEW`);
    expect(res.status).toBe(200);
    expect((await json(res))['name']).toBe('itemsNew');
    const mixed = await json(await fetch(`${host.url}/api/CONNECTIONS/Cust12345/42/revoke`, { method: 'POST' }));
    expect(mixed['name']).toBe('mixed');
    expect(mixed['params']).toEqual({ ctx: 'Cust12345', associateId: '42' });
  });

  it('binds {name}, leaves an omitted {name?} out, and prefers literals over parameters', async () => {
    const one = await json(await fetch(`${host.url}/api/items/abc`));
    expect(one).toMatchObject({ name: 'items', params: { id: 'abc' }, functionName: 'items', method: 'GET' });
    const none = await json(await fetch(`${host.url}/api/items`));
    expect(none).toMatchObject({ name: 'items', params: {} });
    const trailing = await json(await fetch(`${host.url}/api/items/`));
    expect(trailing['name']).toBe('items');
    expect((await json(await fetch(`${host.url}/api/items/new`)))['name']).toBe('itemsNew');
  });

  it('tells routes apart by their literal segments', async () => {
    expect(await json(await fetch(`${host.url}/api/orders/-7`))).toMatchObject({ name: 'orders', params: { id: '-7' } });
    expect(await json(await fetch(`${host.url}/api/Orders/abc/LINES`))).toMatchObject({ name: 'orderLines', params: { id: 'abc' } });
    expect((await fetch(`${host.url}/api/orders/abc/other`)).status).toBe(404);
  });

  it('binds the rest of the path to {*rest}, decoded, and allows it to be empty', async () => {
    const deep = await json(await fetch(`${host.url}/api/files/a/b%20c/d.txt`));
    expect(deep).toMatchObject({ name: 'files', params: { rest: 'a/b c/d.txt' } });
    const empty = await json(await fetch(`${host.url}/api/files`));
    expect(empty).toMatchObject({ name: 'files', params: {} });
  });

  it('percent-decodes parameter values except an encoded slash, as Kestrel does', async () => {
    const res = await json(await fetch(`${host.url}/api/items/J%C3%B8rgen%20%26%20co%2Fx`));
    expect(res['params']).toEqual({ id: 'Jørgen & co%2Fx' });
  });

  it('passes the full URL and the query, a repeated name as one comma-joined value as the host does', async () => {
    const res = await json(await fetch(`${host.url}/api/items/1?b=2&a=1&a=3&empty=&sp=x%20y%26z`));
    expect(res['url']).toBe(`${host.url}/api/items/1?b=2&a=1&a=3&empty=&sp=x%20y%26z`);
    expect(res['query']).toEqual([['b', '2'], ['a', '1,3'], ['empty', ''], ['sp', 'x y&z']]);
  });

  it('passes request headers in and writes response headers out, multiple values included', async () => {
    const res = await fetch(`${host.url}/api/headers`, { headers: { Accept: 'text/x-test', 'X-Custom': 'value-1' } });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-multi')).toBe('one, two');
    expect(res.headers.get('x-seen-accept')).toBe('text/x-test');
    expect(res.headers.get('x-seen-custom')).toBe('value-1');
    // Hop-by-hop headers from a handler are not forwarded (the connection stays the host's).
    expect(res.headers.get('connection')).not.toBe('close');
  });

  it('joins repeated request headers into one value', async () => {
    const seen = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${host.url}/api/headers`, { headers: { 'X-Custom': ['a', 'b'] } }, (res) => {
        res.resume();
        resolve(String(res.headers['x-seen-custom']));
      });
      req.on('error', reject);
      req.end();
    });
    expect(seen).toBe('a, b');
  });

  it('round-trips a binary body byte for byte', async () => {
    const input = Buffer.from([0, 1, 2, 250, 255, 0x0d, 0x0a, 0x80]);
    const res = await fetch(`${host.url}/api/binary`, { method: 'POST', body: input, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from(input).reverse());
  });

  it('reads a JSON body and writes jsonBody as application/json unless a content type is set', async () => {
    const res = await fetch(`${host.url}/api/json`, { method: 'PUT', body: JSON.stringify({ a: [1, 'ø'] }), headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ received: { a: [1, 'ø'] }, contentType: 'application/json' });
    const typed = await fetch(`${host.url}/api/typed-json`);
    expect(typed.headers.get('content-type')).toBe('application/problem+json');
    expect(await typed.json()).toEqual({ ok: true });
  });

  it('writes string and stream bodies with a content length', async () => {
    const text = await fetch(`${host.url}/api/text`);
    expect(text.status).toBe(200);
    expect(text.headers.get('content-type')).toBe('text/plain;charset=UTF-8');
    expect(await text.text()).toBe('plain text');
    const stream = await fetch(`${host.url}/api/stream`);
    expect(stream.headers.get('content-length')).toBe('15');
    expect(await stream.text()).toBe('chunk-1;chunk-2');
  });

  it('writes cookies as Set-Cookie with every attribute, besides a Set-Cookie header', async () => {
    const res = await fetch(`${host.url}/api/cookies`);
    expect(res.status).toBe(204);
    const cookies = res.headers.getSetCookie();
    expect(cookies).toHaveLength(3);
    expect(cookies[0]).toBe('fromHeader=1; Path=/');
    expect(cookies[1]).toBe('__Host-state=abc; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax');
    expect(cookies[2]).toBe('dated=x%20y; Domain=example.test; Expires=Tue, 01 Jan 2030 00:00:00 GMT; SameSite=Strict');
  });

  it('answers 204 when the handler returns nothing', async () => {
    const res = await fetch(`${host.url}/api/nothing`, { method: 'POST' });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
  });

  it('serves HEAD on GET routes with the headers and no body', async () => {
    const res = await fetch(`${host.url}/api/text`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('10');
    expect(await res.text()).toBe('');
  });

  it('gives each invocation its own id and logs one line per request without the query', async () => {
    const a = await json(await fetch(`${host.url}/api/items/1?secret=x`));
    const b = await json(await fetch(`${host.url}/api/items/1`));
    expect(a['invocationId']).not.toBe(b['invocationId']);
    const requestLines = lines.filter((l) => l.startsWith('GET /api/items/1 '));
    expect(requestLines).toHaveLength(2);
    expect(requestLines[0]).toMatch(/^GET \/api\/items\/1 200 \d+ms \(items\)$/);
    expect(lines.join('\n')).not.toContain('secret=x');
  });
});

describe('dev host HTTP configuration', () => {
  it('takes the route prefix from host.json, including an empty one', async () => {
    const handler = echo('x');
    const custom = await startDevHost({
      port: 0,
      log: () => undefined,
      hostJson: { version: '2.0', extensions: { http: { routePrefix: '/v1/' } } },
      functions: [httpFunction('x', 'x', ['GET'], handler)],
    });
    try {
      expect(custom.apiUrl).toBe(`${custom.url}/v1`);
      expect((await fetch(`${custom.url}/v1/x`)).status).toBe(200);
      expect((await fetch(`${custom.url}/api/x`)).status).toBe(404);
    } finally {
      await custom.close();
    }
    const bare = await startDevHost({ port: 0, log: () => undefined, hostJson: { extensions: { http: { routePrefix: '' } } }, functions: [httpFunction('x', 'x', ['GET'], handler)] });
    try {
      expect((await fetch(`${bare.url}/x`)).status).toBe(200);
    } finally {
      await bare.close();
    }
  });

  it('uses the project host.json by default (prefix api)', async () => {
    const host = await startDevHost({ port: 0, log: () => undefined, functions: [] });
    try {
      expect(host.settings.routePrefix).toBe('api');
      expect(host.settings.queues).toMatchObject({ maxDequeueCount: 5, visibilityTimeoutMs: 0, messageEncoding: 'base64', batchSize: 16 });
    } finally {
      await host.close();
    }
  });

  it('refuses to start with a template it cannot serve as Azure does (a constraint), a bad template, or a reserved route', async () => {
    const handler = echo('x');
    await expect(startDevHost({ port: 0, functions: [httpFunction('x', 'a/{id:int}', ['GET'], handler)] }))
      .rejects.toThrow('Function "x": Invalid route template "api/a/{id:int}": "{id:int}" is not supported');
    await expect(startDevHost({ port: 0, functions: [httpFunction('x', '{*rest}/tail', ['GET'], handler)] }))
      .rejects.toThrow(/catch-all parameter must be the last segment/);
    await expect(startDevHost({ port: 0, hostJson: { extensions: { http: { routePrefix: '' } } }, functions: [httpFunction('x', 'admin/x', ['GET'], handler)] }))
      .rejects.toThrow(/reserved/);
    await expect(startDevHost({ port: 0, hostJson: { extensions: { queues: { batchSize: 64 } } }, functions: [] }))
      .rejects.toThrow('host.json: extensions.queues.batchSize must be an integer from 1 to 32');
  });

  it('reports a port in use', async () => {
    const first = await startDevHost({ port: 0, log: () => undefined, functions: [] });
    try {
      await expect(startDevHost({ port: first.port, functions: [] })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.close();
    }
  });

  it('waits for a request in flight on close', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const host = await startDevHost({
      port: 0,
      log: () => undefined,
      functions: [httpFunction('slow', 'slow', ['GET'], async () => {
        await gate;
        return { body: 'done' };
      })],
    });
    const pending = fetch(`${host.url}/api/slow`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = host.close();
    release();
    const res = await pending;
    expect(await res.text()).toBe('done');
    await closed;
  });
});
