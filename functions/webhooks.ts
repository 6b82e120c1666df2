import * as z from 'zod/mini';
import { BrokerError, type ErrorCode } from '../shared/errors/errors.js';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { described } from '../shared/http/schemas.js';
import { registerTimer } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';
import { TenantId } from '../shared/superoffice/identifiers.js';
import { disabledWebhooks, MAX_WEBHOOK_BODY_BYTES, type WebhookPayloadRefusal } from '../shared/webhooks/webhookService.js';
import { parseSubscriberConfig } from '../shared/events/subscribers.js';

/**
 * SuperOffice webhooks (docs/acting.md §5, issue 13 points 4 and 7):
 * - `POST /api/webhooks/superoffice/{ctx}/{webhookName}`: SuperOffice's deliveries, anonymous at the HTTP
 *   level and authenticated by `X-SuperOffice-Signature` over the raw body;
 * - `POST|GET /api/webhooks/superoffice/{ctx}` and `DELETE …/{webhookName}` (operation `connections.admin`,
 *   the whole tenant): register, list and delete the broker's webhooks as the tenant's system user;
 * - the daily timer `webhooksProbe` reports webhooks SuperOffice has stopped.
 */

const Ctx = described(TenantId, 'The SuperOffice tenant.');
const WebhookName = described(z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/)), 'The webhook name (letters, digits, - and _).');
const EventName = z.string().check(z.regex(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/));

const Webhook = z.strictObject({
  id: z.int(),
  name: z.string(),
  events: z.array(z.string()),
  state: described(z.string(), "SuperOffice's state: Active, Stopped or TooManyErrors."),
  targetUrl: z.string(),
});

/** The problem detail of a signed body that is JSON but not a usable notification. */
const WEBHOOK_REFUSALS: Readonly<Record<Exclude<WebhookPayloadRefusal, 'not_utf8' | 'not_json'>, string>> = {
  duplicate_key: 'The webhook body names a member twice',
  too_deep: 'The webhook body is nested too deeply',
  not_a_notification: 'The webhook body is not a SuperOffice notification',
  wrong_tenant: 'ContextIdentifier does not name this tenant',
};

// `not_connected`: no administrator of the tenant consented to the system user (found by `npm run fuzz`).
const ADMIN_ERRORS: readonly ErrorCode[] = ['not_found', 'not_connected', 'upstream_bad_response', 'upstream_unavailable', 'upstream_timeout', 'tenant_unavailable', 'secret_store_unavailable', 'secret_store_throttled', 'secret_conflict'];

/** `POST /api/webhooks/superoffice/{ctx}/{webhookName}`: one signed delivery from SuperOffice. */
export const receiveWebhookHandler = registerEndpoint({
  name: 'webhookReceive',
  action: 'webhooks.receive',
  method: 'POST',
  route: 'webhooks/superoffice/{ctx}/{webhookName}',
  tag: 'webhooks',
  summary: 'SuperOffice webhook delivery',
  description: "Anonymous; authenticated by `X-SuperOffice-Signature` (base64 HMAC-SHA256 of the raw body with the webhook's secret), checked before the body is parsed: missing or wrong → 401. A signed body that is not UTF-8 JSON → 400 `invalid_json`; one that repeats a member, nests deeper than 32, is not a notification or names another tenant → 400 `validation_failed` (the audit record names the reason). The `test` event → 200. A repeated `EventId` → 200 without effect. `ContextIdentifier` must be `{ctx}`. Verified events go to the subscriber queues the rules name, as CloudEvents.",
  access: { kind: 'anonymous' },
  failClosedAudit: true,
  maxBodyBytes: MAX_WEBHOOK_BODY_BYTES,
  request: {
    path: z.strictObject({ ctx: Ctx, webhookName: WebhookName }),
    headers: z.strictObject({ 'x-superoffice-signature': z.optional(z.string().check(z.maxLength(128))) }),
    rawBody: { description: 'The notification JSON exactly as SuperOffice sent it.' },
  },
  responses: { 200: { description: 'Received.', body: z.strictObject({ received: z.enum(['test', 'duplicate', 'delivered']) }) } },
  errors: ['invalid_json', 'unauthenticated', 'upstream_unavailable', 'secret_store_unavailable', 'secret_store_throttled'],
  async handler({ path, headers, body, scope }) {
    scope.annotate({ subject: { env: scope.runtime.config.superOffice.environment, ctx: path.ctx }, target: `webhook ${path.webhookName}` });
    const result = await scope.runtime.webhooks.receive({ ctx: path.ctx, name: path.webhookName, body, signature: headers['x-superoffice-signature'] ?? null });
    if (result.status === 401) {
      scope.annotate({ reason: result.reason });
      throw new BrokerError('unauthenticated', 'The webhook signature is missing or wrong');
    }
    if (result.status === 400) {
      // Signed, so from the webhook's holder, but unusable: refused, and the audit record says why (issue 15 point 2).
      scope.annotate({ reason: result.reason, flags: ['signature:verified'] });
      throw result.reason === 'not_utf8' || result.reason === 'not_json'
        ? new BrokerError('invalid_json', 'The webhook body is not a UTF-8 JSON text')
        : new BrokerError('validation_failed', WEBHOOK_REFUSALS[result.reason]);
    }
    scope.annotate({
      subject: { env: scope.runtime.config.superOffice.environment, ctx: path.ctx, ...(result.changedBy !== undefined && result.changedBy !== '0' ? { associateId: result.changedBy } : {}) },
      target: `webhook ${path.webhookName} ${result.event ?? ''} ${result.eventId ?? ''}`.trim(),
      reason: result.reason,
      flags: (result.subscribers ?? []).map((s) => `subscriber:${s}`),
    });
    return { status: 200, jsonBody: { received: result.reason } };
  },
});

