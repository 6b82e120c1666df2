import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log/logger.js';
import { sleep } from '../resilience/sleep.js';
import type { StorageClients } from '../storage/storage.js';
import { BROKER_VERSION } from '../config/version.js';
import { GENESIS_HASH, MAX_RECORD_ROW_KEY, recordHash, rowKeyOf } from './canonical.js';
import {
  LANE_WINDOW_MS, laneIdOf, laneIndexPartition, lanePartition, newWriterId, isWriterId, registryFilter, registryRowKey, windowKeyOf, windowStartOf, type LaneRegistration,
} from './lanes.js';
import type { AuditRecord, AuditRecordBody } from './record.js';
import { AuditSinkError, type AuditSink } from './sink.js';

/**
 * The authoritative audit sink (docs/audit.md; docs/architecture.md §4 and §6): Table Storage table
 * `audit`, one hash chain per *lane* (requirement 60). A sink is one writer: it appends each caller's
 * records to its own lane for the current hour, PartitionKey `<caller id>~<hour>-<writer id>`, RowKey
 * the zero-padded `seq`. No other writer ever appends to that partition, so instances never race for
 * a chain head: the steady state costs one insert (or one entity group transaction of up to
 * `maxBatch` queued records) per round trip and no reads.
 *
 * - Within the sink, one caller's records are written one batch at a time, in order (a queue per caller).
 * - A record's `time` is never earlier than its lane predecessor's (a clock step back is clamped), and
 *   always inside its lane's hour, so a lane is ordered by time as well as by seq.
 * - When the hour changes, the writer's next lane starts from the last record of its previous lane (the
 *   first record's `prev_hash`), and its registry row names that record: the previous lane is closed.
 * - A lane is registered (one row, RowKey `lane~<lane id>`, PartitionKey the caller id) once its first
 *   records are durable and before they are acknowledged; if that write fails the append fails (the
 *   records are refused, fail-closed) and the registration is retried before the lane's next write.
 * - `createEntity`/`submitTransaction` insert only if absent (409 when the RowKey exists): with one
 *   writer a 409 only means that our own write landed while its answer was lost, which is checked by
 *   event id; anything else (a foreign write into our lane) is logged and the chain continues from the
 *   stored head — the guard stays as a safety net.
 * - A head hint per lane in `auditheads` (every `headHintEvery` records) anchors the open lane's tail
 *   for the verifier and bounds the range query that re-reads a head after an ambiguous failure.
 * - Registering a lane also writes its row in the lane index (`auditheads`, PartitionKey
 *   `~index~<table>~<hour>`), from which the head signer (`headSigner.ts`) finds the lanes to sign.
 */

export const AUDIT_TABLE = 'audit';
export const AUDIT_HEADS_TABLE = 'auditheads';
export const DEFAULT_WRITE_BUDGET_MS = 5_000;
export const DEFAULT_MAX_ATTEMPTS = 25;
export const DEFAULT_HEAD_HINT_EVERY = 16;
export const DEFAULT_HEAD_CACHE_SIZE = 10_000;
/** Records per entity group transaction (Table Storage allows 100 operations and 4 MiB). */
export const DEFAULT_MAX_BATCH = 50;
const BACKOFF_BASE_MS = 4;
const BACKOFF_CAP_MS = 100;

/** The last record of a chain: its seq and its hash (`seq` 0 for an empty lane, with the hash its record 1 links to). */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export interface TableAuditSinkOptions {
  readonly storage: Pick<StorageClients, 'table' | 'tableInserter'>;
  readonly logger: Logger;
  readonly tableName?: string;
  /** Table of head hints; shared by sinks, keyed by (lane partition, records table name). */
  readonly headsTableName?: string;
  /** This writer's id; default a fresh one from `instanceId` and the start time (see `lanes.ts`). */
  readonly writerId?: string;
  /** The instance, for the writer id and the registry rows (default `local`). */
  readonly instanceId?: string;
  /** Broker version written to registry rows. */
  readonly version?: string;
  /** Time one append may take, retries included (the wrapper awaits it before answering). */
  readonly writeBudgetMs?: number;
  /** Insert attempts per append. */
  readonly maxAttempts?: number;
  /** Write the head hint after every `headHintEvery`-th record of a lane. */
  readonly headHintEvery?: number;
  /** Callers whose lane state this writer keeps in memory (an evicted one is read back from the registry). */
  readonly headCacheSize?: number;
  /** Queued records of one caller written in one atomic transaction (1 disables batching). */
  readonly maxBatch?: number;
  /** Source of jitter, `[0, 1)`. */
  readonly random?: () => number;
  /** Clock for the writer's start time. */
  readonly clock?: () => number;
}

