import { GENESIS_HASH, recordHash, rowKeyOf } from './canonical.js';
import { LANE_WINDOW_MS, REGISTRY_ROW_PREFIX, lanePartition, parseLaneId, parseLanePartition } from './lanes.js';

/**
 * The audit verifier (requirement 60; docs/audit.md "Verification"). Pure: no I/O, no clock.
 *
 * `createChainVerifier`/`verifyChain` check one hash chain — one lane, or a pre-lane caller chain —
 * given its records in stored order (RowKey ascending). `createCallerVerifier`/`verifyCaller` check
 * all of one caller's lanes against the lane registry. What each tampering leaves behind:
 * - modified record n       → `prev_hash_mismatch` at n+1; the lane's last record: `head_mismatch`
 *                              against the head hint or the successor lane's registry row
 * - deleted record n        → `gap` at n+1 (`missing_start` when n = 1; at the tail `head_missing`)
 * - inserted record         → `duplicate_seq`, or `prev_hash_mismatch` if the inserter renumbered;
 *                              appended to a closed lane: `lane_extended`
 * - reordered records       → `out_of_order`/`gap`, or `row_key_mismatch` when RowKeys were swapped
 * - deleted lane            → `lane_missing` (its registry row, or its successor's, still names it)
 * - deleted registry row    → `lane_unregistered`
 * - altered registry row    → `lane_mismatch` (first record, predecessor link or writer disagree)
 * - tail deleted after a signed head (requirement 61) → `truncated`; the signed record missing or
 *   altered inside the lane → `signed_head_missing` / `signed_head_mismatch`
 * Detail strings carry only numbers and lane ids, never a record's (caller-supplied) content.
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
  | 'time_order'
  | 'time_outside_lane'
  | 'head_missing'
  | 'head_mismatch'
  | 'lane_extended'
  | 'lane_missing'
  | 'lane_unregistered'
  | 'lane_mismatch'
  | 'lane_forked'
  | 'registry_invalid'
  | 'truncated'
  | 'signed_head_missing'
  | 'signed_head_mismatch';

export interface ChainProblem {
  readonly kind: ChainProblemKind;
  /** Position of the record in its chain's input; -1 for problems of a chain or lane as a whole. */
  readonly index: number;
  readonly seq: number | undefined;
  readonly detail: string;
  /** The lane concerned (`''` for a pre-lane chain); absent from `verifyChain` results. */
  readonly lane?: string;
}

/** A head known from elsewhere (a head hint, a successor's registry row, later a signed digest): that record must exist unchanged. */
export interface ChainAnchor {
  readonly seq: number;
  readonly hash: string;
}

export interface VerifyChainOptions {
  /** The caller id every record must carry; defaults to the first record's. */
  readonly partition?: string;
  /**
   * The lane every record must carry (its PartitionKey then being `<caller>~<lane>`); defaults to the
   * first record's `lane`. A chain whose records have no `lane` is a pre-lane chain (PartitionKey = caller id).
   */
  readonly lane?: string;
  /** `prev_hash` of record 1: default `GENESIS_HASH`; `null` leaves it to the caller (the lane registry check). */
  readonly start?: string | null;
  readonly head?: ChainAnchor;
  /** A head signed into a digest (requirement 61): that record must exist unchanged. */
  readonly signed?: SignedChainAnchor;
}

/** A signed head and when it was signed. */
export interface SignedChainAnchor extends ChainAnchor {
  readonly signedAt: string;
}

/** A stored record with or without Table system fields (any object; read by property name). */
export type StoredRecordLike = object;

/** Incremental verifier for one chain, for streaming a large partition. */
export interface ChainVerifier {
  push(record: StoredRecordLike): void;
  /** Ends the chain (anchor checks) and returns every problem found. */
  finish(): readonly ChainProblem[];
  readonly count: number;
  /** Highest valid seq seen; 0 when none. */
  readonly lastSeq: number;
  /** The last record pushed (its seq and hash); undefined when none. */
  readonly last: ChainAnchor | undefined;
  /** Hash and `prev_hash` of the first record pushed, when its seq is 1. */
  readonly first: { readonly hash: string; readonly prevHash: string } | undefined;
}

