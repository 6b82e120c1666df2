/**
 * docs/superoffice.md §8 "/login/common/oauth/tokens": accepts form body, query string or Basic auth; code TTL 10 min,
 * single use; access token `8A:{ctx}.{random}`, expires_in 3600; refresh response without a new refresh_token;
 * revocation/consent-removal makes the refresh token fail.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { DEMO_APP, DEMO_REDIRECT_URI, demoApp } from '../../../dev/superoffice/seed.js';
import { consent, pkce, signIn, tokenRequest } from './helpers.js';

const OTHER_APP = demoApp({
  clientId: 'aaaabbbbccccddddeeeeffff00001111',
  clientSecret: '0123456789abcdef0123456789abcdef',
  name: 'Other App',
});

let sim: SuperOfficeSimulator;
let now = Date.UTC(2025, 0, 15, 12, 0, 0);

beforeAll(async () => {
  sim = await startSuperOfficeSimulator({ clock: () => now, apps: [DEMO_APP, OTHER_APP] });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => {
  sim.control.reset();
});

/** A fresh code for Nora (associate 6) with the given PKCE setup. */
async function code(opts: { challenge?: string; method?: string; clientId?: string } = {}): Promise<string> {
  const loc = await consent(sim, { associateId: 6, tenant: 'Cust12345', ...opts });
  const value = loc.searchParams.get('code');
  if (value === null) throw new Error('no code');
  return value;
}

