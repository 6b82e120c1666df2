import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { defineEndpoint, endpointHandler, errorCodesOf, type Endpoint, type EndpointDeclaration, type RequestSchemas } from '../../../shared/http/endpoint.js';
import type { Access } from '../../../shared/http/wrapper.js';
import type { Caller } from '../../../shared/identity/caller.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createRuntime, type Runtime } from '../../../shared/runtime/runtime.js';
import { AssociateId, RecordIdText, TenantId } from '../../../shared/superoffice/identifiers.js';
import { testConfig } from '../../support/config.js';

/** The declaration layer: input validation (one 400 shape), the policy for the subject, typed handler input, response checks. */

const CALLER: Caller = { tid: '11111111-1111-4111-8111-111111111111', oid: 'aaaaaaaa-0000-4000-8000-000000000001', azp: 'x', idtyp: 'app', roles: ['Rights.Check'], tokenVersion: '2.0' };
const POLICY = {
  version: 1,
  callers: [{ name: 'svc', tid: CALLER.tid, oid: CALLER.oid, operations: ['rights'], superOffice: [{ env: 'sod', ctx: 'Cust1', users: ['5'] }] }],
};

function stack(options: { validateResponses?: boolean } = {}) {
  const audits: AuditEntry[] = [];
  const logs: string[] = [];
  const runtime: Runtime = createRuntime(testConfig({ BROKER_POLICY: JSON.stringify(POLICY) }), {
    logger: createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
    audit: { record: async (e) => { audits.push(e); }, fingerprint: async () => 'fp1_test' },
    guard: { authenticate: async () => ({ caller: CALLER, roleUsed: 'Rights.Check' }) },
    validateResponses: options.validateResponses ?? false,
  });
  const call = async (endpoint: Endpoint, init: { url: string; method?: string; params?: Record<string, string>; body?: string; contentType?: string }) => {
    const request = new HttpRequest({
      method: init.method ?? endpoint.method,
      url: `http://127.0.0.1/api/${init.url}`,
      params: init.params ?? {},
      ...(init.body !== undefined ? { body: { string: init.body }, headers: { 'content-type': init.contentType ?? 'application/json' } } : {}),
    });
    const response = (await endpointHandler(endpoint, () => runtime)(request, new InvocationContext({ functionName: endpoint.name }))) as HttpResponseInit;
    const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.jsonBody ?? null);
    return { status: response.status ?? 200, headers: new Headers(response.headers), body: JSON.parse(text.startsWith('<') ? 'null' : text || 'null') as Record<string, unknown>, text };
  };
  return { audits, logs, call };
}

function endpoint<R extends RequestSchemas, A extends Access>(overrides: Partial<EndpointDeclaration<R, A>> & Pick<EndpointDeclaration<R, A>, 'request' | 'route' | 'access'>): Endpoint {
  return defineEndpoint<R, A>({
    name: 'probe',
    method: 'GET',
    tag: 'test',
    summary: 's',
    description: 'd',
    failClosedAudit: true,
    responses: { 200: { description: 'ok', body: z.looseObject({}) } },
    errors: [],
    handler: async (input) => ({ status: 200, jsonBody: { path: input.path, query: input.query, body: input.body, caller: input.caller?.oid ?? null } }),
    ...overrides,
  });
}

const rights = { kind: 'caller', operation: 'rights' } as const;
const userPath = z.strictObject({ ctx: TenantId, associateId: AssociateId });
const ticket = endpoint({
  route: 'r/{ctx}/{associateId}/t/{ticketId}',
  access: rights,
  request: { path: z.strictObject({ ctx: TenantId, associateId: AssociateId, ticketId: RecordIdText }), query: z.strictObject({ level: z.enum(['0', '1', '2']), note: z.optional(z.string().check(z.maxLength(5))) }) },
  subject: { ctx: 'path.ctx', associateId: 'path.associateId' },
});

describe('declarations are checked when defined', () => {
  it('refuses a route whose parameters differ from the path schema', () => {
    expect(() => endpoint({ route: 'x/{ctx}', access: rights, request: { path: userPath } })).toThrow(/route parameters \{ctx\} differ/);
    expect(() => endpoint({ route: 'x/{ctx}/{associateId}/{extra}', access: rights, request: { path: userPath } })).toThrow(/differ/);
  });
  it('refuses a subject without an operation, or read from a field that does not exist', () => {
    expect(() => endpoint({ route: 'x/{ctx}/{associateId}', access: { kind: 'anonymous' }, request: { path: userPath }, subject: { ctx: 'path.ctx' } as never })).toThrow(/needs an access operation/);
    expect(() => endpoint({ route: 'x/{ctx}/{associateId}', access: rights, request: { path: userPath }, subject: { ctx: 'query.ctx' } as never })).toThrow(/no input field query.ctx/);
  });
});

