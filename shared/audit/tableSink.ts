import { setTimeout as delay } from 'node:timers/promises';
import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../log/logger.js';
import type { StorageClients } from '../runtime/storage.js';
import { GENESIS_HASH, MAX_RECORD_ROW_KEY, recordHash, rowKeyOf } from './canonical.js';
import type { AuditRecord, AuditRecordBody } from './record.js';
import { AuditSinkError, type AuditSink } from './sink.js';

/**
 * The authoritative audit sink (azure.md §5, architecture.md §4): Table Storage table `audit`,
 * PartitionKey = caller id, RowKey = zero-padded `seq`, one hash chain per caller (requirement 60).
 *
 * Appends are correct with any number of writers in any number of instances: the insert-if-absent
 * of `createEntity` (409 when the RowKey exists) is the only guard. Within an instance, appends to
 * one partition run one after another (a promise chain per partition) and the head is cached, so the
 * steady state costs one insert per record. On 409 the writer re-reads the head from its cached seq
 * forward and retries with jitter, bounded in attempts and time. A head hint per partition in
 * `auditheads` (every `headHintEvery` records) lets a new instance find the head with one point read
 * and one short range query instead of a partition scan; the verifier also uses it as an anchor.
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

/** The last record of a chain: its seq and its hash (`seq` 0 and `GENESIS_HASH` for an empty chain). */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS_HASH };

export interface TableAuditSinkOptions {
  readonly storage: Pick<StorageClients, 'table'>;
  readonly logger: Logger;
  readonly tableName?: string;
  /** Table of head hints; shared by sinks, keyed by (caller id, records table name). */
  readonly headsTableName?: string;
  /** Time one append may take, retries included (the wrapper awaits it before answering). */
  readonly writeBudgetMs?: number;
  /** Insert attempts per append under contention. */
  readonly maxAttempts?: number;
  /** Write the head hint after every `headHintEvery`-th record of a partition. */
  readonly headHintEvery?: number;
  /** Partitions whose head this instance remembers. */
  readonly headCacheSize?: number;
  /** Queued records of one partition written in one atomic transaction (1 disables batching). */
  readonly maxBatch?: number;
  /** Source of jitter, `[0, 1)`. */
  readonly random?: () => number;
}

interface Pending {
  readonly body: AuditRecordBody;
  readonly enqueuedAt: number;
  resolve(record: AuditRecord): void;
  reject(error: unknown): void;
}

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

