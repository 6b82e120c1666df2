import * as z from 'zod/mini';
import { described, Timestamp } from '../http/schemas.js';
import { mustBe, positiveUpTo, TenantId } from '../superoffice/identifiers.js';
import { DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE, type AuditQuery } from './query.js';
import { AUDIT_RECORD_FIELDS } from './record.js';

/**
 * The query string of `GET /api/audit` and its answer, as zod schemas: the endpoint declaration
 * validates with them and the OpenAPI document publishes them. `toAuditQuery` gives the `AuditQuery`
 * that `queryAuditRecords` takes.
 */

const GUID = '[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}';
const CALLER_TEXT = 'a caller id: <tenant GUID>_<object GUID>, or anonymous';
const OPERATION_TEXT = 'an audited action such as tokens or audit.read (1-64 letters, digits, ".", "_" or "-")';
const TIME_TEXT = 'an ISO-8601 date (2024-05-01) or date and time with seconds and Z or an offset (2024-05-01T10:00:00Z)';
const CONTINUATION = /^[A-Za-z0-9_-]{1,2048}$/;

/** A date, or a date and time with a zone; a time that does not exist (February 30) is refused. */
const AuditTime = z.union([z.iso.date(), z.iso.datetime({ offset: true })], { error: mustBe(TIME_TEXT) });

export const AuditQuerySchema = z.strictObject({
  caller: z.optional(described(
    z.pipe(z.string().check(z.regex(new RegExp(`^(?:${GUID}_${GUID}|anonymous)$`), { error: mustBe(CALLER_TEXT) })), z.transform((v) => v.toLowerCase())),
    'Only records of this caller (`{tid}_{oid}`, as `/api/me` shows it, or `anonymous`).',
  )),
  ctx: z.optional(described(TenantId, 'Only records about this tenant; needs a tenant-wide `audit.read` grant for it.')),
  operation: z.optional(described(z.string().check(z.regex(/^[A-Za-z0-9._-]{1,64}$/, { error: mustBe(OPERATION_TEXT) })), 'Only records of this action, e.g. `tokens` or `audit.read`.')),
  from: z.optional(described(AuditTime, 'Records at or after this time (a date alone means its midnight UTC).')),
  to: z.optional(described(AuditTime, 'Records before this time.')),
  limit: z.optional(described(
    z.pipe(z.string().check(z.regex(positiveUpTo(MAX_AUDIT_PAGE), { error: mustBe(`an integer from 1 to ${MAX_AUDIT_PAGE}`) })), z.transform(Number)),
    `Records per page, 1-${MAX_AUDIT_PAGE} (default ${DEFAULT_AUDIT_PAGE}).`,
  )),
  continuation: z.optional(described(
    z.string().check(z.regex(CONTINUATION, { error: mustBe('the continuation value of the previous page') })),
    'The `continuation` of the previous page, with the same filters.',
  )),
});

function instant(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return new Date(Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value)).toISOString();
}

/** The `AuditQuery` for validated filters (times normalised to `toISOString()` form). */
export function toAuditQuery(query: z.output<typeof AuditQuerySchema>): AuditQuery {
  return {
    ...(query.caller !== undefined ? { caller: query.caller } : {}),
    ...(query.ctx !== undefined ? { ctx: query.ctx } : {}),
    ...(query.operation !== undefined ? { operation: query.operation } : {}),
    ...(query.from !== undefined ? { from: instant(query.from) } : {}),
    ...(query.to !== undefined ? { to: instant(query.to) } : {}),
    limit: query.limit ?? DEFAULT_AUDIT_PAGE,
    ...(query.continuation !== undefined ? { continuation: query.continuation } : {}),
  };
}

const count = z.int().check(z.gte(0));

function fieldSchema(field: (typeof AUDIT_RECORD_FIELDS)[number]): z.ZodMiniType {
  switch (field) {
    case 'http_status':
    case 'upstream_status':
    case 'latency_ms':
      return count;
    case 'seq':
      return described(z.int().check(z.gte(1)), "Position in the caller's hash chain (1, 2, 3 …).");
    case 'time':
      return Timestamp;
    case 'event_id':
      return z.string().check(z.regex(/^[0-9a-f]{32}$/));
    case 'prev_hash':
      return described(z.string().check(z.regex(/^[0-9a-f]{64}$/)), 'SHA-256 of the previous record of the caller (64 zeros for the first).');
    case 'outcome':
      return z.enum(['allow', 'deny', 'error']);
    case 'token_fingerprints':
      return described(z.string().check(z.regex(/^(fp1_[A-Za-z0-9_-]{43}(,fp1_[A-Za-z0-9_-]{43})*)?$/)), 'Comma-separated HMAC fingerprints of the tokens involved; never a token.');
    default:
      return z.string();
  }
}

/** One stored audit record (hash-chained per caller). */
export const AuditRecordSchema = z.strictObject(Object.fromEntries(AUDIT_RECORD_FIELDS.map((field) => [field, fieldSchema(field)])));

/** A page of `GET /api/audit`. */
export const AuditPageSchema = z.strictObject({
  records: z.array(AuditRecordSchema).check(z.maxLength(MAX_AUDIT_PAGE)),
  continuation: z.optional(described(z.string().check(z.regex(CONTINUATION)), 'Pass as `continuation`, with the same filters, for the next page; absent on the last page.')),
});
