import { createHash, randomBytes } from 'node:crypto';
import { odata, RestError, type TableClient, type TableEntityResult } from '@azure/data-tables';
import { BrokerError } from '../errors/errors.js';
import { tableOnFirstUse } from '../storage/storage.js';
import type { ActionState } from './outcome.js';

/**
 * Action records in the `actionresults` table (docs/acting.md §4; architecture.md §4):
 * - one row per action, PartitionKey = action id, RowKey `action`: who created it, what it does, its
 *   state, SuperOffice's status, the response body (at most 64 KiB, stored as binary), the error code,
 *   attempts and times;
 * - one row per idempotency key, PartitionKey `key_<caller id>`, RowKey = SHA-256 of the key: the action
 *   id and the SHA-256 of the request it was first used with. Inserted if absent, so the same key from
 *   the same caller names one action on every instance;
 * - one row per refused queue message, PartitionKey `refused`.
 * Every row carries `expiresAt`; the pruning timer deletes rows past it.
 */

export const ACTION_RESULTS_TABLE = 'actionresults';
/** The largest response body kept (Table Storage's binary property limit). */
export const MAX_STORED_RESPONSE_BYTES = 64 * 1024;

export interface ActionRecord {
  readonly id: string;
  readonly callerId: string;
  readonly tid: string;
  readonly oid: string;
  readonly azp: string;
  readonly env: string;
  readonly ctx: string;
  readonly actAs: string;
  readonly method: string;
  readonly path: string;
  readonly bodyHash: string;
  readonly grant: string | undefined;
  readonly notify: boolean;
  readonly state: ActionState;
  /** `exhausted` when the poison function finished it; otherwise the last error code. */
  readonly errorCode: string | undefined;
  readonly superOfficeStatus: number | undefined;
  readonly responseBody: Buffer | undefined;
  readonly responseContentType: string | undefined;
  readonly responseTruncated: boolean;
  readonly attempts: number;
  /** True once the signed message is on the queue. */
  readonly enqueued: boolean;
  readonly notBefore: Date | undefined;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly finishedAt: Date | undefined;
  readonly expiresAt: Date;
  /** Optimistic-concurrency tag of the stored row. */
  readonly etag: string;
}

export type NewActionRecord = Omit<ActionRecord, 'etag'>;
export type ActionPatch = Partial<Pick<ActionRecord, 'state' | 'errorCode' | 'superOfficeStatus' | 'responseBody' | 'responseContentType' | 'responseTruncated' | 'attempts' | 'enqueued' | 'updatedAt' | 'finishedAt' | 'expiresAt'>>;

export type KeyClaim = { readonly created: true } | { readonly created: false; readonly actionId: string; readonly bodyHash: string };

export interface RefusedMessage {
  readonly reason: string;
  readonly claimedId: string | undefined;
  readonly queue: string;
  readonly messageId: string | undefined;
  readonly at: Date;
  readonly expiresAt: Date;
}

export interface ActionStore {
  /** Inserts the idempotency row if absent; otherwise returns what it names. */
  claimKey(callerId: string, idempotencyKey: string, value: { readonly actionId: string; readonly bodyHash: string; readonly expiresAt: Date }): Promise<KeyClaim>;
  /** Inserts a new action row; throws `conflict` if the id exists. */
  create(record: NewActionRecord): Promise<void>;
  get(id: string): Promise<ActionRecord | undefined>;
  /** Updates the row if it is still at `etag`; throws `conflict` (a concurrent writer) otherwise. Returns the new record. */
  update(record: ActionRecord, patch: ActionPatch): Promise<ActionRecord>;
  recordRefusal(refusal: RefusedMessage): Promise<void>;
  /** Deletes rows whose `expiresAt` is before `now`; returns how many. */
  prune(now: Date, options?: { readonly limit?: number }): Promise<number>;
}

