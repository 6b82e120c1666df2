import * as z from 'zod/mini';
import { ACTIONS_POISON_QUEUE, ACTIONS_QUEUE } from '../shared/actions/actionService.js';
import type { ErrorCode } from '../shared/errors/errors.js';
import { EVENT_GRANT_HEADER } from '../shared/events/grants.js';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { described, Timestamp } from '../shared/http/schemas.js';
import { PROXY_METHODS } from '../shared/proxy/webApiRules.js';
import { registerQueue, registerTimer } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';
import { AssociateId, TenantId } from '../shared/superoffice/identifiers.js';

/**
 * Reliable actions (docs/acting.md §4, issue 13 points 1-3):
 * - `POST /api/actions` (operation `actions`) accepts an action and answers 202 with its `Location`;
 * - `GET /api/actions/{id}` shows its state and result to the caller that created it;
 * - the queue trigger `actionsExecute` runs each signed message from `actions`;
 * - `actionsPoison` finishes what reached `actions-poison` as `failed` / `exhausted`;
 * - the timer `actionsPrune` deletes results past their retention.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ActionId = described(z.string().check(z.regex(GUID)), 'The action id (a UUID).');
const ActAs = described(z.union([z.literal('system'), AssociateId]), "Whom the broker acts as: an associate id, or `system` (the tenant's system user).");

const ActionRequest = z.strictObject({
  ctx: described(TenantId, 'The SuperOffice tenant.'),
  actAs: ActAs,
  request: z.strictObject({
    method: z.enum(PROXY_METHODS),
    path: described(z.string().check(z.minLength(3), z.maxLength(2048)), 'The Web API path under the tenant\'s REST base, with an optional query, e.g. `v1/Contact/5`; the proxy\'s path rules apply.'),
    body: z.optional(described(z.unknown(), 'The JSON body to send (at most 32 KiB serialised).')),
  }),
  notBefore: z.optional(described(Timestamp, 'Do not run before this time (at most 6 days ahead).')),
  notify: z.optional(described(z.boolean(), "Deliver the result as a CloudEvent to the caller's own subscriber queues.")),
});

const ActionAccepted = z.strictObject({
  id: ActionId,
  state: z.enum(['queued', 'running', 'succeeded', 'failed']),
  location: z.string(),
});

const ActionResult = z.strictObject({
  id: ActionId,
  state: z.enum(['queued', 'running', 'succeeded', 'failed']),
  ctx: TenantId,
  actAs: z.string(),
  request: z.strictObject({ method: z.string(), path: z.string() }),
  eventGrant: described(z.boolean(), 'The action acts as the user of an event, by an event grant.'),
  attempts: z.int(),
  superOfficeStatus: z.optional(z.int()),
  errorCode: z.optional(described(z.string(), 'Why it failed: a broker error code, `superoffice_<status>`, or `exhausted` (every retry failed).')),
  response: z.optional(z.strictObject({
    contentType: z.optional(z.string()),
    body: described(z.string(), "SuperOffice's response body (at most 64 KiB), as text or base64."),
    encoding: z.enum(['utf8', 'base64']),
    truncated: z.boolean(),
  })),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  finishedAt: z.optional(Timestamp),
});

const ACTION_ERRORS: readonly ErrorCode[] = ['invalid_proxy_path', 'conflict', 'upstream_unavailable', 'secret_store_unavailable', 'secret_store_throttled'];

/** `POST /api/actions`: accept an action (idempotent per caller and `Idempotency-Key`). */
export const createActionHandler = registerEndpoint({
  name: 'actionsCreate',
  action: 'actions.create',
  method: 'POST',
  route: 'actions',
  tag: 'actions',
  summary: 'Run a SuperOffice Web API call reliably, later or with retries',
  description: 'Accepts a Web API call to make as `actAs` and answers 202 with `Location: /api/actions/{id}`. The same `Idempotency-Key` from the same caller returns the same id; with a different request it is 409. The policy (operation `actions`, the user or `systemUser`, and a `webApi` rule) is checked now and again when the action runs — or, with `X-Broker-Event-Grant`, the event grant lets a subscriber act as the user who caused the event. Transient failures are retried by the queue (5 attempts); permanent ones fail at once.',
  access: { kind: 'caller', operation: 'actions' },
  failClosedAudit: true,
  request: {
    headers: z.strictObject({
      'idempotency-key': described(z.string().check(z.regex(/^[\x21-\x7e]{1,128}$/)), 'Required: 1-128 visible ASCII characters, unique per intended action.'),
      [EVENT_GRANT_HEADER]: z.optional(described(z.string().check(z.maxLength(128)), 'An event grant id from a CloudEvent (`brokereventgrant`), to act as the event\'s user.')),
    }),
    body: ActionRequest,
  },
  responses: {
    202: {
      description: 'Accepted (or accepted before with the same key).',
      body: ActionAccepted,
      headers: { Location: { description: 'Where to read the result.', required: true, schema: z.string() } },
    },
  },
  errors: [...ACTION_ERRORS],
  async handler({ headers, body, caller, scope }) {
    const grant = headers[EVENT_GRANT_HEADER];
    const subject = { env: scope.runtime.config.superOffice.environment, ctx: body.ctx, ...(body.actAs === 'system' ? {} : { associateId: body.actAs }) };
    scope.annotate({ subject, target: `${body.request.method} ${body.request.path.split('?')[0] ?? ''}`.slice(0, 400), ...(grant !== undefined ? { flags: ['event_grant'] } : {}) });
    const created = await scope.runtime.actions.create(caller, headers['idempotency-key'], body, grant);
    const location = `/api/actions/${created.id}`;
    scope.annotate({ target: `${body.request.method} ${body.request.path.split('?')[0] ?? ''} action ${created.id}${grant !== undefined ? ` grant ${grant}` : ''}`.slice(0, 500), flags: [created.created ? 'created' : 'idempotent_replay', ...(grant !== undefined ? ['event_grant'] : [])] });
    return { status: 202, headers: { Location: location }, jsonBody: { id: created.id, state: 'queued', location } };
  },
});

