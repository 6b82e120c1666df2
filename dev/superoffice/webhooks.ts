/**
 * Webhooks (docs/superoffice.md §6): definitions per tenant, the registration test POST, signed deliveries and the
 * retry/error semantics.
 *
 * - Registration (and every save) first sends a test POST (`Event`/`Entity` = "test", header
 *   `X-Hook-Test: true`); the target must answer exactly 200, otherwise the save fails with 400.
 * - TargetUrl must be https; http is allowed only for loopback hosts (this is a local simulator).
 * - A delivery cycle makes up to 3 attempts (delays `retryDelaysMs`, default +1 s then +4 s; header
 *   `X-SuperOffice-Retry` = 0, 1, 2). Any 2xx answer counts as delivered. After the 3rd failure the event is
 *   discarded and `consecutiveErrors` goes up; the next event gets a new EventId. A success resets the count.
 *   After 9 consecutive failed cycles the webhook's State becomes TooManyErrors (3) and it gets no more events
 *   until saved as Active again.
 * - `X-SuperOffice-Signature` = base64(HMAC-SHA256(key = utf8(Secret), data = the exact body bytes)), only
 *   when a Secret is set.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { dotNetTimestamp, isLoopbackHost, isRecord } from './http.js';
import type { SimulatorCounters } from './counters.js';
import type { SimulatorLog } from './http.js';
import type { TimerSet } from './timers.js';
import type { Clock } from './store.js';

export const WEBHOOK_USER_AGENT = 'NetServer-Webhook/10.3.7';
export const WEBHOOK_ATTEMPTS_PER_CYCLE = 3;
export const WEBHOOK_MAX_CONSECUTIVE_ERRORS = 9;
export const DEFAULT_WEBHOOK_RETRY_DELAYS_MS: readonly number[] = [1000, 4000];
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5000;

export const WEBHOOK_STATES = { Unknown: 0, Active: 1, Stopped: 2, TooManyErrors: 3 } as const;
export type WebhookState = keyof typeof WEBHOOK_STATES;

const CRUD_ENTITIES = [
  'activity', 'associate', 'contact', 'document', 'person', 'project', 'projectmember', 'relation', 'sale', 'salestakeholder',
];
const EXTRA_EVENTS = [
  'contact.softdeleted', 'chatsession.created', 'chatsession.changed', 'chatsession.message', 'document.edited',
  'person.consented', 'person.unconsented', 'quote.approved', 'quote.rejected', 'quote.sent', 'quote.ordered',
  'sale.completed', 'sale.lost', 'sale.sold', 'ticket.created', 'ticket.changed',
  'webhook.started', 'webhook.stopped', 'webhook.errors',
];
const KNOWN_EVENTS = new Set([...CRUD_ENTITIES.flatMap((e) => [`${e}.created`, `${e}.changed`, `${e}.deleted`]), ...EXTRA_EVENTS]);

/** True for event names SuperOffice documents (docs/superoffice.md §6), including `webhook<ID>.started|stopped|errors`. */
export function isKnownEvent(name: string): boolean {
  return KNOWN_EVENTS.has(name) || /^webhook\d+\.(started|stopped|errors)$/.test(name);
}

/** A webhook definition as posted by the app. */
export interface WebhookDefinition {
  readonly Name: string;
  readonly Events: readonly string[];
  readonly TargetUrl: string;
  readonly Secret: string;
  readonly State: WebhookState;
  readonly Type: 'webhook';
  readonly Headers: Readonly<Record<string, string>> | null;
  readonly Properties: Readonly<Record<string, unknown>> | null;
  readonly ErrorsEmail: string;
}

export interface WebhookRecord extends WebhookDefinition {
  readonly WebhookId: number;
  readonly ctx: string;
  readonly clientId: string;
  readonly registeredAt: number;
  readonly registeredBy: number;
  State: WebhookState;
  updatedAt: number;
  consecutiveErrors: number;
}

/** What the Web API returns for a webhook (WebhookEntity-like). */
export function webhookView(w: WebhookRecord): Record<string, unknown> {
  return {
    WebhookId: w.WebhookId,
    Name: w.Name,
    Events: [...w.Events],
    TargetUrl: w.TargetUrl,
    Secret: w.Secret,
    State: w.State,
    Type: w.Type,
    Headers: w.Headers,
    Properties: w.Properties,
    ErrorsEmail: w.ErrorsEmail,
    Registered: dotNetTimestamp(w.registeredAt),
    RegisteredAssociateId: w.registeredBy,
    Updated: dotNetTimestamp(w.updatedAt),
  };
}

/** The template of `GET /api/v1/Webhook/default`. */
export function defaultWebhook(now: number): Record<string, unknown> {
  return {
    WebhookId: 0,
    Name: '',
    Events: [],
    TargetUrl: '',
    Secret: '',
    State: 'Active',
    Type: 'webhook',
    Headers: {},
    Properties: {},
    ErrorsEmail: '',
    Registered: dotNetTimestamp(now),
    RegisteredAssociateId: 0,
    Updated: dotNetTimestamp(now),
  };
}

