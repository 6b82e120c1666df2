/**
 * docs/superoffice.md §8 "/{ctx}/api/v1/User/currentPrincipal: Bearer or (SOTicket + SO-AppToken); 401 on an expired
 * credential" and the SoPrincipalCarrier fields of §5.1. (SOTicket cases are in systemUser.test.ts.)
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { DEMO_APP } from '../../../dev/superoffice/seed.js';
import { api, bearer, signIn } from './helpers.js';

let sim: SuperOfficeSimulator;
let now = Date.UTC(2025, 0, 15, 12, 0, 0);
const PRINCIPAL = '/Cust12345/api/v1/User/currentPrincipal';

beforeAll(async () => {
  sim = await startSuperOfficeSimulator({ clock: () => now });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => {
  sim.control.reset();
});

describe('§8 Web API authentication failures', () => {
  it('answers 401 with WWW-Authenticate and a JSON error without credentials', async () => {
    const res = await api(sim.url, PRINCIPAL);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/Bearer/);
    expect(typeof (res.body as Record<string, unknown>)['Error']).toBe('string');
  });

  it('answers 400 for an Authorization header without a credential', async () => {
    expect((await api(sim.url, PRINCIPAL, { headers: { Authorization: 'Bearer' } })).status).toBe(400);
  });

  it('answers 401 for an unknown token, an unsupported scheme and an unknown ticket', async () => {
    expect((await api(sim.url, PRINCIPAL, { headers: bearer('8A:Cust12345.bogus') })).status).toBe(401);
    expect((await api(sim.url, PRINCIPAL, { headers: { Authorization: 'Basic dGplMDpUamUw' } })).status).toBe(401);
    expect(
      (await api(sim.url, PRINCIPAL, { headers: { Authorization: 'SOTicket 7T:bogus', 'SO-AppToken': DEMO_APP.clientSecret } })).status,
    ).toBe(401);
  });

  it('answers 401 once the access token is older than 3600 s (injected clock)', async () => {
    const { access_token } = await signIn(sim, { associateId: 6 });
    now += 3599_000;
    expect((await api(sim.url, PRINCIPAL, { headers: bearer(access_token) })).status).toBe(200);
    now += 2000;
    const res = await api(sim.url, PRINCIPAL, { headers: bearer(access_token) });
    expect(res.status).toBe(401);
    expect(JSON.stringify(res.body)).toMatch(/expired/);
  });

  it('answers 401 after expireAccessToken and after advancing the clock through the control surface', async () => {
    const a = await signIn(sim, { associateId: 6 });
    expect(sim.control.expireAccessToken(a.access_token)).toBe(true);
    expect((await api(sim.url, PRINCIPAL, { headers: bearer(a.access_token) })).status).toBe(401);
    const b = await signIn(sim, { associateId: 6 });
    await fetch(`${sim.url}/__sim/clock`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ advanceMs: 3601_000 }) });
    expect((await api(sim.url, PRINCIPAL, { headers: bearer(b.access_token) })).status).toBe(401);
  });

  it('answers 401 for a token of another tenant', async () => {
    const { access_token } = await signIn(sim, { associateId: 6, tenant: 'Cust54321' });
    const res = await api(sim.url, PRINCIPAL, { headers: bearer(access_token) });
    expect(res.status).toBe(401);
    expect(JSON.stringify(res.body)).toMatch(/another tenant/);
  });

  it('answers 401 after the consent was revoked (access tokens are reference tokens)', async () => {
    const { access_token } = await signIn(sim, { associateId: 6 });
    sim.control.revokeConsent('Cust12345', 6);
    expect((await api(sim.url, PRINCIPAL, { headers: bearer(access_token) })).status).toBe(401);
  });

  it('answers 401 when a Bearer call carries an SO-AppToken of another app', async () => {
    const { access_token } = await signIn(sim, { associateId: 6 });
    const res = await api(sim.url, PRINCIPAL, { headers: { ...bearer(access_token), 'SO-AppToken': 'not-the-secret' } });
    expect(res.status).toBe(401);
  });

  it('answers 403 with a clear message for a user without a licence (token exchange still works)', async () => {
    const { access_token } = await signIn(sim, { associateId: 8 });
    for (const path of [PRINCIPAL, '/Cust12345/api/v1/Contact/101']) {
      const res = await api(sim.url, path, { headers: bearer(access_token) });
      expect(res.status).toBe(403);
      expect((res.body as Record<string, unknown>)['Error']).toMatch(/no valid user license/);
    }
  });

  it('answers 404 for an unknown tenant, version or endpoint and 400 for a bad id', async () => {
    const { access_token } = await signIn(sim, { associateId: 6 });
    expect((await api(sim.url, '/Cust00000/api/v1/User/currentPrincipal', { headers: bearer(access_token) })).status).toBe(404);
    expect((await api(sim.url, '/Cust12345/api/v9/User/currentPrincipal', { headers: bearer(access_token) })).status).toBe(404);
    expect((await api(sim.url, '/Cust12345/api/v1/Nothing', { headers: bearer(access_token) })).status).toBe(404);
    expect((await api(sim.url, '/Cust12345/api/v1/Contact/abc', { headers: bearer(access_token) })).status).toBe(400);
    expect((await api(sim.url, '/Cust12345/api/v1/Contact/999', { headers: bearer(access_token) })).status).toBe(404);
  });
});

describe('§8 currentPrincipal (SoPrincipalCarrier, §5.1)', () => {
  const FIELDS = [
    'UserType', 'Associate', 'AssociateId', 'IsPerson', 'PersonId', 'CountryId', 'HomeCountryId', 'ContactId', 'GroupId',
    'BusinessId', 'CategoryId', 'ContactOwner', 'RoleId', 'RoleName', 'RoleDescription', 'RoleType', 'Licenses', 'FullName',
    'EMailAddress', 'FunctionRights', 'EjUserId', 'EjAccessLevel', 'EjUserStatus', 'ProvidedCredentials', 'SecondaryGroups',
    'DatabaseContextIdentifier', 'UserName',
  ];

  it('returns every SoPrincipalCarrier field for a Bearer user, on both host names, with no IsAdministrator field', async () => {
    const { access_token } = await signIn(sim, { associateId: 5 });
    for (const base of [sim.url, sim.apiHostUrl]) {
      const res = await api(base, PRINCIPAL, { headers: { ...bearer(access_token), 'SO-AppToken': DEMO_APP.clientSecret } });
      expect(res.status).toBe(200);
      const body = res.body as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual([...FIELDS].sort());
      expect(body).toMatchObject({
        UserType: 'InternalAssociate',
        Associate: 'ADA',
        AssociateId: 5,
        IsPerson: true,
        FullName: 'Ada Admin',
        EMailAddress: 'ada.admin@nordic-demo.example',
        RoleName: 'Administrator',
        DatabaseContextIdentifier: 'Cust12345',
        UserName: 'ada.admin@nordic-demo.example',
        SecondaryGroups: [1, 2],
      });
    }
  });

  it('sorts FunctionRights ordinally and lists the licences', async () => {
    const { access_token } = await signIn(sim, { associateId: 6 });
    const body = (await api(sim.url, PRINCIPAL, { headers: bearer(access_token) })).body as Record<string, unknown>;
    const rights = body['FunctionRights'] as string[];
    expect(rights.length).toBeGreaterThan(0);
    expect(rights).toEqual([...rights].sort());
    expect((body['Licenses'] as Record<string, unknown>[]).map((l) => l['Name'])).toEqual([
      'superoffice.crm.user',
      'superoffice.service.user',
    ]);
    expect(body['RoleName']).toBe('Sales user');
  });

  it('serves the API version document under /{ctx}/api', async () => {
    const res = await api(sim.apiHostUrl, '/Cust12345/api');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ v1: `${sim.apiHostUrl}/Cust12345/api/v1` });
  });

  it('counts Web API calls', async () => {
    sim.counters.reset();
    await api(sim.url, PRINCIPAL);
    await api(sim.apiHostUrl, PRINCIPAL);
    expect(sim.counters.get('webapi')).toBe(2);
  });
});