/** The Table sink: an `AuditSink` that names its writer. */
export interface TableAuditSink extends AuditSink {
  /** This sink's writer id: every lane it writes is `<hour>-<writer>`. */
  readonly writer: string;
}

interface Pending {
  readonly body: AuditRecordBody;
  readonly enqueuedAt: number;
  resolve(record: AuditRecord): void;
  reject(error: unknown): void;
}

/** What the writer knows of its current lane for one caller. */
interface LaneState {
  readonly lane: string;
  readonly partition: string;
  readonly windowStart: number;
  /** The link of record 1: the writer's previous lane for this caller, closed at its last record. */
  readonly prev: { readonly lane: string; readonly seq: number; readonly hash: string };
  /** `undefined` after an ambiguous failure: re-read from storage before the next write. */
  head: ChainHead | undefined;
  /** Time (ms) of the lane's last record; records are clamped to at least this. */
  lastTime: number;
  registered: boolean;
  first: { readonly hash: string; readonly time: string } | undefined;
}

/** Process-wide: (account, table, writer) triples in use, so two sinks can never share a lane. */
const claimedWriters = new Set<string>();

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

/** The seq of a stored entity: its `seq` property, else its RowKey. */
function seqOf(entity: Readonly<Record<string, unknown>>): number {
  const seq = entity['seq'];
  if (typeof seq === 'number' && Number.isSafeInteger(seq)) return seq;
  const rowKey = entity['rowKey'];
  return typeof rowKey === 'string' && /^\d+$/.test(rowKey) ? Number(rowKey) : 0;
}

function timeOf(entity: Readonly<Record<string, unknown>>): number {
  const time = entity['time'];
  const ms = typeof time === 'string' ? Date.parse(time) : Number.NaN;
  return Number.isNaN(ms) ? 0 : ms;
}

