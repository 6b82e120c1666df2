/**
 * The tenant Web API under `/{ctx}/api/…` (served on both host names; docs/superoffice.md §4–§6).
 *
 * Order of checks: unknown tenant → 404; tenant not running → 503 with Retry-After; then authentication:
 * - `Authorization: Bearer 8A:…` — an access token of this tenant, unexpired, whose consent still exists;
 *   an `SO-AppToken` header, if sent, must be the token's app secret.
 * - `Authorization: SOTicket 7T:…` plus `SO-AppToken: <client_secret>` of the app that got the ticket;
 *   the ticket lives 6 h and slides on every successful use.
 * - Missing/unknown/expired/revoked credential, other tenant's credential → 401 with `WWW-Authenticate`;
 *   an `Authorization` header without a credential → 400.
 * - A user without a licence → 403 ("no valid user license") on every Web API call.
 *
 * Endpoints: `GET v1/User/currentPrincipal`; `GET v1/Contact|Person|Ticket/{id}`; `GET v1/Contact|Person|Ticket/default`
 * (a new entity with the caller's rights for a record they would create — SuperOffice's `CreateDefault…Entity`,
 * e.g. https://docs.superoffice.com/en/api/reference/restful/rest/Contact/v1ContactEntity_DefaultContactEntity.html);
 * `PATCH v1/Contact|Person/{id}`
 * (JSON Patch or merge patch on the scalar fields, rights-checked, fires `contact.changed`/`person.changed`);
 * `POST v1/Agents/CRMScript/ExecuteScriptByUniqueId` (apps with CRMScript access only); the Webhook agent
 * (`GET v1/Webhook`, `GET v1/Webhook/default`, `POST v1/Webhook`, `POST v1/Webhook/Test`,
 * `GET|PUT|DELETE v1/Webhook/{id}`; apps with Webhook access only). A ticket the user has no access to at all
 * answers 404 (the sentry hides it).
 */
import { FIELD_RIGHT_BITS, TABLE_RIGHT_BITS, hasBits } from './masks.js';
import {
  dotNetTimestamp,
  headerValue,
  isRecord,
  mediaType,
  parseId,
  parseJson,
  readBody,
  sendJson,
  type SimContext,
  type SimRequest,
} from './http.js';
import {
  contactEntity,
  defaultContactEntity,
  defaultPersonEntity,
  defaultTicketEntity,
  personEntity,
  systemPrincipal,
  ticketEntity,
  userPrincipal,
} from './entities.js';
import { FIELD_CATALOG, fieldRightBits, recordTableRight, type RightsSubject } from './rights.js';
import { formatRightsCheckOutput, runCustomerSession, runRightsCheck } from './crmscript.js';
import { defaultWebhook, parseWebhookDefinition, webhookView, type WebhookService } from './webhooks.js';
import { isRunningState, type AppRegistration, type DataRightsTable, type UserSeed } from './seed.js';
import { TICKET_TTL_MS, randomId, type TenantRuntime } from './store.js';
import { safeEqual } from './tokens.js';

/** Seconds in Retry-After while a tenant is not running. */
export const MAINTENANCE_RETRY_AFTER_S = 300;

export interface WebApiDeps extends SimContext {
  readonly webhooks: WebhookService;
}

/** The authenticated caller of one Web API request. */
export interface ApiPrincipal {
  readonly tenant: TenantRuntime;
  readonly app: AppRegistration;
  readonly subject: RightsSubject;
  readonly user: UserSeed | undefined;
  /** The associate id that changes are attributed to. */
  readonly associateId: number;
}

function apiError(r: SimRequest, status: number, errorType: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(r.res, status, { Error: message, ErrorType: errorType, Message: message }, headers);
}

function unauthorized(r: SimRequest, message: string): void {
  apiError(r, 401, 'Unauthorized', message, {
    'WWW-Authenticate': `Bearer realm="SuperOffice", error="invalid_token", SOTicket realm="SuperOffice"`,
  });
}

