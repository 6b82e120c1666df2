/**
 * docs/superoffice.md §8 "/{ctx}/api/v1/Webhook registration with a test POST, then signed deliveries (HMAC-SHA256,
 * base64) with retry semantics" (§6). Signatures are recomputed here with node:crypto over the raw body bytes.
 */
import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { DEMO_APP, demoApp } from '../../../dev/superoffice/seed.js';
import { api, bearer, signIn, startReceiver, type Receiver } from './helpers.js';

const SECOND_APP = demoApp({ clientId: 'eeee2222eeee2222eeee2222eeee2222', clientSecret: 'ffff3333ffff3333ffff3333ffff3333', name: 'Second' });
const NO_AGENT_APP = demoApp({
  clientId: 'abab1212abab1212abab1212abab1212',
  clientSecret: 'cdcd3434cdcd3434cdcd3434cdcd3434',
  name: 'No Webhooks',
  webhookAgentAllowed: false,
});
const DELAYS = [30, 60];

let sim: SuperOfficeSimulator;
let token: string;
let receiver: Receiver;

beforeAll(async () => {
  sim = await startSuperOfficeSimulator({ apps: [DEMO_APP, SECOND_APP, NO_AGENT_APP], webhookRetryDelaysMs: DELAYS, webhookTimeoutMs: 1000 });
  token = (await signIn(sim, { associateId: 6 })).access_token;
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver.close();
  await sim.close();
});
afterEach(async () => {
  for (const w of sim.control.listWebhooks('Cust12345')) {
    await api(sim.url, `/Cust12345/api/v1/Webhook/${String(w['WebhookId'])}`, { method: 'DELETE', headers: bearer(token) });
  }
  receiver.requests.length = 0;
  receiver.respond = () => 200;
});

function definition(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Name: 'Contact Handler',
    Events: ['contact.created', 'contact.changed'],
    TargetUrl: `${receiver.url}/hook`,
    Secret: 'shared-secret',
    State: 'Active',
    Type: 'webhook',
    ...overrides,
  };
}

async function register(overrides: Record<string, unknown> = {}, t = token) {
  return api(sim.url, '/Cust12345/api/v1/Webhook', { method: 'POST', headers: bearer(t), body: definition(overrides) });
}

function json(raw: Buffer): Record<string, unknown> {
  return JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
}

describe('§8 webhook registration: refused', () => {
  it('403 when the app has no Webhook agent access', async () => {
    const other = await signIn(sim, { associateId: 6, clientId: NO_AGENT_APP.clientId, clientSecret: NO_AGENT_APP.clientSecret });
    const res = await register({}, other.access_token);
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).toMatch(/Webhook agent is not available/);
  });

  it('400 for http to a non-loopback host, a bad URL, no/unknown events, no name, bad state', async () => {
    for (const bad of [
      { TargetUrl: 'http://example.com/hook' },
      { TargetUrl: 'not a url' },
      { TargetUrl: 'ftp://127.0.0.1/x' },
      { Events: [] },
      { Events: ['contact.exploded'] },
      { Events: ['ticket.deleted'] },
      { Name: '' },
      { State: 'TooManyErrors' },
      { Headers: { 'Bad Header': 'x' } },
    ]) {
      const res = await register(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    expect(receiver.requests).toHaveLength(0);
  });

  it('400 and nothing saved when the test POST is not answered 200', async () => {
    receiver.respond = () => 500;
    const res = await register();
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/HTTP 500/);
    expect(sim.control.listWebhooks('Cust12345')).toHaveLength(0);
    receiver.respond = () => 204;
    expect((await register()).status).toBe(400);
  });

  it('400 when the target cannot be reached', async () => {
    const gone = await startReceiver();
    const url = gone.url;
    await gone.close();
    const res = await register({ TargetUrl: `${url}/hook` });
    expect(res.status).toBe(400);
  });
});

