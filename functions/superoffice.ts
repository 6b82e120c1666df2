import * as z from 'zod/mini';
import type { ErrorCode } from '../shared/errors/errors.js';
import { authorizeWithEventGrant, EVENT_GRANT_HEADER } from '../shared/events/grants.js';
import { registerEndpoint, type ComputedSubject } from '../shared/http/endpoint.js';
import { described } from '../shared/http/schemas.js';
import type { SubjectRequest } from '../shared/identity/policy.js';
import { parseProxyPath, ProxyPathParam } from '../shared/proxy/path.js';
import { actAsOf, MAX_PROXY_REQUEST_BYTES } from '../shared/proxy/proxyService.js';
import { PROXY_METHODS, type ProxyMethod } from '../shared/proxy/webApiRules.js';
import { AssociateId, RecordIdText, TenantId } from '../shared/superoffice/identifiers.js';

/**
 * The SuperOffice proxy and customer sessions (docs/acting.md §1–§3): the broker makes the Web API call
 * as a user (`{actAs}` = associate id, the user's own access token) or as the tenant's system user
 * (`{actAs}` = `system`, ticket + `SO-AppToken`); the caller never holds a token or ticket.
 *
 * - `GET|POST|PUT|PATCH|DELETE /api/superoffice/{ctx}/{actAs}/{*path}` (operation `proxy`): the policy
 *   must grant the caller that user (or the system user) of that tenant, and a `webApi` rule matching
 *   the method and path. SuperOffice's status, allow-listed headers and body pass through.
 * - `POST|DELETE /api/superoffice/{ctx}/{actAs}/customers/{customerId}/session` (operation
 *   `customerSessions`): CRMScript's `Customer.login()` / `logout()` through the shipped script.
 */

const Ctx = described(TenantId, 'The SuperOffice tenant.');
const ActAs = described(z.union([z.literal('system'), AssociateId]), 'Whom the broker acts as: an associate id (that user, with their rights) or `system` (the tenant\'s system user, unrestricted).');

const ProxyParams = z.strictObject({
  ctx: Ctx,
  actAs: ActAs,
  path: described(ProxyPathParam, 'The Web API path under the tenant\'s REST base, e.g. `v1/Contact/5`. The query string is forwarded as it is.'),
});

const SessionParams = z.strictObject({
  ctx: Ctx,
  actAs: ActAs,
  customerId: described(RecordIdText, 'The customer (person) id.'),
});

/** The identity part of a subject: the user, or the system user. */
function identityOf(actAs: string): Pick<SubjectRequest, 'associateId' | 'systemUser'> {
  return actAs === 'system' ? { systemUser: true } : { associateId: actAs };
}

function proxySubject(method: ProxyMethod): ComputedSubject {
  return {
    fields: { ctx: 'path.ctx', actAs: 'path.actAs', webApi: `${method} path.path`, eventGrant: `header.${EVENT_GRANT_HEADER}` },
    read({ params, env }) {
      const parsed = z.safeParse(ProxyParams, params);
      if (!parsed.success) return undefined;
      const { ctx, actAs, path } = parsed.data;
      return { env, ctx, ...identityOf(actAs), webApi: { method, segments: path.split('/') } };
    },
    // Event-bound impersonation (docs/acting.md §5): with `X-Broker-Event-Grant`, the caller may act as the
    // user who caused a verified event even where the policy does not let it act as that user.
    async authorize({ subject, caller, scope }) {
      const grantId = scope.request.headers.get(EVENT_GRANT_HEADER);
      if (grantId === null || subject.webApi === undefined) return false;
      const { runtime } = scope;
      const grant = await authorizeWithEventGrant({
        policy: runtime.policy, grants: runtime.eventGrants, caller, operation: 'proxy', env: subject.env, ctx: subject.ctx,
        actAs: subject.systemUser === true ? 'system' : (subject.associateId ?? ''), webApi: subject.webApi, grantId, now: Date.now(),
      });
      scope.annotate({ flags: [`event_grant:${grant.id}`] });
      return true;
    },
  };
}