/** Authenticates the request; sends the error response and returns undefined on failure. */
function authenticate(deps: WebApiDeps, r: SimRequest, tenant: TenantRuntime): ApiPrincipal | undefined {
  const authorization = headerValue(r.req, 'authorization');
  if (authorization === undefined || authorization.trim() === '') {
    unauthorized(r, 'Authentication required: send Authorization: Bearer <access token> or SOTicket <ticket> with SO-AppToken');
    return undefined;
  }
  const match = /^(\S+)(?:\s+(\S+))?\s*$/.exec(authorization.trim());
  const scheme = match?.[1]?.toLowerCase();
  const credential = match?.[2];
  if (!scheme || credential === undefined) {
    apiError(r, 400, 'BadRequest', 'Malformed Authorization header');
    return undefined;
  }
  const appToken = headerValue(r.req, 'so-apptoken');
  const now = deps.now();
  const ctxId = tenant.seed.contextIdentifier;

  if (scheme === 'bearer') {
    const record = deps.store.accessTokens.get(credential);
    if (!record) {
      unauthorized(r, 'Invalid access token');
      return undefined;
    }
    if (record.ctx.toLowerCase() !== ctxId.toLowerCase()) {
      unauthorized(r, 'The access token was issued for another tenant');
      return undefined;
    }
    if (record.expiresAt <= now) {
      unauthorized(r, 'The access token has expired');
      return undefined;
    }
    if (!deps.store.consentIsLive(record.clientId, record.ctx, record.associateId, record.consentId)) {
      unauthorized(r, 'The access token was revoked (consent removed)');
      return undefined;
    }
    const app = deps.store.apps.get(record.clientId);
    const user = deps.store.user(tenant, record.associateId);
    if (!app || !user) {
      unauthorized(r, 'Invalid access token');
      return undefined;
    }
    if (appToken !== undefined && !safeEqual(appToken, app.clientSecret)) {
      unauthorized(r, 'SO-AppToken does not match the application of the access token');
      return undefined;
    }
    if (!user.licensed) {
      apiError(r, 403, 'LicenseException', `User ${user.userName} has no valid user license and cannot use the Web API`);
      return undefined;
    }
    return {
      tenant,
      app,
      subject: { kind: 'user', user, role: deps.store.role(tenant, user) },
      user,
      associateId: user.associateId,
    };
  }

  if (scheme === 'soticket') {
    const record = deps.store.tickets.get(credential);
    if (!record || record.expiresAt <= now) {
      unauthorized(r, record ? 'The ticket has expired' : 'Invalid ticket');
      return undefined;
    }
    if (record.ctx.toLowerCase() !== ctxId.toLowerCase()) {
      unauthorized(r, 'The ticket was issued for another tenant');
      return undefined;
    }
    const app = deps.store.apps.get(record.clientId);
    if (!app) {
      unauthorized(r, 'Invalid ticket');
      return undefined;
    }
    if (appToken === undefined) {
      unauthorized(r, 'SO-AppToken header is required with SOTicket');
      return undefined;
    }
    if (!safeEqual(appToken, app.clientSecret)) {
      unauthorized(r, 'SO-AppToken does not match the application of the ticket');
      return undefined;
    }
    record.expiresAt = now + TICKET_TTL_MS;
    return { tenant, app, subject: { kind: 'system' }, user: undefined, associateId: tenant.seed.systemUser.associateId };
  }

  unauthorized(r, `Unsupported authorization scheme ${match?.[1] ?? ''}`);
  return undefined;
}

