/**
 * The token endpoint `POST /login/common/oauth/tokens` (docs/superoffice.md §1.3–§1.5, §2).
 *
 * - Client authentication: `client_id`+`client_secret` in the form body, in the query string (SuperOffice's
 *   docs show that; accepted, and recorded so tests can flag it) or HTTP Basic. Using two methods at once,
 *   or sending a parameter twice, is `invalid_request`.
 * - `authorization_code`: the code is single-use (consumed by the first attempt from its own client, even a
 *   failing one), valid 10 minutes, bound to client_id, redirect_uri and the PKCE challenge.
 * - `refresh_token`: opaque, reusable, valid while the consent (app + tenant + user) exists; the response has
 *   no new refresh_token.
 * - Errors are RFC 6749 JSON: 400 `invalid_request`/`invalid_grant`/`unsupported_grant_type`, 401 `invalid_client`.
 * - The id_token has `iat` as a string and numeric `nbf` = iat−60 and `exp` = iat+300, like SuperOffice's
 *   sample. Note: jose's `jwtVerify` rejects a string `iat`; a client must verify the signature and check the
 *   claims itself.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mediaType, parseForm, readBody, sendJson, type SimContext, type SimRequest } from './http.js';
import { redactUrl } from './counters.js';
import { ACCESS_TOKEN_TTL_S, randomId, type TenantRuntime } from './store.js';
import type { AppRegistration, UserSeed } from './seed.js';

export const CLAIM_PREFIX = 'http://schemes.superoffice.net/identity/';
export const ID_TOKEN_LIFETIME_S = 300;

function oauthError(
  r: SimRequest,
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): void {
  sendJson(r.res, status, { error, error_description: description }, { Pragma: 'no-cache', ...headers });
}

/** Constant-time comparison of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

function decodeBasicPart(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

/** Parses `Authorization: Basic …` into client id and secret (RFC 6749 §2.3.1 form-encodes both). */
function parseBasic(header: string | undefined): { id: string; secret: string } | 'malformed' | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match?.[1]) return header.toLowerCase().startsWith('basic') ? 'malformed' : undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  return { id: decodeBasicPart(decoded.slice(0, colon)), secret: decodeBasicPart(decoded.slice(colon + 1)) };
}

export function newAccessToken(ctxId: string): string {
  return `8A:${ctxId}.${randomBytes(48).toString('base64')}`;
}

/** Mints the id_token for a user of a tenant (claims as in docs/superoffice.md §2). */
export async function mintIdToken(
  ctx: SimContext,
  app: AppRegistration,
  tenant: TenantRuntime,
  user: UserSeed,
  nonce: string | undefined,
): Promise<string> {
  const iat = Math.floor(ctx.now() / 1000);
  const ctxId = tenant.seed.contextIdentifier;
  const payload: Record<string, unknown> = {
    sub: user.email,
    [`${CLAIM_PREFIX}associateid`]: String(user.associateId),
    [`${CLAIM_PREFIX}identityprovider`]: 'central-superid',
    [`${CLAIM_PREFIX}email`]: user.email,
    [`${CLAIM_PREFIX}upn`]: user.email,
    [`${CLAIM_PREFIX}so_primary_email_address`]: user.email,
    [`${CLAIM_PREFIX}initials`]: user.initials,
    [`${CLAIM_PREFIX}company_name`]: tenant.seed.companyName,
    [`${CLAIM_PREFIX}is_administrator`]: user.isAdministrator ? 'True' : 'False',
    [`${CLAIM_PREFIX}ctx`]: ctxId,
    [`${CLAIM_PREFIX}netserver_url`]: `${ctx.url}/${ctxId}/Remote/Services88/`,
    [`${CLAIM_PREFIX}webapi_url`]: `${ctx.url}/${ctxId}/api/`,
    [`${CLAIM_PREFIX}serial`]: tenant.seed.serial,
  };
  if (user.isAdministrator && app.systemUserPublicKeyPem !== undefined) {
    payload[`${CLAIM_PREFIX}system_token`] = ctx.store.ensureSystemToken(ctxId, app);
  }
  payload['iat'] = String(iat);
  payload['nbf'] = iat - 60;
  payload['exp'] = iat + ID_TOKEN_LIFETIME_S;
  if (nonce !== undefined) payload['nonce'] = nonce;
  payload['iss'] = ctx.url;
  payload['aud'] = app.clientId;
  return ctx.keys.sign(payload);
}

