import type { Connection, ConnectionKey, ConnectionStatus, ConnectionStore } from '../connections/connection.js';
import type { Logger } from '../log/logger.js';
import type { ConnectionChange, EventPublisher } from './publisher.js';

/**
 * Connection changes as events (docs/acting.md §6): a `ConnectionStore` that tells the event publisher
 * when a connection becomes `reauth_required` or `revoked`, or becomes `active` again (a new consent, or a
 * refresh that works again) — wherever in the broker the change is made (token refresh, proxy 401, probe,
 * revoke, consent). Publishing happens after the store's write; a publishing failure is logged and never
 * fails the write (the connection's state is the record; events are notifications).
 */

/** The change a status transition means, if any. Pure. */
export function connectionChangeOf(previous: ConnectionStatus | undefined, next: ConnectionStatus): ConnectionChange | undefined {
  if (previous === next) return undefined;
  if (next === 'reauth_required' || next === 'revoked') return next;
  return previous === undefined ? undefined : 'recovered';
}

export class NotifyingConnectionStore implements ConnectionStore {
  constructor(
    private readonly inner: ConnectionStore,
    private readonly publisher: () => Pick<EventPublisher, 'connectionChanged'>,
    private readonly logger: Logger,
  ) {}

  get(key: ConnectionKey, options?: { signal?: AbortSignal }): Promise<Connection | undefined> {
    return this.inner.get(key, options);
  }

  async saveConsent(connection: Parameters<ConnectionStore['saveConsent']>[0]): Promise<Connection> {
    const previous = await this.inner.get(connection);
    const saved = await this.inner.saveConsent(connection);
    await this.publish(saved, connectionChangeOf(previous?.status, saved.status));
    return saved;
  }

  async setStatus(key: ConnectionKey, status: ConnectionStatus, lastErrorCode: string | undefined): Promise<Connection | undefined> {
    const previous = await this.inner.get(key);
    const updated = await this.inner.setStatus(key, status, lastErrorCode);
    if (updated !== undefined) await this.publish(updated, connectionChangeOf(previous?.status, status));
    return updated;
  }

  recordSuccess(key: ConnectionKey, kind: 'refresh' | 'probe', isAdministrator?: boolean): Promise<void> {
    return this.inner.recordSuccess(key, kind, isAdministrator);
  }

  recordProbeFailure(key: ConnectionKey, errorCode: string): Promise<void> {
    return this.inner.recordProbeFailure(key, errorCode);
  }

  list(filter: { env: string; ctx?: string }): Promise<Connection[]> {
    return this.inner.list(filter);
  }

  private async publish(connection: Connection, change: ConnectionChange | undefined): Promise<void> {
    if (change === undefined) return;
    try {
      await this.publisher().connectionChanged(connection.ctx, connection.associateId, change);
    } catch (error) {
      this.logger.warn('events.connection_change_not_delivered', { ctx: connection.ctx, change, errorName: error instanceof Error ? error.name : typeof error });
    }
  }
}