/** Handles `/{ctx}/api/{rest}`; `rest` has no leading slash. */
export async function handleWebApi(deps: WebApiDeps, r: SimRequest, ctxId: string, rest: string): Promise<void> {
  const tenant = deps.store.tenant(ctxId);
  if (!tenant) {
    apiError(r, 404, 'NotFound', 'Unknown context identifier');
    return;
  }
  if (!isRunningState(tenant.state)) {
    apiError(r, 503, 'ServiceUnavailable', `Tenant ${tenant.seed.contextIdentifier} is unavailable (${tenant.state})`, {
      'Retry-After': String(MAINTENANCE_RETRY_AFTER_S),
    });
    return;
  }
  const segments = rest.split('/').filter((s) => s !== '');
  const lower = segments.map((s) => s.toLowerCase());
  if (lower.length === 0 && r.method === 'GET') {
    const base = `${r.host === 'api' ? deps.apiHostUrl : deps.url}/${tenant.seed.contextIdentifier}/api`;
    sendJson(r.res, 200, { v1: `${base}/v1`, NetServerVersion: '10.3.7.0', Services: `${base}/../Remote/Services88` });
    return;
  }
  if (lower[0] !== 'v1') {
    apiError(r, 404, 'NotFound', 'No such API version');
    return;
  }
  const principal = authenticate(deps, r, tenant);
  if (!principal) return;

  const [, first, second, third] = lower;
  const rawSecond = segments[2];
  if (first === 'user' && second === 'currentprincipal' && lower.length === 3) {
    if (r.method !== 'GET') return methodNotAllowed(r, 'GET');
    const body = principal.user ? userPrincipal(tenant, principal.user, principal.subject) : systemPrincipal(tenant);
    sendJson(r.res, 200, body);
    return;
  }
  if ((first === 'contact' || first === 'person' || first === 'ticket') && lower.length === 3 && second === 'default') {
    if (r.method !== 'GET') return methodNotAllowed(r, 'GET');
    return getDefaultEntity(r, principal, first);
  }
  if ((first === 'contact' || first === 'person' || first === 'ticket') && lower.length === 3) {
    const id = parseId(rawSecond);
    if (id === undefined) {
      apiError(r, 400, 'BadRequest', 'The id must be a positive integer');
      return;
    }
    if (r.method === 'GET') return getEntity(r, principal, first, id);
    if (r.method === 'PATCH' && first !== 'ticket') return patchEntity(deps, r, principal, first, id);
    return methodNotAllowed(r, first === 'ticket' ? 'GET' : 'GET, PATCH');
  }
  if (first === 'agents' && second === 'crmscript' && third === 'executescriptbyuniqueid' && lower.length === 4) {
    if (r.method !== 'POST') return methodNotAllowed(r, 'POST');
    return executeScript(r, principal);
  }
  if (first === 'webhook') return webhookApi(deps, r, principal, segments.slice(2));
  apiError(r, 404, 'NotFound', 'No such Web API endpoint in the simulator');
}

function methodNotAllowed(r: SimRequest, allow: string): void {
  apiError(r, 405, 'MethodNotAllowed', `Method ${r.method} not allowed`, { Allow: allow });
}

function getEntity(r: SimRequest, p: ApiPrincipal, kind: 'contact' | 'person' | 'ticket', id: number): void {
  if (kind === 'contact') {
    const contact = p.tenant.contacts.get(id);
    if (!contact) return apiError(r, 404, 'NotFound', `Contact ${id} not found`);
    return sendJson(r.res, 200, contactEntity(p.subject, p.tenant, contact));
  }
  if (kind === 'person') {
    const person = p.tenant.persons.get(id);
    if (!person) return apiError(r, 404, 'NotFound', `Person ${id} not found`);
    return sendJson(r.res, 200, personEntity(p.subject, p.tenant, person));
  }
  const ticket = p.tenant.tickets.get(id);
  const entity = ticket ? ticketEntity(p.subject, p.tenant, ticket) : undefined;
  if (!entity) return apiError(r, 404, 'NotFound', `Ticket ${id} not found`);
  sendJson(r.res, 200, entity);
}

function getDefaultEntity(r: SimRequest, p: ApiPrincipal, kind: 'contact' | 'person' | 'ticket'): void {
  const entity =
    kind === 'contact' ? defaultContactEntity(p.subject, p.tenant) : kind === 'person' ? defaultPersonEntity(p.subject, p.tenant) : defaultTicketEntity(p.subject, p.tenant);
  sendJson(r.res, 200, entity);
}

/** Reads a JSON Patch (replace/add on top-level properties) or a merge patch into property → value. */
function patchChanges(body: unknown, type: string): Map<string, unknown> | string {
  const changes = new Map<string, unknown>();
  if (type === 'application/json-patch+json' || Array.isArray(body)) {
    if (!Array.isArray(body)) return 'A JSON Patch document must be an array';
    for (const op of body) {
      if (!isRecord(op) || (op['op'] !== 'replace' && op['op'] !== 'add') || typeof op['path'] !== 'string') {
        return 'Only replace/add operations with a path are supported';
      }
      const path = op['path'];
      if (!/^\/[A-Za-z0-9]+$/.test(path)) return 'Only top-level properties can be patched';
      changes.set(path.slice(1), op['value']);
    }
    return changes;
  }
  if (!isRecord(body)) return 'The body must be a JSON object (merge patch) or a JSON Patch array';
  for (const [k, v] of Object.entries(body)) changes.set(k, v);
  return changes;
}

