import type {
  Connection, ConnectionChange, ConnectionChangeNote, ConnectionChangeOutbox, ConnectionKey, ConnectionStatus, ConnectionStore,
} from '../connections/connection.js';
import type { Logger } from '../log/logger.js';
import type { EventPublisher } from './publisher.js';

/**
 * Connection changes as events (docs/acting.md §6): a `ConnectionStore` that tells the event publisher
 * when a connection becomes `reauth_required` or `revoked`, or becomes `active` again (a new consent, or a
 * refresh that works again) — wherever in the broker the change is made (token refresh, proxy 401, probe,
 * revoke, consent). Delivery is at-least-once: with an outbox (the Table store), the change is noted in
 * the same atomic write as the status; the notification is sent right after the write and the note
 * cleared; if sending fails, or the instance stops first, the note stays and `deliverPendingChanges`
 * (timer `connectionEvents`, every minute) sends it later with the same CloudEvents id. A publishing
 * failure never fails the write (the connection's state is the record; events are notifications).
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
    /** Where changes are noted atomically with the write (without one, a failed send is only logged). */
    private readonly outbox?: Pick<ConnectionChangeOutbox, 'saveConsentNoting' | 'setStatusNoting' | 'clearChange'>,
    private readonly clock: () => number = Date.now,
  ) {}

  get(key: ConnectionKey, options?: { signal?: AbortSignal }): Promise<Connection | undefined> {
    return this.inner.get(key, options);
  }

  async saveConsent(connection: Parameters<ConnectionStore['saveConsent']>[0]): Promise<Connection> {
    const previous = await this.inner.get(connection);
    const note = this.noteOf(previous?.status, 'active');
    const saved = note !== undefined && this.outbox !== undefined
      ? await this.outbox.saveConsentNoting(connection, note)
      : await this.inner.saveConsent(connection);
    if (note !== undefined) await this.publish(saved, note);
    return saved;
  }

  async setStatus(key: ConnectionKey, status: ConnectionStatus, lastErrorCode: string | undefined): Promise<Connection | undefined> {
    const previous = await this.inner.get(key);
    // No record, no change: a status is never set on a connection that does not exist.
    const note = previous === undefined ? undefined : this.noteOf(previous.status, status);
    const updated = note !== undefined && this.outbox !== undefined
      ? await this.outbox.setStatusNoting(key, status, lastErrorCode, note)
      : await this.inner.setStatus(key, status, lastErrorCode);
    if (updated !== undefined && note !== undefined) await this.publish(updated, note);
    return updated;
  }

  private noteOf(previous: ConnectionStatus | undefined, next: ConnectionStatus): ConnectionChangeNote | undefined {
    const change = connectionChangeOf(previous, next);
    return change === undefined ? undefined : { change, at: this.clock() };
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

  private async publish(connection: Connection, note: ConnectionChangeNote): Promise<void> {
    const { change } = note;
    try {
      await this.publisher().connectionChanged(connection.ctx, connection.associateId, change, new Date(note.at));
    } catch (error) {
      // The note stays in the outbox; the `connectionEvents` timer sends it later.
      this.logger.warn('events.connection_change_not_delivered', { ctx: connection.ctx, change, pending: this.outbox !== undefined, errorName: error instanceof Error ? error.name : typeof error });
      return;
    }
    if (this.outbox === undefined) return;
    try {
      await this.outbox.clearChange({ env: connection.env, ctx: connection.ctx, associateId: connection.associateId, change, at: note.at });
    } catch (error) {
      // Sent but not cleared: the timer sends it once more with the same id (at-least-once).
      this.logger.warn('events.connection_change_not_cleared', { ctx: connection.ctx, change, errorName: error instanceof Error ? error.name : typeof error });
    }
  }
}

export interface PendingDeliveryResult {
  readonly sent: number;
  readonly failed: number;
}

/**
 * Sends the notes older than `minAgeMs` (the write's own attempt had its chance) and clears each one
 * sent. A note that fails stays for the next run. Events keep the id of the first attempt.
 */
export async function deliverPendingChanges(options: {
  readonly outbox: Pick<ConnectionChangeOutbox, 'pendingChanges' | 'clearChange'>;
  readonly publisher: Pick<EventPublisher, 'connectionChanged'>;
  readonly logger: Logger;
  readonly now: number;
  readonly minAgeMs?: number;
  readonly limit?: number;
  readonly signal?: AbortSignal;
}): Promise<PendingDeliveryResult> {
  const pending = await options.outbox.pendingChanges({ notAfter: options.now - (options.minAgeMs ?? 30_000), limit: options.limit ?? 500, ...(options.signal ? { signal: options.signal } : {}) });
  let sent = 0;
  let failed = 0;
  for (const note of pending) {
    try {
      await options.publisher.connectionChanged(note.ctx, note.associateId, note.change, new Date(note.at));
      await options.outbox.clearChange(note);
      sent++;
    } catch (error) {
      failed++;
      options.logger.warn('events.connection_change_retry_failed', { ctx: note.ctx, change: note.change, errorName: error instanceof Error ? error.name : typeof error });
    }
  }
  return { sent, failed };
}
