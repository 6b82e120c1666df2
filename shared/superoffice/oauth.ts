import { isTransientStatus } from '../resilience/transient.js';
import type { Secret } from '../secrets/secret.js';
import type { UpstreamResponse } from './upstream.js';

/**
 * SuperOffice OAuth 2.0 / OIDC (docs/superoffice.md §1): the authorize URL, the token request (form body
 * only, requirement 32) and the classification of token-endpoint answers. Sending lives in the
 * services; everything here is pure so it is tested on canned responses.
 */

export interface SuperOfficeEndpoints {
  readonly issuer: string;
  readonly authorize: string;
  readonly tokens: string;
  readonly jwks: string;
  /** The OpenID Connect discovery document, which names the revocation endpoint. */
  readonly discovery: string;
  readonly systemUser: string;
  readonly tenantState: (ctx: string) => string;
}

/** The documented endpoint paths for an environment's base URL (https://{env}.superoffice.com or the simulator). */
export function superOfficeEndpoints(baseUrl: string): SuperOfficeEndpoints {
  return {
    issuer: baseUrl,
    authorize: `${baseUrl}/login/common/oauth/authorize`,
    tokens: `${baseUrl}/login/common/oauth/tokens`,
    jwks: `${baseUrl}/login/.well-known/jwks`,
    discovery: `${baseUrl}/login/.well-known/openid-configuration`,
    systemUser: `${baseUrl}/Login/api/PartnerSystemUser/Authenticate`,
    tenantState: (ctx) => `${baseUrl}/api/state/${encodeURIComponent(ctx)}`,
  };
}

export interface AuthorizeParams {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeChallenge: string;
  /** The tenant, sent as `acr_values=tenant:{ctx}` to skip the tenant picker. */
  readonly ctx?: string;
  readonly loginHint?: string;
}

/** The authorization URL; always states `code_challenge_method=S256` because SuperOffice defaults to `plain` (requirement 21). */
export function buildAuthorizeUrl(endpoints: SuperOfficeEndpoints, params: AuthorizeParams): string {
  const query = new URLSearchParams({
    client_id: params.clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: params.redirectUri,
    state: params.state,
    nonce: params.nonce,
    code_challenge: params.codeChallenge,
    code_challenge_method: 'S256',
  });
  if (params.ctx !== undefined) query.set('acr_values', `tenant:${params.ctx}`);
  if (params.loginHint !== undefined) query.set('login_hint', params.loginHint);
  return `${endpoints.authorize}?${query.toString()}`;
}

export type TokenGrant =
  | { readonly grantType: 'authorization_code'; readonly code: Secret; readonly codeVerifier: Secret; readonly redirectUri: string }
  | { readonly grantType: 'refresh_token'; readonly refreshToken: Secret };

/** The `application/x-www-form-urlencoded` body of a token request: the only place the secrets are revealed. */
export function tokenRequestBody(clientId: string, clientSecret: Secret, grant: TokenGrant): string {
  const form = new URLSearchParams({ grant_type: grant.grantType, client_id: clientId, client_secret: clientSecret.reveal() });
  if (grant.grantType === 'authorization_code') {
    form.set('code', grant.code.reveal());
    form.set('redirect_uri', grant.redirectUri);
    form.set('code_verifier', grant.codeVerifier.reveal());
  } else {
    form.set('refresh_token', grant.refreshToken.reveal());
  }
  return form.toString();
}

export const TOKEN_REQUEST_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'application/x-www-form-urlencoded',
  Accept: 'application/json',
};

/** OAuth error codes that are permanent: never retried (requirement 40, RFC 6749 §5.2). */
export const PERMANENT_OAUTH_ERRORS = ['invalid_grant', 'invalid_client', 'unauthorized_client', 'invalid_request', 'unsupported_grant_type', 'invalid_scope'] as const;
export type PermanentOAuthError = (typeof PERMANENT_OAUTH_ERRORS)[number];

export interface TokenSet {
  readonly accessToken: Secret;
  readonly expiresInSec: number;
  /** Present on the code grant; SuperOffice does not rotate refresh tokens, but a new one must be stored if sent. */
  readonly refreshToken: Secret | undefined;
  readonly idToken: string | undefined;
}

export type TokenEndpointOutcome =
  | { readonly kind: 'tokens'; readonly tokens: TokenSet }
  | { readonly kind: 'oauth_error'; readonly error: PermanentOAuthError; readonly status: number }
  | { readonly kind: 'transient'; readonly status: number; readonly retryAfterSec: number | undefined }
  | { readonly kind: 'rejected'; readonly status: number }
  | { readonly kind: 'malformed'; readonly status: number; readonly problem: string };

const MAX_EXPIRES_IN_SEC = 24 * 3600;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Classifies a token-endpoint answer (requirements 40, 50, 52, 55). A grant is dead only when the
 * answer says so: a 400 without a recognisable RFC 6749 §5.2 error (a proxy's page, a malformed
 * body) is `rejected`, which leaves the connection active (issue 10 point 10); a 401 without one
 * still means the client credentials were refused (RFC 6749 §5.2 `invalid_client`).
 */
