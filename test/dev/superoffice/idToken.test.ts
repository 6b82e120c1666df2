/**
 * docs/superoffice.md §8 tokens: "id_token with the claims above; iss = https://{host}, aud = client_id; exp = iat+300"
 * (claims from §2), verified with jose against the simulator's JWKS; plus key rotation.
 */
import { compactVerify, createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { DEMO_APP, demoApp } from '../../../dev/superoffice/seed.js';
import { generateSystemUserKeyPair } from '../../../dev/superoffice/systemUser.js';
import { SuperOfficeClient } from '../../../shared/superoffice/client.js';
import { validateIdToken } from '../../../shared/superoffice/idToken.js';
import { validateSystemUserJwt } from '../../../shared/superoffice/systemUser.js';
import { testConfig } from '../../support/config.js';
import { CLAIM, decodeJwtHeader, decodeJwtPayload, signIn, signSystemToken, tokenRequest } from './helpers.js';

const NO_KEY_APP = demoApp({ clientId: '11112222333344445555666677778888', clientSecret: 'ffffeeeeddddccccbbbbaaaa99998888', name: 'No Key App' });

let sim: SuperOfficeSimulator;
let jwks: ReturnType<typeof createRemoteJWKSet>;
const now = Date.UTC(2025, 0, 15, 12, 0, 0);

beforeAll(async () => {
  const { publicKeyPem } = generateSystemUserKeyPair();
  sim = await startSuperOfficeSimulator({
    clock: () => now,
    apps: [demoApp({ systemUserPublicKeyPem: publicKeyPem }), NO_KEY_APP],
  });
  jwks = createRemoteJWKSet(new URL(`${sim.url}/login/.well-known/jwks`), { cooldownDuration: 0 });
});
afterAll(async () => {
  await sim.close();
});

async function verifiedClaims(jwt: string): Promise<Record<string, unknown>> {
  const { payload, protectedHeader } = await compactVerify(jwt, jwks);
  expect(protectedHeader.alg).toBe('RS256');
  return JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
}

describe('§8 id_token claims and signature', () => {
  it('rejects a tampered id_token (signature check)', async () => {
    const { id_token } = await signIn(sim, { associateId: 6 });
    const [h, p, s] = id_token.split('.');
    const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>;
    payload[`${CLAIM}associateid`] = '5';
    const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    await expect(compactVerify(forged, jwks)).rejects.toThrow();
  });

  it('has iat as a STRING, which jose jwtVerify rejects (a client must check the claims itself)', async () => {
    const { id_token } = await signIn(sim, { associateId: 6 });
    await expect(jwtVerify(id_token, jwks, { issuer: sim.url, audience: DEMO_APP.clientId, currentDate: new Date(now) })).rejects.toThrow(/iat/);
  });

  it('is RS256 with a kid from the JWKS and the documented claim shapes', async () => {
    const { id_token } = await signIn(sim, { associateId: 6, nonce: 'nonce-123' });
    const header = decodeJwtHeader(id_token);
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    expect(typeof header['kid']).toBe('string');
    const claims = await verifiedClaims(id_token);
    const iat = Math.floor(now / 1000);
    expect(claims).toMatchObject({
      sub: 'nora.normal@nordic-demo.example',
      iss: sim.url,
      aud: DEMO_APP.clientId,
      iat: String(iat),
      nbf: iat - 60,
      exp: iat + 300,
      nonce: 'nonce-123',
      [`${CLAIM}ctx`]: 'Cust12345',
      [`${CLAIM}associateid`]: '6',
      [`${CLAIM}is_administrator`]: 'False',
      [`${CLAIM}webapi_url`]: `${sim.url}/Cust12345/api/`,
      [`${CLAIM}netserver_url`]: `${sim.url}/Cust12345/Remote/Services88/`,
      [`${CLAIM}serial`]: '2384715901',
      [`${CLAIM}email`]: 'nora.normal@nordic-demo.example',
      [`${CLAIM}upn`]: 'nora.normal@nordic-demo.example',
      [`${CLAIM}identityprovider`]: 'central-superid',
    });
    expect(claims).not.toHaveProperty(`${CLAIM}system_token`);
    expect(claims['iss']).not.toMatch(/\/login$/);
  });

  it('says is_administrator "True" for an administrator and adds system_token when the app has a system-user key', async () => {
    const claims = await verifiedClaims((await signIn(sim, { associateId: 5 })).id_token);
    expect(claims[`${CLAIM}is_administrator`]).toBe('True');
    expect(claims[`${CLAIM}system_token`]).toMatch(/^Token Broker Dev-[A-Za-z0-9]{10}$/);
  });

  it('keeps the system_token stable per tenant+app and distinct between tenants', async () => {
    const a = await verifiedClaims((await signIn(sim, { associateId: 5 })).id_token);
    const b = await verifiedClaims((await signIn(sim, { associateId: 5 })).id_token);
    const other = await verifiedClaims((await signIn(sim, { associateId: 5, tenant: 'Cust54321' })).id_token);
    expect(a[`${CLAIM}system_token`]).toBe(b[`${CLAIM}system_token`]);
    expect(other[`${CLAIM}system_token`]).not.toBe(a[`${CLAIM}system_token`]);
    expect(sim.control.systemUserToken('Cust12345', DEMO_APP.clientId)).toBe(a[`${CLAIM}system_token`]);
  });

  it('issues a new system_token after the old one is revoked', async () => {
    const before = sim.control.systemUserToken('Cust12345', DEMO_APP.clientId);
    expect(sim.control.revokeSystemUserToken('Cust12345', DEMO_APP.clientId)).toBe(true);
    const claims = await verifiedClaims((await signIn(sim, { associateId: 5 })).id_token);
    expect(claims[`${CLAIM}system_token`]).not.toBe(before);
  });

  it('has no system_token for an administrator of an app without a system-user key', async () => {
    const claims = await verifiedClaims(
      (await signIn(sim, { associateId: 5, clientId: NO_KEY_APP.clientId, clientSecret: NO_KEY_APP.clientSecret })).id_token,
    );
    expect(claims[`${CLAIM}is_administrator`]).toBe('True');
    expect(claims).not.toHaveProperty(`${CLAIM}system_token`);
  });

  it('omits nonce when none was sent, and the refresh id_token has no nonce', async () => {
    const tokens = await signIn(sim, { associateId: 6, nonce: 'abc' });
    const res = await tokenRequest(sim, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: DEMO_APP.clientId,
      client_secret: DEMO_APP.clientSecret,
    });
    const claims = await verifiedClaims(String(res.json['id_token']));
    expect(claims).not.toHaveProperty('nonce');
    expect(claims[`${CLAIM}associateid`]).toBe('6');
    expect(claims['aud']).toBe(DEMO_APP.clientId);
  });
});

