/**
 * docs/superoffice.md §8: "/login/.well-known/openid-configuration and /login/.well-known/jwks (RS256, kid)".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';

let sim: SuperOfficeSimulator;
let now = Date.UTC(2025, 0, 15, 12, 0, 0);

beforeAll(async () => {
  sim = await startSuperOfficeSimulator({ clock: () => now });
});
afterAll(async () => {
  await sim.close();
});

describe('§8 discovery and JWKS (RS256, kid)', () => {
  it('refuses the numbered API host for login endpoints (421)', async () => {
    const res = await fetch(`${sim.apiHostUrl}/login/.well-known/openid-configuration`);
    expect(res.status).toBe(421);
  });

  it('answers 405 to a POST on discovery', async () => {
    const res = await fetch(`${sim.url}/login/.well-known/openid-configuration`, { method: 'POST' });
    expect(res.status).toBe(405);
  });

  it('answers 404 for unknown paths', async () => {
    const res = await fetch(`${sim.url}/login/.well-known/nothing`);
    expect(res.status).toBe(404);
  });

  it('publishes the discovery document with issuer = base URL (no /login) and SuperOffice metadata', async () => {
    const res = await fetch(`${sim.url}/login/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer: sim.url,
      authorization_endpoint: `${sim.url}/login/common/oauth/authorize`,
      token_endpoint: `${sim.url}/login/common/oauth/tokens`,
      revocation_endpoint: `${sim.url}/login/common/oauth/revoke`,
      jwks_uri: `${sim.url}/login/.well-known/jwks`,
      scopes_supported: ['openid'],
      response_modes_supported: ['form_post', 'fragment', 'query'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      grant_types_supported: ['implicit', 'authorization_code', 'refresh_token'],
    });
    expect(doc).not.toHaveProperty('userinfo_endpoint');
    expect(sim.counters.get('discovery')).toBeGreaterThanOrEqual(1);
  });

  it('publishes RSA signing keys with kid, use=sig and alg=RS256 (no private parts)', async () => {
    const res = await fetch(`${sim.url}/login/.well-known/jwks`);
    expect(res.status).toBe(200);
    const jwks = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    const key = jwks.keys[0];
    expect(key).toMatchObject({ kty: 'RSA', use: 'sig', alg: 'RS256', e: 'AQAB' });
    expect(typeof key?.['kid']).toBe('string');
    expect(typeof key?.['n']).toBe('string');
    expect(key).not.toHaveProperty('d');
    expect(key).not.toHaveProperty('p');
  });

  it('keeps the previous key published for an hour after rotation, then drops it', async () => {
    const before = ((await (await fetch(`${sim.url}/login/.well-known/jwks`)).json()) as { keys: { kid: string }[] }).keys;
    const newKid = await sim.control.rotateSigningKey();
    const after = ((await (await fetch(`${sim.url}/login/.well-known/jwks`)).json()) as { keys: { kid: string }[] }).keys;
    expect(after.map((k) => k.kid)).toEqual([newKid, before[0]?.kid]);
    now += 61 * 60_000;
    const later = ((await (await fetch(`${sim.url}/login/.well-known/jwks`)).json()) as { keys: { kid: string }[] }).keys;
    expect(later.map((k) => k.kid)).toEqual([newKid]);
  });

  it('drops the previous key at once when rotating with dropOld', async () => {
    const newKid = await sim.control.rotateSigningKey({ dropOld: true });
    const keys = ((await (await fetch(`${sim.url}/login/.well-known/jwks`)).json()) as { keys: { kid: string }[] }).keys;
    expect(keys.map((k) => k.kid)).toEqual([newKid]);
  });
});
