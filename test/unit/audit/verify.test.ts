import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, recordHash, rowKeyOf } from '../../../shared/audit/canonical.js';
import { laneIdOf, lanePartition } from '../../../shared/audit/lanes.js';
import { createCallerVerifier, createChainVerifier, verifyCaller, verifyChain, type ChainProblem, type ChainProblemKind } from '../../../shared/audit/verify.js';
import { CALLER_ID, LANE, WRITER, chain, registration, type StoredRecord } from './fixtures.js';

const kinds = (problems: readonly { kind: ChainProblemKind }[]): ChainProblemKind[] => problems.map((p) => p.kind);
const headOf = (records: readonly StoredRecord[]) => {
  const last = records[records.length - 1]!;
  return { seq: last.seq, hash: recordHash(last) };
};

describe('verifyChain: tampering (requirement 60)', () => {
  it('requirement 60: flags a modified record (any field) by its successor\'s prev_hash', () => {
    const forged = { reason: 'forged', http_status: 403, caller_role: 'forged', time: '2026-01-01T00:00:03.500Z', token_fingerprints: 'forged', lane: LANE } as const;
    for (const field of ['reason', 'http_status', 'caller_role', 'time', 'token_fingerprints'] as const) {
      const records = chain(6);
      const target = records[2]!;
      records[2] = { ...target, [field]: forged[field] };
      const problems = verifyChain(records);
      expect(kinds(problems), field).toEqual(['prev_hash_mismatch']);
      expect(problems[0]).toMatchObject({ index: 3, seq: 4 });
    }
  });

  it('requirement 60: flags a record given an extra property', () => {
    const records = chain(4);
    records[1] = { ...records[1]!, note: 'added later' } as StoredRecord;
    expect(kinds(verifyChain(records))).toEqual(['prev_hash_mismatch']);
  });

  it('requirement 60: flags a modified last record against the known head (anchor), and needs the anchor to see it', () => {
    const records = chain(5);
    const head = headOf(records);
    records[4] = { ...records[4]!, outcome: 'deny' };
    expect(verifyChain(records)).toEqual([]);
    expect(kinds(verifyChain(records, { head }))).toEqual(['head_mismatch']);
  });

  it('requirement 60: flags a deleted record as a gap', () => {
    const records = chain(6);
    records.splice(3, 1);
    const problems = verifyChain(records);
    expect(kinds(problems)).toEqual(['gap']);
    expect(problems[0]).toMatchObject({ seq: 5, detail: 'records 4..4 are missing' });
  });

  it('requirement 60: flags deleted first records and deleted tail records (with the anchor)', () => {
    const records = chain(6);
    const head = headOf(records);
    expect(kinds(verifyChain(records.slice(2)))).toEqual(['missing_start']);
    expect(kinds(verifyChain(records.slice(0, 4), { head }))).toEqual(['head_missing']);
    expect(kinds(verifyChain([], { head }))).toEqual(['head_missing']);
  });

  it('requirement 60: flags an inserted record with a duplicate seq', () => {
    const records = chain(5);
    const forged = { ...records[2]!, event_id: 'f'.repeat(32), reason: 'forged' };
    records.splice(3, 0, forged);
    expect(kinds(verifyChain(records))).toContain('duplicate_seq');
  });

  it('requirement 60: flags an inserted record even when the inserter renumbers the rest', () => {
    const original = chain(5);
    const forged: StoredRecord = { ...original[1]!, event_id: 'f'.repeat(32), reason: 'forged', seq: 3, prev_hash: recordHash(original[1]!), rowKey: rowKeyOf(3) };
    const renumbered = original.slice(2).map((r) => ({ ...r, seq: r.seq + 1, rowKey: rowKeyOf(r.seq + 1) }));
    const records = [...original.slice(0, 2), forged, ...renumbered];
    const problems = verifyChain(records);
    // The forged record links correctly to record 2; every renumbered record after it no longer does.
    expect(kinds(problems)).toEqual(['prev_hash_mismatch', 'prev_hash_mismatch', 'prev_hash_mismatch']);
    expect(problems[0]).toMatchObject({ index: 3, seq: 4 });
  });

  it('requirement 60: flags reordered records', () => {
    const records = chain(5);
    [records[1], records[3]] = [records[3]!, records[1]!];
    const problems = kinds(verifyChain(records));
    expect(problems).toContain('out_of_order');
    expect(problems).toContain('gap');
  });

  it('requirement 60: flags records whose RowKeys were swapped to look ordered', () => {
    const records = chain(5);
    const a = records[1]!;
    const b = records[2]!;
    records[1] = { ...b, rowKey: a.rowKey };
    records[2] = { ...a, rowKey: b.rowKey };
    const problems = kinds(verifyChain(records));
    expect(problems).toContain('row_key_mismatch');
    expect(problems).toContain('out_of_order');
  });

  it('flags a first record that does not start from the genesis hash', () => {
    const records = chain(2);
    records[0] = { ...records[0]!, prev_hash: 'a'.repeat(64) };
    expect(kinds(verifyChain(records))).toEqual(['prev_hash_mismatch', 'prev_hash_mismatch']);
  });

  it('flags records of another caller or lane, and a PartitionKey that disagrees with caller_id and lane', () => {
    const records = chain(3);
    records[1] = { ...records[1]!, caller_id: 'someone_else' };
    expect(kinds(verifyChain(records))).toEqual(['partition_mismatch', 'partition_mismatch', 'prev_hash_mismatch']);
    expect(kinds(verifyChain(chain(2), { partition: 'other' }))).toEqual(['partition_mismatch', 'partition_mismatch']);
    const moved = chain(3);
    moved[1] = { ...moved[1]!, partitionKey: lanePartition(CALLER_ID, laneIdOf(Date.UTC(2026, 0, 1), 'other-k0-cccccccccccc')) };
    expect(kinds(verifyChain(moved))).toEqual(['partition_mismatch']);
    expect(kinds(verifyChain(chain(2), { lane: 'another-lane' }))).toEqual(['partition_mismatch', 'partition_mismatch', 'partition_mismatch', 'partition_mismatch']);
  });

  it('flags a lane record whose time runs backwards or leaves the lane\'s hour', () => {
    const records = chain(4);
    records[2] = { ...records[2]!, time: '2026-01-01T00:00:01.500Z' };
    expect(kinds(verifyChain(records))).toEqual(['time_order', 'prev_hash_mismatch']);
    const outside = chain(2, { firstTime: Date.UTC(2026, 0, 1, 0, 59, 59) });
    expect(kinds(verifyChain(outside))).toEqual(['time_outside_lane']);
  });

  it('flags malformed records', () => {
    const records = chain(3);
    records[1] = { ...records[1]!, seq: 'two' as unknown as number, prev_hash: 'nope' };
    const problems = kinds(verifyChain(records));
    expect(problems.filter((k) => k === 'invalid_record')).toHaveLength(2);
  });

  it('accepts an intact chain, with or without Table system fields, and with its head as anchor', () => {
    const records = chain(10);
    expect(verifyChain(records)).toEqual([]);
    expect(verifyChain(records, { head: headOf(records) })).toEqual([]);
    expect(verifyChain(records.map(({ partitionKey: _p, rowKey: _r, timestamp: _t, etag: _e, ...rest }) => rest))).toEqual([]);
    expect(verifyChain([])).toEqual([]);
    expect(records[0]!.prev_hash).toBe(GENESIS_HASH);
  });

  it('verifies incrementally with the same result', () => {
    const records = chain(8);
    records.splice(5, 1);
    const verifier = createChainVerifier();
    for (const r of records) verifier.push(r);
    expect(verifier.finish()).toEqual(verifyChain(records));
    expect(verifier.count).toBe(7);
    expect(verifier.lastSeq).toBe(8);
  });
});

