import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevHost, type DevHost } from '../../../dev/host/index.js';
import { createActionHandler, getActionHandler } from '../../../functions/actions.js';
import { registerWebhookHandler, listWebhooksHandler } from '../../../functions/webhooks.js';
import { sealEnvelope, type ActionMessage } from '../../../shared/actions/envelope.js';
import { verifyAuditTable } from '../../../shared/audit/verifyTable.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import type { Caller } from '../../../shared/identity/caller.js';
import { OPERATION_ROLES } from '../../../shared/identity/operations.js';
import { parseProxyPath } from '../../../shared/proxy/path.js';
import { listFunctions } from '../../../shared/runtime/registry.js';
import type { RequestGuard } from '../../../shared/runtime/runtime.js';
import { SECRET_NAMES } from '../../../shared/secrets/names.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { webhookSecretName, webhookSignature } from '../../../shared/webhooks/signature.js';
import { DEMO_APP } from '../../../dev/superoffice/seed.js';
import { CALLERS, TEST_TENANT, startBrokerHarness, type BrokerHarness, type HarnessResponse } from '../../support/brokerHarness.js';
import { waitFor } from '../../support/devHostFunctions.js';

/**
 * Issue 13 end to end on the local stack: Azurite (tables and queues through the dev host's queue
 * triggers, base64, 5 dequeues then `actions-poison`), the Key Vault server, the SuperOffice simulator
 * (which fires signed webhooks for Web API changes, with ChangedByAssociateId of the acting user), and
 * the broker's own functions served over HTTP by the dev host.
 */

const WORKER_OID = 'aaaaaaaa-0000-4000-8000-0000000000b1';
const WORKER = { tid: TEST_TENANT, oid: WORKER_OID, azp: 'aaaaaaaa-0000-4000-8000-0000000000b2' };
const NORA = '6';
const ADA = 5;
const CTX = 'Cust12345';

const POLICY = {
  version: 1,
  callers: [
    {
      name: 'integration', tid: TEST_TENANT, oid: CALLERS.integration.oid, operations: ['proxy', 'actions', 'connections.admin', 'audit.read'],
      superOffice: [{ env: 'sod', ctx: CTX, users: '*', webApi: ['GET,PATCH v1/Contact/*'] }], systemUser: true,
    },
    // The worker may not act as arbitrary users: only with an event grant.
    { name: 'worker', tid: TEST_TENANT, oid: WORKER_OID, operations: ['actions'], superOffice: [{ env: 'sod', ctx: CTX, users: ['999'], webApi: ['PATCH v1/Contact/*'] }] },
  ],
};

const SUBSCRIBERS = {
  subscribers: { worker: { queue: 'events-worker', tid: TEST_TENANT, oid: WORKER_OID } },
  rules: [{ ctx: CTX, events: ['contact.*'], subscribers: ['worker'] }],
};

