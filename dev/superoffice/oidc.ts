/**
 * SuperID's OpenID Connect front channel: discovery, JWKS and the authorization endpoint with its HTML
 * tenant picker and login/consent page (docs/superoffice.md §1.1–§1.2).
 *
 * Authorization request rules (RFC 6749 §4.1.2.1 order):
 * - unknown `client_id` or a `redirect_uri` that is not byte-identical to a registered one → HTML error page,
 *   never a redirect ("Authorization error: InvalidRedirectUrl (2)");
 * - anything else wrong → redirect with `error=…` and `state`;
 * - PKCE: `code_challenge_method` is `S256` or `plain`, and **`plain` when omitted** (SuperOffice's default);
 * - `acr_values=tenant:CustNNNNN` selects the tenant, otherwise a tenant picker is shown.
 * Only `response_type=code` is simulated (discovery lists the others as SuperOffice does).
 */
import type { AppRegistration } from './seed.js';
import {
  mediaType,
  parseForm,
  readBody,
  sendHtml,
  sendJson,
  type SimContext,
  type SimRequest,
} from './http.js';
import { errorPage, formPostPage, loginPage, tenantPickerPage, type Page } from './loginPage.js';
import {
  AUTHORIZATION_CODE_TTL_MS,
  PENDING_REQUEST_TTL_MS,
  randomId,
  type PendingAuthorization,
  type PkceMethod,
  type ResponseMode,
  type TenantRuntime,
} from './store.js';
import { isRunningState } from './seed.js';

export const AUTHORIZE_PATH = '/login/common/oauth/authorize';
export const TOKEN_PATH = '/login/common/oauth/tokens';
/**
 * SuperOffice documents that a revocation endpoint exists ("used to revoke access tokens (reference tokens
 * only) and refresh token", https://github.com/SuperOfficeDocs/superoffice-docs/blob/main/docs/en/api/authentication/online/api.md)
 * but not its URL: clients read `revocation_endpoint` from discovery. This path is the simulator's own.
 */
export const REVOCATION_PATH = '/login/common/oauth/revoke';
export const JWKS_PATH = '/login/.well-known/jwks';
export const DISCOVERY_PATH = '/login/.well-known/openid-configuration';

/** The discovery document; values from SuperOffice's published metadata (docs/superoffice.md §1.1), plus the revocation endpoint. */
export function discoveryDocument(url: string): Record<string, unknown> {
  return {
    issuer: url,
    authorization_endpoint: `${url}${AUTHORIZE_PATH}`,
    token_endpoint: `${url}${TOKEN_PATH}`,
    revocation_endpoint: `${url}${REVOCATION_PATH}`,
    jwks_uri: `${url}${JWKS_PATH}`,
    scopes_supported: ['openid'],
    response_modes_supported: ['form_post', 'fragment', 'query'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    grant_types_supported: ['implicit', 'authorization_code', 'refresh_token'],
  };
}

export function handleDiscovery(ctx: SimContext, r: SimRequest): void {
  if (r.method !== 'GET') return methodNotAllowed(r, 'GET');
  sendJson(r.res, 200, discoveryDocument(ctx.url), { 'Cache-Control': 'public, max-age=60' });
}

export function handleJwks(ctx: SimContext, r: SimRequest): void {
  if (r.method !== 'GET') return methodNotAllowed(r, 'GET');
  sendJson(r.res, 200, ctx.keys.jwks(), { 'Cache-Control': 'public, max-age=60' });
}

function methodNotAllowed(r: SimRequest, allow: string): void {
  sendJson(r.res, 405, { error: 'invalid_request', error_description: `Method ${r.method} not allowed` }, { Allow: allow });
}

function sendPage(r: SimRequest, status: number, page: Page): void {
  sendHtml(r.res, status, page.html, page.headers);
}

/** RFC 7636: S256 challenges are 43 base64url characters; plain ones are verifier-shaped. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const PLAIN_CHALLENGE = /^[A-Za-z0-9\-._~]{43,128}$/;

type AuthorizeParams = Map<string, string>;

function single(url: URL): { params: AuthorizeParams; duplicates: string[] } {
  const params = new Map<string, string>();
  const duplicates: string[] = [];
  for (const [k, v] of url.searchParams) {
    if (params.has(k)) duplicates.push(k);
    else params.set(k, v);
  }
  return { params, duplicates };
}

/** Sends the authorization response (success or error) to the client in the requested response mode. */
function respondToClient(
  r: SimRequest,
  redirectUri: string,
  mode: ResponseMode,
  values: Readonly<Record<string, string | undefined>>,
): void {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) params[k] = v;
  if (mode === 'form_post') {
    sendPage(r, 200, formPostPage(redirectUri, params));
    return;
  }
  const target = new URL(redirectUri);
  if (mode === 'fragment') {
    target.hash = new URLSearchParams(params).toString();
  } else {
    for (const [k, v] of Object.entries(params)) target.searchParams.append(k, v);
  }
  r.res.writeHead(302, {
    Location: target.toString(),
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'Content-Length': '0',
  });
  r.res.end();
}

