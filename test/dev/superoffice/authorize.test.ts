/**
 * docs/superoffice.md §8: "/login/common/oauth/authorize (code, state, PKCE S256/plain, acr_values tenant)".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { DEMO_APP, DEMO_REDIRECT_URI } from '../../../dev/superoffice/seed.js';
import { authorizeUrl, consent, pkce, postForm, requestIdOf } from './helpers.js';

let sim: SuperOfficeSimulator;
let now = Date.UTC(2025, 0, 15, 12, 0, 0);

beforeAll(async () => {
  sim = await startSuperOfficeSimulator({ clock: () => now });
});
afterAll(async () => {
  await sim.close();
});

async function get(url: string): Promise<Response> {
  return fetch(url, { redirect: 'manual' });
}

function errorOf(res: Response): URL {
  const location = res.headers.get('location');
  expect(res.status).toBe(302);
  expect(location).not.toBeNull();
  return new URL(location ?? '');
}

describe('§8 authorize: errors that must never redirect', () => {
  it('shows "Authorization error: InvalidRedirectUrl (2)" for an unregistered redirect_uri, without redirecting', async () => {
    const res = await get(authorizeUrl(sim, { redirectUri: 'http://127.0.0.1:7071/api/consent/callback/evil' }));
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toContain('Authorization error: InvalidRedirectUrl (2)');
  });

  it('requires an exact match: a trailing slash or different case is a mismatch too', async () => {
    for (const uri of [`${DEMO_REDIRECT_URI}/`, DEMO_REDIRECT_URI.toUpperCase(), 'http://localhost:7071/api/consent/callback']) {
      const res = await get(authorizeUrl(sim, { redirectUri: uri }));
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
  });

  it('shows an error page for an unknown client_id', async () => {
    const res = await get(authorizeUrl(sim, { clientId: 'nope' }));
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('Authorization error');
  });
});

describe('§8 authorize: errors redirected to the client with state', () => {
  it('rejects response_type other than code (unsupported_response_type)', async () => {
    const u = new URL(authorizeUrl(sim, { state: 'st1' }));
    u.searchParams.set('response_type', 'token');
    const loc = errorOf(await get(u.toString()));
    expect(loc.searchParams.get('error')).toBe('unsupported_response_type');
    expect(loc.searchParams.get('state')).toBe('st1');
  });

  it('rejects a scope without openid (invalid_scope)', async () => {
    const u = new URL(authorizeUrl(sim, { state: 'st2' }));
    u.searchParams.set('scope', 'profile');
    const loc = errorOf(await get(u.toString()));
    expect(loc.searchParams.get('error')).toBe('invalid_scope');
    expect(loc.searchParams.get('state')).toBe('st2');
  });

  it('rejects an unknown code_challenge_method and a method without a challenge', async () => {
    const { challenge } = pkce();
    let loc = errorOf(await get(authorizeUrl(sim, { challenge, method: 'S512', state: 'x' })));
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    loc = errorOf(await get(authorizeUrl(sim, { method: 'S256', state: 'x' })));
    expect(loc.searchParams.get('error')).toBe('invalid_request');
  });

  it('rejects malformed challenges (S256 must be 43 base64url chars; plain 43-128 unreserved chars)', async () => {
    let loc = errorOf(await get(authorizeUrl(sim, { challenge: 'short', method: 'S256' })));
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    loc = errorOf(await get(authorizeUrl(sim, { challenge: 'has spaces '.repeat(5) })));
    expect(loc.searchParams.get('error')).toBe('invalid_request');
  });

  it('rejects an unknown tenant in acr_values', async () => {
    const loc = errorOf(await get(authorizeUrl(sim, { tenant: 'Cust00000', state: 'q' })));
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('state')).toBe('q');
  });

  it('answers temporarily_unavailable for a tenant that is not running', async () => {
    sim.control.setTenantState('Cust54321', 'OfflineMaintenance');
    try {
      const loc = errorOf(await get(authorizeUrl(sim, { tenant: 'Cust54321' })));
      expect(loc.searchParams.get('error')).toBe('temporarily_unavailable');
    } finally {
      sim.control.setTenantState('Cust54321', 'Running');
    }
  });

  it('rejects repeated parameters', async () => {
    const u = authorizeUrl(sim, { state: 'a' }) + '&state=b';
    const loc = errorOf(await get(u));
    expect(loc.searchParams.get('error')).toBe('invalid_request');
  });

  it('Deny redirects with error=access_denied and the state', async () => {
    const loc = await consent(sim, { associateId: 6, tenant: 'Cust12345', state: 'deny-state', decision: 'deny' });
    expect(loc.origin + loc.pathname).toBe(DEMO_REDIRECT_URI);
    expect(loc.searchParams.get('error')).toBe('access_denied');
    expect(loc.searchParams.get('state')).toBe('deny-state');
    expect(loc.searchParams.get('code')).toBeNull();
  });
});

describe('§8 authorize: the login page', () => {
  it('refuses a decision for an unknown, used or expired request id (no redirect)', async () => {
    const res = await postForm(`${sim.url}/login/common/oauth/authorize/decision`, {
      request_id: 'forged',
      decision: 'approve',
      associate_id: '5',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();

    const page = await (await get(authorizeUrl(sim, { tenant: 'Cust12345' }))).text();
    const id = requestIdOf(page);
    now += 11 * 60_000;
    const late = await postForm(`${sim.url}/login/common/oauth/authorize/decision`, { request_id: id, decision: 'approve', associate_id: '5' });
    expect(late.status).toBe(400);
  });

  it('re-renders the page (400) when Approve is pressed without choosing a valid user', async () => {
    const page = await (await get(authorizeUrl(sim, { tenant: 'Cust12345' }))).text();
    const id = requestIdOf(page);
    const res = await postForm(`${sim.url}/login/common/oauth/authorize/decision`, { request_id: id, decision: 'approve', associate_id: '999' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('id="login-error"');
    // The request is still usable afterwards.
    const ok = await postForm(`${sim.url}/login/common/oauth/authorize/decision`, { request_id: id, decision: 'approve', associate_id: '6' });
    expect(ok.status).toBe(302);
  });

  it('rejects a decision that is not a form post (415)', async () => {
    const res = await fetch(`${sim.url}/login/common/oauth/authorize/decision`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(415);
  });

  it('escapes reflected input and sets strict security headers', async () => {
    const res = await get(authorizeUrl(sim, { tenant: 'Cust12345', extra: { login_hint: '"><script>alert(1)</script>' } }));
    const html = await res.text();
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('shows the tenant picker without acr_values, then the users of the chosen tenant', async () => {
    const res = await get(authorizeUrl(sim));
    const html = await res.text();
    expect(html).toContain('id="tenant-form"');
    expect(html).toContain('value="Cust12345"');
    expect(html).toContain('value="Cust54321"');
    const picked = await postForm(`${sim.url}/login/common/oauth/authorize/tenant`, { request_id: requestIdOf(html), tenant: 'Cust54321' });
    const login = await picked.text();
    expect(login).toContain('id="consent-form"');
    expect(login).toContain('id="user-5"');
    expect(login).toContain('Greta Admin');
    expect(login).not.toContain('Nora Normal');
  });

  it('acr_values=tenant:CustNNNNN skips the picker; login_hint preselects the user', async () => {
    const res = await get(authorizeUrl(sim, { tenant: 'Cust12345', extra: { login_hint: 'nora.normal@nordic-demo.example' } }));
    const html = await res.text();
    expect(html).toContain('id="consent-form"');
    expect(html).toContain(DEMO_APP.name);
    expect(html).toMatch(/id="user-6" value="6" checked/);
  });

  it('Approve redirects to the exact redirect_uri with a code and the unchanged state', async () => {
    const state = 'a state/with+special=chars&more';
    const loc = await consent(sim, { associateId: 5, tenant: 'Cust12345', state });
    expect(loc.origin + loc.pathname).toBe(DEMO_REDIRECT_URI);
    expect(loc.searchParams.get('state')).toBe(state);
    expect(loc.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{40,}$/);
  });

  it('supports response_mode=fragment and response_mode=form_post', async () => {
    const frag = await consent(sim, { associateId: 5, tenant: 'Cust12345', state: 'f', extra: { response_mode: 'fragment' } });
    expect(frag.search).toBe('');
    expect(new URLSearchParams(frag.hash.slice(1)).get('state')).toBe('f');

    const page = await (await get(authorizeUrl(sim, { tenant: 'Cust12345', state: 'fp', extra: { response_mode: 'form_post' } }))).text();
    const res = await postForm(`${sim.url}/login/common/oauth/authorize/decision`, { request_id: requestIdOf(page), decision: 'approve', associate_id: '5' });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`action="${DEMO_REDIRECT_URI}"`);
    expect(html).toContain('name="state" value="fp"');
    expect(html).toMatch(/name="code" value="[A-Za-z0-9_-]+"/);
  });

  it('counts authorize calls', () => {
    expect(sim.counters.get('authorize')).toBeGreaterThan(10);
  });
});