function guard(): RequestGuard {
  const known: Record<string, { tid: string; oid: string; azp: string }> = { integration: CALLERS.integration, worker: WORKER };
  return {
    async authenticate(request, operation) {
      const ids = known[request.headers.get('x-test-caller') ?? ''];
      if (ids === undefined) throw new BrokerError('unauthenticated');
      const caller: Caller = { ...ids, idtyp: 'app', roles: Object.values(OPERATION_ROLES), tokenVersion: '2.0' };
      return { caller, roleUsed: operation ? OPERATION_ROLES[operation] : 'Actions.Run' };
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let harness: BrokerHarness;
/** Secrets that must never reach a queue message or a stored action, event or grant (requirement 19). */
const canaries: string[] = [DEMO_APP.clientSecret];
let host: DevHost;
let workerQueue: QueueClient;
let actionsQueue: QueueClient;

beforeAll(async () => {
  const port = await freePort();
  harness = await startBrokerHarness({
    env: {
      BROKER_POLICY: JSON.stringify(POLICY),
      EVENT_SUBSCRIBERS: JSON.stringify(SUBSCRIBERS),
      // The webhook target is built from the redirect URI's origin: the dev host below.
      SUPEROFFICE_REDIRECT_URI: `http://127.0.0.1:${port}/api/consent/callback`,
    },
    overrides: () => ({ guard: guard() }),
  });
  await harness.runtime.secrets.set(SECRET_NAMES.actionsHmacKey, new Secret(randomBytes(32).toString('base64')));
  const mine = new Set(['actionsCreate', 'actionsGet', 'actionsExecute', 'actionsPoison', 'webhookReceive']);
  host = await startDevHost({
    port,
    functions: listFunctions().filter((f) => mine.has(f.name)),
    storageConnectionString: harness.azurite.connectionString,
    queuePollMs: 100,
    log: () => undefined,
  });
  workerQueue = new QueueClient(harness.azurite.connectionString, 'events-worker');
  await workerQueue.createIfNotExists();
  actionsQueue = new QueueClient(harness.azurite.connectionString, 'actions');
  await harness.connect(ADA); // the administrator: stores the system-user token
  canaries.push((await harness.connect(Number(NORA))).refreshToken);
}, 120_000);

afterAll(async () => {
  await host?.close();
  await harness?.stop();
});

function call(handler: Parameters<BrokerHarness['call']>[0], caller: 'integration' | 'worker', init: { method?: string; path: string; body?: unknown; headers?: Record<string, string>; params?: Record<string, string> }): Promise<HarnessResponse> {
  return harness.call(handler, { ...init, headers: { 'x-test-caller': caller, ...init.headers } });
}

async function nextCloudEvent(timeoutMs = 15_000): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitFor(async () => {
    const { receivedMessageItems } = await workerQueue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 30 });
    const message = receivedMessageItems[0];
    if (message === undefined) return false;
    await workerQueue.deleteMessage(message.messageId, message.popReceipt);
    found = JSON.parse(Buffer.from(message.messageText, 'base64').toString('utf8')) as Record<string, unknown>;
    return true;
  }, timeoutMs, 100);
  return found!;
}

async function actionState(id: string, caller: 'integration' | 'worker' = 'worker'): Promise<HarnessResponse> {
  return call(getActionHandler, caller, { path: `/api/actions/${id}`, params: { id } });
}

async function waitFinal(id: string, caller: 'integration' | 'worker' = 'worker'): Promise<Record<string, unknown>> {
  let json: Record<string, unknown> = {};
  await waitFor(async () => {
    json = (await actionState(id, caller)).json;
    return json['state'] === 'succeeded' || json['state'] === 'failed';
  }, 30_000, 100);
  return json;
}

async function createAction(caller: 'integration' | 'worker', body: unknown, headers: Record<string, string> = {}): Promise<HarnessResponse> {
  return call(createActionHandler, caller, { method: 'POST', path: '/api/actions', body, headers: { 'idempotency-key': randomUUID(), ...headers } });
}

async function sendRaw(text: string): Promise<void> {
  await actionsQueue.sendMessage(Buffer.from(text, 'utf8').toString('base64'));
}

const webApiCalls = (): number => harness.sim.counters.get('webapi');

let grantedEvent: Record<string, unknown>;
let succeededId: string;

