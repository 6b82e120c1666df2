import { createHash } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import { BrokerError } from '../errors/errors.js';
import { MAX_RECORD_ROW_KEY, recordFields } from './canonical.js';
import { CTX_PATTERN } from '../superoffice/identifiers.js';

/**
 * Reading the audit trail (architecture.md §6 "queryable per caller"): query-string filters parsed
 * once into an `AuditQuery`, translated into a Table Storage filter with escaped values, and paged
 * with an opaque continuation token bound to the filters it was issued for.
 */

/** What `GET /api/audit` accepts; shown in the 400 answer to a bad filter. */
export const AUDIT_QUERY_PARAMETERS: Readonly<Record<string, string>> = {
  caller: 'caller id: <tenant GUID>_<object GUID>, or anonymous',
  ctx: 'SuperOffice tenant, e.g. Cust12345 (a letter, then letters and digits; at most 64)',
  operation: 'the audited action, e.g. tokens or audit.read (letters, digits, . _ -; at most 64)',
  from: 'ISO-8601 date or time with Z or an offset; records at or after it',
  to: 'ISO-8601 date or time with Z or an offset; records before it',
  limit: 'integer 1-200 (default 50)',
  continuation: 'the continuation value of the previous page, with the same filters',
};

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
  /** Stored records without Table system fields, oldest first within a caller. */
  readonly records: readonly Record<string, unknown>[];
  /** Pass as `continuation` for the next page; absent on the last page. */
  readonly continuation?: string;
}

const GUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const CALLER = new RegExp(`^(?:${GUID}_${GUID}|anonymous)$`, 'i');
const CTX = CTX_PATTERN;
const OPERATION = /^[A-Za-z0-9._-]{1,64}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const OPAQUE = /^[A-Za-z0-9_-]{1,2048}$/;

interface Issue {
  readonly parameter: string;
  readonly message: string;
}

function parseTime(raw: string): string | undefined {
  if (!ISO_TIME.test(raw)) return undefined;
  const ms = Date.parse(raw.length === 10 ? `${raw}T00:00:00Z` : raw);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** Parses the query string; throws `validation_failed` (400) listing every problem and what is accepted. */
export function parseAuditQuery(params: URLSearchParams): AuditQuery {
  const issues: Issue[] = [];
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (!(name in AUDIT_QUERY_PARAMETERS)) {
      issues.push({ parameter: name.slice(0, 64).replace(/[^\x20-\x7e]/g, '?'), message: 'unknown parameter' });
    } else if (seen.has(name)) {
      issues.push({ parameter: name, message: 'given more than once' });
    }
    seen.add(name);
  }
  const one = (name: string): string | undefined => params.get(name) ?? undefined;
  const check = (name: string, pattern: RegExp): string | undefined => {
    const value = one(name);
    if (value !== undefined && !pattern.test(value)) issues.push({ parameter: name, message: AUDIT_QUERY_PARAMETERS[name] ?? 'invalid' });
    return value;
  };
  const caller = check('caller', CALLER)?.toLowerCase();
  const ctx = check('ctx', CTX);
  const operation = check('operation', OPERATION);
  const continuation = check('continuation', OPAQUE);
  const time = (name: 'from' | 'to'): string | undefined => {
    const raw = one(name);
    if (raw === undefined) return undefined;
    const parsed = parseTime(raw);
    if (parsed === undefined) issues.push({ parameter: name, message: AUDIT_QUERY_PARAMETERS[name] ?? 'invalid' });
    return parsed;
  };
  const from = time('from');
  const to = time('to');
  if (from !== undefined && to !== undefined && from >= to) issues.push({ parameter: 'to', message: 'must be later than from' });
  let limit = DEFAULT_AUDIT_PAGE;
  const rawLimit = one('limit');
  if (rawLimit !== undefined) {
    limit = /^\d{1,3}$/.test(rawLimit) ? Number(rawLimit) : 0;
    if (limit < 1 || limit > MAX_AUDIT_PAGE) issues.push({ parameter: 'limit', message: AUDIT_QUERY_PARAMETERS['limit'] ?? 'invalid' });
  }
  if (issues.length > 0) {
    throw new BrokerError('validation_failed', 'Unknown or malformed audit filters', {
      extensions: { errors: issues.slice(0, 20), accepted: AUDIT_QUERY_PARAMETERS },
    });
  }
  return { caller, ctx, operation, from, to, limit, continuation };
}

/** The Table Storage filter for a query; values are escaped by the SDK's `odata` tag. */
export function auditFilter(query: AuditQuery): string {
  const parts: string[] = [odata`RowKey le ${MAX_RECORD_ROW_KEY}`];
  if (query.caller !== undefined) parts.push(odata`PartitionKey eq ${query.caller}`);
  if (query.ctx !== undefined) parts.push(odata`subject_ctx eq ${query.ctx}`);
  if (query.visible !== undefined) {
    const own = odata`PartitionKey eq ${query.visible.self}`;
    parts.push(`(${[...query.visible.tenants.map((t) => odata`subject_ctx eq ${t}`), own].join(' or ')})`);
  }
  if (query.operation !== undefined) parts.push(odata`action eq ${query.operation}`);
  if (query.from !== undefined) parts.push(odata`time ge ${query.from}`);
  if (query.to !== undefined) parts.push(odata`time lt ${query.to}`);
  return parts.join(' and ');
}

function filterDigest(filter: string): string {
  return createHash('sha256').update(filter, 'utf8').digest('base64url').slice(0, 16);
}

function encodeContinuation(sdkToken: string, filter: string): string {
  return Buffer.from(JSON.stringify({ v: 1, t: sdkToken, q: filterDigest(filter) }), 'utf8').toString('base64url');
}

function decodeContinuation(token: string, filter: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const t = (parsed as { t?: unknown } | undefined)?.t;
  const q = (parsed as { q?: unknown } | undefined)?.q;
  const v = (parsed as { v?: unknown } | undefined)?.v;
  if (v !== 1 || typeof t !== 'string' || t.length > 2048 || q !== filterDigest(filter)) {
    throw new BrokerError('validation_failed', 'Unknown or malformed audit filters', {
      extensions: {
        errors: [{ parameter: 'continuation', message: 'not a continuation issued for these filters' }],
        accepted: AUDIT_QUERY_PARAMETERS,
      },
    });
  }
  return t;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Reads up to `query.limit` records; throws `validation_failed` for a foreign continuation, `upstream_unavailable` if storage fails. */
export async function queryAuditRecords(table: TableClient, query: AuditQuery, options: { readonly signal?: AbortSignal } = {}): Promise<AuditPage> {
  const filter = auditFilter(query);
  let token = query.continuation === undefined ? undefined : decodeContinuation(query.continuation, filter);
  const records: Record<string, unknown>[] = [];
  try {
    // A filtered page may come back short or empty with a continuation; keep reading, boundedly.
    for (let i = 0; i < MAX_PAGE_REQUESTS && records.length < query.limit; i++) {
      const pages = table
        .listEntities<Record<string, unknown>>({ queryOptions: { filter }, abortSignal: options.signal })
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
  } catch (error) {
    if (statusOf(error) === 404) return { records: [] };
    if (error instanceof BrokerError) throw error;
    throw new BrokerError('upstream_unavailable', 'The audit store is unavailable', { cause: error });
  }
  return token === undefined ? { records } : { records, continuation: encodeContinuation(token, filter) };
}