function exchange(codeValue: string, extra: Record<string, string> = {}) {
  return tokenRequest(sim, {
    grant_type: 'authorization_code',
    code: codeValue,
    redirect_uri: DEMO_REDIRECT_URI,
    client_id: DEMO_APP.clientId,
    client_secret: DEMO_APP.clientSecret,
    ...extra,
  });
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

describe('§8 tokens: client authentication (form body, query string or Basic)', () => {
  it('rejects a wrong client secret with 401 invalid_client', async () => {
    const res = await exchange(await code(), { client_secret: 'wrong' });
    expect(res.status).toBe(401);
    expect(res.json['error']).toBe('invalid_client');
  });

  it('rejects missing client authentication with 401 invalid_client', async () => {
    const res = await tokenRequest(sim, { grant_type: 'refresh_token', refresh_token: 'x' });
    expect(res.status).toBe(401);
    expect(res.json['error']).toBe('invalid_client');
  });

  it('rejects a wrong Basic secret with 401 and a Basic challenge', async () => {
    const res = await tokenRequest(
      sim,
      { grant_type: 'authorization_code', code: await code(), redirect_uri: DEMO_REDIRECT_URI },
      { headers: { Authorization: basic(DEMO_APP.clientId, 'nope') } },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
  });

  it('rejects two authentication methods at once and repeated parameters (invalid_request)', async () => {
    let res = await tokenRequest(
      sim,
      { grant_type: 'refresh_token', refresh_token: 'x', client_secret: DEMO_APP.clientSecret },
      { headers: { Authorization: basic(DEMO_APP.clientId, DEMO_APP.clientSecret) } },
    );
    expect(res.status).toBe(400);
    expect(res.json['error']).toBe('invalid_request');
    res = await tokenRequest(
      sim,
      { grant_type: 'refresh_token', refresh_token: 'x', client_id: DEMO_APP.clientId, client_secret: DEMO_APP.clientSecret },
      { query: { client_secret: DEMO_APP.clientSecret } },
    );
    expect(res.status).toBe(400);
    expect(res.json['error']).toBe('invalid_request');
  });

  it('rejects a JSON body (400 invalid_request)', async () => {
    const res = await fetch(`${sim.url}/login/common/oauth/tokens`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Record<string, unknown>)['error']).toBe('invalid_request');
  });

  it('answers 405 to GET and 400 unsupported_grant_type to client_credentials/password', async () => {
    expect((await fetch(`${sim.url}/login/common/oauth/tokens`)).status).toBe(405);
    for (const grant of ['client_credentials', 'password']) {
      const res = await tokenRequest(sim, { grant_type: grant, client_id: DEMO_APP.clientId, client_secret: DEMO_APP.clientSecret });
      expect(res.status).toBe(400);
      expect(res.json['error']).toBe('unsupported_grant_type');
    }
  });

  it('accepts client credentials in the form body and records that nothing was in the query', async () => {
    sim.counters.reset();
    const res = await exchange(await code());
    expect(res.status).toBe(200);
    const [record] = sim.counters.tokenRequests();
    expect(record?.method).toBe('POST');
    expect(record?.contentType).toBe('application/x-www-form-urlencoded');
    expect(record?.queryParams).toEqual([]);
    expect(record?.bodyParams).toEqual(expect.arrayContaining(['client_secret', 'code', 'grant_type', 'redirect_uri']));
    expect(record?.basicAuth).toBe(false);
  });

  it('accepts client credentials (and everything else) in the query string, as SuperOffice docs show', async () => {
    sim.counters.reset();
    const c = await code();
    const res = await tokenRequest(sim, {}, {
      query: {
        grant_type: 'authorization_code',
        code: c,
        redirect_uri: DEMO_REDIRECT_URI,
        client_id: DEMO_APP.clientId,
        client_secret: DEMO_APP.clientSecret,
      },
    });
    expect(res.status).toBe(200);
    const [record] = sim.counters.tokenRequests();
    expect(record?.queryParams).toEqual(expect.arrayContaining(['client_secret', 'code']));
    expect(record?.url).not.toContain(DEMO_APP.clientSecret);
    expect(record?.url).not.toContain(c);
  });

  it('accepts HTTP Basic client authentication', async () => {
    sim.counters.reset();
    const res = await tokenRequest(
      sim,
      { grant_type: 'authorization_code', code: await code(), redirect_uri: DEMO_REDIRECT_URI },
      { headers: { Authorization: basic(DEMO_APP.clientId, DEMO_APP.clientSecret) } },
    );
    expect(res.status).toBe(200);
    expect(sim.counters.tokenRequests()[0]?.basicAuth).toBe(true);
  });
});

describe('§8 tokens: code TTL 10 min, single use, bound to client, redirect_uri and PKCE', () => {
  it('rejects a reused code with invalid_grant', async () => {
    const c = await code();
    expect((await exchange(c)).status).toBe(200);
    const again = await exchange(c);
    expect(again.status).toBe(400);
    expect(again.json).toMatchObject({ error: 'invalid_grant' });
    expect(typeof again.json['error_description']).toBe('string');
  });

  it('rejects an expired code (after 10 minutes, injected clock)', async () => {
    const c = await code();
    now += 10 * 60_000 + 1;
    const res = await exchange(c);
    expect(res.status).toBe(400);
    expect(res.json['error']).toBe('invalid_grant');
  });

  it('accepts a code just before it expires', async () => {
    const c = await code();
    now += 10 * 60_000 - 1000;
    expect((await exchange(c)).status).toBe(200);
  });

  it('rejects a redirect_uri different from the authorization request', async () => {
    const res = await exchange(await code(), { redirect_uri: 'http://127.0.0.1:7071/other' });
    expect(res.status).toBe(400);
    expect(res.json['error']).toBe('invalid_grant');
  });

  it('rejects a code issued to another client', async () => {
    const c = await code({ clientId: OTHER_APP.clientId });
    const res = await exchange(c);
    expect(res.status).toBe(400);
    expect(res.json['error']).toBe('invalid_grant');
  });

  it('rejects an unknown code', async () => {
    const res = await exchange('not-a-code');
    expect(res.status).toBe(400);
    expect(res.json['error']).toBe('invalid_grant');
  });

  it('rejects a bad PKCE verifier, a missing verifier, and a verifier without a challenge', async () => {
    const { challenge } = pkce();
    let res = await exchange(await code({ challenge, method: 'S256' }), { code_verifier: pkce().verifier });
    expect(res.json['error']).toBe('invalid_grant');
    res = await exchange(await code({ challenge, method: 'S256' }));
    expect(res.json['error']).toBe('invalid_grant');
    res = await exchange(await code(), { code_verifier: pkce().verifier });
    expect(res.json['error']).toBe('invalid_grant');
  });

  it('consumes the code even when the first attempt fails (no verifier brute force)', async () => {
    const { verifier, challenge } = pkce();
    const c = await code({ challenge, method: 'S256' });
    expect((await exchange(c, { code_verifier: 'x'.repeat(43) })).status).toBe(400);
    expect((await exchange(c, { code_verifier: verifier })).json['error']).toBe('invalid_grant');
  });

  it('accepts PKCE S256', async () => {
    const { verifier, challenge } = pkce();
    expect((await exchange(await code({ challenge, method: 'S256' }), { code_verifier: verifier })).status).toBe(200);
  });

  it('accepts PKCE plain', async () => {
    const { verifier } = pkce();
    expect((await exchange(await code({ challenge: verifier, method: 'plain' }), { code_verifier: verifier })).status).toBe(200);
  });

  it('treats an omitted code_challenge_method as plain (SuperOffice default)', async () => {
    const { verifier, challenge } = pkce();
    const c1 = await code({ challenge: verifier });
    expect((await exchange(c1, { code_verifier: verifier })).status).toBe(200);
    // An S256 challenge sent without a method is compared as plain, so the S256 verifier fails.
    const c2 = await code({ challenge });
    expect((await exchange(c2, { code_verifier: verifier })).json['error']).toBe('invalid_grant');
  });
});

describe('§8 tokens: responses', () => {
  it('returns Bearer, access token 8A:{ctx}.{base64}, expires_in 3600, refresh_token and id_token, no-store', async () => {
    const res = await exchange(await code());
    expect(res.status).toBe(200);
    expect(res.json['token_type']).toBe('Bearer');
    expect(res.json['access_token']).toMatch(/^8A:Cust12345\.[A-Za-z0-9+/]+={0,2}$/);
    expect(res.json['expires_in']).toBe(3600);
    expect(typeof res.json['refresh_token']).toBe('string');
    expect(String(res.json['id_token']).split('.')).toHaveLength(3);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('refresh returns a new access token and id_token but no refresh_token; the RT is reusable', async () => {
    const tokens = await signIn(sim, { associateId: 6 });
    for (let i = 0; i < 2; i += 1) {
      const res = await tokenRequest(sim, {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: DEMO_APP.clientId,
        client_secret: DEMO_APP.clientSecret,
      });
      expect(res.status).toBe(200);
      expect(res.json).not.toHaveProperty('refresh_token');
      expect(res.json['token_type']).toBe('Bearer');
      expect(res.json['expires_in']).toBe(3600);
      expect(res.json['access_token']).not.toBe(tokens.access_token);
      expect(typeof res.json['id_token']).toBe('string');
    }
  });

  it('refresh rejects a refresh token of another client and an unknown one', async () => {
    const tokens = await signIn(sim, { associateId: 6 });
    let res = await tokenRequest(sim, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: OTHER_APP.clientId,
      client_secret: OTHER_APP.clientSecret,
    });
    expect(res.json['error']).toBe('invalid_grant');
    res = await tokenRequest(sim, { grant_type: 'refresh_token', refresh_token: 'unknown', client_id: DEMO_APP.clientId, client_secret: DEMO_APP.clientSecret });
    expect(res.status).toBe(400);
    expect(res.json['error']).toBe('invalid_grant');
  });
});

describe('§8 tokens: revocation/consent-removal makes the refresh token fail', () => {
  it('answers invalid_grant "consent revoked" after revokeConsent; a new consent gives a new working RT', async () => {
    const tokens = await signIn(sim, { associateId: 6 });
    expect(sim.control.revokeConsent('Cust12345', 6)).toBe(1);
    const res = await tokenRequest(sim, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: DEMO_APP.clientId,
      client_secret: DEMO_APP.clientSecret,
    });
    expect(res.status).toBe(400);
    expect(res.json['error']).toBe('invalid_grant');
    expect(String(res.json['error_description'])).toMatch(/revoked/);

    const again = await signIn(sim, { associateId: 6 });
    const ok = await tokenRequest(sim, {
      grant_type: 'refresh_token',
      refresh_token: again.refresh_token,
      client_id: DEMO_APP.clientId,
      client_secret: DEMO_APP.clientSecret,
    });
    expect(ok.status).toBe(200);
    const old = await tokenRequest(sim, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: DEMO_APP.clientId,
      client_secret: DEMO_APP.clientSecret,
    });
    expect(old.json['error']).toBe('invalid_grant');
  });

  it('revoking one app leaves the other app’s consent alone', async () => {
    const mine = await signIn(sim, { associateId: 6 });
    const theirs = await signIn(sim, { associateId: 6, clientId: OTHER_APP.clientId, clientSecret: OTHER_APP.clientSecret });
    expect(sim.control.revokeConsent('Cust12345', 6, OTHER_APP.clientId)).toBe(1);
    const a = await tokenRequest(sim, { grant_type: 'refresh_token', refresh_token: mine.refresh_token, client_id: DEMO_APP.clientId, client_secret: DEMO_APP.clientSecret });
    const b = await tokenRequest(sim, { grant_type: 'refresh_token', refresh_token: theirs.refresh_token, client_id: OTHER_APP.clientId, client_secret: OTHER_APP.clientSecret });
    expect(a.status).toBe(200);
    expect(b.status).toBe(400);
  });

  it('a code approved before the revocation cannot be exchanged after it', async () => {
    const c = await code();
    sim.control.revokeConsent('Cust12345', 6);
    const res = await exchange(c);
    expect(res.json['error']).toBe('invalid_grant');
  });

  it('the HTTP control surface revokes too', async () => {
    const tokens = await signIn(sim, { associateId: 6 });
    const res = await fetch(`${sim.url}/__sim/revoke`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ctx: 'Cust12345', associateId: 6 }),
    });
    expect(await res.json()).toEqual({ removed: 1 });
    const refreshed = await tokenRequest(sim, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: DEMO_APP.clientId, client_secret: DEMO_APP.clientSecret });
    expect(refreshed.json['error']).toBe('invalid_grant');
  });
});

