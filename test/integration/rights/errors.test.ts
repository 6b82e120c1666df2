import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CTX, call, rightsPath, startRightsStack, type RightsStack, type Strategy } from './harness.js';

/**
 * Refusals and failures of the rights endpoints through the real wrapper, guard, policy and token
 * service: bad input (400 with accepted values, issue 6 item 6), caller authentication and the policy
 * (requirements 1, 8, 16), connection and consent state (409 `reauth_required`), a tenant in
 * maintenance (503 + Retry-After), upstream faults (requirements 49–52, 55: never a 500), and the
 * fail-closed audit (57, 58).
 */

let stack: RightsStack;

beforeAll(async () => {
  stack = await startRightsStack();
  await stack.connect(5);
  await stack.connect(6);
  await stack.connect(7);
});

afterAll(async () => {
  await stack?.close();
});

beforeEach(() => {
  stack.simulator.control.clearFaults();
  stack.simulator.counters.reset();
  stack.audits.length = 0;
  stack.auditDown = false;
});

const STRATEGIES: readonly Strategy[] = ['webapi', 'crmscript'];

describe('bad input -> 400 validation_failed saying what is accepted, with no SuperOffice call', () => {
  const TABLES = /contact, company, person, customer, ticket/;
  const ID = /^must be a positive integer \(1-2147483647\)$/;
  const LEVELS = /0, 1, 2, list, read, edit/;
  const ORIGINS = /1, 2, soap, web/;
  const cases: Array<[string, string, 'path' | 'query', string, RegExp]> = [
    ['unknown table', 'tables/sale?right=select', 'path', 'table', TABLES],
    ['unknown table right', 'tables/contact?right=delete', 'query', 'right', /select, update, insert/],
    ['missing table right', 'tables/contact', 'query', 'right', /^is required$/],
    ['non-numeric recordId', 'tables/contact?right=select&recordId=abc', 'query', 'recordId', ID],
    ['recordId 0', 'tables/contact?right=select&recordId=0', 'query', 'recordId', ID],
    ['misspelt recordId', 'tables/contact?right=select&recordid=5', 'query', 'recordid', /^is not a parameter of this operation$/],
    ['a repeated parameter', 'tables/contact?right=select&right=update', 'query', 'right', /^must be given once$/],
    ['unknown field', 'fields/contact/salary?right=read', 'path', 'field', /contactId, name, department, orgNr/],
    ['unknown field right', 'fields/contact/name?right=update', 'query', 'right', /read, write/],
    ['unknown table for a field', 'fields/sale/name?right=read', 'path', 'table', TABLES],
    ['non-numeric ticket id', 'tickets/abc?level=1', 'path', 'ticketId', ID],
    ['unknown level', 'tickets/301?level=3', 'query', 'level', LEVELS],
    ['unknown level name', 'tickets/301?level=admin', 'query', 'level', LEVELS],
    ['missing level', 'tickets/301', 'query', 'level', /^is required$/],
    ['unknown origin', 'logged-in?origin=3', 'query', 'origin', ORIGINS],
    ['missing origin', 'logged-in', 'query', 'origin', /^is required$/],
    ['a parameter the check does not take', 'administrator?recordId=5', 'query', 'recordId', /^is not a parameter of this operation$/],
  ];
  for (const [title, path, location, name, message] of cases) {
    it(`${title}: ${path}`, async () => {
      const response = await call(stack, 'GET', rightsPath(6, path));
      expect(response.status, JSON.stringify(response.json)).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.json['code']).toBe('validation_failed');
      const errors = response.json['errors'] as { location: string; name: string; message: string }[];
      expect(errors.find((e) => e.name === name), JSON.stringify(errors)).toMatchObject({ location, name, message: expect.stringMatching(message) });
      expect(response.json['allowed']).toBeUndefined();
      expect(stack.simulator.counters.snapshot()).toEqual({});
      expect(stack.audits).toHaveLength(1);
      expect(stack.audits[0]).toMatchObject({ action: 'rights', outcome: 'deny', reason: 'validation_failed', httpStatus: 400, subject: { ctx: CTX, associateId: '6' } });
    });
  }

  it('a field the table does not have -> 404 not_found naming the fields it has, with no SuperOffice call', async () => {
    const response = await call(stack, 'GET', rightsPath(6, 'fields/contact/firstname?right=read&recordId=101'));
    expect(response.status).toBe(404);
    expect(response.json).toMatchObject({ code: 'not_found', detail: expect.stringContaining('contactId, name, department, orgNr, number1, number2, createdDate, updatedDate') });
    expect(stack.simulator.counters.snapshot()).toEqual({});
    expect(stack.audits[0]).toMatchObject({ action: 'rights', outcome: 'deny', reason: 'not_found', httpStatus: 404 });
  });

  it('a non-numeric associate id or a malformed tenant id', async () => {
    const user = await call(stack, 'GET', `/api/rights/${CTX}/abc/administrator`);
    expect(user.status).toBe(400);
    expect(user.json['errors']).toEqual([{ location: 'path', name: 'associateId', message: expect.stringMatching(/^must be a SuperOffice associate id/) }]);
    const tenant = await call(stack, 'GET', '/api/rights/12345/6/administrator');
    expect(tenant.status).toBe(400);
    expect((tenant.json['errors'] as { name: string }[]).map((e) => e.name)).toEqual(['ctx']);
  });
});

