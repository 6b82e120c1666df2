import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { CONSENT_REDEMPTIONS_TABLE, TableRedemptionStore } from '../../../shared/connections/consent/redemptions.js';
import { EVENT_GRANTS_TABLE } from '../../../shared/events/grants.js';
import { EXPIRING_TABLES, EXPIRY_GRACE_MS, pruneExpiredRows, pruneExpiredTables } from '../../../shared/runtime/housekeeping.js';
import { TableWebhookDedupeStore, WEBHOOK_EVENTS_TABLE } from '../../../shared/webhooks/dedupe.js';
import { listFunctions } from '../../../shared/runtime/registry.js';

let azurite: Azurite;
const tableOf = (name: string) => TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true });

beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(async () => azurite?.stop());

async function keys(table: TableClient): Promise<string[]> {
  const out: string[] = [];
  for await (const e of table.listEntities()) out.push(`${e.partitionKey}/${e.rowKey}`);
  return out.sort();
}

const NOW = Date.parse('2026-06-01T12:00:00Z');

describe('housekeeping: expired rows are pruned (issue 15 point 5)', () => {
  it('consent redemptions past their expiry (plus the grace) are deleted; live ones and those within the grace are kept', async () => {
    const table = tableOf(`redeem${randomUUID().slice(0, 8)}`);
    const store = new TableRedemptionStore(table);
    const sec = (ms: number) => Math.floor(ms / 1000);
    await store.redeemOnce('ticket', 'old-ticket', sec(NOW - 3_600_000));
    await store.redeemOnce('state', 'old-state', sec(NOW - EXPIRY_GRACE_MS - 1000));
    await store.redeemOnce('state', 'in-grace', sec(NOW - EXPIRY_GRACE_MS + 60_000));
    await store.redeemOnce('ticket', 'live', sec(NOW + 600_000));
    const result = await pruneExpiredRows(table, { now: NOW });
    expect(result).toMatchObject({ expired: 2, deleted: 2, failed: 0, complete: true });
    expect(await keys(table)).toHaveLength(2);
    // A redeemed id that is still live stays redeemed.
    expect(await store.redeemOnce('ticket', 'live', sec(NOW + 600_000))).toBe(false);
    // Nothing more to do.
    expect(await pruneExpiredRows(table, { now: NOW })).toMatchObject({ expired: 0, deleted: 0 });
  });

  it('works for any table with an expiresAt column, as a string or a DateTime, across partitions, bounded per run', async () => {
    const table = tableOf(`dedupe${randomUUID().slice(0, 8)}`);
    await table.createTable();
    for (let i = 0; i < 30; i++) {
      const expiresAt = new Date(NOW - 3_600_000 + i);
      await table.createEntity({ partitionKey: `p${i % 3}`, rowKey: `r${i}`, expiresAt: i % 2 === 0 ? expiresAt : expiresAt.toISOString() });
    }
    await table.createEntity({ partitionKey: 'p0', rowKey: 'live-date', expiresAt: new Date(NOW + 3_600_000) });
    await table.createEntity({ partitionKey: 'p0', rowKey: 'live-string', expiresAt: new Date(NOW + 3_600_000).toISOString() });
    await table.createEntity({ partitionKey: 'p0', rowKey: 'no-expiry' });
    const first = await pruneExpiredRows(table, { now: NOW, maxRows: 20 });
    expect(first).toMatchObject({ expired: 20, deleted: 20, complete: false });
    const second = await pruneExpiredRows(table, { now: NOW, maxRows: 20 });
    expect(second).toMatchObject({ expired: 10, deleted: 10, complete: true });
    expect(await keys(table)).toEqual(['p0/live-date', 'p0/live-string', 'p0/no-expiry']);
  });

  it('a row rewritten after it was read (a new expiry) is kept: deletes are conditional on its ETag', async () => {
    const table = tableOf(`idem${randomUUID().slice(0, 8)}`);
    await table.createTable();
    await table.createEntity({ partitionKey: 'p', rowKey: 'r', expiresAt: new Date(NOW - 3_600_000).toISOString() });
    const racing = new Proxy(table, {
      get(target, property, receiver) {
        if (property === 'deleteEntity') {
          return async (pk: string, rk: string, options: object) => {
            await target.updateEntity({ partitionKey: pk, rowKey: rk, expiresAt: new Date(NOW + 3_600_000).toISOString() }, 'Replace');
            return target.deleteEntity(pk, rk, options);
          };
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    expect(await pruneExpiredRows(racing, { now: NOW })).toMatchObject({ expired: 1, deleted: 0, failed: 0 });
    expect(await keys(table)).toEqual(['p/r']);
  });

  it('a table that does not exist yet is reported as missing; one failing table does not stop the others', async () => {
    const existing = `redeem${randomUUID().slice(0, 8)}`;
    await new TableRedemptionStore(tableOf(existing)).redeemOnce('ticket', 't', Math.floor((NOW - 3_600_000) / 1000));
    const results = await pruneExpiredTables((name) => {
      if (name === 'broken') return TableClient.fromConnectionString(azurite.connectionString.replace(/TableEndpoint=[^;]+/, 'TableEndpoint=http://127.0.0.1:9/devstoreaccount1'), 'broken', { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } });
      return tableOf(name);
    }, { now: NOW, tables: ['nosuchtable', 'broken', existing] });
    expect(results[0]).toMatchObject({ table: 'nosuchtable', missing: true });
    expect(results[1]).toMatchObject({ table: 'broken' });
    expect(results[1]).toHaveProperty('error');
    expect(results[2]).toMatchObject({ table: existing, deleted: 1 });
  });

  it('webhook dedupe rows (a DateTime expiresAt) past their day are pruned; a recent event stays de-duplicated', async () => {
    const table = tableOf(`hooks${randomUUID().slice(0, 8)}`);
    const dedupe = new TableWebhookDedupeStore(table);
    expect(await dedupe.claim('Cust1', 'old-event', new Date(NOW - 2 * 24 * 3_600_000))).toBe('new');
    expect(await dedupe.claim('Cust1', 'new-event', new Date(NOW - 3_600_000))).toBe('new');
    expect(await pruneExpiredRows(table, { now: NOW })).toMatchObject({ expired: 1, deleted: 1 });
    expect(await dedupe.claim('Cust1', 'new-event', new Date(NOW))).toBe('pending');
    expect(await dedupe.claim('Cust1', 'old-event', new Date(NOW))).toBe('new');
  });

  it('consent redemptions, webhook dedupe rows and event grants are on the list, and the timer is registered with its default hourly schedule', async () => {
    expect(EXPIRING_TABLES).toEqual([CONSENT_REDEMPTIONS_TABLE, WEBHOOK_EVENTS_TABLE, EVENT_GRANTS_TABLE]);
    await import('../../../functions/housekeeping.js');
    const timer = listFunctions().find((f) => f.name === 'housekeeping');
    expect(timer).toMatchObject({ kind: 'timer', schedule: '0 17 * * * *' });
  });
});
