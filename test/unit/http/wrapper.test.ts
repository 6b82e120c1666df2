import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import type { Caller } from '../../../shared/identity/caller.js';
import { SECURITY_HEADERS, httpRoute, type RouteHandler, type RouteOptions } from '../../../shared/http/wrapper.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createRuntime, type RequestGuard, type Runtime } from '../../../shared/runtime/runtime.js';
import { testConfig } from '../../support/config.js';

const CALLER: Caller = { tid: 't', oid: 'o', azp: 'a', idtyp: 'app', roles: ['Tokens.Request'], tokenVersion: '2.0' };

function harness(options: { audit?: (e: AuditEntry) => Promise<void>; guard?: RequestGuard; deadlineMs?: number } = {}) {
  const audits: AuditEntry[] = [];
  const logs: string[] = [];
  const runtime: Runtime = createRuntime(testConfig({ REQUEST_DEADLINE_MS: String(options.deadlineMs ?? 10_000) }), {
    logger: createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
    audit: { record: options.audit ?? (async (e) => { audits.push(e); }), fingerprint: async () => 'fp1_test' },
    guard: options.guard ?? { authenticate: async () => ({ caller: CALLER, roleUsed: 'Tokens.Request' }) },
  });
  const call = async (route: Partial<RouteOptions>, handler: RouteHandler, init: Partial<ConstructorParameters<typeof HttpRequest>[0]> = {}) => {
    const wrapped = httpRoute({ name: 'test', access: { kind: 'caller', operation: 'tokens' }, failClosedAudit: true, ...route }, handler, () => runtime);
    const request = new HttpRequest({ method: 'GET', url: 'http://127.0.0.1/api/test', ...init });
    const response = (await wrapped(request, new InvocationContext({ functionName: 'test' }))) as HttpResponseInit;
    return { response, headers: new Headers(response.headers), body: typeof response.body === 'string' ? JSON.parse(response.body) as Record<string, unknown> : response.jsonBody as unknown };
  };
  return { audits, logs, call };
}

const ok: RouteHandler = async () => ({ status: 200, jsonBody: { ok: true } });

