import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listConnectionsHandler, revokeConnectionHandler } from '../../../functions/connections.js';
import { tokensHandler } from '../../../functions/tokens.js';
import { DEMO_APP } from '../../../dev/superoffice/seed.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { connectionSecretName } from '../../../shared/secrets/names.js';
import { startBrokerHarness, type BrokerHarness } from '../../support/brokerHarness.js';

let h: BrokerHarness;

beforeAll(async () => {
  h = await startBrokerHarness();
  await h.connect(5); // Ada, administrator: also stores the system-user token
  await h.connect(6); // Nora, normal user
  await h.connect(7); // Rick, restricted
}, 60_000);
afterAll(async () => h?.stop());

beforeEach(() => {
  h.sim.control.clearFaults();
  h.sim.control.setTenantState('Cust12345', 'Running');
});

const requestToken = (associateId: string | number, extra: Record<string, unknown> = {}, caller: 'integration' | 'outsider' | null = 'integration') =>
  h.call(tokensHandler, { method: 'POST', path: '/api/tokens', caller, body: { ctx: 'Cust12345', associateId, ...extra } });

describe('POST /api/tokens (issue 5 item 2)', () => {
  it('requirement 1: without a caller it is 401 and releases nothing', async () => {
    const res = await requestToken(6, {}, null);
    expect(res.status).toBe(401);
    expect(res.text).not.toContain('8A:');
  });

  it('requirement 16: a caller not granted the tenant gets 403', async () => {
    const res = await requestToken(6, {}, 'outsider');
    expect(res.status).toBe(403);
    expect(res.text).not.toContain('8A:');
  });

  it('400 for a malformed body, listing the problem', async () => {
    const res = await h.call(tokensHandler, { method: 'POST', path: '/api/tokens', caller: 'integration', body: { ctx: 'Cust 1', associateId: 'x', extra: 1 } });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ code: 'validation_failed' });
  });

  it('404 not_connected for a user who never consented', async () => {
    const res = await requestToken(8);
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ code: 'not_connected', consentRequired: true });
  });

  it('returns a Bearer token, its expiry and the Web API URL from the tenant state API; no-store (requirement 71)', async () => {
    const before = h.sim.counters.get('tokens');
    const res = await requestToken(6);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ tokenType: 'Bearer', ctx: 'Cust12345', associateId: '6', env: 'sod' });
    expect(String(res.json['accessToken'])).toMatch(/^8A:Cust12345\./);
    expect(res.json['expiresInSec']).toBeGreaterThan(3500);
    expect(res.json['webApiUrl']).toBe(`${h.sim.apiHostUrl}/Cust12345/api/`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    expect(h.sim.counters.get('tokens')).toBe(before + 1);
    // The token works against the Web API as that user.
    const principal = await fetch(`${String(res.json['webApiUrl'])}v1/User/currentPrincipal`, { headers: { Authorization: `Bearer ${String(res.json['accessToken'])}`, Accept: 'application/json' } });
    expect(principal.status).toBe(200);
    expect(((await principal.json()) as { AssociateId: number }).AssociateId).toBe(6);
  });

  it('serves the cached token with no upstream call and no Key Vault read (bench target: one read per lifetime)', async () => {
    await requestToken(7);
    const tokens = h.sim.counters.get('tokens');
    const rtName = connectionSecretName('sod', 'Cust12345', '7').toLowerCase();
    const reads = () => h.vault.requests.filter((r) => r.method === 'GET' && r.secretName?.toLowerCase() === rtName && r.authenticated).length;
    const readsBefore = reads();
    for (let i = 0; i < 5; i++) expect((await requestToken(7)).status).toBe(200);
    expect(h.sim.counters.get('tokens')).toBe(tokens);
    expect(reads()).toBe(readsBefore);
  });

  it('requirement 32: the token endpoint received the secrets only in the form body', async () => {
    await requestToken(6, { minValiditySec: 0 });
    const records = h.sim.counters.tokenRequests().filter((r) => r.grantType === 'refresh_token');
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) {
      expect(record.method).toBe('POST');
      expect(record.contentType).toMatch(/^application\/x-www-form-urlencoded/);
      expect(record.queryParams).toEqual([]);
      expect(record.basicAuth).toBe(false);
      expect([...record.bodyParams].sort()).toEqual(['client_id', 'client_secret', 'grant_type', 'refresh_token']);
    }
  });

  it('requirement 59: the audit record carries a fingerprint, never the token', async () => {
    const res = await requestToken(6);
    const at = String(res.json['accessToken']);
    const fp = await h.runtime.audit.fingerprint(at);
    const table = h.runtime.storage.table('audit');
    const rows: Record<string, unknown>[] = [];
    for await (const row of table.listEntities<Record<string, unknown>>()) rows.push(row);
    const dump = JSON.stringify(rows);
    expect(dump).toContain(fp);
    expect(dump).not.toContain(at);
    expect(dump).not.toContain(at.split('.')[1]!);
  });

  it('tenant in maintenance: 503 with Retry-After and no token call', async () => {
    h.sim.control.setTenantState('Cust12345', 'OfflineMaintenance');
    const fresh = await startBrokerHarnessTenantProbe();
    expect(fresh.status).toBe(503);
    expect(fresh.json).toMatchObject({ code: 'tenant_unavailable' });
    expect(Number(fresh.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('tenant maintenance on the token path (issue 15 point 6)', () => {
  it('is noticed within one minute although SuperOffice said the state holds for 5, with one state call per minute', async () => {
    const { createRuntime, setRuntime } = await import('../../../shared/runtime/runtime.js');
    const { TenantStates } = await import('../../../shared/tokens/tenantStates.js');
    let now = Date.now();
    const runtime = createRuntime(h.config, { guard: h.runtime.guard, logger: h.runtime.logger, secrets: h.runtime.secrets });
    const tenants = new TenantStates(runtime.superOffice, { clock: () => now });
    const instance = createRuntime(h.config, { guard: h.runtime.guard, logger: h.runtime.logger, secrets: h.runtime.secrets, superOffice: runtime.superOffice, tenants });
    const previous = setRuntime(instance);
    try {
      h.sim.counters.reset();
      expect((await requestToken(6)).status).toBe(200);
      h.sim.control.setTenantState('Cust12345', 'OfflineMaintenance');
      for (let i = 0; i < 5; i++) {
        now += 11_000; // 55 s: the cached state (valid for 5 minutes) is still trusted
        expect((await requestToken(6)).status).toBe(200);
      }
      expect(h.sim.counters.get('state')).toBe(1);
      now += 5_000; // 60 s after the state was read
      const refused = await requestToken(6);
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ code: 'tenant_unavailable', tenantState: 'OfflineMaintenance' });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(h.sim.counters.get('state')).toBe(2);
    } finally {
      setRuntime(previous);
    }
  });
});

/** A request through a new runtime (empty tenant-state cache) against the same stack. */
async function startBrokerHarnessTenantProbe() {
  const { createRuntime, setRuntime } = await import('../../../shared/runtime/runtime.js');
  const runtime = createRuntime(h.config, { guard: h.runtime.guard, logger: h.runtime.logger, secrets: h.runtime.secrets });
  const previous = setRuntime(runtime);
  try {
    return await requestToken(6);
  } finally {
    setRuntime(previous);
  }
}

describe('refresh failures against the simulator (requirements 40, 41, 50)', () => {
  it('a revoked consent gives 409 reauth_required after exactly one token call, then none', async () => {
    await h.connect(6);
    h.runtime.tokens.forget('Cust12345', '6');
    h.sim.control.revokeConsent('Cust12345', 6);
    const before = h.sim.counters.get('tokens');
    const res = await requestToken(6);
    expect(res.status).toBe(409);
    expect(res.json).toMatchObject({ code: 'reauth_required', consentRequired: true });
    expect(h.sim.counters.get('tokens')).toBe(before + 1);
    expect((await h.runtime.connections.get({ env: 'sod', ctx: 'Cust12345', associateId: '6' }))?.status).toBe('reauth_required');
    expect((await requestToken(6)).status).toBe(409);
    expect(h.sim.counters.get('tokens')).toBe(before + 1);
  });

  it('issue 10 point 10: a 400 without an OAuth error (a proxy page) is 502 after one call and leaves the connection active', async () => {
    await h.connect(7);
    h.runtime.tokens.forget('Cust12345', '7');
    h.sim.control.setFault('tokens', { kind: 'malformed', status: 400, times: 1 });
    const before = h.sim.counters.get('tokens');
    const res = await requestToken(7);
    expect(res.status).toBe(502);
    expect(res.json).toMatchObject({ code: 'upstream_bad_response' });
    expect(h.sim.counters.get('tokens') - before).toBe(1);
    expect((await h.runtime.connections.get({ env: 'sod', ctx: 'Cust12345', associateId: '7' }))?.status).toBe('active');
    // Not negative-cached as a dead grant: the next request refreshes and succeeds.
    expect((await requestToken(7)).status).toBe(200);
  });

  it('a 503 from the token endpoint is retried (at most 3 attempts) then 503 with Retry-After', async () => {
    await h.connect(7);
    h.runtime.tokens.forget('Cust12345', '7');
    h.sim.control.setFault('tokens', { status: 503, retryAfter: 1 });
    const before = h.sim.counters.get('tokens');
    const res = await requestToken(7);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).not.toBeNull();
    expect(h.sim.counters.get('tokens') - before).toBe(3);
  });

  it('a 429 once, then success', async () => {
    h.runtime.tokens.forget('Cust12345', '7');
    h.sim.control.setFault('tokens', { status: 429, retryAfter: 0, times: 1 });
    const res = await requestToken(7);
    expect(res.status).toBe(200);
  });
});

/** A refresh straight at the simulator's token endpoint, as anyone holding the token could try. */
async function refreshAtSimulator(refreshToken: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${h.sim.url}/login/common/oauth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'refresh_token', client_id: DEMO_APP.clientId, client_secret: DEMO_APP.clientSecret, refresh_token: refreshToken }).toString(),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('connection lifecycle (issue 5 item 5)', () => {
  it('lists a tenant’s connections with status, and nothing secret', async () => {
    const res = await h.call(listConnectionsHandler, { path: '/api/connections?ctx=Cust12345', caller: 'integration' });
    expect(res.status).toBe(200);
    const list = res.json['connections'] as Array<{ associateId: string; status: string }>;
    expect(list.map((c) => c.associateId).sort()).toEqual(['5', '6', '7']);
    expect(res.text).not.toContain('8A:');
    expect(res.text).not.toMatch(/refresh_?token|client_?secret|system_?token/i);
  });

  it('400 without ctx; 403 for a tenant the caller may not administer', async () => {
    expect((await h.call(listConnectionsHandler, { path: '/api/connections', caller: 'integration' })).status).toBe(400);
    expect((await h.call(listConnectionsHandler, { path: '/api/connections?ctx=Cust54321', caller: 'integration' })).status).toBe(403);
  });

  it('issue 10 point 11: revocation disables every Key Vault version and revokes every stored refresh token at SuperOffice', async () => {
    // Three consents over time: three versions, each with its own refresh token.
    const stored = [await h.connect(6), await h.connect(6), await h.connect(6)].map((c) => c.refreshToken);
    const name = connectionSecretName('sod', 'Cust12345', '6');
    expect((await h.runtime.secrets.getEnabledVersions!(name)).length).toBeGreaterThanOrEqual(3);
    for (const rt of stored) expect((await refreshAtSimulator(rt)).status).toBe(200);
    const revocationsBefore = h.sim.counters.get('revoke');

    const revoked = await h.call(revokeConnectionHandler, { method: 'POST', path: '/api/connections/Cust12345/6/revoke', caller: 'integration', params: { ctx: 'Cust12345', associateId: '6' } });
    expect(revoked.status).toBe(200);
    expect(revoked.json).toMatchObject({ status: 'revoked', lastErrorCode: 'revoked' });
    expect(revoked.text).not.toContain(stored[0]!);

    // No enabled version is left, and SuperOffice refuses every refresh token the broker held.
    expect(await h.runtime.secrets.getEnabledVersions!(name)).toEqual([]);
    expect(h.sim.counters.get('revoke') - revocationsBefore).toBeGreaterThanOrEqual(3);
    for (const rt of stored) {
      const answer = await refreshAtSimulator(rt);
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ error: 'invalid_grant' });
    }
    expect((await requestToken(6)).status).toBe(404);

    // A later consent stores a new enabled version, and tokens flow again.
    const again = await h.connect(6);
    expect((await h.runtime.secrets.getEnabledVersions!(name)).map((v) => v.value.reveal())).toEqual([again.refreshToken]);
    expect((await requestToken(6)).status).toBe(200);
  });

  it('issue 10 point 11: if SuperOffice cannot revoke, the versions are still disabled and the record says so', async () => {
    await h.connect(7);
    h.sim.control.setFault('revoke', { status: 503, retryAfter: 0 });
    const revoked = await h.call(revokeConnectionHandler, { method: 'POST', path: '/api/connections/Cust12345/7/revoke', caller: 'integration', params: { ctx: 'Cust12345', associateId: '7' } });
    h.sim.control.clearFaults();
    expect(revoked.status).toBe(200);
    expect(revoked.json).toMatchObject({ status: 'revoked', lastErrorCode: 'upstream_revocation_failed' });
    expect(await h.runtime.secrets.getEnabledVersions!(connectionSecretName('sod', 'Cust12345', '7'))).toEqual([]);
    expect((await requestToken(7)).status).toBe(404);
  });

  it('revocation stops the connection at once, and a later consent works with no delete-then-recreate conflict', async () => {
    await h.connect(5);
    expect((await requestToken(5)).status).toBe(200); // cached now
    const revoked = await h.call(revokeConnectionHandler, { method: 'POST', path: '/api/connections/Cust12345/5/revoke', caller: 'integration', params: { ctx: 'Cust12345', associateId: '5' } });
    expect(revoked.status).toBe(200);
    expect(revoked.json).toMatchObject({ status: 'revoked' });
    const after = await requestToken(5);
    expect(after.status).toBe(404);
    expect(after.json).toMatchObject({ code: 'not_connected' });
    await expect(h.runtime.secrets.get(connectionSecretName('sod', 'Cust12345', '5'))).rejects.toMatchObject({ code: 'secret_not_found' });
    // Consent again: a new version is written (no 409), and tokens flow again.
    await h.connect(5);
    expect((await requestToken(5)).status).toBe(200);
  });

  it('revoking an unknown connection is 404', async () => {
    const res = await h.call(revokeConnectionHandler, { method: 'POST', path: '/api/connections/Cust12345/99/revoke', caller: 'integration', params: { ctx: 'Cust12345', associateId: '99' } });
    expect(res.status).toBe(404);
  });

  it('the probe finds a revoked consent before a caller needs the token', async () => {
    await h.connect(7);
    await h.connect(6);
    h.sim.control.revokeConsent('Cust12345', 7);
    const summary = await h.runtime.lifecycle.probeAll({ budgetMs: 20_000 });
    expect(summary.reauthRequired).toBe(1);
    expect(summary.ok).toBeGreaterThanOrEqual(2);
    const rick = await h.runtime.connections.get({ env: 'sod', ctx: 'Cust12345', associateId: '7' });
    expect(rick?.status).toBe('reauth_required');
    expect(rick?.lastErrorCode).toBe('invalid_grant');
    const nora = await h.runtime.connections.get({ env: 'sod', ctx: 'Cust12345', associateId: '6' });
    expect(nora?.lastProbeAt).toBeTruthy();
  });
});

