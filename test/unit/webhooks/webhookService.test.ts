import { createHmac } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { staticKeyring } from '../../../shared/actions/hmacKey.js';
import { MemoryEventGrantStore } from '../../../shared/events/grants.js';
import { EventPublisher } from '../../../shared/events/publisher.js';
import { parseSubscriberConfig } from '../../../shared/events/subscribers.js';
import { createLogger } from '../../../shared/log/logger.js';
import { MemorySecretStore } from '../../../shared/secrets/memoryStore.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { MemoryWebhookDedupeStore } from '../../../shared/webhooks/dedupe.js';
import { verifyWebhookSignature, webhookSecretName, webhookSignature } from '../../../shared/webhooks/signature.js';
import { WebhookService, disabledWebhooks, MAX_WEBHOOK_BODY_BYTES } from '../../../shared/webhooks/webhookService.js';
import type { ProxyRequest, ProxyResponse } from '../../../shared/proxy/proxyService.js';

const TID = '11111111-1111-4111-8111-111111111111';
const WORKER_OID = '55555555-5555-4555-8555-555555555555';
const SECRET = 'webhook-secret-0123456789abcdef';
const NOW = Date.parse('2025-06-01T12:00:00.000Z');

function payload(overrides: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({
    EventId: '9d4f3c2b-1a0e-4f5d-8c7b-6a5948372615', Timestamp: '2025-06-01T12:00:00Z', Event: 'contact.changed', Entity: 'contact', PrimaryKey: 2,
    Changes: ['name'], ContextIdentifier: 'Cust1', ChangedByAssociateId: 5, WebhookName: 'broker', ...overrides,
  }), 'utf8');
}

describe('webhook signature (docs/superoffice.md §6)', () => {
  const body = payload();
  it('refuses a missing, empty, hex, prefixed, truncated or other-key signature', () => {
    const good = webhookSignature(body, SECRET);
    expect(verifyWebhookSignature(body, null, SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, '', SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, Buffer.from(good, 'base64').toString('hex'), SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, `sha256=${good}`, SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, good.slice(0, 40), SECRET)).toBe(false);
    expect(verifyWebhookSignature(body, webhookSignature(body, 'other-secret'), SECRET)).toBe(false);
  });

  it('refuses a body changed by one byte, or re-serialised', () => {
    const good = webhookSignature(body, SECRET);
    const changed = Buffer.from(body);
    changed.writeUInt8(changed.readUInt8(changed.length - 2) ^ 1, changed.length - 2);
    expect(verifyWebhookSignature(changed, good, SECRET)).toBe(false);
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8')), null, 1));
    expect(verifyWebhookSignature(reserialised, good, SECRET)).toBe(false);
  });

  it('accepts base64 HMAC-SHA256 of the raw bytes under the secret', () => {
    const expected = createHmac('sha256', SECRET).update(body).digest('base64');
    expect(webhookSignature(body, SECRET)).toBe(expected);
    expect(verifyWebhookSignature(body, expected, SECRET)).toBe(true);
  });

  it('names secrets without the tenant id', () => {
    expect(webhookSecretName('sod', 'Cust1', 'broker')).toMatch(/^so-wh-[0-9a-f]{64}$/);
    expect(webhookSecretName('sod', 'CUST1', 'broker')).toBe(webhookSecretName('sod', 'Cust1', 'broker'));
  });
});

let sent: Array<{ queue: string; text: string }>;
let grants: MemoryEventGrantStore;
let dedupe: MemoryWebhookDedupeStore;
let secrets: MemorySecretStore;
let service: WebhookService;
let failSend: boolean;

beforeEach(async () => {
  sent = [];
  failSend = false;
  grants = new MemoryEventGrantStore();
  dedupe = new MemoryWebhookDedupeStore();
  secrets = new MemorySecretStore();
  await secrets.set(webhookSecretName('sod', 'Cust1', 'broker'), new Secret(SECRET));
  const publisher = new EventPublisher({
    environment: 'sod',
    config: parseSubscriberConfig({
      subscribers: { worker: { queue: 'events-worker', tid: TID, oid: WORKER_OID }, audit: { queue: 'events-audit', tid: TID, appId: '66666666-6666-4666-8666-666666666666' } },
      rules: [{ ctx: 'Cust1', events: ['contact.*'], subscribers: ['worker'] }, { ctx: '*', events: ['*'], subscribers: ['audit'] }],
    }),
    send: async (queue, text) => {
      if (failSend) throw new Error('queue down');
      sent.push({ queue, text });
    },
    grants,
    keyring: staticKeyring('unit-actions-hmac-key-0123456789'),
    logger: createLogger({ sink: () => undefined }),
    clock: () => NOW,
  });
  service = new WebhookService({
    environment: 'sod', secrets, dedupe, publisher, proxy: { call: async () => { throw new Error('unused'); } },
    publicOrigin: 'https://broker.example', logger: createLogger({ sink: () => undefined }), clock: () => NOW,
  });
});

