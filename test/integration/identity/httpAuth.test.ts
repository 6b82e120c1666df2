import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_CALLERS } from '../../../dev/entra/demoCallers.js';
import { meHandler } from '../../../functions/me.js';
import type { CallerAccessReport } from '../../../shared/identity/callerAccess.js';
import { INVALID_TOKEN_MESSAGE } from '../../../shared/identity/denial.js';
import { createRequestGuardFromConfig } from '../../../shared/identity/guard.js';
import { createLogger } from '../../../shared/log/logger.js';
import { setRuntime } from '../../../shared/runtime/runtime.js';
import { buildRequest, call, problemCode, startHarness, subjectProbe, type CallResult, type Harness } from './harness.js';

/**
 * Caller authentication through the real HTTP wrapper, the real guard and verifier, and tokens from the
 * dev issuer (requirements 1, 7, 8, 13, 14, 16), plus `GET /api/me`.
 */

let h: Harness;
let easy: Harness;

beforeAll(async () => {
  h = await startHarness();
  easy = await startHarness({ easyAuth: true });
});

beforeEach(() => {
  h.reset();
  easy.reset();
  setRuntime(h.runtime);
});

afterAll(async () => {
  setRuntime(undefined);
  await h.close();
  await easy.close();
});

function expectChallenge(result: CallResult, invalidToken: boolean): void {
  expect(result.status).toBe(401);
  expect(problemCode(result)).toBe('unauthenticated');
  expect(result.headers['content-type']).toBe('application/problem+json');
  const challenge = result.headers['www-authenticate'] ?? '';
  expect(challenge).toMatch(/^Bearer /);
  expect(challenge.includes('error="invalid_token"')).toBe(invalidToken);
}

function lastAudit() {
  const entry = h.audit.at(-1);
  if (entry === undefined) throw new Error('no audit record');
  return entry;
}

describe('requirement 1: 401 with WWW-Authenticate: Bearer, audited as deny', () => {
  it('req 1: no Authorization header', async () => {
    const result = await call(meHandler, {});
    expectChallenge(result, false);
    expect(h.audit).toHaveLength(1);
    expect(lastAudit()).toMatchObject({ outcome: 'deny', httpStatus: 401, caller: null, reason: 'missing', action: 'me' });
  });

  it('req 1: a malformed bearer token', async () => {
    const result = await call(meHandler, { headers: { authorization: 'Bearer not-a-jwt' } });
    expectChallenge(result, true);
    expect(lastAudit()).toMatchObject({ outcome: 'deny', reason: 'malformed' });
  });

  it('req 1: another scheme', async () => {
    const token = await h.issuer.mint('integration');
    expectChallenge(await call(meHandler, { headers: { authorization: `Basic ${token}` } }), false);
  });

  it('req 1: an invalid token (expired) gets the fixed message; the reason is only in the audit record', async () => {
    const token = await h.issuer.mint('integration', { lifetimeSec: 60 });
    h.clock.advance(10 * 60_000);
    const result = await call(meHandler, { token });
    expectChallenge(result, true);
    expect((result.body as { detail?: string }).detail).toBe(INVALID_TOKEN_MESSAGE);
    expect(JSON.stringify(result.body)).not.toContain('expired');
    expect(lastAudit()).toMatchObject({ outcome: 'deny', httpStatus: 401, reason: 'expired' });
  });

  it('req 1: a token of a tenant not on the allowlist', async () => {
    expectChallenge(await call(meHandler, { token: await h.issuer.mint('other-tenant') }), true);
    expect(lastAudit()).toMatchObject({ outcome: 'deny', reason: 'tenant_not_allowed' });
  });

  it('req 1: an operation endpoint answers the same way', async () => {
    expectChallenge(await call(subjectProbe(h, 'tokens'), { path: 'tokens' }), false);
    expect(lastAudit()).toMatchObject({ outcome: 'deny', action: 'tokens', httpStatus: 401 });
  });

  it('req 1: the response never echoes the token', async () => {
    const token = await h.issuer.mint('integration', { claims: { aud: '00000003-0000-0000-c000-000000000000' } });
    const result = await call(meHandler, { token });
    expect(result.status).toBe(401);
    expect(JSON.stringify(result)).not.toContain(token.split('.')[2] ?? token);
  });
});