const SESSION_SUBJECT: ComputedSubject = {
  fields: { ctx: 'path.ctx', actAs: 'path.actAs' },
  read({ params, env }) {
    const parsed = z.safeParse(SessionParams, params);
    return parsed.success ? { env, ctx: parsed.data.ctx, ...identityOf(parsed.data.actAs) } : undefined;
  },
};

/** What acting can fail with besides the wrapper's own codes. */
const ACTING_ERRORS: readonly ErrorCode[] = [
  'not_found', 'not_connected', 'reauth_required', 'upstream_bad_response', 'upstream_unavailable', 'upstream_timeout',
  'tenant_unavailable', 'secret_store_unavailable', 'secret_store_throttled', 'secret_conflict', 'overloaded',
];

function proxyEndpoint(method: ProxyMethod) {
  const name = `superoffice${method.charAt(0)}${method.slice(1).toLowerCase()}`;
  return registerEndpoint({
    name,
    action: 'proxy',
    method: method,
    route: 'superoffice/{ctx}/{actAs}/{*path}',
    tag: 'proxy',
    summary: `${method} a SuperOffice Web API path as a user or the system user`,
    description: `Sends \`${method}\` to the tenant's Web API as \`{actAs}\` and returns SuperOffice's status, body and allow-listed headers (Content-Type, Content-Language, ETag, Last-Modified, Retry-After; Location only under the tenant's Web API, rewritten to this proxy). Forwarded request headers: Accept, Accept-Language, Content-Type, If-Match, If-None-Match, SO-Language, SO-Culture, SO-TimeZone; never the caller's Authorization or cookies. A 401 from SuperOffice renews the token or ticket once and retries once; a second 401 is 409 \`reauth_required\` for a user, 502 for the system user. Request body at most 1 MiB; a response over 10 MiB is cut off and answered 502. The policy must grant the user (or \`systemUser\`) and a \`webApi\` rule for the method and path.`,
    access: { kind: 'caller', operation: 'proxy' },
    failClosedAudit: true,
    maxBodyBytes: MAX_PROXY_REQUEST_BYTES,
    request: { path: ProxyParams, query: z.looseObject({}), rawBody: { description: 'Sent to SuperOffice unchanged, with the caller\'s Content-Type.' } },
    subject: proxySubject(method),
    responses: {},
    passThrough: { description: "SuperOffice's answer: its status, allow-listed headers and body." },
    errors: [...ACTING_ERRORS, 'invalid_proxy_path'],
    async handler({ path, body, scope }) {
      const { runtime } = scope;
      const proxyPath = parseProxyPath(path.path, new URL(scope.request.url).search);
      scope.annotate({ target: `${method} ${proxyPath.path}`.slice(0, 512), flags: [`act_as:${path.actAs === 'system' ? 'system' : 'user'}`] });
      const response = await runtime.proxy.call({
        ctx: path.ctx,
        actAs: actAsOf(path.actAs),
        method,
        path: proxyPath,
        headers: new Headers(Object.fromEntries(scope.request.headers.entries())),
        ...(body.byteLength > 0 ? { body: new Uint8Array(body) } : {}),
        proxyPrefix: `/api/superoffice/${path.ctx}/${path.actAs}/`,
        deadline: scope.deadline,
        signal: scope.signal,
        correlationId: scope.requestId,
      });
      scope.annotate({
        upstreamStatus: response.status,
        flags: [
          `act_as:${path.actAs === 'system' ? 'system' : 'user'}`,
          `bytes_in:${body.byteLength}`,
          `bytes_out:${response.body.byteLength}`,
          ...(response.retried ? ['retried'] : []),
          ...response.flags,
          ...(scope.request.headers.has(EVENT_GRANT_HEADER) ? [`event_grant:${(scope.request.headers.get(EVENT_GRANT_HEADER) ?? '').slice(0, 43)}`] : []),
        ],
      });
      return { status: response.status, headers: response.headers, body: new Uint8Array(response.body) };
    },
  });
}

