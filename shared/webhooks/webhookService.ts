import { randomBytes } from 'node:crypto';
import { BrokerError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { parseProxyPath } from '../proxy/path.js';
import type { ProxyService } from '../proxy/proxyService.js';
import { SecretNotFoundError } from '../secrets/errors.js';
import { Secret } from '../secrets/secret.js';
import type { SecretStore } from '../secrets/store.js';
import type { EventPublisher } from '../events/publisher.js';
import type { WebhookDedupeStore } from './dedupe.js';
import { readWebhookJson, webhookPayloadSchema, type WebhookJsonRefusal } from './payload.js';
import { verifyWebhookSignature, webhookSecretName } from './signature.js';

/**
 * SuperOffice webhooks (docs/acting.md §5; docs/superoffice.md §6): receiving signed events and
 * registering, listing and deleting the broker's webhooks through the tenant's system user.
 *
 * Receiving, in this order: the raw body is bounded; the webhook's secret is read from Key Vault
 * (`so-wh-…`); `X-SuperOffice-Signature` must verify over the raw bytes (constant time) before anything
 * is parsed — a missing or wrong signature, or an unknown webhook, is 401; then the JSON is read
 * strictly (UTF-8 without BOM, one JSON text, no repeated member, bounded depth); the `test` event is
 * answered 200 and ignored; the body must be a notification whose `ContextIdentifier` is the route's
 * tenant — a verified body that is not is refused with its reason (400; the audit record names it); a
 * repeated `EventId` already delivered has no effect; otherwise the event goes to the subscribers.
 */

/** Largest webhook body accepted (SuperOffice's payloads are a few KiB). */
export const MAX_WEBHOOK_BODY_BYTES = 256 * 1024;
/** SuperOffice's webhook states (docs/superoffice.md §6). */
const WEBHOOK_STATE_NAMES: Readonly<Record<number, string>> = { 0: 'Unknown', 1: 'Active', 2: 'Stopped', 3: 'TooManyErrors' };

/** Why a body whose signature verified is refused: not a JSON text (`not_utf8`, `not_json`), or not a notification for this tenant. */
export type WebhookPayloadRefusal = WebhookJsonRefusal | 'not_a_notification' | 'wrong_tenant';

export type ReceiveResult =
  | { readonly status: 200; readonly reason: 'test' | 'duplicate' | 'delivered'; readonly eventId?: string; readonly event?: string; readonly subscribers?: readonly string[]; readonly changedBy?: string }
  | { readonly status: 401; readonly reason: 'signature_missing' | 'signature_invalid' | 'webhook_unknown' }
  | { readonly status: 400; readonly reason: WebhookPayloadRefusal };

export interface RegisteredWebhook {
  readonly id: number;
  readonly name: string;
  readonly events: readonly string[];
  readonly state: string;
  readonly targetUrl: string;
}

export interface WebhookServiceOptions {
  readonly environment: string;
  readonly secrets: SecretStore;
  readonly dedupe: WebhookDedupeStore;
  readonly publisher: Pick<EventPublisher, 'webhookEvent'>;
  readonly proxy: Pick<ProxyService, 'call'>;
  /** The broker's public origin (`https://<host>`), from which webhook target URLs are built. */
  readonly publicOrigin: string;
  readonly logger: Logger;
  readonly clock?: () => number;
}

export class WebhookService {
  private readonly clock: () => number;

  constructor(private readonly options: WebhookServiceOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** The URL SuperOffice posts a webhook's events to. */
  targetUrl(ctx: string, name: string): string {
    return `${this.options.publicOrigin}/api/webhooks/superoffice/${encodeURIComponent(ctx)}/${encodeURIComponent(name)}`;
  }

  /** Handles one delivery. A verified but unusable body is a 400 result with its reason; storage and Key Vault failures throw (5xx: SuperOffice retries). */
  async receive(input: { readonly ctx: string; readonly name: string; readonly body: Uint8Array; readonly signature: string | null }): Promise<ReceiveResult> {
    if (input.body.byteLength > MAX_WEBHOOK_BODY_BYTES) throw new BrokerError('payload_too_large', `A webhook body may be at most ${MAX_WEBHOOK_BODY_BYTES} bytes`);
    if (input.signature === null || input.signature.trim() === '') return { status: 401, reason: 'signature_missing' };
    let secret: Secret;
    try {
      secret = (await this.options.secrets.get(webhookSecretName(this.options.environment, input.ctx, input.name))).value;
    } catch (error) {
      if (error instanceof SecretNotFoundError) return { status: 401, reason: 'webhook_unknown' };
      throw error;
    }
    if (!verifyWebhookSignature(input.body, input.signature, secret)) return { status: 401, reason: 'signature_invalid' };

    const read = readWebhookJson(input.body);
    if (!read.ok) return { status: 400, reason: read.reason };
    const json = read.value;
    const event = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['Event'] : undefined;
    if (event === 'test') return { status: 200, reason: 'test', event: 'test' };
    const parsed = webhookPayloadSchema.safeParse(json);
    if (!parsed.success) return { status: 400, reason: 'not_a_notification' };
    const payload = parsed.data;
    if (payload.ContextIdentifier !== input.ctx) return { status: 400, reason: 'wrong_tenant' };
    const changedBy = payload.ChangedByAssociateId !== undefined ? String(payload.ChangedByAssociateId) : undefined;
    const base = { eventId: payload.EventId, event: payload.Event, ...(changedBy !== undefined ? { changedBy } : {}) };

    const now = new Date(this.clock());
    const state = await this.options.dedupe.claim(input.ctx, payload.EventId, now);
    if (state === 'delivered') return { status: 200, reason: 'duplicate', ...base };
    // `pending`: an earlier delivery of this EventId failed half-way; deliver again (stable ids).
    const subscribers = await this.options.publisher.webhookEvent(input.ctx, payload, now);
    await this.options.dedupe.markDelivered(input.ctx, payload.EventId);
    return { status: 200, reason: 'delivered', ...base, subscribers };
  }

  /**
   * Creates a webhook at SuperOffice as the tenant's system user (`POST v1/Webhook`) with a new random
   * secret, stored in Key Vault first (SuperOffice sends a signed test POST while saving).
   */
  async register(ctx: string, name: string, events: readonly string[], call: { readonly signal: AbortSignal; readonly deadline: number; readonly correlationId?: string }): Promise<RegisteredWebhook> {
    const secret = randomBytes(32).toString('base64url');
    await this.options.secrets.set(webhookSecretName(this.options.environment, ctx, name), new Secret(secret), { contentType: 'webhook-secret', ...(call.correlationId !== undefined ? { correlationId: call.correlationId } : {}) });
    const body = { Name: name, Events: [...events], TargetUrl: this.targetUrl(ctx, name), Secret: secret, State: 'Active', Type: 'webhook' };
    const answer = await this.systemCall(ctx, 'POST', 'v1/Webhook', call, body);
    return this.viewOf(answer);
  }

  /** The tenant's webhooks that point at this broker. */
  async list(ctx: string, call: { readonly signal: AbortSignal; readonly deadline: number }): Promise<RegisteredWebhook[]> {
    const answer = await this.systemCall(ctx, 'GET', 'v1/Webhook', call);
    const prefix = `${this.options.publicOrigin}/api/webhooks/superoffice/${encodeURIComponent(ctx)}/`;
    return (Array.isArray(answer) ? answer : []).map((w) => this.viewOf(w)).filter((w) => w.targetUrl.startsWith(prefix));
  }

  /** Deletes one of the broker's webhooks (by name) at SuperOffice and disables its secret. */
  async remove(ctx: string, name: string, call: { readonly signal: AbortSignal; readonly deadline: number }): Promise<RegisteredWebhook> {
    const mine = (await this.list(ctx, call)).find((w) => w.name === name && w.targetUrl === this.targetUrl(ctx, name));
    if (mine === undefined) throw new BrokerError('not_found', 'This broker has no webhook of that name');
    await this.systemCall(ctx, 'DELETE', `v1/Webhook/${mine.id}`, call);
    try {
      await this.options.secrets.disable(webhookSecretName(this.options.environment, ctx, mine.name));
    } catch (error) {
      if (!(error instanceof SecretNotFoundError)) throw error;
    }
    return mine;
  }

  private async systemCall(ctx: string, method: 'GET' | 'POST' | 'DELETE', path: string, call: { signal: AbortSignal; deadline: number }, body?: unknown): Promise<unknown> {
    const bytes = body === undefined ? undefined : new Uint8Array(Buffer.from(JSON.stringify(body), 'utf8'));
    const response = await this.options.proxy.call({
      ctx,
      actAs: { kind: 'system' },
      method,
      path: parseProxyPath(path),
      headers: new Headers({ accept: 'application/json', ...(bytes !== undefined ? { 'content-type': 'application/json' } : {}) }),
      ...(bytes !== undefined ? { body: bytes } : {}),
      proxyPrefix: `/api/superoffice/${ctx}/system/`,
      deadline: call.deadline,
      signal: call.signal,
    });
    if (response.status === 404 && method === 'DELETE') throw new BrokerError('not_found', 'SuperOffice has no such webhook');
    if (response.status >= 300) {
      throw new BrokerError('upstream_bad_response', `SuperOffice answered ${response.status} to ${method} ${path}`, { extensions: { superOfficeStatus: response.status } });
    }
    if (response.body.byteLength === 0) return undefined;
    try {
      return JSON.parse(response.body.toString('utf8')) as unknown;
    } catch {
      throw new BrokerError('upstream_bad_response', 'SuperOffice answered with something that is not JSON');
    }
  }

  private viewOf(value: unknown): RegisteredWebhook {
    const w = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    const state = w['State'];
    return {
      id: typeof w['WebhookId'] === 'number' ? w['WebhookId'] : 0,
      name: typeof w['Name'] === 'string' ? w['Name'] : '',
      events: Array.isArray(w['Events']) ? w['Events'].filter((e): e is string => typeof e === 'string') : [],
      state: typeof state === 'string' ? state : typeof state === 'number' ? (WEBHOOK_STATE_NAMES[state] ?? 'Unknown') : 'Unknown',
      targetUrl: typeof w['TargetUrl'] === 'string' ? w['TargetUrl'] : '',
    };
  }
}

/** The webhooks that SuperOffice has stopped (state other than Active), for the probe's report. Pure. */
export function disabledWebhooks(webhooks: readonly RegisteredWebhook[]): RegisteredWebhook[] {
  return webhooks.filter((w) => w.state !== 'Active');
}