describe('requirement 13: Easy Auth headers through the wrapper', () => {
  const forged = (oid: string): Record<string, string> => ({
    'x-ms-client-principal': Buffer.from(
      JSON.stringify({ auth_typ: 'aad', claims: [{ typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: oid }, { typ: 'roles', val: 'Connections.Admin' }] }),
    ).toString('base64'),
    'x-ms-client-principal-id': oid,
    'x-ms-client-principal-idp': 'aad',
    'x-ms-client-principal-name': 'admin@contoso.example',
  });

  it('req 13: a forged principal header with Easy Auth off gives 401', async () => {
    expectChallenge(await call(meHandler, { headers: forged(DEMO_CALLERS['ops-admin'].oid) }), false);
    expect(lastAudit()).toMatchObject({ outcome: 'deny', caller: null });
  });

  it('req 13: a forged principal header never upgrades a token: identity and rights come from the token', async () => {
    const token = await h.issuer.mint('auditor');
    const result = await call(subjectProbe(h, 'connections.admin'), { token, headers: forged(DEMO_CALLERS['ops-admin'].oid) });
    expect(result.status).toBe(403);
    expect(lastAudit().caller?.oid).toBe(DEMO_CALLERS.auditor.oid);
  });

  it('req 13: with Easy Auth on, the principal alone is still 401, and a principal disagreeing with the token is 401', async () => {
    setRuntime(easy.runtime);
    expect((await call(meHandler, { headers: forged(DEMO_CALLERS.integration.oid) })).status).toBe(401);
    const token = await easy.issuer.mint('integration');
    expect((await call(meHandler, { token, headers: forged(DEMO_CALLERS['ops-admin'].oid) })).status).toBe(401);
    expect((await call(meHandler, { token, headers: forged(DEMO_CALLERS.integration.oid) })).status).toBe(200);
  });
});

describe('requirement 14: function keys', () => {
  it('req 14: ?code= is refused with 400 even next to a valid token, and audited', async () => {
    const token = await h.issuer.mint('integration');
    const result = await call(meHandler, { token, query: { code: 'functionkey0123456789' } });
    expect(result.status).toBe(400);
    expect(problemCode(result)).toBe('function_key_in_query');
    expect(lastAudit()).toMatchObject({ outcome: 'deny', httpStatus: 400, reason: 'function_key_in_query' });
  });

  it('req 14: an x-functions-key header alone is 401', async () => {
    expectChallenge(await call(subjectProbe(h, 'tokens'), { headers: { 'x-functions-key': 'functionkey0123456789==' } }), false);
  });
});

describe('requirement 8: roles and app-only tokens through the wrapper', () => {
  it('req 8: a token without the role gets 403, audited with the caller', async () => {
    const result = await call(subjectProbe(h, 'tokens'), { token: await h.issuer.mint('no-roles') });
    expect(result.status).toBe(403);
    expect(problemCode(result)).toBe('forbidden');
    expect(result.headers['www-authenticate']).toBeUndefined();
    expect(lastAudit()).toMatchObject({ outcome: 'deny', httpStatus: 403, reason: 'role_missing' });
    expect(lastAudit().caller?.oid).toBe(DEMO_CALLERS['no-roles'].oid);
  });

  it('req 8: a token with scp is refused (403)', async () => {
    const token = await h.issuer.mint('integration', { claims: { scp: 'user_impersonation' } });
    expect((await call(subjectProbe(h, 'tokens'), { token })).status).toBe(403);
    expect(lastAudit().reason).toBe('not_app_only');
  });

  it('req 8: a token without idtyp is refused (403)', async () => {
    const token = await h.issuer.mint('integration', { omit: ['idtyp'] });
    expect((await call(subjectProbe(h, 'tokens'), { token })).status).toBe(403);
    expect(lastAudit().reason).toBe('not_app_only');
  });

  it('req 8: a role the policy does not grant is refused (403)', async () => {
    expect((await call(subjectProbe(h, 'tokens'), { token: await h.issuer.mint('auditor') })).status).toBe(403);
    expect(lastAudit().reason).toBe('operation_not_granted');
  });

  it('req 8: the right role and a policy grant pass, and the audit record names the role used', async () => {
    const result = await call(subjectProbe(h, 'tokens'), { token: await h.issuer.mint('integration') });
    expect(result.status).toBe(200);
    expect(lastAudit()).toMatchObject({ outcome: 'allow', roleUsed: 'Tokens.Request', reason: 'ok' });
  });
});

describe('requirement 16: tenant and user scope', () => {
  it('req 16: a tenant not mapped to the caller gives 403 and an audit record with caller and subject', async () => {
    const token = await h.issuer.mint('integration');
    const result = await call(subjectProbe(h, 'tokens'), { token, query: { ctx: 'Cust54321', associateId: '5' } });
    expect(result.status).toBe(403);
    expect(lastAudit()).toMatchObject({
      outcome: 'deny',
      httpStatus: 403,
      reason: 'tenant_not_granted',
      subject: { env: 'sod', ctx: 'Cust54321', associateId: '5' },
    });
    expect(lastAudit().caller?.oid).toBe(DEMO_CALLERS.integration.oid);
  });

  it('req 16: a user not mapped to the caller gives 403', async () => {
    const token = await h.issuer.mint('worker');
    expect((await call(subjectProbe(h, 'proxy'), { token, query: { ctx: 'Cust54321', associateId: '9' } })).status).toBe(403);
    expect(lastAudit().reason).toBe('user_not_granted');
    expect((await call(subjectProbe(h, 'proxy'), { token, query: { ctx: 'Cust54321', associateId: '5' } })).status).toBe(200);
  });

  it('req 16: rights follow the same rule', async () => {
    const token = await h.issuer.mint('integration');
    expect((await call(subjectProbe(h, 'rights'), { token, query: { ctx: 'Cust12345', associateId: '5' } })).status).toBe(200);
    expect((await call(subjectProbe(h, 'rights'), { token, query: { ctx: 'Cust99999', associateId: '5' } })).status).toBe(403);
  });
});

