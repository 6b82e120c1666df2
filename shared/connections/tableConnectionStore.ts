import { RestError, type TableClient, type TableEntityResult } from '@azure/data-tables';
import { BrokerError } from '../errors/errors.js';
import { tableOnFirstUse } from '../storage/storage.js';
import type { Connection, ConnectionKey, ConnectionStatus, ConnectionStore } from './connection.js';

/**
 * Connection records in the `connections` table (docs/architecture.md §4): PartitionKey = `{env}|{ctx}`
 * (lower case), RowKey = associate id. Holds status and metadata only; the refresh token is in Key Vault.
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

export class TableConnectionStore implements ConnectionStore {
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

  async saveConsent(connection: Omit<Connection, 'status' | 'lastRefreshAt' | 'lastProbeAt' | 'lastErrorCode' | 'updatedAt'>): Promise<Connection> {
    await this.ensureTable();
    const row: Row = {
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
    try {
      // Replace: a new consent clears earlier failure and probe state.
      await this.table.upsertEntity(row, 'Replace');
    } catch (error) {
      throw storageError(error);
    }
    return toConnection(row as unknown as TableEntityResult<Record<string, unknown>>)!;
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