const HEX_HASH = /^[0-9a-f]{64}$/;

/** Creates an incremental verifier; `verifyChain` is the one-shot form. */
export function createChainVerifier(options: VerifyChainOptions = {}): ChainVerifier {
  const problems: ChainProblem[] = [];
  let partition = options.partition;
  let lane: string | undefined | null = options.lane ?? null; // null: not known yet
  const start = options.start === undefined ? GENESIS_HASH : options.start;
  let count = 0;
  let lastSeq = 0;
  let previous: { seq: number | undefined; hash: string; time: string | undefined } | undefined;
  let first: ChainVerifier['first'];
  let anchorHash: string | undefined;
  let signedHash: string | undefined;
  let window: { start: number; end: number } | undefined;

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
    get last() {
      return previous?.seq === undefined ? undefined : { seq: previous.seq, hash: previous.hash };
    },
    get first() {
      return first;
    },
    push(stored) {
      const record = stored as Readonly<Record<string, unknown>>;
      const index = count++;
      const rawSeq = record['seq'];
      const seq = typeof rawSeq === 'number' && Number.isSafeInteger(rawSeq) && rawSeq >= 1 ? rawSeq : undefined;
      const prevHash = record['prev_hash'];
      const callerId = record['caller_id'];
      const recordLane = typeof record['lane'] === 'string' ? record['lane'] : undefined;
      const rawTime = record['time'];
      const time = typeof rawTime === 'string' && !Number.isNaN(Date.parse(rawTime)) ? rawTime : undefined;
      const hash = recordHash(record);

      if (seq === undefined) report('invalid_record', index, undefined, 'seq is not a positive integer');
      if (typeof prevHash !== 'string' || !HEX_HASH.test(prevHash)) report('invalid_record', index, seq, 'prev_hash is not a SHA-256 hex digest');
      if (time === undefined) report('invalid_record', index, seq, 'time is not a timestamp');
      if (typeof callerId !== 'string') {
        report('invalid_record', index, seq, 'caller_id is missing');
      } else {
        partition ??= callerId;
        if (callerId !== partition) report('partition_mismatch', index, seq, 'caller_id differs from the partition');
      }
      if (lane === null) {
        lane = recordLane;
        const parsed = lane === undefined ? undefined : parseLaneId(lane);
        if (parsed !== undefined) window = { start: parsed.windowStart, end: parsed.windowStart + LANE_WINDOW_MS };
      }
      if (recordLane !== lane) report('partition_mismatch', index, seq, 'lane differs from the chain\'s lane');
      const partitionKey = record['partitionKey'];
      const expectedKey = typeof callerId === 'string' ? (lane === undefined ? callerId : lanePartition(callerId, lane)) : undefined;
      if (partitionKey !== undefined && partitionKey !== expectedKey) report('partition_mismatch', index, seq, 'PartitionKey differs from caller_id and lane');
      const rowKey = record['rowKey'];
      if (rowKey !== undefined && seq !== undefined && rowKey !== rowKeyOf(seq)) report('row_key_mismatch', index, seq, 'RowKey differs from the zero-padded seq');
      if (time !== undefined && window !== undefined) {
        const ms = Date.parse(time);
        if (ms < window.start || ms >= window.end) report('time_outside_lane', index, seq, 'time is outside the lane\'s hour');
      }

      if (previous === undefined) {
        if (seq !== undefined && seq !== 1) report('missing_start', index, seq, `records 1..${seq - 1} are missing`);
        else if (seq === 1) {
          if (typeof prevHash === 'string') first = { hash, prevHash };
          if (start !== null && prevHash !== start) report('prev_hash_mismatch', index, seq, 'the first record does not start from the genesis hash');
        }
      } else {
        if (seq !== undefined && previous.seq !== undefined) {
          if (seq === previous.seq) report('duplicate_seq', index, seq, `seq ${seq} appears more than once`);
          else if (seq < previous.seq) report('out_of_order', index, seq, `seq ${seq} follows seq ${previous.seq}`);
          else if (seq > previous.seq + 1) report('gap', index, seq, `records ${previous.seq + 1}..${seq - 1} are missing`);
          else if (prevHash !== previous.hash) report('prev_hash_mismatch', index, seq, `prev_hash is not the hash of record ${previous.seq}: it was modified, or this record was inserted`);
        } else if (prevHash !== previous.hash) {
          report('prev_hash_mismatch', index, seq, 'prev_hash is not the hash of the preceding record');
        }
        // A lane has one writer, which keeps its times in order (a pre-lane chain had many, with their own clocks).
        if (lane !== undefined && time !== undefined && previous.time !== undefined && time < previous.time) report('time_order', index, seq, 'time is earlier than the preceding record\'s');
      }

      if (seq !== undefined) {
        lastSeq = Math.max(lastSeq, seq);
        if (options.head !== undefined && seq === options.head.seq) anchorHash ??= hash;
        if (options.signed !== undefined && seq === options.signed.seq) signedHash ??= hash;
      }
      previous = { seq, hash, time };
    },
    finish() {
      const head = options.head;
      if (head !== undefined && head.seq > 0) {
        if (anchorHash === undefined) report('head_missing', -1, head.seq, `record ${head.seq}, known as written, is missing`);
        else if (anchorHash !== head.hash) report('head_mismatch', -1, head.seq, `record ${head.seq} differs from the known head`);
      }
      const signed = options.signed;
      if (signed !== undefined && signed.seq > 0) {
        if (signedHash === undefined) {
          if (lastSeq < signed.seq) report('truncated', -1, signed.seq, `the lane ends at seq ${lastSeq}, but seq ${signed.seq} was signed at ${signed.signedAt}: records ${lastSeq + 1}..${signed.seq} were deleted`);
          else report('signed_head_missing', -1, signed.seq, `record ${signed.seq}, signed at ${signed.signedAt}, is missing`);
        } else if (signedHash !== signed.hash) {
          report('signed_head_mismatch', -1, signed.seq, `record ${signed.seq} differs from the head signed at ${signed.signedAt}`);
        }
      }
      return [...problems];
    },
  };
}

