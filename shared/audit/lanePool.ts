import type { AuditRecord, AuditRecordBody } from './record.js';
import type { AuditSink } from './sink.js';

/**
 * Several writers of one instance, used as one sink (docs/audit.md "Writing"). A Table writer appends one
 * caller's records one batch at a time, so under concurrency a record waits for the batch in flight
 * before its own: about 1.5 Table round trips per record. The pool sends a caller's record to the first
 * of its writers that has nothing in flight for that caller, else to the least busy one; each writer
 * keeps its own lane (hash chain) per caller and hour, so chains stay single-writer and verifiable, and
 * a record waits for at most its own round trip until every writer is busy.
 *
 * At low load only the first writer is used, so a quiet caller gets one lane per hour per instance;
 * extra lanes appear only while that caller has records in flight at the same time.
 */

export interface AuditLanePool extends AuditSink {
  /** Records in flight per writer for `caller` (for tests and diagnostics). */
  inFlight(caller: string): readonly number[];
}

export function createAuditLanePool(writers: readonly AuditSink[]): AuditLanePool {
  if (writers.length === 0) throw new Error('createAuditLanePool: at least one writer is required');
  const busy = new Map<string, number[]>();

  function pick(counts: readonly number[]): number {
    let best = 0;
    for (let i = 0; i < counts.length; i++) {
      const n = counts[i] ?? 0;
      if (n === 0) return i;
      if (n < (counts[best] ?? 0)) best = i;
    }
    return best;
  }

  return {
    name: writers.length === 1 ? writers[0]!.name : `${writers[0]!.name}x${writers.length}`,
    inFlight: (caller) => [...(busy.get(caller) ?? writers.map(() => 0))],
    async append(body: AuditRecordBody): Promise<AuditRecord> {
      const caller = body.caller_id;
      let counts = busy.get(caller);
      if (counts === undefined) {
        counts = writers.map(() => 0);
        busy.set(caller, counts);
      }
      const index = pick(counts);
      counts[index] = (counts[index] ?? 0) + 1;
      try {
        return await writers[index]!.append(body);
      } finally {
        counts[index] = (counts[index] ?? 1) - 1;
        if (counts.every((n) => n === 0)) busy.delete(caller);
      }
    },
  };
}