export function classifyTokenResponse(response: UpstreamResponse, secretFactory: (value: string) => Secret): TokenEndpointOutcome {
  const { status } = response;
  if (isTransientStatus(status)) return { kind: 'transient', status, retryAfterSec: response.retryAfterSec };
  let body: unknown;
  try {
    body = JSON.parse(response.text) as unknown;
  } catch {
    // Not JSON: classified below from the status alone.
    body = undefined;
  }
  if (status === 200) {
    if (!isRecord(body)) return { kind: 'malformed', status, problem: 'body is not a JSON object' };
    const { access_token: accessToken, expires_in: expiresIn, token_type: tokenType, refresh_token: refreshToken, id_token: idToken } = body;
    if (typeof accessToken !== 'string' || accessToken.length === 0 || accessToken.length > 8192) {
      return { kind: 'malformed', status, problem: 'access_token missing' };
    }
    const expires = typeof expiresIn === 'string' && /^\d+$/.test(expiresIn) ? Number(expiresIn) : expiresIn;
    if (typeof expires !== 'number' || !Number.isFinite(expires) || expires <= 0 || expires > MAX_EXPIRES_IN_SEC) {
      return { kind: 'malformed', status, problem: 'expires_in missing or out of range' };
    }
    if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')) {
      return { kind: 'malformed', status, problem: 'token_type is not Bearer' };
    }
    if (refreshToken !== undefined && refreshToken !== null && (typeof refreshToken !== 'string' || refreshToken.length === 0)) {
      return { kind: 'malformed', status, problem: 'refresh_token malformed' };
    }
    if (idToken !== undefined && idToken !== null && typeof idToken !== 'string') {
      return { kind: 'malformed', status, problem: 'id_token malformed' };
    }
    return {
      kind: 'tokens',
      tokens: {
        accessToken: secretFactory(accessToken),
        expiresInSec: expires,
        refreshToken: typeof refreshToken === 'string' ? secretFactory(refreshToken) : undefined,
        idToken: typeof idToken === 'string' ? idToken : undefined,
      },
    };
  }
  const error = isRecord(body) && typeof body['error'] === 'string' ? body['error'] : undefined;
  const known = PERMANENT_OAUTH_ERRORS.find((e) => e === error);
  if (known !== undefined) return { kind: 'oauth_error', error: known, status };
  if (status === 401) return { kind: 'oauth_error', error: 'invalid_client', status };
  return { kind: 'rejected', status };
}

/**
 * Token revocation (RFC 7009; issue 10 point 11). SuperOffice's docs say the revocation endpoint exists
 * and "is used to revoke access tokens (reference tokens only) and refresh token"
 * (https://github.com/SuperOfficeDocs/superoffice-docs/blob/main/docs/en/api/authentication/online/api.md,
 * "Revocation endpoint"), but neither that page nor the published metadata excerpt
 * (https://github.com/SuperOfficeDocs/superoffice-docs/blob/main/docs/en/api/authentication/online/includes/oidc-metadata.md) gives its URL or parameters. So the URL is
 * read from `revocation_endpoint` in the discovery document (docs/superoffice.md §1.1), and the request is
 * RFC 7009 §2.1: a form POST of `token` and `token_type_hint=refresh_token`, with the client
 * authenticated as at the token endpoint (`client_secret_post`, which SuperOffice's metadata lists).
 */

/** The form body of a revocation request: the only place the token and client_secret are revealed. */
export function revocationRequestBody(clientId: string, clientSecret: Secret, refreshToken: Secret): string {
  return new URLSearchParams({
    token: refreshToken.reveal(),
    token_type_hint: 'refresh_token',
    client_id: clientId,
    client_secret: clientSecret.reveal(),
  }).toString();
}

export type RevocationOutcome =
  | { readonly kind: 'revoked' }
  /** Discovery names no revocation endpoint. */
  | { readonly kind: 'unsupported' }
  | { readonly kind: 'transient'; readonly status: number; readonly retryAfterSec: number | undefined }
  | { readonly kind: 'refused'; readonly status: number; readonly error: string | undefined };

/** RFC 7009 §2.2: 200 means revoked (also for a token the server no longer knows); §2.2.1: 503 may be retried. */
export function classifyRevocationResponse(response: UpstreamResponse): RevocationOutcome {
  if (response.status === 200) return { kind: 'revoked' };
  if (isTransientStatus(response.status)) return { kind: 'transient', status: response.status, retryAfterSec: response.retryAfterSec };
  let error: string | undefined;
  try {
    const body = JSON.parse(response.text) as unknown;
    const code = isRecord(body) ? body['error'] : undefined;
    error = typeof code === 'string' && /^[a-z_]{1,64}$/.test(code) ? code : undefined;
  } catch {
    // Not JSON: the refusal carries no OAuth error code, only its status.
    error = undefined;
  }
  return { kind: 'refused', status: response.status, error };
}

/** The `revocation_endpoint` of a discovery document, or undefined when it names none. */
export function revocationEndpointOf(discovery: unknown): string | undefined {
  if (!isRecord(discovery)) return undefined;
  const endpoint = discovery['revocation_endpoint'];
  return typeof endpoint === 'string' && endpoint.length <= 2048 ? endpoint : undefined;
}
