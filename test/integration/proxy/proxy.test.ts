import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDevHost, type DevHost } from '../../../dev/host/devHost.js';
import { listFunctions } from '../../../shared/runtime/registry.js';
import { createRuntime, setRuntime, type Runtime } from '../../../shared/runtime/runtime.js';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import { CALLERS, startBrokerHarness, type BrokerHarness } from '../../support/brokerHarness.js';
import { testConfig } from '../../support/config.js';

/**
 * The SuperOffice proxy end to end over HTTP (issue 12): the dev host routes raw URLs as the Functions
 * host does, the broker calls the simulator as the acting identity. Traversal and smuggling payloads
 * never reach the simulator (its Web API counter proves it); a 401 renews the credential once; bodies
 * are bounded both ways; headers are allow-listed; a user sees what SuperOffice lets them see while the
 * system user sees everything.
 */

setRuntime(createRuntime(testConfig()));
await import('../../../functions/index.js');
setRuntime(undefined);

let h: BrokerHarness;
let runtime: Runtime;
let host: DevHost;
const audits: AuditEntry[] = [];

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/** Sends a request with the path exactly as given (no client-side normalisation). */
function raw(method: string, path: string, options: { headers?: Record<string, string>; body?: Buffer } = {}): Promise<RawAnswer> {
  const url = new URL(host.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { 'x-test-caller': 'integration', ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body) req.write(options.body);
    req.end();
  });
}

const webApiCalls = () => h.sim.counters.get('webapi');

beforeAll(async () => {
  h = await startBrokerHarness();
  const recorder = h.runtime.audit;
  // Keep what the broker records, as well as recording it.
  runtime = createRuntime(h.config, {
    guard: h.runtime.guard, logger: h.runtime.logger, secrets: h.runtime.secrets, validateResponses: true,
    audit: { record: async (entry) => { audits.push(entry); await recorder.record(entry); }, fingerprint: (t) => recorder.fingerprint(t) },
  });
  setRuntime(runtime);
  await h.connect(5);
  await h.connect(6);
  await h.connect(7);
  host = await startDevHost({ functions: listFunctions().filter((f) => f.kind === 'http'), port: 0, log: () => undefined });
}, 120_000);

afterAll(async () => {
  await host?.close();
  await h?.stop();
});

beforeEach(() => {
  h.sim.control.clearFaults();
});

