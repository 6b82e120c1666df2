import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import { MAX_UPSTREAM_BODY_BYTES, UpstreamTransportError, assertAllowedHost, sendUpstream } from '../../../shared/superoffice/upstream.js';

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url?.startsWith('/hang')) return;
    if (req.url?.startsWith('/big')) {
      res.end('x'.repeat(MAX_UPSTREAM_BODY_BYTES + 1));
      return;
    }
    if (req.url?.startsWith('/reset')) {
      req.socket.destroy();
      return;
    }
    res.setHeader('Retry-After', '12');
    res.statusCode = 503;
    res.end('{"x":1}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('sendUpstream', () => {
  it('requirements 49, 68: times out a hanging upstream; the error names only method, host and path', async () => {
    const started = Date.now();
    const error = await sendUpstream({ method: 'GET', url: `${base}/hang?secret=canary`, timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamTransportError);
    expect((error as UpstreamTransportError).code).toBe('upstream_timeout');
    expect(Date.now() - started).toBeLessThan(2000);
    // Requirement 68: only method, host and path; never the query.
    expect(String((error as Error).message)).not.toContain('canary');
    expect(JSON.stringify(error)).not.toContain('canary');
  });

  it('requirement 55: refuses a body over 64 KB', async () => {
    const error = await sendUpstream({ method: 'GET', url: `${base}/big`, timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).code).toBe('upstream_bad_response');
  });

  it('reports a socket reset as unavailable and sent', async () => {
    const error = (await sendUpstream({ method: 'POST', url: `${base}/reset`, timeoutMs: 2000, body: 'a=1' }).catch((e: unknown) => e)) as UpstreamTransportError;
    expect(error.code).toBe('upstream_unavailable');
    expect(error.sent).toBe(true);
  });

  it('requirement 33: a refused connection is known not to have been sent', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = (await sendUpstream({ method: 'POST', url: `http://127.0.0.1:${port}/x`, timeoutMs: 2000 }).catch((e: unknown) => e)) as UpstreamTransportError;
    expect(error.code).toBe('upstream_unavailable');
    expect(error.sent).toBe(false);
  });

  it('returns status, body and Retry-After', async () => {
    const response = await sendUpstream({ method: 'GET', url: `${base}/x`, timeoutMs: 2000 });
    expect(response).toMatchObject({ status: 503, text: '{"x":1}', retryAfterSec: 12 });
  });
});

describe('requirement 17: outbound host allow-list', () => {
  it('refuses hosts outside the list, http off loopback, look-alikes, and other environments', () => {
    for (const url of ['https://evil.com/x', 'http://sod.superoffice.com/x', 'https://sod.superoffice.com.evil.com/x', 'https://online2.superoffice.com/x', 'https://xsod2.superoffice.com/x']) {
      expect(() => assertAllowedHost(new URL(url), ['sod.superoffice.com']), url).toThrow(BrokerError);
    }
  });
  it("accepts the listed environment's numbered hosts over https on the default port only", () => {
    expect(() => assertAllowedHost(new URL('https://sod2.superoffice.com/Cust1/api/'), ['sod.superoffice.com'])).not.toThrow();
    expect(() => assertAllowedHost(new URL('https://sod17.superoffice.com/Cust1/api/'), ['sod.superoffice.com'])).not.toThrow();
    for (const url of ['http://sod2.superoffice.com/x', 'https://sod2.superoffice.com:444/x', 'https://sod2.superoffice.com.evil.com/x', 'https://user@sod2.superoffice.com/x']) {
      expect(() => assertAllowedHost(new URL(url), ['sod.superoffice.com']), url).toThrow(BrokerError);
    }
    // Without the main host listed (the simulator), no numbered host is admitted.
    expect(() => assertAllowedHost(new URL('https://sod2.superoffice.com/x'), ['127.0.0.1:5'])).toThrow(BrokerError);
  });
  it('exact: authentication goes to the listed host only, never a numbered one', () => {
    expect(() => assertAllowedHost(new URL('https://sod2.superoffice.com/login/common/oauth/tokens'), ['sod.superoffice.com'], { exact: true })).toThrow(BrokerError);
    expect(() => assertAllowedHost(new URL('https://sod.superoffice.com/login/common/oauth/tokens'), ['sod.superoffice.com'], { exact: true })).not.toThrow();
  });
  it('accepts listed hosts', () => {
    expect(() => assertAllowedHost(new URL('https://sod2.superoffice.com/Cust1/api/v1'), ['sod2.superoffice.com'])).not.toThrow();
    expect(() => assertAllowedHost(new URL('http://127.0.0.1:5/x'), ['127.0.0.1:5'])).not.toThrow();
  });
});
