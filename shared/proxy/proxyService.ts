import { BrokerError } from '../errors/errors.js';
import type { ConnectionStore } from '../connections/connection.js';
import type { Logger } from '../log/logger.js';
import type { Secret } from '../secrets/secret.js';
import type { WebApiCredential, WebApiSender } from '../superoffice/client.js';
import type { TokenService } from '../tokens/tokenService.js';
import type { TenantStates } from '../tokens/tenantStates.js';
import { forwardedRequestHeaders, returnedResponseHeaders } from './headers.js';
import { upstreamUrlOf, type ProxyPath } from './path.js';
import type { ProxyMethod } from './webApiRules.js';

export type { WebApiCredential, WebApiSender };

/**
 * One Web API call made by the broker as a user or as the system user (docs/acting.md §2): the proxy
 * endpoint and the action executor share it. The caller never holds the token or ticket: the broker
 * builds the upstream URL from the tenant's Web API base, forwards allow-listed headers only, adds the
 * credential, renews it once on a 401 and retries once (a 401 means SuperOffice did not execute the
 * call, so this is safe for every method), and returns SuperOffice's answer with allow-listed headers.
 */

/** Whom the call acts as: a user (associate id) or the tenant's system user. */
export type ActAs = { readonly kind: 'user'; readonly associateId: string } | { readonly kind: 'system' };

/** Parses the `{actAs}` route value: `system` or an associate id (already validated as such). */
export function actAsOf(value: string): ActAs {
  return value === 'system' ? { kind: 'system' } : { kind: 'user', associateId: value };
}

/** Largest request body the proxy forwards (buffered, so it can be sent again after a 401). */
export const MAX_PROXY_REQUEST_BYTES = 1024 * 1024;
/** Largest response body the proxy returns; a longer one is cut off and answered 502. */
export const MAX_PROXY_RESPONSE_BYTES = 10 * 1024 * 1024;

/** The system user's credentials for one tenant (`SystemUserService.credentials`). */
export interface SystemUserCredentials {
  credentials(ctx: string, options: { readonly signal?: AbortSignal; readonly renew: boolean }): Promise<{ readonly ticket: Secret; readonly clientSecret: Secret; markUsed(): void }>;
}

export interface ProxyServiceOptions {
  readonly environment: string;
  readonly tokens: Pick<TokenService, 'getUserToken' | 'forget'>;
  readonly systemUser: SystemUserCredentials;
  readonly tenants: Pick<TenantStates, 'requireRunning'>;
  readonly connections: Pick<ConnectionStore, 'setStatus'>;
  readonly sender: WebApiSender;
  readonly logger: Logger;
}

export interface ProxyRequest {
  readonly ctx: string;
  readonly actAs: ActAs;
  readonly method: ProxyMethod;
  readonly path: ProxyPath;
  /** The caller's request headers; only the allow-listed ones are forwarded. */
  readonly headers: Headers;
  readonly body?: Uint8Array<ArrayBuffer>;
  /** Where the proxy endpoint for this ctx and actAs lives, e.g. `/api/superoffice/Cust1/5/` (Location rewrite). */
  readonly proxyPrefix: string;
  readonly deadline: number;
  readonly signal: AbortSignal;
  readonly correlationId?: string;
}

export interface ProxyResponse {
  /** SuperOffice's status, passed through. */
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** True when a 401 made the broker renew the credential and send again. */
  readonly retried: boolean;
  /** Token-service flags of the user token used (e.g. `served_cached`). */
  readonly flags: readonly string[];
}

interface Attempt {
  readonly credential: WebApiCredential;
  readonly webApiBase: string;
  readonly flags: readonly string[];
  readonly used: () => void;
}

export class ProxyService {
  constructor(private readonly options: ProxyServiceOptions) {}

  /**
   * Sends the call and returns SuperOffice's answer. Throws `not_connected`, `reauth_required` (a user
   * whose renewed token still gets 401; the connection is marked), `upstream_bad_response` (the system
   * user still gets 401, or the response is over the size bound), `tenant_unavailable`, `upstream_*`.
   */
  async call(request: ProxyRequest): Promise<ProxyResponse> {
    const forwarded = forwardedRequestHeaders(request.headers);
    for (let attempt = 1; ; attempt++) {
      const renew = attempt > 1;
      const credentials = await this.credentialsFor(request, renew);
      const url = upstreamUrlOf(credentials.webApiBase, request.path);
      const response = await this.options.sender.send({
        url,
        method: request.method,
        headers: forwarded,
        credential: credentials.credential,
        ...(request.body !== undefined && request.body.byteLength > 0 ? { body: request.body } : {}),
        signal: request.signal,
        maxResponseBytes: MAX_PROXY_RESPONSE_BYTES,
      });
      if (response.status === 401) {
        if (!renew) continue;
        throw await this.stillUnauthorized(request);
      }
      credentials.used();
      return {
        status: response.status,
        headers: returnedResponseHeaders(response.headers, { webApiBase: credentials.webApiBase, requestUrl: url, proxyPrefix: request.proxyPrefix }),
        body: response.body,
        retried: renew,
        flags: credentials.flags,
      };
    }
  }

  private async credentialsFor(request: ProxyRequest, renew: boolean): Promise<Attempt> {
    const { actAs, ctx, signal } = request;
    if (actAs.kind === 'user') {
      if (renew) this.options.tokens.forget(ctx, actAs.associateId);
      const token = await this.options.tokens.getUserToken({
        ctx,
        associateId: actAs.associateId,
        deadline: request.deadline,
        signal,
        ...(request.correlationId !== undefined ? { correlationId: request.correlationId } : {}),
      });
      return { credential: { kind: 'bearer', accessToken: token.accessToken }, webApiBase: token.webApiUrl, flags: token.flags, used: () => undefined };
    }
    const state = await this.options.tenants.requireRunning(ctx, signal);
    if (state?.api === undefined) {
      // Without the status API there is no Web API base for the system user (it has no connection record).
      throw new BrokerError('tenant_unavailable', "SuperOffice's tenant status service did not name the tenant's Web API", { retryAfterSec: 30 });
    }
    const system = await this.options.systemUser.credentials(ctx, { signal, renew });
    return { credential: { kind: 'ticket', ticket: system.ticket, clientSecret: system.clientSecret }, webApiBase: state.api, flags: [], used: () => system.markUsed() };
  }

  private async stillUnauthorized(request: ProxyRequest): Promise<BrokerError> {
    const { actAs, ctx } = request;
    if (actAs.kind === 'system') {
      return new BrokerError('upstream_bad_response', 'SuperOffice refused the system user with a fresh ticket');
    }
    // A fresh access token refused by the Web API: the consent is gone or the user lost access.
    this.options.tokens.forget(ctx, actAs.associateId);
    try {
      await this.options.connections.setStatus({ env: this.options.environment, ctx, associateId: actAs.associateId }, 'reauth_required', 'webapi_unauthorized');
    } catch (error) {
      // The caller still gets reauth_required; the daily probe marks the connection later.
      this.options.logger.warn('proxy.mark_reauth_failed', { ctx, errorName: error instanceof Error ? error.name : typeof error });
    }
    return new BrokerError('reauth_required', 'SuperOffice refused a fresh access token for this user; they must consent again', { extensions: { consentRequired: true } });
  }
}
