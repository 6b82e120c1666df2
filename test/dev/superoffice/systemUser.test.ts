/**
 * docs/superoffice.md §8 "/Login/api/PartnerSystemUser/Authenticate": checks the RSA-SHA256 signature with the app's
 * public key, the timestamp window, ApplicationToken and ctx; returns {IsSuccessful, ErrorMessage, Token}; Token
 * is a JWT with iss `SuperOffice AS`, aud `spn:{serial}`, claims …/ticket (7T:…), …/ctx, …/serial; ticket TTL 6 h,
 * sliding. The signed tokens here are computed in the test with node:crypto from the documented algorithm.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { DEMO_APP, demoApp } from '../../../dev/superoffice/seed.js';
import { CLAIM, api, signIn, signSystemToken, utcStamp } from './helpers.js';

const NO_KEY_APP = demoApp({ clientId: '99998888777766665555444433332222', clientSecret: 'abcdefabcdefabcdefabcdefabcdef12', name: 'No Key' });

let sim: SuperOfficeSimulator;
let privateKey: KeyObject;
let otherPrivateKey: KeyObject;
let systemToken: string;
let now = Date.UTC(2025, 0, 15, 12, 0, 30);

type Result = { IsSuccessful: boolean; ErrorMessage: string | null; Token: string | null };

async function authenticate(body: unknown, contentType = 'application/json'): Promise<{ status: number; result: Result }> {
  const res = await fetch(`${sim.url}/Login/api/PartnerSystemUser/Authenticate`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, Accept: 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, result: (await res.json()) as Result };
}

function request(signed: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    SignedSystemToken: signed,
    ApplicationToken: DEMO_APP.clientSecret,
    ContextIdentifier: 'Cust12345',
    ReturnTokenType: 'JWT',
    ...overrides,
  };
}

beforeAll(async () => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  privateKey = pair.privateKey;
  otherPrivateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  sim = await startSuperOfficeSimulator({
    clock: () => now,
    apps: [demoApp({ systemUserPublicKeyPem: pair.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString() }), NO_KEY_APP],
  });
  // An administrator's consent creates the tenant's system-user token (docs/superoffice.md §3.1).
  const { id_token } = await signIn(sim, { associateId: 5 });
  const claims = JSON.parse(Buffer.from(id_token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, string>;
  systemToken = claims[`${CLAIM}system_token`] ?? '';
  expect(systemToken).not.toBe('');
});
afterAll(async () => {
  await sim.close();
});

describe('§8 system user: rejected requests', () => {
  it('answers 400 for a body that is not a JSON object and 415 for a non-JSON content type', async () => {
    const bad = await authenticate('not json');
    expect(bad.status).toBe(400);
    expect(bad.result).toMatchObject({ IsSuccessful: false, Token: null });
    const form = await authenticate('a=b', 'application/x-www-form-urlencoded');
    expect(form.status).toBe(415);
  });

  it('fails (HTTP 200, IsSuccessful false) when fields are missing', async () => {
    const { status, result } = await authenticate({ ApplicationToken: DEMO_APP.clientSecret });
    expect(status).toBe(200);
    expect(result.IsSuccessful).toBe(false);
    expect(result.Token).toBeNull();
    expect(result.ErrorMessage).toMatch(/SignedSystemToken/);
  });

  it('fails with a wrong ApplicationToken', async () => {
    const { result } = await authenticate(request(signSystemToken(systemToken, privateKey, new Date(now)), { ApplicationToken: 'wrong' }));
    expect(result).toMatchObject({ IsSuccessful: false, Token: null });
    expect(result.ErrorMessage).toMatch(/application token/i);
  });

  it('fails for an unknown tenant and for the right token sent for the wrong tenant', async () => {
    const signed = signSystemToken(systemToken, privateKey, new Date(now));
    expect((await authenticate(request(signed, { ContextIdentifier: 'Cust00000' }))).result.IsSuccessful).toBe(false);
    const wrong = await authenticate(request(signed, { ContextIdentifier: 'Cust54321' }));
    expect(wrong.result.IsSuccessful).toBe(false);
    expect(wrong.result.ErrorMessage).toMatch(/system user token/i);
  });

  it('fails with a signature from another key (InvalidSignature)', async () => {
    const { result } = await authenticate(request(signSystemToken(systemToken, otherPrivateKey, new Date(now))));
    expect(result.IsSuccessful).toBe(false);
    expect(result.ErrorMessage).toMatch(/InvalidSignature/);
  });

  it('fails when the signed data was altered (timestamp changed after signing)', async () => {
    const signed = signSystemToken(systemToken, privateKey, new Date(now));
    const parts = signed.split('.');
    const sig = parts.pop() ?? '';
    parts.pop();
    const tampered = `${parts.join('.')}.${utcStamp(new Date(now - 60_000))}.${sig}`;
    expect((await authenticate(request(tampered))).result.ErrorMessage).toMatch(/InvalidSignature/);
  });

  it('fails with a base64url (unpadded) signature: SuperOffice wants standard base64', async () => {
    const signed = signSystemToken(systemToken, privateKey, new Date(now));
    const i = signed.lastIndexOf('.');
    const urlSafe = `${signed.slice(0, i)}.${Buffer.from(signed.slice(i + 1), 'base64').toString('base64url')}`;
    expect((await authenticate(request(urlSafe))).result.IsSuccessful).toBe(false);
  });

  it('fails with a stale or future timestamp outside ±10 minutes (InvalidTimestamp)', async () => {
    for (const offset of [-11 * 60_000, 11 * 60_000]) {
      const { result } = await authenticate(request(signSystemToken(systemToken, privateKey, new Date(now + offset))));
      expect(result.IsSuccessful).toBe(false);
      expect(result.ErrorMessage).toMatch(/InvalidTimestamp/);
    }
  });

  it('fails for a tenant that is not running', async () => {
    sim.control.setTenantState('Cust12345', 'OfflineMaintenance');
    try {
      const { result } = await authenticate(request(signSystemToken(systemToken, privateKey, new Date(now))));
      expect(result.IsSuccessful).toBe(false);
      expect(result.ErrorMessage).toMatch(/OfflineMaintenance/);
    } finally {
      sim.control.setTenantState('Cust12345', 'Running');
    }
  });

  it('fails for an app without a system-user key and for ReturnTokenType other than JWT', async () => {
    const signed = signSystemToken(systemToken, privateKey, new Date(now));
    expect((await authenticate(request(signed, { ApplicationToken: NO_KEY_APP.clientSecret }))).result.IsSuccessful).toBe(false);
    expect((await authenticate(request(signed, { ReturnTokenType: 'SAML' }))).result.IsSuccessful).toBe(false);
  });

  it('answers 421 on the numbered API host', async () => {
    const res = await fetch(`${sim.apiHostUrl}/Login/api/PartnerSystemUser/Authenticate`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request('x')),
    });
    expect(res.status).toBe(421);
  });
});

describe('§8 system user: accepted requests and the ticket', () => {
  it('accepts a token signed in the test from the documented algorithm, within ±10 minutes', async () => {
    for (const offset of [0, -9 * 60_000, 9 * 60_000]) {
      const { status, result } = await authenticate(request(signSystemToken(systemToken, privateKey, new Date(now + offset))));
      expect(status).toBe(200);
      expect(result.IsSuccessful).toBe(true);
      expect(result.ErrorMessage).toBeNull();
    }
  });

  it('returns a JWT (RS256, same JWKS) with iss SuperOffice AS, aud spn:{serial} and the ticket claims', async () => {
    const { result } = await authenticate(request(signSystemToken(systemToken, privateKey, new Date(now))));
    const jwks = createRemoteJWKSet(new URL(`${sim.url}/login/.well-known/jwks`));
    const { payload, protectedHeader } = await jwtVerify(result.Token ?? '', jwks, {
      issuer: 'SuperOffice AS',
      audience: 'spn:2384715901',
      currentDate: new Date(now),
    });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload[`${CLAIM}ticket`]).toMatch(/^7T:[A-Za-z0-9+/]+={0,2}$/);
    expect(payload[`${CLAIM}ctx`]).toBe('Cust12345');
    expect(payload[`${CLAIM}serial`]).toBe('2384715901');
    expect(payload[`${CLAIM}associateid`]).toBe('9');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
  });

  async function ticket(): Promise<string> {
    const { result } = await authenticate(request(signSystemToken(systemToken, privateKey, new Date(now))));
    const payload = JSON.parse(Buffer.from((result.Token ?? '').split('.')[1] ?? '', 'base64url').toString()) as Record<string, string>;
    return payload[`${CLAIM}ticket`] ?? '';
  }

  function soTicket(t: string, appToken: string | null = DEMO_APP.clientSecret): Record<string, string> {
    return appToken === null ? { Authorization: `SOTicket ${t}` } : { Authorization: `SOTicket ${t}`, 'SO-AppToken': appToken };
  }

  it('the ticket needs SO-AppToken with the app secret (401 without or with a wrong one)', async () => {
    const t = await ticket();
    expect((await api(sim.url, '/Cust12345/api/v1/User/currentPrincipal', { headers: soTicket(t, null) })).status).toBe(401);
    expect((await api(sim.url, '/Cust12345/api/v1/User/currentPrincipal', { headers: soTicket(t, 'wrong') })).status).toBe(401);
    expect((await api(sim.url, '/Cust54321/api/v1/User/currentPrincipal', { headers: soTicket(t) })).status).toBe(401);
  });

  it('SOTicket + SO-AppToken works on both host names and acts as the system user', async () => {
    const t = await ticket();
    for (const base of [sim.url, sim.apiHostUrl]) {
      const res = await api(base, '/Cust12345/api/v1/User/currentPrincipal', { headers: soTicket(t) });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ UserType: 'SystemAssociate', AssociateId: 9, DatabaseContextIdentifier: 'Cust12345' });
    }
  });

  it('the ticket lives 6 hours, sliding on each use; unused for longer it answers 401', async () => {
    const t = await ticket();
    now += 5 * 3600_000;
    expect((await api(sim.url, '/Cust12345/api/v1/User/currentPrincipal', { headers: soTicket(t) })).status).toBe(200);
    now += 5 * 3600_000;
    expect((await api(sim.url, '/Cust12345/api/v1/User/currentPrincipal', { headers: soTicket(t) })).status).toBe(200);
    now += 6 * 3600_000 + 1000;
    const expired = await api(sim.url, '/Cust12345/api/v1/User/currentPrincipal', { headers: soTicket(t) });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('SOTicket');
  });

  it('expireTicket ends a ticket at once', async () => {
    const t = await ticket();
    expect(sim.control.expireTicket(t)).toBe(true);
    expect((await api(sim.url, '/Cust12345/api/v1/User/currentPrincipal', { headers: soTicket(t) })).status).toBe(401);
    expect(sim.control.expireTicket('7T:unknown')).toBe(false);
  });

  it('counts system-user calls', () => {
    expect(sim.counters.get('systemUser')).toBeGreaterThan(10);
  });
});