describe('system user (issue 5 item 4)', () => {
  it('signs the system-user token, exchanges it, validates the JWT, and calls the Web API as the system user', async () => {
    const before = h.sim.counters.get('systemUser');
    const response = await h.runtime.systemUser.callWebApi('Cust12345', `${h.sim.apiHostUrl}/Cust12345/api/`, 'v1/User/currentPrincipal');
    expect(response.status).toBe(200);
    const principal = JSON.parse(response.text) as { AssociateId: number };
    expect(principal.AssociateId).toBe(9);
    // Cached: a second call makes no new Authenticate call.
    await h.runtime.systemUser.callWebApi('Cust12345', `${h.sim.apiHostUrl}/Cust12345/api/`, 'v1/User/currentPrincipal');
    expect(h.sim.counters.get('systemUser')).toBe(before + 1);
  });

  it('renews the ticket on 401 (expired ticket)', async () => {
    h.sim.control.setFault('webapi', { kind: 'malformed', status: 401, times: 1 });
    const before = h.sim.counters.get('systemUser');
    const response = await h.runtime.systemUser.callWebApi('Cust12345', `${h.sim.apiHostUrl}/Cust12345/api/`, 'v1/User/currentPrincipal');
    expect(response.status).toBe(200);
    expect(h.sim.counters.get('systemUser')).toBe(before + 1);
  });

  it('a tenant without an administrator consent has no system user (not_connected)', async () => {
    await expect(h.runtime.systemUser.callWebApi('Cust54321', `${h.sim.apiHostUrl}/Cust54321/api/`, 'v1/User/currentPrincipal')).rejects.toMatchObject({ code: 'not_connected' });
  });
});

void Secret;
