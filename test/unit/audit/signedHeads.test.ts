import { createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { recordHash } from '../../../shared/audit/canonical.js';
import {
  buildDigests, digestSignatureValid, GENESIS_HASH, lineHash, parseDigest, verifyDigests, type DigestLineInput, type HeadDigest, type SignedHead,
} from '../../../shared/audit/headDigest.js';
import { lanePartition } from '../../../shared/audit/lanes.js';
import { verifyCaller } from '../../../shared/audit/verify.js';
import { CALLER_ID, chain, registration } from './fixtures.js';

const KEY = createSecretKey(Buffer.from('unit-audit-heads-key-0123456789abcdef'));
const OTHER_KEY = createSecretKey(Buffer.from('another-audit-heads-key-0123456789ab'));
const keys = (version: string) => (version === 'v1' ? KEY : version === 'v2' ? OTHER_KEY : undefined);

function head(n: number, seq = n): SignedHead {
  return { caller: `caller-${n}`, lane: `20260101T00-w${n}`, first_hash: 'a'.repeat(64), seq, hash: 'b'.repeat(64) };
}

function lines(texts: readonly string[], blob = 'audit/2026-01-01.jsonl'): DigestLineInput[] {
  return texts.map((text, i) => ({ blob, line: i + 1, text: text.replace(/\n$/, '') }));
}

function digests(heads: readonly SignedHead[], options: { prev?: string; keyVersion?: string; key?: typeof KEY; max?: number; table?: string } = {}) {
  return buildDigests({ table: options.table ?? 'audit', time: '2026-01-01T00:05:00.000Z', prev: options.prev ?? GENESIS_HASH, keyVersion: options.keyVersion ?? 'v1', heads }, options.key ?? KEY, options.max);
}

describe('signed head digests (requirement 61)', () => {
  it('signs and chains digests; the verifier keeps the highest signed head per lane', () => {
    const first = digests([head(1, 3), head(2, 5)]);
    const second = digests([head(1, 7)], { prev: first.last, keyVersion: 'v2', key: OTHER_KEY });
    const result = verifyDigests(lines([...first.lines, ...second.lines]), 'audit', keys, lanePartition);
    expect(result.problems).toEqual([]);
    expect(result.digests).toBe(2);
    expect(result.heads.get(lanePartition('caller-1', '20260101T00-w1'))).toMatchObject({ seq: 7 });
    expect(result.byCaller.get('caller-2')?.get(lanePartition('caller-2', '20260101T00-w2'))).toMatchObject({ seq: 5, firstHash: 'a'.repeat(64) });
    expect((parseDigest(second.lines[0]!) as HeadDigest).prev).toBe(lineHash(first.lines[0]!));
  });

  it('splits many heads into chained digests of at most the maximum', () => {
    const many = Array.from({ length: 25 }, (_, i) => head(i + 1));
    const built = digests(many, { max: 10 });
    expect(built.lines).toHaveLength(3);
    const result = verifyDigests(lines(built.lines), 'audit', keys, lanePartition);
    expect(result.problems).toEqual([]);
    expect(result.heads.size).toBe(25);
  });

  it('an altered digest fails its signature and its heads are not trusted', () => {
    const built = digests([head(1, 3)]);
    const forged = built.lines[0]!.replace('"seq":3', '"seq":2');
    const result = verifyDigests(lines([forged]), 'audit', keys, lanePartition);
    expect(result.problems.map((p) => p.kind)).toEqual(['digest_signature_invalid']);
    expect(result.heads.size).toBe(0);
    expect(digestSignatureValid(parseDigest(forged.trim()) as HeadDigest, KEY)).toBe(false);
  });

  it('a digest removed from the middle, or reordered, breaks the digest chain', () => {
    const a = digests([head(1, 1)]);
    const b = digests([head(1, 2)], { prev: a.last });
    const c = digests([head(1, 3)], { prev: b.last });
    expect(verifyDigests(lines([...a.lines, ...c.lines]), 'audit', keys, lanePartition).problems.map((p) => p.kind)).toEqual(['digest_chain_broken']);
    expect(verifyDigests(lines([...b.lines, ...a.lines, ...c.lines]), 'audit', keys, lanePartition).problems.map((p) => p.kind)).toContain('digest_chain_broken');
  });

  it('reports an unknown key version, another table\'s digest and a malformed line', () => {
    const unknown = digests([head(1)], { keyVersion: 'v9' });
    const other = digests([head(2)], { prev: unknown.last, table: 'otheraudit' });
    const result = verifyDigests(lines([...unknown.lines, ...other.lines, '{not json']), 'audit', keys, lanePartition);
    expect(result.problems.map((p) => p.kind)).toEqual(['digest_key_unknown', 'digest_table_mismatch', 'digest_invalid']);
    expect(result.problems[2]).toMatchObject({ blob: 'audit/2026-01-01.jsonl', line: 3 });
    expect(parseDigest('{"v":1,"kind":"audit-heads","table":"audit","time":"x"}')).toBe('table or time missing');
  });

  it('a digest signed with another key than its key_version names fails', () => {
    const built = digests([head(1)], { keyVersion: 'v1', key: OTHER_KEY });
    expect(verifyDigests(lines(built.lines), 'audit', keys, lanePartition).problems.map((p) => p.kind)).toEqual(['digest_signature_invalid']);
  });
});

describe('verifyCaller against signed heads (requirement 61)', () => {
  const records = chain(6);
  const lane = records[0]!.lane;
  const partition = lanePartition(CALLER_ID, lane);
  const signedAt = '2026-01-01T00:05:00.000Z';
  const signedAt5 = new Map([[partition, { seq: 5, hash: recordHash(records[4]!), signedAt, firstHash: recordHash(records[0]!) }]]);

  it('an intact lane that grew after signing is fine', () => {
    const report = verifyCaller({ caller: CALLER_ID, registry: [registration(records)], records, signed: signedAt5 });
    expect(report.problems).toEqual([]);
    expect(report.lanes[0]).toMatchObject({ signed: { seq: 5 } });
  });

  it('deleting the last records after signing is reported as truncated — undetectable without the signed head', () => {
    const truncated = records.slice(0, 4);
    expect(verifyCaller({ caller: CALLER_ID, registry: [registration(records)], records: truncated }).problems).toEqual([]);
    const report = verifyCaller({ caller: CALLER_ID, registry: [registration(records)], records: truncated, signed: signedAt5 });
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'truncated', lane, seq: 5 })]);
    expect(report.problems[0]!.detail).toContain('records 5..5 were deleted');
  });

  it('a signed record that was altered, or deleted inside the lane, is reported', () => {
    const altered = records.map((r) => (r.seq === 5 ? { ...r, reason: 'forged' } : r));
    expect(verifyCaller({ caller: CALLER_ID, registry: [registration(records)], records: altered, signed: signedAt5 }).problems.map((p) => p.kind)).toContain('signed_head_mismatch');
    const holed = records.filter((r) => r.seq !== 5);
    expect(verifyCaller({ caller: CALLER_ID, registry: [registration(records)], records: holed, signed: signedAt5 }).problems.map((p) => p.kind)).toEqual(expect.arrayContaining(['gap', 'signed_head_missing']));
  });

  it('a lane deleted with its registry row and head hint is still reported from its signed head', () => {
    const report = verifyCaller({ caller: CALLER_ID, registry: [], records: [], signed: signedAt5 });
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'truncated', lane })]);
    expect(report.lanes).toEqual([expect.objectContaining({ lane, records: 0, registered: false })]);
  });

  it('a registry row rewritten to another first record disagrees with the signed head', () => {
    const other = chain(2, { tag: 'other' });
    const row = { ...registration(records), first_hash: recordHash(other[0]!) };
    expect(verifyCaller({ caller: CALLER_ID, registry: [row], records, signed: signedAt5 }).problems.map((p) => p.kind)).toContain('lane_mismatch');
  });
});
