import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { TableActionStore, type NewActionRecord } from '../../../shared/actions/actionStore.js';
import { TableEventGrantStore } from '../../../shared/events/grants.js';
import { TableWebhookDedupeStore } from '../../../shared/webhooks/dedupe.js';
import { TableClient } from '@azure/data-tables';

/** The Table Storage stores of issue 13 against Azurite: insert-if-absent, optimistic concurrency, pruning. */

let azurite: Azurite;
const table = (name: string): TableClient => TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true });

beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);

afterAll(async () => {
  await azurite?.stop();
});

function record(overrides: Partial<NewActionRecord> = {}): NewActionRecord {
  const now = new Date();
  return {
    id: randomUUID(), callerId: 't_o', tid: 't', oid: 'o', azp: 'a', env: 'sod', ctx: 'Cust1', actAs: '5', method: 'PATCH', path: 'v1/Contact/2',
    bodyHash: 'h', grant: undefined, notify: false, state: 'queued', errorCode: undefined, superOfficeStatus: undefined, responseBody: undefined,
    responseContentType: undefined, responseTruncated: false, attempts: 0, enqueued: false, notBefore: undefined, createdAt: now, updatedAt: now,
    finishedAt: undefined, expiresAt: new Date(now.getTime() + 3600_000), ...overrides,
  };
}

describe('TableActionStore', () => {
  it('claims an idempotency key once per caller; a second claim names the first action', async () => {
    const store = new TableActionStore(table('actionresults'));
    const expiresAt = new Date(Date.now() + 3600_000);
    expect(await store.claimKey('t_o', 'key-1', { actionId: 'a1', bodyHash: 'h1', expiresAt })).toEqual({ created: true });
    expect(await store.claimKey('t_o', 'key-1', { actionId: 'a2', bodyHash: 'h2', expiresAt })).toEqual({ created: false, actionId: 'a1', bodyHash: 'h1' });
    expect(await store.claimKey('t_other', 'key-1', { actionId: 'a3', bodyHash: 'h1', expiresAt })).toEqual({ created: true });
  });

  it('refuses a stale update (another execution moved the row on) and stores a binary response', async () => {
    const store = new TableActionStore(table('actionresults'));
    const created = record();
    await store.create(created);
    await expect(store.create(created)).rejects.toMatchObject({ code: 'conflict' });
    const stored = (await store.get(created.id))!;
    const running = await store.update(stored, { state: 'running', attempts: 1 });
    await expect(store.update(stored, { state: 'running', attempts: 1 })).rejects.toMatchObject({ code: 'conflict' });
    const body = Buffer.from([0, 1, 2, 255]);
    await store.update(running, { state: 'succeeded', responseBody: body, superOfficeStatus: 200 });
    expect(await store.get(created.id)).toMatchObject({ state: 'succeeded', attempts: 1, superOfficeStatus: 200, responseBody: body });
    expect(await store.get('not-an-id')).toBeUndefined();
  });

  it('prunes rows past expiresAt and keeps the others', async () => {
    const store = new TableActionStore(table('actionresults2'));
    const old = record({ expiresAt: new Date(Date.now() - 1000) });
    const fresh = record();
    await store.create(old);
    await store.create(fresh);
    await store.claimKey('t_o', 'old-key', { actionId: old.id, bodyHash: 'h', expiresAt: new Date(Date.now() - 1000) });
    expect(await store.prune(new Date())).toBe(2);
    expect(await store.get(old.id)).toBeUndefined();
    expect(await store.get(fresh.id)).toBeDefined();
  });
});

describe('TableEventGrantStore and TableWebhookDedupeStore', () => {
  it('stores a grant once (a redelivery keeps the first time) and reads it back', async () => {
    const store = new TableEventGrantStore(table('eventgrants'));
    const grant = { id: 'g'.repeat(43), subscriber: 'worker', identity: { tid: 't', oid: 'o', appId: undefined }, env: 'sod', ctx: 'Cust1', associateId: '6', eventId: 'e', createdAt: new Date(1_000_000) };
    await store.put(grant);
    await store.put({ ...grant, createdAt: new Date(2_000_000) });
    expect(await store.get(grant.id)).toEqual(grant);
    expect(await store.get('h'.repeat(43))).toBeUndefined();
  });

  it('reports new, then pending until delivered, then delivered', async () => {
    const store = new TableWebhookDedupeStore(table('webhookevents'));
    const id = randomUUID();
    expect(await store.claim('Cust1', id, new Date())).toBe('new');
    expect(await store.claim('CUST1', id.toUpperCase(), new Date())).toBe('pending');
    await store.markDelivered('Cust1', id);
    expect(await store.claim('Cust1', id, new Date())).toBe('delivered');
  });
});
