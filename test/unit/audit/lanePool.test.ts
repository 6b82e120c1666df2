import { describe, expect, it } from 'vitest';
import { createAuditLanePool } from '../../../shared/audit/lanePool.js';
import type { AuditRecord, AuditRecordBody } from '../../../shared/audit/record.js';
import type { AuditSink } from '../../../shared/audit/sink.js';

/** A writer whose appends stay in flight until released; records which bodies it got. */
function heldWriter(name: string) {
  const got: string[] = [];
  const pending: Array<() => void> = [];
  const sink: AuditSink = {
    name,
    append(body: AuditRecordBody) {
      got.push(String(body.correlation_id));
      return new Promise<AuditRecord>((resolve) => pending.push(() => resolve({ ...body, lane: name, seq: got.length, prev_hash: '' })));
    },
  };
  return { sink, got, releaseAll: () => { for (const p of pending.splice(0)) p(); } };
}

const body = (caller: string, id: string) => ({ caller_id: caller, correlation_id: id }) as unknown as AuditRecordBody;

describe('the audit lane pool (docs/audit.md "Writing")', () => {
  it('one record at a time always goes to the first writer', async () => {
    const writers = [heldWriter('w0'), heldWriter('w1'), heldWriter('w2')];
    const pool = createAuditLanePool(writers.map((w) => w.sink));
    for (let i = 0; i < 5; i++) {
      const p = pool.append(body('c1', `r${i}`));
      writers[0]!.releaseAll();
      await p;
    }
    expect(writers.map((w) => w.got.length)).toEqual([5, 0, 0]);
    expect(pool.inFlight('c1')).toEqual([0, 0, 0]);
  });

  it('records in flight at once go to idle writers first, then to the least busy one; callers are counted apart', async () => {
    const writers = [heldWriter('w0'), heldWriter('w1'), heldWriter('w2')];
    const pool = createAuditLanePool(writers.map((w) => w.sink));
    const all = Array.from({ length: 7 }, (_, i) => pool.append(body('c1', `r${i}`)));
    expect(pool.inFlight('c1')).toEqual([3, 2, 2]);
    expect(writers.map((w) => w.got)).toEqual([['r0', 'r3', 'r6'], ['r1', 'r4'], ['r2', 'r5']]);
    // Another caller starts from the first writer: the counts are per caller.
    const other = pool.append(body('c2', 'x0'));
    expect(pool.inFlight('c2')).toEqual([1, 0, 0]);
    for (const w of writers) w.releaseAll();
    await Promise.all([...all, other]);
    expect(pool.inFlight('c1')).toEqual([0, 0, 0]);
  });

  it('a failed append frees its slot and the error reaches the caller', async () => {
    const failing: AuditSink = { name: 'bad', append: () => Promise.reject(new Error('down')) };
    const pool = createAuditLanePool([failing]);
    await expect(pool.append(body('c1', 'r0'))).rejects.toThrow('down');
    expect(pool.inFlight('c1')).toEqual([0]);
    expect(() => createAuditLanePool([])).toThrow();
  });
});
