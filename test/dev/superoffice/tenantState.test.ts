/**
 * docs/superoffice.md §8 "/api/state/{ctx} returns JSON with Api pointing at a numbered host", plus §4 states
 * (IsRunning for Running and OnlineMaintenance) and the Web API's behaviour during maintenance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { TENANT_STATES, type TenantStateName } from '../../../dev/superoffice/seed.js';
import { api, bearer, signIn } from './helpers.js';

let sim: SuperOfficeSimulator;
const now = Date.UTC(2025, 0, 15, 12, 0, 0);

beforeAll(async () => {
  sim = await startSuperOfficeSimulator({ clock: () => now });
});
afterAll(async () => {
  await sim.close();
});

describe('§8 tenant status /api/state/{ctx}', () => {
  it('answers 404 for an unknown tenant and 405 for POST', async () => {
    expect((await api(sim.url, '/api/state/Cust00000')).status).toBe(404);
    expect((await api(sim.url, '/api/state/Cust12345', { method: 'POST', body: {} })).status).toBe(405);
  });

  it('needs no authentication and points Endpoint and Api at the numbered host', async () => {
    const res = await api(sim.url, '/api/state/Cust12345');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      ContextIdentifier: 'Cust12345',
      Endpoint: `${sim.apiHostUrl}/Cust12345`,
      State: 'Running',
      IsRunning: true,
      ValidUntil: '2025-01-15T12:05:00.0000000Z',
      Api: `${sim.apiHostUrl}/Cust12345/api`,
    });
    expect(sim.apiHostUrl).not.toBe(sim.url);
  });

  it('matches the context identifier without regard to case and answers on the API host too', async () => {
    const res = await api(sim.apiHostUrl, '/api/state/cust12345');
    expect((res.body as Record<string, unknown>)['ContextIdentifier']).toBe('Cust12345');
  });

  it('reports every documented state with IsRunning only for Running and OnlineMaintenance', async () => {
    for (const state of Object.keys(TENANT_STATES) as TenantStateName[]) {
      sim.control.setTenantState('Cust54321', state);
      const body = (await api(sim.url, '/api/state/Cust54321')).body as Record<string, unknown>;
      expect(body['State']).toBe(state);
      expect(body['IsRunning']).toBe(state === 'Running' || state === 'OnlineMaintenance');
    }
    sim.control.setTenantState('Cust54321', 'Running');
  });

  it('the Web API answers 503 with Retry-After while the tenant is offline, and works in OnlineMaintenance', async () => {
    const { access_token } = await signIn(sim, { associateId: 6 });
    sim.control.setTenantState('Cust12345', 'OfflineMaintenance');
    const down = await api(sim.apiHostUrl, '/Cust12345/api/v1/User/currentPrincipal', { headers: bearer(access_token) });
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('300');
    sim.control.setTenantState('Cust12345', 'OnlineMaintenance');
    const up = await api(sim.apiHostUrl, '/Cust12345/api/v1/User/currentPrincipal', { headers: bearer(access_token) });
    expect(up.status).toBe(200);
    sim.control.setTenantState('Cust12345', 'Running');
  });

  it('changes state through the HTTP control surface and rejects unknown states', async () => {
    const post = (body: unknown) =>
      fetch(`${sim.url}/__sim/tenant-state`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post({ ctx: 'Cust54321', state: 'Broken' })).status).toBe(400);
    expect((await post({ ctx: 'Cust54321', state: 'Suspended' })).status).toBe(200);
    expect(((await api(sim.url, '/api/state/Cust54321')).body as Record<string, unknown>)['State']).toBe('Suspended');
    expect(() => sim.control.setTenantState('Nope', 'Running')).toThrow(RangeError);
    sim.control.setTenantState('Cust54321', 'Running');
  });
});