function tenantFromAcr(acr: string | undefined): string | undefined {
  if (acr === undefined) return undefined;
  for (const token of acr.split(/\s+/)) {
    if (token.toLowerCase().startsWith('tenant:')) return token.slice('tenant:'.length);
  }
  return undefined;
}

function renderLogin(pending: PendingAuthorization, tenant: TenantRuntime, app: AppRegistration, error?: string): Page {
  return loginPage({
    requestId: pending.id,
    appName: app.name,
    tenant: { contextIdentifier: tenant.seed.contextIdentifier, companyName: tenant.seed.companyName },
    users: tenant.seed.users.map((u) => ({
      associateId: u.associateId,
      fullName: u.fullName,
      email: u.email,
      isAdministrator: u.isAdministrator,
    })),
    preselectEmail: pending.loginHint,
    error,
    redirectOrigin: new URL(pending.redirectUri).origin,
  });
}

/** GET /login/common/oauth/authorize */
export function handleAuthorize(ctx: SimContext, r: SimRequest): void {
  if (r.method !== 'GET') return methodNotAllowed(r, 'GET');
  const { params, duplicates } = single(r.url);
  const clientId = params.get('client_id');
  const app = clientId === undefined ? undefined : ctx.store.apps.get(clientId);
  if (!app) {
    sendPage(r, 400, errorPage('Authorization error', 'Authorization error: unknown application (client_id)'));
    return;
  }
  const redirectUri = params.get('redirect_uri');
  if (redirectUri === undefined || !app.redirectUris.includes(redirectUri) || duplicates.includes('redirect_uri')) {
    ctx.log('authorize: redirect_uri mismatch', { clientId: app.clientId });
    sendPage(r, 400, errorPage('Authorization error', 'Authorization error: InvalidRedirectUrl (2)'));
    return;
  }
  const state = params.get('state');
  const modeParam = params.get('response_mode');
  const mode: ResponseMode =
    modeParam === 'fragment' || modeParam === 'form_post' || modeParam === 'query' ? modeParam : 'query';
  const fail = (error: string, description: string): void =>
    respondToClient(r, redirectUri, mode, { error, error_description: description, state });

  if (duplicates.length > 0) return fail('invalid_request', `Parameter repeated: ${duplicates.join(', ')}`);
  if (modeParam !== undefined && modeParam !== mode) return fail('invalid_request', 'Unsupported response_mode');
  const responseType = params.get('response_type');
  if (responseType === undefined) return fail('invalid_request', 'response_type is required');
  if (responseType !== 'code') {
    return fail('unsupported_response_type', 'Only response_type=code is supported by the simulator');
  }
  const scope = params.get('scope') ?? '';
  if (!scope.split(/\s+/).includes('openid')) return fail('invalid_scope', 'scope must contain openid');

  const codeChallenge = params.get('code_challenge');
  const methodParam = params.get('code_challenge_method');
  let method: PkceMethod = 'plain';
  if (methodParam !== undefined) {
    if (methodParam !== 'S256' && methodParam !== 'plain') {
      return fail('invalid_request', 'code_challenge_method must be S256 or plain');
    }
    method = methodParam;
    if (codeChallenge === undefined) return fail('invalid_request', 'code_challenge is required with code_challenge_method');
  }
  if (codeChallenge !== undefined) {
    const ok = method === 'S256' ? S256_CHALLENGE.test(codeChallenge) : PLAIN_CHALLENGE.test(codeChallenge);
    if (!ok) return fail('invalid_request', `code_challenge is not a valid ${method} challenge`);
  }

  let tenantCtx: string | undefined;
  const acrTenant = tenantFromAcr(params.get('acr_values'));
  if (acrTenant !== undefined) {
    const tenant = ctx.store.tenant(acrTenant);
    if (!tenant) return fail('invalid_request', 'Unknown tenant in acr_values');
    if (!isRunningState(tenant.state)) return fail('temporarily_unavailable', `Tenant is not available (${tenant.state})`);
    tenantCtx = tenant.seed.contextIdentifier;
  }

  const pending: PendingAuthorization = {
    id: randomId(),
    clientId: app.clientId,
    redirectUri,
    state,
    nonce: params.get('nonce'),
    codeChallenge,
    codeChallengeMethod: method,
    responseMode: mode,
    loginHint: params.get('login_hint'),
    tenant: tenantCtx,
    expiresAt: ctx.now() + PENDING_REQUEST_TTL_MS,
  };
  ctx.store.pending.set(pending.id, pending);

  const tenant = tenantCtx === undefined ? undefined : ctx.store.tenant(tenantCtx);
  if (tenant) {
    sendPage(r, 200, renderLogin(pending, tenant, app));
    return;
  }
  const choices = [...ctx.store.tenants.values()].map((t) => ({
    contextIdentifier: t.seed.contextIdentifier,
    companyName: t.seed.companyName,
  }));
  sendPage(r, 200, tenantPickerPage(pending.id, app.name, choices));
}