/** Validates a posted definition; returns the definition or an error text. */
export function parseWebhookDefinition(value: unknown): WebhookDefinition | string {
  if (!isRecord(value)) return 'The body must be a JSON webhook object';
  const name = value['Name'];
  if (typeof name !== 'string' || name.trim() === '' || name.length > 255) return 'Name is required (at most 255 characters)';
  const events = value['Events'];
  if (!Array.isArray(events) || events.length === 0 || !events.every((e): e is string => typeof e === 'string')) {
    return 'Events must be a non-empty array of event names';
  }
  const unknown = events.filter((e) => !isKnownEvent(e));
  if (unknown.length > 0) return `Unknown event name(s): ${unknown.slice(0, 5).join(', ')}`;
  const target = value['TargetUrl'];
  if (typeof target !== 'string') return 'TargetUrl is required';
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return 'TargetUrl is not a valid URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    return 'TargetUrl must use https';
  }
  if (url.username !== '' || url.password !== '') return 'TargetUrl must not contain credentials';
  const secret = value['Secret'] ?? '';
  if (typeof secret !== 'string') return 'Secret must be a string';
  const state = value['State'] ?? 'Active';
  if (typeof state !== 'string' || !(state === 'Active' || state === 'Stopped')) return 'State must be Active or Stopped';
  const type = value['Type'] ?? 'webhook';
  if (typeof type !== 'string' || type.toLowerCase() !== 'webhook') return 'Type must be webhook';
  const headers = value['Headers'] ?? null;
  if (headers !== null) {
    if (!isRecord(headers) || !Object.entries(headers).every(([k, v]) => typeof v === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(k))) {
      return 'Headers must map header names to strings';
    }
  }
  const properties = value['Properties'] ?? null;
  if (properties !== null && !isRecord(properties)) return 'Properties must be an object';
  const errorsEmail = value['ErrorsEmail'] ?? '';
  if (typeof errorsEmail !== 'string') return 'ErrorsEmail must be a string';
  return {
    Name: name,
    Events: [...new Set(events)],
    TargetUrl: url.toString(),
    Secret: secret,
    State: state,
    Type: 'webhook',
    Headers: headers as Record<string, string> | null,
    Properties: properties,
    ErrorsEmail: errorsEmail,
  };
}

export interface WebhookDeliveryReport {
  readonly webhookId: number;
  readonly eventId: string;
  readonly event: string;
  readonly attempts: number;
  readonly delivered: boolean;
  readonly state: WebhookState;
  readonly consecutiveErrors: number;
}

export interface WebhookServiceOptions {
  readonly now: Clock;
  readonly counters: SimulatorCounters;
  readonly log: SimulatorLog;
  readonly timers: TimerSet;
  readonly retryDelaysMs: readonly number[];
  readonly timeoutMs: number;
}

export interface FireEventInput {
  readonly ctx: string;
  readonly event: string;
  readonly primaryKey: number;
  readonly changes: readonly string[];
  readonly changedByAssociateId: number;
  readonly fieldValues: Readonly<Record<string, unknown>>;
}

export class WebhookService {
  private readonly hooks = new Map<number, WebhookRecord>();
  private nextId = 1;
  private readonly abort = new AbortController();

  constructor(private readonly options: WebhookServiceOptions) {}

  reset(): void {
    this.hooks.clear();
    this.nextId = 1;
  }

  close(): void {
    this.abort.abort();
  }

  list(ctx: string, clientId?: string): WebhookRecord[] {
    return [...this.hooks.values()].filter(
      (w) => w.ctx.toLowerCase() === ctx.toLowerCase() && (clientId === undefined || w.clientId === clientId),
    );
  }

  get(ctx: string, id: number, clientId?: string): WebhookRecord | undefined {
    const w = this.hooks.get(id);
    if (!w || w.ctx.toLowerCase() !== ctx.toLowerCase()) return undefined;
    if (clientId !== undefined && w.clientId !== clientId) return undefined;
    return w;
  }

  delete(ctx: string, id: number, clientId: string): boolean {
    const w = this.get(ctx, id, clientId);
    if (!w) return false;
    this.hooks.delete(id);
    return true;
  }

  /** Sends the test POST for a definition. Succeeds only on HTTP 200. */
  async test(def: WebhookDefinition, ctx: string, changedBy: number): Promise<{ ok: boolean; message: string }> {
    const payload = {
      EventId: randomUUID(),
      Timestamp: dotNetTimestamp(this.options.now()),
      Changes: [],
      Event: 'test',
      Entity: 'test',
      PrimaryKey: 0,
      ContextIdentifier: ctx,
      ChangedByAssociateId: changedBy,
      WebhookName: def.Name,
      FieldValues: {},
    };
    this.options.counters.increment('webhookTest');
    const outcome = await this.post(def, payload, 0, true);
    if (outcome.status === 200) return { ok: true, message: 'Test POST answered 200 OK' };
    const what = outcome.status === undefined ? outcome.error ?? 'no response' : `HTTP ${outcome.status}`;
    return { ok: false, message: `Webhook test POST to the target failed: ${what}` };
  }

