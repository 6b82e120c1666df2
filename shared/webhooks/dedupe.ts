import { RestError, type TableClient } from '@azure/data-tables';
import { BrokerError } from '../errors/errors.js';
import { tableOnFirstUse } from '../storage/storage.js';

/**
 * Webhook event de-duplication (docs/acting.md §5): a row per (tenant, `EventId`) in `webhookevents`,
 * inserted if absent when a verified event arrives and marked `delivered` once every subscriber queue
 * took it. A repeated `EventId` whose row is `delivered` has no effect; one whose earlier delivery failed
 * half-way is delivered again (at-least-once; the CloudEvents ids are stable). Rows expire after a day,
 * far longer than SuperOffice's retries (+1 s, +4 s).
 */

export const WEBHOOK_EVENTS_TABLE = 'webhookevents';
export const WEBHOOK_EVENT_RETENTION_MS = 24 * 3600_000;

export type DedupeState = 'new' | 'pending' | 'delivered';

export interface WebhookDedupeStore {
  /** `new` the first time; `pending` if seen but not delivered; `delivered` if done. */
  claim(ctx: string, eventId: string, now: Date): Promise<DedupeState>;
  markDelivered(ctx: string, eventId: string): Promise<void>;
}

function dedupeError(error: unknown): BrokerError {
  return new BrokerError('upstream_unavailable', 'The webhook event store is unavailable', { cause: error, retryAfterSec: 5 });
}

export class TableWebhookDedupeStore implements WebhookDedupeStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ensureTable = tableOnFirstUse(table, dedupeError);
  }

  async claim(ctx: string, eventId: string, now: Date): Promise<DedupeState> {
    await this.ensureTable();
    const partitionKey = ctx.toLowerCase();
    const rowKey = eventId.toLowerCase();
    try {
      await this.table.createEntity({ partitionKey, rowKey, state: 'pending', receivedAt: now, expiresAt: new Date(now.getTime() + WEBHOOK_EVENT_RETENTION_MS) });
      return 'new';
    } catch (error) {
      if (!(error instanceof RestError && error.statusCode === 409)) throw dedupeError(error);
    }
    try {
      const row = await this.table.getEntity<{ state?: string }>(partitionKey, rowKey);
      return row.state === 'delivered' ? 'delivered' : 'pending';
    } catch (error) {
      throw dedupeError(error);
    }
  }

  async markDelivered(ctx: string, eventId: string): Promise<void> {
    await this.ensureTable();
    try {
      await this.table.updateEntity({ partitionKey: ctx.toLowerCase(), rowKey: eventId.toLowerCase(), state: 'delivered' }, 'Merge');
    } catch (error) {
      throw dedupeError(error);
    }
  }
}

export class MemoryWebhookDedupeStore implements WebhookDedupeStore {
  readonly rows = new Map<string, 'pending' | 'delivered'>();

  async claim(ctx: string, eventId: string): Promise<DedupeState> {
    const key = `${ctx.toLowerCase()}|${eventId.toLowerCase()}`;
    const state = this.rows.get(key);
    if (state === undefined) {
      this.rows.set(key, 'pending');
      return 'new';
    }
    return state;
  }

  async markDelivered(ctx: string, eventId: string): Promise<void> {
    this.rows.set(`${ctx.toLowerCase()}|${eventId.toLowerCase()}`, 'delivered');
  }
}
