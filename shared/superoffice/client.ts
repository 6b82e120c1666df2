import type { JWTVerifyGetKey } from 'jose';
import type { Config } from '../config/config.js';
import { BrokerError } from '../errors/errors.js';
import { isTransientStatus } from '../resilience/transient.js';
import type { Secret } from '../secrets/secret.js';
import { secretOf } from './appCredentials.js';
import {
  TOKEN_REQUEST_HEADERS,
  classifyRevocationResponse,
  classifyTokenResponse,
  revocationEndpointOf,
  revocationRequestBody,
  superOfficeEndpoints,
  tokenRequestBody,
  type RevocationOutcome,
  type SuperOfficeEndpoints,
  type TokenEndpointOutcome,
  type TokenGrant,
} from './oauth.js';
import { remoteSigningKeys } from './signingKeys.js';
import { classifySystemUserResponse, systemUserRequestBody, type SystemUserOutcome } from './systemUser.js';
import { classifyTenantState, type TenantStateOutcome } from './tenantState.js';
import { fetchTransport } from '../net/httpTransport.js';
import { assertAllowedHost, defaultTransport, parseJsonBody, sendUpstream, sendUpstreamBytes, type UpstreamResponse, type UpstreamTransport } from './upstream.js';

/**
 * Sends the SuperOffice calls of one environment. Each method sends once and returns the classified
 * outcome; retries, breakers and caching belong to the services. Every call is bounded by
 * `timeoutMs` and the caller's signal.
 */

export interface SuperOfficeClientOptions {
  readonly config: Config;
  /** How calls are sent; default `defaultTransport`. */
  readonly transport?: UpstreamTransport;
  /** Sends through this `fetch` instead (`fetchTransport`), when no `transport` is given: how tests fake SuperOffice. */
  readonly fetch?: typeof fetch;
  /** Per-hop timeout (requirement 49). */
  readonly timeoutMs?: number;
}

/** How a Web API call authenticates: a user's access token, or the system user's ticket plus the app's secret. */
export type WebApiCredential =
  | { readonly kind: 'bearer'; readonly accessToken: Secret }
  | { readonly kind: 'ticket'; readonly ticket: Secret; readonly clientSecret: Secret };

/** One proxied Web API call, body bounded both ways (`SuperOfficeClient.send`). */
export interface WebApiSender {
  send(request: {
    readonly url: URL;
    readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
    readonly headers: Readonly<Record<string, string>>;
    readonly credential: WebApiCredential;
    readonly body?: Uint8Array<ArrayBuffer>;
    readonly signal: AbortSignal;
    readonly maxResponseBytes: number;
  }): Promise<{ readonly status: number; readonly headers: Headers; readonly body: Buffer }>;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 5000;
/** How long a fetched discovery document is used. */
const DISCOVERY_TTL_MS = 60 * 60_000;

export class SuperOfficeClient {
  readonly endpoints: SuperOfficeEndpoints;
  readonly environment: string;
  /** SuperOffice's signing keys (id_tokens and system-user JWTs): jose's timeout and cooldown, selection by kid, x5t, then each RSA key. */
  readonly keys: JWTVerifyGetKey;
  private readonly transport: UpstreamTransport;
  private readonly timeoutMs: number;
  private readonly authHosts: readonly string[];
  private discovered: { readonly revocationEndpoint: string | undefined; readonly until: number } | undefined;
  private discovering: Promise<string | undefined> | undefined;

  constructor(private readonly options: SuperOfficeClientOptions) {
    const so = options.config.superOffice;
    this.endpoints = superOfficeEndpoints(so.baseUrl);
    this.environment = so.environment;
    this.transport = options.transport ?? (options.fetch !== undefined ? fetchTransport(options.fetch) : defaultTransport);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.authHosts = [new URL(so.baseUrl).host];
    this.keys = remoteSigningKeys(new URL(this.endpoints.jwks), { timeoutMs: DEFAULT_TIMEOUT_MS, cooldownMs: 30_000, cacheMaxAgeMs: 600_000 });
  }

  /** Posts a token request (form body only, requirement 32). */
  async token(clientId: string, clientSecret: Secret, grant: TokenGrant, options: CallOptions = {}): Promise<TokenEndpointOutcome & { readonly response: UpstreamResponse }> {
    const url = new URL(this.endpoints.tokens);
    assertAllowedHost(url, this.authHosts, { exact: true });
    const response = await sendUpstream({
      method: 'POST',
      url: url.href,
      headers: TOKEN_REQUEST_HEADERS,
      body: tokenRequestBody(clientId, clientSecret, grant),
      timeoutMs: this.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    }, this.transport);
    return { ...classifyTokenResponse(response, secretOf), response };
  }

  /**
   * Revokes a refresh token at SuperOffice (RFC 7009; see `oauth.ts`): the endpoint comes from the
   * discovery document and must be on the auth host. Throws `UpstreamTransportError` and
   * `upstream_bad_response` (a discovery document that is not JSON, or an endpoint elsewhere).
   */
  async revoke(clientId: string, clientSecret: Secret, refreshToken: Secret, options: CallOptions = {}): Promise<RevocationOutcome> {
    const endpoint = await this.revocationEndpoint(options);
    if (endpoint === undefined) return { kind: 'unsupported' };
    const url = new URL(endpoint);
    assertAllowedHost(url, this.authHosts, { exact: true });
    const response = await sendUpstream({
      method: 'POST',
      url: url.href,
      headers: TOKEN_REQUEST_HEADERS,
      body: revocationRequestBody(clientId, clientSecret, refreshToken),
      timeoutMs: this.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    }, this.transport);
    return classifyRevocationResponse(response);
  }