describe('HTTP wrapper', () => {
  it('requirement 14: refuses a function key in the query string, before authentication', async () => {
    let authenticated = false;
    const h = harness({ guard: { authenticate: async () => { authenticated = true; return { caller: CALLER, roleUsed: 'x' }; } } });
    const { response, body } = await h.call({}, ok, { url: 'http://127.0.0.1/api/test?code=abc' });
    expect(response.status).toBe(400);
    expect(body).toMatchObject({ code: 'function_key_in_query' });
    expect(authenticated).toBe(false);
    expect(h.audits).toHaveLength(1);
    expect(h.audits[0]!.outcome).toBe('deny');
  });

  it('lets the consent callback receive ?code=', async () => {
    const { response } = await harness().call({ allowCodeQuery: true, access: { kind: 'anonymous' } }, ok, { url: 'http://127.0.0.1/api/test?code=abc' });
    expect(response.status).toBe(200);
  });

  it('requirement 1: a failed authentication is 401 with WWW-Authenticate and an audited deny', async () => {
    const h = harness({ guard: { authenticate: async () => { throw new BrokerError('unauthenticated'); } } });
    const { response, headers, body } = await h.call({}, ok);
    expect(response.status).toBe(401);
    expect(headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(headers.get('content-type')).toBe('application/problem+json');
    expect(body).toMatchObject({ code: 'unauthenticated', status: 401 });
    expect(h.audits).toMatchObject([{ outcome: 'deny', reason: 'unauthenticated', caller: null, httpStatus: 401 }]);
  });

  it('requirement 56: unknown errors become a generic 500 with only code and request id', async () => {
    const h = harness();
    const { response, body } = await h.call({}, async () => { throw new Error('upstream said AccountKey=canary-x'); }, { headers: { 'x-request-id': 'abc-123' } });
    expect(response.status).toBe(500);
    expect(JSON.stringify(body)).not.toContain('canary');
    expect(body).toMatchObject({ code: 'internal', requestId: 'abc-123', title: 'Internal error' });
    expect(h.logs.join('\n')).not.toContain('canary');
    expect(h.logs.some((l) => l.includes('request.failed'))).toBe(true);
  });

  it('maps BrokerErrors to their status, with Retry-After when given', async () => {
    const { response, headers, body } = await harness().call({}, async () => { throw new BrokerError('upstream_unavailable', undefined, { retryAfterSec: 7 }); });
    expect(response.status).toBe(503);
    expect(headers.get('retry-after')).toBe('7');
    expect(body).toMatchObject({ code: 'upstream_unavailable' });
  });

  it('adds the security headers to every response and echoes a safe request id', async () => {
    const { headers } = await harness().call({}, ok, { headers: { 'x-request-id': 'req.1:2-3' } });
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(headers.get(name)).toBe(value);
    expect(headers.get('x-request-id')).toBe('req.1:2-3');
  });

  it('replaces an unsafe inbound request id', async () => {
    const { headers } = await harness().call({}, ok, { headers: { 'x-request-id': 'bad id <script>' } });
    expect(headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('requirement 49: answers 504 at the deadline even if the handler hangs', async () => {
    const started = Date.now();
    const { response, body } = await harness({ deadlineMs: 1000 }).call({}, (scope) => new Promise<HttpResponseInit>((resolve) => {
      scope.signal.addEventListener('abort', () => setTimeout(() => resolve({ status: 200 }), 5000));
    }));
    expect(response.status).toBe(504);
    expect(body).toMatchObject({ code: 'deadline_exceeded' });
    expect(Date.now() - started).toBeLessThan(2500);
  });

  describe('readJson (the body as JSON; shared/http/endpoint.ts validates it)', () => {
    const echo: RouteHandler = async (scope) => ({ status: 200, jsonBody: await scope.readJson() });
    const post = (body: string, contentType = 'application/json') => harness().call({}, echo, { method: 'POST', body: { string: body }, headers: { 'content-type': contentType } });

    it('415 for a non-JSON content type', async () => {
      expect((await post('{}', 'text/plain')).response.status).toBe(415);
    });
    it('413 for a body over the limit', async () => {
      const { response } = await harness().call({ maxBodyBytes: 10 }, echo, { method: 'POST', body: { string: '{"ctx":"Cust12345"}' }, headers: { 'content-type': 'application/json' } });
      expect(response.status).toBe(413);
    });
    it('400 invalid_json for malformed JSON', async () => {
      const { response, body } = await post('{"ctx":');
      expect(response.status).toBe(400);
      expect(body).toMatchObject({ code: 'invalid_json' });
    });
    it('accepts a valid body', async () => {
      const { response, body } = await post('{"ctx":"Cust12345"}', 'application/json; charset=utf-8');
      expect(response.status).toBe(200);
      expect(body).toEqual({ ctx: 'Cust12345' });
    });
  });

  describe('audit on exit (requirements 57, 58)', () => {
    it('writes exactly one record per request with the caller, role, subject and status', async () => {
      const h = harness();
      await h.call({}, async (scope) => {
        scope.annotate({ subject: { env: 'sod', ctx: 'Cust1', associateId: '5' }, upstreamStatus: 200, flags: ['served_cached'] });
        return { status: 200 };
      });
      expect(h.audits).toHaveLength(1);
      expect(h.audits[0]).toMatchObject({
        caller: CALLER, roleUsed: 'Tokens.Request', subject: { env: 'sod', ctx: 'Cust1', associateId: '5' },
        action: 'test', outcome: 'allow', reason: 'ok', httpStatus: 200, upstreamStatus: 200, functionName: 'test', flags: ['served_cached'],
      });
    });

    it('requirement 58: a fail-closed route releases nothing when the audit cannot be written', async () => {
      const h = harness({ audit: async () => { throw new Error('table down'); } });
      const { response, body, headers } = await h.call({}, async () => ({ status: 200, jsonBody: { access_token: 'canary-at' } }));
      expect(response.status).toBe(503);
      expect(JSON.stringify(body)).not.toContain('canary-at');
      expect(body).toMatchObject({ code: 'audit_unavailable' });
      expect(headers.get('retry-after')).toBe('5');
    });

    it('requirement 58: after a failed audit write, fail-closed routes refuse before acting until a write succeeds again', async () => {
      let auditDown = true;
      let acted = 0;
      const h = harness({ audit: async (e) => { if (auditDown) throw new Error('table down'); void e; } });
      const act: RouteHandler = async () => { acted++; return { status: 200 }; };
      expect((await h.call({}, act)).response.status).toBe(503); // acted once: the outage was not yet known
      expect(acted).toBe(1);
      expect((await h.call({}, act)).response.status).toBe(503); // refused before acting
      expect(acted).toBe(1);
      auditDown = false;
      expect((await h.call({}, act)).response.status).toBe(503); // this refusal's audit write succeeds: re-opened
      expect(acted).toBe(1);
      expect((await h.call({}, act)).response.status).toBe(200);
      expect(acted).toBe(2);
    });

    it('the audit-failing state belongs to its runtime: another runtime is not refused', async () => {
      const failing = harness({ audit: async () => { throw new Error('table down'); } });
      const healthy = harness();
      expect((await failing.call({}, ok)).response.status).toBe(503);
      expect((await failing.call({}, ok)).response.status).toBe(503);
      expect((await healthy.call({}, ok)).response.status).toBe(200);
    });

    it('a route that is not fail-closed still answers when the audit fails', async () => {
      const h = harness({ audit: async () => { throw new Error('table down'); } });
      const { response } = await h.call({ failClosedAudit: false, access: { kind: 'anonymous' } }, ok);
      expect(response.status).toBe(200);
      expect(h.logs.some((l) => l.includes('audit.write_failed'))).toBe(true);
    });
  });
});