describe('callers and the policy', () => {
  it('no bearer token -> 401 with WWW-Authenticate, audited as deny', async () => {
    const response = await call(stack, 'GET', rightsPath(6, 'administrator'), { caller: null });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(stack.audits[0]).toMatchObject({ action: 'rights', outcome: 'deny', httpStatus: 401 });
  });

  it('a caller without the Rights.Check role -> 403 (requirement 8)', async () => {
    const response = await call(stack, 'GET', rightsPath(6, 'administrator'), { caller: 'worker' });
    expect(response.status).toBe(403);
    expect(stack.simulator.counters.snapshot()).toEqual({});
  });

  it('a tenant the caller is not granted -> 403, audited with the subject (requirement 16)', async () => {
    const response = await call(stack, 'GET', '/api/rights/Cust54321/6/tables/contact?right=select&recordId=101');
    expect(response.status).toBe(403);
    expect(response.json['code']).toBe('forbidden');
    expect(stack.audits[0]).toMatchObject({ outcome: 'deny', httpStatus: 403, subject: { env: 'sod', ctx: 'Cust54321', associateId: '6' } });
    expect(stack.audits[0]?.caller?.oid).toBe('0f3b8e2a-6c1d-4a7e-b295-3d8f1c6e0a41');
    expect(stack.simulator.counters.snapshot()).toEqual({});
  });

  it('the policy is checked before the rest of the input (a refused caller learns nothing about it)', async () => {
    const response = await call(stack, 'GET', '/api/rights/Cust54321/6/tables/nonsense');
    expect(response.status).toBe(403);
  });

  it('a function key in the query string -> 400', async () => {
    const response = await call(stack, 'GET', rightsPath(6, 'administrator?code=abc'));
    expect(response.status).toBe(400);
    expect(response.json['code']).toBe('function_key_in_query');
  });
});