async function readForm(r: SimRequest): Promise<Map<string, string> | undefined> {
  if (mediaType(r.req) !== 'application/x-www-form-urlencoded') {
    sendPage(r, 415, errorPage('Authorization error', 'Expected a form submission'));
    return undefined;
  }
  const body = await readBody(r.req);
  return parseForm(body.toString('utf8')).values;
}

function livePending(ctx: SimContext, id: string | undefined): PendingAuthorization | undefined {
  if (id === undefined) return undefined;
  const pending = ctx.store.pending.get(id);
  if (!pending) return undefined;
  if (pending.expiresAt <= ctx.now()) {
    ctx.store.pending.delete(id);
    return undefined;
  }
  return pending;
}

const EXPIRED_MESSAGE = 'Authorization error: the sign-in request is unknown or has expired. Start again from the application.';

/** POST /login/common/oauth/authorize/tenant (tenant picker) */
export async function handleTenantChoice(ctx: SimContext, r: SimRequest): Promise<void> {
  if (r.method !== 'POST') return methodNotAllowed(r, 'POST');
  const form = await readForm(r);
  if (!form) return;
  const pending = livePending(ctx, form.get('request_id'));
  const app = pending ? ctx.store.apps.get(pending.clientId) : undefined;
  if (!pending || !app) {
    sendPage(r, 400, errorPage('Authorization error', EXPIRED_MESSAGE));
    return;
  }
  const tenant = ctx.store.tenant(form.get('tenant') ?? '');
  if (!tenant) {
    sendPage(r, 400, errorPage('Authorization error', 'Authorization error: unknown tenant'));
    return;
  }
  if (!isRunningState(tenant.state)) {
    ctx.store.pending.delete(pending.id);
    respondToClient(r, pending.redirectUri, pending.responseMode, {
      error: 'temporarily_unavailable',
      error_description: `Tenant is not available (${tenant.state})`,
      state: pending.state,
    });
    return;
  }
  pending.tenant = tenant.seed.contextIdentifier;
  sendPage(r, 200, renderLogin(pending, tenant, app));
}

/** POST /login/common/oauth/authorize/decision (Approve / Deny) */
export async function handleDecision(ctx: SimContext, r: SimRequest): Promise<void> {
  if (r.method !== 'POST') return methodNotAllowed(r, 'POST');
  const form = await readForm(r);
  if (!form) return;
  const pending = livePending(ctx, form.get('request_id'));
  const app = pending ? ctx.store.apps.get(pending.clientId) : undefined;
  const tenant = pending?.tenant === undefined ? undefined : ctx.store.tenant(pending.tenant);
  if (!pending || !app || !tenant) {
    sendPage(r, 400, errorPage('Authorization error', EXPIRED_MESSAGE));
    return;
  }
  const decision = form.get('decision');
  if (decision === 'deny') {
    ctx.store.pending.delete(pending.id);
    respondToClient(r, pending.redirectUri, pending.responseMode, {
      error: 'access_denied',
      error_description: 'The user denied access',
      state: pending.state,
    });
    return;
  }
  if (decision !== 'approve') {
    sendPage(r, 400, renderLogin(pending, tenant, app, 'Choose Approve or Deny.'));
    return;
  }
  const associateId = Number(form.get('associate_id') ?? '');
  const user = Number.isInteger(associateId) ? ctx.store.user(tenant, associateId) : undefined;
  if (!user) {
    sendPage(r, 400, renderLogin(pending, tenant, app, 'Choose a user to sign in as.'));
    return;
  }
  ctx.store.pending.delete(pending.id);
  const now = ctx.now();
  const consent = ctx.store.ensureConsent(app.clientId, tenant.seed.contextIdentifier, user.associateId, now);
  const code = randomId(32);
  ctx.store.codes.set(code, {
    clientId: app.clientId,
    redirectUri: pending.redirectUri,
    ctx: tenant.seed.contextIdentifier,
    associateId: user.associateId,
    consentId: consent.id,
    nonce: pending.nonce,
    codeChallenge: pending.codeChallenge,
    codeChallengeMethod: pending.codeChallengeMethod,
    expiresAt: now + AUTHORIZATION_CODE_TTL_MS,
    used: false,
  });
  ctx.log('authorize: approved', { clientId: app.clientId, ctx: tenant.seed.contextIdentifier, associateId: user.associateId });
  respondToClient(r, pending.redirectUri, pending.responseMode, { code, state: pending.state });
}
