import { BrokenCircuitError, BulkheadRejectedError, ConsecutiveBreaker, bulkhead, circuitBreaker, handleWhen, type BulkheadPolicy, type CircuitBreakerPolicy } from 'cockatiel';
import { BrokerError } from '../errors/errors.js';
import type { ConnectionStore } from '../connections/connection.js';
import type { Logger } from '../log/logger.js';
import { SecretNotFoundError } from '../secrets/errors.js';
import { connectionSecretName } from '../secrets/names.js';
import type { Secret } from '../secrets/secret.js';
import type { SecretStore } from '../secrets/store.js';
import type { SuperOfficeEnvironment } from '../config/config.js';
import type { AppCredentials } from '../superoffice/appCredentials.js';
import type { RevocationOutcome, TokenEndpointOutcome, TokenGrant } from '../superoffice/oauth.js';
import { UpstreamTransportError } from '../superoffice/upstream.js';
import { RETRY_DEFAULTS, retry, retryTransient, type Transient } from '../resilience/retry.js';
import { mustRefresh, refreshReason, servableWhileFailing, shouldRefresh } from './refreshDecision.js';
import { SingleFlight } from './singleFlight.js';
import type { TenantStates } from './tenantStates.js';
import { TokenCache, type CachedToken } from './tokenCache.js';

/**
 * Turns a stored refresh token into a SuperOffice access token on demand (issue 5, requirements
 * 39–56): per-user cache with a safety margin, one refresh in flight per user per instance,
 * bounded jittered retries within the deadline, a circuit breaker on the token endpoint, a bulkhead
 * on concurrent refreshes, and classified failures.
 */

/** The SuperOffice calls the service needs (`SuperOfficeClient.token` and `.revoke`). */
export interface TokenEndpointClient {
  token(clientId: string, clientSecret: Secret, grant: TokenGrant, options?: { signal?: AbortSignal }): Promise<TokenEndpointOutcome & { readonly response: { readonly status: number } }>;
  revoke(clientId: string, clientSecret: Secret, refreshToken: Secret, options?: { signal?: AbortSignal }): Promise<RevocationOutcome>;
}

/** What revoking a user's refresh tokens at SuperOffice achieved. */
export type UpstreamRevocation = 'revoked' | 'unsupported' | 'failed';

export interface TokenServiceOptions {
  readonly clientId: string;
  readonly environment: SuperOfficeEnvironment;
  readonly secrets: SecretStore;
  readonly credentials: Pick<AppCredentials, 'clientSecret'>;
  readonly client: TokenEndpointClient;
  readonly connections: ConnectionStore;
  /** `invalidate`, when present, hears of a 503 from the token endpoint (issue 15 point 6). */
  readonly tenants: Pick<TenantStates, 'requireRunning'> & Partial<Pick<TenantStates, 'invalidate'>>;
  readonly logger: Logger;
  /**
   * Validates a refresh answer's id_token and returns its `is_administrator` claim, or undefined when
   * it cannot be read (docs/superoffice.md §5.1: the claim reflects the latest sign-in or refresh).
   */
  readonly administratorFromIdToken?: (idToken: string, subject: { ctx: string; associateId: string }) => Promise<boolean | undefined>;
  readonly clock?: () => number;
  /** Requirement 44: never serve a token with less left than this. */
  readonly safetyMarginMs?: number;
  readonly refreshAheadMs?: number;
  readonly cacheMax?: number;
  /** Requirement 41: after invalid_grant, no upstream call for this long. */
  readonly negativeTtlMs?: number;
  readonly maxAttempts?: number;
  readonly retryBaseDelayMs?: number;
  readonly retryMaxDelayMs?: number;
  /** Requirement 53. */
  readonly breakerThreshold?: number;
  readonly breakerHalfOpenAfterMs?: number;
  /** Requirement 47: concurrent refreshes, and how many may wait. */
  readonly maxConcurrentRefreshes?: number;
  readonly maxQueuedRefreshes?: number;
}

