import { createHash } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import { BrokerError } from '../errors/errors.js';
import { MAX_RECORD_ROW_KEY, recordFields } from './canonical.js';
import { lanePartition, parseLaneId, registryFilter, windowKeyOf } from './lanes.js';

/**
 * Reading the audit trail (docs/architecture.md §6 "queryable per caller"; docs/audit.md "Reading"):
 * the filters of an `AuditQuery` (validated by `querySchema.ts`), translated into Table Storage filters with
 * escaped values, and paged with an opaque continuation token bound to the filters it was issued for.
 *
 * With `caller`, records come in time order across the caller's lanes — ordered by (time, lane
 * partition, seq), a total order — merged hour by hour from the lanes the lane registry lists for that
 * hour; the continuation is the last record's key, so paging has no gaps or duplicates however lanes
 * are added meanwhile. Without `caller`, records come in storage order (by caller, then lane, each
 * lane oldest first) with the service's own continuation.
 */

export const MAX_AUDIT_PAGE = 200;
export const DEFAULT_AUDIT_PAGE = 50;
const MAX_PAGE_REQUESTS = 10;

export interface AuditQuery {
  readonly caller?: string;
  readonly ctx?: string;
  readonly operation?: string;
  /** Normalised `toISOString()` form. */
  readonly from?: string;
  readonly to?: string;
  readonly limit: number;
  readonly continuation?: string;
  /**
   * What the reader may see: records of these tenants (ctx), plus its own records (`self`, a caller
   * id); everything else is left out. Absent: no restriction.
   */
  readonly visible?: { readonly tenants: readonly string[]; readonly self: string };
}

export interface AuditPage {
  /**
   * Stored records without Table system fields: with `caller`, in time order across its lanes;
   * without, by caller and lane, each lane oldest first.
   */
  readonly records: readonly Record<string, unknown>[];
  /** Pass as `continuation` for the next page; absent on the last page. */
  readonly continuation?: string;
}

/** The Table Storage filter of a query (the records it selects); values are escaped by the SDK's `odata` tag. */
export function auditFilter(query: AuditQuery): string {
  const parts: string[] = [odata`RowKey le ${MAX_RECORD_ROW_KEY}`];
  if (query.caller !== undefined) parts.push(odata`caller_id eq ${query.caller}`);
  parts.push(...conditions(query));
  if (query.from !== undefined) parts.push(odata`time ge ${query.from}`);
  return parts.join(' and ');
}

/** The filters on record fields other than the caller and the lower time bound. */
function conditions(query: AuditQuery): string[] {
  const parts: string[] = [];
  if (query.ctx !== undefined) parts.push(odata`subject_ctx eq ${query.ctx}`);
  if (query.visible !== undefined) {
    const own = odata`caller_id eq ${query.visible.self}`;
    parts.push(`(${[...query.visible.tenants.map((t) => odata`subject_ctx eq ${t}`), own].join(' or ')})`);
  }
  if (query.operation !== undefined) parts.push(odata`action eq ${query.operation}`);
  if (query.to !== undefined) parts.push(odata`time lt ${query.to}`);
  return parts;
}

function filterDigest(filter: string): string {
  return createHash('sha256').update(filter, 'utf8').digest('base64url').slice(0, 16);
}

/** Position in the caller view: the last record returned, by (time, lane partition, seq). */
interface RecordKey {
  readonly t: string;
  readonly p: string;
  readonly s: number;
}

type Continuation = { readonly m: 's'; readonly t: string } | ({ readonly m: 't' } & RecordKey);

function encodeContinuation(position: Continuation, filter: string): string {
  return Buffer.from(JSON.stringify({ v: 2, ...position, q: filterDigest(filter) }), 'utf8').toString('base64url');
}

function invalidContinuation(): BrokerError {
  return new BrokerError('bad_request', 'The continuation was not issued for these filters');
}