describe('§8 JWKS key rotation', () => {
  it('signs with the new kid after rotation; old tokens verify while the old key is retained; dropOld removes it', async () => {
    const old = await signIn(sim, { associateId: 6 });
    const oldKid = decodeJwtHeader(old.id_token)['kid'];
    const newKid = await sim.control.rotateSigningKey();
    const fresh = await signIn(sim, { associateId: 6 });
    expect(decodeJwtHeader(fresh.id_token)['kid']).toBe(newKid);
    expect(newKid).not.toBe(oldKid);
    await verifiedClaims(fresh.id_token);
    await verifiedClaims(old.id_token);

    await sim.control.rotateSigningKey({ dropOld: true });
    const strict = createRemoteJWKSet(new URL(`${sim.url}/login/.well-known/jwks`));
    await expect(compactVerify(old.id_token, strict)).rejects.toThrow();
    await expect(compactVerify(fresh.id_token, strict)).rejects.toThrow();
  });

  it('rotates through the HTTP control surface', async () => {
    const res = await fetch(`${sim.url}/__sim/rotate-key`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ dropOld: true }),
    });
    const { kid } = (await res.json()) as { kid: string };
    const keys = (await (await fetch(`${sim.url}/login/.well-known/jwks`)).json()) as { keys: { kid: string }[] };
    expect(keys.keys.map((k) => k.kid)).toEqual([kid]);
  });
});