/** Creates the Table Storage sink. Throws `AuditSinkError` from `append` when the record is not durable. */
export function createTableAuditSink(options: TableAuditSinkOptions): TableAuditSink {
  const tableName = options.tableName ?? AUDIT_TABLE;
  const headsName = options.headsTableName ?? AUDIT_HEADS_TABLE;
  const records: TableClient = options.storage.table(tableName);
  const heads: TableClient = options.storage.table(headsName);
  // Records go through the lean inserts (the request every audited call waits for); reads, the registry
  // and the head hints through the SDK client.
  const inserter = options.storage.tableInserter(tableName);
  const budgetMs = options.writeBudgetMs ?? DEFAULT_WRITE_BUDGET_MS;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const hintEvery = Math.max(1, options.headHintEvery ?? DEFAULT_HEAD_HINT_EVERY);
  const random = options.random ?? Math.random;
  const maxBatch = Math.min(100, Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH));
  const instanceId = options.instanceId ?? 'local';
  const startedAt = (options.clock ?? Date.now)();
  const writer = options.writerId ?? newWriterId(instanceId, startedAt);
  if (!isWriterId(writer)) throw new Error('createTableAuditSink: malformed writer id');
  const claim = `${records.url}|${tableName}|${writer}`;
  // One writer per lane: a second sink on the same table with the same writer id is refused.
  if (claimedWriters.has(claim)) throw new Error('createTableAuditSink: this writer id is already in use for this table');
  claimedWriters.add(claim);
  const version = options.version ?? BROKER_VERSION;
  const log = options.logger.child({ service: 'audit', name: `table:${tableName}` });

  // Per caller: the current lane. An evicted state is read back from the registry, except that a lane
  // whose registration is still owed is kept aside until it is registered.
  const owed = new Map<string, LaneState>();
  const lanes = new LRUCache<string, LaneState>({
    max: options.headCacheSize ?? DEFAULT_HEAD_CACHE_SIZE,
    dispose: (state, caller, reason) => {
      if (reason === 'evict' && !state.registered) owed.set(caller, state);
    },
  });
  /** Callers this writer has written lanes for (a state missing from memory must then be recovered). */
  const known = new Set<string>();
  // Per caller: records waiting for their turn, and whether a drain loop is running.
  const queues = new Map<string, Pending[]>();
  const draining = new Set<string>();
  let ready: Promise<void> | undefined;

  /** Creates both tables once per instance; a failure is forgotten so that a later append tries again. */
  function ensureTables(signal: AbortSignal): Promise<void> {
    if (ready === undefined) {
      const attempt = Promise.all([records.createTable({ abortSignal: signal }), heads.createTable({ abortSignal: signal })]).then(() => undefined);
      ready = attempt;
      attempt.catch(() => {
        // Only clears the memo so the next call retries; the caller awaiting `ready` sees the failure.
        if (ready === attempt) ready = undefined;
      });
    }
    return ready;
  }

  /**
   * The last record of `partition` with seq ≥ `fromSeq`, by a range query; `landed` is where the record
   * with event id `ours` was found, if it was (see the 409 case in `write`).
   */
  async function lastFrom(partition: string, fromSeq: number, signal: AbortSignal, ours?: string): Promise<(ChainHead & { time: number; landed?: ChainHead }) | undefined> {
    const filter = odata`PartitionKey eq ${partition} and RowKey ge ${rowKeyOf(fromSeq)} and RowKey le ${MAX_RECORD_ROW_KEY}`;
    let last: Record<string, unknown> | undefined;
    let landed: ChainHead | undefined;
    for await (const entity of records.listEntities<Record<string, unknown>>({ queryOptions: { filter }, abortSignal: signal })) {
      last = entity;
      if (ours !== undefined && entity['event_id'] === ours && typeof entity['prev_hash'] === 'string') {
        landed = { seq: seqOf(entity) - 1, hash: entity['prev_hash'] };
      }
    }
    if (last === undefined) return undefined;
    return { seq: seqOf(last), hash: recordHash(last), time: timeOf(last), ...(landed === undefined ? {} : { landed }) };
  }

  async function readHint(partition: string, signal: AbortSignal): Promise<number> {
    try {
      const hint = await heads.getEntity<{ seq?: unknown }>(partition, tableName, { abortSignal: signal });
      return typeof hint.seq === 'number' && Number.isSafeInteger(hint.seq) && hint.seq > 0 ? hint.seq : 0;
    } catch (error) {
      if (statusOf(error) === 404) return 0;
      throw error;
    }
  }

  /** Reads the lane's head from storage, from a known lower bound (or the hint) forward. */
  async function refreshHead(state: LaneState, lowerSeq: number | undefined, signal: AbortSignal): Promise<ChainHead> {
    const lower = lowerSeq ?? (await readHint(state.partition, signal));
    const found = (await lastFrom(state.partition, lower, signal)) ?? (lower > 0 ? await lastFrom(state.partition, 0, signal) : undefined);
    const head = found === undefined ? { seq: 0, hash: state.prev.hash } : { seq: found.seq, hash: found.hash };
    if (found !== undefined) state.lastTime = Math.max(state.lastTime, found.time);
    state.head = head;
    return head;
  }

  async function writeHint(partition: string, head: ChainHead, signal: AbortSignal): Promise<void> {
    try {
      await heads.upsertEntity({ partitionKey: partition, rowKey: tableName, seq: head.seq, hash: head.hash }, 'Replace', { abortSignal: signal });
    } catch (error) {
      // Only a hint: the record is durable; a stale hint costs a longer range query later.
      log.warn('audit.head_hint_failed', { partition, seq: head.seq, errorName: error instanceof Error ? error.name : typeof error });
    }
  }

  function newLane(caller: string, windowStart: number, prev: LaneState['prev'], lastTime: number): LaneState {
    const lane = laneIdOf(windowStart, writer);
    return { lane, partition: lanePartition(caller, lane), windowStart, prev, head: { seq: 0, hash: prev.hash }, lastTime, registered: false, first: undefined };
  }

  /** This writer's latest registered lane of `caller`, read back from the registry (after eviction from memory). */
  async function recover(caller: string, signal: AbortSignal): Promise<LaneState | undefined> {
    let latest: Record<string, unknown> | undefined;
    const filter = `${registryFilter(caller)} and ${odata`writer eq ${writer}`}`;
    for await (const row of records.listEntities<Record<string, unknown>>({ queryOptions: { filter }, abortSignal: signal })) {
      if (typeof row['lane'] === 'string' && (latest === undefined || row['lane'] > String(latest['lane']))) latest = row;
    }
    if (latest === undefined) return undefined;
    const lane = String(latest['lane']);
    const state: LaneState = {
      lane,
      partition: lanePartition(caller, lane),
      windowStart: Date.parse(String(latest['window_start'])),
      prev: { lane: String(latest['prev_lane']), seq: Number(latest['prev_seq']), hash: String(latest['prev_hash']) },
      head: undefined,
      lastTime: Date.parse(String(latest['first_time'])) || 0,
      registered: true,
      first: { hash: String(latest['first_hash']), time: String(latest['first_time']) },
    };
    await refreshHead(state, undefined, signal);
    return state;
  }

  /** Writes the lane's registry row (once its first records are durable). */
  async function register(caller: string, state: LaneState, signal: AbortSignal): Promise<void> {
    if (state.first === undefined) {
      // The first write's answer was lost: read record 1 back.
      const first = await records.getEntity<Record<string, unknown>>(state.partition, rowKeyOf(1), { abortSignal: signal });
      state.first = { hash: recordHash(first), time: String(first['time']) };
    }
    const row: LaneRegistration = {
      caller_id: caller,
      lane: state.lane,
      writer,
      instance_id: instanceId,
      broker_version: version,
      window_start: new Date(state.windowStart).toISOString(),
      window_end: new Date(state.windowStart + LANE_WINDOW_MS).toISOString(),
      writer_started: new Date(startedAt).toISOString(),
      prev_lane: state.prev.lane,
      prev_seq: state.prev.seq,
      prev_hash: state.prev.hash,
      first_hash: state.first.hash,
      first_time: state.first.time,
    };
    try {
      await records.createEntity({ partitionKey: caller, rowKey: registryRowKey(state.lane), ...row }, { abortSignal: signal });
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      // Our own earlier registration landed (its answer lost) — or someone wrote a row for our lane.
      const stored = await records.getEntity<Record<string, unknown>>(caller, registryRowKey(state.lane), { abortSignal: signal });
      if (stored['first_hash'] !== row.first_hash || stored['writer'] !== writer || stored['prev_hash'] !== row.prev_hash) {
        throw new AuditSinkError('The lane registry holds a different row for this lane', 'unavailable');
      }
    }
    // The lane index, so the head signer finds this lane; part of the registration (retried with it).
    await heads.upsertEntity({
      partitionKey: laneIndexPartition(tableName, windowKeyOf(state.windowStart)), rowKey: state.partition, caller_id: caller, lane: state.lane, first_hash: row.first_hash,
    }, 'Replace', { abortSignal: signal });
    state.registered = true;
    owed.delete(caller);
    lanes.set(caller, state);
  }

  /** The caller's current lane, from memory or the registry; undefined before the writer's first record for it. */
  async function currentLane(caller: string, signal: AbortSignal): Promise<LaneState | undefined> {
    const state = lanes.get(caller) ?? owed.get(caller);
    if (state !== undefined || !known.has(caller)) return state;
    const recovered = await recover(caller, signal);
    if (recovered !== undefined) lanes.set(caller, recovered);
    return recovered;
  }

  /** Chains `bodies` after `head` in `state`'s lane: consecutive seqs, each `prev_hash` the hash of the record before. */
  function chainAfter(state: LaneState, head: ChainHead, bodies: readonly AuditRecordBody[]): { records: AuditRecord[]; last: ChainHead } {
    const out: AuditRecord[] = [];
    let last = head;
    for (const body of bodies) {
      const record: AuditRecord = { ...body, lane: state.lane, seq: last.seq + 1, prev_hash: last.hash };
      out.push(record);
      last = { seq: record.seq, hash: recordHash(record) };
    }
    return { records: out, last };
  }

  async function insert(partition: string, batch: readonly AuditRecord[], signal: AbortSignal): Promise<void> {
    const entities = batch.map((record) => ({ partitionKey: partition, rowKey: rowKeyOf(record.seq), ...record }));
    if (inserter !== undefined) {
      // An entity group transaction is atomic: a 409 on any RowKey writes none of the batch.
      if (entities.length === 1) await inserter.insert(entities[0]!, signal);
      else await inserter.insertBatch(entities, signal);
      return;
    }
    if (entities.length === 1) await records.createEntity(entities[0]!, { abortSignal: signal });
    else await records.submitTransaction(entities.map((entity): TransactionAction => ['create', entity]), { abortSignal: signal });
  }

  /** Appends `bodies` (times already clamped, all in `state`'s hour) to the lane; insert-if-absent guarded. */
  async function write(caller: string, state: LaneState, bodies: readonly AuditRecordBody[], signal: AbortSignal): Promise<AuditRecord[]> {
    let head = state.head ?? (await refreshHead(state, undefined, signal));
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const { records: batch, last } = chainAfter(state, head, bodies);
      try {
        await insert(state.partition, batch, signal);
      } catch (error) {
        const status = statusOf(error);
        if (status === 409) {
          // The SDK retried a write of ours that had landed (its first response lost): then our first
          // record is there, and the batch being atomic, all of it.
          const after = await lastFrom(state.partition, head.seq, signal, bodies[0]?.event_id);
          if (after?.landed !== undefined) {
            const written = chainAfter(state, after.landed, bodies);
            state.head = written.last;
            return written.records;
          }
          // A foreign write into this writer's lane: never expected; continue from the stored head.
          log.warn('audit.lane_conflict', { partition: state.partition, seq: head.seq, attempt, count: batch.length });
          if (attempt > 1) await sleep(Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt)), signal);
          head = after === undefined ? await refreshHead(state, 0, signal) : { seq: after.seq, hash: after.hash };
          continue;
        }
        if (status === 404) {
          // The table vanished (re-created storage, emulator restart): create it again and retry.
          ready = undefined;
          await ensureTables(signal);
          head = await refreshHead(state, 0, signal);
          continue;
        }
        throw error;
      }
      state.head = last;
      if (Math.floor(last.seq / hintEvery) > Math.floor(head.seq / hintEvery)) await writeHint(state.partition, last, signal);
      return batch;
    }
    throw new AuditSinkError('The audit lane kept refusing the write', 'contention');
  }

  /**
   * Appends one batch of a caller's queued records: picks (or starts) the lane of the batch's hour,
   * writes the records and, for a new lane, its registry row. Returns how many of `pending` it took.
   */
  async function appendBatch(caller: string, pending: readonly Pending[]): Promise<number> {
    const started = Date.now();
    // A timer cleared when the batch is done: an `AbortSignal.timeout` would fire (and build its
    // TimeoutError) `budgetMs` after every append, long after the append finished.
    const budget = new AbortController();
    const timer = setTimeout(() => budget.abort(new DOMException('The audit write budget ran out', 'TimeoutError')), budgetMs);
    timer.unref?.();
    const signal = budget.signal;
    let state: LaneState | undefined;
    let taken = 0;
    try {
      await ensureTables(signal);
      state = await currentLane(caller, signal);
      // A lane whose registration is owed is registered before anything else is written for the caller.
      if (state !== undefined && !state.registered) {
        const head = state.head ?? (await refreshHead(state, undefined, signal));
        if (head.seq > 0) await register(caller, state, signal);
      }
      // Clamp times to the lane order and take the records of one hour.
      let time = state?.lastTime ?? Number.NEGATIVE_INFINITY;
      let windowStart: number | undefined;
      const bodies: AuditRecordBody[] = [];
      for (const p of pending) {
        if (bodies.length >= maxBatch) break;
        const own = Date.parse(p.body.time);
        const t = Math.max(Number.isNaN(own) ? Date.now() : own, time);
        const w = windowStartOf(t);
        if (windowStart !== undefined && w !== windowStart) break;
        windowStart = w;
        time = t;
        bodies.push(t === own ? p.body : { ...p.body, time: new Date(t).toISOString() });
      }
      taken = bodies.length;
      if (windowStart === undefined) return 0;

      if (state === undefined || state.windowStart !== windowStart) {
        // A new hour: the writer's previous lane (if it has records) is closed at its last record.
        let prev: LaneState['prev'] = { lane: '', seq: 0, hash: GENESIS_HASH };
        if (state !== undefined) {
          const head = state.head ?? (await refreshHead(state, undefined, signal));
          prev = head.seq > 0 ? { lane: state.lane, seq: head.seq, hash: head.hash } : state.prev;
        }
        state = newLane(caller, windowStart, prev, state?.lastTime ?? Number.NEGATIVE_INFINITY);
        lanes.set(caller, state);
        known.add(caller);
      }
      const lane = state;
      const written = await write(caller, lane, bodies, signal);
      lane.lastTime = Math.max(lane.lastTime, time);
      if (written[0]?.seq === 1) lane.first = { hash: recordHash(written[0]), time: written[0].time };
      if (!lane.registered) await register(caller, lane, signal);
      pending.slice(0, taken).forEach((p, i) => p.resolve(written[i]!));
      return taken;
    } catch (error) {
      // The write may or may not have landed: forget the head so the next append reads it again.
      if (state !== undefined) state.head = undefined;
      const elapsedMs = Date.now() - started;
      log.warn('audit.append_failed', { partition: state?.partition ?? caller, elapsedMs, count: taken, errorName: error instanceof Error ? error.name : typeof error, status: statusOf(error) });
      if (error instanceof AuditSinkError) throw error;
      if (isAbort(error) || signal.aborted) throw new AuditSinkError('The audit store did not answer in time', 'timeout', error);
      throw new AuditSinkError('The audit store is unavailable', 'unavailable', error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Writes a caller's queued records, up to `maxBatch` per round trip, until its queue is empty. */
  async function drain(caller: string): Promise<void> {
    try {
      for (;;) {
        const queue = queues.get(caller);
        if (queue === undefined || queue.length === 0) {
          queues.delete(caller);
          return;
        }
        // A record that waited longer than the write budget is refused unwritten: its request has waited enough.
        const now = Date.now();
        const late = queue.filter((p) => now - p.enqueuedAt > budgetMs);
        if (late.length > 0) {
          for (const p of late) p.reject(new AuditSinkError('The audit record waited too long to be written', 'timeout'));
          const fresh = queue.filter((p) => now - p.enqueuedAt <= budgetMs);
          queue.length = 0;
          queue.push(...fresh);
          if (fresh.length === 0) continue;
        }
        const batch = queue.slice(0, maxBatch);
        try {
          const taken = await appendBatch(caller, batch);
          queue.splice(0, taken);
        } catch (error) {
          // Fail fast: what waits behind a failed batch would meet the same store; refuse it now.
          for (const p of queue.splice(0)) p.reject(error);
        }
      }
    } finally {
      draining.delete(caller);
    }
  }

  return {
    name: `table:${tableName}`,
    writer,
    append(body) {
      const caller = body.caller_id;
      return new Promise<AuditRecord>((resolve, reject) => {
        let queue = queues.get(caller);
        if (queue === undefined) {
          queue = [];
          queues.set(caller, queue);
        }
        queue.push({ body, enqueuedAt: Date.now(), resolve, reject });
        if (!draining.has(caller)) {
          draining.add(caller);
          void drain(caller);
        }
      });
    },
  };
}
