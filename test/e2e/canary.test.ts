/**
 * Secret canary (issue 5 "done when"; requirements 19, 38, 59, 67, 69): the main flows run
 * with unique canary values for the client_secret and the keys, and the run's real refresh tokens,
 * authorization codes, PKCE verifiers (via the cookie), tickets and system-user tokens are collected.
 * None may appear — raw, base64, base64url, URL-encoded or JSON-escaped — in any HTTP response (the
 * one exception: the access token in the body of the token-issuing response), a log line, an audit
 * record, or an outbound request URL.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditHandler } from '../../functions/audit.js';
import { consentCallbackHandler } from '../../functions/consentCallback.js';
import { consentLinksHandler } from '../../functions/consentLinks.js';
import { consentStartHandler } from '../../functions/consentStart.js';
import { listConnectionsHandler, revokeConnectionHandler } from '../../functions/connections.js';
import { healthHandler } from '../../functions/health.js';
import { meHandler } from '../../functions/me.js';
import { rightsChecksHandler } from '../../functions/rightsChecks.js';
import { tokensHandler } from '../../functions/tokens.js';
import { SECRET_NAMES, connectionSecretName, systemUserSecretName } from '../../shared/secrets/names.js';
import { consentAtSuperOffice } from '../integration/consent/harness.js';
import { startBrokerHarness, type BrokerHarness, type HarnessResponse } from '../support/brokerHarness.js';

const CLIENT_SECRET_CANARY = `canary-client-secret-${randomBytes(12).toString('hex')}`;

let h: BrokerHarness;
const responses: Array<{ what: string; response: HarnessResponse; allowAccessToken?: string }> = [];
const canaries = new Map<string, string>();

function forms(value: string): string[] {
  const b64 = Buffer.from(value, 'utf8').toString('base64');
  return [value, b64, b64.replace(/=+$/, ''), Buffer.from(value, 'utf8').toString('base64url'), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
}

function leaks(haystack: string, exceptAccessToken?: string): string[] {
  const found: string[] = [];
  for (const [name, value] of canaries) {
    if (value === exceptAccessToken) continue;
    for (const form of forms(value)) {
      // Short encodings of short values could collide by chance; every canary here is long and random.
      if (form.length >= 16 && haystack.includes(form)) found.push(name);
    }
  }
  return [...new Set(found)];
}

async function record(what: string, response: Promise<HarnessResponse>, allowAccessToken?: string): Promise<HarnessResponse> {
  const r = await response;
  responses.push({ what, response: r, ...(allowAccessToken ? { allowAccessToken } : {}) });
  return r;
}

async function consent(associateId: number, ctx = 'Cust12345'): Promise<void> {
  const link = await record('consent-links', h.call(consentLinksHandler, { method: 'POST', path: '/api/consent-links', caller: 'integration', body: { ctx, associateId: String(associateId) } }));
  expect(link.status).toBe(201);
  const url = new URL(String(link.json['url']));
  const start = await record('consent/start', h.call(consentStartHandler, { path: `${url.pathname}${url.search}` }));
  expect(start.status).toBe(303);
  const cookie = start.cookies[0]!.split(';')[0]!;
  canaries.set(`consent cookie ${associateId}`, cookie.slice(cookie.indexOf('=') + 1));
  const callback = await consentAtSuperOffice(start.headers.get('location')!, associateId);
  canaries.set(`authorization code ${associateId}`, callback.searchParams.get('code')!);
  const done = await record('consent/callback', h.call(consentCallbackHandler, { path: `${callback.pathname}${callback.search}`, headers: { cookie } }));
  expect(done.status).toBe(303);
  canaries.set(`refresh token ${associateId}`, (await h.runtime.secrets.get(connectionSecretName('sod', ctx, String(associateId)), { fresh: true })).value.reveal());
}

beforeAll(async () => {
  h = await startBrokerHarness({ clientSecret: CLIENT_SECRET_CANARY });
  canaries.set('client_secret', CLIENT_SECRET_CANARY);
  canaries.set('RSA private key', h.rsaPrivateKeyPem.split('\n').slice(1, -2).join(''));
  for (const name of [SECRET_NAMES.auditHmacKey, SECRET_NAMES.auditHeadsKey, SECRET_NAMES.stateCookieKey]) {
    canaries.set(name, (await h.runtime.secrets.get(name)).value.reveal());
  }

  await consent(5); // administrator: also stores the system-user token
  await consent(6);
  canaries.set('system-user token', (await h.runtime.secrets.get(systemUserSecretName('sod', 'Cust12345'))).value.reveal());

  const token = await record('tokens', h.call(tokensHandler, { method: 'POST', path: '/api/tokens', caller: 'integration', body: { ctx: 'Cust12345', associateId: '6' } }));
  expect(token.status).toBe(200);
  const accessToken = String(token.json['accessToken']);
  canaries.set('access token', accessToken);
  responses[responses.length - 1] = { what: 'tokens', response: token, allowAccessToken: accessToken };
  await record('tokens again', h.call(tokensHandler, { method: 'POST', path: '/api/tokens', caller: 'integration', body: { ctx: 'Cust12345', associateId: '6' } }), accessToken);

  const ticketResponse = await h.runtime.systemUser.callWebApi('Cust12345', `${h.sim.apiHostUrl}/Cust12345/api/`, 'v1/User/currentPrincipal');
  expect(ticketResponse.status).toBe(200);

  await record('rights batch', h.call(rightsChecksHandler, { method: 'POST', path: '/api/rights/Cust12345/6/checks', caller: 'integration', params: { ctx: 'Cust12345', associateId: '6' }, body: { checks: [{ check: 'isAdministrator' }, { check: 'checkTableRights', table: 'contact', right: 'update', recordId: 101 }] } }));
  await record('connections', h.call(listConnectionsHandler, { path: '/api/connections?ctx=Cust12345', caller: 'integration' }));
  await record('me', h.call(meHandler, { path: '/api/me', caller: 'integration' }));
  await record('health', h.call(healthHandler, { path: '/api/health' }));
  await record('audit', h.call(auditHandler, { path: '/api/audit?limit=200', caller: 'integration' }));
  // Failure paths: a bad body, a revoked consent, a revoked connection.
  await record('tokens bad body', h.call(tokensHandler, { method: 'POST', path: '/api/tokens', caller: 'integration', body: { ctx: 'Cust12345', associateId: 'x', refresh_token: canaries.get('refresh token 6') } }));
  h.sim.control.revokeConsent('Cust12345', 5);
  h.runtime.tokens.forget('Cust12345', '5');
  await record('tokens after revoked consent', h.call(tokensHandler, { method: 'POST', path: '/api/tokens', caller: 'integration', body: { ctx: 'Cust12345', associateId: '5' } }));
  await record('revoke', h.call(revokeConnectionHandler, { method: 'POST', path: '/api/connections/Cust12345/6/revoke', caller: 'integration', params: { ctx: 'Cust12345', associateId: '6' } }));
  await record('tokens after revoke', h.call(tokensHandler, { method: 'POST', path: '/api/tokens', caller: 'integration', body: { ctx: 'Cust12345', associateId: '6' } }));
  await record('callback replay', h.call(consentCallbackHandler, { path: `/api/consent/callback?code=${encodeURIComponent(canaries.get('authorization code 6')!)}&state=x` }));
}, 120_000);

afterAll(async () => h?.stop());

describe('secret canaries (requirements 38, 59, 67, 69)', () => {
  it('the scanner finds a canary in every form it claims to', () => {
    for (const form of forms(CLIENT_SECRET_CANARY)) expect(leaks(`prefix ${form} suffix`), form).toEqual(['client_secret']);
    expect(leaks('nothing to see')).toEqual([]);
  });

  it('collected every kind of canary', () => {
    for (const name of ['client_secret', 'RSA private key', 'audit-hmac-key', 'audit-heads-key', 'state-cookie-key', 'access token', 'system-user token', 'refresh token 6', 'authorization code 6', 'consent cookie 6']) {
      expect(canaries.get(name), name).toBeTruthy();
    }
    expect(responses.length).toBeGreaterThan(15);
  });

  it('no HTTP response (status, headers, cookies, body) carries a canary, except the access token in its own token response', () => {
    for (const { what, response, allowAccessToken } of responses) {
      const headers = [...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
      const cookiesWithoutOwnTransaction = response.cookies.map((c) => c.replace(/^__Host-so-consent=[^;]*/, '__Host-so-consent=<transaction>'));
      expect(leaks(`${headers}\n${cookiesWithoutOwnTransaction.join('\n')}\n${response.text}`, allowAccessToken), what).toEqual([]);
    }
  });

  it('no log line carries a canary', () => {
    expect(h.logLines.length).toBeGreaterThan(10);
    expect(leaks(h.logLines.join('\n'))).toEqual([]);
  });

  it('requirement 59: no audit record carries a canary; the access token appears only as its fingerprint', async () => {
    const rows: unknown[] = [];
    for await (const row of h.runtime.storage.table('audit').listEntities()) rows.push(row);
    expect(rows.length).toBeGreaterThan(15);
    const dump = JSON.stringify(rows);
    expect(leaks(dump)).toEqual([]);
    expect(dump).toContain(await h.runtime.audit.fingerprint(canaries.get('access token')!));
  });

  it('requirement 69: no outbound URL carries a canary (Key Vault and SuperOffice requests)', () => {
    const vaultPaths = h.vault.requests.map((r) => r.path).join('\n');
    const tokenUrls = h.sim.counters.tokenRequests().map((r) => `${r.url} ${r.queryParams.join(',')}`).join('\n');
    expect(leaks(`${vaultPaths}\n${tokenUrls}`)).toEqual([]);
    for (const r of h.sim.counters.tokenRequests()) expect(r.queryParams.filter((p) => p !== 'grant_type' && p !== 'client_id')).toEqual([]);
  });
});
