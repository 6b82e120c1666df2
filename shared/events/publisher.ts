import type { ActionRecord } from '../actions/actionStore.js';
import type { ActionResultNotifier } from '../actions/actionService.js';
import type { HmacKeyring } from '../actions/hmacKey.js';
import type { Logger } from '../log/logger.js';
import type { WebhookPayload } from '../webhooks/payload.js';
import { cloudEvent, queueMessageOf, type CloudEvent } from './cloudEvents.js';
import { grantIdOf, type EventGrantStore } from './grants.js';
import { subscribersFor, subscribersOfCaller, type Subscriber, type SubscriberConfig } from './subscribers.js';

/**
 * Events out (docs/acting.md §6): verified SuperOffice events, connection changes and action results
 * go to subscriber queues as CloudEvents. Delivery is at-least-once: a failed send throws (the webhook
 * answers 5xx so SuperOffice sends again, an action's notification is retried with the message), and
 * the CloudEvents `id` and the grant id are the same on every redelivery.
 */

/** Sends one message text to a named queue of the broker's storage account. */
export type QueueSender = (queue: string, text: string) => Promise<void>;

export type { ConnectionChange } from '../connections/connection.js';
import type { ConnectionChange } from '../connections/connection.js';

export interface EventPublisherOptions {
  readonly environment: string;
  readonly config: SubscriberConfig;
  readonly send: QueueSender;
  readonly grants: Pick<EventGrantStore, 'put'>;
  readonly keyring: HmacKeyring;
  readonly logger: Logger;
  readonly clock?: () => number;
}

export class EventPublisher implements ActionResultNotifier {
  private readonly clock: () => number;

  constructor(private readonly options: EventPublisherOptions) {
    this.clock = options.clock ?? Date.now;
  }

  private source(ctx: string): string {
    return `/superoffice/${this.options.environment}/${ctx}`;
  }

  /**
   * Delivers a verified webhook event to every subscriber the rules name. Each subscriber gets its own
   * event grant for `ChangedByAssociateId` (when SuperOffice names a user). Returns the subscribers.
   */
  async webhookEvent(ctx: string, payload: WebhookPayload, receivedAt: Date): Promise<string[]> {
    const type = payload.Event.toLowerCase();
    const targets = subscribersFor(this.options.config, ctx, type);
    const user = payload.ChangedByAssociateId !== undefined && payload.ChangedByAssociateId > 0 ? String(payload.ChangedByAssociateId) : undefined;
    await Promise.all(targets.map(async (subscriber) => {
      let grant: string | undefined;
      if (user !== undefined) {
        grant = await grantIdOf(this.options.keyring, payload.EventId, subscriber.name);
        await this.options.grants.put({
          id: grant, subscriber: subscriber.name, identity: subscriber.identity, env: this.options.environment, ctx, associateId: user, eventId: payload.EventId, createdAt: receivedAt,
        });
      }
      const entity = payload.Entity ?? type.split('.')[0] ?? 'unknown';
      const event = cloudEvent({
        id: `${payload.EventId.toLowerCase()}:${subscriber.name}`,
        source: this.source(ctx),
        type: `superoffice.${type}`,
        subject: `${ctx}/${entity}/${payload.PrimaryKey ?? 0}`,
        time: receivedAt,
        data: payload,
        ...(grant !== undefined ? { grant } : {}),
      });
      await this.deliver(subscriber, event);
    }));
    return targets.map((s) => s.name);
  }

  /** A connection became `reauth_required`, was revoked, or recovered. */
  async connectionChanged(ctx: string, associateId: string, change: ConnectionChange, at: Date = new Date(this.clock())): Promise<string[]> {
    const type = `connection.${change}`;
    const targets = subscribersFor(this.options.config, ctx, type);
    const event = (s: Subscriber): CloudEvent => cloudEvent({
      id: `connection:${ctx}:${associateId}:${change}:${at.getTime()}:${s.name}`,
      source: this.source(ctx),
      type: `broker.${type}`,
      subject: `${ctx}/associate/${associateId}`,
      time: at,
      data: { env: this.options.environment, ctx, associateId, status: change === 'recovered' ? 'active' : change },
    });
    await Promise.all(targets.map((s) => this.deliver(s, event(s))));
    return targets.map((s) => s.name);
  }

  /** An action that asked for `notify` finished: its creator's subscribers get the result (without the response body). */
  async actionFinished(record: ActionRecord): Promise<void> {
    const targets = subscribersOfCaller(this.options.config, record);
    await Promise.all(targets.map((s) => this.deliver(s, cloudEvent({
      id: `action:${record.id}:${record.state}:${s.name}`,
      source: this.source(record.ctx),
      type: `broker.action.${record.state}`,
      subject: `${record.ctx}/action/${record.id}`,
      time: record.finishedAt ?? new Date(this.clock()),
      data: {
        id: record.id, state: record.state, ctx: record.ctx, actAs: record.actAs, request: { method: record.method, path: record.path },
        attempts: record.attempts,
        ...(record.superOfficeStatus !== undefined ? { superOfficeStatus: record.superOfficeStatus } : {}),
        ...(record.errorCode !== undefined ? { errorCode: record.errorCode } : {}),
        location: `/api/actions/${record.id}`,
      },
    }))));
  }

  private async deliver(subscriber: Subscriber, event: CloudEvent): Promise<void> {
    await this.options.send(subscriber.queue, queueMessageOf(event));
    this.options.logger.info('events.delivered', { subscriber: subscriber.name, type: event.type });
  }
}
