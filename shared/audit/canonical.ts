import { createHash } from 'node:crypto';

/**
 * Canonical serialisation and hashing of audit records (requirement 60).
 *
 * Canonical JSON: objects with their keys sorted by UTF-16 code unit (the default JS sort), no
 * whitespace, properties whose value is `undefined` omitted, arrays in order, strings and finite
 * numbers as `JSON.stringify` writes them. Anything else (non-finite numbers, bigint, functions,
 * class instances other than Date and Uint8Array) is refused, so two parties can never disagree.
 */

/** `prev_hash` of the first record of every chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** Digits of the zero-padded RowKey; RowKeys sort as seqs do. */
export const SEQ_DIGITS = 12;
/** The greatest RowKey a record can have. */
export const MAX_RECORD_ROW_KEY = '9'.repeat(SEQ_DIGITS);

/** The RowKey of the record with `seq`. */
export function rowKeyOf(seq: number): string {
  return String(seq).padStart(SEQ_DIGITS, '0');
}

/**
 * Properties that Table Storage adds or that mirror a record's own fields (`PartitionKey` is the
 * record's `caller_id`, `RowKey` its zero-padded `seq`); the record hash covers everything else.
 */
export const TABLE_SYSTEM_FIELDS: ReadonlySet<string> = new Set(['partitionKey', 'rowKey', 'timestamp', 'etag', 'PartitionKey', 'RowKey', 'Timestamp']);

function isSystemField(key: string): boolean {
  return TABLE_SYSTEM_FIELDS.has(key) || key.startsWith('odata.');
}

/** Serialises `value` canonically; throws `TypeError` on values that have no canonical form. */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: unsupported type ${typeof value}`);
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('base64'));
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw new TypeError('canonicalJson: unsupported object');
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The record's own properties: every property except the Table system fields. */
export function recordFields(entity: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entity)) {
    if (!isSystemField(key)) out[key] = value;
  }
  return out;
}

/** SHA-256 (lower-case hex) of the canonical JSON of the record's own properties. */
export function recordHash(entity: object): string {
  return createHash('sha256').update(canonicalJson(recordFields(entity)), 'utf8').digest('hex');
}
