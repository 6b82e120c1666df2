import { randomBytes } from 'node:crypto';
import { callerId } from '../identity/caller.js';
import type { AuditEntry } from './entry.js';

/**
 * The stored audit record (requirement 57) and its pure builder. Every string that can
 * carry a caller-supplied value is neutralised (requirement 62): control, format and line-separator
 * characters become visible `\uXXXX` escapes, backslashes are doubled (so the escaping is
 * unambiguous), and the length is capped. No secret reaches a record (requirement 59): tokens appear
 * only as `fp1_` HMAC fingerprints, and anything else offered as a fingerprint is dropped.
 */

/** The audit partition of requests without an authenticated caller. */
export const ANONYMOUS_PARTITION = 'anonymous';

/** Shape of a token fingerprint: `fp1_` + base64url HMAC-SHA256 (see `fingerprint.ts`). */
export const FINGERPRINT_PATTERN = /^fp1_[A-Za-z0-9_-]{43}$/;

/** The fields the builder fills; the sink adds `seq` and `prev_hash`. Absent strings are `''`, absent statuses `0`. */
export interface AuditRecordBody {
  /** 128-bit CSPRNG value, hex. */
  readonly event_id: string;
  /** UTC ISO-8601 with milliseconds, e.g. `2026-01-31T12:00:00.123Z`. */
  readonly time: string;
  readonly correlation_id: string;
  /** The partition: `callerId(caller)`, or `anonymous`. */
  readonly caller_id: string;
  readonly caller_tid: string;
  readonly caller_oid: string;
  /** `azp` (v2) or `appid` (v1). */
  readonly caller_azp: string;
  readonly caller_idtyp: string;
  /** The app role used to authorize the operation. */
  readonly caller_role: string;
  readonly subject_env: string;
  readonly subject_ctx: string;
  readonly subject_associate_id: string;
  readonly action: string;
  readonly target: string;
  readonly outcome: string;
  readonly reason: string;
  readonly http_status: number;
  /** 0 when no upstream call was made. */
  readonly upstream_status: number;
  readonly latency_ms: number;
  readonly function_name: string;
  readonly broker_version: string;
  readonly instance_id: string;
  /** Comma-separated `fp1_…` fingerprints. */
  readonly token_fingerprints: string;
  /**
   * The Key Vault version of `audit-hmac-key` that made `token_fingerprints` (so they can be recomputed
   * after a rotation); `''` when there are none or it is unknown. If they were made with different
   * versions (a rotation within one request), one version per fingerprint, comma-separated, in order.
   */
  readonly fingerprint_key_version: string;
  /** Comma-separated flags such as `served_cached`. */
  readonly flags: string;
}

/** A record as stored: the body plus its place in one lane's hash chain (see `lanes.ts`). */
export interface AuditRecord extends AuditRecordBody {
  /** The lane (writer and hour) whose chain holds the record; the PartitionKey is `<caller_id>~<lane>`. */
  readonly lane: string;
  /** 1, 2, 3 … per lane; the RowKey is `seq` zero-padded. */
  readonly seq: number;
  /**
   * SHA-256 (hex) of the canonical previous record of the lane; for seq 1, the last record of the
   * writer's previous lane for this caller, or `GENESIS_HASH` (the lane registry row says which).
   */
  readonly prev_hash: string;
}

/** Every field of a stored record, in a readable order. */
export const AUDIT_RECORD_FIELDS = [
  'event_id', 'time', 'correlation_id',
  'caller_id', 'caller_tid', 'caller_oid', 'caller_azp', 'caller_idtyp', 'caller_role',
  'subject_env', 'subject_ctx', 'subject_associate_id',
  'action', 'target', 'outcome', 'reason',
  'http_status', 'upstream_status', 'latency_ms',
  'function_name', 'broker_version', 'instance_id',
  'token_fingerprints', 'fingerprint_key_version', 'flags',
  'lane', 'seq', 'prev_hash',
] as const satisfies readonly (keyof AuditRecord)[];

/** Length caps (UTF-16 units, escapes included) per kind of field. */
export const FIELD_LIMITS = { id: 128, name: 128, text: 256, target: 512, flag: 64 } as const;
const MAX_LIST_ITEMS = 16;
const MAX_INT32 = 2 ** 31 - 1;
const TRUNCATION_MARK = '…';

// Cc (C0, DEL, C1), Cf (bidi overrides, zero-width, BOM), Zl/Zp (U+2028/2029) and lone surrogates (Cs).
const UNSAFE_CHARACTER = /^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]$/u;

/**
 * Makes a caller-supplied value safe for a record and a log line: unsafe characters become `\uXXXX`,
 * `\` becomes `\\`, and the result is at most `maxLength` UTF-16 units (ending in `…` when cut).
 */
export function neutralise(value: unknown, maxLength: number = FIELD_LIMITS.text): string {
  if (value === undefined || value === null) return '';
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- any caller value is accepted; an object renders as its String() and is neutralised like any text
  const text = typeof value === 'string' ? value : String(value);
  // Pieces are atomic: an escape or a surrogate pair is never split by the cap.
  const pieces: string[] = [];
  let length = 0;
  for (const ch of text) {
    let piece = ch;
    if (ch === '\\') piece = '\\\\';
    else if (UNSAFE_CHARACTER.test(ch)) piece = ch.split('').map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    pieces.push(piece);
    length += piece.length;
    if (length > maxLength) break;
  }
  if (length <= maxLength) return pieces.join('');
  const room = Math.max(0, maxLength - TRUNCATION_MARK.length);
  let out = '';
  for (const piece of pieces) {
    if (out.length + piece.length > room) break;
    out += piece;
  }
  return `${out}${TRUNCATION_MARK}`;
}

