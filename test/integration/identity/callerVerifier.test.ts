import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_CALLERS, OTHER_TENANT_ID } from '../../../dev/entra/demoCallers.js';
import { startCallerIssuer, type CallerIssuer } from '../../../dev/entra/issuer.js';
import { createCallerVerifier, type CallerVerifier, type VerifiedCallerToken } from '../../../shared/identity/callerVerifier.js';
import { CallerDeniedError, INVALID_TOKEN_MESSAGE } from '../../../shared/identity/denial.js';
import { startHarness, type Harness } from './harness.js';

/**
 * The caller-token verifier against the dev issuer on a loopback port (docs/security.md §7 A, requirements
 * 2–6, 9–12 and the Entra side of 17). Negative cases first; the clock is fake except for the fetch
 * timeout test.
 */

const GRAPH = '00000003-0000-0000-c000-000000000000';
const SECOND_TENANT = '5d0c2b7e-3f4a-4e1b-9c8d-7a6b5c4d3e2f';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let h: Harness;

async function rejected(promise: Promise<VerifiedCallerToken>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CallerDeniedError);
    const denied = error as CallerDeniedError;
    expect(denied.code).toBe('unauthenticated');
    expect(denied.status).toBe(401);
    // Fixed message: the response never says why (docs/style.md, jose's errors).
    expect(denied.message).toBe(INVALID_TOKEN_MESSAGE);
    return denied.reason;
  }
  throw new Error('expected the token to be rejected');
}

const nowSec = (): number => Math.floor(h.clock.now() / 1000);

beforeAll(async () => {
  h = await startHarness({ extraTenants: [SECOND_TENANT] });
});

beforeEach(() => {
  h.reset();
});

afterAll(async () => {
  await h.close();
});

describe('requirement 2: RS256 only, through jwtVerify', () => {
  it('req 2: rejects alg none without fetching keys', async () => {
    const token = await h.issuer.mint('integration', { alg: 'none' });
    expect(await rejected(h.verifier.verify(token))).toBe('alg_not_allowed');
    expect(h.issuer.counters.jwks).toBe(0);
  });

  it('req 2: rejects HS256 signed with the tenant public key as the HMAC secret', async () => {
    const token = await h.issuer.mint('integration', { alg: 'HS256' });
    expect(await rejected(h.verifier.verify(token))).toBe('alg_not_allowed');
  });

  it('req 2: rejects ES256', async () => {
    const token = await h.issuer.mint('integration', { alg: 'ES256' });
    expect(await rejected(h.verifier.verify(token))).toBe('alg_not_allowed');
  });

  it('req 2: rejects RS384 and PS256 even when signed with the published RSA key', async () => {
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { alg: 'RS384' })))).toBe('alg_not_allowed');
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { alg: 'PS256' })))).toBe('alg_not_allowed');
  });

  it('req 2: rejects a token whose payload was altered after signing', async () => {
    const token = await h.issuer.mint('integration');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, roles: ['Connections.Admin'] })).toString('base64url');
    expect(await rejected(h.verifier.verify(`${header}.${forged}.${signature}`))).toBe('signature_invalid');
  });

  it('req 2: rejects a token without kid, and garbage', async () => {
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { kid: null })))).toBe('kid_missing');
    expect(await rejected(h.verifier.verify('not-a-jwt'))).toBe('malformed');
    expect(await rejected(h.verifier.verify('a.b.c'))).toBe('malformed');
  });

  it('req 2: accepts an RS256 v2 token of a demo caller', async () => {
    const { caller, delegated } = await h.verifier.verify(await h.issuer.mint('integration'));
    const demo = DEMO_CALLERS.integration;
    expect(caller).toEqual({ tid: demo.tid, oid: demo.oid, azp: demo.azp, idtyp: 'app', roles: demo.roles, tokenVersion: '2.0' });
    expect(delegated).toBe(false);
  });
});

