import { createHash } from 'node:crypto';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import { GENESIS_HASH, recordHash, rowKeyOf } from '../../../shared/audit/canonical.js';
import { LANE_WINDOW_MS, laneIdOf, lanePartition, parseLaneId, registryRowKey, type LaneRegistration } from '../../../shared/audit/lanes.js';
import { buildAuditRecord, type AuditRecord } from '../../../shared/audit/record.js';
import type { Caller } from '../../../shared/identity/caller.js';

export const CALLER: Caller = {
  tid: '11111111-1111-4111-8111-111111111111',
  oid: '33333333-3333-4333-8333-333333333333',
  azp: '44444444-4444-4444-8444-444444444444',
  idtyp: 'app',
  roles: ['Tokens.Request'],
  tokenVersion: '2.0',
};

export const CALLER_ID = `${CALLER.tid}_${CALLER.oid}`;

/** An entry as the wrapper builds it for an allowed token request. */
export function entry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    correlationId: 'req-1',
    caller: CALLER,
    roleUsed: 'Tokens.Request',
    subject: { env: 'sod', ctx: 'Cust12345', associateId: '5' },
    action: 'tokens',
    target: 'POST /api/tokens',
    outcome: 'allow',
    reason: 'ok',
    httpStatus: 200,
    upstreamStatus: 200,
    latencyMs: 42,
    functionName: 'tokens',
    ...overrides,
  };
}

export type StoredRecord = AuditRecord & { partitionKey: string; rowKey: string; timestamp?: string; etag?: string };

/** The writer of fixture lanes, and its lane for the hour 2026-01-01T00 UTC. */
export const WRITER = 'fixture-k0-aaaaaaaaaaaa';
export const LANE = laneIdOf(Date.UTC(2026, 0, 1), WRITER);

export interface ChainOptions {
  /** Lane id (default `LANE`); its hour must contain the records' times. */
  readonly lane?: string;
  /** prev_hash of record 1 (default the genesis hash). */
  readonly start?: string;
  /** Time of record 1 in ms (default 2026-01-01T00:00:01Z); each next record is one second later. */
  readonly firstTime?: number;
  readonly caller?: Caller;
  readonly tag?: string;
}

/** A valid lane chain of `n` records as the Table sink stores them (with PartitionKey/RowKey). */
export function chain(n: number, options: ChainOptions = {}): StoredRecord[] {
  const lane = options.lane ?? LANE;
  const firstTime = options.firstTime ?? Date.UTC(2026, 0, 1, 0, 0, 1);
  const out: StoredRecord[] = [];
  let prev = options.start ?? GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const { body } = buildAuditRecord(entry({ correlationId: `${options.tag ?? 'req'}-${seq}`, ...(options.caller === undefined ? {} : { caller: options.caller }) }), {
      eventId: createHash('md5').update(`${options.tag ?? ''}-${seq}`).digest('hex'),
      now: firstTime + (seq - 1) * 1000,
      brokerVersion: '0.1.0',
      instanceId: 'fixture',
    });
    const record: AuditRecord = { ...body, lane, seq, prev_hash: prev };
    prev = recordHash(record);
    out.push({ ...record, partitionKey: lanePartition(body.caller_id, lane), rowKey: rowKeyOf(seq), timestamp: `2026-01-01T00:00:0${seq % 10}.0000000Z`, etag: `W/"${seq}"` });
  }
  return out;
}

/** The registry row of a lane chain, as the Table sink writes it (`prev`: the writer's previous lane, closed at its last record). */
export function registration(records: readonly StoredRecord[], prev?: readonly StoredRecord[]): LaneRegistration & { partitionKey: string; rowKey: string } {
  const first = records[0]!;
  const parsed = parseLaneId(first.lane)!;
  const prevLast = prev?.[prev.length - 1];
  return {
    partitionKey: first.caller_id,
    rowKey: registryRowKey(first.lane),
    caller_id: first.caller_id,
    lane: first.lane,
    writer: parsed.writer,
    instance_id: 'fixture',
    broker_version: '0.1.0',
    window_start: new Date(parsed.windowStart).toISOString(),
    window_end: new Date(parsed.windowStart + LANE_WINDOW_MS).toISOString(),
    writer_started: '2026-01-01T00:00:00.000Z',
    prev_lane: prevLast?.lane ?? '',
    prev_seq: prevLast?.seq ?? 0,
    prev_hash: prevLast === undefined ? GENESIS_HASH : recordHash(prevLast),
    first_hash: recordHash(first),
    first_time: first.time,
  };
}
