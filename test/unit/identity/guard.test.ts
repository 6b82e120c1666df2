import { HttpRequest } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config/config.js';
import type { Caller } from '../../../shared/identity/caller.js';
import type { CallerVerifier, VerifiedCallerToken } from '../../../shared/identity/callerVerifier.js';
import { CallerDeniedError, INVALID_TOKEN_MESSAGE, type DenialReason } from '../../../shared/identity/denial.js';
import { bearerTokenOf, createRequestGuard, type CallerGuard } from '../../../shared/identity/guard.js';
import { OPERATIONS, OPERATION_ROLES, type Operation } from '../../../shared/identity/operations.js';
import { parsePolicy } from '../../../shared/identity/policy.js';
import { createLogger } from '../../../shared/log/logger.js';

/**
 * The request guard with a fake verifier (tokens are opaque JWS-shaped strings mapped to callers):
 * header parsing, Easy Auth headers, function keys, app-only checks, roles and the policy
 * (requirements 1, 7, 8, 13, 14). Negative cases first.
 */

const TID = '7d2e4f6a-1b3c-4d5e-8f9a-0b1c2d3e4f5a';
const OID = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
const AZP = 'f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f';
const OTHER_OID = 'b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e';

const policy = parsePolicy({
  version: 1,
  callers: [
    { name: 'svc', tid: TID, oid: OID, operations: ['tokens', 'rights'], superOffice: [{ env: 'sod', ctx: 'Cust12345', users: '*' }] },
    { name: 'pinned', tid: TID, oid: OTHER_OID, appId: AZP, operations: ['proxy'] },
  ],
});

function caller(overrides: Partial<Caller> = {}): Caller {
  return { tid: TID, oid: OID, azp: AZP, idtyp: 'app', roles: Object.values(OPERATION_ROLES), tokenVersion: '2.0', ...overrides };
}

/** Tokens are `h.<name>.s`; the fake verifier knows a few, and rejects the rest like the real one. */
function fakeVerifier(known: Readonly<Record<string, VerifiedCallerToken>>): CallerVerifier & { calls: number } {
  const fake = {
    calls: 0,
    async verify(token: string): Promise<VerifiedCallerToken> {
      fake.calls += 1;
      const found = known[token];
      if (found === undefined) throw new CallerDeniedError('unauthenticated', 'signature_invalid');
      return found;
    },
  };
  return fake;
}

const verified = (c: Caller, delegated = false): VerifiedCallerToken => ({ caller: c, delegated, expiresAt: 2_000_000_000 });

const TOKENS = {
  'h.full.s': verified(caller()),
  'h.noroles.s': verified(caller({ roles: [] })),
  'h.foreignrole.s': verified(caller({ roles: ['Foo.Bar'] })),
  'h.delegated.s': verified(caller(), true),
  'h.noidtyp.s': verified(caller({ idtyp: undefined })),
  'h.user.s': verified(caller({ idtyp: 'user' })),
  'h.pinned.s': verified(caller({ oid: OTHER_OID })),
  'h.pinnedwrongapp.s': verified(caller({ oid: OTHER_OID, azp: '00000000-1111-4222-8333-444444444444' })),
  'h.stranger.s': verified(caller({ oid: 'c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f' })),
} satisfies Record<string, VerifiedCallerToken>;

function config(easyAuth: boolean) {
  return loadConfig({
    KEY_VAULT_URL: 'http://127.0.0.1:9',
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    SUPEROFFICE_ENVIRONMENT: 'sod',
    SUPEROFFICE_CLIENT_ID: 'dev-client-0001',
    SUPEROFFICE_REDIRECT_URI: 'http://127.0.0.1:7071/api/consent/callback',
    ENTRA_TENANT_IDS: TID,
    ENTRA_AUDIENCE: '4a8f2c1e-7b3d-4e6a-9f05-c1d2e3f4a5b6',
    BROKER_POLICY: JSON.stringify({ version: 1, callers: [] }),
    WEBSITE_AUTH_ENABLED: easyAuth ? 'True' : 'False',
  });
}