function verifyPkce(method: 'S256' | 'plain', challenge: string, verifier: string): boolean {
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) return false;
  const computed = method === 'S256' ? createHash('sha256').update(verifier, 'ascii').digest('base64url') : verifier;
  return safeEqual(computed, challenge);
}

/**
 * Client authentication (RFC 6749 §2.3): `client_id` + `client_secret` in the form or query, or HTTP Basic —
 * one method only. Answers 400/401 itself and returns undefined when it fails.
 */
function authenticateClient(
  ctx: SimContext,
  r: SimRequest,
  params: Map<string, string>,
  basic: { id: string; secret: string } | 'malformed' | undefined,
): AppRegistration | undefined {
  if (basic === 'malformed') {
    oauthError(r, 401, 'invalid_client', 'Malformed Basic authorization header', { 'WWW-Authenticate': 'Basic realm="SuperOffice"' });
    return undefined;
  }
  let clientId = params.get('client_id');
  let clientSecret = params.get('client_secret');
  if (basic) {
    if (clientSecret !== undefined) {
      oauthError(r, 400, 'invalid_request', 'Use one client authentication method, not Basic and client_secret');
      return undefined;
    }
    if (clientId !== undefined && clientId !== basic.id) {
      oauthError(r, 400, 'invalid_request', 'client_id differs from the Basic authorization header');
      return undefined;
    }
    clientId = basic.id;
    clientSecret = basic.secret;
  }
  const challenge = basic ? { 'WWW-Authenticate': 'Basic realm="SuperOffice"' } : undefined;
  if (clientId === undefined || clientSecret === undefined) {
    oauthError(r, 401, 'invalid_client', 'Client authentication is required', challenge);
    return undefined;
  }
  const app = ctx.store.apps.get(clientId);
  if (!app || !safeEqual(clientSecret, app.clientSecret)) {
    oauthError(r, 401, 'invalid_client', 'Client authentication failed', challenge);
    return undefined;
  }
  return app;
}

interface OAuthForm {
  readonly params: Map<string, string>;
  readonly basic: ReturnType<typeof parseBasic>;
}

/**
 * Reads an OAuth form request (body, query and Basic auth), tells `observe` where each parameter came
 * from, then answers 400 itself for a body that is not a form or a parameter sent twice.
 */