export function storeError(error: unknown): BrokerError {
  return new BrokerError('upstream_unavailable', 'The action store is unavailable', { cause: error, retryAfterSec: 5 });
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

const ACTION_ROW = 'action';
const REFUSED_PARTITION = 'refused';

type Row = Record<string, unknown> & { partitionKey: string; rowKey: string };

function toRow(record: NewActionRecord | ActionRecord): Row {
  const row: Row = { partitionKey: record.id, rowKey: ACTION_ROW };
  for (const [key, value] of Object.entries(record)) {
    if (key === 'id' || key === 'etag' || value === undefined) continue;
    row[key] = value;
  }
  return row;
}

function dateOf(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (typeof value === 'string') return new Date(value);
  return undefined;
}

function fromRow(row: TableEntityResult<Record<string, unknown>>): ActionRecord {
  const str = (k: string): string | undefined => (typeof row[k] === 'string' ? (row[k]) : undefined);
  const num = (k: string): number | undefined => (typeof row[k] === 'number' ? (row[k]) : undefined);
  const body = row['responseBody'];
  return {
    id: row.partitionKey ?? '',
    callerId: str('callerId') ?? '',
    tid: str('tid') ?? '',
    oid: str('oid') ?? '',
    azp: str('azp') ?? '',
    env: str('env') ?? '',
    ctx: str('ctx') ?? '',
    actAs: str('actAs') ?? '',
    method: str('method') ?? '',
    path: str('path') ?? '',
    bodyHash: str('bodyHash') ?? '',
    grant: str('grant'),
    notify: row['notify'] === true,
    state: (str('state') ?? 'queued') as ActionState,
    errorCode: str('errorCode'),
    superOfficeStatus: num('superOfficeStatus'),
    responseBody: body instanceof Uint8Array ? Buffer.from(body) : undefined,
    responseContentType: str('responseContentType'),
    responseTruncated: row['responseTruncated'] === true,
    attempts: num('attempts') ?? 0,
    enqueued: row['enqueued'] === true,
    notBefore: dateOf(row['notBefore']),
    createdAt: dateOf(row['createdAt']) ?? new Date(0),
    updatedAt: dateOf(row['updatedAt']) ?? new Date(0),
    finishedAt: dateOf(row['finishedAt']),
    expiresAt: dateOf(row['expiresAt']) ?? new Date(0),
    etag: row.etag,
  };
}

const ID = /^[0-9a-f-]{36}$/;

/** `ActionStore` on the `actionresults` table (created on first use). */
export class TableActionStore implements ActionStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ensureTable = tableOnFirstUse(table, storeError);
  }

  async claimKey(callerId: string, idempotencyKey: string, value: { actionId: string; bodyHash: string; expiresAt: Date }): Promise<KeyClaim> {
    await this.ensureTable();
    const partitionKey = `key_${callerId}`;
    const rowKey = sha256Hex(idempotencyKey);
    try {
      await this.table.createEntity({ partitionKey, rowKey, actionId: value.actionId, bodyHash: value.bodyHash, expiresAt: value.expiresAt });
      return { created: true };
    } catch (error) {
      if (!(error instanceof RestError && error.statusCode === 409)) throw storeError(error);
    }
    try {
      const row = await this.table.getEntity<{ actionId: string; bodyHash: string }>(partitionKey, rowKey);
      return { created: false, actionId: row.actionId, bodyHash: row.bodyHash };
    } catch (error) {
      throw storeError(error);
    }
  }

  async create(record: NewActionRecord): Promise<void> {
    await this.ensureTable();
    try {
      await this.table.createEntity(toRow(record));
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 409) throw new BrokerError('conflict', 'The action exists');
      throw storeError(error);
    }
  }

  async get(id: string): Promise<ActionRecord | undefined> {
    if (!ID.test(id)) return undefined;
    await this.ensureTable();
    try {
      return fromRow(await this.table.getEntity<Record<string, unknown>>(id, ACTION_ROW));
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw storeError(error);
    }
  }

  async update(record: ActionRecord, patch: ActionPatch): Promise<ActionRecord> {
    await this.ensureTable();
    const next = { ...record, ...patch };
    try {
      // Replace, so a cleared property (e.g. an old error code) does not linger.
      const result = await this.table.updateEntity(toRow(next), 'Replace', { etag: record.etag });
      return { ...next, etag: result.etag ?? '' };
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 412) throw new BrokerError('conflict', 'The action was changed by another execution', { retryAfterSec: 1 });
      throw storeError(error);
    }
  }

  async recordRefusal(refusal: RefusedMessage): Promise<void> {
    await this.ensureTable();
    // Newest first: RowKey sorts by inverted time, then random.
    const rowKey = `${String(9_999_999_999_999 - refusal.at.getTime()).padStart(13, '0')}-${randomBytes(6).toString('hex')}`;
    try {
      await this.table.createEntity({
        partitionKey: REFUSED_PARTITION,
        rowKey,
        reason: refusal.reason,
        queue: refusal.queue,
        at: refusal.at,
        expiresAt: refusal.expiresAt,
        ...(refusal.claimedId !== undefined ? { claimedId: refusal.claimedId } : {}),
        ...(refusal.messageId !== undefined ? { messageId: refusal.messageId } : {}),
      });
    } catch (error) {
      throw storeError(error);
    }
  }

  async prune(now: Date, options: { limit?: number } = {}): Promise<number> {
    await this.ensureTable();
    const limit = options.limit ?? 10_000;
    let deleted = 0;
    try {
      const rows = this.table.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`expiresAt lt ${now}`, select: ['PartitionKey', 'RowKey'] },
      });
      for await (const row of rows) {
        if (deleted >= limit) break;
        try {
          await this.table.deleteEntity(row.partitionKey ?? '', row.rowKey ?? '');
          deleted++;
        } catch (error) {
          if (!(error instanceof RestError && error.statusCode === 404)) throw error;
        }
      }
    } catch (error) {
      throw storeError(error);
    }
    return deleted;
  }
}