function setup(easyAuth = false): { guard: CallerGuard; verifier: ReturnType<typeof fakeVerifier>; logs: string[] } {
  const logs: string[] = [];
  const verifier = fakeVerifier(TOKENS);
  const guard = createRequestGuard({ config: config(easyAuth), policy, verifier, logger: createLogger({ sink: (l) => logs.push(l) }) });
  return { guard, verifier, logs };
}

function request(headers: Record<string, string> = {}, url = 'http://127.0.0.1/api/x'): HttpRequest {
  return new HttpRequest({ method: 'GET', url, headers });
}

async function denial(promise: Promise<unknown>): Promise<{ status: number; reason: DenialReason; message: string }> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CallerDeniedError);
    const e = error as CallerDeniedError;
    return { status: e.status, reason: e.reason, message: e.message };
  }
  throw new Error('expected a denial');
}

function principalHeader(oid: string): string {
  const claims = [
    { typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: oid },
    { typ: 'roles', val: 'Connections.Admin' },
  ];
  return Buffer.from(JSON.stringify({ auth_typ: 'aad', claims, name_typ: 'name', role_typ: 'roles' })).toString('base64');
}

describe('requirement 1: Authorization: Bearer <jwt> only', () => {
  const cases: readonly [string, Record<string, string>, DenialReason][] = [
    ['no Authorization header', {}, 'missing'],
    ['an empty header', { authorization: '' }, 'missing'],
    ['Basic credentials', { authorization: 'Basic dXNlcjpwYXNz' }, 'missing'],
    ['another scheme with a JWT', { authorization: 'Token h.full.s' }, 'missing'],
    ['a scheme glued to the token', { authorization: 'Bearerh.full.s' }, 'missing'],
    ['Bearer without token', { authorization: 'Bearer' }, 'malformed'],
    ['Bearer with spaces only', { authorization: 'Bearer    ' }, 'malformed'],
    ['two segments', { authorization: 'Bearer h.full' }, 'malformed'],
    ['four segments', { authorization: 'Bearer h.full.s.x' }, 'malformed'],
    ['a token plus junk', { authorization: 'Bearer h.full.s extra' }, 'malformed'],
    ['two bearer tokens', { authorization: 'Bearer h.full.s, Bearer h.full.s' }, 'malformed'],
    ['base64 padding', { authorization: 'Bearer h.full.s==' }, 'malformed'],
    ['an oversized header', { authorization: `Bearer h.${'a'.repeat(20_000)}.s` }, 'malformed'],
  ];
  for (const [name, headers, reason] of cases) {
    it(`req 1: refuses ${name} with 401 (${reason})`, async () => {
      const { guard, verifier } = setup();
      const result = await denial(guard.authenticate(request(headers), 'tokens'));
      expect(result.status).toBe(401);
      expect(result.reason).toBe(reason);
      expect(result.message).toBe(reason === 'missing' ? 'Authentication required' : INVALID_TOKEN_MESSAGE);
      expect(verifier.calls).toBe(0);
    });
  }

  it('req 1: refuses a token the verifier rejects with 401 and the fixed message', async () => {
    const { guard } = setup();
    const result = await denial(guard.authenticate(request({ authorization: 'Bearer h.unknown.s' }), 'tokens'));
    expect(result).toEqual({ status: 401, reason: 'signature_invalid', message: INVALID_TOKEN_MESSAGE });
  });

  it('req 1: accepts the scheme in any letter case and extra spaces before the token', async () => {
    const { guard } = setup();
    for (const authorization of ['Bearer h.full.s', 'bearer h.full.s', 'BEARER  h.full.s']) {
      await expect(guard.authenticate(request({ authorization }), 'tokens')).resolves.toMatchObject({ roleUsed: 'Tokens.Request' });
    }
  });

  it('req 1: bearerTokenOf returns only the JWS', () => {
    expect(bearerTokenOf(request({ authorization: 'Bearer abc.def.ghi' }))).toBe('abc.def.ghi');
  });
});