export const TOKEN_SERVICE_DEFAULTS = Object.freeze({
  safetyMarginMs: 60_000,
  refreshAheadMs: 5 * 60_000,
  cacheMax: 10_000,
  negativeTtlMs: 60_000,
  maxAttempts: RETRY_DEFAULTS.maxAttempts,
  retryBaseDelayMs: RETRY_DEFAULTS.baseDelayMs,
  retryMaxDelayMs: RETRY_DEFAULTS.maxDelayMs,
  breakerThreshold: 5,
  breakerHalfOpenAfterMs: 30_000,
  maxConcurrentRefreshes: 10,
  maxQueuedRefreshes: 100,
});

export interface UserTokenRequest {
  readonly ctx: string;
  readonly associateId: string;
  /** The caller's minimum remaining validity in seconds. */
  readonly minValiditySec?: number;
  readonly deadline: number;
  readonly signal?: AbortSignal;
  readonly correlationId?: string;
}

export interface UserToken {
  readonly accessToken: Secret;
  readonly expiresAt: number;
  /** The Web API base: the tenant state API's host, or the consent's when the status API is down. */
  readonly webApiUrl: string;
  /** `served_cached` when returned from cache because the upstream failed (requirement 46). */
  readonly flags: readonly string[];
  /** The token endpoint's last HTTP status, for the audit record. */
  readonly upstreamStatus: number | undefined;
}

type Refreshed = { readonly token: CachedToken; readonly upstreamStatus: number };

/** Thrown inside a refresh to be reported as-is; distinguishes "upstream failed" from "refused". */
class UpstreamFailure extends BrokerError {}

export class TokenService {
  readonly cache: TokenCache;
  private readonly flights = new SingleFlight<Refreshed>();
  private readonly negative = new Map<string, number>();
  private readonly breaker: CircuitBreakerPolicy;
  private readonly bulkhead: BulkheadPolicy;
  private readonly clock: () => number;
  private readonly o: Required<Pick<TokenServiceOptions, keyof typeof TOKEN_SERVICE_DEFAULTS>>;

  constructor(private readonly options: TokenServiceOptions) {
    this.o = { ...TOKEN_SERVICE_DEFAULTS, ...definedOnly(options) };
    this.clock = options.clock ?? Date.now;
    this.cache = new TokenCache(this.o.cacheMax, this.clock);
    // Only transient failures count towards opening the breaker (requirement 53).
    this.breaker = circuitBreaker(handleWhen((e) => e instanceof TransientAttempt || e instanceof UpstreamTransportError), {
      halfOpenAfter: this.o.breakerHalfOpenAfterMs,
      breaker: new ConsecutiveBreaker(this.o.breakerThreshold),
    });
    this.bulkhead = bulkhead(this.o.maxConcurrentRefreshes, this.o.maxQueuedRefreshes);
  }

  /** A Bearer access token for a connected user; throws `not_connected`, `reauth_required`, `tenant_unavailable`, `upstream_*`, `overloaded`. */
  async getUserToken(request: UserTokenRequest): Promise<UserToken> {
    const subject = { env: this.options.environment, ctx: request.ctx, associateId: request.associateId };
    const connection = await this.options.connections.get(subject, request.signal ? { signal: request.signal } : {});
    if (connection === undefined || connection.status === 'revoked') {
      throw new BrokerError('not_connected', 'No active connection for this user; send them a consent link', { extensions: { consentRequired: true } });
    }
    if (connection.status === 'reauth_required') throw this.reauthError();
    const state = await this.options.tenants.requireRunning(request.ctx, request.signal);
    const webApiUrl = state?.api ?? connection.webApiUrl;

    const key = this.cache.keyOf(subject);
    const minValidityMs = (request.minValiditySec ?? 0) * 1000;
    const reasonNow = (cached: CachedToken | undefined) => refreshReason({
      expiresAt: cached?.expiresAt, now: this.clock(), safetyMarginMs: this.o.safetyMarginMs, minValidityMs, refreshAheadMs: this.o.refreshAheadMs,
    });

    let cached = this.cache.get(key);
    let reason = reasonNow(cached);
    if (!mustRefresh(reason) && cached) {
      if (shouldRefresh(reason)) {
        // Refresh ahead in the background; failures are logged, the cached token is still good.
        this.refreshShared(key, subject, request).catch(() => undefined);
      }
      return { accessToken: cached.accessToken, expiresAt: cached.expiresAt, webApiUrl, flags: [], upstreamStatus: undefined };
    }

    const negativeUntil = this.negative.get(key);
    if (negativeUntil !== undefined && negativeUntil > this.clock()) throw this.reauthError();

    try {
      const refreshed = await this.refreshShared(key, subject, request);
      // Requirement 45: after waiting for a shared refresh, re-check against this caller's needs.
      cached = this.cache.get(key) ?? refreshed.token;
      reason = reasonNow(cached);
      if (mustRefresh(reason)) {
        throw new BrokerError('upstream_bad_response', 'SuperOffice issued a token shorter-lived than requested');
      }
      return { accessToken: cached.accessToken, expiresAt: cached.expiresAt, webApiUrl, flags: [], upstreamStatus: refreshed.upstreamStatus };
    } catch (error) {
      // Requirement 46: while the upstream fails, a cached token above the safety margin is still served.
      const stale = this.cache.get(key);
      if (error instanceof UpstreamFailure && stale && servableWhileFailing(stale.expiresAt, this.clock(), this.o.safetyMarginMs)) {
        this.options.logger.warn('tokens.served_cached', { ctx: request.ctx, errorCode: error.code });
        return { accessToken: stale.accessToken, expiresAt: stale.expiresAt, webApiUrl, flags: ['served_cached'], upstreamStatus: undefined };
      }
      throw error;
    }
  }

