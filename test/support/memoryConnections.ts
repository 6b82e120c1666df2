import type { Connection, ConnectionKey, ConnectionStatus, ConnectionStore } from '../../shared/connections/connection.js';

/** An in-memory ConnectionStore for unit tests of services. */
export class MemoryConnectionStore implements ConnectionStore {
  readonly rows = new Map<string, Connection>();
  reads = 0;

  private k(key: ConnectionKey): string {
    return `${key.env}|${key.ctx.toLowerCase()}|${key.associateId}`;
  }

  add(key: ConnectionKey, status: ConnectionStatus = 'active', webApiUrl = 'https://sod.superoffice.com/Cust1/api/'): void {
    this.rows.set(this.k(key), { ...key, status, webApiUrl, isAdministrator: false, systemUserStored: false, consentedAt: 'then', consentedBy: 'c', lastRefreshAt: undefined, lastProbeAt: undefined, lastErrorCode: undefined, updatedAt: 'then' });
  }

  async get(key: ConnectionKey): Promise<Connection | undefined> {
    this.reads++;
    return this.rows.get(this.k(key));
  }

  async saveConsent(c: Parameters<ConnectionStore['saveConsent']>[0]): Promise<Connection> {
    const row: Connection = { ...c, status: 'active', lastRefreshAt: undefined, lastProbeAt: undefined, lastErrorCode: undefined, updatedAt: 'now' };
    this.rows.set(this.k(c), row);
    return row;
  }

  async setStatus(key: ConnectionKey, status: ConnectionStatus, lastErrorCode: string | undefined): Promise<Connection | undefined> {
    const row = this.rows.get(this.k(key));
    if (!row) return undefined;
    const next = { ...row, status, lastErrorCode };
    this.rows.set(this.k(key), next);
    return next;
  }

  async recordSuccess(key: ConnectionKey, kind: 'refresh' | 'probe', isAdministrator?: boolean): Promise<void> {
    const row = this.rows.get(this.k(key));
    if (row) this.rows.set(this.k(key), { ...row, lastErrorCode: undefined, ...(kind === 'probe' ? { lastProbeAt: 'now' } : { lastRefreshAt: 'now' }), ...(isAdministrator === undefined ? {} : { isAdministrator }) });
  }

  async recordProbeFailure(key: ConnectionKey, errorCode: string): Promise<void> {
    const row = this.rows.get(this.k(key));
    if (row) this.rows.set(this.k(key), { ...row, lastProbeAt: 'now', lastErrorCode: errorCode });
  }

  async list(filter: { env: string; ctx?: string }): Promise<Connection[]> {
    return [...this.rows.values()].filter((c) => c.env === filter.env && (filter.ctx === undefined || c.ctx.toLowerCase() === filter.ctx.toLowerCase()));
  }
}