/** Creates the Table Storage sink. Throws `AuditSinkError` from `append` when the record is not durable. */
export function createTableAuditSink(options: TableAuditSinkOptions): AuditSink {
  const tableName = options.tableName ?? AUDIT_TABLE;
  const headsName = options.headsTableName ?? AUDIT_HEADS_TABLE;
  const records: TableClient = options.storage.table(tableName);
  const heads: TableClient = options.storage.table(headsName);
  const budgetMs = options.writeBudgetMs ?? DEFAULT_WRITE_BUDGET_MS;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const hintEvery = Math.max(1, options.headHintEvery ?? DEFAULT_HEAD_HINT_EVERY);
  const random = options.random ?? Math.random;
  const maxBatch = Math.min(100, Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH));
  const log = options.logger.child({ service: 'audit', name: `table:${tableName}` });
  const cachedHeads = new LRUCache<string, ChainHead>({ max: options.headCacheSize ?? DEFAULT_HEAD_CACHE_SIZE });
  // Per partition: records waiting for their turn, and whether a drain loop is running.
  const queues = new Map<string, Pending[]>();
  const draining = new Set<string>();
  let ready: Promise<void> | undefined;

  /** Creates both tables once per instance; a failure is forgotten so that a later append tries again. */
  function ensureTables(signal: AbortSignal): Promise<void> {
    if (ready === undefined) {
      const attempt = Promise.all([records.createTable({ abortSignal: signal }), heads.createTable({ abortSignal: signal })]).then(() => undefined);
      ready = attempt;
      attempt.catch(() => {
        if (ready === attempt) ready = undefined;
      });
    }
    return ready;
  }

  /**
   * The last record with seq ≥ `fromSeq`, by a range query over the partition; `landed` is where
   * the record with event id `ours` was found, if it was (see the 409 case in `appendBatch`).
   */
  async function lastFrom(partition: string, fromSeq: number, signal: AbortSignal, ours?: string): Promise<(ChainHead & { landed?: ChainHead }) | undefined> {
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
    return { seq: seqOf(last), hash: recordHash(last), ...(landed === undefined ? {} : { landed }) };
  }

  async function readHint(partition: string, signal: AbortSignal): Promise<ChainHead | undefined> {
    try {
      const hint = await heads.getEntity<{ seq?: unknown }>(partition, tableName, { abortSignal: signal });
      return typeof hint.seq === 'number' && Number.isSafeInteger(hint.seq) && hint.seq > 0 ? { seq: hint.seq, hash: '' } : undefined;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Finds the head from a known lower bound (cached head or hint) forward; rescans if the bound is ahead of the table. */
  async function findHead(partition: string, known: ChainHead | undefined, signal: AbortSignal): Promise<ChainHead> {
    const lower = known ?? (await readHint(partition, signal));
    const found = await lastFrom(partition, lower?.seq ?? 0, signal);
    if (found !== undefined) return found;
    if (lower !== undefined && lower.seq > 0) return (await lastFrom(partition, 0, signal)) ?? EMPTY_HEAD;
    return EMPTY_HEAD;
  }

  async function writeHint(partition: string, head: ChainHead, signal: AbortSignal): Promise<void> {
    try {
      await heads.upsertEntity({ partitionKey: partition, rowKey: tableName, seq: head.seq, hash: head.hash }, 'Replace', { abortSignal: signal });
    } catch (error) {
      // Only a hint: the record is durable; a stale hint costs a longer range query later.
      log.warn('audit.head_hint_failed', { partition, seq: head.seq, errorName: error instanceof Error ? error.name : typeof error });
    }
  }

  /** Chains `bodies` after `head`: consecutive seqs, each `prev_hash` the hash of the record before. */
  function chainAfter(head: ChainHead, bodies: readonly AuditRecordBody[]): { records: AuditRecord[]; last: ChainHead } {
    const out: AuditRecord[] = [];
    let last = head;
    for (const body of bodies) {
      const record: AuditRecord = { ...body, seq: last.seq + 1, prev_hash: last.hash };
      out.push(record);
      last = { seq: record.seq, hash: recordHash(record) };
    }
    return { records: out, last };
  }

  async function insert(partition: string, batch: readonly AuditRecord[], signal: AbortSignal): Promise<void> {
    const entities = batch.map((record) => ({ partitionKey: partition, rowKey: rowKeyOf(record.seq), ...record }));
    if (entities.length === 1) {
      await records.createEntity(entities[0]!, { abortSignal: signal });
      return;
    }
    // An entity group transaction is atomic: a 409 on any RowKey writes none of the batch.
    await records.submitTransaction(entities.map((entity): TransactionAction => ['create', entity]), { abortSignal: signal });
  }

  /** Appends a batch of one partition's records after its head; retries on 409 from the new head. */
  async function appendBatch(partition: string, bodies: readonly AuditRecordBody[]): Promise<AuditRecord[]> {
    const started = Date.now();
    const signal = AbortSignal.timeout(budgetMs);
    try {
      await ensureTables(signal);
      let head = cachedHeads.get(partition) ?? (await findHead(partition, undefined, signal));
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        const { records: batch, last } = chainAfter(head, bodies);
        try {
          await insert(partition, batch, signal);
        } catch (error) {
          const status = statusOf(error);
          if (status === 409) {
            // Another writer took one of these seqs — or the SDK retried a write of ours that had landed
            // (its first response lost): then our first record is there, and being atomic, the whole batch.
            const after = await lastFrom(partition, head.seq, signal, bodies[0]?.event_id);
            if (after?.landed !== undefined) {
              cachedHeads.set(partition, { seq: after.seq, hash: after.hash });
              return chainAfter(after.landed, bodies).records;
            }
            // Lost the race: continue from the new head, after a jittered pause from the second loss on.
            if (attempt > 1) await delay(Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt)), undefined, { signal });
            head = after ?? (await findHead(partition, undefined, signal));
            continue;
          }
          if (status === 404) {
            // The table vanished (re-created storage, emulator restart): create it again and retry.
            ready = undefined;
            await ensureTables(signal);
            head = await findHead(partition, undefined, signal);
            continue;
          }
          throw error;
        }
        cachedHeads.set(partition, last);
        if (Math.floor(last.seq / hintEvery) > Math.floor(head.seq / hintEvery)) await writeHint(partition, last, signal);
        if (attempt > 1) log.debug('audit.append_contended', { partition, seq: last.seq, attempt, count: batch.length, elapsedMs: Date.now() - started });
        return batch;
      }
      throw new AuditSinkError('Too much contention on the audit chain', 'contention');
    } catch (error) {
      // The write may or may not have landed: forget the head so the next append reads it again.
      cachedHeads.delete(partition);
      const elapsedMs = Date.now() - started;
      log.warn('audit.append_failed', { partition, elapsedMs, count: bodies.length, errorName: error instanceof Error ? error.name : typeof error, status: statusOf(error) });
      if (error instanceof AuditSinkError) throw error;
      if (isAbort(error) || signal.aborted) throw new AuditSinkError('The audit store did not answer in time', 'timeout', error);
      throw new AuditSinkError('The audit store is unavailable', 'unavailable', error);
    }
  }

  /** Writes a partition's queued records, up to `maxBatch` per round trip, until its queue is empty. */
  async function drain(partition: string): Promise<void> {
    try {
      for (;;) {
        const queue = queues.get(partition);
        if (queue === undefined || queue.length === 0) {
          queues.delete(partition);
          return;
        }
        // A record that waited longer than the write budget is refused unwritten: its request has waited enough.
        const now = Date.now();
        for (const late of queue.filter((p) => now - p.enqueuedAt > budgetMs)) late.reject(new AuditSinkError('The audit record waited too long to be written', 'timeout'));
        const fresh = queue.filter((p) => now - p.enqueuedAt <= budgetMs);
        queue.length = 0;
        const batch = fresh.splice(0, maxBatch);
        queue.push(...fresh);
        if (batch.length === 0) continue;
        try {
          const written = await appendBatch(partition, batch.map((p) => p.body));
          batch.forEach((p, i) => p.resolve(written[i]!));
        } catch (error) {
          // Fail fast: what waits behind a failed batch would meet the same store; refuse it now.
          for (const p of [...batch, ...queue.splice(0)]) p.reject(error);
        }
      }
    } finally {
      draining.delete(partition);
    }
  }

  return {
    name: `table:${tableName}`,
    append(body) {
      const partition = body.caller_id;
      return new Promise<AuditRecord>((resolve, reject) => {
        let queue = queues.get(partition);
        if (queue === undefined) {
          queue = [];
          queues.set(partition, queue);
        }
        queue.push({ body, enqueuedAt: Date.now(), resolve, reject });
        if (!draining.has(partition)) {
          draining.add(partition);
          void drain(partition);
        }
      });
    },
  };
}