  /** `revocation_endpoint` from the discovery document, fetched once an hour (one fetch in flight). */
  private async revocationEndpoint(options: CallOptions): Promise<string | undefined> {
    if (this.discovered !== undefined && this.discovered.until > Date.now()) return this.discovered.revocationEndpoint;
    this.discovering ??= (async () => {
      try {
        const response = await this.getFromAuthHost(this.endpoints.discovery, options);
        if (response.status !== 200) {
          throw new BrokerError(isTransientStatus(response.status) ? 'upstream_unavailable' : 'upstream_bad_response', `SuperOffice's discovery document answered HTTP ${response.status}`, { retryAfterSec: response.retryAfterSec ?? 5 });
        }
        const revocationEndpoint = revocationEndpointOf(parseJsonBody(response, "SuperOffice's discovery document"));
        this.discovered = { revocationEndpoint, until: Date.now() + DISCOVERY_TTL_MS };
        return revocationEndpoint;
      } finally {
        this.discovering = undefined;
      }
    })();
    return this.discovering;
  }

  /** Exchanges a signed system-user token for a JWT carrying the ticket. */
  async authenticateSystemUser(signed: Secret, clientSecret: Secret, ctx: string, options: CallOptions = {}): Promise<SystemUserOutcome> {
    const url = new URL(this.endpoints.systemUser);
    assertAllowedHost(url, this.authHosts, { exact: true });
    const response = await sendUpstream({
      method: 'POST',
      url: url.href,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: systemUserRequestBody(signed, clientSecret, ctx),
      timeoutMs: this.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    }, this.transport);
    return classifySystemUserResponse(response);
  }

  /** Reads the tenant state (no credentials are sent). */
  async tenantState(ctx: string, options: CallOptions = {}): Promise<TenantStateOutcome> {
    return classifyTenantState(await this.getFromAuthHost(this.endpoints.tenantState(ctx), options), ctx);
  }

  /** A GET without credentials on the exact auth host (discovery, tenant state). */
  private getFromAuthHost(target: string, options: CallOptions): Promise<UpstreamResponse> {
    const url = new URL(target);
    assertAllowedHost(url, this.authHosts, { exact: true });
    return sendUpstream({
      method: 'GET',
      url: url.href,
      headers: { Accept: 'application/json' },
      timeoutMs: this.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    }, this.transport);
  }

  /**
   * Calls the Web API with a user's access token (`Bearer`) or the system user's ticket (`SOTicket` +
   * `SO-AppToken`), only on an allow-listed host (requirement 17). `path` is relative to the tenant's
   * REST base, e.g. `v1/User/currentPrincipal`.
   */
  async webApi(
    webApiUrl: string,
    path: string,
    credential: WebApiCredential,
    options: CallOptions & { readonly method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; readonly body?: string; readonly allowedHosts?: readonly string[] } = {},
  ): Promise<UpstreamResponse> {
    const base = new URL(webApiUrl.endsWith('/') ? webApiUrl : `${webApiUrl}/`);
    const url = new URL(path.replace(/^\/+/, ''), base);
    if (!url.href.startsWith(base.href)) throw new TypeError('The Web API path escapes the tenant base');
    this.assertWebApiHost(url, options.allowedHosts);
    const headers: Record<string, string> = { Accept: 'application/json', ...credentialHeaders(credential) };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    return sendUpstream({
      method: options.method ?? 'GET',
      url: url.href,
      headers,
      ...(options.body !== undefined ? { body: options.body } : {}),
      timeoutMs: this.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    }, this.transport);
  }

  /**
   * Sends one proxied Web API call (`WebApiSender`): the URL was built by the broker under the tenant's
   * base and is still checked against the host allow-list; the response body is read up to
   * `maxResponseBytes` (beyond: `upstream_bad_response`). The per-hop bound is the caller's deadline.
   */
  readonly send: WebApiSender['send'] = async (request) => {
    this.assertWebApiHost(request.url);
    const response = await sendUpstreamBytes({
      method: request.method,
      url: request.url.href,
      headers: { ...request.headers, ...credentialHeaders(request.credential) },
      ...(request.body !== undefined ? { body: request.body } : {}),
      signal: request.signal,
      timeoutMs: this.options.config.requestDeadlineMs,
      maxBodyBytes: request.maxResponseBytes,
    }, this.transport);
    return { status: response.status, headers: response.headers, body: response.body };
  };

  private assertWebApiHost(url: URL, allowedHosts?: readonly string[]): void {
    assertAllowedHost(url, allowedHosts ?? this.options.config.superOffice.allowedApiHosts);
  }
}

/** `Authorization` (and `SO-AppToken` for a system-user ticket), docs/superoffice.md §3 and §4. */
function credentialHeaders(credential: WebApiCredential): Record<string, string> {
  return credential.kind === 'bearer'
    ? { Authorization: `Bearer ${credential.accessToken.reveal()}` }
    : { Authorization: `SOTicket ${credential.ticket.reveal()}`, 'SO-AppToken': credential.clientSecret.reveal() };
}