describe('requirement 3: exact issuer per version, iss tenant = tid', () => {
  it('req 3: rejects a v2 token carrying the v1 issuer', async () => {
    const token = await h.issuer.mint('integration', { claims: { iss: `https://sts.windows.net/${h.issuer.tenantId}/` } });
    expect(await rejected(h.verifier.verify(token))).toBe('issuer_mismatch');
  });

  it('req 3: rejects a v1 token carrying the v2 issuer', async () => {
    const token = await h.issuer.mint('integration', {
      version: '1.0',
      claims: { iss: `https://login.microsoftonline.com/${h.issuer.tenantId}/v2.0` },
    });
    expect(await rejected(h.verifier.verify(token))).toBe('issuer_mismatch');
  });

  it('req 3: rejects iss naming another (allowlisted) tenant than tid', async () => {
    const token = await h.issuer.mint('integration', { claims: { iss: `https://login.microsoftonline.com/${SECOND_TENANT}/v2.0` } });
    expect(await rejected(h.verifier.verify(token))).toBe('issuer_mismatch');
  });

  it('req 3: rejects near-miss issuers (trailing slash, http, other host)', async () => {
    const tid = h.issuer.tenantId;
    for (const iss of [
      `https://login.microsoftonline.com/${tid}/v2.0/`,
      `http://login.microsoftonline.com/${tid}/v2.0`,
      `https://login.microsoftonline.com.evil.example/${tid}/v2.0`,
      `https://login.microsoftonline.com/common/v2.0`,
    ]) {
      expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { claims: { iss } })))).toBe('issuer_mismatch');
    }
  });

  it('req 3: rejects a token from another tenant (not on the allowlist)', async () => {
    expect(await rejected(h.verifier.verify(await h.issuer.mint('other-tenant')))).toBe('tenant_not_allowed');
  });

  it('req 3: accepts a v1 token (iss sts.windows.net, appid, aud = App ID URI) using the v1 metadata', async () => {
    const { caller } = await h.verifier.verify(await h.issuer.mint('integration', { version: '1.0' }));
    expect(caller.tokenVersion).toBe('1.0');
    expect(caller.azp).toBe(DEMO_CALLERS.integration.azp);
  });
});

describe('requirement 4: audience', () => {
  it('req 4: rejects a validly signed v2 token for Microsoft Graph', async () => {
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { claims: { aud: GRAPH } })))).toBe('audience_mismatch');
  });

  it('req 4: rejects a validly signed v1 token for Microsoft Graph', async () => {
    const token = await h.issuer.mint('integration', { version: '1.0', claims: { aud: 'https://graph.microsoft.com' } });
    expect(await rejected(h.verifier.verify(token))).toBe('audience_mismatch');
  });

  it('req 4: rejects a v2 token whose aud is the App ID URI (v2 audiences are the client id)', async () => {
    const token = await h.issuer.mint('integration', { claims: { aud: h.issuer.appIdUri } });
    expect(await rejected(h.verifier.verify(token))).toBe('audience_mismatch');
  });

  it('req 4: rejects a token without aud', async () => {
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { omit: ['aud'] })))).toBe('claim_missing');
  });

  it('req 4: accepts a v1 token whose aud is the client id', async () => {
    const token = await h.issuer.mint('integration', { version: '1.0', claims: { aud: h.issuer.audience } });
    await expect(h.verifier.verify(token)).resolves.toBeDefined();
  });
});

describe('requirement 5: required claims and clock tolerance', () => {
  for (const claim of ['exp', 'iat', 'oid'] as const) {
    it(`req 5: rejects a signed token without ${claim}`, async () => {
      expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { omit: [claim] })))).toBe('claim_missing');
    });
  }

  it('req 5: rejects a signed token without tid (before any fetch)', async () => {
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { omit: ['tid'] })))).toBe('tenant_invalid');
    expect(h.issuer.counters.metadata).toBe(0);
  });

  it('req 5: accepts a token that expired 59 s ago (clockTolerance 60 s)', async () => {
    const token = await h.issuer.mint('integration', { claims: { iat: nowSec() - 3600, nbf: nowSec() - 3600, exp: nowSec() - 59 } });
    await expect(h.verifier.verify(token)).resolves.toBeDefined();
  });

  it('req 5: rejects a token that expired 61 s ago', async () => {
    const token = await h.issuer.mint('integration', { claims: { iat: nowSec() - 3600, nbf: nowSec() - 3600, exp: nowSec() - 61 } });
    expect(await rejected(h.verifier.verify(token))).toBe('expired');
  });

  it('req 5: the same token flips from accepted to rejected as the fake clock passes exp + 60 s', async () => {
    const token = await h.issuer.mint('integration', { lifetimeSec: 600 });
    h.clock.advance(600_000 + 59_000);
    await expect(h.verifier.verify(token)).resolves.toBeDefined();
    h.clock.advance(2_000);
    expect(await rejected(h.verifier.verify(token))).toBe('expired');
  });

  it('req 5: rejects nbf more than 60 s ahead and iat in the future', async () => {
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { claims: { nbf: nowSec() + 61 } })))).toBe('not_yet_valid');
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { claims: { iat: nowSec() + 3600 } })))).toBe('claims_invalid');
  });

  it('req 5: rejects non-GUID oid and a missing client id', async () => {
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { claims: { oid: 'admin' } })))).toBe('claims_invalid');
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { omit: ['azp'] })))).toBe('claims_invalid');
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration', { claims: { roles: 'Tokens.Request' } })))).toBe('claims_invalid');
  });
});