/** An in-memory `ActionStore` with the Table store's semantics, for unit tests. */
export class MemoryActionStore implements ActionStore {
  readonly actions = new Map<string, ActionRecord>();
  readonly keys = new Map<string, { actionId: string; bodyHash: string; expiresAt: Date }>();
  readonly refusals: RefusedMessage[] = [];
  /** When set, every call throws it (Table Storage unavailable). */
  failure: Error | undefined;
  private version = 0;

  private check(): void {
    if (this.failure !== undefined) throw storeError(this.failure);
  }

  async claimKey(callerId: string, idempotencyKey: string, value: { actionId: string; bodyHash: string; expiresAt: Date }): Promise<KeyClaim> {
    this.check();
    const key = `${callerId}|${sha256Hex(idempotencyKey)}`;
    const existing = this.keys.get(key);
    if (existing !== undefined) return { created: false, actionId: existing.actionId, bodyHash: existing.bodyHash };
    this.keys.set(key, { ...value });
    return { created: true };
  }

  async create(record: NewActionRecord): Promise<void> {
    this.check();
    if (this.actions.has(record.id)) throw new BrokerError('conflict', 'The action exists');
    this.actions.set(record.id, { ...record, etag: String(++this.version) });
  }

  async get(id: string): Promise<ActionRecord | undefined> {
    this.check();
    return this.actions.get(id);
  }

  async update(record: ActionRecord, patch: ActionPatch): Promise<ActionRecord> {
    this.check();
    const stored = this.actions.get(record.id);
    if (stored === undefined || stored.etag !== record.etag) throw new BrokerError('conflict', 'The action was changed by another execution', { retryAfterSec: 1 });
    const next = { ...stored, ...patch, etag: String(++this.version) };
    this.actions.set(record.id, next);
    return next;
  }

  async recordRefusal(refusal: RefusedMessage): Promise<void> {
    this.check();
    this.refusals.push(refusal);
  }

  async prune(now: Date): Promise<number> {
    this.check();
    let deleted = 0;
    for (const [id, record] of this.actions) if (record.expiresAt < now && this.actions.delete(id)) deleted++;
    for (const [key, row] of this.keys) if (row.expiresAt < now && this.keys.delete(key)) deleted++;
    return deleted;
  }
}
