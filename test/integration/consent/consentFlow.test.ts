import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_APP } from '../../../dev/superoffice/seed.js';
import { deriveConsentKeys } from '../../../shared/connections/consent/sealed.js';
import { CONSENT_COOKIE_NAME, decodeTransaction, encodeTransaction } from '../../../shared/connections/consent/transactionCookie.js';
import { connectionSecretName, systemUserSecretName } from '../../../shared/secrets/names.js';
import {
  BROKER_ORIGIN,
  REDIRECT_URI,
  callBroker,
  consentAtSuperOffice,
  consentDoneHandler,
  consentStartHandler,
  mintLink,
  openLink,
  returnToBroker,
  startConsentStack,
  type ConsentStack,
} from './harness.js';

/**
 * The consent flow end to end over HTTP against the SuperOffice simulator, the dev Key Vault (real
 * SecretClient), Azurite tables and the real caller guard with the dev issuer. Negative cases first;
 * the canary scan over every response of the suite runs last.
 */

let stack: ConsentStack;
/** Secrets the broker must never hand out, collected as the suite runs. */
const canaries = new Set<string>([DEMO_APP.clientSecret]);

beforeAll(async () => {
  stack = await startConsentStack();
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

function tokenCalls(): number {
  return stack.simulator.counters.get('tokens');
}

async function vaultValue(name: string): Promise<string | undefined> {
  try {
    return (await stack.vaultReader.get(name, { fresh: true })).value.reveal();
  } catch (error) {
    if ((error as { code?: string }).code === 'secret_not_found') return undefined;
    throw error;
  }
}

function setSecretRequests(name: string): number {
  return stack.vault.requests.filter((r) => r.operation === 'setSecret' && r.status === 200 && r.secretName?.toLowerCase() === name.toLowerCase()).length;
}

/** Remembers the code, verifier and refresh token of a completed exchange as canaries. */
async function collectCanaries(callbackUrl: URL, rtSecretName?: string): Promise<void> {
  const code = callbackUrl.searchParams.get('code');
  if (code) canaries.add(code);
  for (const call of stack.outbound) {
    if (call.body === undefined) continue;
    const verifier = new URLSearchParams(call.body).get('code_verifier');
    if (verifier) canaries.add(verifier);
  }
  if (rtSecretName !== undefined) {
    const rt = await vaultValue(rtSecretName);
    if (rt) canaries.add(rt);
  }
}

describe('consent links (POST /api/consent-links)', () => {
  it('requirement 16: a caller without Connections.Admin is refused (403) and audited', async () => {
    const result = await mintLink(stack, { ctx: 'Cust12345' }, 'integration');
    expect(result.status).toBe(403);
    expect(stack.audits.at(-1)).toMatchObject({ action: 'consent.link', outcome: 'deny', httpStatus: 403 });
  });

  it('requirement 16: a tenant outside the caller\'s grants is refused (403)', async () => {
    const result = await mintLink(stack, { ctx: 'Cust77777' });
    expect(result.status).toBe(403);
    expect(stack.audits.at(-1)).toMatchObject({ outcome: 'deny', reason: 'tenant_not_granted', subject: { ctx: 'Cust77777' } });
  });

  it('requirement 1: no bearer token is 401', async () => {
    const result = await callBroker(stack, (await import('../../../functions/consentLinks.js')).consentLinksHandler, {
      method: 'POST', url: '/api/consent-links', headers: { 'content-type': 'application/json' }, body: '{"ctx":"Cust12345"}',
    });
    expect(result.status).toBe(401);
  });

  it('requirement 27: 201 with a start URL on the broker origin valid ≤ 10 minutes', async () => {
    const result = await mintLink(stack, { ctx: 'Cust12345', associateId: '6' });
    expect(result.status).toBe(201);
    const body = JSON.parse(result.body) as { url: string; expiresAt: string };
    expect(body.url.startsWith(`${BROKER_ORIGIN}/api/consent/start?ticket=`)).toBe(true);
    expect(Date.parse(body.expiresAt) - Date.now()).toBeLessThanOrEqual(600_000);
  });
});

describe('start and callback: refusals before any token call', () => {
  it('requirement 27: a reused ticket is 400 with an audit record', async () => {
    const link = JSON.parse((await mintLink(stack, { ctx: 'Cust12345' })).body) as { url: string };
    expect((await callBroker(stack, consentStartHandler, { url: link.url })).status).toBe(303);
    const again = await callBroker(stack, consentStartHandler, { url: link.url });
    expect(again.status).toBe(400);
    expect(again.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(stack.audits.at(-1)).toMatchObject({ action: 'consent.start', outcome: 'deny', reason: 'ticket_reused', httpStatus: 400 });
  });

  it('requirement 24: callback without the cookie → 400 and zero token-endpoint calls', async () => {
    const browser = await openLink(stack);
    const callback = await consentAtSuperOffice(browser.authorizeUrl, 6);
    const before = tokenCalls();
    const result = await returnToBroker(stack, callback, undefined);
    expect(result.status).toBe(400);
    expect(tokenCalls()).toBe(before);
    expect(stack.audits.at(-1)).toMatchObject({ reason: 'cookie_missing' });
    await collectCanaries(callback);
  });

  it('requirement 24: a tampered cookie → 400 and zero token-endpoint calls', async () => {
    const browser = await openLink(stack);
    const callback = await consentAtSuperOffice(browser.authorizeUrl, 6);
    const before = tokenCalls();
    const value = browser.cookie.value;
    for (const i of [3, Math.floor(value.length / 2), value.length - 1]) {
      const tampered = `${value.slice(0, i)}${value[i] === 'A' ? 'B' : 'A'}${value.slice(i + 1)}`;
      const result = await returnToBroker(stack, callback, `${CONSENT_COOKIE_NAME}=${tampered}`);
      expect(result.status).toBe(400);
      expect(stack.audits.at(-1)).toMatchObject({ reason: 'cookie_invalid' });
    }
    expect(tokenCalls()).toBe(before);
  });

  it('requirement 24: an expired cookie → 400 and zero token-endpoint calls', async () => {
    const browser = await openLink(stack);
    const callback = await consentAtSuperOffice(browser.authorizeUrl, 6);
    // Re-seal the same transaction with an expiry in the past, with the vault's key (as an old cookie would be).
    const keys = deriveConsentKeys(Buffer.from(stack.stateCookieKey, 'base64'));
    const decoded = decodeTransaction(keys.cookie, browser.cookie.value, Math.floor(Date.now() / 1000));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    const expired = encodeTransaction(keys.cookie, { ...decoded.transaction, expiresAt: Math.floor(Date.now() / 1000) - 1 });
    const before = tokenCalls();
    const result = await returnToBroker(stack, callback, `${CONSENT_COOKIE_NAME}=${expired}`);
    expect(result.status).toBe(400);
    expect(stack.audits.at(-1)).toMatchObject({ reason: 'cookie_expired' });
    expect(tokenCalls()).toBe(before);
  });

  it('requirement 24: a state that differs from the cookie\'s → 400 and zero token-endpoint calls', async () => {
    const first = await openLink(stack);
    const second = await openLink(stack);
    const callback = await consentAtSuperOffice(first.authorizeUrl, 6);
    const before = tokenCalls();
    // The browser holds the second flow's cookie: an attacker's callback URL (login CSRF) does not match it.
    const result = await returnToBroker(stack, callback, second.cookieHeader);
    expect(result.status).toBe(400);
    expect(stack.audits.at(-1)).toMatchObject({ reason: 'state_mismatch' });
    expect(tokenCalls()).toBe(before);
  });

  it('requirement 36: the user denies at SuperOffice → 400 page, nothing reflected, no token call', async () => {
    const browser = await openLink(stack);
    const callback = await consentAtSuperOffice(browser.authorizeUrl, 6, 'deny');
    expect(callback.searchParams.get('error')).toBe('access_denied');
    const before = tokenCalls();
    const result = await returnToBroker(stack, callback, browser.cookieHeader);
    expect(result.status).toBe(400);
    expect(result.body).toContain('Access was not granted');
    expect(result.body).not.toContain(callback.searchParams.get('error_description') ?? '<none>');
    expect(tokenCalls()).toBe(before);
    expect(stack.audits.at(-1)).toMatchObject({ reason: 'as_access_denied', outcome: 'deny' });
  });
});

describe('the full flow', () => {
  it('requirements 28, 32, 35, 37: mint → start → SuperOffice consent form → callback → 303 done; RT in the vault, connection in the table', async () => {
    const outboundBefore = stack.outbound.length;
    const recordsBefore = stack.simulator.counters.tokenRequests().length;
    const browser = await openLink(stack, { ctx: 'Cust12345', associateId: '6' });
    const authorize = new URL(browser.authorizeUrl);
    expect(authorize.origin).toBe(stack.simulator.url);
    expect(authorize.searchParams.get('redirect_uri')).toBe(REDIRECT_URI);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');

    const callback = await consentAtSuperOffice(browser.authorizeUrl, 6);
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT_URI);
    const before = tokenCalls();
    const result = await returnToBroker(stack, callback, browser.cookieHeader);
    expect(result.status).toBe(303);
    expect(result.headers.get('location')).toMatch(/^\/api\/consent\/done\?connected=n1\.[A-Za-z0-9_-]+$/);
    expect(result.cookies[0]).toMatchObject({ name: CONSENT_COOKIE_NAME, maxAge: 0 });
    expect(tokenCalls()).toBe(before + 1);

    const done = await callBroker(stack, consentDoneHandler, { url: result.headers.get('location')! });
    expect(done.status).toBe(200);
    expect(done.body).toContain('SuperOffice access granted');
    expect(done.body).toContain('<span id="consent-tenant">Cust12345</span>');

    // Requirement 37: the RT is in the vault under the hashed name; the connection record exists; audited with the subject.
    const name = connectionSecretName('sod', 'Cust12345', '6');
    const rt = await vaultValue(name);
    expect(rt).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    const connection = await stack.runtime.connections.get({ env: 'sod', ctx: 'Cust12345', associateId: '6' });
    expect(connection).toMatchObject({ status: 'active', isAdministrator: false, systemUserStored: false, consentedBy: expect.stringMatching(/^[0-9a-f-]+_[0-9a-f-]+$/) });
    expect(connection?.webApiUrl).toBe(`${stack.simulator.url}/Cust12345/api/`);
    const record = stack.audits.at(-2);
    expect(record).toMatchObject({ action: 'consent.callback', outcome: 'allow', httpStatus: 303, subject: { env: 'sod', ctx: 'Cust12345', associateId: '6' } });
    expect(record?.tokenFingerprints).toEqual([expect.stringMatching(/^fp1_/)]);

    // Requirement 32: secrets only in the form body; none in the URL query; no Basic auth.
    const records = stack.simulator.counters.tokenRequests().slice(recordsBefore);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ method: 'POST', contentType: 'application/x-www-form-urlencoded', queryParams: [], basicAuth: false, grantType: 'authorization_code' });
    expect([...records[0]!.bodyParams].sort()).toEqual(['client_id', 'client_secret', 'code', 'code_verifier', 'grant_type', 'redirect_uri']);
    expect(records[0]!.url).toBe('/login/common/oauth/tokens');

    // Requirement 28: redirect_uri byte-identical in the authorize request and the token request.
    const tokenPost = stack.outbound.slice(outboundBefore).find((c) => new URL(c.url).pathname === '/login/common/oauth/tokens');
    expect(new URLSearchParams(tokenPost?.body ?? '').get('redirect_uri')).toBe(authorize.searchParams.get('redirect_uri'));
    expect(new URL(tokenPost!.url).search).toBe('');
    await collectCanaries(callback, name);
  });

  it('requirement 25: replaying the callback URL with the kept cookie is 400 with no further token call', async () => {
    const browser = await openLink(stack);
    const callback = await consentAtSuperOffice(browser.authorizeUrl, 7);
    expect((await returnToBroker(stack, callback, browser.cookieHeader)).status).toBe(303);
    const after = tokenCalls();
    const replay = await returnToBroker(stack, callback, browser.cookieHeader);
    expect(replay.status).toBe(400);
    expect(stack.audits.at(-1)).toMatchObject({ reason: 'state_reused' });
    expect(tokenCalls()).toBe(after);
    await collectCanaries(callback, connectionSecretName('sod', 'Cust12345', '7'));
  });

  it('a link for one user refuses a consent by another user and stores nothing', async () => {
    const browser = await openLink(stack, { ctx: 'Cust54321', associateId: '6' });
    const callback = await consentAtSuperOffice(browser.authorizeUrl, 5);
    const names = [connectionSecretName('sod', 'Cust54321', '5'), connectionSecretName('sod', 'Cust54321', '6'), systemUserSecretName('sod', 'Cust54321')];
    const writesBefore = names.map(setSecretRequests);
    const result = await returnToBroker(stack, callback, browser.cookieHeader);
    expect(result.status).toBe(403);
    expect(result.body).toContain('Signed in as a different user');
    expect(names.map(setSecretRequests)).toEqual(writesBefore);
    for (const name of names) expect(await vaultValue(name)).toBeUndefined();
    expect(await stack.runtime.connections.get({ env: 'sod', ctx: 'Cust54321', associateId: '5' })).toBeUndefined();
    expect(stack.audits.at(-1)).toMatchObject({ reason: 'user_mismatch', outcome: 'deny', subject: { ctx: 'Cust54321', associateId: '5' } });
    await collectCanaries(callback);
  });

  it('an administrator\'s consent also stores the tenant\'s system-user token; a normal user\'s does not', async () => {
    const sutName = systemUserSecretName('sod', 'Cust54321');
    const normal = await openLink(stack, { ctx: 'Cust54321' });
    const normalCallback = await consentAtSuperOffice(normal.authorizeUrl, 6);
    expect((await returnToBroker(stack, normalCallback, normal.cookieHeader)).status).toBe(303);
    expect(setSecretRequests(sutName)).toBe(0);
    expect(await vaultValue(sutName)).toBeUndefined();
    expect(await stack.runtime.connections.get({ env: 'sod', ctx: 'Cust54321', associateId: '6' })).toMatchObject({ systemUserStored: false });

    const admin = await openLink(stack, { ctx: 'Cust54321' });
    const adminCallback = await consentAtSuperOffice(admin.authorizeUrl, 5);
    expect((await returnToBroker(stack, adminCallback, admin.cookieHeader)).status).toBe(303);
    const expected = stack.simulator.control.systemUserToken('Cust54321', DEMO_APP.clientId);
    expect(expected).toBeDefined();
    expect(await vaultValue(sutName)).toBe(expected);
    expect(await stack.runtime.connections.get({ env: 'sod', ctx: 'Cust54321', associateId: '5' })).toMatchObject({ isAdministrator: true, systemUserStored: true });
    expect(stack.audits.at(-1)).toMatchObject({ flags: ['administrator', 'system_user_stored'] });
    if (expected) canaries.add(expected);
    await collectCanaries(normalCallback, connectionSecretName('sod', 'Cust54321', '6'));
    await collectCanaries(adminCallback, connectionSecretName('sod', 'Cust54321', '5'));
  });

  it('requirement 33: a connection refused before sending is retried; the code is exchanged once', async () => {
    const browser = await openLink(stack);
    const callback = await consentAtSuperOffice(browser.authorizeUrl, 5);
    const before = tokenCalls();
    stack.failTokenPreSend = 2;
    const result = await returnToBroker(stack, callback, browser.cookieHeader);
    expect(result.status).toBe(303);
    expect(stack.failTokenPreSend).toBe(0);
    expect(tokenCalls()).toBe(before + 1);
    await collectCanaries(callback, connectionSecretName('sod', 'Cust12345', '5'));
  });

  it('requirement 33: a connection reset after sending is not retried: 503 page, one call, nothing stored', async () => {
    const browser = await openLink(stack, { ctx: 'Cust12345', associateId: '8' });
    const callback = await consentAtSuperOffice(browser.authorizeUrl, 8);
    const before = tokenCalls();
    stack.simulator.control.setFault('tokens', { kind: 'reset', times: 1 });
    const result = await returnToBroker(stack, callback, browser.cookieHeader);
    expect(result.status).toBe(503);
    expect(result.body).toContain('temporarily unavailable');
    expect(tokenCalls()).toBe(before + 1);
    expect(await vaultValue(connectionSecretName('sod', 'Cust12345', '8'))).toBeUndefined();
    expect(stack.audits.at(-1)).toMatchObject({ outcome: 'error', reason: 'token_upstream_unavailable', httpStatus: 503 });
    await collectCanaries(callback);
  });

  it('requirement 28: spoofed Host / X-Forwarded-Host change neither the authorize redirect_uri nor the link origin', async () => {
    const link = JSON.parse((await mintLink(stack, { ctx: 'Cust12345' })).body) as { url: string };
    const start = await callBroker(stack, consentStartHandler, {
      url: link.url,
      headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', forwarded: 'host=evil.example' },
    });
    expect(start.status).toBe(303);
    expect(new URL(start.headers.get('location')!).searchParams.get('redirect_uri')).toBe(REDIRECT_URI);
    expect(new URL(link.url).origin).toBe(BROKER_ORIGIN);
  });
});

