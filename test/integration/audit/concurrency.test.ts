import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { recordHash, rowKeyOf } from '../../../shared/audit/canonical.js';
import { AUDIT_HMAC_KEY_NAME } from '../../../shared/audit/fingerprint.js';
import { laneIdOf, lanePartition, parseLaneId, parseLanePartition } from '../../../shared/audit/lanes.js';
import { buildAuditRecord, newEventId, type AuditRecordBody } from '../../../shared/audit/record.js';
import { createAuditRecorder, type BrokerAuditRecorder } from '../../../shared/audit/recorder.js';
import { createTableAuditSink } from '../../../shared/audit/tableSink.js';
import { verifyChain } from '../../../shared/audit/verify.js';
import { verifyAuditTable } from '../../../shared/audit/verifyTable.js';
import { callerId, type Caller } from '../../../shared/identity/caller.js';
import { createLogger } from '../../../shared/log/logger.js';
import type { StorageClients } from '../../../shared/storage/storage.js';
import { testConfig } from '../../support/config.js';
import { FakeSecretStore } from '../../unit/audit/fakeSecrets.js';
import { entry } from '../../unit/audit/fixtures.js';
import { byLane, callerNo, laneRecordsOf, registryOf, storageFor, tableFor } from './support.js';

let azurite: Azurite;

beforeAll(async () => {
  azurite = await startAzurite();
});

afterAll(async () => {
  await azurite?.stop();
});

/** Log lines of the sink's insert-if-absent safety net: a 409 that was not our own landed write. */
const conflicts: string[] = [];
const logger = createLogger({ level: 'debug', sink: (l) => { if (l.includes('audit.lane_conflict')) conflicts.push(l); } });
const quiet = createLogger({ level: 'error', sink: () => undefined });

/** One broker instance: its own StorageClients (so its own TableClient and HTTP connections), lane state and queue. */
function instance(name: string, maxBatch?: number, writers?: number): BrokerAuditRecorder {
  return createAuditRecorder({
    config: testConfig({ AzureWebJobsStorage: azurite.connectionString, WEBSITE_INSTANCE_ID: name, ...(writers === undefined ? {} : { AUDIT_WRITERS: String(writers) }) }),
    storage: storageFor(azurite.connectionString),
    secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: 'concurrency-test-hmac-key-0123456789' }),
    logger,
    table: { writeBudgetMs: 30_000, ...(maxBatch === undefined ? {} : { maxBatch }) },
  });
}

const body = (caller: Caller, id: string, now = Date.now()): AuditRecordBody =>
  buildAuditRecord(entry({ caller, correlationId: id }), { eventId: newEventId(), now, brokerVersion: '0.1.0', instanceId: 'direct' }).body;

async function verified(caller: string) {
  const reports = await verifyAuditTable({ records: tableFor(azurite.connectionString, 'audit'), heads: tableFor(azurite.connectionString, 'auditheads'), caller });
  expect(reports).toHaveLength(1);
  return reports[0]!;
}

