import { createHash, randomBytes } from 'node:crypto';
import { HttpRequest, InvocationContext, type Cookie, type HttpHandler, type HttpResponseInit } from '@azure/functions';
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { consentCallbackHandler } from '../../../functions/consentCallback.js';
import { consentDoneHandler } from '../../../functions/consentDone.js';
import { consentLinksHandler } from '../../../functions/consentLinks.js';
import { consentStartHandler } from '../../../functions/consentStart.js';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import { DONE_NOTICE_TTL_SEC, withDoneNotice } from '../../../shared/connections/consent/donePage.js';
import { deriveConsentKeys } from '../../../shared/connections/consent/sealed.js';
import { PAGE_STYLE_HASH } from '../../../shared/connections/consent/pages.js';
import { CONSENT_COOKIE_NAME } from '../../../shared/connections/consent/transactionCookie.js';
import { createLogger } from '../../../shared/log/logger.js';
import { SECRET_NAMES } from '../../../shared/secrets/names.js';
import { createRuntime, setRuntime, type Runtime } from '../../../shared/runtime/runtime.js';
import { fuzzSeed } from './fuzz.js';
import { ADMIN_CALLER, CLIENT_SECRET, consentHarness, type ConsentHarness } from './support.js';

/** The four consent functions through the real HTTP wrapper, in-process, with the service on memory stores. */

const ORIGIN = 'http://127.0.0.1:7071';
let h: ConsentHarness;
let audits: AuditEntry[];
let auditFails: boolean;
let runtime: Runtime;

beforeEach(async () => {
  h = await consentHarness();
  audits = [];
  auditFails = false;
  runtime = createRuntime(h.config, {
    validateResponses: true,
    logger: createLogger({ level: 'error', sink: () => undefined }),
    audit: {
      record: async (entry) => {
        if (auditFails) throw new Error('audit sink down');
        audits.push(entry);
      },
      fingerprint: async () => 'fp1_test',
    },
    guard: { authenticate: async () => ({ caller: ADMIN_CALLER, roleUsed: 'Connections.Admin' }) },
    consent: h.service,
  });
  setRuntime(runtime);
});

afterAll(() => {
  setRuntime(undefined);
});

interface Result {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
  readonly cookies: readonly Cookie[];
}