  /**
   * Probes a connection by refreshing its token now, bypassing the cache, so a revoked consent is
   * found before a caller needs the token. Returns the outcome code (`ok` or an error code).
   */
  async probe(ctx: string, associateId: string, deadline: number): Promise<string> {
    const subject = { env: this.options.environment, ctx, associateId };
    const key = this.cache.keyOf(subject);
    try {
      await this.refreshShared(key, subject, { ctx, associateId, deadline, signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
      await this.options.connections.recordSuccess(subject, 'probe');
      return 'ok';
    } catch (error) {
      const code = error instanceof BrokerError ? error.code : 'internal';
      // reauth_required already marked the connection; other failures are recorded without a status change.
      if (code !== 'reauth_required') await this.options.connections.recordProbeFailure(subject, code).catch((error: unknown) => this.options.logger.warn('tokens.connection_update_failed', { errorCode: error instanceof BrokerError ? error.code : 'internal' }));
      return code;
    }
  }

  /** Drops a user's cached token (on revocation). */
  forget(ctx: string, associateId: string): void {
    const key = this.cache.keyOf({ env: this.options.environment, ctx, associateId });
    this.cache.delete(key);
    this.negative.delete(key);
  }

  /**
   * Revokes refresh tokens at SuperOffice (RFC 7009, issue 10 point 11), one after the other, each
   * retried on network errors and transient statuses within the attempts and the caller's signal
   * (requirements 50–52); an `invalid_client` re-reads the client_secret once (requirement 42).
   * Never throws for an upstream failure: returns `failed`, or `unsupported` when SuperOffice's
   * discovery names no revocation endpoint.
   */
  async revokeRefreshTokens(refreshTokens: readonly Secret[], options: { readonly signal?: AbortSignal; readonly correlationId?: string } = {}): Promise<UpstreamRevocation> {
    const call = { ...(options.signal ? { signal: options.signal } : {}), ...(options.correlationId ? { correlationId: options.correlationId } : {}) };
    let clientSecret: Secret;
    try {
      clientSecret = await this.options.credentials.clientSecret(call);
    } catch (error) {
      this.options.logger.warn('tokens.revocation_failed', { errorCode: error instanceof BrokerError ? error.code : 'internal' });
      return 'failed';
    }
    let rereadSecret = false;
    for (const refreshToken of refreshTokens) {
      let outcome: RevocationOutcome;
      try {
        outcome = await this.revokeWithRetries(refreshToken, clientSecret, options.signal);
        if (outcome.kind === 'refused' && outcome.error === 'invalid_client' && !rereadSecret) {
          rereadSecret = true;
          clientSecret = await this.options.credentials.clientSecret({ ...call, fresh: true });
          outcome = await this.revokeWithRetries(refreshToken, clientSecret, options.signal);
        }
      } catch (error) {
        this.options.logger.warn('tokens.revocation_failed', { errorCode: error instanceof BrokerError ? error.code : 'internal' });
        return 'failed';
      }
      if (outcome.kind === 'unsupported') return 'unsupported';
      if (outcome.kind !== 'revoked') {
        this.options.logger.warn('tokens.revocation_failed', { upstreamStatus: outcome.status, errorCode: outcome.kind === 'refused' ? outcome.error : 'transient' });
        return 'failed';
      }
    }
    return 'revoked';
  }

  private revokeWithRetries(refreshToken: Secret, clientSecret: Secret, signal: AbortSignal | undefined): Promise<RevocationOutcome> {
    return retry(
      () => this.options.client.revoke(this.options.clientId, clientSecret, refreshToken, signal ? { signal } : {}),
      (outcome) => {
        if (outcome.ok) return outcome.value.kind === 'transient' ? { retryAfterSec: outcome.value.retryAfterSec } : false;
        const unavailable = outcome.error instanceof UpstreamTransportError || (outcome.error instanceof BrokerError && outcome.error.code === 'upstream_unavailable');
        return unavailable ? {} : false;
      },
      {
        maxAttempts: this.o.maxAttempts,
        baseDelayMs: this.o.retryBaseDelayMs,
        maxDelayMs: this.o.retryMaxDelayMs,
        ...(signal ? { signal } : {}),
      },
    );
  }

  /** The breaker's state, for tests and health. */
  get breakerState(): string {
    return String(this.breaker.state);
  }

  private reauthError(): BrokerError {
    return new BrokerError('reauth_required', 'The user must consent again; send them a new consent link', { extensions: { consentRequired: true } });
  }

  private refreshShared(key: string, subject: { env: string; ctx: string; associateId: string }, request: UserTokenRequest): Promise<Refreshed> {
    return this.flights.run(key, async () => {
      try {
        return await this.bulkhead.execute(() => this.refresh(key, subject, request));
      } catch (error) {
        if (error instanceof BulkheadRejectedError) {
          throw new UpstreamFailure('overloaded', 'Too many token refreshes are in progress', { retryAfterSec: 1 });
        }
        throw error;
      }
    });
  }

  private async refresh(key: string, subject: { env: string; ctx: string; associateId: string }, request: UserTokenRequest): Promise<Refreshed> {
    const secretName = connectionSecretName(this.options.environment, subject.ctx, subject.associateId);
    const call = { ...(request.signal ? { signal: request.signal } : {}), ...(request.correlationId ? { correlationId: request.correlationId } : {}) };
    let refreshToken: Secret;
    try {
      // Refresh tokens are read fresh and not kept in memory beyond this refresh (docs/security.md §4).
      refreshToken = (await this.options.secrets.get(secretName, { ...call, fresh: true })).value;
    } catch (error) {
      if (error instanceof SecretNotFoundError) {
        throw new BrokerError('not_connected', 'No active connection for this user; send them a consent link', { extensions: { consentRequired: true } });
      }
      throw error;
    }

    let clientSecret = await this.options.credentials.clientSecret(call);
    let rereadSecret = false;
    for (;;) {
      const outcome = await this.refreshWithRetries(refreshToken, clientSecret, request);
      switch (outcome.kind) {
        case 'tokens': {
          if (outcome.tokens.refreshToken !== undefined && outcome.tokens.refreshToken.reveal() !== refreshToken.reveal()) {
            // Requirement 39: a rotated refresh token is persisted before the access token is released.
            try {
              await this.options.secrets.set(secretName, outcome.tokens.refreshToken, { ...call, contentType: 'application/vnd.superoffice.refresh-token' });
            } catch (error) {
              throw new BrokerError('secret_store_unavailable', 'The new refresh token could not be stored', { cause: error, retryAfterSec: 5, extensions: { reason: 'rt_persist_failed' } });
            }
          }
          const token: CachedToken = { accessToken: outcome.tokens.accessToken, expiresAt: this.clock() + outcome.tokens.expiresInSec * 1000 };
          this.cache.set(key, token);
          this.negative.delete(key);
          const idToken = outcome.tokens.idToken;
          const isAdministrator = idToken !== undefined && this.options.administratorFromIdToken
            ? await this.options.administratorFromIdToken(idToken, subject).catch(() => undefined) // unknown: the record keeps its last flag
            : undefined;
          this.options.connections.recordSuccess(subject, 'refresh', isAdministrator).catch((error: unknown) => this.options.logger.warn('tokens.connection_update_failed', { errorCode: error instanceof BrokerError ? error.code : 'internal' }));
          return { token, upstreamStatus: outcome.response.status };
        }
        case 'oauth_error': {
          if (outcome.error === 'invalid_client' && !rereadSecret) {
            // Requirement 42: the client_secret may have been rotated; re-read it once and retry once.
            rereadSecret = true;
            clientSecret = await this.options.credentials.clientSecret({ ...call, fresh: true });
            continue;
          }
          if (outcome.error === 'invalid_client') {
            throw new UpstreamFailure('upstream_unavailable', 'SuperOffice refused the app credentials', { retryAfterSec: 60, extensions: { reason: 'invalid_client' } });
          }
          // Requirement 40: permanent; mark the connection and stop calling (41).
          this.negative.set(key, this.clock() + this.o.negativeTtlMs);
          this.cache.delete(key);
          await this.options.connections.setStatus(subject, 'reauth_required', outcome.error).catch((error: unknown) => this.options.logger.warn('tokens.connection_update_failed', { errorCode: error instanceof BrokerError ? error.code : 'internal' }));
          throw this.reauthError();
        }
        case 'transient':
          throw new UpstreamFailure('upstream_unavailable', `SuperOffice's token endpoint is unavailable (HTTP ${outcome.status})`, {
            retryAfterSec: outcome.retryAfterSec ?? 5,
          });
        case 'rejected':
          throw new UpstreamFailure('upstream_bad_response', `SuperOffice's token endpoint refused the request (HTTP ${outcome.status})`);
        case 'malformed':
          throw new UpstreamFailure('upstream_bad_response', `SuperOffice's token endpoint answered malformed (${outcome.problem})`);
      }
    }
  }

  /** One token call per attempt through the breaker; transient outcomes are retried within the deadline. */
  private async refreshWithRetries(refreshToken: Secret, clientSecret: Secret, request: UserTokenRequest): Promise<TokenEndpointOutcome & { response: { status: number } }> {
    const result = await retryTransient<TokenEndpointOutcome & { response: { status: number } }, TransientAttempt>(
      async () => {
        try {
          return await this.breaker.execute(async () => {
            const outcome = await this.options.client.token(this.options.clientId, clientSecret, { grantType: 'refresh_token', refreshToken }, request.signal ? { signal: request.signal } : {});
            if (outcome.kind === 'transient') throw new TransientAttempt(outcome.status, outcome.retryAfterSec);
            return outcome;
          });
        } catch (error) {
          if (error instanceof TransientAttempt) return error;
          if (error instanceof UpstreamTransportError) return new TransientAttempt(error.code === 'upstream_timeout' ? 504 : 503, undefined, error);
          if (error instanceof BrokenCircuitError) {
            // Requirement 53: while open, fail fast with no upstream call.
            throw new UpstreamFailure('upstream_unavailable', "SuperOffice's token endpoint is failing; not calling it for now", { retryAfterSec: Math.ceil(this.o.breakerHalfOpenAfterMs / 1000) });
          }
          throw error;
        }
      },
      (r): r is TransientAttempt => r instanceof TransientAttempt,
      {
        maxAttempts: this.o.maxAttempts,
        baseDelayMs: this.o.retryBaseDelayMs,
        maxDelayMs: this.o.retryMaxDelayMs,
        deadline: request.deadline - 250,
        ...(request.signal ? { signal: request.signal } : {}),
      },
    );
    if (result instanceof TransientAttempt) {
      // A 503 may mean the tenant went into maintenance: have its state asked again.
      if (result.status === 503 && !result.transport) this.options.tenants.invalidate?.(request.ctx);
      throw new UpstreamFailure(result.status === 504 ? 'upstream_timeout' : 'upstream_unavailable', `SuperOffice's token endpoint is unavailable (HTTP ${result.status})`, {
        retryAfterSec: result.retryAfterSec ?? 5,
        ...(result.transport ? { cause: result.transport } : {}),
      });
    }
    return result;
  }
}

/** A transient token-endpoint failure, thrown inside the breaker so it counts, and retried. */
class TransientAttempt extends Error implements Transient {
  constructor(
    readonly status: number,
    readonly retryAfterSec: number | undefined,
    readonly transport?: UpstreamTransportError,
  ) {
    super(`transient ${status}`);
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
