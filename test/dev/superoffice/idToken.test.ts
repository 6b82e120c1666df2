/**
 * superoffice.md §8 tokens: "id_token with the claims above; iss = https://{host}, aud = client_id; exp = iat+300"
 * (claims from §2), verified with jose against the simulator's JWKS; plus key rotation.
 */
import { compactVerify, createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { DEMO_APP, demoApp } from '../../../dev/superoffice/seed.js';
import { generateSystemUserKeyPair } from '../../../dev/superoffice/systemUser.js';
import { CLAIM, decodeJwtHeader, signIn, tokenRequest } from './helpers.js';

const NO_KEY_APP = demoApp({ clientId: '11112222333344445555666677778888', clientSecret: 'ffffeeeeddddccccbbbbaaaa99998888', name: 'No Key App' });

let sim: SuperOfficeSimulator;
let jwks: ReturnType<typeof createRemoteJWKSet>;
let now = Date.UTC(2025, 0, 15, 12, 0, 0);

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
