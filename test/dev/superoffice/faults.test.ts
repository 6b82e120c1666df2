/**
 * docs/security.md §6 / requirement 72: every scriptable fault of the simulator (status + Retry-After, hang, delay,
 * malformed body, oversized body, socket reset), the counters and the HTTP control surface; plus robustness
 * (bounded bodies, bad input never gives a 5xx).
 */
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { DEMO_APP } from '../../../dev/superoffice/seed.js';
import { api, bearer, signIn } from './helpers.js';

let sim: SuperOfficeSimulator;

beforeAll(async () => {
  sim = await startSuperOfficeSimulator();
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => {
  sim.control.reset();
});

const TOKEN_FORM = new URLSearchParams({
  grant_type: 'refresh_token',
  refresh_token: 'x',
  client_id: DEMO_APP.clientId,
  client_secret: DEMO_APP.clientSecret,
}).toString();

function postTokens(signal?: AbortSignal): Promise<Response> {
  return fetch(`${sim.url}/login/common/oauth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: TOKEN_FORM,
    signal,
  });
}

async function control(path: string, body?: unknown, method = 'POST'): Promise<Response> {
  return fetch(`${sim.url}/__sim/${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe('fault: HTTP status with Retry-After, limited by times', () => {
  it('429 with Retry-After seconds on tokens, twice, then normal answers', async () => {
    sim.control.setFault('tokens', { status: 429, retryAfter: 7, times: 2 });
    for (let i = 0; i < 2; i += 1) {
      const res = await postTokens();
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(((await res.json()) as Record<string, unknown>)['error']).toBe('too_many_requests');
    }
    const normal = await postTokens();
    expect(normal.status).toBe(400);
    expect(((await normal.json()) as Record<string, unknown>)['error']).toBe('invalid_grant');
  });

  it('503 with an HTTP-date Retry-After on the JWKS and 500 on the system user, until cleared', async () => {
    const date = new Date(Date.now() + 30_000).toUTCString();
    sim.control.setFault('jwks', { status: 503, retryAfter: date });
    sim.control.setFault('systemUser', { status: 500 });
    for (let i = 0; i < 3; i += 1) {
      const res = await fetch(`${sim.url}/login/.well-known/jwks`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe(date);
    }
    const su = await fetch(`${sim.url}/Login/api/PartnerSystemUser/Authenticate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(su.status).toBe(500);
    sim.control.clearFaults('jwks');
    expect((await fetch(`${sim.url}/login/.well-known/jwks`)).status).toBe(200);
    expect(sim.control.listFaults()).toHaveProperty('systemUser');
  });

  it('applies to the Web API, CRMScript and webhook API separately', async () => {
    const { access_token } = await signIn(sim, { associateId: 6 });
    sim.control.setFault('crmscript', { status: 503, retryAfter: 2, times: 1 });
    const script = await api(sim.url, '/Cust12345/api/v1/Agents/CRMScript/ExecuteScriptByUniqueId', {
      method: 'POST',
      headers: bearer(access_token),
      body: { CRMScriptUniqueId: 'tokenbroker-rights-check-v1', Parameters: { op: 'isAdministrator' } },
    });
    expect(script.status).toBe(503);
    expect((await api(sim.url, '/Cust12345/api/v1/User/currentPrincipal', { headers: bearer(access_token) })).status).toBe(200);
  });
});

describe('fault: hang and delay', () => {
  it('hang: never answers (the client times out); close() still ends the connection', async () => {
    sim.control.setFault('discovery', { kind: 'hang', times: 1 });
    await expect(fetch(`${sim.url}/login/.well-known/openid-configuration`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect((await fetch(`${sim.url}/login/.well-known/openid-configuration`)).status).toBe(200);

    const other = await startSuperOfficeSimulator();
    other.control.setFault('state', { kind: 'hang' });
    const pending = fetch(`${other.url}/api/state/Cust12345`).then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await pending).toBe('failed');
  });

  it('delay: answers normally after N ms', async () => {
    sim.control.setFault('state', { kind: 'delay', ms: 300, times: 1 });
    const started = Date.now();
    const res = await fetch(`${sim.url}/api/state/Cust12345`);
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(((await res.json()) as Record<string, unknown>)['State']).toBe('Running');
  });
});

describe('fault: malformed, oversized and reset bodies', () => {
  it('malformed: a 200 that is not JSON although it says so', async () => {
    sim.control.setFault('tokens', { kind: 'malformed', times: 1 });
    const res = await postTokens();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    await expect(res.clone().json()).rejects.toThrow();
    expect(await res.text()).toContain('not JSON');
  });

  it('malformed with a status: e.g. a 502 HTML page', async () => {
    sim.control.setFault('jwks', { kind: 'malformed', status: 502, times: 1 });
    expect((await fetch(`${sim.url}/login/.well-known/jwks`)).status).toBe(502);
  });

  it('oversized: a valid JSON body larger than 64 KB', async () => {
    sim.control.setFault('tokens', { kind: 'oversized', times: 1 });
    const text = await (await postTokens()).text();
    expect(Buffer.byteLength(text)).toBeGreaterThan(64 * 1024);
    expect(() => JSON.parse(text) as unknown).not.toThrow();
  });

  it('reset: the connection is reset mid-body', async () => {
    sim.control.setFault('tokens', { kind: 'reset', times: 1 });
    await expect(postTokens().then((r) => r.text())).rejects.toThrow();
    expect((await postTokens()).status).toBe(400);
  });
});

describe('counters and the record of token requests', () => {
  it('counts every call per endpoint, including faulted ones, and resets', async () => {
    sim.control.setFault('jwks', { status: 503, times: 1 });
    await fetch(`${sim.url}/login/.well-known/jwks`);
    await fetch(`${sim.url}/login/.well-known/jwks`);
    await fetch(`${sim.url}/login/.well-known/openid-configuration`);
    await fetch(`${sim.url}/api/state/Cust12345`);
    await postTokens();
    expect(sim.counters.get('jwks')).toBe(2);
    expect(sim.counters.snapshot()).toEqual({ jwks: 2, discovery: 1, state: 1, tokens: 1 });
    expect(sim.counters.tokenRequests()).toHaveLength(1);
    sim.counters.reset();
    expect(sim.counters.snapshot()).toEqual({});
    expect(sim.counters.tokenRequests()).toHaveLength(0);
  });

  it('keeps only the last 50 token requests', async () => {
    for (let i = 0; i < 55; i += 1) await postTokens();
    expect(sim.counters.tokenRequests()).toHaveLength(50);
  });
});

describe('HTTP control surface /__sim', () => {
  it('rejects bad fault definitions and unknown endpoints with 400', async () => {
    expect((await control('faults', { endpoint: 'nope', fault: { status: 503 } })).status).toBe(400);
    expect((await control('faults', { endpoint: 'tokens', fault: { status: 418 } })).status).toBe(400);
    expect((await control('faults', { endpoint: 'tokens', fault: { kind: 'explode' } })).status).toBe(400);
    expect((await control('faults', { endpoint: 'tokens', fault: { kind: 'delay', ms: -1 } })).status).toBe(400);
    expect((await control('faults', { endpoint: 'tokens', fault: { status: 503, times: 0 } })).status).toBe(400);
    expect((await control('revoke', { ctx: 'Cust12345' })).status).toBe(400);
    expect((await control('nothing', {})).status).toBe(404);
    const notJson = await fetch(`${sim.url}/__sim/faults`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' });
    expect(notJson.status).toBe(400);
  });

  it('sets, lists and clears faults; reads and resets counters', async () => {
    expect((await control('faults', { endpoint: 'state', fault: { status: 503, retryAfter: 1, times: 1 } })).status).toBe(200);
    expect(await (await control('faults', undefined, 'GET')).json()).toEqual({ state: { kind: 'status', status: 503, retryAfter: 1, times: 1 } });
    const faulted = await fetch(`${sim.url}/api/state/Cust12345`);
    expect(faulted.status).toBe(503);
    expect(faulted.headers.get('retry-after')).toBe('1');
    await control('faults', { endpoint: 'jwks', fault: { kind: 'hang' } });
    expect((await control('faults?endpoint=jwks', undefined, 'DELETE')).status).toBe(200);
    expect(await (await control('faults', undefined, 'GET')).json()).toEqual({});

    await postTokens();
    const counters = (await (await control('counters', undefined, 'GET')).json()) as {
      counters: Record<string, number>;
      tokenRequests: { bodyParams: string[]; queryParams: string[] }[];
    };
    expect(counters.counters['state']).toBe(1);
    expect(counters.counters['tokens']).toBe(1);
    expect(counters.tokenRequests[0]?.bodyParams).toContain('client_secret');
    expect(counters.tokenRequests[0]?.queryParams).toEqual([]);
    expect(JSON.stringify(counters)).not.toContain(DEMO_APP.clientSecret);
    await control('counters/reset');
    expect(((await (await control('counters', undefined, 'GET')).json()) as { counters: unknown }).counters).toEqual({});
  });

  it('expires tokens, reports the system token and resets everything', async () => {
    const { access_token } = await signIn(sim, { associateId: 6 });
    expect(await (await control('expire', { accessToken: access_token })).json()).toEqual({ expired: true });
    expect((await api(sim.url, '/Cust12345/api/v1/User/currentPrincipal', { headers: bearer(access_token) })).status).toBe(401);
    expect(await (await fetch(`${sim.url}/__sim/system-token?ctx=Cust12345&clientId=${DEMO_APP.clientId}`)).json()).toEqual({ systemToken: null });
    await control('faults', { endpoint: 'tokens', fault: { status: 500 } });
    expect((await control('reset')).status).toBe(200);
    expect(sim.control.listFaults()).toEqual({});
    expect((await postTokens()).status).toBe(400);
  });

  it('is absent when enableControlApi is false', async () => {
    const closed = await startSuperOfficeSimulator({ enableControlApi: false });
    try {
      expect((await fetch(`${closed.url}/__sim/counters`)).status).toBe(404);
    } finally {
      await closed.close();
    }
  });
});

describe('robustness: bounded bodies, bad input never a 5xx', () => {
  it('answers 413 to a request body over 1 MB', async () => {
    const res = await fetch(`${sim.url}/login/common/oauth/tokens`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `grant_type=${'a'.repeat(1024 * 1024 + 10)}`,
    });
    expect(res.status).toBe(413);
  });

  it('answers 4xx (not 5xx) to malformed percent-escapes in paths', async () => {
    for (const path of ['/api/state/%E0%A4%A', '/%E0%A4%A/api/v1/User/currentPrincipal', '/__sim/webhooks/%E0%A4%A']) {
      const res = await fetch(`${sim.url}${path}`);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
  });

  it('never writes secrets or tokens to the log sink', async () => {
    const lines: string[] = [];
    const logged = await startSuperOfficeSimulator({ log: (m, f) => lines.push(`${m} ${JSON.stringify(f ?? {})}`) });
    try {
      const tokens = await signIn(logged, { associateId: 6 });
      const all = lines.join('\n');
      expect(lines.length).toBeGreaterThan(0);
      for (const secret of [DEMO_APP.clientSecret, tokens.access_token, tokens.refresh_token, tokens.id_token]) {
        expect(all).not.toContain(secret);
      }
    } finally {
      await logged.close();
    }
  });

  it('answers 400 to a malformed request line', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(new URL(sim.url).port === '' ? 80 : Number(new URL(sim.url).port), '127.0.0.1', () => {
        socket.write('GARBAGE\r\n\r\n');
      });
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
  });

  it('rejects invalid simulator options with messages naming the option', async () => {
    await expect(startSuperOfficeSimulator({ port: -1 })).rejects.toThrow(/options\.port/);
    await expect(startSuperOfficeSimulator({ webhookRetryDelaysMs: [] })).rejects.toThrow(/webhookRetryDelaysMs/);
    await expect(startSuperOfficeSimulator({ apps: [DEMO_APP, DEMO_APP] })).rejects.toThrow(/duplicate clientId/);
  });

  it('property: arbitrary authorize queries never give a 5xx or reflect a raw "<"', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom('client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'code_challenge', 'code_challenge_method', 'acr_values', 'login_hint', 'response_mode', 'nonce'), fc.oneof(fc.string(), fc.string().map((v) => `${v}<zq x="1">`))), async (params) => {
        const u = new URL(`${sim.url}/login/common/oauth/authorize`);
        for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
        if (!('client_id' in params)) u.searchParams.set('client_id', DEMO_APP.clientId);
        const res = await fetch(u, { redirect: 'manual' });
        const body = await res.text();
        expect(res.status).toBeLessThan(500);
        // Markers like `<zq x="1">` in any parameter must never come back as raw markup.
        expect(body).not.toContain('<zq');
      }),
      { numRuns: 150 },
    );
  });

  it('property: arbitrary token and Web API requests never give a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.string(), fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain'), async (body, auth, type) => {
        const tokens = await fetch(`${sim.url}/login/common/oauth/tokens`, { method: 'POST', headers: { 'Content-Type': type }, body });
        expect(tokens.status).toBeLessThan(500);
        await tokens.arrayBuffer();
        const headers: Record<string, string> = { 'Content-Type': type };
        if (/^[\x21-\x7e ]*$/.test(auth)) headers['Authorization'] = auth;
        const web = await fetch(`${sim.url}/Cust12345/api/v1/Contact/101`, { method: 'PATCH', headers, body });
        expect(web.status).toBeLessThan(500);
        await web.arrayBuffer();
      }),
      { numRuns: 150 },
    );
  });
});