/** POST to the revocation endpoint named by discovery (RFC 7009). */
async function revoke(form: Record<string, string>, init: { method?: string; headers?: Record<string, string> } = {}) {
  const doc = (await (await fetch(`${sim.url}/login/.well-known/openid-configuration`)).json()) as { revocation_endpoint: string };
  const res = await fetch(doc.revocation_endpoint, {
    method: init.method ?? 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...init.headers },
    ...(init.method === 'GET' ? {} : { body: new URLSearchParams(form).toString() }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const refresh = (refreshToken: string, app = DEMO_APP) =>
  tokenRequest(sim, { grant_type: 'refresh_token', client_id: app.clientId, client_secret: app.clientSecret, refresh_token: refreshToken });

describe('issue 10 point 11: the revocation endpoint (RFC 7009)', () => {
  const client = { client_id: DEMO_APP.clientId, client_secret: DEMO_APP.clientSecret };

  it('refuses GET, missing or wrong client authentication, and a missing token', async () => {
    expect((await revoke({}, { method: 'GET' })).status).toBe(405);
    const { refresh_token } = await signIn(sim, { associateId: 6 });
    expect(await revoke({ token: refresh_token })).toMatchObject({ status: 401, json: { error: 'invalid_client' } });
    expect(await revoke({ token: refresh_token, client_id: DEMO_APP.clientId, client_secret: 'wrong' })).toMatchObject({ status: 401, json: { error: 'invalid_client' } });
    expect(await revoke({ ...client })).toMatchObject({ status: 400, json: { error: 'invalid_request' } });
    expect((await refresh(refresh_token)).status).toBe(200);
  });

  it("refuses to revoke another client's token, which keeps working", async () => {
    const { refresh_token } = await signIn(sim, { associateId: 6 });
    const other = { client_id: OTHER_APP.clientId, client_secret: OTHER_APP.clientSecret };
    expect(await revoke({ ...other, token: refresh_token })).toMatchObject({ status: 400, json: { error: 'invalid_request' } });
    expect((await refresh(refresh_token)).status).toBe(200);
  });

  it('answers 200 for a token it does not know (RFC 7009 §2.2)', async () => {
    expect((await revoke({ ...client, token: 'never-issued', token_type_hint: 'refresh_token' })).status).toBe(200);
  });

  it('a revoked refresh token is refused with invalid_grant; other refresh tokens of the user stay valid; a new consent works', async () => {
    const first = await signIn(sim, { associateId: 6 });
    const second = await signIn(sim, { associateId: 6 });
    expect((await revoke({ ...client, token: first.refresh_token, token_type_hint: 'refresh_token' })).status).toBe(200);
    expect(await refresh(first.refresh_token)).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    expect((await refresh(second.refresh_token)).status).toBe(200);
    expect(sim.counters.get('revoke')).toBe(1);
    const third = await signIn(sim, { associateId: 6 });
    expect((await refresh(third.refresh_token)).status).toBe(200);
  });

  it('revokes an access token too', async () => {
    const { access_token } = await signIn(sim, { associateId: 6 });
    expect((await revoke({ ...client, token: access_token, token_type_hint: 'access_token' })).status).toBe(200);
    const res = await fetch(`${sim.url}/Cust12345/api/v1/User/currentPrincipal`, { headers: { Authorization: `Bearer ${access_token}`, Accept: 'application/json' } });
    expect(res.status).toBe(401);
  });
});

