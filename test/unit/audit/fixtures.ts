import type { AuditEntry } from '../../../shared/audit/entry.js';
import { GENESIS_HASH, recordHash, rowKeyOf } from '../../../shared/audit/canonical.js';
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

/** A valid chain of `n` records as the Table sink stores them (with PartitionKey/RowKey). */
export function chain(n: number): StoredRecord[] {
  const out: StoredRecord[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const { body } = buildAuditRecord(entry({ correlationId: `req-${seq}` }), {
      eventId: seq.toString(16).padStart(32, '0'),
      now: Date.UTC(2026, 0, 1, 0, 0, seq),
      brokerVersion: '0.1.0',
      instanceId: 'fixture',
    });
    const record: AuditRecord = { ...body, seq, prev_hash: prev };
    prev = recordHash(record);
    out.push({ ...record, partitionKey: body.caller_id, rowKey: rowKeyOf(seq), timestamp: `2026-01-01T00:00:0${seq % 10}.0000000Z`, etag: `W/"${seq}"` });
  }
  return out;
}