function decodeContinuation(token: string, filter: string, mode: Continuation['m']): Continuation {
  let parsed: Record<string, unknown> | undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    parsed = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    // A malformed continuation token is rejected just below (parsed undefined → invalid input).
    parsed = undefined;
  }
  if (parsed === undefined || parsed['v'] !== 2 || parsed['m'] !== mode || parsed['q'] !== filterDigest(filter)) throw invalidContinuation();
  const { t, p, s } = parsed;
  if (typeof t !== 'string' || t.length > 2048) throw invalidContinuation();
  if (mode === 's') return { m: 's', t };
  if (typeof p !== 'string' || p.length > 1024 || typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0 || (t !== '' && Number.isNaN(Date.parse(t)))) throw invalidContinuation();
  return { m: 't', t, p, s };
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function compareKeys(a: RecordKey, b: RecordKey): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  if (a.p !== b.p) return a.p < b.p ? -1 : 1;
  return a.s - b.s;
}

function keyOf(entity: Readonly<Record<string, unknown>>): RecordKey {
  return { t: typeof entity['time'] === 'string' ? entity['time'] : '', p: typeof entity['partitionKey'] === 'string' ? entity['partitionKey'] : '', s: typeof entity['seq'] === 'number' ? entity['seq'] : 0 };
}

/** Windows (hours with lanes) one request reads before it answers with what it has and a continuation. */
const MAX_WINDOWS_PER_PAGE = 48;
/** Lane queries started at once. */
const LANE_CONCURRENCY = 16;

/** One lane's matching records after a key, in seq (= time) order, read a page at a time. */
class LaneStream {
  private buffer: Record<string, unknown>[] = [];
  private readonly pages: AsyncIterator<Record<string, unknown>[]>;
  private exhausted = false;
  current: { readonly key: RecordKey; readonly entity: Record<string, unknown> } | undefined;

  constructor(table: TableClient, filter: string, private readonly after: RecordKey, pageSize: number, signal: AbortSignal | undefined) {
    this.pages = table.listEntities<Record<string, unknown>>({ queryOptions: { filter }, abortSignal: signal }).byPage({ maxPageSize: pageSize })[Symbol.asyncIterator]();
  }

  /** Moves to the next record after the key (and after the current one); `current` is undefined at the end. */
  async advance(): Promise<void> {
    for (;;) {
      const entity = this.buffer.shift();
      if (entity !== undefined) {
        const key = keyOf(entity);
        if (compareKeys(key, this.after) <= 0) continue;
        this.current = { key, entity };
        return;
      }
      if (this.exhausted) {
        this.current = undefined;
        return;
      }
      const next = await this.pages.next();
      if (next.done === true) this.exhausted = true;
      else this.buffer = [...next.value];
    }
  }
}