/** Verifies one chain's records, in stored order; returns the problems (empty when the chain is intact). */
export function verifyChain(records: readonly StoredRecordLike[], options: VerifyChainOptions = {}): readonly ChainProblem[] {
  const verifier = createChainVerifier(options);
  for (const record of records) verifier.push(record);
  return verifier.finish();
}

/** One lane of a caller in a verification report. */
export interface LaneReport {
  /** The lane id; `''` for a pre-lane chain (PartitionKey = caller id). */
  readonly lane: string;
  readonly records: number;
  readonly lastSeq: number;
  /** The head hint used as anchor, if any. */
  readonly anchor: ChainAnchor | undefined;
  /** The latest signed head of the lane, if any (requirement 61). */
  readonly signed?: ChainAnchor;
  readonly registered: boolean;
}

export interface CallerReport {
  readonly caller: string;
  readonly lanes: readonly LaneReport[];
  readonly records: number;
  readonly problems: readonly ChainProblem[];
}

/** Verifies all lanes of one caller: push registry rows and records in any order, then `finish`. */
export interface CallerVerifier {
  /** A lane registry row (PartitionKey = caller, RowKey `lane~<lane id>`). */
  register(row: StoredRecordLike): void;
  /** A record of one of the caller's lanes (or of its pre-lane chain); records of one lane in RowKey order. */
  push(record: StoredRecordLike): void;
  finish(): CallerReport;
}

