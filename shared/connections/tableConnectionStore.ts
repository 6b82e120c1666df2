import { odata, RestError, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { BrokerError } from '../errors/errors.js';
import { tableOnFirstUse } from '../storage/storage.js';
import type {
  Connection, ConnectionChange, ConnectionChangeNote, ConnectionChangeOutbox, ConnectionKey, ConnectionStatus, ConnectionStore, PendingConnectionChange,
} from './connection.js';

/**
 * Connection records in the `connections` table (docs/architecture.md §4): PartitionKey = `{env}|{ctx}`
 * (lower case), RowKey = associate id. Holds status and metadata only; the refresh token is in Key Vault.
 *
 * The same partition holds the outbox of connection-change notifications (`ConnectionChangeOutbox`):
 * RowKey `~change~<time>~<associate id>~<change>`, written in one entity group transaction with the
 * status it notes and deleted once the notification was sent. Associate ids are digits, so outbox rows
 * never collide with connections, and they are not connections (`toConnection` skips them).
 */

type Row = {
  partitionKey: string;
  rowKey: string;
  env: string;
  ctx: string;
  status: ConnectionStatus;
  webApiUrl: string;
  isAdministrator: boolean;
  systemUserStored: boolean;
  consentedAt: string;
  consentedBy: string;
  lastRefreshAt?: string;
  lastProbeAt?: string;
  lastErrorCode?: string;
  updatedAt: string;
};

const CHANGES: ReadonlySet<string> = new Set<ConnectionChange>(['reauth_required', 'revoked', 'recovered']);
const OUTBOX_PREFIX = '~change~';

const outboxTime = (ms: number): string => String(Math.max(0, Math.floor(ms))).padStart(15, '0');

function outboxRowKey(associateId: string, note: ConnectionChangeNote): string {
  return `${OUTBOX_PREFIX}${outboxTime(note.at)}~${associateId}~${note.change}`;
}

function isNotFound(error: unknown): boolean {
  return error instanceof RestError && error.statusCode === 404;
}

const STATUSES: ReadonlySet<string> = new Set<ConnectionStatus>(['active', 'reauth_required', 'revoked']);

export function connectionPartition(env: string, ctx: string): string {
  return `${env.toLowerCase()}|${ctx.toLowerCase()}`;
}

function toConnection(row: TableEntityResult<Record<string, unknown>>): Connection | undefined {
  const str = (k: string): string | undefined => (typeof row[k] === 'string' ? (row[k]) : undefined);
  const status = str('status');
  const env = str('env');
  const ctx = str('ctx');
  if (!status || !STATUSES.has(status) || !env || !ctx || typeof row.rowKey !== 'string') return undefined;
  return {
    env,
    ctx,
    associateId: row.rowKey,
    status: status as ConnectionStatus,
    webApiUrl: str('webApiUrl') ?? '',
    isAdministrator: row['isAdministrator'] === true,
    systemUserStored: row['systemUserStored'] === true,
    consentedAt: str('consentedAt') ?? '',
    consentedBy: str('consentedBy') ?? '',
    lastRefreshAt: str('lastRefreshAt'),
    lastProbeAt: str('lastProbeAt'),
    lastErrorCode: str('lastErrorCode') || undefined,
    updatedAt: str('updatedAt') ?? '',
  };
}

function storageError(error: unknown): BrokerError {
  return new BrokerError('upstream_unavailable', 'The connection store is unavailable', { cause: error, retryAfterSec: 5 });
}

export class TableConnectionStore implements ConnectionStore, ConnectionChangeOutbox {
  private readonly ensureTable: () => Promise<void>;

  constructor(
    private readonly table: TableClient,
    private readonly clock: () => number = Date.now,
  ) {
    this.ensureTable = tableOnFirstUse(table, storageError);
  }

  private now(): string {
    return new Date(this.clock()).toISOString();
  }

  async get(key: ConnectionKey, options: { signal?: AbortSignal } = {}): Promise<Connection | undefined> {
    await this.ensureTable();
    try {
      const row = await this.table.getEntity<Record<string, unknown>>(connectionPartition(key.env, key.ctx), key.associateId, options.signal ? { abortSignal: options.signal } : {});
      return toConnection(row);
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw storageError(error);
    }
  }

  private consentRow(connection: Parameters<ConnectionStore['saveConsent']>[0]): Row {
    return {
      partitionKey: connectionPartition(connection.env, connection.ctx),
      rowKey: connection.associateId,
      env: connection.env,
      ctx: connection.ctx,
      status: 'active',
      webApiUrl: connection.webApiUrl,
      isAdministrator: connection.isAdministrator,
      systemUserStored: connection.systemUserStored,
      consentedAt: connection.consentedAt,
      consentedBy: connection.consentedBy,
      lastRefreshAt: connection.consentedAt,
      updatedAt: this.now(),
    };
  }

  async saveConsent(connection: Parameters<ConnectionStore['saveConsent']>[0]): Promise<Connection> {
    await this.ensureTable();
    const row = this.consentRow(connection);
    try {
      // Replace: a new consent clears earlier failure and probe state.
      await this.table.upsertEntity(row, 'Replace');
    } catch (error) {
      throw storageError(error);
    }
    return toConnection(row as unknown as TableEntityResult<Record<string, unknown>>)!;
  }

  async saveConsentNoting(connection: Parameters<ConnectionStore['saveConsent']>[0], note: ConnectionChangeNote): Promise<Connection> {
    await this.ensureTable();
    const row = this.consentRow(connection);
    try {
      await this.table.submitTransaction([['upsert', row, 'Replace'], ['create', this.outboxRow(connection, note)]]);
    } catch (error) {
      throw storageError(error);
    }
    return toConnection(row as unknown as TableEntityResult<Record<string, unknown>>)!;
  }

  private outboxRow(key: ConnectionKey, note: ConnectionChangeNote): Record<string, unknown> & { partitionKey: string; rowKey: string } {
    return {
      partitionKey: connectionPartition(key.env, key.ctx), rowKey: outboxRowKey(key.associateId, note),
      kind: 'connection_change', env: key.env, ctx: key.ctx, associateId: key.associateId, change: note.change, at: note.at,
    };
  }

  private async merge(key: ConnectionKey, fields: Record<string, unknown>): Promise<boolean> {
    await this.ensureTable();
    try {
      await this.table.updateEntity({ partitionKey: connectionPartition(key.env, key.ctx), rowKey: key.associateId, ...fields, updatedAt: this.now() }, 'Merge', { etag: '*' });
      return true;
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return false;
      throw storageError(error);
    }
  }

  async setStatus(key: ConnectionKey, status: ConnectionStatus, lastErrorCode: string | undefined): Promise<Connection | undefined> {
    const found = await this.merge(key, { status, lastErrorCode: lastErrorCode ?? '' });
    return found ? this.get(key) : undefined;
  }

  async setStatusNoting(key: ConnectionKey, status: ConnectionStatus, lastErrorCode: string | undefined, note: ConnectionChangeNote): Promise<Connection | undefined> {
    await this.ensureTable();
    const actions: TransactionAction[] = [
      ['update', { partitionKey: connectionPartition(key.env, key.ctx), rowKey: key.associateId, status, lastErrorCode: lastErrorCode ?? '', updatedAt: this.now() }, 'Merge', { etag: '*' }],
      ['create', this.outboxRow(key, note)],
    ];
    try {
      await this.table.submitTransaction(actions);
    } catch (error) {
      // The connection is gone: nothing changed, nothing is owed (the transaction is atomic).
      if (isNotFound(error)) return undefined;
      throw storageError(error);
    }
    return this.get(key);
  }

  async pendingChanges(options: { readonly notAfter: number; readonly limit: number; readonly signal?: AbortSignal }): Promise<PendingConnectionChange[]> {
    await this.ensureTable();
    // Every partition (one per tenant): a scan of the connections table, which is small.
    const filter = odata`RowKey ge ${OUTBOX_PREFIX} and RowKey lt ${OUTBOX_PREFIX + outboxTime(options.notAfter + 1)}`;
    const out: PendingConnectionChange[] = [];
    try {
      for await (const row of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter }, ...(options.signal ? { abortSignal: options.signal } : {}) })) {
        const { env, ctx, associateId, change, at } = row;
        if (typeof env !== 'string' || typeof ctx !== 'string' || typeof associateId !== 'string' || typeof change !== 'string' || !CHANGES.has(change) || typeof at !== 'number') continue;
        out.push({ id: row.rowKey ?? '', env, ctx, associateId, change: change as ConnectionChange, at });
        if (out.length >= options.limit) break;
      }
    } catch (error) {
      throw storageError(error);
    }
    return out.sort((a, b) => a.at - b.at).slice(0, Math.max(0, options.limit));
  }

  async clearChange(change: ConnectionKey & ConnectionChangeNote): Promise<void> {
    await this.ensureTable();
    try {
      await this.table.deleteEntity(connectionPartition(change.env, change.ctx), outboxRowKey(change.associateId, change));
    } catch (error) {
      if (isNotFound(error)) return;
      throw storageError(error);
    }
  }

  async recordSuccess(key: ConnectionKey, kind: 'refresh' | 'probe', isAdministrator?: boolean): Promise<void> {
    const at = this.now();
    await this.merge(key, {
      ...(kind === 'refresh' ? { lastRefreshAt: at } : { lastProbeAt: at }),
      lastErrorCode: '',
      ...(isAdministrator === undefined ? {} : { isAdministrator }),
    });
  }

  async recordProbeFailure(key: ConnectionKey, errorCode: string): Promise<void> {
    await this.merge(key, { lastProbeAt: this.now(), lastErrorCode: errorCode });
  }

  async list(filter: { env: string; ctx?: string }): Promise<Connection[]> {
    await this.ensureTable();
    const env = filter.env.toLowerCase().replace(/'/g, "''");
    const query = filter.ctx !== undefined
      ? `PartitionKey eq '${connectionPartition(filter.env, filter.ctx).replace(/'/g, "''")}'`
      : `PartitionKey ge '${env}|' and PartitionKey lt '${env}}'`;
    const out: Connection[] = [];
    try {
      for await (const row of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: query } })) {
        const connection = toConnection(row);
        if (connection) out.push(connection);
      }
    } catch (error) {
      throw storageError(error);
    }
    return out;
  }
}