describe('requirement 6: tenant allowlist before any fetch', () => {
  it('req 6: rejects tid values that are not lower-case GUIDs, with no metadata fetch', async () => {
    for (const tid of ['common', 'organizations', 'consumers', h.issuer.tenantId.toUpperCase(), `${h.issuer.tenantId}/../x`, '']) {
      const token = await h.issuer.mint('integration', { claims: { tid } });
      expect(await rejected(h.verifier.verify(token))).toBe('tenant_invalid');
    }
    expect(h.issuer.counters.metadata).toBe(0);
    expect(h.issuer.counters.jwks).toBe(0);
  });

  it('req 6: rejects a GUID tenant not on the allowlist without fetching its metadata', async () => {
    expect(await rejected(h.verifier.verify(await h.issuer.mint('other-tenant')))).toBe('tenant_not_allowed');
    expect(h.issuer.counters.forTenant(OTHER_TENANT_ID)).toEqual({ metadata: 0, jwks: 0 });
    expect(h.issuer.counters.metadata).toBe(0);
  });

  it('req 6: the reason is logged internally (never in the error message)', async () => {
    await rejected(h.verifier.verify(await h.issuer.mint('other-tenant')));
    expect(h.logs.some((line) => line.includes('"caller.token_rejected"') && line.includes('"tenant_not_allowed"'))).toBe(true);
  });
});

describe('requirement 9: keys from the tenant-specific metadata', () => {
  it('req 9: rejects a token signed with a key from another tenant\u2019s set', async () => {
    const token = await h.issuer.mint('integration', { keyTenantId: SECOND_TENANT });
    expect(await rejected(h.verifier.verify(token))).toBe('kid_unknown');
  });

  it('req 9: rejects a token signed with another tenant\u2019s key but claiming this tenant\u2019s kid', async () => {
    const [ownKid] = await h.issuer.publishedKids();
    const token = await h.issuer.mint('integration', { keyTenantId: SECOND_TENANT, kid: ownKid ?? null });
    expect(await rejected(h.verifier.verify(token))).toBe('signature_invalid');
  });

  it('req 9: rejects a key whose own issuer property names another tenant', async () => {
    await h.issuer.rotateKey({ keyIssuer: `https://login.microsoftonline.com/${SECOND_TENANT}/v2.0` });
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration')))).toBe('key_issuer_mismatch');
  });

  it('req 9: accepts a key whose issuer property is the {tenantid} template, and one without issuer property', async () => {
    await h.issuer.rotateKey({ keyIssuer: 'https://login.microsoftonline.com/{tenantid}/v2.0' });
    await expect(h.verifier.verify(await h.issuer.mint('integration'))).resolves.toBeDefined();
    h.clock.advance(31_000);
    await h.issuer.rotateKey({ keyIssuer: null });
    await expect(h.verifier.verify(await h.issuer.mint('integration'))).resolves.toBeDefined();
  });

  it('req 9: fetches the tenant\u2019s own metadata and JWKS, once, for many tokens', async () => {
    for (let i = 0; i < 20; i += 1) await h.verifier.verify(await h.issuer.mint('integration'));
    expect(h.issuer.counters.forTenant(h.issuer.tenantId)).toEqual({ metadata: 1, jwks: 1 });
  });
});