export interface CallerVerifierOptions {
  /** Head hints by records PartitionKey (`<caller>~<lane>`, or the caller id for a pre-lane chain). */
  readonly hints?: ReadonlyMap<string, ChainAnchor>;
  /** The latest signed head per records PartitionKey (requirement 61), with the hash of the lane's record 1. */
  readonly signed?: ReadonlyMap<string, SignedChainAnchor & { readonly firstHash?: string }>;
}

interface Registration {
  readonly lane: string;
  readonly writer: string;
  readonly windowStart: number;
  readonly prevLane: string;
  readonly prevSeq: number;
  readonly prevHash: string;
  readonly firstHash: string;
}

/** Reads a registry row; returns the reasons it is malformed instead when it is. */
function parseRegistration(caller: string, row: Readonly<Record<string, unknown>>): Registration | string {
  const lane = row['lane'];
  if (typeof lane !== 'string') return 'lane is missing';
  const parsed = parseLaneId(lane);
  if (parsed === undefined) return 'lane is not a lane id';
  if (row['rowKey'] !== undefined && row['rowKey'] !== `${REGISTRY_ROW_PREFIX}${lane}`) return 'RowKey differs from the lane';
  if (row['partitionKey'] !== undefined && row['partitionKey'] !== caller) return 'PartitionKey differs from the caller';
  if (row['caller_id'] !== caller) return 'caller_id differs from the caller';
  if (row['writer'] !== parsed.writer) return 'writer differs from the lane id';
  if (row['window_start'] !== new Date(parsed.windowStart).toISOString() || row['window_end'] !== new Date(parsed.windowStart + LANE_WINDOW_MS).toISOString()) {
    return 'window differs from the lane id';
  }
  const prevLane = row['prev_lane'];
  const prevSeq = row['prev_seq'];
  const prevHash = row['prev_hash'];
  const firstHash = row['first_hash'];
  if (typeof prevLane !== 'string' || typeof prevSeq !== 'number' || !Number.isSafeInteger(prevSeq) || prevSeq < 0) return 'prev_lane or prev_seq is malformed';
  if (typeof prevHash !== 'string' || !HEX_HASH.test(prevHash) || typeof firstHash !== 'string' || !HEX_HASH.test(firstHash)) return 'prev_hash or first_hash is malformed';
  if (prevLane === '' ? prevSeq !== 0 || prevHash !== GENESIS_HASH : prevSeq < 1) return 'prev_seq or prev_hash does not fit prev_lane';
  return { lane, writer: parsed.writer, windowStart: parsed.windowStart, prevLane, prevSeq, prevHash, firstHash };
}