describe('issue 10 point 8: a rollover with tokens that carry x5t only, or no key hint', () => {
  let rollover: SuperOfficeSimulator;
  let client: SuperOfficeClient;
  beforeAll(async () => {
    const { publicKeyPem } = generateSystemUserKeyPair();
    rollover = await startSuperOfficeSimulator({ apps: [demoApp({ systemUserPublicKeyPem: publicKeyPem })] });
    client = new SuperOfficeClient({ config: testConfig({ SUPEROFFICE_BASE_URL: rollover.url, SUPEROFFICE_CLIENT_ID: DEMO_APP.clientId }) });
  });
  afterAll(async () => {
    await rollover.close();
  });
  const expectations = (nonce: string) => ({ issuer: rollover.url, clientId: DEMO_APP.clientId, nonce, keys: client.keys, allowedApiHosts: [new URL(rollover.url).host] });

  it('refuses an unknown signing-header mode', async () => {
    const res = await fetch(`${rollover.url}/__sim/signing-header`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ mode: 'x5c' }) });
    expect(res.status).toBe(400);
    expect(() => rollover.control.setSigningHeader('jku' as never)).toThrow(RangeError);
  });

  it('publishes two RSA keys with kid and x5t, and the broker verifies kid, x5t-only and hint-less tokens', async () => {
    const before = await signIn(rollover, { associateId: 6, nonce: 'n-before' });
    await rollover.control.rotateSigningKey();
    const published = ((await (await fetch(`${rollover.url}/login/.well-known/jwks`)).json()) as { keys: Array<Record<string, unknown>> }).keys;
    expect(published).toHaveLength(2);
    for (const key of published) expect(key).toMatchObject({ kty: 'RSA', kid: expect.any(String), x5t: expect.any(String) });

    expect((await validateIdToken(before.id_token, expectations('n-before'))).associateId).toBe('6');
    for (const mode of ['kid', 'x5t', 'none'] as const) {
      rollover.control.setSigningHeader(mode);
      const { id_token } = await signIn(rollover, { associateId: 6, nonce: `n-${mode}` });
      const header = decodeJwtHeader(id_token);
      expect('kid' in header).toBe(mode === 'kid');
      expect('x5t' in header).toBe(mode === 'x5t');
      expect((await validateIdToken(id_token, expectations(`n-${mode}`))).associateId, mode).toBe('6');
    }
  });

  it('the system-user exchange validates an x5t-only and a hint-less JWT during the rollover', async () => {
    const { privateKeyPem: privateKey, publicKeyPem } = generateSystemUserKeyPair();
    const sim = await startSuperOfficeSimulator({ apps: [demoApp({ systemUserPublicKeyPem: publicKeyPem })] });
    try {
      const keys = new SuperOfficeClient({ config: testConfig({ SUPEROFFICE_BASE_URL: sim.url, SUPEROFFICE_CLIENT_ID: DEMO_APP.clientId }) }).keys;
      await sim.control.rotateSigningKey();
      const { id_token } = await signIn(sim, { associateId: 5 });
      const systemToken = String(decodeJwtPayload(id_token)[`${CLAIM}system_token`]);
      for (const mode of ['x5t', 'none'] as const) {
        sim.control.setSigningHeader(mode);
        const res = await fetch(`${sim.url}/Login/api/PartnerSystemUser/Authenticate`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ SignedSystemToken: signSystemToken(systemToken, privateKey, new Date()), ApplicationToken: DEMO_APP.clientSecret, ContextIdentifier: 'Cust12345', ReturnTokenType: 'JWT' }),
        });
        const { Token } = (await res.json()) as { Token: string };
        expect('kid' in decodeJwtHeader(Token)).toBe(false);
        const ticket = await validateSystemUserJwt(Token, keys, 'Cust12345');
        expect(ticket.ticket.reveal(), mode).toMatch(/^7T:/);
      }
    } finally {
      await sim.close();
    }
  });
});