async function invoke(handler: HttpHandler, init: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<Result> {
  const request = new HttpRequest({
    method: init.method ?? 'GET',
    url: `${ORIGIN}${init.path}`,
    headers: init.headers ?? {},
    ...(init.body !== undefined ? { body: { string: init.body } } : {}),
  });
  const response = (await handler(request, new InvocationContext({ functionName: 'test' }))) as HttpResponseInit;
  const body = typeof response.body === 'string' ? response.body : response.jsonBody !== undefined ? JSON.stringify(response.jsonBody) : '';
  return { status: response.status ?? 200, headers: new Headers(response.headers), body, cookies: response.cookies ?? [] };
}

async function mintLink(body: unknown = { ctx: 'Cust12345' }, headers: Record<string, string> = {}): Promise<Result> {
  return invoke(consentLinksHandler, { method: 'POST', path: '/api/consent-links', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function startFlow(): Promise<{ location: string; cookieHeader: string; start: Result }> {
  const link = JSON.parse((await mintLink()).body) as { url: string };
  const url = new URL(link.url);
  const start = await invoke(consentStartHandler, { path: `${url.pathname}${url.search}` });
  const cookie = start.cookies[0]!;
  return { location: start.headers.get('location')!, cookieHeader: `${cookie.name}=${cookie.value}`, start };
}

function expectPageHeaders(result: Result): void {
  const headers = result.headers;
  expect(headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(headers.get('cache-control')).toBe('no-store');
  expect(headers.get('referrer-policy')).toBe('no-referrer');
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(headers.get('x-frame-options')).toBe('DENY');
  expect(headers.get('cross-origin-opener-policy')).toBe('same-origin');
  const hsts = /max-age=(\d+)/.exec(headers.get('strict-transport-security') ?? '');
  expect(Number(hsts?.[1])).toBeGreaterThanOrEqual(31_536_000);
  const csp = headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("base-uri 'none'");
  expect(csp).toContain("form-action 'none'");
  expect(csp).not.toMatch(/unsafe-inline|https?:|\*/);
}

/** No third-party (or any) resource: no src/href/action attributes, no CSS url()/@import, no script. */
function expectSelfContained(body: string): void {
  expect(body).not.toMatch(/\b(src|href|action|srcset)\s*=/i);
  expect(body).not.toMatch(/url\(|@import|<script|<link|<iframe|<img/i);
  const style = /<style>([\s\S]*?)<\/style>/.exec(body)?.[1];
  if (style !== undefined) expect(`'sha256-${createHash('sha256').update(style, 'utf8').digest('base64')}'`).toBe(PAGE_STYLE_HASH);
}

const TEMPLATE_TAGS = new Set([
  '<!doctype html>', '<html lang="en">', '<head>', '<meta charset="utf-8">', '<meta name="viewport" content="width=device-width, initial-scale=1">',
  '<meta name="referrer" content="no-referrer">', '<title>', '</title>', '<style>', '</style>', '</head>', '<body>', '<main>', '</main>', '</body>', '</html>',
  '<h1 id="consent-error">', '<h1 id="consent-done">', '</h1>', '<p id="consent-message">', '<p class="muted">', '</p>', '<span id="request-id">', '</span>',
  '<span id="consent-user">', '<span id="consent-tenant">',
]);

describe('POST /api/consent-links', () => {
  it('requirement 16: 403 and an audited deny for a tenant the caller is not granted', async () => {
    const result = await mintLink({ ctx: 'Cust99999' });
    expect(result.status).toBe(403);
    expect(JSON.parse(result.body)).toMatchObject({ code: 'forbidden' });
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ action: 'consent.link', outcome: 'deny', reason: 'tenant_not_granted', httpStatus: 403, subject: { env: 'sod', ctx: 'Cust99999' } });
  });

  it('requirement 29: 400 for an unsafe returnTo; 400 for unknown members and malformed ids', async () => {
    expect((await mintLink({ ctx: 'Cust12345', returnTo: '//evil.example' })).status).toBe(400);
    expect(JSON.parse((await mintLink({ ctx: 'Cust12345', returnTo: 'https://evil.example' })).body)).toMatchObject({ code: 'validation_failed' });
    expect((await mintLink({ ctx: 'Cust12345', extra: 1 })).status).toBe(400);
    expect((await mintLink({ ctx: 'Cust12345', associateId: '05' })).status).toBe(400);
    expect((await mintLink({ ctx: '../x' })).status).toBe(400);
  });

  it('requirements 27 and 28: 201 { url, expiresAt } on the configured origin, whatever Host / X-Forwarded-Host say', async () => {
    const result = await mintLink({ ctx: 'Cust12345', associateId: '6' }, { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' });
    expect(result.status).toBe(201);
    const body = JSON.parse(result.body) as { url: string; expiresAt: string };
    expect(Object.keys(body).sort()).toEqual(['expiresAt', 'url']);
    expect(body.url.startsWith(`${ORIGIN}/api/consent/start?ticket=t1.`)).toBe(true);
    expect(Date.parse(body.expiresAt) - h.clock.now()).toBeLessThanOrEqual(600_000);
    expect(audits[0]).toMatchObject({ outcome: 'allow', httpStatus: 201, subject: { env: 'sod', ctx: 'Cust12345', associateId: '6' }, caller: ADMIN_CALLER });
  });
});

describe('GET /api/consent/start', () => {
  it('requirements 27 and 34: a reused ticket is a 400 HTML page with the security headers and an audit record', async () => {
    const link = JSON.parse((await mintLink()).body) as { url: string };
    const url = new URL(link.url);
    expect((await invoke(consentStartHandler, { path: `${url.pathname}${url.search}` })).status).toBe(303);
    const again = await invoke(consentStartHandler, { path: `${url.pathname}${url.search}` });
    expect(again.status).toBe(400);
    expectPageHeaders(again);
    expectSelfContained(again.body);
    expect(again.body).toContain('already used');
    expect(again.cookies).toHaveLength(0);
    expect(audits.at(-1)).toMatchObject({ action: 'consent.start', outcome: 'deny', reason: 'ticket_reused', httpStatus: 400, caller: null, subject: { ctx: 'Cust12345' } });
  });

  it('a missing, repeated or malformed ticket parameter is refused by the declared query: 400, the generic link page, audited', async () => {
    for (const query of ['', '?ticket=a&ticket=b', '?ticket=x', '?ticket=t1.abc&other=1']) {
      const result = await invoke(consentStartHandler, { path: `/api/consent/start${query}` });
      expect(result.status, query).toBe(400);
      expectPageHeaders(result);
      expectSelfContained(result.body);
      expect(result.body).toContain('This consent link is not valid');
      expect(result.cookies).toHaveLength(0);
      expect(audits.at(-1), query).toMatchObject({ action: 'consent.start', outcome: 'deny', reason: 'validation_failed', httpStatus: 400 });
    }
  });

  it('requirements 23 and 28: 303 to the authorize URL with the configured redirect_uri despite spoofed Host headers; the __Host- cookie is set', async () => {
    const link = JSON.parse((await mintLink()).body) as { url: string };
    const url = new URL(link.url);
    const start = await invoke(consentStartHandler, {
      path: `${url.pathname}${url.search}`,
      headers: { host: 'evil.example:8443', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', forwarded: 'host=evil.example;proto=https', 'x-original-host': 'evil.example' },
    });
    expect(start.status).toBe(303);
    expectPageHeaders(start);
    const location = new URL(start.headers.get('location')!);
    expect(location.origin).toBe('http://127.0.0.1:2');
    expect(location.searchParams.get('redirect_uri')).toBe(h.config.superOffice.redirectUri);
    expect(start.cookies).toHaveLength(1);
    expect(start.cookies[0]).toMatchObject({ name: CONSENT_COOKIE_NAME, path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: 600 });
    expect(start.cookies[0]!.domain).toBeUndefined();
    expect(audits.at(-1)).toMatchObject({ action: 'consent.start', outcome: 'allow', reason: 'ok', subject: { env: 'sod', ctx: 'Cust12345' } });
  });

  it('requirement 58: when the audit record cannot be written, no redirect and no cookie leave (503)', async () => {
    const link = JSON.parse((await mintLink()).body) as { url: string };
    const url = new URL(link.url);
    auditFails = true;
    const start = await invoke(consentStartHandler, { path: `${url.pathname}${url.search}` });
    expect(start.status).toBe(503);
    expect(start.headers.get('location')).toBeNull();
    expect(start.cookies).toHaveLength(0);
  });

  it('a missing state-cookie-key gives a generic 500 HTML page, audited as secret_not_found', async () => {
    await h.secrets.disable(SECRET_NAMES.stateCookieKey);
    const start = await invoke(consentStartHandler, { path: '/api/consent/start?ticket=t1.x' });
    expect(start.status).toBe(500);
    expectPageHeaders(start);
    expect(start.body).toContain('Something went wrong');
    expect(audits.at(-1)).toMatchObject({ outcome: 'error', reason: 'secret_not_found' });
  });
});

describe('GET /api/consent/callback', () => {
  it('requirements 24, 25 and 34: without the cookie it is a 400 page that clears the cookie', async () => {
    const { location } = await startFlow();
    const query = h.superOffice.approve(location, { associateId: '6', isAdministrator: false });
    const result = await invoke(consentCallbackHandler, { path: `/api/consent/callback?${query}` });
    expect(result.status).toBe(400);
    expectPageHeaders(result);
    expectSelfContained(result.body);
    expect(result.cookies).toEqual([expect.objectContaining({ name: CONSENT_COOKIE_NAME, value: '', maxAge: 0, path: '/', secure: true, httpOnly: true })]);
    expect(h.superOffice.tokenCalls).toHaveLength(0);
    expect(audits.at(-1)).toMatchObject({ action: 'consent.callback', outcome: 'deny', reason: 'cookie_missing', httpStatus: 400 });
  });

  it('a query the declaration refuses (repeated or non-ASCII state) is the generic 400 page that clears the cookie, before any token call', async () => {
    const { cookieHeader } = await startFlow();
    for (const query of ['code=a&state=b&state=c', `code=a&state=${encodeURIComponent('é')}`]) {
      const result = await invoke(consentCallbackHandler, { path: `/api/consent/callback?${query}`, headers: { cookie: cookieHeader } });
      expect(result.status, query).toBe(400);
      expectPageHeaders(result);
      expect(result.body).toContain('The sign-in could not be completed');
      expect(result.cookies).toEqual([expect.objectContaining({ name: CONSENT_COOKIE_NAME, value: '', maxAge: 0 })]);
      expect(audits.at(-1)).toMatchObject({ action: 'consent.callback', reason: 'validation_failed', httpStatus: 400 });
    }
    expect(h.superOffice.tokenCalls).toHaveLength(0);
  });

  it('requirements 35, 37 and 38: success is a 303 to a clean URL, clears the cookie, audits the subject, and returns no secret', async () => {
    const { location, cookieHeader, start } = await startFlow();
    const query = h.superOffice.approve(location, { associateId: '5', isAdministrator: true });
    const result = await invoke(consentCallbackHandler, { path: `/api/consent/callback?${query}`, headers: { cookie: cookieHeader } });
    expect(result.status).toBe(303);
    expect(result.headers.get('location')).toMatch(/^\/api\/consent\/done\?connected=n1\.[A-Za-z0-9_-]+$/);
    expect(result.body).toBe('');
    expect(result.cookies[0]).toMatchObject({ name: CONSENT_COOKIE_NAME, maxAge: 0 });
    expect(audits.at(-1)).toMatchObject({
      action: 'consent.callback', outcome: 'allow', reason: 'ok', httpStatus: 303,
      subject: { env: 'sod', ctx: 'Cust12345', associateId: '5' }, flags: ['administrator', 'system_user_stored'],
    });
    const canaries = [...h.superOffice.issuedRefreshTokens, query.get('code')!, CLIENT_SECRET, 'canary-system-token'];
    for (const response of [start, result]) {
      const everything = `${response.body}\n${[...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${JSON.stringify(response.cookies)}`;
      for (const canary of canaries) {
        for (const form of [canary, encodeURIComponent(canary), Buffer.from(canary).toString('base64'), Buffer.from(canary).toString('base64url')]) {
          expect(everything).not.toContain(form);
        }
      }
    }
    expect(JSON.stringify(audits)).not.toMatch(/canary/);
  });

  it('requirement 36: fast-check (1,000 runs): error, error_description and state never put a raw < in the page', async () => {
    const seed = fuzzSeed('requirement 36 callback page');
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', '</title><script>', '<!--', '<svg/onload=alert(1)>', '&lt;', "'><a href=//evil>"),
    );
    const { cookieHeader, location } = await startFlow();
    const state = new URL(location).searchParams.get('state')!;
    await fc.assert(
      fc.asyncProperty(text, text, fc.option(text), fc.boolean(), async (error, description, otherState, withCookie) => {
        const query = new URLSearchParams({ error, error_description: description, state: otherState ?? state });
        const result = await invoke(consentCallbackHandler, { path: `/api/consent/callback?${query}`, headers: withCookie ? { cookie: cookieHeader } : {} });
        const tags = result.body.match(/<[^>]*>/g) ?? [];
        const stray = tags.filter((tag) => !TEMPLATE_TAGS.has(tag));
        const leftover = result.body.replace(/<[^>]*>/g, '');
        return result.status === 400 && stray.length === 0 && !leftover.includes('<') && !leftover.includes('>') && result.headers.get('content-type') === 'text/html; charset=utf-8';
      }),
      { numRuns: 1_000, seed },
    );
    expect(h.superOffice.tokenCalls).toHaveLength(0);
  });
});

describe('GET /api/consent/done', () => {
  /** Runs a consent for Nora (6) of Cust12345 through the real callback; returns the done URL it redirects to. */
  async function doneLocation(): Promise<string> {
    const { location, cookieHeader } = await startFlow();
    const query = h.superOffice.approve(location, { associateId: '6', isAdministrator: false });
    const callback = await invoke(consentCallbackHandler, { path: `/api/consent/callback?${query}`, headers: { cookie: cookieHeader } });
    expect(callback.status).toBe(303);
    return callback.headers.get('location')!;
  }

  const GENERIC = 'The connection is set up. You can close this window.';

  // Negative cases first: nothing but the callback's own notice makes the page name a tenant.
  it('a missing, forged, tampered, repeated or foreign-key notice gives the generic page, naming nobody', async () => {
    const real = new URL(await doneLocation(), ORIGIN).searchParams.get('connected')!;
    const flipped = `${real.slice(0, -2)}${real.at(-2) === 'A' ? 'B' : 'A'}${real.at(-1)}`;
    // Sealed correctly, but under another consent key (another deployment, or an attacker's own key).
    const foreignLocation = withDoneNotice('/api/consent/done', deriveConsentKeys(randomBytes(32)), { ctx: 'Evil', associateId: '1' }, Math.floor(h.clock.now() / 1000));
    const foreign = new URL(foreignLocation, ORIGIN).searchParams.get('connected')!;
    const forged = ['', 'n1.', 'Cust12345', `n1.${Buffer.from(JSON.stringify({ v: 1, ctx: 'Evil', aid: '1', exp: 9e9 })).toString('base64url')}`, flipped, real.replace('n1.', 'n2.'), foreign, 'x'.repeat(5000)];
    for (const value of forged) {
      const result = await invoke(consentDoneHandler, { path: `/api/consent/done?connected=${encodeURIComponent(value)}` });
      expect(result.status, value).toBe(200);
      expect(result.body).toContain(GENERIC);
      expect(result.body).not.toMatch(/consent-tenant|consent-user|Evil/);
    }
    const twice = await invoke(consentDoneHandler, { path: `/api/consent/done?connected=${real}&connected=${real}` });
    // A repeated parameter is refused input (400, audited as validation_failed), shown as the same generic page.
    expect(twice.status).toBe(400);
    expect(twice.body).toContain(GENERIC);
    expect(twice.body).not.toMatch(/consent-tenant|consent-user/);
    expect(audits.at(-1)).toMatchObject({ action: 'consent.done', reason: 'validation_failed', subject: {} });
  });

  it('an expired notice gives the generic page', async () => {
    const location = await doneLocation();
    h.clock.advance(DONE_NOTICE_TTL_SEC * 1000);
    const result = await invoke(consentDoneHandler, { path: location });
    expect(result.body).toContain(GENERIC);
    expect(result.body).not.toContain('Cust12345');
  });

  it('the page after the callback names the connected tenant and user, escaped, and audits them as the subject', async () => {
    const result = await invoke(consentDoneHandler, { path: await doneLocation() });
    expect(result.status).toBe(200);
    expect(result.body).toContain('The connection of SuperOffice user <span id="consent-user">6</span> in tenant <span id="consent-tenant">Cust12345</span> is set up.');
    expect(audits.at(-1)).toMatchObject({ action: 'consent.done', outcome: 'allow', subject: { env: 'sod', ctx: 'Cust12345', associateId: '6' } });
    const tags = result.body.match(/<[^>]*>/g) ?? [];
    expect(tags.filter((tag) => !TEMPLATE_TAGS.has(tag))).toEqual([]);
  });

  it('when the consent key cannot be read, the page is still the generic success page', async () => {
    const location = await doneLocation();
    await h.secrets.disable(SECRET_NAMES.stateCookieKey);
    const result = await invoke(consentDoneHandler, { path: location });
    expect(result.status).toBe(200);
    expect(result.body).toContain(GENERIC);
  });

  it('requirement 34: a clean success page with the security headers and no resources', async () => {
    for (const path of ['/api/consent/done', await doneLocation()]) {
      const result = await invoke(consentDoneHandler, { path });
      expect(result.status).toBe(200);
      expectPageHeaders(result);
      expectSelfContained(result.body);
      expect(result.body).toContain('SuperOffice access granted');
      expect(audits.at(-1)).toMatchObject({ action: 'consent.done', outcome: 'allow' });
    }
  });
});

describe('HEAD on the browser routes', () => {
  it('requirement 27: a HEAD (link scanner) neither redeems the ticket nor spends the state', async () => {
    const link = JSON.parse((await mintLink()).body) as { url: string };
    const url = new URL(link.url);
    const head = await invoke(consentStartHandler, { method: 'HEAD', path: `${url.pathname}${url.search}` });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('GET');
    expect(head.cookies).toHaveLength(0);
    expect((await invoke(consentStartHandler, { path: `${url.pathname}${url.search}` })).status).toBe(303);
    expect((await invoke(consentCallbackHandler, { method: 'HEAD', path: '/api/consent/callback?code=x&state=y' })).status).toBe(405);
  });
});