/** `GET /api/actions/{id}`: the state and result, for the caller that created the action (404 for everyone else). */
export const getActionHandler = registerEndpoint({
  name: 'actionsGet',
  action: 'actions.get',
  method: 'GET',
  route: 'actions/{id}',
  tag: 'actions',
  summary: 'The state and result of an action',
  description: 'Returns the action\'s state (`queued`, `running`, `succeeded`, `failed`), SuperOffice\'s status and response body (at most 64 KiB), the error code and the attempts. Only the caller that created the action sees it; anyone else gets 404. Results are kept for `ACTION_RESULT_RETENTION_HOURS` after they finish.',
  access: { kind: 'caller', operation: 'actions' },
  failClosedAudit: true,
  request: { path: z.strictObject({ id: ActionId }) },
  responses: { 200: { description: 'The action.', body: ActionResult } },
  errors: ['not_found', 'upstream_unavailable'],
  async handler({ path, caller, scope }) {
    scope.annotate({ target: `action ${path.id}` });
    const view = await scope.runtime.actions.get(caller, path.id);
    scope.annotate({ subject: { env: scope.runtime.config.superOffice.environment, ctx: view.ctx, ...(view.actAs === 'system' ? {} : { associateId: view.actAs }) } });
    return { status: 200, jsonBody: view };
  },
});

/** Queue trigger: one signed action message. Throws (the host retries) only for transient failures. */
registerQueue('actionsExecute', {
  queueName: ACTIONS_QUEUE,
  handler: async (message, context) => {
    const meta = context.triggerMetadata ?? {};
    await getRuntime().actions.execute(message, {
      ...(typeof meta['id'] === 'string' ? { messageId: meta['id'] } : {}),
      ...(typeof meta['dequeueCount'] === 'number' ? { dequeueCount: meta['dequeueCount'] } : {}),
    });
  },
});

/** Poison-queue trigger: an action whose message failed every dequeue ends as `failed` / `exhausted`. */
registerQueue('actionsPoison', {
  queueName: ACTIONS_POISON_QUEUE,
  handler: async (message, context) => {
    const meta = context.triggerMetadata ?? {};
    await getRuntime().actions.finishExhausted(message, typeof meta['id'] === 'string' ? { messageId: meta['id'] } : {});
  },
});

/** Hourly: delete action results and idempotency keys past their retention. */
registerTimer('actionsPrune', {
  schedule: '0 17 * * * *',
  handler: async (_timer, context) => {
    const runtime = getRuntime();
    const deleted = await runtime.actions.prune();
    runtime.logger.info('actions.pruned', { deleted, invocationId: context.invocationId });
  },
});
