import { describe, expect, it } from 'vitest';
import { CONSENT_DONE_PATH, type CallbackOutcome } from '../../../shared/connections/consent/consentService.js';
import { deriveConsentKeys } from '../../../shared/connections/consent/sealed.js';
import { decodeTicket, encodeTicket, newTicket } from '../../../shared/connections/consent/ticket.js';
import { CONSENT_COOKIE_NAME, encodeTransaction } from '../../../shared/connections/consent/transactionCookie.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { CallerDeniedError } from '../../../shared/identity/denial.js';
import { connectionSecretName, systemUserSecretName } from '../../../shared/secrets/names.js';
import { CLAIM, safeEqual } from '../../../shared/superoffice/idToken.js';
import { UpstreamTransportError } from '../../../shared/superoffice/upstream.js';
import { ADMIN_CALLER, BASE_URL, CLIENT_ID, STATE_COOKIE_KEY, consentHarness, jsonResponse, type ConsentHarness } from './support.js';

/** ConsentService with memory stores and a fake SuperOffice authorization server. Negative cases first. */

const keys = deriveConsentKeys(Buffer.from(STATE_COOKIE_KEY, 'base64'));
const NORA = { associateId: '6', isAdministrator: false } as const;
const ADA = { associateId: '5', isAdministrator: true } as const;

function failed(outcome: CallbackOutcome | { kind: string }): { reason: string; status: number; page: string } {
  expect(outcome.kind).toBe('failure');
  return outcome as unknown as { reason: string; status: number; page: string };
}

async function nothingStored(h: ConsentHarness): Promise<void> {
  expect(h.secretWrites()).toBe(0);
  expect(h.connections.saved).toHaveLength(0);
}