const receive = (body: Buffer, signature: string | null = webhookSignature(body, SECRET), ctx = 'Cust1', name = 'broker') => service.receive({ ctx, name, body, signature });

function decoded(text: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as Record<string, unknown>;
}

describe('WebhookService.receive: refusals first', () => {
  it('answers 401 for a missing or wrong signature and delivers nothing', async () => {
    expect(await receive(payload(), null)).toEqual({ status: 401, reason: 'signature_missing' });
    expect(await receive(payload(), webhookSignature(payload(), 'guess'))).toEqual({ status: 401, reason: 'signature_invalid' });
    expect(sent).toEqual([]);
    expect(dedupe.rows.size).toBe(0);
  });

  it('answers 401 for a webhook the broker does not know (no secret), even with a plausible signature', async () => {
    expect(await receive(payload(), undefined, 'Cust1', 'other')).toEqual({ status: 401, reason: 'webhook_unknown' });
  });

  it('does not parse an unsigned body: invalid JSON without a signature is still 401', async () => {
    expect(await receive(Buffer.from('{not json'), null)).toMatchObject({ status: 401 });
  });

  it('refuses a signed body naming another tenant, and an oversized body', async () => {
    expect(await receive(payload({ ContextIdentifier: 'Cust2' }))).toEqual({ status: 400, reason: 'wrong_tenant' });
    const big = Buffer.alloc(MAX_WEBHOOK_BODY_BYTES + 1, 0x20);
    await expect(receive(big)).rejects.toMatchObject({ code: 'payload_too_large' });
    expect(sent).toEqual([]);
  });

  it('issue 15 point 2: refuses a signed body that is not UTF-8 JSON, repeats a member, nests too deep or is not a notification, with its reason', async () => {
    const text = payload().toString('utf8');
    const cases: Array<[Buffer, string]> = [
      [Buffer.from('{not json'), 'not_json'],
      [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), payload()]), 'not_json'],
      // UTF-16 of ASCII text is valid UTF-8 (with NUL bytes), but not JSON; with its BOM it is not UTF-8.
      [Buffer.from(text, 'utf16le'), 'not_json'],
      [Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), 'not_utf8'],
      [Buffer.alloc(0), 'not_json'],
      [Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from(',"X":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]), 'not_utf8'],
      [Buffer.from(text.replace(/}$/, ',"ContextIdentifier":"Cust2"}')), 'duplicate_key'],
      [Buffer.from(text.replace(/}$/, ',"Cont\u0065xtIdentifier":"Cust1"}')), 'duplicate_key'],
      [Buffer.from(text.replace(/}$/, `,"X":${'['.repeat(40)}${']'.repeat(40)}}`)), 'too_deep'],
      [Buffer.from('[1,2]'), 'not_a_notification'],
      [Buffer.from('42'), 'not_a_notification'],
      [payload({ EventId: 7 }), 'not_a_notification'],
      [payload({ PrimaryKey: '2' }), 'not_a_notification'],
      [payload({ ChangedByAssociateId: -1 }), 'not_a_notification'],
    ];
    for (const [body, reason] of cases) expect(await receive(body), reason).toEqual({ status: 400, reason });
    expect(sent).toEqual([]);
    expect(dedupe.rows.size).toBe(0);
  });

  it('accepts what is strict enough: nested members, the same name in different objects, escaped quotes, 32 levels', async () => {
    const text = payload().toString('utf8');
    const extra = JSON.stringify({ FieldValues: { a: { a: '\\"a"}', b: [{ a: 1 }, { a: 2 }] } } }).slice(1, -1);
    const body = Buffer.from(text.replace(/}$/, `,${extra},"Deep":${'['.repeat(31)}${']'.repeat(31)}}`));
    expect(await receive(body)).toMatchObject({ status: 200, reason: 'delivered' });
  });
});