describe('requirements 38 and 69: canary scan (runs last)', () => {
  it('no RT, code, verifier, client secret or system token in any response body, header, cookie or Location, nor in outbound URLs', () => {
    expect(canaries.size).toBeGreaterThan(8);
    const forms = (value: string): string[] => [value, encodeURIComponent(value), Buffer.from(value).toString('base64'), Buffer.from(value).toString('base64url'), JSON.stringify(value).slice(1, -1)];
    const leaks: string[] = [];
    for (const response of stack.responses) {
      const text = [response.body, ...[...response.headers].map(([k, v]) => `${k}: ${v}`), JSON.stringify(response.cookies)].join('\n');
      for (const canary of canaries) for (const form of forms(canary)) if (form.length >= 8 && text.includes(form)) leaks.push(`response ${response.status}: ${canary.slice(0, 6)}…`);
    }
    for (const call of stack.outbound) {
      for (const canary of canaries) if (call.url.includes(canary) || call.url.includes(encodeURIComponent(canary))) leaks.push(`outbound URL ${new URL(call.url).pathname}`);
    }
    const audit = JSON.stringify(stack.audits);
    for (const canary of canaries) if (audit.includes(canary)) leaks.push(`audit: ${canary.slice(0, 6)}…`);
    expect(leaks).toEqual([]);
    expect(stack.responses.length).toBeGreaterThan(20);
  });
});