describe('answers are audited per caller and fail closed (requirements 57, 58)', () => {
  it('one audit record per request with the check, subject, caller and upstream status', async () => {
    const response = await call(stack, 'GET', rightsPath(6, 'fields/contact/orgNr?right=write&recordId=104'));
    expect(response.status).toBe(200);
    expect(stack.audits).toHaveLength(1);
    expect(stack.audits[0]).toMatchObject({
      action: 'rights',
      functionName: 'rightsField',
      target: 'rights checkFieldRights contact#104.orgNr write',
      subject: { env: 'sod', ctx: CTX, associateId: '6' },
      outcome: 'allow',
      reason: 'ok',
      httpStatus: 200,
      upstreamStatus: 200,
      roleUsed: 'Rights.Check',
    });
  });

  for (const strategy of STRATEGIES) {
    it(`${strategy}: when the audit record cannot be written the answer is withheld (503)`, async () => {
      stack.auditDown = true;
      const response = await call(stack, 'GET', rightsPath(6, 'tables/contact?right=update&recordId=101'), { strategy });
      expect(response.status).toBe(503);
      expect(response.json['code']).toBe('audit_unavailable');
      expect(response.json['allowed']).toBeUndefined();
      expect(response.headers.get('retry-after')).not.toBeNull();
      // Back up: the next request is refused before acting and audited, which re-opens the route.
      stack.auditDown = false;
      expect((await call(stack, 'GET', rightsPath(6, 'tables/contact?right=update&recordId=101'), { strategy })).status).toBe(503);
      expect((await call(stack, 'GET', rightsPath(6, 'tables/contact?right=update&recordId=101'), { strategy })).status).toBe(200);
    });
  }
});

describe('connection, consent and tenant state', () => {
  for (const strategy of STRATEGIES) {
    it(`${strategy}: a user without a connection -> 404 not_connected with consentRequired`, async () => {
      const response = await call(stack, 'GET', rightsPath(8, 'administrator'), { strategy });
      expect(response.status).toBe(404);
      expect(response.json).toMatchObject({ code: 'not_connected', consentRequired: true });
    });
  }

  it('a tenant in maintenance -> 503 with Retry-After (Web API answering 503, then the state API)', async () => {
    // A runtime that saw the tenant running still holds its token and state: the Web API's 503 is passed on.
    expect((await call(stack, 'GET', rightsPath(6, 'tables/contact?right=select&recordId=101'))).status).toBe(200);
    stack.simulator.control.setTenantState(CTX, 'OfflineMaintenance');
    try {
      const viaWebApi = await call(stack, 'GET', rightsPath(6, 'tables/contact?right=select&recordId=101'));
      expect(viaWebApi.status).toBe(503);
      expect(viaWebApi.json['code']).toBe('upstream_unavailable');
      expect(viaWebApi.headers.get('retry-after')).toBe('300');
      expect(stack.audits.at(-1)).toMatchObject({ outcome: 'error', httpStatus: 503, upstreamStatus: 503 });

      // Issue 15 point 6: that 503 marked the tenant state stale, so the same instance now asks the state
      // API and refuses before any Web API call, instead of trusting the cached state until ValidUntil.
      stack.simulator.counters.reset();
      const sameInstance = await call(stack, 'GET', rightsPath(6, 'tables/contact?right=select&recordId=101'));
      expect(sameInstance.status).toBe(503);
      expect(sameInstance.json).toMatchObject({ code: 'tenant_unavailable', tenantState: 'OfflineMaintenance' });
      expect(stack.simulator.counters.get('webapi')).toBe(0);
      expect(stack.simulator.counters.get('state')).toBe(1);

      // A fresh instance asks the tenant state API first and refuses before any Web API call.
      stack.freshRuntime('webapi');
      stack.simulator.counters.reset();
      const viaState = await call(stack, 'GET', rightsPath(6, 'administrator'));
      expect(viaState.status).toBe(503);
      expect(viaState.json).toMatchObject({ code: 'tenant_unavailable', tenantState: 'OfflineMaintenance' });
      expect(Number(viaState.headers.get('retry-after'))).toBeGreaterThanOrEqual(30);
      expect(stack.simulator.counters.get('webapi')).toBe(0);
    } finally {
      stack.simulator.control.setTenantState(CTX, 'Running');
      stack.freshRuntime('webapi');
    }
  });

  for (const strategy of STRATEGIES) {
    it(`${strategy}: a revoked consent -> 409 reauth_required with consentRequired, then for every check`, async () => {
      const ok = await call(stack, 'GET', rightsPath(5, 'tickets/303?level=read'), { strategy });
      expect(ok.status).toBe(200);
      expect(stack.simulator.control.revokeConsent(CTX, 5)).toBe(1);
      try {
        // The cached access token is refused (401); the renewal's refresh fails with invalid_grant.
        const revoked = await call(stack, 'GET', rightsPath(5, 'tickets/303?level=read'), { strategy });
        expect(revoked.status).toBe(409);
        expect(revoked.json).toMatchObject({ code: 'reauth_required', consentRequired: true });
        expect(revoked.json['allowed']).toBeUndefined();
        // The connection is now marked: even isAdministrator (webapi: from the id_token) is refused.
        const admin = await call(stack, 'GET', rightsPath(5, 'administrator'), { strategy });
        expect(admin.status).toBe(409);
        expect(stack.audits.at(-1)).toMatchObject({ outcome: 'deny', reason: 'reauth_required', httpStatus: 409 });
      } finally {
        await stack.connect(5);
        stack.freshRuntime(strategy);
      }
    });
  }
});