describe('requirement 10: fetch timeout and cooldown', () => {
  it('req 10: 1,000 concurrent unknown-kid requests on a cold cache cause one JWKS fetch', async () => {
    const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) => h.issuer.mint('integration', { kid: `unknown-${i}` })));
    const reasons = await Promise.all(tokens.map((t) => rejected(h.verifier.verify(t))));
    expect(new Set(reasons)).toEqual(new Set(['kid_unknown']));
    expect(h.issuer.counters.jwks).toBe(1);
  });

  it('req 10: 1,000 unknown-kid requests cause at most one JWKS fetch per 30 s cooldown window', async () => {
    await h.verifier.verify(await h.issuer.mint('integration'));
    expect(h.issuer.counters.jwks).toBe(1);
    const unknown = await Promise.all(Array.from({ length: 1000 }, (_, i) => h.issuer.mint('integration', { kid: `rotated-${i}` })));

    h.clock.advance(31_000);
    await Promise.all(unknown.slice(0, 500).map((t) => rejected(h.verifier.verify(t))));
    for (const t of unknown.slice(500)) await rejected(h.verifier.verify(t)); // sequential too
    expect(h.issuer.counters.jwks).toBe(2);

    h.clock.advance(29_000); // still inside the window opened by the last fetch
    await Promise.all(unknown.map((t) => rejected(h.verifier.verify(t))));
    expect(h.issuer.counters.jwks).toBe(2);

    h.clock.advance(1_000); // the next window
    await Promise.all(unknown.map((t) => rejected(h.verifier.verify(t))));
    expect(h.issuer.counters.jwks).toBe(3);
  });

  it('req 10: a hanging JWKS endpoint fails verification within 5 s (default timeout)', async () => {
    const hanging = await startHarness();
    try {
      hanging.issuer.setJwksHanging(true);
      const token = await hanging.issuer.mint('integration');
      const started = performance.now();
      const reason = await rejected(hanging.verifier.verify(token));
      const elapsed = performance.now() - started;
      expect(reason).toBe('keys_unavailable');
      // 5 s timeout plus scheduling slack on a loaded machine.
      expect(elapsed).toBeLessThanOrEqual(6_000);
      expect(elapsed).toBeGreaterThanOrEqual(4_500);
    } finally {
      await hanging.close();
    }
  }, 15_000);

  it('req 10: the fetch timeout cannot be configured above 5 s', () => {
    expect(() => createCallerVerifier({ entra: h.config.entra, jwksTimeoutInMs: 5_001 })).toThrow(/jwksTimeoutInMs/);
    expect(() => createCallerVerifier({ entra: h.config.entra, jwksTimeoutInMs: 0 })).toThrow(/jwksTimeoutInMs/);
    expect(() => createCallerVerifier({ entra: h.config.entra, lastKnownGoodGraceInMs: 1_000 })).toThrow(/lastKnownGoodGraceInMs/);
  });

  it('req 10: concurrent requests share one in-flight fetch (single-flight) and then all succeed', async () => {
    const token = await h.issuer.mint('integration');
    const results = await Promise.all(Array.from({ length: 200 }, () => h.verifier.verify(token)));
    expect(results).toHaveLength(200);
    expect(h.issuer.counters.forTenant(h.issuer.tenantId)).toEqual({ metadata: 1, jwks: 1 });
  });
});

describe('requirement 11: last-known-good keys while the JWKS endpoint is down', () => {
  it('req 11: known keys keep validating within the 24 h grace, then fail', async () => {
    await h.verifier.verify(await h.issuer.mint('integration'));
    h.issuer.setJwksDown(true);

    h.clock.advance(11 * MINUTE); // older than the 10 min refresh age: a refresh is tried and fails
    await expect(h.verifier.verify(await h.issuer.mint('integration'))).resolves.toBeDefined();
    expect(h.issuer.counters.jwks).toBe(2);

    h.clock.set(h.clock.now() - 11 * MINUTE + 24 * HOUR - 1_000); // 1 s before the grace ends
    await expect(h.verifier.verify(await h.issuer.mint('integration'))).resolves.toBeDefined();

    h.clock.advance(2_000); // grace over
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration')))).toBe('keys_unavailable');
  });

  it('req 11: an unknown kid fails while the key endpoint is down', async () => {
    await h.verifier.verify(await h.issuer.mint('integration'));
    h.issuer.setJwksDown(true);
    await h.issuer.rotateKey();
    h.clock.advance(31_000);
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration')))).toBe('kid_unknown');
  });

  it('req 11: with the endpoint down and no keys ever fetched, verification fails and retries only after the cooldown', async () => {
    h.issuer.setJwksDown(true);
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration')))).toBe('keys_unavailable');
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration')))).toBe('keys_unavailable');
    expect(h.issuer.counters.jwks).toBe(1);
    h.issuer.setJwksDown(false);
    h.clock.advance(30_000);
    await expect(h.verifier.verify(await h.issuer.mint('integration'))).resolves.toBeDefined();
    expect(h.issuer.counters.jwks).toBe(2);
  });

  it('req 11: the grace period is configurable (48 h)', async () => {
    const long = await startHarness({ verifier: { lastKnownGoodGraceInMs: 48 * HOUR } });
    try {
      await long.verifier.verify(await long.issuer.mint('integration'));
      long.issuer.setJwksDown(true);
      long.clock.advance(47 * HOUR);
      await expect(long.verifier.verify(await long.issuer.mint('integration'))).resolves.toBeDefined();
      long.clock.advance(2 * HOUR);
      expect(await rejected(long.verifier.verify(await long.issuer.mint('integration')))).toBe('keys_unavailable');
    } finally {
      await long.close();
    }
  });

  it('req 11: after the outage, the refreshed keys are used again', async () => {
    await h.verifier.verify(await h.issuer.mint('integration'));
    h.issuer.setJwksDown(true);
    h.clock.advance(25 * HOUR);
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration')))).toBe('keys_unavailable');
    h.issuer.setJwksDown(false);
    h.clock.advance(30_000);
    await expect(h.verifier.verify(await h.issuer.mint('integration'))).resolves.toBeDefined();
  });
});