/** `POST /api/webhooks/superoffice/{ctx}`: register a webhook at SuperOffice (system user). */
export const registerWebhookHandler = registerEndpoint({
  name: 'webhookRegister',
  action: 'webhooks.register',
  method: 'POST',
  route: 'webhooks/superoffice/{ctx}',
  tag: 'webhooks',
  summary: 'Register a SuperOffice webhook that posts to this broker',
  description: "Creates the webhook at SuperOffice as the tenant's system user (`POST v1/Webhook`), with a new random secret stored in Key Vault (never returned). SuperOffice sends a signed test event while saving. Needs `connections.admin` for the whole tenant (`users: \"*\"`) and the tenant's system-user consent.",
  access: { kind: 'caller', operation: 'connections.admin' },
  failClosedAudit: true,
  request: {
    path: z.strictObject({ ctx: Ctx }),
    body: z.strictObject({ name: WebhookName, events: z.array(EventName).check(z.minLength(1), z.maxLength(50)) }),
  },
  subject: { ctx: 'path.ctx' },
  responses: { 201: { description: 'The webhook as SuperOffice saved it.', body: Webhook } },
  errors: [...ADMIN_ERRORS],
  async handler({ path, body, scope }) {
    scope.annotate({ target: `webhook ${body.name}` });
    const created = await scope.runtime.webhooks.register(path.ctx, body.name, body.events, { signal: scope.signal, deadline: scope.deadline, correlationId: scope.requestId });
    return { status: 201, jsonBody: created };
  },
});

/** `GET /api/webhooks/superoffice/{ctx}`: the broker's webhooks at SuperOffice. */
export const listWebhooksHandler = registerEndpoint({
  name: 'webhookList',
  action: 'webhooks.list',
  method: 'GET',
  route: 'webhooks/superoffice/{ctx}',
  tag: 'webhooks',
  summary: "The tenant's webhooks that post to this broker",
  description: 'Lists, as the system user, the webhooks whose target is this broker, with their SuperOffice state (a webhook SuperOffice stopped after repeated errors shows `TooManyErrors`).',
  access: { kind: 'caller', operation: 'connections.admin' },
  failClosedAudit: true,
  request: { path: z.strictObject({ ctx: Ctx }) },
  subject: { ctx: 'path.ctx' },
  responses: { 200: { description: 'The webhooks.', body: z.strictObject({ webhooks: z.array(Webhook) }) } },
  errors: [...ADMIN_ERRORS],
  async handler({ path, scope }) {
    scope.annotate({ target: 'webhooks' });
    return { status: 200, jsonBody: { webhooks: await scope.runtime.webhooks.list(path.ctx, { signal: scope.signal, deadline: scope.deadline }) } };
  },
});

/** `DELETE /api/webhooks/superoffice/{ctx}/{webhookName}`: delete one of the broker's webhooks. */
export const deleteWebhookHandler = registerEndpoint({
  name: 'webhookDelete',
  action: 'webhooks.delete',
  method: 'DELETE',
  route: 'webhooks/superoffice/{ctx}/{webhookName}',
  tag: 'webhooks',
  summary: 'Delete a webhook of this broker',
  description: "Deletes the webhook at SuperOffice as the system user and disables its secret in Key Vault.",
  access: { kind: 'caller', operation: 'connections.admin' },
  failClosedAudit: true,
  request: { path: z.strictObject({ ctx: Ctx, webhookName: WebhookName }) },
  subject: { ctx: 'path.ctx' },
  responses: { 200: { description: 'The deleted webhook.', body: Webhook } },
  errors: [...ADMIN_ERRORS],
  async handler({ path, scope }) {
    scope.annotate({ target: `webhook ${path.webhookName}` });
    return { status: 200, jsonBody: await scope.runtime.webhooks.remove(path.ctx, path.webhookName, { signal: scope.signal, deadline: scope.deadline }) };
  },
});

/** Daily: report the broker's webhooks that SuperOffice has stopped, for every tenant the event rules name. */
registerTimer('webhooksProbe', {
  schedule: '0 30 3 * * *',
  handler: async () => {
    const runtime = getRuntime();
    const tenants = new Set(parseSubscriberConfig(runtime.config.eventSubscribers).rules.map((r) => r.ctx).filter((c) => c !== '*'));
    for (const ctx of tenants) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 30_000);
      try {
        const stopped = disabledWebhooks(await runtime.webhooks.list(ctx, { signal: controller.signal, deadline: Date.now() + 30_000 }));
        for (const w of stopped) runtime.logger.warn('webhooks.stopped', { ctx, name: w.name, state: w.state });
      } catch (error) {
        runtime.logger.warn('webhooks.probe_failed', { ctx, errorName: error instanceof Error ? error.name : typeof error });
      } finally {
        clearTimeout(timer);
      }
    }
  },
});