export const superofficeProxyHandlers = Object.fromEntries(PROXY_METHODS.map((method) => [method, proxyEndpoint(method)]));

const SessionAnswer = z.strictObject({
  ctx: TenantId,
  actAs: z.string(),
  customerId: z.int(),
  sessionKey: described(z.string().check(z.minLength(1)), 'The customer-centre session key (`Customer.login()`). A credential: do not log it.'),
});

/** `POST …/customers/{customerId}/session`: a customer-centre session key, released with `no-store`. */
export const customerSessionLoginHandler = registerEndpoint({
  name: 'customerSessionLogin',
  action: 'customer.session.login',
  method: 'POST',
  route: 'superoffice/{ctx}/{actAs}/customers/{customerId}/session',
  tag: 'proxy',
  summary: 'Log a customer in to the customer centre (CRMScript Customer.login)',
  description: "Runs the shipped customer-session script as `{actAs}` and returns the session key. A user must be able to see the customer (403 otherwise); the system user can see every customer. The key is fingerprinted in the audit record, never logged. No request body.",
  access: { kind: 'caller', operation: 'customerSessions' },
  failClosedAudit: true,
  request: { path: SessionParams },
  subject: SESSION_SUBJECT,
  responses: { 200: { description: 'The session.', body: SessionAnswer } },
  errors: [...ACTING_ERRORS],
  async handler({ path, scope }) {
    const { runtime } = scope;
    scope.annotate({ target: `customer#${path.customerId} session`, flags: [`act_as:${path.actAs === 'system' ? 'system' : 'user'}`] });
    const result = await runtime.customerSessions.login({
      ctx: path.ctx, actAs: actAsOf(path.actAs), customerId: String(path.customerId), deadline: scope.deadline, signal: scope.signal, correlationId: scope.requestId,
    });
    const key = result.sessionKey;
    if (key === undefined) throw new Error('login returned no session key');
    scope.annotate({ upstreamStatus: result.upstreamStatus, tokenFingerprints: [await runtime.audit.fingerprint(key)], ...(result.retried ? { flags: ['retried'] } : {}) });
    return { status: 200, jsonBody: { ctx: path.ctx, actAs: path.actAs, customerId: path.customerId, sessionKey: key.reveal() } };
  },
});

/** `DELETE …/customers/{customerId}/session`: logs the customer out (204). */
export const customerSessionLogoutHandler = registerEndpoint({
  name: 'customerSessionLogout',
  action: 'customer.session.logout',
  method: 'DELETE',
  route: 'superoffice/{ctx}/{actAs}/customers/{customerId}/session',
  tag: 'proxy',
  summary: 'Log a customer out of the customer centre (CRMScript Customer.logout)',
  description: 'Runs the shipped customer-session script as `{actAs}` to end the customer\'s session. Same rights as logging in.',
  access: { kind: 'caller', operation: 'customerSessions' },
  failClosedAudit: true,
  request: { path: SessionParams },
  subject: SESSION_SUBJECT,
  responses: { 204: { description: 'Logged out.' } },
  errors: [...ACTING_ERRORS],
  async handler({ path, scope }) {
    scope.annotate({ target: `customer#${path.customerId} session`, flags: [`act_as:${path.actAs === 'system' ? 'system' : 'user'}`] });
    const result = await scope.runtime.customerSessions.logout({
      ctx: path.ctx, actAs: actAsOf(path.actAs), customerId: String(path.customerId), deadline: scope.deadline, signal: scope.signal, correlationId: scope.requestId,
    });
    scope.annotate({ upstreamStatus: result.upstreamStatus });
    return { status: 204 };
  },
});