describe('requirement 12: key rotation without restart', () => {
  it('req 12: a token signed with a newly published kid validates on the same verifier', async () => {
    const oldToken = await h.issuer.mint('integration');
    await h.verifier.verify(oldToken);
    const newKid = await h.issuer.rotateKey();
    h.clock.advance(30_000);
    const { caller } = await h.verifier.verify(await h.issuer.mint('integration'));
    expect(caller.oid).toBe(DEMO_CALLERS.integration.oid);
    expect(await h.issuer.publishedKids()).toContain(newKid);
    await expect(h.verifier.verify(oldToken)).resolves.toBeDefined(); // the previous key is still published
    expect(h.issuer.counters.jwks).toBe(2);
  });

  it('req 12: a key withdrawn from the JWKS stops validating after the next refresh', async () => {
    const oldToken = await h.issuer.mint('integration');
    await h.verifier.verify(oldToken);
    await h.issuer.rotateKey({ retainPrevious: false });
    h.clock.advance(10 * MINUTE);
    expect(await rejected(h.verifier.verify(oldToken))).toBe('kid_unknown');
  });
});

describe('requirement 17 (Entra side): metadata and key hosts', () => {
  let evil: CallerIssuer;

  beforeAll(async () => {
    evil = await startCallerIssuer();
  });

  beforeEach(() => {
    evil.reset();
  });

  afterAll(async () => {
    await evil.close();
  });

  it('req 17: refuses a jwks_uri on a host other than the authority, and never fetches it', async () => {
    h.issuer.setMetadataOverride({ jwks_uri: `${evil.url}/${h.issuer.tenantId}/discovery/v2.0/keys` });
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration')))).toBe('jwks_uri_not_allowed');
    expect(evil.counters.jwks).toBe(0);
    expect(h.issuer.counters.jwks).toBe(0);
  });

  it('req 17: refuses metadata whose issuer is not Entra\u2019s template for the tenant', async () => {
    h.issuer.setMetadataOverride({ issuer: `https://login.microsoftonline.com/${SECOND_TENANT}/v2.0` });
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration')))).toBe('metadata_invalid');
    h.issuer.setMetadataOverride({ issuer: 'https://login.microsoftonline.com/{tenantid}/v2.0' });
    h.clock.advance(30_000);
    expect(await rejected(h.verifier.verify(await h.issuer.mint('integration')))).toBe('metadata_invalid');
    expect(h.issuer.counters.jwks).toBe(0);
  });

  it('req 17: metadata comes only from the configured authority host', async () => {
    await h.verifier.verify(await h.issuer.mint('integration'));
    expect(evil.counters.metadata).toBe(0);
    expect(h.issuer.counters.metadata).toBe(1);
  });
});

describe('requirement 7 (verifier part): identity claims', () => {
  it('req 7: same upn, different oid: different callers', async () => {
    const a = await h.verifier.verify(await h.issuer.mint('integration', { claims: { upn: 'svc@contoso.example', email: 'svc@contoso.example' } }));
    const b = await h.verifier.verify(
      await h.issuer.mint({ oid: '11111111-2222-4333-8444-555555555555', azp: DEMO_CALLERS.integration.azp, roles: ['Tokens.Request'] }, {
        claims: { upn: 'svc@contoso.example', email: 'svc@contoso.example' },
      }),
    );
    expect(a.caller.oid).not.toBe(b.caller.oid);
    expect(Object.keys(a.caller).sort()).toEqual(['azp', 'idtyp', 'oid', 'roles', 'tid', 'tokenVersion']);
  });

  it('req 7: reports scp (delegated) tokens', async () => {
    const { delegated } = await h.verifier.verify(await h.issuer.mint('integration', { claims: { scp: 'access_as_user' } }));
    expect(delegated).toBe(true);
  });
});

describe('createCallerVerifier without a fake clock', () => {
  it('uses the real clock and the global fetch by default', async () => {
    const issuer = await startCallerIssuer();
    try {
      const verifier: CallerVerifier = createCallerVerifier({ entra: { ...h.config.entra, authorityHost: issuer.url } });
      await expect(verifier.verify(await issuer.mint('integration'))).resolves.toBeDefined();
    } finally {
      await issuer.close();
    }
  });
});
