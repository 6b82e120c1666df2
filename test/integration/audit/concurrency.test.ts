import { odata } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { AUDIT_HMAC_KEY_NAME } from '../../../shared/audit/fingerprint.js';
import { buildAuditRecord, newEventId } from '../../../shared/audit/record.js';
import { createAuditRecorder, type BrokerAuditRecorder } from '../../../shared/audit/recorder.js';
import { createTableAuditSink } from '../../../shared/audit/tableSink.js';
import { verifyChain } from '../../../shared/audit/verify.js';
import { verifyAuditTable } from '../../../shared/audit/verifyTable.js';
import { callerId } from '../../../shared/identity/caller.js';
import { createLogger } from '../../../shared/log/logger.js';
import { testConfig } from '../../support/config.js';
import { FakeSecretStore } from '../../unit/audit/fakeSecrets.js';
import { entry } from '../../unit/audit/fixtures.js';
import { callerNo, storageFor, tableFor } from './support.js';

let azurite: Azurite;

beforeAll(async () => {
  azurite = await startAzurite();
});

afterAll(async () => {
  await azurite?.stop();
});

/** Lines logged when an append lost a race (409) and continued from the new head. */
const contended: string[] = [];

/** One broker instance: its own StorageClients (so its own TableClient and HTTP connections), cache and queue. */
function instance(name: string, maxBatch?: number): BrokerAuditRecorder {
  return createAuditRecorder({
    config: testConfig({ AzureWebJobsStorage: azurite.connectionString, WEBSITE_INSTANCE_ID: name }),
    storage: storageFor(azurite.connectionString),
    secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: 'concurrency-test-hmac-key-0123456789' }),
    logger: createLogger({ level: 'debug', sink: (l) => { if (l.includes('audit.append_contended')) contended.push(l); } }),
    table: { writeBudgetMs: 30_000, maxAttempts: 200, ...(maxBatch === undefined ? {} : { maxBatch }) },
  });
}

async function partition(id: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const e of tableFor(azurite.connectionString, 'audit').listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${id}` } })) out.push(e);
  return out;
}

describe('hash chain with concurrent writers in several instances (requirement 60)', () => {
  it('requirement 60: two instances appending 1,000 records each to one caller\'s chain give seqs 1..2000, no gap, no duplicate, a valid chain', async () => {
    const caller = callerNo(100);
    const a = instance('instance-a');
    const b = instance('instance-b');
    const N = 1000;
    contended.length = 0;
    const started = Date.now();
    await Promise.all([
      ...Array.from({ length: N }, (_, i) => a.record(entry({ caller, correlationId: `a-${i}` }))),
      ...Array.from({ length: N }, (_, i) => b.record(entry({ caller, correlationId: `b-${i}` }))),
    ]);
    const elapsed = Date.now() - started;
    const records = await partition(callerId(caller));
    console.log(`[audit concurrency] ${2 * N} records from 2 instances in ${elapsed} ms`);

    expect(records.map((r) => r['seq'])).toEqual(Array.from({ length: 2 * N }, (_, i) => i + 1));
    expect(new Set(records.map((r) => r['correlation_id'])).size).toBe(2 * N);
    expect(records.filter((r) => r['instance_id'] === 'instance-a')).toHaveLength(N);
    expect(records.filter((r) => r['instance_id'] === 'instance-b')).toHaveLength(N);
    expect(verifyChain(records)).toEqual([]);
    // How often a batch lost a 409 race and continued from the other's head (the unbatched test asserts it happens).
    const switches = records.filter((r, i) => i > 0 && r['instance_id'] !== records[i - 1]!['instance_id']).length;
    console.log(`[audit concurrency] contended batches: ${contended.length}; writer switches along the chain: ${switches}`);
    expect(switches).toBeGreaterThan(0);

    const [report] = await verifyAuditTable({ records: tableFor(azurite.connectionString, 'audit'), heads: tableFor(azurite.connectionString, 'auditheads'), caller: callerId(caller) });
    expect(report).toMatchObject({ records: 2 * N, lastSeq: 2 * N, problems: [] });
    expect(report!.anchor?.seq).toBeGreaterThan(2 * N - 64);
  }, 120_000);

  it('requirement 60: without batching, two instances racing with single inserts (insert-if-absent + re-read) still give one gap-free chain', async () => {
    const caller = callerNo(101);
    const a = instance('single-a', 1);
    const b = instance('single-b', 1);
    const N = 250;
    contended.length = 0;
    await Promise.all([
      ...Array.from({ length: N }, (_, i) => a.record(entry({ caller, correlationId: `a-${i}` }))),
      ...Array.from({ length: N }, (_, i) => b.record(entry({ caller, correlationId: `b-${i}` }))),
    ]);
    const records = await partition(callerId(caller));
    expect(records.map((r) => r['seq'])).toEqual(Array.from({ length: 2 * N }, (_, i) => i + 1));
    expect(verifyChain(records)).toEqual([]);
    expect(contended.length).toBeGreaterThan(0);
  }, 120_000);

  it('requirement 60: a write that landed but whose answer was lost is not appended twice when retried', async () => {
    const logger = createLogger({ level: 'error', sink: () => undefined });
    const a = createTableAuditSink({ storage: storageFor(azurite.connectionString), logger });
    const b = createTableAuditSink({ storage: storageFor(azurite.connectionString), logger });
    const caller = callerNo(102);
    const body = (id: string) => buildAuditRecord(entry({ caller, correlationId: id }), { eventId: newEventId(), now: Date.now(), brokerVersion: '0.1.0', instanceId: 'x' }).body;
    await b.append(body('first'));
    // Instance a writes b's next record — as if b's own write had landed and only its answer was lost.
    const second = body('second');
    await a.append(second);
    const retried = await b.append(second);
    expect(retried.seq).toBe(2);
    const records = await partition(callerId(caller));
    expect(records.map((r) => r['correlation_id'])).toEqual(['first', 'second']);
    expect(verifyChain(records)).toEqual([]);
    // b's head is right afterwards: its next record continues the chain.
    await b.append(body('third'));
    expect(verifyChain(await partition(callerId(caller)))).toEqual([]);
  });

  it('requirement 60: three instances over many callers keep every chain intact, and a fresh instance continues each chain', async () => {
    const writers = [instance('i-1'), instance('i-2'), instance('i-3')];
    const callers = Array.from({ length: 12 }, (_, i) => callerNo(200 + i));
    await Promise.all(writers.flatMap((w, wi) => Array.from({ length: 120 }, (_, i) => w.record(entry({ caller: callers[(i + wi) % callers.length]!, correlationId: `w${wi}-${i}` })))));
    // A cold instance finds each head through the head hint and a short range query.
    const late = instance('i-late');
    await Promise.all(callers.map((caller) => late.record(entry({ caller, correlationId: 'late' }))));

    for (const caller of callers) {
      const records = await partition(callerId(caller));
      expect(records).toHaveLength(31);
      expect(records.at(-1)).toMatchObject({ seq: 31, instance_id: 'i-late' });
      expect(verifyChain(records)).toEqual([]);
    }
  }, 120_000);
});