describe('requirement 7 and GET /api/me', () => {
  it('req 7: /api/me shows the caller as (tid, oid) plus azp, idtyp, version and roles', async () => {
    const result = await call(meHandler, { token: await h.issuer.mint('integration') });
    expect(result.status).toBe(200);
    const report = result.body as CallerAccessReport;
    const demo = DEMO_CALLERS.integration;
    expect(report.caller).toEqual({
      id: `${demo.tid}_${demo.oid}`,
      tid: demo.tid,
      oid: demo.oid,
      azp: demo.azp,
      idtyp: 'app',
      tokenVersion: '2.0',
      roles: [...demo.roles],
    });
    expect(report.policyEntries).toEqual(['integration']);
    expect(report.operations.filter((o) => o.allowed).map((o) => o.operation)).toEqual(['tokens', 'proxy', 'customerSessions', 'rights']);
    expect(report.superOffice).toEqual([{
      env: 'sod', ctx: 'Cust12345', users: '*', systemUser: false, operations: ['tokens', 'proxy', 'customerSessions', 'rights'],
      webApi: ['GET v1/User/currentPrincipal', 'GET,PATCH v1/Contact/*', 'GET,PATCH v1/Person/*', 'GET v1/Ticket/*'],
    }]);
    expect(lastAudit()).toMatchObject({ outcome: 'allow', action: 'me', roleUsed: 'Tokens.Request' });
  });

  it('req 7: a v1 token maps appid to azp', async () => {
    const result = await call(meHandler, { token: await h.issuer.mint('worker', { version: '1.0' }) });
    const report = result.body as CallerAccessReport;
    expect(report.caller).toMatchObject({ azp: DEMO_CALLERS.worker.azp, tokenVersion: '1.0' });
    expect(report.superOffice[0]).toMatchObject({ ctx: 'Cust54321', users: ['5', '7'], systemUser: true });
  });

  it('req 7: same upn, different oid: different callers, different audit identities and rights', async () => {
    const claims = { upn: 'svc@contoso.example', preferred_username: 'svc@contoso.example', email: 'svc@contoso.example' };
    const twin = { ...DEMO_CALLERS.integration, oid: '0f3b8e2a-6c1d-4a7e-b295-3d8f1c6e0a42' };
    const a = await call(subjectProbe(h, 'tokens'), { token: await h.issuer.mint('integration', { claims }) });
    const auditA = lastAudit();
    const b = await call(subjectProbe(h, 'tokens'), { token: await h.issuer.mint(twin, { claims }) });
    const auditB = lastAudit();
    expect([a.status, b.status]).toEqual([200, 403]);
    expect(auditA.caller?.oid).not.toBe(auditB.caller?.oid);
  });

  it('/api/me refuses a token without any broker role (403) and is still audited', async () => {
    const result = await call(meHandler, { token: await h.issuer.mint('no-roles') });
    expect(result.status).toBe(403);
    expect(lastAudit()).toMatchObject({ outcome: 'deny', reason: 'no_broker_role' });
  });

  it('/api/me answers with the security headers and no-store', async () => {
    const result = await call(meHandler, buildRequest({ token: await h.issuer.mint('ops-admin') }));
    expect(result.status).toBe(200);
    expect(result.headers['cache-control']).toBe('no-store');
    expect(result.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('createRequestGuardFromConfig (the production composition)', () => {
  it('req 8: verifies against the configured authority and applies the configured policy', async () => {
    const guard = createRequestGuardFromConfig(h.config, createLogger({ sink: () => undefined }), { clock: h.clock.now });
    const allowed = await guard.authenticate(buildRequest({ token: await h.issuer.mint('worker') }), 'proxy');
    expect(allowed).toMatchObject({ roleUsed: 'Proxy.Call', caller: { oid: DEMO_CALLERS.worker.oid } });
    await expect(guard.authenticate(buildRequest({ token: await h.issuer.mint('worker') }), 'tokens')).rejects.toMatchObject({ status: 403 });
  });
});