async function patchEntity(deps: WebApiDeps, r: SimRequest, p: ApiPrincipal, kind: DataRightsTable, id: number): Promise<void> {
  const contact = kind === 'contact' ? p.tenant.contacts.get(id) : undefined;
  const person = kind === 'person' ? p.tenant.persons.get(id) : undefined;
  const record = contact ?? person;
  if (!record) return apiError(r, 404, 'NotFound', `${kind === 'contact' ? 'Contact' : 'Person'} ${id} not found`);
  const type = mediaType(r.req);
  const body = parseJson(await readBody(r.req));
  if (body === undefined) return apiError(r, 400, 'BadRequest', 'The body must be JSON');
  const changes = patchChanges(body, type);
  if (typeof changes === 'string') return apiError(r, 400, 'BadRequest', changes);

  const tableRight = recordTableRight(p.subject, kind, record);
  if (!hasBits(tableRight.bits, TABLE_RIGHT_BITS.Update)) {
    return apiError(r, 403, 'SoAccessDeniedException', `Insufficient rights to update ${kind} ${id}`);
  }
  const updates: [string, string][] = [];
  const changedDb: string[] = [];
  for (const [prop, value] of changes) {
    const field = FIELD_CATALOG[kind].find((f) => f.prop.toLowerCase() === prop.toLowerCase());
    if (!field) return apiError(r, 400, 'BadRequest', `Unknown or read-only property ${prop}`);
    if (field.readOnly === true) return apiError(r, 400, 'BadRequest', `Property ${field.prop} is read-only`);
    if (typeof value !== 'string' || value.length > field.length) {
      return apiError(r, 400, 'BadRequest', `${field.prop} must be a string of at most ${field.length} characters`);
    }
    if (!hasBits(fieldRightBits(p.subject, kind, field, tableRight.bits), FIELD_RIGHT_BITS.Write)) {
      return apiError(r, 403, 'SoAccessDeniedException', `Insufficient rights to change ${field.prop}`);
    }
    if (field.mandatory === true && value.trim() === '') return apiError(r, 400, 'BadRequest', `${field.prop} is mandatory`);
    if ((record as unknown as Record<string, unknown>)[field.key] !== value) {
      updates.push([field.key, value]);
      changedDb.push(field.dbName);
    }
  }
  const target = record as unknown as Record<string, unknown>;
  for (const [key, value] of updates) target[key] = value;
  if (updates.length > 0) {
    record.updatedDate = dotNetTimestamp(deps.now()).slice(0, 19);
    changedDb.push('updated', 'updated_associate_id');
    const fieldValues: Record<string, unknown> = {};
    for (const field of FIELD_CATALOG[kind]) fieldValues[field.dbName] = target[field.key];
    void deps.webhooks.fire({
      ctx: p.tenant.seed.contextIdentifier,
      event: `${kind}.changed`,
      primaryKey: id,
      changes: changedDb,
      changedByAssociateId: p.associateId,
      fieldValues,
    });
  }
  if (contact) sendJson(r.res, 200, contactEntity(p.subject, p.tenant, contact));
  else if (person) sendJson(r.res, 200, personEntity(p.subject, p.tenant, person));
}