describe('§8 webhook registration: accepted', () => {
  it('GET /Webhook/default returns a template', async () => {
    const res = await api(sim.url, '/Cust12345/api/v1/Webhook/default', { headers: bearer(token) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ WebhookId: 0, State: 'Active', Type: 'webhook', Events: [] });
  });

  it('POST /Webhook/Test sends a test POST and reports the outcome', async () => {
    const ok = await api(sim.url, '/Cust12345/api/v1/Webhook/Test', { method: 'POST', headers: bearer(token), body: definition() });
    expect(ok.body).toMatchObject({ Success: true });
    expect(receiver.requests[0]?.headers['x-hook-test']).toBe('true');
    receiver.respond = () => 503;
    const bad = await api(sim.url, '/Cust12345/api/v1/Webhook/Test', { method: 'POST', headers: bearer(token), body: definition() });
    expect(bad.body).toMatchObject({ Success: false });
    expect(sim.control.listWebhooks('Cust12345')).toHaveLength(0);
  });

  it('sends the signed test POST ("test"/"test", X-Hook-Test: true) and returns the saved webhook, Active', async () => {
    const res = await register();
    expect(res.status).toBe(200);
    const saved = res.body as Record<string, unknown>;
    expect(saved).toMatchObject({ Name: 'Contact Handler', State: 'Active', Type: 'webhook', TargetUrl: `${receiver.url}/hook` });
    expect(typeof saved['WebhookId']).toBe('number');

    expect(receiver.requests).toHaveLength(1);
    const test = receiver.requests[0];
    if (!test) throw new Error('no test POST');
    expect(test.method).toBe('POST');
    expect(test.headers['x-hook-test']).toBe('true');
    expect(test.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = json(test.raw);
    expect(body).toMatchObject({ Event: 'test', Entity: 'test', ContextIdentifier: 'Cust12345', WebhookName: 'Contact Handler' });
    expect(test.headers['x-superoffice-signature']).toBe(createHmac('sha256', 'shared-secret').update(test.raw).digest('base64'));
  });

  it('GET by id, list, and DELETE (then 404); another app cannot see it', async () => {
    const id = String((((await register()).body) as Record<string, unknown>)['WebhookId']);
    expect((await api(sim.url, `/Cust12345/api/v1/Webhook/${id}`, { headers: bearer(token) })).status).toBe(200);
    const list = (await api(sim.url, '/Cust12345/api/v1/Webhook', { headers: bearer(token) })).body as unknown[];
    expect(list).toHaveLength(1);
    const second = await signIn(sim, { associateId: 6, clientId: SECOND_APP.clientId, clientSecret: SECOND_APP.clientSecret });
    expect((await api(sim.url, `/Cust12345/api/v1/Webhook/${id}`, { headers: bearer(second.access_token) })).status).toBe(404);
    expect((await api(sim.url, `/Cust12345/api/v1/Webhook/${id}`, { method: 'DELETE', headers: bearer(token) })).status).toBe(204);
    expect((await api(sim.url, `/Cust12345/api/v1/Webhook/${id}`, { headers: bearer(token) })).status).toBe(404);
    expect((await api(sim.url, `/Cust12345/api/v1/Webhook/${id}`, { method: 'DELETE', headers: bearer(token) })).status).toBe(404);
  });
});

describe('§6 deliveries: payload, headers and signature', () => {
  it('delivers subscribed events with the documented payload and headers, signed over the raw body', async () => {
    await register({ Headers: { 'X-Custom': 'abc' } });
    receiver.requests.length = 0;
    const [report] = await sim.control.fireEvent('Cust12345', 'contact.changed', 101, ['name']);
    expect(report).toMatchObject({ delivered: true, attempts: 1, state: 'Active', consecutiveErrors: 0 });
    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0];
    if (!req) throw new Error('no delivery');
    const body = json(req.raw);
    expect(body).toMatchObject({
      Event: 'contact.changed',
      Entity: 'contact',
      PrimaryKey: 101,
      Changes: ['name'],
      ContextIdentifier: 'Cust12345',
      WebhookName: 'Contact Handler',
      ChangedByAssociateId: 9,
    });
    expect(body['EventId']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(body['Timestamp']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/);
    expect((body['FieldValues'] as Record<string, unknown>)['name']).toBe('Fjord Shipping AS');
    expect(req.headers['x-superoffice-event']).toBe('contact.changed');
    expect(req.headers['x-superoffice-eventid']).toBe(body['EventId']);
    expect(req.headers['x-superoffice-retry']).toBe('0');
    expect(req.headers['user-agent']).toMatch(/^NetServer-Webhook\//);
    expect(req.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(req.headers['x-custom']).toBe('abc');
    expect(req.headers['x-hook-test']).toBeUndefined();
    const expected = createHmac('sha256', Buffer.from('shared-secret', 'utf8')).update(req.raw).digest('base64');
    expect(req.headers['x-superoffice-signature']).toBe(expected);
  });

  it('sends no signature header without a Secret, and nothing for events not subscribed', async () => {
    await register({ Secret: '' });
    receiver.requests.length = 0;
    expect(await sim.control.fireEvent('Cust12345', 'person.created', 201)).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
    await sim.control.fireEvent('Cust12345', 'contact.created', 101);
    expect(receiver.requests[0]?.headers['x-superoffice-signature']).toBeUndefined();
  });

  it('PATCH Contact fires contact.changed with the changed DB fields, attributed to the user', async () => {
    await register();
    receiver.requests.length = 0;
    const res = await api(sim.url, '/Cust12345/api/v1/Contact/101', { method: 'PATCH', headers: bearer(token), body: { Name: 'Fjord Shipping ASA' } });
    expect(res.status).toBe(200);
    for (let i = 0; i < 50 && receiver.requests.length === 0; i += 1) await new Promise((r) => setTimeout(r, 20));
    const body = json(receiver.requests[0]?.raw ?? Buffer.from('{}'));
    expect(body).toMatchObject({ Event: 'contact.changed', PrimaryKey: 101, ChangedByAssociateId: 6 });
    expect(body['Changes']).toEqual(['name', 'updated', 'updated_associate_id']);
  });

  it('fires events through the HTTP control surface', async () => {
    await register();
    const res = await fetch(`${sim.url}/__sim/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ctx: 'Cust12345', event: 'contact.created', primaryKey: 102 }),
    });
    const reports = (await res.json()) as { delivered: boolean }[];
    expect(reports).toHaveLength(1);
    expect(reports[0]?.delivered).toBe(true);
  });
});

describe('§6 retries: 3 attempts per cycle, discard, new EventId, TooManyErrors after 9', () => {
  it('retries with the configured delays, the same EventId and X-SuperOffice-Retry 0,1,2', async () => {
    await register();
    receiver.requests.length = 0;
    const times: number[] = [];
    receiver.respond = (i) => {
      times.push(Date.now());
      return i < 2 ? 500 : 200;
    };
    const [report] = await sim.control.fireEvent('Cust12345', 'contact.changed', 101);
    expect(report).toMatchObject({ delivered: true, attempts: 3, consecutiveErrors: 0 });
    expect(receiver.requests.map((r) => r.headers['x-superoffice-retry'])).toEqual(['0', '1', '2']);
    expect(new Set(receiver.requests.map((r) => r.headers['x-superoffice-eventid'])).size).toBe(1);
    // Arrival gaps: the configured delay, minus a little jitter between two loopback requests.
    expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual((DELAYS[0] ?? 0) - 10);
    expect((times[2] ?? 0) - (times[1] ?? 0)).toBeGreaterThanOrEqual((DELAYS[1] ?? 0) - 10);
  });

  it('discards after the third failure, counts the error, and the next event gets a new EventId', async () => {
    await register();
    receiver.requests.length = 0;
    receiver.respond = () => 500;
    const [first] = await sim.control.fireEvent('Cust12345', 'contact.changed', 101);
    expect(first).toMatchObject({ delivered: false, attempts: 3, consecutiveErrors: 1, state: 'Active' });
    const [second] = await sim.control.fireEvent('Cust12345', 'contact.changed', 101);
    expect(second?.consecutiveErrors).toBe(2);
    expect(second?.eventId).not.toBe(first?.eventId);
    expect(receiver.requests).toHaveLength(6);
    receiver.respond = () => 200;
    const [ok] = await sim.control.fireEvent('Cust12345', 'contact.changed', 101);
    expect(ok).toMatchObject({ delivered: true, consecutiveErrors: 0 });
  });

  it('becomes TooManyErrors (3) after 9 consecutive failed cycles, stops delivering, and is revived by saving it Active', async () => {
    const id = String((((await register()).body) as Record<string, unknown>)['WebhookId']);
    receiver.respond = () => 500;
    for (let i = 1; i <= 9; i += 1) {
      const [report] = await sim.control.fireEvent('Cust12345', 'contact.changed', 101);
      expect(report?.consecutiveErrors).toBe(i);
      expect(report?.state).toBe(i < 9 ? 'Active' : 'TooManyErrors');
    }
    const stored = await api(sim.url, `/Cust12345/api/v1/Webhook/${id}`, { headers: bearer(token) });
    expect((stored.body as Record<string, unknown>)['State']).toBe('TooManyErrors');
    receiver.requests.length = 0;
    expect(await sim.control.fireEvent('Cust12345', 'contact.changed', 101)).toEqual([]);
    expect(receiver.requests).toHaveLength(0);

    receiver.respond = () => 200;
    const revived = await api(sim.url, `/Cust12345/api/v1/Webhook/${id}`, { method: 'PUT', headers: bearer(token), body: definition() });
    expect(revived.status).toBe(200);
    expect((revived.body as Record<string, unknown>)['State']).toBe('Active');
    const [report] = await sim.control.fireEvent('Cust12345', 'contact.changed', 101);
    expect(report).toMatchObject({ delivered: true, consecutiveErrors: 0 });
  });

  it('counts deliveries and test POSTs', () => {
    expect(sim.counters.get('webhookDelivery')).toBeGreaterThan(30);
    expect(sim.counters.get('webhookTest')).toBeGreaterThan(5);
    expect(sim.counters.get('webhookApi')).toBeGreaterThan(5);
  });
});

describe('close() ends pending retries', () => {
  it('resolves a delivery cycle waiting on a long retry delay when the simulator closes', async () => {
    const slow = await startSuperOfficeSimulator({ webhookRetryDelaysMs: [60_000, 60_000] });
    const t = (await signIn(slow, { associateId: 6 })).access_token;
    const res = await api(slow.url, '/Cust12345/api/v1/Webhook', { method: 'POST', headers: bearer(t), body: definition() });
    expect(res.status).toBe(200);
    receiver.respond = () => 500;
    const pending = slow.control.fireEvent('Cust12345', 'contact.changed', 101);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await slow.close();
    const [report] = await pending;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(report?.delivered).toBe(false);
    expect(report?.attempts).toBe(1);
  });
});