async function readOAuthForm(
  r: SimRequest,
  observe: (seen: { bodyParams: string[]; queryParams: string[]; basicAuth: boolean; grantType: string | undefined }) => void = () => undefined,
): Promise<OAuthForm | undefined> {
  const body = await readBody(r.req);
  const contentType = mediaType(r.req);
  const bodyForm = parseForm(contentType === 'application/x-www-form-urlencoded' ? body.toString('utf8') : '');
  const queryForm = parseForm(r.url.search.slice(1));
  const authorization = typeof r.req.headers.authorization === 'string' ? r.req.headers.authorization : undefined;
  const basic = parseBasic(authorization);
  observe({
    bodyParams: [...bodyForm.values.keys()],
    queryParams: [...queryForm.values.keys()],
    basicAuth: basic !== undefined && basic !== 'malformed',
    grantType: bodyForm.values.get('grant_type') ?? queryForm.values.get('grant_type'),
  });
  if (body.length > 0 && contentType !== 'application/x-www-form-urlencoded') {
    oauthError(r, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    return undefined;
  }
  const repeated = [...bodyForm.duplicates, ...queryForm.duplicates];
  for (const name of queryForm.values.keys()) if (bodyForm.values.has(name)) repeated.push(name);
  if (repeated.length > 0) {
    oauthError(r, 400, 'invalid_request', `Parameter sent more than once: ${[...new Set(repeated)].join(', ')}`);
    return undefined;
  }
  return { params: new Map<string, string>([...queryForm.values, ...bodyForm.values]), basic };
}

/**
 * `POST {revocation_endpoint}` (RFC 7009; issue 10 point 11): the client authenticates as at the token
 * endpoint and sends `token` with an optional `token_type_hint`. A refresh token of that client stops
 * working at once; so does an access token. An unknown token is answered 200, as RFC 7009 §2.2 says; a
 * token issued to another client is refused with `invalid_request`.
 */
export async function handleRevoke(ctx: SimContext, r: SimRequest): Promise<void> {
  if (r.method !== 'POST') {
    oauthError(r, 405, 'invalid_request', 'The revocation endpoint accepts POST only', { Allow: 'POST' });
    return;
  }
  const form = await readOAuthForm(r);
  if (!form) return;
  const app = authenticateClient(ctx, r, form.params, form.basic);
  if (!app) return;
  const token = form.params.get('token');
  if (token === undefined || token === '') return oauthError(r, 400, 'invalid_request', 'token is required');
  const hint = form.params.get('token_type_hint');
  const refresh = ctx.store.refreshTokens.get(token);
  const access = ctx.store.accessTokens.get(token);
  const record = hint === 'access_token' ? access ?? refresh : refresh ?? access;
  if (record !== undefined && record.clientId !== app.clientId) {
    return oauthError(r, 400, 'invalid_request', 'The token was not issued to this client');
  }
  if (refresh !== undefined && refresh.clientId === app.clientId) ctx.store.refreshTokens.delete(token);
  if (access !== undefined && access.clientId === app.clientId) ctx.store.accessTokens.delete(token);
  ctx.log('revoke: token revoked', { clientId: app.clientId, known: record !== undefined });
  r.res.writeHead(200, { 'Cache-Control': 'no-store', Pragma: 'no-cache', 'Content-Length': '0' });
  r.res.end();
}

/** POST /login/common/oauth/tokens */
export async function handleTokens(ctx: SimContext, r: SimRequest): Promise<void> {
  if (r.method !== 'POST') {
    oauthError(r, 405, 'invalid_request', 'The token endpoint accepts POST only', { Allow: 'POST' });
    return;
  }
  const form = await readOAuthForm(r, (seen) => ctx.counters.recordTokenRequest({
    at: ctx.now(),
    method: r.method,
    url: redactUrl(r.url),
    contentType: r.req.headers['content-type'],
    ...seen,
  }));
  if (!form) return;
  const { params, basic } = form;

  const app = authenticateClient(ctx, r, params, basic);
  if (!app) return;

  const grantType = params.get('grant_type');
  if (grantType === undefined) return oauthError(r, 400, 'invalid_request', 'grant_type is required');
  if (grantType === 'authorization_code') return codeGrant(ctx, r, app, params);
  if (grantType === 'refresh_token') return refreshGrant(ctx, r, app, params);
  return oauthError(r, 400, 'unsupported_grant_type', `grant_type ${grantType} is not supported`);
}

async function codeGrant(ctx: SimContext, r: SimRequest, app: AppRegistration, params: Map<string, string>): Promise<void> {
  const codeValue = params.get('code');
  if (codeValue === undefined) return oauthError(r, 400, 'invalid_request', 'code is required');
  const code = ctx.store.codes.get(codeValue);
  if (!code || code.clientId !== app.clientId) {
    return oauthError(r, 400, 'invalid_grant', 'The authorization code is invalid');
  }
  if (code.used) return oauthError(r, 400, 'invalid_grant', 'The authorization code has already been used');
  code.used = true;
  if (code.expiresAt <= ctx.now()) return oauthError(r, 400, 'invalid_grant', 'The authorization code has expired');
  const redirectUri = params.get('redirect_uri');
  if (redirectUri === undefined || redirectUri !== code.redirectUri) {
    return oauthError(r, 400, 'invalid_grant', 'redirect_uri does not match the authorization request');
  }
  const verifier = params.get('code_verifier');
  if (code.codeChallenge !== undefined) {
    if (verifier === undefined) return oauthError(r, 400, 'invalid_grant', 'code_verifier is required');
    if (!verifyPkce(code.codeChallengeMethod, code.codeChallenge, verifier)) {
      return oauthError(r, 400, 'invalid_grant', 'PKCE verification failed');
    }
  } else if (verifier !== undefined) {
    return oauthError(r, 400, 'invalid_grant', 'code_verifier sent but the authorization request had no code_challenge');
  }
  const tenant = ctx.store.tenant(code.ctx);
  const user = tenant ? ctx.store.user(tenant, code.associateId) : undefined;
  if (!tenant || !user || !ctx.store.consentIsLive(app.clientId, code.ctx, code.associateId, code.consentId)) {
    return oauthError(r, 400, 'invalid_grant', 'The consent for this authorization code was revoked');
  }
  const accessToken = newAccessToken(tenant.seed.contextIdentifier);
  ctx.store.accessTokens.set(accessToken, {
    clientId: app.clientId,
    ctx: tenant.seed.contextIdentifier,
    associateId: user.associateId,
    consentId: code.consentId,
    expiresAt: ctx.now() + ACCESS_TOKEN_TTL_S * 1000,
  });
  const refreshToken = randomId(48);
  ctx.store.refreshTokens.set(refreshToken, {
    clientId: app.clientId,
    ctx: tenant.seed.contextIdentifier,
    associateId: user.associateId,
    consentId: code.consentId,
  });
  const idToken = await mintIdToken(ctx, app, tenant, user, code.nonce);
  sendJson(
    r.res,
    200,
    { token_type: 'Bearer', access_token: accessToken, expires_in: ACCESS_TOKEN_TTL_S, refresh_token: refreshToken, id_token: idToken },
    { Pragma: 'no-cache' },
  );
}

async function refreshGrant(ctx: SimContext, r: SimRequest, app: AppRegistration, params: Map<string, string>): Promise<void> {
  const value = params.get('refresh_token');
  if (value === undefined) return oauthError(r, 400, 'invalid_request', 'refresh_token is required');
  const record = ctx.store.refreshTokens.get(value);
  if (!record || record.clientId !== app.clientId) {
    return oauthError(r, 400, 'invalid_grant', 'The refresh token is invalid or the consent was revoked');
  }
  if (!ctx.store.consentIsLive(app.clientId, record.ctx, record.associateId, record.consentId)) {
    ctx.store.refreshTokens.delete(value);
    return oauthError(r, 400, 'invalid_grant', 'The consent for this refresh token was revoked');
  }
  const tenant = ctx.store.tenant(record.ctx);
  const user = tenant ? ctx.store.user(tenant, record.associateId) : undefined;
  if (!tenant || !user) return oauthError(r, 400, 'invalid_grant', 'The user no longer exists');
  const accessToken = newAccessToken(tenant.seed.contextIdentifier);
  ctx.store.accessTokens.set(accessToken, {
    clientId: app.clientId,
    ctx: tenant.seed.contextIdentifier,
    associateId: user.associateId,
    consentId: record.consentId,
    expiresAt: ctx.now() + ACCESS_TOKEN_TTL_S * 1000,
  });
  const idToken = await mintIdToken(ctx, app, tenant, user, undefined);
  sendJson(
    r.res,
    200,
    { token_type: 'Bearer', access_token: accessToken, expires_in: ACCESS_TOKEN_TTL_S, id_token: idToken },
    { Pragma: 'no-cache' },
  );
}