async function executeScript(r: SimRequest, p: ApiPrincipal): Promise<void> {
  if (p.app.crmScriptAgentAllowed !== true) {
    return apiError(
      r,
      403,
      'SoAccessDeniedException',
      'Online Restricted: The CRMScript agent is not available in Online by default. Access must be requested specifically when app is registered.',
    );
  }
  const body = parseJson(await readBody(r.req));
  if (!isRecord(body)) return apiError(r, 400, 'BadRequest', 'The body must be a JSON object');
  const uniqueId = body['CRMScriptUniqueId'];
  if (typeof uniqueId !== 'string' || uniqueId === '') return apiError(r, 400, 'BadRequest', 'CRMScriptUniqueId is required');
  const rawParams = body['Parameters'] ?? {};
  if (!isRecord(rawParams)) return apiError(r, 400, 'BadRequest', 'Parameters must be an object of strings');
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawParams)) {
    if (typeof v !== 'string') return apiError(r, 400, 'BadRequest', 'Parameters must be an object of strings');
    params[k] = v;
  }
  const script = p.tenant.seed.crmScripts.find((s) => s.uniqueId === uniqueId);
  if (!script) return apiError(r, 404, 'NotFound', 'No CRMScript with that unique id is installed in this tenant');
  const caller = { subject: p.subject, user: p.user };
  if (script.kind === 'customerSession') {
    // The printed line is returned as a JSON string, like every script's output.
    return sendJson(r.res, 200, JSON.stringify(runCustomerSession(params, caller, p.tenant, () => randomId(24))));
  }
  sendJson(r.res, 200, formatRightsCheckOutput(runRightsCheck(params, caller, p.tenant)));
}

async function webhookApi(deps: WebApiDeps, r: SimRequest, p: ApiPrincipal, rest: readonly string[]): Promise<void> {
  if (p.app.webhookAgentAllowed !== true) {
    return apiError(
      r,
      403,
      'SoAccessDeniedException',
      'Online Restricted: The Webhook agent is not available in Online by default. Access must be requested specifically when app is registered.',
    );
  }
  const ctxId = p.tenant.seed.contextIdentifier;
  const head = rest[0]?.toLowerCase();
  if (rest.length === 0) {
    if (r.method === 'GET') return sendJson(r.res, 200, deps.webhooks.list(ctxId, p.app.clientId).map(webhookView));
    if (r.method === 'POST') return saveWebhook(deps, r, p, undefined);
    return methodNotAllowed(r, 'GET, POST');
  }
  if (rest.length === 1 && head === 'default') {
    if (r.method !== 'GET') return methodNotAllowed(r, 'GET');
    return sendJson(r.res, 200, defaultWebhook(deps.now()));
  }
  if (rest.length === 1 && head === 'test') {
    if (r.method !== 'POST') return methodNotAllowed(r, 'POST');
    const def = parseWebhookDefinition(parseJson(await readBody(r.req)));
    if (typeof def === 'string') return apiError(r, 400, 'BadRequest', def);
    const result = await deps.webhooks.test(def, ctxId, p.associateId);
    return sendJson(r.res, 200, { Success: result.ok, Message: result.message });
  }
  const id = rest.length === 1 ? parseId(rest[0]) : undefined;
  if (id === undefined) return apiError(r, 404, 'NotFound', 'No such webhook endpoint');
  if (r.method === 'GET') {
    const w = deps.webhooks.get(ctxId, id, p.app.clientId);
    if (!w) return apiError(r, 404, 'NotFound', `Webhook ${id} not found`);
    return sendJson(r.res, 200, webhookView(w));
  }
  if (r.method === 'DELETE') {
    if (!deps.webhooks.delete(ctxId, id, p.app.clientId)) return apiError(r, 404, 'NotFound', `Webhook ${id} not found`);
    r.res.writeHead(204, { 'Content-Length': '0' });
    r.res.end();
    return;
  }
  if (r.method === 'PUT') {
    if (!deps.webhooks.get(ctxId, id, p.app.clientId)) return apiError(r, 404, 'NotFound', `Webhook ${id} not found`);
    return saveWebhook(deps, r, p, id);
  }
  methodNotAllowed(r, 'GET, PUT, DELETE');
}

async function saveWebhook(deps: WebApiDeps, r: SimRequest, p: ApiPrincipal, id: number | undefined): Promise<void> {
  const def = parseWebhookDefinition(parseJson(await readBody(r.req)));
  if (typeof def === 'string') return apiError(r, 400, 'BadRequest', def);
  const saved = await deps.webhooks.save(p.tenant.seed.contextIdentifier, p.app.clientId, def, p.associateId, id);
  if (!saved.ok) return apiError(r, 400, 'WebhookTestFailed', saved.message);
  sendJson(r.res, 200, webhookView(saved.webhook));
}
