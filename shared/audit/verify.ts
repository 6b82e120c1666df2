import { GENESIS_HASH, recordHash, rowKeyOf } from './canonical.js';

/**
 * The hash-chain verifier (security.md requirement 60): given one caller's records in stored order
 * (RowKey ascending), reports every place where the chain shows a modified, deleted, inserted or
 * reordered record, a gap or a duplicate seq. Pure: no I/O, no clock.
 *
 * What each tampering leaves behind:
 * - modified record n      → `prev_hash_mismatch` at n+1 (or `head_mismatch` if n is the anchored head)
 * - deleted record n       → `gap` at n+1 (or `missing_start` when n = 1, `head_missing` at the tail)
 * - inserted record        → `duplicate_seq`, or `prev_hash_mismatch` if the inserter renumbered
 * - reordered records      → `out_of_order`/`gap`, or `row_key_mismatch` when RowKeys were swapped
 * Detail strings carry only numbers, never a record's (caller-supplied) content.
 */

export type ChainProblemKind =
  | 'invalid_record'
  | 'partition_mismatch'
  | 'row_key_mismatch'
  | 'missing_start'
  | 'gap'
  | 'duplicate_seq'
  | 'out_of_order'
  | 'prev_hash_mismatch'
  | 'head_missing'
  | 'head_mismatch';

export interface ChainProblem {
  readonly kind: ChainProblemKind;
  /** Position of the record in the input; -1 for problems of the chain as a whole. */
  readonly index: number;
  readonly seq: number | undefined;
  readonly detail: string;
}

/** A head known from elsewhere (the head hint, later a signed digest): that record must exist unchanged. */
export interface ChainAnchor {
  readonly seq: number;
  readonly hash: string;
}

export interface VerifyChainOptions {
  /** The caller id every record must carry; defaults to the first record's. */
  readonly partition?: string;
  readonly head?: ChainAnchor;
}

/** A stored record with or without Table system fields (any object; read by property name). */
export type StoredRecordLike = object;

/** Incremental verifier for one partition, for streaming a large partition. */
export interface ChainVerifier {
  push(record: StoredRecordLike): void;
  /** Ends the chain (anchor checks) and returns every problem found. */
  finish(): readonly ChainProblem[];
  readonly count: number;
  /** Highest valid seq seen; 0 when none. */
  readonly lastSeq: number;
}

const HEX_HASH = /^[0-9a-f]{64}$/;

/** Creates an incremental verifier; `verifyChain` is the one-shot form. */
export function createChainVerifier(options: VerifyChainOptions = {}): ChainVerifier {
  const problems: ChainProblem[] = [];
  let partition = options.partition;
  let count = 0;
  let lastSeq = 0;
  let previous: { seq: number | undefined; hash: string } | undefined;
  let anchorHash: string | undefined;

  const report = (kind: ChainProblemKind, index: number, seq: number | undefined, detail: string): void => {
    problems.push({ kind, index, seq, detail });
  };

  return {
    get count() {
      return count;
    },
    get lastSeq() {
      return lastSeq;
    },
    push(stored) {
      const record = stored as Readonly<Record<string, unknown>>;
      const index = count++;
      const rawSeq = record['seq'];
      const seq = typeof rawSeq === 'number' && Number.isSafeInteger(rawSeq) && rawSeq >= 1 ? rawSeq : undefined;
      const prevHash = record['prev_hash'];
      const callerId = record['caller_id'];
      const hash = recordHash(record);

      if (seq === undefined) report('invalid_record', index, undefined, 'seq is not a positive integer');
      if (typeof prevHash !== 'string' || !HEX_HASH.test(prevHash)) report('invalid_record', index, seq, 'prev_hash is not a SHA-256 hex digest');
      if (typeof callerId !== 'string') {
        report('invalid_record', index, seq, 'caller_id is missing');
      } else {
        partition ??= callerId;
        if (callerId !== partition) report('partition_mismatch', index, seq, 'caller_id differs from the partition');
      }
      const partitionKey = record['partitionKey'];
      if (partitionKey !== undefined && partitionKey !== callerId) report('partition_mismatch', index, seq, 'PartitionKey differs from caller_id');
      const rowKey = record['rowKey'];
      if (rowKey !== undefined && seq !== undefined && rowKey !== rowKeyOf(seq)) report('row_key_mismatch', index, seq, 'RowKey differs from the zero-padded seq');

      if (previous === undefined) {
        if (seq !== undefined && seq !== 1) report('missing_start', index, seq, `records 1..${seq - 1} are missing`);
        else if (seq === 1 && prevHash !== GENESIS_HASH) report('prev_hash_mismatch', index, seq, 'the first record does not start from the genesis hash');
      } else if (seq !== undefined && previous.seq !== undefined) {
        if (seq === previous.seq) report('duplicate_seq', index, seq, `seq ${seq} appears more than once`);
        else if (seq < previous.seq) report('out_of_order', index, seq, `seq ${seq} follows seq ${previous.seq}`);
        else if (seq > previous.seq + 1) report('gap', index, seq, `records ${previous.seq + 1}..${seq - 1} are missing`);
        else if (prevHash !== previous.hash) report('prev_hash_mismatch', index, seq, `prev_hash is not the hash of record ${previous.seq}: it was modified, or this record was inserted`);
      } else if (prevHash !== previous.hash) {
        report('prev_hash_mismatch', index, seq, 'prev_hash is not the hash of the preceding record');
      }

      if (seq !== undefined) {
        lastSeq = Math.max(lastSeq, seq);
        if (options.head !== undefined && seq === options.head.seq) anchorHash ??= hash;
      }
      previous = { seq, hash };
    },
    finish() {
      const head = options.head;
      if (head !== undefined && head.seq > 0) {
        if (anchorHash === undefined) report('head_missing', -1, head.seq, `record ${head.seq}, known as written, is missing`);
        else if (anchorHash !== head.hash) report('head_mismatch', -1, head.seq, `record ${head.seq} differs from the known head`);
      }
      return [...problems];
    },
  };
}

/** Verifies one caller's records, in stored order; returns the problems (empty when the chain is intact). */
export function verifyChain(records: readonly StoredRecordLike[], options: VerifyChainOptions = {}): readonly ChainProblem[] {
  const verifier = createChainVerifier(options);
  for (const record of records) verifier.push(record);
  return verifier.finish();
}