describe('one 400 shape for every input (validation_failed, errors[] of location, name, message)', () => {
  const params = { ctx: 'Cust1', associateId: '5', ticketId: '7' };

  it('names path, query and body problems the same way, without echoing the refused values', async () => {
    const batch = endpoint({ method: 'POST', route: 'b', access: rights, request: { body: z.strictObject({ items: z.array(z.strictObject({ id: RecordIdText })).check(z.minLength(1)) }) } });
    const s = stack();
    const path = await s.call(ticket, { url: 'r', params: { ...params, ticketId: 'CANARY0' }, });
    expect(path.status).toBe(400);
    expect(path.body).toMatchObject({ code: 'validation_failed', errors: [{ location: 'path', name: 'ticketId', message: 'must be a positive integer (1-2147483647)' }, { location: 'query', name: 'level', message: 'is required' }] });
    const body = await s.call(batch, { url: 'b', body: JSON.stringify({ items: [{ id: '1' }, { id: 'CANARY1', extra: 'CANARY2' }], CANARY3: 1 }) });
    expect(body.status).toBe(400);
    expect(body.body['errors']).toEqual([
      { location: 'body', name: '/items/1/id', message: 'must be a positive integer (1-2147483647)' },
      { location: 'body', name: '/items/1/extra', message: 'is not a member of this object' },
      { location: 'body', name: '/CANARY3', message: 'is not a member of this object' },
    ]);
    expect(JSON.stringify(body.body['errors'])).not.toMatch(/CANARY[012]/);
    expect(path.text).not.toContain('CANARY0');
    expect(s.audits.map((a) => a.reason)).toEqual(['validation_failed', 'validation_failed']);
  });

  it('refuses an unknown query parameter and a repeated one; a loose query schema ignores unknown ones', async () => {
    const s = stack();
    const unknown = await s.call(ticket, { url: 'r?level=1&recordid=5', params });
    expect(unknown.body['errors']).toEqual([{ location: 'query', name: 'recordid', message: 'is not a parameter of this operation' }]);
    const repeated = await s.call(ticket, { url: 'r?level=1&level=2', params });
    expect(repeated.body['errors']).toEqual([{ location: 'query', name: 'level', message: 'must be given once' }]);
    const loose = endpoint({ route: 'l', access: { kind: 'anonymous' }, failClosedAudit: false, request: { query: z.looseObject({ a: z.optional(z.string()) }) } });
    expect((await s.call(loose, { url: 'l?a=1&utm_source=x' })).status).toBe(200);
    const none = endpoint({ route: 'n', access: { kind: 'anonymous' }, failClosedAudit: false, request: {} });
    expect((await s.call(none, { url: 'n?x=1' })).body['errors']).toEqual([{ location: 'query', name: 'x', message: 'is not a parameter of this operation' }]);
  });

  it('lists at most 20 errors and keeps a caller-chosen name short and printable', async () => {
    const open = endpoint({ route: 'o', access: rights, request: { query: z.strictObject({}) } });
    const query = Array.from({ length: 30 }, (_, i) => `p${i}=1`).join('&');
    const many = await stack().call(open, { url: `o?${query}&${encodeURIComponent(`\u0001${'x'.repeat(100)}`)}=1` });
    expect((many.body['errors'] as unknown[]).length).toBe(20);
    const odd = await stack().call(open, { url: `o?${encodeURIComponent(`\u0001${'x'.repeat(100)}`)}=1` });
    expect(odd.body['errors']).toEqual([{ location: 'query', name: `?${'x'.repeat(63)}`, message: 'is not a parameter of this operation' }]);
  });

  it('hands the handler the parsed values (transforms applied) and a non-null caller', async () => {
    const res = await stack().call(ticket, { url: 'r?level=2', params });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ path: { ctx: 'Cust1', associateId: '5', ticketId: 7 }, query: { level: '2' }, caller: CALLER.oid });
  });
});