/** Creates the verifier of one caller's lanes; `verifyCaller` is the one-shot form. */
export function createCallerVerifier(caller: string, options: CallerVerifierOptions = {}): CallerVerifier {
  const rows: Readonly<Record<string, unknown>>[] = [];
  const chains = new Map<string, { partition: string; verifier: ChainVerifier }>();

  return {
    register(row) {
      rows.push(row as Readonly<Record<string, unknown>>);
    },
    push(stored) {
      const record = stored as Readonly<Record<string, unknown>>;
      // The lane of the partition the record is stored in (its `lane` field when read without keys).
      const partitionKey = record['partitionKey'];
      const lane = typeof partitionKey === 'string'
        ? (parseLanePartition(partitionKey).lane ?? '')
        : typeof record['lane'] === 'string' ? record['lane'] : '';
      let chain = chains.get(lane);
      if (chain === undefined) {
        const partition = lane === '' ? caller : lanePartition(caller, lane);
        // Record 1's link is checked against the registry in `finish` (a pre-lane chain starts at genesis).
        const signed = options.signed?.get(partition);
        const verifier = createChainVerifier({
          partition: caller, lane: lane === '' ? undefined : lane, start: lane === '' ? GENESIS_HASH : null, head: options.hints?.get(partition),
          ...(signed === undefined ? {} : { signed }),
        });
        chain = { partition, verifier };
        chains.set(lane, chain);
      }
      chain.verifier.push(record);
    },
    finish() {
      const problems: ChainProblem[] = [];
      const laneProblem = (lane: string, kind: ChainProblemKind, seq: number | undefined, detail: string): void => {
        problems.push({ kind, index: -1, seq, detail, lane });
      };

      // The registry: one valid row per lane.
      const registry = new Map<string, Registration>();
      for (const row of rows) {
        const parsed = parseRegistration(caller, row);
        const lane = typeof row['lane'] === 'string' ? row['lane'] : (typeof row['rowKey'] === 'string' ? row['rowKey'] : '');
        if (typeof parsed === 'string') laneProblem(lane, 'registry_invalid', undefined, parsed);
        else if (registry.has(parsed.lane)) laneProblem(lane, 'registry_invalid', undefined, 'the lane is registered twice');
        else registry.set(parsed.lane, parsed);
      }

      // Who closed which lane: the successor's row names its predecessor's last record.
      const closedBy = new Map<string, Registration>();
      const firstLanes = new Map<string, string>();
      for (const reg of registry.values()) {
        if (reg.prevLane === '') {
          const other = firstLanes.get(reg.writer);
          if (other !== undefined) laneProblem(reg.lane, 'lane_forked', undefined, `writer's first lane is also ${other}`);
          else firstLanes.set(reg.writer, reg.lane);
          continue;
        }
        const other = closedBy.get(reg.prevLane);
        if (other !== undefined) laneProblem(reg.lane, 'lane_forked', undefined, `lane ${reg.prevLane} is also continued by ${other.lane}`);
        else closedBy.set(reg.prevLane, reg);
        const prev = parseLaneId(reg.prevLane);
        if (prev === undefined || prev.writer !== reg.writer || prev.windowStart >= reg.windowStart) {
          laneProblem(reg.lane, 'lane_mismatch', undefined, 'prev_lane is not an earlier lane of the same writer');
        } else if (!registry.has(reg.prevLane) && !chains.has(reg.prevLane)) {
          laneProblem(reg.prevLane, 'lane_missing', reg.prevSeq, `lane ${reg.prevLane} (closed at seq ${reg.prevSeq} by lane ${reg.lane}) has no records and no registry row: it was deleted`);
        }
      }

      const lanes: LaneReport[] = [];
      let records = 0;
      for (const [lane, { partition, verifier }] of chains) {
        const reg = registry.get(lane);
        for (const p of verifier.finish()) problems.push({ ...p, lane });
        records += verifier.count;
        const signed = options.signed?.get(partition);
        lanes.push({ lane, records: verifier.count, lastSeq: verifier.lastSeq, anchor: options.hints?.get(partition), ...(signed === undefined ? {} : { signed: { seq: signed.seq, hash: signed.hash } }), registered: reg !== undefined });
        if (reg !== undefined && signed?.firstHash !== undefined && signed.firstHash !== reg.firstHash) {
          laneProblem(lane, 'lane_mismatch', 1, 'the registry names another first record than the signed head');
        }
        if (lane === '') continue;
        if (reg === undefined) {
          laneProblem(lane, 'lane_unregistered', undefined, 'the lane has records but no registry row: the row was deleted, or its writer stopped before registering it');
        } else if (verifier.first !== undefined) {
          if (verifier.first.hash !== reg.firstHash) laneProblem(lane, 'lane_mismatch', 1, 'record 1 differs from the first record named in the registry');
          if (verifier.first.prevHash !== reg.prevHash) laneProblem(lane, 'prev_hash_mismatch', 1, 'record 1 does not link to the last record of the writer\'s previous lane');
        }
        // A closed lane ends exactly at the record its successor names.
        const successor = closedBy.get(lane);
        const last = verifier.last;
        if (successor !== undefined && last !== undefined) {
          if (verifier.lastSeq > successor.prevSeq) laneProblem(lane, 'lane_extended', verifier.lastSeq, `records after seq ${successor.prevSeq}, where lane ${successor.lane} closed this lane`);
          else if (verifier.lastSeq < successor.prevSeq) laneProblem(lane, 'head_missing', successor.prevSeq, `records ${verifier.lastSeq + 1}..${successor.prevSeq}, known from lane ${successor.lane}, are missing`);
          else if (last.hash !== successor.prevHash) laneProblem(lane, 'head_mismatch', last.seq, `record ${last.seq} differs from the last record named by lane ${successor.lane}`);
        }
      }
      for (const reg of registry.values()) {
        if (chains.has(reg.lane)) continue;
        const signed = options.signed?.get(lanePartition(caller, reg.lane));
        laneProblem(reg.lane, 'lane_missing', undefined, `lane ${reg.lane} is registered but has no records: the lane was deleted`);
        if (signed !== undefined) laneProblem(reg.lane, 'truncated', signed.seq, `the lane has no records, but seq ${signed.seq} was signed at ${signed.signedAt}: records 1..${signed.seq} were deleted`);
        lanes.push({ lane: reg.lane, records: 0, lastSeq: 0, anchor: options.hints?.get(lanePartition(caller, reg.lane)), ...(signed === undefined ? {} : { signed: { seq: signed.seq, hash: signed.hash } }), registered: true });
      }
      // A signed lane with neither records nor a registry row: the lane and its row were deleted.
      for (const [partition, signed] of options.signed ?? []) {
        const lane = partition === caller ? '' : partition.slice(caller.length + 1);
        if (chains.has(lane) || registry.has(lane)) continue;
        laneProblem(lane, 'truncated', signed.seq, `lane ${lane === '' ? '(pre-lane chain)' : lane} has no records and no registry row, but seq ${signed.seq} was signed at ${signed.signedAt}: the whole lane was deleted`);
        if (!lanes.some((l) => l.lane === lane)) lanes.push({ lane, records: 0, lastSeq: 0, anchor: options.hints?.get(partition), signed: { seq: signed.seq, hash: signed.hash }, registered: false });
      }
      // A head hint of a lane that has neither records nor a registry row: the lane and its row were deleted.
      for (const [partition, anchor] of options.hints ?? []) {
        const lane = partition === caller ? '' : partition.slice(caller.length + 1);
        if (!chains.has(lane) && !registry.has(lane) && !(lane !== '' && problems.some((p) => p.kind === 'lane_missing' && p.lane === lane))) {
          laneProblem(lane, 'lane_missing', anchor.seq, `record ${anchor.seq} of lane ${lane === '' ? '(pre-lane chain)' : lane}, known from its head hint, is missing with the whole lane`);
          lanes.push({ lane, records: 0, lastSeq: 0, anchor, registered: false });
        }
      }
      lanes.sort((a, b) => (a.lane < b.lane ? -1 : a.lane > b.lane ? 1 : 0));
      return { caller, lanes, records, problems };
    },
  };
}

export interface VerifyCallerInput {
  readonly caller: string;
  readonly signed?: CallerVerifierOptions['signed'];
  /** The caller's lane registry rows. */
  readonly registry: readonly StoredRecordLike[];
  /** The caller's records, each lane's in RowKey order. */
  readonly records: readonly StoredRecordLike[];
  readonly hints?: ReadonlyMap<string, ChainAnchor>;
}

/** Verifies all lanes of one caller against its lane registry (the one-shot form of `createCallerVerifier`). */
export function verifyCaller(input: VerifyCallerInput): CallerReport {
  const verifier = createCallerVerifier(input.caller, { hints: input.hints, ...(input.signed === undefined ? {} : { signed: input.signed }) });
  for (const row of input.registry) verifier.register(row);
  for (const record of input.records) verifier.push(record);
  return verifier.finish();
}