  /** Saves (creates or replaces) a webhook after a successful test POST. */
  async save(
    ctx: string,
    clientId: string,
    def: WebhookDefinition,
    changedBy: number,
    existingId?: number,
  ): Promise<{ ok: true; webhook: WebhookRecord } | { ok: false; message: string }> {
    const test = await this.test(def, ctx, changedBy);
    if (!test.ok) return { ok: false, message: test.message };
    const now = this.options.now();
    const previous = existingId === undefined ? undefined : this.get(ctx, existingId, clientId);
    const record: WebhookRecord = {
      ...def,
      WebhookId: previous?.WebhookId ?? this.nextId++,
      ctx,
      clientId,
      registeredAt: previous?.registeredAt ?? now,
      registeredBy: previous?.registeredBy ?? changedBy,
      updatedAt: now,
      consecutiveErrors: 0,
    };
    this.hooks.set(record.WebhookId, record);
    this.options.log('webhook saved', { ctx, webhookId: record.WebhookId });
    return { ok: true, webhook: record };
  }

  /** Delivers an event to every Active webhook of the tenant subscribed to it; resolves after all cycles end. */
  async fire(input: FireEventInput): Promise<WebhookDeliveryReport[]> {
    const targets = this.list(input.ctx).filter((w) => w.State === 'Active' && w.Events.includes(input.event));
    return Promise.all(targets.map((w) => this.deliver(w, input)));
  }

  private async deliver(w: WebhookRecord, input: FireEventInput): Promise<WebhookDeliveryReport> {
    const eventId = randomUUID();
    const payload = {
      EventId: eventId,
      Timestamp: dotNetTimestamp(this.options.now()),
      Changes: [...input.changes],
      Event: input.event,
      Entity: input.event.split('.')[0] ?? input.event,
      PrimaryKey: input.primaryKey,
      ContextIdentifier: w.ctx,
      ChangedByAssociateId: input.changedByAssociateId,
      WebhookName: w.Name,
      FieldValues: { ...input.fieldValues },
    };
    let attempts = 0;
    let delivered = false;
    for (let retry = 0; retry < WEBHOOK_ATTEMPTS_PER_CYCLE; retry += 1) {
      if (retry > 0) {
        const delay = this.options.retryDelaysMs[retry - 1] ?? this.options.retryDelaysMs.at(-1) ?? 0;
        if (!(await this.options.timers.sleep(delay))) break;
      }
      attempts += 1;
      this.options.counters.increment('webhookDelivery');
      const outcome = await this.post(w, payload, retry, false);
      if (outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300) {
        delivered = true;
        break;
      }
    }
    if (delivered) {
      w.consecutiveErrors = 0;
    } else if (!this.abort.signal.aborted) {
      w.consecutiveErrors += 1;
      if (w.consecutiveErrors >= WEBHOOK_MAX_CONSECUTIVE_ERRORS && w.State === 'Active') {
        w.State = 'TooManyErrors';
        this.options.log('webhook disabled: too many errors', { ctx: w.ctx, webhookId: w.WebhookId });
      }
    }
    return {
      webhookId: w.WebhookId,
      eventId,
      event: input.event,
      attempts,
      delivered,
      state: w.State,
      consecutiveErrors: w.consecutiveErrors,
    };
  }

  private async post(
    def: WebhookDefinition,
    payload: Record<string, unknown>,
    retry: number,
    isTest: boolean,
  ): Promise<{ status?: number; error?: string }> {
    const body = Buffer.from(JSON.stringify(payload), 'utf8');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(def.Headers ?? {})) headers[k] = v;
    headers['Content-Type'] = 'application/json; charset=utf-8';
    headers['User-Agent'] = WEBHOOK_USER_AGENT;
    headers['X-SuperOffice-Event'] = String(payload['Event']);
    headers['X-SuperOffice-EventId'] = String(payload['EventId']);
    headers['X-SuperOffice-Retry'] = String(retry);
    if (isTest) headers['X-Hook-Test'] = 'true';
    if (def.Secret !== '') {
      headers['X-SuperOffice-Signature'] = createHmac('sha256', Buffer.from(def.Secret, 'utf8')).update(body).digest('base64');
    }
    try {
      const response = await fetch(def.TargetUrl, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      await response.body?.cancel().catch(() => undefined);
      return { status: response.status };
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      return { error: name === 'TimeoutError' ? 'timeout' : 'connection failed' };
    }
  }
}