describe('the policy for the declared subject runs before the handler', () => {
  it('403 for a subject not granted, even when the rest of the input is invalid; the audit names the subject', async () => {
    const s = stack();
    const res = await s.call(ticket, { url: 'r?level=9&junk=1', params: { ctx: 'Cust1', associateId: '6', ticketId: 'x' } });
    expect(res.status).toBe(403);
    expect(s.audits[0]).toMatchObject({ outcome: 'deny', reason: 'user_not_granted', subject: { env: 'sod', ctx: 'Cust1', associateId: '6' } });
  });

  it('400 when a field the subject is read from is invalid (nothing to ask the policy about)', async () => {
    const res = await stack().call(ticket, { url: 'r?level=1', params: { ctx: 'Cust-1', associateId: '5', ticketId: '7' } });
    expect(res.status).toBe(400);
    expect(res.body['errors']).toEqual([{ location: 'path', name: 'ctx', message: expect.stringMatching(/^must be a SuperOffice tenant id/) }]);
  });

  it('a subject read from the body; an optional field left out means the whole tenant', async () => {
    const tenantWide = endpoint({
      method: 'POST', route: 'tw', access: rights,
      request: { body: z.strictObject({ ctx: TenantId, associateId: z.optional(AssociateId) }) },
      subject: { ctx: 'body.ctx', associateId: 'body.associateId' },
    });
    const s = stack();
    expect((await s.call(tenantWide, { url: 'tw', body: '{"ctx":"Cust1","associateId":"5"}' })).status).toBe(200);
    expect((await s.call(tenantWide, { url: 'tw', body: '{"ctx":"Cust1"}' })).status).toBe(403);
    expect(s.audits.at(-1)).toMatchObject({ reason: 'tenant_scope_not_granted' });
  });
});

describe('the browser pages answer refused input with their own page', () => {
  it('invalidInputPage replaces the problem for validation_failed only, audited as validation_failed', async () => {
    const page = endpoint({
      route: 'p', access: { kind: 'anonymous' }, request: { query: z.strictObject({ t: z.string() }) },
      invalidInputPage: () => ({ status: 400, headers: { 'content-type': 'text/html' }, body: '<p>no</p>' }),
    });
    const s = stack();
    const res = await s.call(page, { url: 'p?t=1&t=2' });
    expect(res.status).toBe(400);
    expect(res.text).toBe('<p>no</p>');
    expect(s.audits[0]).toMatchObject({ reason: 'validation_failed', outcome: 'deny' });
    expect((await s.call(page, { url: 'p?t=1&code=k' })).body).toMatchObject({ code: 'function_key_in_query' });
  });
});

describe('responses are checked against the declaration when the runtime asks (tests)', () => {
  const liar = endpoint({ route: 'lie', access: { kind: 'anonymous' }, failClosedAudit: false, request: {}, responses: { 200: { description: 'ok', body: z.strictObject({ n: z.int() }) } }, handler: async () => ({ status: 200, jsonBody: { n: 'secret-value' } }) });
  const undeclared = endpoint({ route: 'u', access: { kind: 'anonymous' }, failClosedAudit: false, request: {}, handler: async () => ({ status: 202 }) });

  it('a body that does not match, or an undeclared status, is a 500 with an error log naming the member, never the value', async () => {
    const s = stack({ validateResponses: true });
    expect((await s.call(liar, { url: 'lie' })).status).toBe(500);
    expect((await s.call(undeclared, { url: 'u' })).status).toBe(500);
    const lines = s.logs.filter((l) => l.includes('response.undeclared'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('n: invalid_type');
    expect(lines[1]).toContain('status 202 is not declared');
    expect(s.logs.join('\n')).not.toContain('secret-value');
  });

  it('a problem code the declaration does not list is a 500 too', async () => {
    const s = stack({ validateResponses: true });
    const thrower = endpoint({ route: 't', access: { kind: 'anonymous' }, failClosedAudit: false, request: {}, errors: ['not_found'], handler: async () => { throw new BrokerError('conflict'); } });
    expect((await s.call(thrower, { url: 't' })).status).toBe(500);
    expect(s.logs.join('\n')).toContain('problem code conflict is not declared');
    const declared = endpoint({ route: 't', access: { kind: 'anonymous' }, failClosedAudit: false, request: {}, errors: ['not_found'], handler: async () => { throw new BrokerError('not_found'); } });
    expect((await s.call(declared, { url: 't' })).status).toBe(404);
  });

  it('off by default (production)', async () => {
    expect((await stack().call(liar, { url: 'lie' })).status).toBe(200);
  });
});

describe('errorCodesOf: the problem codes the OpenAPI document lists for an endpoint', () => {
  it('adds the wrapper\'s codes to the declared ones, by declaration', () => {
    expect(errorCodesOf(ticket)).toEqual(['validation_failed', 'function_key_in_query', 'unauthenticated', 'forbidden', 'internal', 'audit_unavailable', 'deadline_exceeded']);
    const body = endpoint({ method: 'POST', route: 'b', access: { kind: 'anonymous' }, failClosedAudit: false, allowCodeQuery: true, request: { body: z.string() }, errors: ['not_found'] });
    expect(errorCodesOf(body)).toEqual(['invalid_json', 'validation_failed', 'not_found', 'payload_too_large', 'unsupported_media_type', 'internal', 'deadline_exceeded']);
  });
});
