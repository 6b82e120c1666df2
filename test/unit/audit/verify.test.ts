import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, recordHash, rowKeyOf } from '../../../shared/audit/canonical.js';
import { createChainVerifier, verifyChain, type ChainProblemKind } from '../../../shared/audit/verify.js';
import { chain, type StoredRecord } from './fixtures.js';

const kinds = (problems: readonly { kind: ChainProblemKind }[]): ChainProblemKind[] => problems.map((p) => p.kind);
const headOf = (records: readonly StoredRecord[]) => {
  const last = records[records.length - 1]!;
  return { seq: last.seq, hash: recordHash(last) };
};

describe('verifyChain: tampering (requirement 60)', () => {
  it('requirement 60: flags a modified record (any field) by its successor\'s prev_hash', () => {
    for (const field of ['reason', 'http_status', 'caller_role', 'time', 'token_fingerprints'] as const) {
      const records = chain(6);
      const target = records[2]!;
      records[2] = { ...target, [field]: typeof target[field] === 'number' ? 403 : 'forged' };
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

  it('flags records of another caller and a PartitionKey that disagrees with caller_id', () => {
    const records = chain(3);
    records[1] = { ...records[1]!, caller_id: 'someone_else' };
    expect(kinds(verifyChain(records))).toEqual(['partition_mismatch', 'partition_mismatch', 'prev_hash_mismatch']);
    expect(kinds(verifyChain(chain(2), { partition: 'other' }))).toEqual(['partition_mismatch', 'partition_mismatch']);
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