describe('issue 13 end to end: webhook → CloudEvent → action as the user who changed the record', () => {
  it('registers the webhook through the system user (SuperOffice test POST verified by the broker)', async () => {
    const created = await call(registerWebhookHandler, 'integration', { method: 'POST', path: `/api/webhooks/superoffice/${CTX}`, params: { ctx: CTX }, body: { name: 'contacts', events: ['contact.changed'] } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: 'contacts', state: 'Active', targetUrl: `${host.url}/api/webhooks/superoffice/${CTX}/contacts` });
    expect(harness.sim.counters.get('webhookTest')).toBe(1);
    const listed = await call(listWebhooksHandler, 'integration', { path: `/api/webhooks/superoffice/${CTX}`, params: { ctx: CTX } });
    expect((listed.json['webhooks'] as unknown[]).length).toBe(1);
  });

  it('Nora changes a contact through the proxy call path; the verified webhook reaches the worker as a CloudEvent with a grant', async () => {
    const answer = await harness.runtime.proxy.call({
      ctx: CTX, actAs: { kind: 'user', associateId: NORA }, method: 'PATCH', path: parseProxyPath('v1/Contact/101'),
      headers: new Headers({ 'content-type': 'application/json', accept: 'application/json' }), body: new Uint8Array(Buffer.from('{"Name":"Fjord Shipping ASA"}')),
      proxyPrefix: `/api/superoffice/${CTX}/${NORA}/`, deadline: Date.now() + 10_000, signal: new AbortController().signal,
    });
    expect(answer.status).toBe(200);
    grantedEvent = await nextCloudEvent();
    expect(grantedEvent).toMatchObject({ specversion: '1.0', type: 'superoffice.contact.changed', subject: `${CTX}/contact/101`, data: expect.objectContaining({ ChangedByAssociateId: 6, ContextIdentifier: CTX }) });
    expect(grantedEvent['brokereventgrant']).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('the worker cannot act as Nora without the grant, nor with a forged one', async () => {
    const body = { ctx: CTX, actAs: NORA, request: { method: 'PATCH', path: 'v1/Contact/101', body: { Department: 'Worker' } } };
    expect((await createAction('worker', body)).status).toBe(403);
    expect((await createAction('worker', body, { 'x-broker-event-grant': 'A'.repeat(43) })).status).toBe(403);
    expect((await createAction('worker', { ...body, actAs: '7' }, { 'x-broker-event-grant': String(grantedEvent['brokereventgrant']) })).status).toBe(403);
  });

  it('the worker creates an action as Nora with the grant; the simulator records the change as Nora; GET shows succeeded', async () => {
    const before = webApiCalls();
    const accepted = await createAction('worker', { ctx: CTX, actAs: NORA, request: { method: 'PATCH', path: 'v1/Contact/101', body: { Department: 'Shipping' } } }, { 'x-broker-event-grant': String(grantedEvent['brokereventgrant']) });
    expect(accepted.status).toBe(202);
    succeededId = String(accepted.json['id']);
    expect(accepted.headers.get('location')).toBe(`/api/actions/${succeededId}`);
    const result = await waitFinal(succeededId);
    expect(result).toMatchObject({ state: 'succeeded', superOfficeStatus: 200, attempts: 1, eventGrant: true });
    expect(JSON.parse(String((result['response'] as { body: string }).body))).toMatchObject({ Department: 'Shipping' });
    expect(webApiCalls() - before).toBeGreaterThanOrEqual(1);
    // SuperOffice's own record of who changed it: the next webhook names Nora.
    const second = await nextCloudEvent();
    expect(second['data']).toMatchObject({ ChangedByAssociateId: 6, Changes: expect.arrayContaining(['department']) });
    // Nobody else sees the result.
    expect((await actionState(succeededId, 'integration')).status).toBe(404);
  });

  it('the audit trail shows each step under the right caller, and the chains verify', async () => {
    const rows: Array<Record<string, unknown>> = [];
    for await (const row of harness.runtime.storage.table('audit').listEntities<Record<string, unknown>>()) rows.push(row);
    const workerId = `${TEST_TENANT}_${WORKER_OID}`;
    const grant = String(grantedEvent['brokereventgrant']);
    const of = (action: string, caller: string) => rows.filter((r) => r['action'] === action && r['caller_id'] === caller);
    expect(of('webhooks.receive', 'anonymous').some((r) => r['outcome'] === 'allow' && r['reason'] === 'delivered' && r['subject_associate_id'] === '6')).toBe(true);
    expect(of('actions.create', workerId).some((r) => r['outcome'] === 'allow' && String(r['target']).includes(`grant ${grant}`))).toBe(true);
    expect(of('actions.create', workerId).filter((r) => r['outcome'] === 'deny')).toHaveLength(3);
    expect(of('actions.execute', workerId).some((r) => r['outcome'] === 'allow' && r['subject_associate_id'] === '6' && String(r['target']).includes(`grant ${grant}`))).toBe(true);
    expect(of('webhooks.register', `${TEST_TENANT}_${CALLERS.integration.oid}`)).toHaveLength(1);
    const reports = await verifyAuditTable({ records: harness.runtime.storage.table('audit'), heads: harness.runtime.storage.table('auditheads') });
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.flatMap((r) => r.problems)).toEqual([]);
  });
});

describe('queue messages that must never execute', () => {
  async function genuineMessage(): Promise<ActionMessage> {
    return {
      id: succeededId, caller: WORKER, env: 'sod', ctx: CTX, actAs: NORA, method: 'PATCH', path: 'v1/Contact/101',
      body: { Department: 'Shipping' }, grant: String(grantedEvent['brokereventgrant']), notify: false, enqueuedAt: new Date().toISOString(),
    };
  }

  async function refusals(): Promise<Array<Record<string, unknown>>> {
    const rows: Array<Record<string, unknown>> = [];
    for await (const row of harness.runtime.storage.table('actionresults').listEntities<Record<string, unknown>>({ queryOptions: { filter: "PartitionKey eq 'refused'" } })) rows.push(row);
    return rows;
  }

  it('not JSON, unsigned, tampered and forged messages are refused, recorded and audited; nothing reaches SuperOffice', async () => {
    const before = webApiCalls();
    const known = (await refusals()).length;
    const genuine = JSON.parse(await sealEnvelope({ ...(await genuineMessage()), id: randomUUID() }, harness.runtime.actionsKeyring)) as { action: Record<string, unknown>; sig: string };
    await sendRaw('this is not json');
    await sendRaw(JSON.stringify({ v: 1, action: genuine.action }));
    await sendRaw(JSON.stringify({ ...genuine, action: { ...genuine.action, actAs: '7' } }));
    await sendRaw(JSON.stringify({ ...genuine, sig: 'B'.repeat(43) }));
    await waitFor(async () => (await refusals()).length >= known + 4, 20_000, 100);
    const reasons = (await refusals()).map((r) => r['reason']).sort();
    expect(reasons).toEqual(expect.arrayContaining(['not_json', 'signature_missing', 'signature_invalid', 'signature_invalid']));
    expect(webApiCalls()).toBe(before);
    // Completed, not retried into the poison queue.
    const poison = new QueueClient(harness.azurite.connectionString, 'actions-poison');
    await poison.createIfNotExists();
    expect((await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toHaveLength(0);
    const audit: Array<Record<string, unknown>> = [];
    for await (const row of harness.runtime.storage.table('audit').listEntities<Record<string, unknown>>()) audit.push(row);
    expect(audit.filter((r) => r['caller_id'] === 'anonymous' && r['action'] === 'actions.execute' && r['outcome'] === 'deny').length).toBeGreaterThanOrEqual(4);
  });

  it('a replayed (duplicate) delivery of a finished action executes nothing (simulator request counter)', async () => {
    const before = webApiCalls();
    const text = await sealEnvelope(await genuineMessage(), harness.runtime.actionsKeyring);
    await sendRaw(text);
    await sendRaw(text);
    await waitFor(async () => (await actionsQueue.getProperties()).approximateMessagesCount === 0, 10_000, 100);
    await new Promise((r) => setTimeout(r, 500));
    expect(webApiCalls()).toBe(before);
    expect((await actionState(succeededId)).json).toMatchObject({ state: 'succeeded', attempts: 1 });
  });
});

describe('retries', () => {
  const body = (department: string) => ({ ctx: CTX, actAs: NORA, request: { method: 'PATCH', path: 'v1/Contact/101', body: { Department: department } } });

  it('a transient failure (SuperOffice 503 once) is retried by the queue and then succeeds', async () => {
    harness.sim.control.setFault('webapi', { status: 503, times: 1 });
    const accepted = await createAction('integration', body('Retry'));
    expect(accepted.status).toBe(202);
    const result = await waitFinal(String(accepted.json['id']), 'integration');
    expect(result).toMatchObject({ state: 'succeeded', attempts: 2, superOfficeStatus: 200 });
  });

  it('a permanent failure (SuperOffice 400) fails at once', async () => {
    const accepted = await createAction('integration', { ...body('x'), request: { method: 'PATCH', path: 'v1/Contact/101', body: { NoSuchField: 'x' } } });
    const result = await waitFinal(String(accepted.json['id']), 'integration');
    expect(result).toMatchObject({ state: 'failed', attempts: 1, errorCode: 'superoffice_400', superOfficeStatus: 400 });
  });

  it('an always-failing action ends as exhausted via the poison queue after 5 attempts', async () => {
    harness.sim.control.setFault('webapi', { status: 503 });
    try {
      const accepted = await createAction('integration', body('Never'));
      const result = await waitFinal(String(accepted.json['id']), 'integration');
      expect(result).toMatchObject({ state: 'failed', errorCode: 'exhausted', attempts: 5 });
    } finally {
      harness.sim.control.clearFaults('webapi');
    }
  }, 60_000);

  it('the same Idempotency-Key returns the same id; with another body it is 409', async () => {
    const key = randomUUID();
    const first = await createAction('integration', body('Idem'), { 'idempotency-key': key });
    const again = await createAction('integration', body('Idem'), { 'idempotency-key': key });
    const other = await createAction('integration', body('Other'), { 'idempotency-key': key });
    expect(again.json['id']).toBe(first.json['id']);
    expect(other.status).toBe(409);
    await waitFinal(String(first.json['id']), 'integration');
  });
});

describe('webhooks that must have no effect', () => {
  async function post(body: string, signature: string | undefined): Promise<Response> {
    return fetch(`${host.apiUrl}/webhooks/superoffice/${CTX}/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', ...(signature !== undefined ? { 'x-superoffice-signature': signature } : {}) },
      body,
    });
  }

  it('unsigned, wrongly signed and replayed deliveries deliver nothing', async () => {
    const secret = (await harness.runtime.secrets.get(webhookSecretName('sod', CTX, 'contacts'))).value;
    const body = JSON.stringify({ EventId: randomUUID(), Timestamp: new Date().toISOString(), Event: 'contact.changed', Entity: 'contact', PrimaryKey: 101, Changes: ['name'], ContextIdentifier: CTX, ChangedByAssociateId: 5, WebhookName: 'contacts' });
    expect((await post(body, undefined)).status).toBe(401);
    expect((await post(body, webhookSignature(Buffer.from(body), 'not-the-secret'))).status).toBe(401);
    expect((await post(`${body} `, webhookSignature(Buffer.from(body), secret))).status).toBe(401);
    const good = await post(body, webhookSignature(Buffer.from(body), secret));
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ received: 'delivered' });
    const replay = await post(body, webhookSignature(Buffer.from(body), secret));
    expect(await replay.json()).toEqual({ received: 'duplicate' });
    const eventId = (JSON.parse(body) as { EventId: string }).EventId;
    await new Promise((r) => setTimeout(r, 500));
    const ours: unknown[] = [];
    for (;;) {
      const { receivedMessageItems } = await workerQueue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 });
      if (receivedMessageItems.length === 0) break;
      for (const m of receivedMessageItems) {
        const event = JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as { data: { EventId: string } };
        if (event.data.EventId === eventId) ours.push(event);
      }
    }
    // Exactly one CloudEvent for the one accepted delivery.
    expect(ours).toHaveLength(1);
    // The refused deliveries are audited as anonymous denials.
    const audit: Array<Record<string, unknown>> = [];
    for await (const row of harness.runtime.storage.table('audit').listEntities<Record<string, unknown>>()) audit.push(row);
    const refused = audit.filter((r) => r['action'] === 'webhooks.receive' && r['caller_id'] === 'anonymous' && r['outcome'] === 'deny' && r['http_status'] === 401);
    expect(refused.length).toBeGreaterThanOrEqual(3);
  });
});

describe('requirement 19: no token or secret in queue payloads or stored actions', () => {
  it('scans every queue message and every row of the actions, grants and webhook tables', async () => {
    const texts: string[] = [];
    for (const name of ['actions', 'actions-poison', 'events-worker']) {
      const queue = new QueueClient(harness.azurite.connectionString, name);
      if (!(await queue.exists())) continue;
      for (const m of (await queue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems) texts.push(m.messageText, Buffer.from(m.messageText, 'base64').toString('utf8'));
    }
    for (const name of ['actionresults', 'eventgrants', 'webhookevents']) {
      for await (const row of harness.runtime.storage.table(name).listEntities<Record<string, unknown>>()) {
        texts.push(JSON.stringify(row, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v)));
      }
    }
    expect(texts.length).toBeGreaterThan(10);
    const all = texts.join('\n');
    for (const canary of canaries) expect(all).not.toContain(canary);
    // Access tokens of the simulator look like 8A:<ctx>.<random>; tickets like 7T:…
    expect(all).not.toMatch(/8A:Cust12345\./);
    expect(all).not.toMatch(/7T:/);
    const webhookSecret = (await harness.runtime.secrets.get(webhookSecretName('sod', CTX, 'contacts'))).value.reveal();
    expect(all).not.toContain(webhookSecret);
  });
});

describe('issue 13 point 7: the daily probe reports webhooks SuperOffice has stopped', () => {
  it('webhooksProbe logs nothing while the webhook is active, and webhooks.stopped once SuperOffice stopped it', async () => {
    const probe = listFunctions().find((f) => f.name === 'webhooksProbe');
    expect(probe).toMatchObject({ kind: 'timer', schedule: '0 30 3 * * *' });
    const run = async () => {
      const from = harness.logLines.length;
      await (probe as unknown as { handler: (timer: unknown, context: unknown) => Promise<void> }).handler({ isPastDue: false }, { invocationId: 'probe' });
      return harness.logLines.slice(from).filter((l) => l.includes('webhooks.stopped') || l.includes('webhooks.probe_failed'));
    };
    expect(await run()).toEqual([]);
    // SuperOffice stops the webhook (as after too many failed deliveries, or an administrator in Settings and maintenance).
    const call = { signal: AbortSignal.timeout(10_000), deadline: Date.now() + 10_000 };
    const mine = (await harness.runtime.webhooks.list(CTX, call)).find((w) => w.name === 'contacts');
    expect(mine).toBeDefined();
    // A PUT saves the whole definition (SuperOffice tests the target with it): the same secret.
    const secret = (await harness.runtime.secrets.get(webhookSecretName('sod', CTX, 'contacts'))).value.reveal();
    const stop = await harness.runtime.proxy.call({
      ctx: CTX, actAs: { kind: 'system' }, method: 'PUT', path: parseProxyPath(`v1/Webhook/${mine!.id}`, ''),
      headers: new Headers({ 'content-type': 'application/json', accept: 'application/json' }),
      body: new TextEncoder().encode(JSON.stringify({ Name: mine!.name, Events: ['contact.changed'], TargetUrl: mine!.targetUrl, Secret: secret, State: 'Stopped', Type: 'webhook' })),
      proxyPrefix: `/api/superoffice/${CTX}/system/`, deadline: Date.now() + 10_000, signal: AbortSignal.timeout(10_000),
    });
    expect(stop.status).toBe(200);
    const lines = await run();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ event: 'webhooks.stopped', level: 'warn', ctx: CTX, name: 'contacts', state: 'Stopped' });
  });
});