describe('createLink (POST /api/consent-links)', () => {
  it('requirement 16: refuses a tenant the caller is not granted, with 403 forbidden', async () => {
    const h = await consentHarness();
    const error = await h.service.createLink(ADMIN_CALLER, { ctx: 'Cust99999' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallerDeniedError);
    expect((error as CallerDeniedError).status).toBe(403);
    expect((error as CallerDeniedError).reason).toBe('tenant_not_granted');
  });

  it('requirement 16: refuses a user the caller is not granted (Cust54321 grants only user 5)', async () => {
    const h = await consentHarness();
    const error = await h.service.createLink(ADMIN_CALLER, { ctx: 'Cust54321', associateId: '6' }).catch((e: unknown) => e);
    expect((error as CallerDeniedError).reason).toBe('user_not_granted');
    // A tenant-wide link (any user) needs "*" on that tenant.
    const wide = await h.service.createLink(ADMIN_CALLER, { ctx: 'Cust54321' }).catch((e: unknown) => e);
    expect((wide as CallerDeniedError).reason).toBe('tenant_scope_not_granted');
  });

  it('refuses a caller that is not in the policy', async () => {
    const h = await consentHarness();
    const stranger = { ...ADMIN_CALLER, oid: '99999999-9999-4999-8999-999999999999' };
    const error = await h.service.createLink(stranger, { ctx: 'Cust12345' }).catch((e: unknown) => e);
    expect((error as CallerDeniedError).reason).toBe('caller_not_in_policy');
  });

  it('requirement 29: refuses an unsafe returnTo with 400 validation_failed', async () => {
    const h = await consentHarness();
    for (const returnTo of ['https://evil.example/', '//evil.example', '/\\evil.example', 'javascript:alert(1)', '/%2f%2fevil.example', '/a\r\nSet-Cookie: x=1']) {
      const error = await h.service.createLink(ADMIN_CALLER, { ctx: 'Cust12345', returnTo }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BrokerError);
      expect((error as BrokerError).code).toBe('validation_failed');
    }
  });

  it('requirement 27: mints a ticket valid for 10 minutes, on the redirect URI origin', async () => {
    const h = await consentHarness();
    const link = await h.service.createLink(ADMIN_CALLER, { ctx: 'Cust12345', associateId: '6', returnTo: '/portal/connections' });
    const url = new URL(link.url);
    expect(url.origin).toBe(new URL(h.config.superOffice.redirectUri).origin);
    expect(url.pathname).toBe('/api/consent/start');
    expect([...url.searchParams.keys()]).toEqual(['ticket']);
    expect(Date.parse(link.expiresAt) - h.clock.now()).toBe(600_000);
    const decoded = decodeTicket(keys.ticket, url.searchParams.get('ticket'), Math.floor(h.clock.now() / 1000));
    expect(decoded.ok).toBe(true);
    if (decoded.ok) {
      expect(decoded.ticket).toMatchObject({ env: 'sod', ctx: 'Cust12345', associateId: '6', returnTo: '/portal/connections', callerId: `${ADMIN_CALLER.tid}_${ADMIN_CALLER.oid}` });
      expect(decoded.ticket.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    expect(link.subject).toEqual({ env: 'sod', ctx: 'Cust12345', associateId: '6' });
  });
});

describe('start (GET /api/consent/start)', () => {
  it('requirement 27: refuses a missing, malformed, tampered or expired ticket', async () => {
    const h = await consentHarness();
    const link = await h.service.createLink(ADMIN_CALLER, { ctx: 'Cust12345' });
    const ticket = new URL(link.url).searchParams.get('ticket')!;
    expect(failed(await h.service.start(null)).reason).toBe('ticket_missing');
    expect(failed(await h.service.start('garbage')).reason).toBe('ticket_malformed');
    const i = ticket.length - 10;
    const tampered = `${ticket.slice(0, i)}${ticket[i] === 'A' ? 'B' : 'A'}${ticket.slice(i + 1)}`;
    expect(failed(await h.service.start(tampered)).reason).toBe('ticket_invalid');
    h.clock.advance(600_000);
    const expired = failed(await h.service.start(ticket));
    expect(expired).toMatchObject({ reason: 'ticket_expired', status: 400, page: 'link_invalid' });
    expect(h.redemptions.redeemed.size).toBe(0);
  });

  it('requirement 27: a ticket is redeemed once; the second use is 400 ticket_reused', async () => {
    const h = await consentHarness();
    const link = await h.service.createLink(ADMIN_CALLER, { ctx: 'Cust12345' });
    const ticket = new URL(link.url).searchParams.get('ticket')!;
    expect((await h.service.start(ticket)).kind).toBe('redirect');
    const second = failed(await h.service.start(ticket));
    expect(second).toMatchObject({ reason: 'ticket_reused', status: 400, page: 'link_used' });
  });

  it('refuses a ticket sealed for another SuperOffice environment', async () => {
    const h = await consentHarness();
    const ticket = encodeTicket(keys.ticket, newTicket({ env: 'online', ctx: 'Cust12345', callerId: 'x_y' }, Math.floor(h.clock.now() / 1000)));
    expect(failed(await h.service.start(ticket)).reason).toBe('ticket_invalid');
  });

  it('refuses a ticket sealed with another key', async () => {
    const h = await consentHarness();
    const other = deriveConsentKeys(Buffer.alloc(32, 7));
    const ticket = encodeTicket(other.ticket, newTicket({ env: 'sod', ctx: 'Cust12345', callerId: 'x_y' }, Math.floor(h.clock.now() / 1000)));
    expect(failed(await h.service.start(ticket)).reason).toBe('ticket_invalid');
  });

  it('requirements 21 and 28: redirects to the authorize endpoint with S256 PKCE, state, nonce, acr_values and the configured redirect_uri', async () => {
    const h = await consentHarness();
    const { authorizeUrl } = await h.begin({ ctx: 'Cust12345' });
    const url = new URL(authorizeUrl);
    expect(`${url.origin}${url.pathname}`).toBe(`${BASE_URL}/login/common/oauth/authorize`);
    const q = url.searchParams;
    expect(q.get('client_id')).toBe(CLIENT_ID);
    expect(q.get('response_type')).toBe('code');
    expect(q.get('scope')).toBe('openid');
    expect(q.get('redirect_uri')).toBe(h.config.superOffice.redirectUri);
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('acr_values')).toBe('tenant:Cust12345');
  });
});

describe('callback (GET /api/consent/callback)', () => {
  it('requirement 24: no cookie → 400 with zero token-endpoint calls', async () => {
    const h = await consentHarness();
    const { authorizeUrl } = await h.begin();
    const query = h.superOffice.approve(authorizeUrl, NORA);
    expect(failed(await h.service.callback(query, null))).toMatchObject({ reason: 'cookie_missing', status: 400 });
    expect(failed(await h.service.callback(query, 'other=1'))).toMatchObject({ reason: 'cookie_missing', status: 400 });
    expect(h.superOffice.tokenCalls).toHaveLength(0);
    await nothingStored(h);
  });

  it('requirement 24: an expired cookie → 400 with zero token-endpoint calls', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin();
    const query = h.superOffice.approve(authorizeUrl, NORA);
    h.clock.advance(600_000);
    expect(failed(await h.service.callback(query, cookieHeader))).toMatchObject({ reason: 'cookie_expired', status: 400 });
    expect(h.superOffice.tokenCalls).toHaveLength(0);
  });

  it('requirement 24: a tampered cookie → 400 with zero token-endpoint calls (every position)', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin();
    const query = h.superOffice.approve(authorizeUrl, NORA);
    const value = cookieHeader.slice(CONSENT_COOKIE_NAME.length + 1);
    for (let i = 0; i < value.length; i += 7) {
      const flipped = `${value.slice(0, i)}${value[i] === 'x' ? 'y' : 'x'}${value.slice(i + 1)}`;
      const outcome = failed(await h.service.callback(query, `${CONSENT_COOKIE_NAME}=${flipped}`));
      expect(outcome.status).toBe(400);
      expect(['cookie_invalid']).toContain(outcome.reason);
    }
    expect(h.superOffice.tokenCalls).toHaveLength(0);
    await nothingStored(h);
  });

  it('requirements 24 and 26: a state that differs from the cookie (other value, other length, missing) → 400, zero token calls, no throw', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin();
    const query = h.superOffice.approve(authorizeUrl, NORA);
    const code = query.get('code')!;
    const state = query.get('state')!;
    const flipped = `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`;
    for (const other of [flipped, 'x', `${state}x`, '']) {
      const outcome = failed(await h.service.callback(new URLSearchParams({ code, state: other }), cookieHeader));
      expect(['state_mismatch', 'state_missing']).toContain(outcome.reason);
      expect(outcome.status).toBe(400);
    }
    expect(failed(await h.service.callback(new URLSearchParams({ code }), cookieHeader)).reason).toBe('state_missing');
    expect(h.superOffice.tokenCalls).toHaveLength(0);
    expect(safeEqual('x', state)).toBe(false);
  });

  it('refuses repeated code or state parameters (parameter pollution) before anything else', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin();
    const query = h.superOffice.approve(authorizeUrl, NORA);
    query.append('state', 'attacker');
    expect(failed(await h.service.callback(query, cookieHeader)).reason).toBe('callback_invalid');
    expect(h.superOffice.tokenCalls).toHaveLength(0);
  });

  it('requirement 31: a callback whose iss (RFC 9207) or stored issuer differs from the configured issuer is refused without a token call', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin();
    const query = h.superOffice.approve(authorizeUrl, NORA);
    query.set('iss', 'https://online.superoffice.com');
    expect(failed(await h.service.callback(query, cookieHeader)).reason).toBe('issuer_mismatch');

    const now = Math.floor(h.clock.now() / 1000);
    const foreign = encodeTransaction(keys.cookie, {
      state: 's'.repeat(43), nonce: 'n'.repeat(43), codeVerifier: 'v'.repeat(43), env: 'sod', issuer: 'https://evil.example',
      ctx: 'Cust12345', associateId: undefined, returnTo: undefined, ticketId: 't'.repeat(43), callerId: 'x_y', expiresAt: now + 300,
    });
    const result = failed(await h.service.callback(new URLSearchParams({ code: 'c', state: 's'.repeat(43) }), `${CONSENT_COOKIE_NAME}=${foreign}`));
    expect(result.reason).toBe('issuer_mismatch');
    expect(h.superOffice.tokenCalls).toHaveLength(0);
  });

  it('requirement 25: a replayed callback (cookie kept) is 400 with no further token call', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin();
    const query = h.superOffice.approve(authorizeUrl, NORA);
    expect((await h.service.callback(query, cookieHeader)).kind).toBe('done');
    expect(h.superOffice.tokenCalls).toHaveLength(1);
    const replay = failed(await h.service.callback(query, cookieHeader));
    expect(replay).toMatchObject({ reason: 'state_reused', status: 400 });
    expect(h.superOffice.tokenCalls).toHaveLength(1);
  });

  it('requirement 36: an AS error is a fixed page and reason, never the AS text; the state is spent', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin();
    const state = new URL(authorizeUrl).searchParams.get('state')!;
    const denied = failed(await h.service.callback(new URLSearchParams({ error: 'access_denied', error_description: '<script>x</script>', state }), cookieHeader));
    expect(denied).toMatchObject({ reason: 'as_access_denied', page: 'denied', status: 400 });
    expect(JSON.stringify(denied)).not.toContain('script');
    const again = failed(await h.service.callback(new URLSearchParams({ error: 'server_error', state }), cookieHeader));
    expect(again.reason).toBe('state_reused');
    expect(h.superOffice.tokenCalls).toHaveLength(0);
  });

  it('an unknown AS error code is reported as as_error', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin();
    const state = new URL(authorizeUrl).searchParams.get('state')!;
    expect(failed(await h.service.callback(new URLSearchParams({ error: '"><img src=x>', state }), cookieHeader))).toMatchObject({ reason: 'as_error', page: 'authorization_error' });
  });

  it('a callback without code is 400 code_missing and spends the state', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin();
    const state = new URL(authorizeUrl).searchParams.get('state')!;
    expect(failed(await h.service.callback(new URLSearchParams({ state }), cookieHeader)).reason).toBe('code_missing');
    expect(h.superOffice.tokenCalls).toHaveLength(0);
  });

  it('requirement 33: a pre-send connection failure is retried; the exchange still happens once', async () => {
    const h = await consentHarness();
    h.superOffice.behaviour = (_grant, call) => {
      if (call <= 2) throw new UpstreamTransportError('upstream_unavailable', { method: 'POST', host: 'h', path: '/p' }, false, new Error('ECONNREFUSED'));
      return undefined;
    };
    const { authorizeUrl, cookieHeader } = await h.begin();
    const outcome = await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader);
    expect(outcome.kind).toBe('done');
    expect(h.superOffice.tokenCalls).toHaveLength(3);
  });

  it('requirement 33: a failure after the request was sent is never retried (503 page, nothing stored)', async () => {
    const h = await consentHarness();
    h.superOffice.behaviour = () => {
      throw new UpstreamTransportError('upstream_unavailable', { method: 'POST', host: 'h', path: '/p' }, true, new Error('ECONNRESET'));
    };
    const { authorizeUrl, cookieHeader } = await h.begin();
    const outcome = failed(await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader));
    expect(outcome).toMatchObject({ status: 503, reason: 'token_upstream_unavailable', page: 'unavailable' });
    expect(h.superOffice.tokenCalls).toHaveLength(1);
    await nothingStored(h);
  });

  it('requirement 33: a timeout is never retried', async () => {
    const h = await consentHarness();
    h.superOffice.behaviour = () => {
      throw new UpstreamTransportError('upstream_timeout', { method: 'POST', host: 'h', path: '/p' }, true, new Error('timeout'));
    };
    const { authorizeUrl, cookieHeader } = await h.begin();
    expect(failed(await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader))).toMatchObject({ status: 504, reason: 'token_upstream_timeout' });
    expect(h.superOffice.tokenCalls).toHaveLength(1);
  });

  it('requirement 33: pre-send failures stop after the attempt cap', async () => {
    const h = await consentHarness();
    h.superOffice.behaviour = () => {
      throw new UpstreamTransportError('upstream_unavailable', { method: 'POST', host: 'h', path: '/p' }, false, new Error('ECONNREFUSED'));
    };
    const { authorizeUrl, cookieHeader } = await h.begin();
    expect(failed(await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader)).status).toBe(503);
    expect(h.superOffice.tokenCalls).toHaveLength(3);
  });

  it('maps token-endpoint refusals: invalid_grant → 400, invalid_client → 502, 503 → 503; nothing stored', async () => {
    const cases: [number, unknown, number, string][] = [
      [400, { error: 'invalid_grant' }, 400, 'token_invalid_grant'],
      [401, { error: 'invalid_client' }, 502, 'token_invalid_client'],
      [503, {}, 503, 'token_transient'],
      [200, { access_token: '' }, 502, 'token_malformed'],
      [200, { access_token: 'a', expires_in: 3600, refresh_token: 'canary-rt' }, 502, 'id_token_missing'],
    ];
    for (const [status, body, expected, reason] of cases) {
      const h = await consentHarness();
      h.superOffice.behaviour = () => jsonResponse(status, body);
      const { authorizeUrl, cookieHeader } = await h.begin();
      const outcome = failed(await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader));
      expect(outcome).toMatchObject({ status: expected, reason });
      await nothingStored(h);
    }
  });

  it('requirement 30: an id_token with another nonce is refused and nothing is stored', async () => {
    const h = await consentHarness();
    h.superOffice.idTokenOverrides = { nonce: 'another-nonce' };
    const { authorizeUrl, cookieHeader } = await h.begin();
    const outcome = failed(await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader));
    expect(outcome).toMatchObject({ status: 400, reason: 'id_token_nonce_mismatch', page: 'not_verified' });
    await nothingStored(h);
  });

  it('requirement 30: an id_token from another issuer, for another audience or another tenant is refused', async () => {
    for (const [override, reason] of [
      [{ iss: 'https://online.superoffice.com' }, 'id_token_issuer_mismatch'],
      [{ aud: 'someone-else' }, 'id_token_audience_mismatch'],
      [{ [`${CLAIM}ctx`]: 'Cust54321' }, 'id_token_ctx_unexpected'],
      [{ exp: undefined }, 'id_token_exp_missing'],
    ] as const) {
      const h = await consentHarness();
      h.superOffice.idTokenOverrides = { ...override };
      const { authorizeUrl, cookieHeader } = await h.begin();
      expect(failed(await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader)).reason).toBe(reason);
      await nothingStored(h);
    }
  });

  it('requirement 17: an id_token whose webapi_url is outside the allow-list is refused and nothing is stored', async () => {
    const h = await consentHarness();
    h.superOffice.idTokenOverrides = { [`${CLAIM}webapi_url`]: 'https://evil.example/Cust12345/api/' };
    const { authorizeUrl, cookieHeader } = await h.begin();
    expect(failed(await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader)).reason).toBe('id_token_webapi_url_not_allowed');
    await nothingStored(h);
  });

  it('refuses another user than the one the link names, and stores nothing', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin({ associateId: '6' });
    const outcome = failed(await h.service.callback(h.superOffice.approve(authorizeUrl, ADA), cookieHeader));
    expect(outcome).toMatchObject({ status: 403, reason: 'user_mismatch', page: 'user_mismatch' });
    await nothingStored(h);
  });

  it('requirement 37: a normal user: the RT is stored under the hashed name, no system token, the connection is saved', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin({ associateId: '6' });
    const outcome = await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader);
    expect(outcome).toMatchObject({ kind: 'done', subject: { env: 'sod', ctx: 'Cust12345', associateId: '6' }, systemUserStored: false });
    // The done page learns who was connected from a sealed notice only the service can open.
    const location = new URL(outcome.kind === 'done' ? outcome.location : '', 'http://broker');
    expect(location.pathname).toBe(CONSENT_DONE_PATH);
    expect([...location.searchParams.keys()]).toEqual(['connected']);
    expect(location.searchParams.get('connected')).not.toMatch(/Cust12345/);
    expect(await h.service.connected(location.searchParams)).toEqual({ ctx: 'Cust12345', associateId: '6' });
    const name = connectionSecretName('sod', 'Cust12345', '6');
    expect(name).toMatch(/^so-rt-[0-9a-f]{64}$/);
    expect((await h.secrets.get(name)).value.reveal()).toBe(h.superOffice.issuedRefreshTokens[0]);
    await expect(h.secrets.get(systemUserSecretName('sod', 'Cust12345'))).rejects.toMatchObject({ code: 'secret_not_found' });
    expect(h.secretWrites()).toBe(1);
    expect(h.connections.saved).toEqual([
      expect.objectContaining({ env: 'sod', ctx: 'Cust12345', associateId: '6', isAdministrator: false, systemUserStored: false, consentedBy: `${ADMIN_CALLER.tid}_${ADMIN_CALLER.oid}`, webApiUrl: `${BASE_URL}/Cust12345/api/` }),
    ]);
    // Requirement 59: the audit gets the RT's fingerprint, never the RT.
    expect(outcome.kind === 'done' && outcome.tokenFingerprints).toEqual([expect.stringMatching(/^fp1_[A-Za-z0-9_-]{43}$/)]);
    // Requirement 38: the outcome handed to the HTTP layer carries no token.
    const text = JSON.stringify(outcome);
    for (const secret of [...h.superOffice.issuedRefreshTokens, 'canary-code', 'canary-client-secret']) expect(text).not.toContain(secret);
    // The client secret reached the token endpoint only through the grant call.
    expect(h.superOffice.clientSecretsSeen).toEqual(['canary-client-secret-7f3a9c']);
  });

  it('an administrator\'s consent also stores the system-user token', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin();
    const outcome = await h.service.callback(h.superOffice.approve(authorizeUrl, ADA), cookieHeader);
    expect(outcome).toMatchObject({ kind: 'done', isAdministrator: true, systemUserStored: true, subject: { associateId: '5' } });
    expect((await h.secrets.get(systemUserSecretName('sod', 'Cust12345'))).value.reveal()).toBe('canary-system-token-Cust12345');
    expect(h.connections.saved[0]).toMatchObject({ isAdministrator: true, systemUserStored: true });
  });

  it('a second consent writes a new secret version (never delete-then-recreate)', async () => {
    const h = await consentHarness();
    for (let i = 0; i < 2; i++) {
      const { authorizeUrl, cookieHeader } = await h.begin();
      expect((await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader)).kind).toBe('done');
    }
    const versions = h.secrets.versions(connectionSecretName('sod', 'Cust12345', '6'));
    expect(versions).toHaveLength(2);
    expect(versions.every((v) => v.enabled)).toBe(true);
  });

  it('requirements 29 and 35: ends at the link\'s returnTo or the done page; never with code or state', async () => {
    const h = await consentHarness();
    const { authorizeUrl, cookieHeader } = await h.begin({ returnTo: '/portal/connections?tab=superoffice' });
    const outcome = await h.service.callback(h.superOffice.approve(authorizeUrl, NORA), cookieHeader);
    expect(outcome).toMatchObject({ kind: 'done', location: '/portal/connections?tab=superoffice' });
    const plain = await consentHarness();
    const started = await plain.begin();
    const done = await plain.service.callback(plain.superOffice.approve(started.authorizeUrl, NORA), started.cookieHeader);
    expect(done).toMatchObject({ kind: 'done', location: expect.stringMatching(/^\/api\/consent\/done\?connected=n1\.[A-Za-z0-9_-]+$/) });
    for (const o of [outcome, done]) {
      if (o.kind === 'done') {
        expect(o.location).not.toMatch(/code|state/);
        expect(o.location.startsWith('/') && !o.location.startsWith('//')).toBe(true);
      }
    }
  });
});