describe('traversal and smuggling payloads give 4xx and never reach SuperOffice', () => {
  const prefix = '/api/superoffice/Cust12345/6/';
  const payloads = [
    'v1/..%2f..%2ftokens',
    'v1/Contact%2F101',
    'v1/Contact%2f..%2f..%2fUser%2fcurrentPrincipal',
    'v1/Contact%5c101',
    'v1/Contact%5C..%5C..%5Ctokens',
    'v1/%2e%2e/%2e%2e/%2e%2e/tokens',
    'v1/../../../tokens',
    '..%2f..%2fapi%2ftokens',
    'v1\\..\\..\\tokens',
    'v1/Contact/%00',
    'v1/Contact/%0d%0aHost:%20evil',
    'v1/Contact/%7f',
    'v1//Contact/101',
    'v1/Contact/101/',
    'v1',
    'v2/Contact/101',
    'V1/Contact/101',
    '%2F%2Fevil.example/v1/Contact',
    'https:%2F%2Fevil.example/v1/Contact',
    '@evil.example/v1/Contact',
    `v1/${'a'.repeat(2100)}`,
    'v1/Contact/101?code=functionkey',
    'v1/Contact/101?a=1&a=2',
    `v1/Contact/101?q=${'b'.repeat(2100)}`,
  ];

  it.each(payloads)('%s', async (payload) => {
    const before = webApiCalls();
    const res = await raw('GET', `${prefix}${payload}`);
    expect(res.status, res.body.toString().slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(webApiCalls()).toBe(before);
  });

  it('the same call with a clean path does reach SuperOffice (the counter works)', async () => {
    const before = webApiCalls();
    const res = await raw('GET', `${prefix}v1/User/currentPrincipal`);
    expect(res.status).toBe(200);
    expect(webApiCalls()).toBe(before + 1);
  });
});

describe('acting as a user or as the system user', () => {
  it('a user sees what SuperOffice lets them see; the system user sees every record', async () => {
    const asUser: number[] = [];
    const asSystem: number[] = [];
    // Tickets the user has no access to at all are hidden by SuperOffice's sentry (404).
    for (const id of [301, 302, 303, 304]) {
      asUser.push((await raw('GET', `/api/superoffice/Cust12345/7/v1/Ticket/${id}`)).status);
      asSystem.push((await raw('GET', `/api/superoffice/Cust12345/system/v1/Ticket/${id}`)).status);
    }
    expect(asSystem, JSON.stringify({ asUser, asSystem })).toEqual([200, 200, 200, 200]);
    expect(asUser.some((s) => s === 200), JSON.stringify({ asUser, asSystem })).toBe(true);
    expect(asUser.some((s) => s === 403 || s === 404), JSON.stringify({ asUser, asSystem })).toBe(true);
  });

  it('answers as the user: currentPrincipal names the acting user; no token or ticket in the answer', async () => {
    const nora = await raw('GET', '/api/superoffice/Cust12345/6/v1/User/currentPrincipal');
    expect(nora.status).toBe(200);
    expect(JSON.parse(nora.body.toString())).toMatchObject({ AssociateId: 6 });
    const system = await raw('GET', '/api/superoffice/Cust12345/system/v1/User/currentPrincipal');
    expect(system.status).toBe(200);
    for (const res of [nora, system]) {
      expect(res.body.toString()).not.toMatch(/8A:|7T:/);
      expect(JSON.stringify(res.headers)).not.toMatch(/8A:|7T:/);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
  });

  it('a PATCH as a user changes the record as that user and passes SuperOffice\'s refusal through for another', async () => {
    const patch = Buffer.from(JSON.stringify([{ op: 'replace', path: '/Department', value: 'Proxied' }]));
    const ok = await raw('PATCH', '/api/superoffice/Cust12345/5/v1/Contact/101', { body: patch, headers: { 'content-type': 'application/json-patch+json' } });
    expect(ok.status, ok.body.toString()).toBe(200);
    expect(JSON.parse(ok.body.toString())).toMatchObject({ Department: 'Proxied' });
  });
});

describe('401 renews once; limits; headers; audit', () => {
  it('a 401 from SuperOffice renews the user token once and retries (any method); the audit says so', async () => {
    const token = await runtime.tokens.getUserToken({ ctx: 'Cust12345', associateId: '6', deadline: Date.now() + 5000 });
    await raw('GET', '/api/superoffice/Cust12345/6/v1/User/currentPrincipal');
    expect(h.sim.control.expireAccessToken(token.accessToken.reveal())).toBe(true);
    const tokenCalls = h.sim.counters.get('tokens');
    const calls = webApiCalls();
    const res = await raw('POST', '/api/superoffice/Cust12345/6/v1/Agents/CRMScript/ExecuteScriptByUniqueId', {
      body: Buffer.from(JSON.stringify({ CRMScriptUniqueId: 'tokenbroker-rights-check-v1', Parameters: { op: 'isAdministrator' } })),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status, res.body.toString()).toBe(200);
    expect(h.sim.counters.get('tokens')).toBe(tokenCalls + 1);
    expect(webApiCalls() + h.sim.counters.get('crmscript')).toBeGreaterThan(calls);
    const entry = audits.findLast((a) => a.action === 'proxy');
    expect(entry?.flags).toEqual(expect.arrayContaining(['retried', 'act_as:user']));
    expect(entry?.subject).toEqual({ env: 'sod', ctx: 'Cust12345', associateId: '6' });
    expect(entry?.target).toBe('POST v1/Agents/CRMScript/ExecuteScriptByUniqueId');
  });

  it('a request body over 1 MiB is 413 and is not sent', async () => {
    const before = webApiCalls();
    const res = await raw('PATCH', '/api/superoffice/Cust12345/5/v1/Contact/101', { body: Buffer.alloc(1024 * 1024 + 1, 0x61), headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
    expect(webApiCalls()).toBe(before);
  });

  it('a response over 10 MiB is cut off: 502, audited', async () => {
    h.sim.control.setFault('webapi', { kind: 'oversized', bytes: 10 * 1024 * 1024 + 1024, times: 1 });
    const res = await raw('GET', '/api/superoffice/Cust12345/6/v1/Contact/101');
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(audits.findLast((a) => a.action === 'proxy')).toMatchObject({ outcome: 'error', reason: 'upstream_bad_response', httpStatus: 502 });
  });

  it('SuperOffice\'s 5xx passes through with its Retry-After; no retry of a POST', async () => {
    h.sim.control.setFault('webapi', { status: 503, retryAfter: 7, times: 1 });
    const before = webApiCalls();
    const res = await raw('GET', '/api/superoffice/Cust12345/6/v1/Contact/101');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
    expect(webApiCalls()).toBe(before + 1);
  });

  it('the audit record names caller, actAs, tenant, method, path, status and byte counts; never a body or token', async () => {
    await raw('GET', '/api/superoffice/Cust12345/system/v1/Contact/102');
    const entry = audits.findLast((a) => a.action === 'proxy')!;
    expect(entry).toMatchObject({ subject: { env: 'sod', ctx: 'Cust12345' }, target: 'GET v1/Contact/102', upstreamStatus: 200, httpStatus: 200 });
    expect(entry.flags).toEqual(expect.arrayContaining(['act_as:system', 'bytes_in:0']));
    expect(entry.flags?.some((f) => /^bytes_out:[1-9]\d*$/.test(f))).toBe(true);
    expect(JSON.stringify(entry)).not.toMatch(/8A:|7T:|Fjord|Bakery/);
  });
});

describe('event-bound impersonation on the proxy (X-Broker-Event-Grant)', () => {
  const subscriber = { 'x-test-caller': 'subscriber' };
  const grantFor = async (overrides: { associateId?: string; ageMs?: number; oid?: string } = {}) => {
    const id = randomBytes(32).toString('base64url').slice(0, 43);
    await runtime.eventGrants.put({
      id, subscriber: 'worker', eventId: randomUUID(), env: 'sod', ctx: 'Cust12345', associateId: overrides.associateId ?? '6',
      identity: { tid: CALLERS.subscriber.tid, oid: overrides.oid ?? CALLERS.subscriber.oid, appId: undefined },
      createdAt: new Date(Date.now() - (overrides.ageMs ?? 0)),
    });
    return id;
  };

  it('without a grant the subscriber may act only as its listed user', async () => {
    expect((await raw('GET', '/api/superoffice/Cust12345/5/v1/User/currentPrincipal', { headers: subscriber })).status).toBe(200);
    expect((await raw('GET', '/api/superoffice/Cust12345/6/v1/User/currentPrincipal', { headers: subscriber })).status).toBe(403);
  });

  it('refuses an unknown, expired, foreign or other-user grant, and the system user, before calling SuperOffice', async () => {
    const before = webApiCalls();
    const cases = [
      ['unknown', randomBytes(32).toString('base64url').slice(0, 43), 6],
      ['malformed', 'not-a-grant', 6],
      ['expired', await grantFor({ ageMs: 16 * 60_000 }), 6],
      ['another subscriber\'s', await grantFor({ oid: 'aaaaaaaa-0000-4000-8000-000000000009' }), 6],
      ['for another user', await grantFor({ associateId: '7' }), 6],
      ['used for the system user', await grantFor(), 'system'],
    ] as const;
    for (const [, grant, actAs] of cases) {
      const res = await raw('GET', `/api/superoffice/Cust12345/${actAs}/v1/User/currentPrincipal`, { headers: { ...subscriber, 'x-broker-event-grant': grant } });
      expect(res.status).toBe(403);
    }
    const noRule = await grantFor();
    expect((await raw('GET', '/api/superoffice/Cust12345/6/v1/Contact/101', { headers: { ...subscriber, 'x-broker-event-grant': noRule } })).status).toBe(403);
    expect(webApiCalls()).toBe(before);
  });

  it('a fresh grant naming that user lets the subscriber act as them; the audit records the grant', async () => {
    const grant = await grantFor();
    const res = await raw('GET', '/api/superoffice/Cust12345/6/v1/User/currentPrincipal', { headers: { ...subscriber, 'x-broker-event-grant': grant } });
    expect(res.status, res.body.toString().slice(0, 200)).toBe(200);
    expect(JSON.parse(res.body.toString())).toMatchObject({ AssociateId: 6 });
    expect(audits.findLast((a) => a.action === 'proxy')?.flags).toEqual(expect.arrayContaining([`event_grant:${grant}`]));
  });
});