describe('requirement 13: Easy Auth headers', () => {
  it('req 13: a forged X-MS-CLIENT-PRINCIPAL without a token gives 401 when Easy Auth is off', async () => {
    const { guard, verifier } = setup(false);
    const headers = {
      'x-ms-client-principal': principalHeader(OID),
      'x-ms-client-principal-id': OID,
      'x-ms-client-principal-name': 'svc@contoso.example',
      'x-ms-client-principal-idp': 'aad',
    };
    const result = await denial(guard.authenticate(request(headers), 'tokens'));
    expect(result).toMatchObject({ status: 401, reason: 'missing' });
    expect(verifier.calls).toBe(0);
  });

  it('req 13: principal headers are never sufficient, even with Easy Auth on', async () => {
    const { guard } = setup(true);
    const result = await denial(guard.authenticate(request({ 'x-ms-client-principal': principalHeader(OID), 'x-ms-client-principal-id': OID }), 'tokens'));
    expect(result).toMatchObject({ status: 401, reason: 'missing' });
  });

  it('req 13: with Easy Auth on, a principal naming another object id than the token is refused', async () => {
    const { guard } = setup(true);
    const result = await denial(guard.authenticate(request({ authorization: 'Bearer h.full.s', 'x-ms-client-principal': principalHeader(OTHER_OID) }), 'tokens'));
    expect(result).toMatchObject({ status: 401, reason: 'easy_auth_mismatch' });
  });

  it('req 13: with Easy Auth off, forged principal headers next to a valid token change nothing (identity = token)', async () => {
    const { guard, logs } = setup(false);
    const headers = { authorization: 'Bearer h.full.s', 'x-ms-client-principal': principalHeader(OTHER_OID), 'x-ms-client-principal-id': OTHER_OID };
    const { caller: who } = await guard.authenticate(request(headers), 'tokens');
    expect(who.oid).toBe(OID);
    expect(logs.some((l) => l.includes('caller.principal_headers_ignored'))).toBe(true);
  });

  it('req 13: with Easy Auth on, a matching or oid-less principal is accepted', async () => {
    const { guard } = setup(true);
    await expect(guard.authenticate(request({ authorization: 'Bearer h.full.s', 'x-ms-client-principal': principalHeader(OID) }), 'tokens')).resolves.toBeDefined();
    const noOid = Buffer.from(JSON.stringify({ claims: [{ typ: 'name', val: 'x' }] })).toString('base64');
    await expect(guard.authenticate(request({ authorization: 'Bearer h.full.s', 'x-ms-client-principal': noOid }), 'tokens')).resolves.toBeDefined();
    await expect(guard.authenticate(request({ authorization: 'Bearer h.full.s', 'x-ms-client-principal': '%%%not-base64' }), 'tokens')).resolves.toBeDefined();
  });
});