describe('WebhookService.receive', () => {
  it('answers the test event 200 and delivers nothing', async () => {
    expect(await receive(payload({ Event: 'test', Entity: 'test' }))).toMatchObject({ status: 200, reason: 'test' });
    expect(sent).toEqual([]);
  });

  it('delivers a CloudEvent with an event grant for ChangedByAssociateId to each subscriber the rules name', async () => {
    const result = await receive(payload());
    expect(result).toMatchObject({ status: 200, reason: 'delivered', subscribers: ['worker', 'audit'], changedBy: '5' });
    expect(sent.map((s) => s.queue)).toEqual(['events-worker', 'events-audit']);
    const event = decoded(sent[0]!.text);
    expect(event).toMatchObject({
      specversion: '1.0', type: 'superoffice.contact.changed', source: '/superoffice/sod/Cust1', subject: 'Cust1/contact/2',
      datacontenttype: 'application/json', id: '9d4f3c2b-1a0e-4f5d-8c7b-6a5948372615:worker', time: '2025-06-01T12:00:00.000Z',
      data: expect.objectContaining({ ChangedByAssociateId: 5, EventId: '9d4f3c2b-1a0e-4f5d-8c7b-6a5948372615' }),
    });
    const grant = grants.grants.get(event['brokereventgrant'] as string);
    expect(grant).toMatchObject({ subscriber: 'worker', ctx: 'Cust1', associateId: '5', identity: { tid: TID, oid: WORKER_OID } });
    expect(decoded(sent[1]!.text)['brokereventgrant']).not.toBe(event['brokereventgrant']);
  });

  it('a duplicate EventId after delivery has no effect', async () => {
    await receive(payload());
    expect(await receive(payload())).toMatchObject({ status: 200, reason: 'duplicate' });
    expect(sent).toHaveLength(2);
  });

  it('a delivery that failed half-way is delivered again with the same CloudEvents id and grant', async () => {
    failSend = true;
    await expect(receive(payload())).rejects.toThrow('queue down');
    failSend = false;
    await receive(payload());
    const ids = sent.map((s) => decoded(s.text)['id']);
    expect(ids).toEqual(['9d4f3c2b-1a0e-4f5d-8c7b-6a5948372615:worker', '9d4f3c2b-1a0e-4f5d-8c7b-6a5948372615:audit']);
    expect(grants.grants.size).toBe(2);
  });

  it('an event with no user carries no grant', async () => {
    await receive(payload({ ChangedByAssociateId: 0 }));
    expect(decoded(sent[0]!.text)['brokereventgrant']).toBeUndefined();
    expect(grants.grants.size).toBe(0);
  });
});

describe('WebhookService registration', () => {
  class FakeSystemProxy {
    readonly calls: ProxyRequest[] = [];
    hooks: Array<Record<string, unknown>> = [];
    async call(request: ProxyRequest): Promise<ProxyResponse> {
      this.calls.push(request);
      const reply = (status: number, body: unknown): ProxyResponse => ({ status, headers: {}, body: Buffer.from(body === undefined ? '' : JSON.stringify(body)), retried: false, flags: [] });
      if (request.method === 'POST') {
        const def = JSON.parse(Buffer.from(request.body!).toString('utf8')) as Record<string, unknown>;
        const saved = { ...def, WebhookId: this.hooks.length + 1, State: 1 };
        this.hooks.push(saved);
        return reply(200, saved);
      }
      if (request.method === 'GET') return reply(200, this.hooks);
      return reply(200, undefined);
    }
  }

  it('registers as the system user with a new secret stored in Key Vault first, lists and deletes', async () => {
    const proxy = new FakeSystemProxy();
    const svc = new WebhookService({ environment: 'sod', secrets, dedupe, publisher: { webhookEvent: async () => [] }, proxy, publicOrigin: 'https://broker.example', logger: createLogger({ sink: () => undefined }) });
    const call = { signal: new AbortController().signal, deadline: Date.now() + 5000 };
    const created = await svc.register('Cust1', 'contacts', ['contact.changed'], call);
    expect(created).toEqual({ id: 1, name: 'contacts', events: ['contact.changed'], state: 'Active', targetUrl: 'https://broker.example/api/webhooks/superoffice/Cust1/contacts' });
    expect(proxy.calls[0]).toMatchObject({ actAs: { kind: 'system' }, method: 'POST' });
    const sentSecret = (JSON.parse(Buffer.from(proxy.calls[0]!.body!).toString('utf8')) as { Secret: string }).Secret;
    expect((await secrets.get(webhookSecretName('sod', 'Cust1', 'contacts'))).value.reveal()).toBe(sentSecret);
    expect(sentSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(created)).not.toContain(sentSecret);
    proxy.hooks.push({ WebhookId: 9, Name: 'foreign', Events: [], TargetUrl: 'https://elsewhere.example/hook', State: 3 });
    expect((await svc.list('Cust1', call)).map((w) => w.id)).toEqual([1]);
    await expect(svc.remove('Cust1', 'foreign', call)).rejects.toMatchObject({ code: 'not_found' });
    expect(await svc.remove('Cust1', 'contacts', call)).toMatchObject({ id: 1 });
    expect(proxy.calls.at(-1)).toMatchObject({ method: 'DELETE' });
    expect(proxy.calls.at(-1)?.path.path).toBe('v1/Webhook/1');
    await expect(secrets.get(webhookSecretName('sod', 'Cust1', 'contacts'))).rejects.toMatchObject({ code: 'secret_not_found' });
  });

  it('reports webhooks SuperOffice stopped', () => {
    const hooks = [{ id: 1, name: 'a', events: [], state: 'Active', targetUrl: '' }, { id: 2, name: 'b', events: [], state: 'TooManyErrors', targetUrl: '' }];
    expect(disabledWebhooks(hooks).map((w) => w.id)).toEqual([2]);
  });
});