async function inBatches<T>(items: readonly T[], size: number, run: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

/** The caller view: the caller's records in time order, merged hour by hour across its lanes. */
async function callerPage(table: TableClient, query: AuditQuery, caller: string, signal: AbortSignal | undefined): Promise<AuditPage> {
  const filter = auditFilter(query);
  const cursor: RecordKey = query.continuation === undefined
    ? { t: '', p: '', s: 0 }
    : (decodeContinuation(query.continuation, filter, 't') as RecordKey);
  const floor = query.from !== undefined && query.from > cursor.t ? query.from : cursor.t;
  const toMs = query.to === undefined ? Number.POSITIVE_INFINITY : Date.parse(query.to);
  const laneConditions = conditions(query);
  if (floor !== '') laneConditions.push(odata`time ge ${floor}`);

  // The registry lists the caller's lanes in hour order, from the floor's hour on.
  const rows = table
    .listEntities<{ lane?: unknown }>({ queryOptions: { filter: registryFilter(caller, floor === '' ? undefined : windowKeyOf(Date.parse(floor))), select: ['lane'] }, abortSignal: signal })[
      Symbol.asyncIterator
    ]();
  let lookahead: { readonly lane: string; readonly windowStart: number } | undefined | null = null; // null: not read yet
  const nextLane = async (): Promise<{ readonly lane: string; readonly windowStart: number } | undefined> => {
    if (lookahead !== null) {
      const lane = lookahead;
      lookahead = null;
      return lane;
    }
    for (;;) {
      const next = await rows.next();
      if (next.done === true) return undefined;
      const lane = typeof next.value.lane === 'string' ? next.value.lane : '';
      const parsed = parseLaneId(lane);
      if (parsed !== undefined) return { lane, windowStart: parsed.windowStart };
    }
  };
  const peekLane = async () => (lookahead === null ? (lookahead = await nextLane()) : lookahead);

  const records: Record<string, unknown>[] = [];
  let last: RecordKey | undefined;
  for (let windows = 0; ; windows++) {
    const first = await nextLane();
    if (first === undefined || first.windowStart >= toMs) return { records };
    if (windows >= MAX_WINDOWS_PER_PAGE) {
      // Enough hours read for one request: resume at this hour.
      const resume: RecordKey = { t: new Date(first.windowStart).toISOString(), p: '', s: 0 };
      return { records, continuation: encodeContinuation({ m: 't', ...(last !== undefined && compareKeys(last, resume) > 0 ? last : resume) }, filter) };
    }
    const lanes = [first.lane];
    for (let next = await peekLane(); next !== undefined && next.windowStart === first.windowStart; next = await peekLane()) {
      lanes.push(next.lane);
      lookahead = null;
    }
    // Records of one hour all precede the next hour's: merge this hour's lanes by key.
    const streams = lanes.map((lane) => new LaneStream(
      table,
      [odata`PartitionKey eq ${lanePartition(caller, lane)}`, odata`RowKey le ${MAX_RECORD_ROW_KEY}`, ...laneConditions].join(' and '),
      cursor,
      query.limit,
      signal,
    ));
    await inBatches(streams, LANE_CONCURRENCY, (s) => s.advance());
    for (;;) {
      let min: LaneStream | undefined;
      for (const s of streams) if (s.current !== undefined && (min === undefined || compareKeys(s.current.key, min.current!.key) < 0)) min = s;
      if (min === undefined) break;
      if (records.length === query.limit) return { records, continuation: encodeContinuation({ m: 't', ...last! }, filter) };
      records.push(recordFields(min.current!.entity));
      last = min.current!.key;
      await min.advance();
    }
    if (records.length === query.limit) {
      const more = await peekLane();
      return more === undefined || more.windowStart >= toMs ? { records } : { records, continuation: encodeContinuation({ m: 't', ...last! }, filter) };
    }
  }
}

/** Storage order (no caller filter): the service's own paging over every matching record. */
async function scanPage(table: TableClient, query: AuditQuery, signal: AbortSignal | undefined): Promise<AuditPage> {
  const filter = auditFilter(query);
  let token = query.continuation === undefined ? undefined : decodeContinuation(query.continuation, filter, 's').t;
  const records: Record<string, unknown>[] = [];
  // A filtered page may come back short or empty with a continuation; keep reading, boundedly.
  for (let i = 0; i < MAX_PAGE_REQUESTS && records.length < query.limit; i++) {
    const pages = table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter }, abortSignal: signal })
      .byPage({ maxPageSize: query.limit - records.length, ...(token === undefined ? {} : { continuationToken: token }) });
    const next = await pages.next();
    if (next.done === true) {
      token = undefined;
      break;
    }
    for (const entity of next.value) records.push(recordFields(entity));
    token = next.value.continuationToken;
    if (token === undefined) break;
  }
  return token === undefined ? { records } : { records, continuation: encodeContinuation({ m: 's', t: token }, filter) };
}

/**
 * Reads up to `query.limit` records from the records table (which also holds the lane registry);
 * throws `validation_failed` for a foreign continuation, `upstream_unavailable` if storage fails.
 */
export async function queryAuditRecords(table: TableClient, query: AuditQuery, options: { readonly signal?: AbortSignal } = {}): Promise<AuditPage> {
  try {
    return query.caller === undefined ? await scanPage(table, query, options.signal) : await callerPage(table, query, query.caller, options.signal);
  } catch (error) {
    if (statusOf(error) === 404) return { records: [] };
    if (error instanceof BrokerError) throw error;
    throw new BrokerError('upstream_unavailable', 'The audit store is unavailable', { cause: error });
  }
}