function int32(value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value)) return 0;
  return Math.min(MAX_INT32, Math.max(0, Math.round(value)));
}

/** A flag as a list item: neutralised, then anything outside `[A-Za-z0-9_.:-]` becomes `_`. */
function flagItem(flag: string): string {
  return neutralise(flag, FIELD_LIMITS.flag).replace(/[^A-Za-z0-9_.:-]/g, '_');
}

/** A new event id: 128 bits from the CSPRNG, hex (ASVS 11.5.1). */
export function newEventId(): string {
  return randomBytes(16).toString('hex');
}

/** The audit partition of a caller: `callerId(caller)` neutralised for a PartitionKey, or `anonymous`. */
export function partitionOf(caller: AuditEntry['caller']): string {
  if (caller === null) return ANONYMOUS_PARTITION;
  // PartitionKey forbids / \ # ? and control characters, and `~` separates caller and lane (lanes.ts);
  // a verified caller id never has any of them.
  const id = neutralise(callerId(caller), FIELD_LIMITS.text).replace(/[/\\#?~]/g, '_');
  return id === '' || id === ANONYMOUS_PARTITION ? `${ANONYMOUS_PARTITION}_` : id;
}

export interface RecordContext {
  readonly eventId: string;
  /** Milliseconds since the epoch when the record is made. */
  readonly now: number;
  readonly brokerVersion: string;
  readonly instanceId: string;
  /** The Key Vault version of the HMAC key that made a fingerprint, if known (see `fingerprint_key_version`). */
  readonly fingerprintKeyVersionOf?: (fingerprint: string) => string | undefined;
}

/** `fingerprint_key_version` for `fingerprints`: one shared version, else one per fingerprint in order. */
export function fingerprintKeyVersionField(fingerprints: readonly string[], versionOf: ((fingerprint: string) => string | undefined) | undefined): string {
  const versions = fingerprints.map((f) => neutralise(versionOf?.(f), FIELD_LIMITS.id).replace(/,/g, '_'));
  const distinct = new Set(versions);
  if (distinct.size <= 1) return versions[0] ?? '';
  const joined = versions.join(',');
  return joined.length <= FIELD_LIMITS.target ? joined : `${joined.slice(0, FIELD_LIMITS.target - 1)}…`;
}

export interface BuiltRecord {
  readonly body: AuditRecordBody;
  /** Values offered as fingerprints that were not `fp1_` fingerprints, and were therefore not stored. */
  readonly rejectedFingerprints: number;
}

/** Builds the stored record body from an entry; pure (ids and time come from `context`). */
export function buildAuditRecord(entry: AuditEntry, context: RecordContext): BuiltRecord {
  const caller = entry.caller;
  const offered = entry.tokenFingerprints ?? [];
  const fingerprints = offered.filter((f) => FINGERPRINT_PATTERN.test(f)).slice(0, MAX_LIST_ITEMS);
  const rejected = offered.filter((f) => !FINGERPRINT_PATTERN.test(f)).length;
  const flags = (entry.flags ?? []).map(flagItem).filter((f) => f !== '');
  if (rejected > 0) flags.push('fingerprint_rejected');
  const body: AuditRecordBody = {
    event_id: neutralise(context.eventId, FIELD_LIMITS.id),
    time: new Date(context.now).toISOString(),
    correlation_id: neutralise(entry.correlationId, FIELD_LIMITS.id),
    caller_id: partitionOf(caller),
    caller_tid: neutralise(caller?.tid, FIELD_LIMITS.id),
    caller_oid: neutralise(caller?.oid, FIELD_LIMITS.id),
    caller_azp: neutralise(caller?.azp, FIELD_LIMITS.id),
    caller_idtyp: neutralise(caller?.idtyp, FIELD_LIMITS.name),
    caller_role: neutralise(entry.roleUsed, FIELD_LIMITS.name),
    subject_env: neutralise(entry.subject.env, FIELD_LIMITS.name),
    subject_ctx: neutralise(entry.subject.ctx, FIELD_LIMITS.name),
    subject_associate_id: neutralise(entry.subject.associateId, FIELD_LIMITS.name),
    action: neutralise(entry.action, FIELD_LIMITS.name),
    target: neutralise(entry.target, FIELD_LIMITS.target),
    outcome: neutralise(entry.outcome, FIELD_LIMITS.name),
    reason: neutralise(entry.reason, FIELD_LIMITS.name),
    http_status: int32(entry.httpStatus),
    upstream_status: int32(entry.upstreamStatus),
    latency_ms: int32(entry.latencyMs),
    function_name: neutralise(entry.functionName, FIELD_LIMITS.name),
    broker_version: neutralise(context.brokerVersion, FIELD_LIMITS.name),
    instance_id: neutralise(context.instanceId, FIELD_LIMITS.id),
    token_fingerprints: fingerprints.join(','),
    fingerprint_key_version: fingerprintKeyVersionField(fingerprints, context.fingerprintKeyVersionOf),
    flags: [...new Set(flags)].slice(0, MAX_LIST_ITEMS).join(','),
  };
  return { body, rejectedFingerprints: rejected };
}

/** The fingerprints listed in a stored record. */
export function fingerprintsOf(record: Readonly<Record<string, unknown>>): string[] {
  const value = record['token_fingerprints'];
  return typeof value === 'string' && value !== '' ? value.split(',') : [];
}