describe('requirement 14: function keys are never an identity', () => {
  it('req 14: x-functions-key alone gives 401', async () => {
    const { guard, verifier } = setup();
    const result = await denial(guard.authenticate(request({ 'x-functions-key': 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ==' }), 'tokens'));
    expect(result).toMatchObject({ status: 401, reason: 'missing' });
    expect(verifier.calls).toBe(0);
  });

  it('req 14: a function key next to a token adds nothing: the token decides', async () => {
    const { guard } = setup();
    const result = await denial(guard.authenticate(request({ authorization: 'Bearer h.noroles.s', 'x-functions-key': 'master-key' }), 'tokens'));
    expect(result).toMatchObject({ status: 403, reason: 'role_missing' });
  });
});

describe('requirement 8: app role per operation, app-only tokens, caller allowlist', () => {
  it('req 8: a token without the operation\u2019s role gets 403 role_missing, for every operation', async () => {
    const { guard } = setup();
    for (const operation of OPERATIONS) {
      const result = await denial(guard.authenticate(request({ authorization: 'Bearer h.noroles.s' }), operation));
      expect(result).toEqual({ status: 403, reason: 'role_missing', message: 'Forbidden' });
    }
  });

  it('req 8: a token carrying scp (delegated) is refused for app-only operations', async () => {
    const { guard } = setup();
    expect(await denial(guard.authenticate(request({ authorization: 'Bearer h.delegated.s' }), 'tokens'))).toMatchObject({ status: 403, reason: 'not_app_only' });
  });

  it('req 8: a token without idtyp, or with idtyp=user, is refused for app-only operations', async () => {
    const { guard } = setup();
    expect(await denial(guard.authenticate(request({ authorization: 'Bearer h.noidtyp.s' }), 'tokens'))).toMatchObject({ status: 403, reason: 'not_app_only' });
    expect(await denial(guard.authenticate(request({ authorization: 'Bearer h.user.s' }), 'tokens'))).toMatchObject({ status: 403, reason: 'not_app_only' });
  });

  it('req 8: the role alone is not enough: the policy must grant the operation', async () => {
    const { guard } = setup();
    expect(await denial(guard.authenticate(request({ authorization: 'Bearer h.full.s' }), 'proxy'))).toMatchObject({ status: 403, reason: 'operation_not_granted' });
    expect(await denial(guard.authenticate(request({ authorization: 'Bearer h.stranger.s' }), 'tokens'))).toMatchObject({ status: 403, reason: 'caller_not_in_policy' });
  });

  it('req 8: an entry pinned to oid and appId refuses the same oid with another azp', async () => {
    const { guard } = setup();
    await expect(guard.authenticate(request({ authorization: 'Bearer h.pinned.s' }), 'proxy')).resolves.toMatchObject({ roleUsed: 'Proxy.Call' });
    expect(await denial(guard.authenticate(request({ authorization: 'Bearer h.pinnedwrongapp.s' }), 'proxy'))).toMatchObject({ status: 403, reason: 'caller_not_in_policy' });
  });

  it('req 8: a granted operation returns the caller and the role used', async () => {
    const { guard } = setup();
    const ops: readonly Operation[] = ['tokens', 'rights'];
    for (const operation of ops) {
      const result = await guard.authenticate(request({ authorization: 'Bearer h.full.s' }), operation);
      expect(result).toEqual({ caller: TOKENS['h.full.s'].caller, roleUsed: OPERATION_ROLES[operation] });
    }
  });

  it('req 8: a 403 carries the verified caller (for the audit record)', async () => {
    const { guard } = setup();
    try {
      await guard.authenticate(request({ authorization: 'Bearer h.noroles.s' }), 'tokens');
      throw new Error('expected a denial');
    } catch (error) {
      expect((error as CallerDeniedError).caller?.oid).toBe(OID);
    }
  });
});

describe('operation null (GET /api/me): any broker role', () => {
  it('refuses a token with no broker role, and a delegated token', async () => {
    const { guard } = setup();
    expect(await denial(guard.authenticate(request({ authorization: 'Bearer h.noroles.s' }), null))).toMatchObject({ status: 403, reason: 'no_broker_role' });
    expect(await denial(guard.authenticate(request({ authorization: 'Bearer h.foreignrole.s' }), null))).toMatchObject({ status: 403, reason: 'no_broker_role' });
    expect(await denial(guard.authenticate(request({ authorization: 'Bearer h.delegated.s' }), null))).toMatchObject({ status: 403, reason: 'not_app_only' });
  });

  it('accepts any broker role, even for a caller not in the policy', async () => {
    const { guard } = setup();
    await expect(guard.authenticate(request({ authorization: 'Bearer h.stranger.s' }), null)).resolves.toMatchObject({ roleUsed: 'Tokens.Request' });
  });
});

describe('requirement 7: identity is (tid, oid) plus azp', () => {
  it('req 7: two tokens with the same upn but different oid are different callers with different rights', async () => {
    const upn = 'svc@contoso.example';
    const a = verified(caller());
    const b = verified(caller({ oid: 'c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f' }));
    const verifier = fakeVerifier({ 'h.a.s': a, 'h.b.s': b });
    const guard = createRequestGuard({ config: config(false), policy, verifier, logger: createLogger({ sink: () => undefined }) });
    const headers = { 'x-ms-client-principal-name': upn };
    await expect(guard.authenticate(request({ ...headers, authorization: 'Bearer h.a.s' }), 'tokens')).resolves.toBeDefined();
    expect(await denial(guard.authenticate(request({ ...headers, authorization: 'Bearer h.b.s' }), 'tokens'))).toMatchObject({ reason: 'caller_not_in_policy' });
  });
});