/** Writer A: a lane in hour 0 (closed) and its successor in hour 1; writer B: one lane in hour 0. */
function trail() {
  const a0 = chain(5, { tag: 'a0' });
  const lastA0 = a0[a0.length - 1]!;
  const a1 = chain(3, { tag: 'a1', lane: laneIdOf(Date.UTC(2026, 0, 1, 1), WRITER), firstTime: Date.UTC(2026, 0, 1, 1, 0, 1), start: recordHash(lastA0) });
  const b0 = chain(4, { tag: 'b0', lane: laneIdOf(Date.UTC(2026, 0, 1), 'fixture-k1-bbbbbbbbbbbb'), firstTime: Date.UTC(2026, 0, 1, 0, 0, 2) });
  return { a0, a1, b0, registry: [registration(a0), registration(a1, a0), registration(b0)] };
}

const laneKinds = (problems: readonly ChainProblem[]) => problems.map((p) => `${p.kind}@${p.lane === LANE ? 'a0' : p.lane?.startsWith('20260101T01') ? 'a1' : p.lane === '' ? 'pre' : 'b0'}`);

describe('verifyCaller: all lanes of a caller against the lane registry (requirement 60)', () => {
  it('accepts intact lanes of several writers, a writer\'s lanes linked hour to hour, in any input order', () => {
    const { a0, a1, b0, registry } = trail();
    const report = verifyCaller({ caller: CALLER_ID, registry, records: [...a0, ...a1, ...b0] });
    expect(report.problems).toEqual([]);
    expect(report.records).toBe(12);
    expect(report.lanes.map((l) => [l.records, l.lastSeq, l.registered])).toEqual([[5, 5, true], [4, 4, true], [3, 3, true]]);
    const shuffled = createCallerVerifier(CALLER_ID);
    for (const r of [...b0, ...a1]) shuffled.push(r);
    for (const r of [...registry].reverse()) shuffled.register(r);
    for (const r of a0) shuffled.push(r);
    expect(shuffled.finish().problems).toEqual([]);
  });

  it('requirement 60: reports a deleted record, a reordered pair and an altered record in any lane, naming the lane', () => {
    const deleted = trail();
    deleted.b0.splice(1, 1);
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: deleted.registry, records: [...deleted.a0, ...deleted.a1, ...deleted.b0] }).problems)).toEqual(['gap@b0']);

    const reordered = trail();
    [reordered.a1[0], reordered.a1[1]] = [reordered.a1[1]!, reordered.a1[0]!];
    const r = laneKinds(verifyCaller({ caller: CALLER_ID, registry: reordered.registry, records: [...reordered.a0, ...reordered.a1, ...reordered.b0] }).problems);
    expect(r).toContain('missing_start@a1');
    expect(r).toContain('out_of_order@a1');

    const altered = trail();
    altered.a0[2] = { ...altered.a0[2]!, outcome: 'deny' };
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: altered.registry, records: [...altered.a0, ...altered.a1, ...altered.b0] }).problems)).toEqual(['prev_hash_mismatch@a0']);
  });

  it('requirement 60: a closed lane is anchored by its successor: an altered or deleted last record, or a record appended later, is reported', () => {
    const altered = trail();
    altered.a0[4] = { ...altered.a0[4]!, reason: 'forged' };
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: altered.registry, records: [...altered.a0, ...altered.a1, ...altered.b0] }).problems)).toEqual(['head_mismatch@a0']);

    const truncated = trail();
    truncated.a0.pop();
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: truncated.registry, records: [...truncated.a0, ...truncated.a1, ...truncated.b0] }).problems)).toEqual(['head_missing@a0']);

    const extended = trail();
    const more = chain(6, { tag: 'a0' });
    expect(more.slice(0, 5)).toEqual(extended.a0);
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: extended.registry, records: [...more, ...extended.a1, ...extended.b0] }).problems)).toEqual(['lane_extended@a0']);
  });

  it('requirement 60: reports a deleted lane — with its registry row kept, or deleted too when a later lane or a head hint names it', () => {
    const { a0, a1, b0, registry } = trail();
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry, records: [...a0, ...a1] }).problems)).toEqual(['lane_missing@b0']);
    // a0 and its registry row deleted: a1's row still names it.
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: registry.slice(1), records: [...a1, ...b0] }).problems)).toEqual(['lane_missing@a0']);
    // b0 and its registry row deleted: its head hint still names it.
    const hints = new Map([[lanePartition(CALLER_ID, b0[0]!.lane), { seq: 4, hash: recordHash(b0[3]!) }]]);
    const report = verifyCaller({ caller: CALLER_ID, registry: registry.slice(0, 2), records: [...a0, ...a1], hints });
    expect(laneKinds(report.problems)).toEqual(['lane_missing@b0']);
    expect(report.lanes).toHaveLength(3);
  });

  it('requirement 60: reports a deleted or altered registry row, and two lanes claiming one predecessor', () => {
    const { a0, a1, b0, registry } = trail();
    const records = [...a0, ...a1, ...b0];
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: [registry[0]!, registry[1]!], records }).problems)).toEqual(['lane_unregistered@b0']);
    const forgedFirst = { ...registry[2]!, first_hash: 'f'.repeat(64) };
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: [registry[0]!, registry[1]!, forgedFirst], records }).problems)).toEqual(['lane_mismatch@b0']);
    const relinked = { ...registry[1]!, prev_hash: 'e'.repeat(64) };
    const relinkedKinds = laneKinds(verifyCaller({ caller: CALLER_ID, registry: [registry[0]!, relinked, registry[2]!], records }).problems);
    expect(relinkedKinds).toContain('prev_hash_mismatch@a1');
    expect(relinkedKinds).toContain('head_mismatch@a0');
    const otherWriter = { ...registry[1]!, prev_lane: b0[0]!.lane, prev_seq: 4, prev_hash: recordHash(b0[3]!) };
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: [registry[0]!, otherWriter, registry[2]!], records }).problems)).toContain('lane_mismatch@a1');
    const broken = { ...registry[2]!, window_start: '2026-01-01T05:00:00.000Z' };
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: [registry[0]!, registry[1]!, broken], records }).problems)).toEqual(['registry_invalid@b0', 'lane_unregistered@b0']);
    // A forged second lane continuing a0 (a fork) is reported.
    const fork = chain(1, { tag: 'fork', lane: laneIdOf(Date.UTC(2026, 0, 1, 2), WRITER), firstTime: Date.UTC(2026, 0, 1, 2, 0, 1), start: recordHash(a0[4]!) });
    const forkKinds = laneKinds(verifyCaller({ caller: CALLER_ID, registry: [...registry, registration(fork, a0)], records: [...records, ...fork] }).problems);
    expect(forkKinds.some((k) => k.startsWith('lane_forked@'))).toBe(true);
  });

  it('verifies a pre-lane chain (PartitionKey = caller id, no lane field) as one chain from genesis', () => {
    // Records as the single-chain sink wrote them: no lane field, re-chained from genesis.
    let prev = GENESIS_HASH;
    const legacy = chain(3, { tag: 'legacy' }).map(({ lane: _lane, ...r }) => {
      const record = { ...r, partitionKey: CALLER_ID, prev_hash: prev };
      prev = recordHash(record);
      return record;
    });
    const { a0, registry } = trail();
    const report = verifyCaller({ caller: CALLER_ID, registry: [registry[0]!], records: [...legacy, ...a0] });
    expect(report.problems).toEqual([]);
    expect(report.lanes.map((l) => l.lane)).toEqual(['', LANE]);
    legacy.splice(1, 1);
    expect(laneKinds(verifyCaller({ caller: CALLER_ID, registry: [registry[0]!], records: [...legacy, ...a0] }).problems)).toEqual(['gap@pre']);
  });
});