describe('upstream faults are retried within the deadline and never become a 500', () => {
  it('a 500 from the Web API is retried; the third attempt answers', async () => {
    await call(stack, 'GET', rightsPath(6, 'administrator'));
    stack.simulator.control.setFault('webapi', { status: 500, times: 2 });
    stack.simulator.counters.reset();
    const response = await call(stack, 'GET', rightsPath(6, 'tables/contact?right=update&recordId=101'));
    expect(response.status).toBe(200);
    expect(response.json['allowed']).toBe(true);
    expect(stack.simulator.counters.get('webapi')).toBe(3);
    expect(stack.audits.at(-1)?.upstreamStatus).toBe(500);
  });

  it('a Web API that keeps failing -> 503 after 3 attempts', async () => {
    stack.simulator.control.setFault('webapi', { status: 503, retryAfter: 2 });
    const response = await call(stack, 'GET', rightsPath(6, 'tables/contact?right=update&recordId=101'));
    expect(response.status).toBe(503);
    expect(response.json['code']).toBe('upstream_unavailable');
    expect(response.headers.get('retry-after')).toBe('2');
    expect(stack.simulator.counters.get('webapi')).toBe(3);
  });

  it('the CRMScript agent failing -> 503; a 429 is retried', async () => {
    stack.simulator.control.setFault('crmscript', { status: 429, retryAfter: 1, times: 1 });
    const retried = await call(stack, 'GET', rightsPath(6, 'administrator'), { strategy: 'crmscript' });
    expect(retried.status).toBe(200);
    expect(stack.simulator.counters.get('crmscript')).toBe(2);
    stack.simulator.control.setFault('crmscript', { status: 500 });
    const failed = await call(stack, 'GET', rightsPath(6, 'administrator'), { strategy: 'crmscript' });
    expect(failed.status).toBe(503);
  });

  it('a malformed (non-JSON) Web API body -> 502, once (requirement 55)', async () => {
    stack.simulator.control.setFault('webapi', { kind: 'malformed', status: 200, times: 1 });
    const response = await call(stack, 'GET', rightsPath(6, 'tables/contact?right=select&recordId=101'));
    expect(response.status).toBe(502);
    expect(response.json['code']).toBe('upstream_bad_response');
    expect(stack.simulator.counters.get('webapi')).toBe(1);
  });

  it('an oversized Web API body -> 502', async () => {
    stack.simulator.control.setFault('webapi', { kind: 'oversized', times: 1 });
    const response = await call(stack, 'GET', rightsPath(6, 'tables/contact?right=select&recordId=101'));
    expect(response.status).toBe(502);
  });

  it('a connection reset is retried', async () => {
    stack.simulator.control.setFault('webapi', { kind: 'reset', times: 1 });
    const response = await call(stack, 'GET', rightsPath(6, 'tables/contact?right=select&recordId=101'));
    expect(response.status).toBe(200);
    expect(stack.simulator.counters.get('webapi')).toBe(2);
  });
});
