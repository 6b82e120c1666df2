import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { staticKeyring } from '../../../shared/actions/hmacKey.js';
import { TableConnectionStore } from '../../../shared/connections/tableConnectionStore.js';
import { deliverPendingChanges, NotifyingConnectionStore } from '../../../shared/events/connectionEvents.js';
import { MemoryEventGrantStore } from '../../../shared/events/grants.js';
import { EventPublisher } from '../../../shared/events/publisher.js';
import { parseSubscriberConfig } from '../../../shared/events/subscribers.js';
import { createLogger } from '../../../shared/log/logger.js';
import { listFunctions } from '../../../shared/runtime/registry.js';

/**
 * Connection changes go out at least once (issue 13 point 5, docs/acting.md §6): the change is noted in
 * the connections table in the same entity group transaction as the status, on Azurite; a send that
 * fails, or an instance that stops between the write and the send, leaves the note, and the
 * `connectionEvents` timer's `deliverPendingChanges` sends it later with the same CloudEvents id.
 */

let azurite: Azurite;
beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(async () => azurite?.stop());

const TID = '11111111-1111-4111-8111-111111111111';
const quiet = createLogger({ sink: () => undefined });
const KEY = { env: 'sod', ctx: 'Cust1', associateId: '6' };
const CONSENT = { ...KEY, webApiUrl: 'https://sod.superoffice.com/Cust1/api/', isAdministrator: false, systemUserStored: false, consentedAt: '2026-12-01T00:00:00.000Z', consentedBy: 'c' };

interface Sent { id: string; type: string }

function setup() {
  const table = TableClient.fromConnectionString(azurite.connectionString, `conn${randomUUID().slice(0, 8)}`, { allowInsecureConnection: true });
  const sent: Sent[] = [];
  const queue = { down: false };
  let clock = Date.parse('2026-12-03T10:00:00Z');
  const publisher = new EventPublisher({
    environment: 'sod',
    config: parseSubscriberConfig({ subscribers: { ops: { queue: 'events-ops', tid: TID, oid: TID } }, rules: [{ ctx: '*', events: ['connection.*'], subscribers: ['ops'] }] }),
    send: async (_queue, text) => {
      if (queue.down) throw new Error('queue down');
      const event = JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as Sent;
      sent.push({ id: event.id, type: event.type });
    },
    grants: new MemoryEventGrantStore(),
    keyring: staticKeyring('unit-actions-hmac-key-0123456789'),
    logger: quiet,
  });
  const outbox = new TableConnectionStore(table, () => clock);
  const store = new NotifyingConnectionStore(outbox, () => publisher, quiet, outbox, () => clock);
  const rows = async () => {
    const out: string[] = [];
    for await (const e of table.listEntities()) out.push(e.rowKey ?? '');
    return out;
  };
  return { table, sent, queue, publisher, outbox, store, rows, tick: (ms: number) => { clock += ms; return clock; }, now: () => clock };
}

describe('connection-change events: transactional outbox, at-least-once (issue 13 point 5)', () => {
  it('a change sent at once leaves no note; a first consent and an unchanged status are no events', async () => {
    const t = setup();
    await t.store.saveConsent(CONSENT);
    await t.store.setStatus(KEY, 'active', undefined);
    expect(t.sent).toEqual([]);
    await t.store.setStatus(KEY, 'reauth_required', 'invalid_grant');
    expect(t.sent.map((s) => s.type)).toEqual(['broker.connection.reauth_required']);
    expect(await t.rows()).toEqual(['6']);
    expect(await t.outbox.list({ env: 'sod', ctx: 'Cust1' })).toHaveLength(1);
  });

  it('with the queue down the status still changes and the note stays; the timer sends it later with the same id, once', async () => {
    const t = setup();
    await t.store.saveConsent(CONSENT);
    t.queue.down = true;
    const changedAt = t.now();
    expect(await t.store.setStatus(KEY, 'revoked', 'revoked')).toMatchObject({ status: 'revoked' });
    expect(t.sent).toEqual([]);
    // The note is a row of the connection's partition, not a connection.
    expect((await t.rows()).filter((r) => r.startsWith('~change~'))).toHaveLength(1);
    expect(await t.outbox.list({ env: 'sod', ctx: 'Cust1' })).toEqual([expect.objectContaining({ associateId: '6', status: 'revoked' })]);

    // Too young for the timer (the write's own attempt may still be under way); then the queue is still down.
    expect(await deliverPendingChanges({ outbox: t.outbox, publisher: t.publisher, logger: quiet, now: t.now() })).toEqual({ sent: 0, failed: 0 });
    expect(await deliverPendingChanges({ outbox: t.outbox, publisher: t.publisher, logger: quiet, now: t.tick(60_000) })).toEqual({ sent: 0, failed: 1 });
    t.queue.down = false;
    expect(await deliverPendingChanges({ outbox: t.outbox, publisher: t.publisher, logger: quiet, now: t.tick(60_000) })).toEqual({ sent: 1, failed: 0 });
    expect(t.sent).toEqual([{ id: `connection:Cust1:6:revoked:${changedAt}:ops`, type: 'broker.connection.revoked' }]);
    expect(await deliverPendingChanges({ outbox: t.outbox, publisher: t.publisher, logger: quiet, now: t.tick(60_000) })).toEqual({ sent: 0, failed: 0 });
    expect(await t.rows()).toEqual(['6']);
  });

  it('an instance that stops between the write and the send: the note was written with the status, atomically', async () => {
    const t = setup();
    await t.outbox.saveConsent(CONSENT);
    const at = t.now();
    // What NotifyingConnectionStore writes before it sends; the process "stops" here.
    await t.outbox.setStatusNoting(KEY, 'reauth_required', 'invalid_grant', { change: 'reauth_required', at });
    expect((await t.outbox.get(KEY))?.status).toBe('reauth_required');
    const recovered = await t.outbox.saveConsentNoting(CONSENT, { change: 'recovered', at: at + 1 });
    expect(recovered.status).toBe('active');
    const pending = await t.outbox.pendingChanges({ notAfter: at + 1, limit: 10 });
    expect(pending.map((p) => [p.change, p.at])).toEqual([['reauth_required', at], ['recovered', at + 1]]);
    expect(await t.outbox.pendingChanges({ notAfter: at, limit: 10 })).toHaveLength(1);
    expect(await deliverPendingChanges({ outbox: t.outbox, publisher: t.publisher, logger: quiet, now: at + 60_000 })).toEqual({ sent: 2, failed: 0 });
    expect(t.sent.map((s) => s.type)).toEqual(['broker.connection.reauth_required', 'broker.connection.recovered']);
  });

  it('no note for a connection that does not exist: the transaction writes nothing', async () => {
    const t = setup();
    await t.outbox.saveConsent({ ...CONSENT, associateId: '7' });
    expect(await t.outbox.setStatusNoting(KEY, 'revoked', 'revoked', { change: 'revoked', at: t.now() })).toBeUndefined();
    expect(await t.store.setStatus(KEY, 'revoked', 'revoked')).toBeUndefined();
    expect(await t.rows()).toEqual(['7']);
    expect(t.sent).toEqual([]);
  });

  it('the connectionEvents timer is registered, every minute by default', async () => {
    await import('../../../functions/connectionEvents.js');
    expect(listFunctions().find((f) => f.name === 'connectionEvents')).toMatchObject({ kind: 'timer', schedule: '0 * * * * *' });
  });
});