describe('audit lanes: one writer per lane, no cross-instance contention (requirement 60)', () => {
  it('requirement 60: two instances appending 1,000 records each for one caller write two separate lanes: each gap-free, no 409 race, verified', async () => {
    const caller = callerNo(100);
    const a = instance('instance-a');
    const b = instance('instance-b');
    const N = 1000;
    conflicts.length = 0;
    const started = Date.now();
    await Promise.all([
      ...Array.from({ length: N }, (_, i) => a.record(entry({ caller, correlationId: `a-${i}` }))),
      ...Array.from({ length: N }, (_, i) => b.record(entry({ caller, correlationId: `b-${i}` }))),
    ]);
    console.log(`[audit lanes] ${2 * N} records from 2 instances in ${Date.now() - started} ms`);

    const records = await laneRecordsOf(azurite.connectionString, callerId(caller));
    expect(records).toHaveLength(2 * N);
    expect(new Set(records.map((r) => r['correlation_id'])).size).toBe(2 * N);
    const lanes = byLane(records);
    // At most AUDIT_WRITERS (default 4) lanes per instance (twice that if the hour turned during the test);
    // a lane has exactly one writer.
    expect(lanes.size).toBeGreaterThanOrEqual(2);
    expect(lanes.size).toBeLessThanOrEqual(2 * 4 * 2);
    const writersByInstance = new Map<string, Set<string>>();
    for (const [partition, lane] of lanes) {
      const instances = new Set(lane.map((r) => r['instance_id']));
      expect(instances.size, partition).toBe(1);
      const writer = parseLaneId(parseLanePartition(partition).lane!)!.writer;
      const name = String(lane[0]!['instance_id']);
      writersByInstance.set(name, (writersByInstance.get(name) ?? new Set()).add(writer));
      expect(lane.map((r) => r['seq'])).toEqual(Array.from({ length: lane.length }, (_, i) => i + 1));
      expect(new Set(lane.map((r) => r['lane']))).toEqual(new Set([parseLanePartition(partition).lane]));
    }
    expect(writersByInstance.size).toBe(2);
    for (const writers of writersByInstance.values()) expect(writers.size).toBeLessThanOrEqual(4);
    expect(records.filter((r) => r['instance_id'] === 'instance-a')).toHaveLength(N);
    // The insert-if-absent guard never fired: nobody else wrote into these lanes.
    expect(conflicts).toEqual([]);

    const report = await verified(callerId(caller));
    expect(report).toMatchObject({ records: 2 * N, problems: [] });
    expect(report.lanes.every((l) => l.registered)).toBe(true);
    expect((await registryOf(azurite.connectionString, callerId(caller))).length).toBe(lanes.size);
  }, 120_000);

  it('requirement 60: an instance\'s writers (AUDIT_WRITERS): one lane while a caller\'s records come one at a time, spread over at most that many lanes while many are in flight, every lane gap-free and verified', async () => {
    const caller = callerNo(140);
    const pool = instance('pool-a', undefined, 3);
    for (let i = 0; i < 20; i++) await pool.record(entry({ caller, correlationId: `seq-${i}` }));
    const sequential = byLane(await laneRecordsOf(azurite.connectionString, callerId(caller)));
    expect(sequential.size).toBeLessThanOrEqual(2); // 1, or 2 if the hour turned
    await Promise.all(Array.from({ length: 300 }, (_, i) => pool.record(entry({ caller, correlationId: `par-${i}` }))));
    const records = await laneRecordsOf(azurite.connectionString, callerId(caller));
    expect(records).toHaveLength(320);
    const lanes = byLane(records);
    const writers = new Set([...lanes.keys()].map((p) => parseLaneId(parseLanePartition(p).lane!)!.writer));
    expect(writers.size).toBeGreaterThan(1);
    expect(writers.size).toBeLessThanOrEqual(3);
    for (const lane of lanes.values()) expect(lane.map((r) => r['seq'])).toEqual(Array.from({ length: lane.length }, (_, i) => i + 1));
    const report = await verified(callerId(caller));
    expect(report).toMatchObject({ records: 320, problems: [] });

    const single = callerNo(141);
    const one = instance('pool-b', undefined, 1);
    await Promise.all(Array.from({ length: 100 }, (_, i) => one.record(entry({ caller: single, correlationId: `one-${i}` }))));
    expect(byLane(await laneRecordsOf(azurite.connectionString, callerId(single))).size).toBeLessThanOrEqual(2);
  }, 120_000);

  it('requirement 60: without batching, many instances appending for one caller never conflict either', async () => {
    const caller = callerNo(101);
    const writers = Array.from({ length: 8 }, (_, i) => instance(`single-${i}`, 1));
    conflicts.length = 0;
    await Promise.all(writers.flatMap((w, wi) => Array.from({ length: 40 }, (_, i) => w.record(entry({ caller, correlationId: `${wi}-${i}` })))));
    const lanes = byLane(await laneRecordsOf(azurite.connectionString, callerId(caller)));
    expect([...lanes.values()].reduce((n, l) => n + l.length, 0)).toBe(320);
    for (const lane of lanes.values()) {
      expect(new Set(lane.map((r) => r['instance_id'])).size).toBe(1);
      expect(verifyChain(lane, { start: null })).toEqual([]);
    }
    expect(conflicts).toEqual([]);
    expect((await verified(callerId(caller))).problems).toEqual([]);
  }, 120_000);

  it('one writer per lane: every sink gets its own writer id, and a second sink with a writer id in use is refused', () => {
    const storage = storageFor(azurite.connectionString);
    const first = createTableAuditSink({ storage, logger: quiet, instanceId: 'same-instance' });
    const second = createTableAuditSink({ storage, logger: quiet, instanceId: 'same-instance' });
    expect(first.writer).not.toBe(second.writer);
    expect(first.writer.startsWith('sameinst-')).toBe(true);
    expect(() => createTableAuditSink({ storage: storageFor(azurite.connectionString), logger: quiet, writerId: first.writer })).toThrow(/already in use/);
    // Another table is another set of lanes: the same writer may write there.
    expect(createTableAuditSink({ storage, logger: quiet, writerId: first.writer, tableName: 'auditcopy' }).writer).toBe(first.writer);
    expect(() => createTableAuditSink({ storage, logger: quiet, writerId: 'Bad~Id' })).toThrow(/malformed/);
  });

  it('requirement 60: the insert-if-absent guard stays as the safety net: a foreign record in a lane makes the writer continue from it', async () => {
    const caller = callerNo(102);
    const sink = createTableAuditSink({ storage: storageFor(azurite.connectionString), logger, writerId: 'guard-k0-000000000001' });
    conflicts.length = 0;
    const first = await sink.append(body(caller, 'first'));
    // Someone else writes seq 2 of this lane, correctly chained.
    const foreign = { ...body(caller, 'foreign'), lane: first.lane, seq: 2, prev_hash: recordHash(first) };
    await tableFor(azurite.connectionString, 'audit').createEntity({ partitionKey: lanePartition(callerId(caller), first.lane), rowKey: rowKeyOf(2), ...foreign });
    const third = await sink.append(body(caller, 'third'));
    expect(third.seq).toBe(3);
    expect(conflicts).toHaveLength(1);
    const records = await laneRecordsOf(azurite.connectionString, callerId(caller));
    expect(records.map((r) => r['correlation_id'])).toEqual(['first', 'foreign', 'third']);
    expect(verifyChain(records)).toEqual([]);
  });

  it('requirement 60: a write that landed but whose answer was lost is not appended twice when retried', async () => {
    const caller = callerNo(103);
    const sink = createTableAuditSink({ storage: storageFor(azurite.connectionString), logger, writerId: 'lost-k0-000000000001' });
    conflicts.length = 0;
    const first = await sink.append(body(caller, 'first'));
    // The sink's own next record is already stored — as if its write had landed and only the answer was lost.
    const second = body(caller, 'second');
    await tableFor(azurite.connectionString, 'audit').createEntity({ partitionKey: lanePartition(callerId(caller), first.lane), rowKey: rowKeyOf(2), ...second, lane: first.lane, seq: 2, prev_hash: recordHash(first) });
    const retried = await sink.append(second);
    expect(retried.seq).toBe(2);
    await sink.append(body(caller, 'third'));
    const records = await laneRecordsOf(azurite.connectionString, callerId(caller));
    expect(records.map((r) => r['correlation_id'])).toEqual(['first', 'second', 'third']);
    expect(verifyChain(records)).toEqual([]);
    expect(conflicts).toEqual([]);
  });

  it('requirement 60: a new hour starts a new lane linked to the writer\'s previous one; a clock step back is clamped', async () => {
    const caller = callerNo(104);
    const sink = createTableAuditSink({ storage: storageFor(azurite.connectionString), logger: quiet, writerId: 'hours-k0-000000000001', headHintEvery: 2 });
    const h0 = Date.UTC(2026, 2, 1, 9, 59, 58);
    const written = [];
    for (const [i, t] of [h0, h0 + 1000, h0 + 500, h0 + 3000, h0 + 4000].entries()) written.push(await sink.append(body(caller, `r${i}`, t)));
    // The third record's clock stepped back: it is stamped with its predecessor's time.
    expect(written.map((r) => r.time)).toEqual(['2026-03-01T09:59:58.000Z', '2026-03-01T09:59:59.000Z', '2026-03-01T09:59:59.000Z', '2026-03-01T10:00:01.000Z', '2026-03-01T10:00:02.000Z']);
    const laneA = laneIdOf(h0, 'hours-k0-000000000001');
    const laneB = laneIdOf(h0 + 3000, 'hours-k0-000000000001');
    expect(written.map((r) => [r.lane, r.seq])).toEqual([[laneA, 1], [laneA, 2], [laneA, 3], [laneB, 1], [laneB, 2]]);
    expect(written[3]!.prev_hash).toBe(recordHash(written[2]!));
    const rows = await registryOf(azurite.connectionString, callerId(caller));
    expect(rows.map((r) => [r['lane'], r['prev_lane'], r['prev_seq'], r['first_hash']])).toEqual([
      [laneA, '', 0, recordHash(written[0]!)],
      [laneB, laneA, 3, recordHash(written[3]!)],
    ]);
    expect((await verified(callerId(caller))).problems).toEqual([]);
  });

  it('requirement 60: a writer that forgot a caller\'s lane (cache eviction) reads it back from the registry and continues it', async () => {
    const sink = createTableAuditSink({ storage: storageFor(azurite.connectionString), logger: quiet, writerId: 'evict-k0-000000000001', headCacheSize: 1 });
    const callers = [callerNo(105), callerNo(106), callerNo(107)];
    for (let round = 0; round < 4; round++) for (const caller of callers) await sink.append(body(caller, `r${round}`));
    for (const caller of callers) {
      const lanes = byLane(await laneRecordsOf(azurite.connectionString, callerId(caller)));
      expect([...lanes.values()].reduce((n, l) => n + l.length, 0)).toBe(4);
      expect(lanes.size).toBeLessThanOrEqual(2); // 1, or 2 if the hour turned
      expect((await verified(callerId(caller))).problems).toEqual([]);
    }
  });

  it('requirement 58: when the lane cannot be registered the append fails (fail-closed); the registration is retried before the next write', async () => {
    const caller = callerNo(108);
    const real = storageFor(azurite.connectionString);
    let refuse = true;
    const storage: Pick<StorageClients, 'table' | 'tableInserter'> = {
      tableInserter: (name) => real.tableInserter(name),
      table: (name) => {
        const table = real.table(name);
        return new Proxy(table, {
          get(target, property, receiver) {
            if (property === 'createEntity') {
              return (entity: { rowKey: string }, options?: unknown) => {
                if (refuse && entity.rowKey.startsWith('lane~')) return Promise.reject(Object.assign(new Error('registry down'), { statusCode: 503 }));
                return target.createEntity(entity as never, options as never);
              };
            }
            return Reflect.get(target, property, receiver) as unknown;
          },
        });
      },
    };
    const sink = createTableAuditSink({ storage, logger: quiet, writerId: 'registry-k0-000000000001' });
    await expect(sink.append(body(caller, 'refused'))).rejects.toMatchObject({ name: 'AuditSinkError' });
    const unregistered = await verified(callerId(caller));
    expect(unregistered.problems.map((p) => p.kind)).toEqual(['lane_unregistered']);
    refuse = false;
    const next = await sink.append(body(caller, 'next'));
    expect(next.seq).toBe(2);
    expect((await verified(callerId(caller))).problems).toEqual([]);
  });

  it('requirement 60: three instances over many callers keep every lane intact; a fresh instance starts lanes of its own', async () => {
    const writers = [instance('i-1'), instance('i-2'), instance('i-3')];
    const callers = Array.from({ length: 12 }, (_, i) => callerNo(200 + i));
    await Promise.all(writers.flatMap((w, wi) => Array.from({ length: 120 }, (_, i) => w.record(entry({ caller: callers[(i + wi) % callers.length]!, correlationId: `w${wi}-${i}` })))));
    const late = instance('i-late');
    await Promise.all(callers.map((caller) => late.record(entry({ caller, correlationId: 'late' }))));

    for (const caller of callers) {
      const records = await laneRecordsOf(azurite.connectionString, callerId(caller));
      expect(records).toHaveLength(31);
      const lateLane = records.filter((r) => r['instance_id'] === 'i-late');
      expect(lateLane).toHaveLength(1);
      expect(lateLane[0]).toMatchObject({ seq: 1 });
      expect((await verified(callerId(caller))).problems).toEqual([]);
    }
  }, 120_000);
});
