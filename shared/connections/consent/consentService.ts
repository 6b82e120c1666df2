import type { Cookie } from '@azure/functions';
import type { Config } from '../../config/config.js';
import { BrokerError } from '../../errors/errors.js';
import { callerId, type Caller } from '../../identity/caller.js';
import { assertSubject, parsePolicy } from '../../identity/policy.js';
import type { Logger } from '../../log/logger.js';
import { retry } from '../../resilience/retry.js';
import { connectionSecretName, systemUserSecretName } from '../../secrets/names.js';
import { Secret } from '../../secrets/secret.js';
import type { SecretStore } from '../../secrets/store.js';
import type { AppCredentials } from '../../superoffice/appCredentials.js';
import { isAssociateId } from '../../superoffice/identifiers.js';
import type { SuperOfficeClient } from '../../superoffice/client.js';
import { IdTokenError, safeEqual, validateIdToken, type IdTokenExpectations, type SuperOfficeIdentity } from '../../superoffice/idToken.js';
import { buildAuthorizeUrl, type SuperOfficeEndpoints, type TokenEndpointOutcome } from '../../superoffice/oauth.js';
import { UpstreamTransportError } from '../../superoffice/upstream.js';
import type { ConnectionStore } from '../connection.js';
import { openDoneNotice, withDoneNotice, type ConnectedSubject } from './donePage.js';
import { ConsentKeyring } from './keyring.js';
import type { FailurePage } from './pages.js';
import { codeChallengeS256, newCodeVerifier, newNonce, newState } from './pkce.js';
import type { RedemptionStore } from './redemptions.js';
import { isSafeReturnTo } from './returnTo.js';
import { decodeTicket, encodeTicket, newTicket } from './ticket.js';
import {
  TRANSACTION_TTL_SEC,
  decodeTransaction,
  encodeTransaction,
  readTransactionCookie,
  transactionCookie,
  type ConsentTransaction,
} from './transactionCookie.js';

/**
 * The consent flow (docs/security.md §1 and §7 C; docs/superoffice.md §1–§2): mint a single-use onboarding
 * link for an authorized caller, start the SuperOffice authorization-code + PKCE request bound to the
 * browser by an encrypted cookie, and finish it on the callback: exactly one code exchange, id_token
 * validation, and only then the refresh token (and an administrator's system-user token) into Key
 * Vault and the connection record into Table Storage. Every refusal is a typed outcome with a reason
 * code for the audit record and a generic page for the browser.
 */

/** Paths of the consent routes (route prefix `api`). */
export const CONSENT_START_PATH = '/api/consent/start';
export const CONSENT_DONE_PATH = '/api/consent/done';

/** Attempts of the code exchange; only a connection that failed before the request was sent is retried (requirement 33). */
export const MAX_EXCHANGE_ATTEMPTS = 3;
const DEFAULT_EXCHANGE_RETRY_DELAY_MS = 100;
const MAX_CODE_LENGTH = 4096;
const MAX_STATE_LENGTH = 512;
/** RFC 6749 §A.11: a code is VSCHAR (printable ASCII). */
const CODE_PATTERN = /^[\x20-\x7e]+$/;

export interface ConsentServiceDeps {
  readonly config: Config;
  readonly secrets: SecretStore;
  readonly appCredentials: Pick<AppCredentials, 'clientSecret'>;
  readonly superOffice: {
    readonly endpoints: SuperOfficeEndpoints;
    readonly keys: IdTokenExpectations['keys'];
    readonly token: SuperOfficeClient['token'];
  };
  readonly connections: Pick<ConnectionStore, 'saveConsent'>;
  readonly redemptions: RedemptionStore;
  readonly logger?: Logger;
  /** The audit fingerprint (`fp1_…`) of a token (requirement 59); when absent, records carry none. */
  readonly fingerprint?: (token: Secret) => Promise<string>;
  /** Milliseconds since epoch; default `Date.now`. */
  readonly clock?: () => number;
  /** Base delay between code-exchange attempts after a pre-send failure; default 100 ms. */
  readonly exchangeRetryDelayMs?: number;
}

export interface ConsentCallOptions {
  readonly signal?: AbortSignal;
  /** The request id; passed to Key Vault as the client request id. */
  readonly correlationId?: string;
}

/** What a consent request is about, for the audit record. */
export interface ConsentSubject {
  readonly env: string;
  readonly ctx: string;
  readonly associateId?: string;
}

export interface ConsentLinkRequest {
  readonly ctx: string;
  readonly associateId?: string | undefined;
  readonly returnTo?: string | undefined;
}

export interface ConsentLink {
  /** `{origin of the redirect URI}/api/consent/start?ticket=…` */
  readonly url: string;
  /** ISO 8601. */
  readonly expiresAt: string;
  readonly subject: ConsentSubject;
}

/** Audit reason codes of refused or failed consent requests. */
export type ConsentFailureReason =
  | 'ticket_missing'
  | 'ticket_malformed'
  | 'ticket_invalid'
  | 'ticket_expired'
  | 'ticket_reused'
  | 'callback_invalid'
  | 'cookie_missing'
  | 'cookie_invalid'
  | 'cookie_expired'
  | 'state_missing'
  | 'state_mismatch'
  | 'state_reused'
  | 'issuer_mismatch'
  | 'as_access_denied'
  | 'as_error'
  | 'code_missing'
  | `token_${string}`
  | 'refresh_token_missing'
  | 'id_token_missing'
  | `id_token_${string}`
  | 'user_mismatch';

export interface ConsentFailure {
  readonly kind: 'failure';
  readonly status: number;
  readonly reason: ConsentFailureReason;
  readonly page: FailurePage;
  readonly subject: ConsentSubject | undefined;
  readonly upstreamStatus?: number;
}

export type StartOutcome =
  | { readonly kind: 'redirect'; readonly location: string; readonly cookie: Cookie; readonly subject: ConsentSubject }
  | ConsentFailure;

export type CallbackOutcome =
  | {
      readonly kind: 'done';
      /** A same-origin relative path without `code` or `state` (requirement 35). */
      readonly location: string;
      readonly subject: ConsentSubject;
      readonly isAdministrator: boolean;
      readonly systemUserStored: boolean;
      readonly upstreamStatus: number;
      /** Audit fingerprints of the stored refresh token (never the token). */
      readonly tokenFingerprints: readonly string[];
    }
  | ConsentFailure;

function failure(status: number, reason: ConsentFailureReason, page: FailurePage, subject?: ConsentSubject, upstreamStatus?: number): ConsentFailure {
  return { kind: 'failure', status, reason, page, subject, ...(upstreamStatus !== undefined ? { upstreamStatus } : {}) };
}

function subjectOf(env: string, ctx: string, associateId: string | undefined): ConsentSubject {
  return associateId === undefined ? { env, ctx } : { env, ctx, associateId };
}

/** The single value of a query parameter; `null` when absent, `undefined` when repeated (parameter pollution). */
function single(query: URLSearchParams, name: string): string | null | undefined {
  const values = query.getAll(name);
  if (values.length === 0) return null;
  return values.length === 1 ? values[0] : undefined;
}

function sameAssociate(a: string, b: string): boolean {
  return isAssociateId(a) && isAssociateId(b) && a === b;
}

/** Orchestrates the consent flow with injected runtime pieces (see module doc). */
export class ConsentService {
  private readonly keyring: ConsentKeyring;
  private readonly clock: () => number;

  constructor(private readonly deps: ConsentServiceDeps) {
    this.keyring = new ConsentKeyring(deps.secrets);
    this.clock = deps.clock ?? Date.now;
  }

  private nowSec(): number {
    return Math.floor(this.clock() / 1000);
  }

  private secretOptions(options: ConsentCallOptions): { signal?: AbortSignal; correlationId?: string } {
    return { ...(options.signal ? { signal: options.signal } : {}), ...(options.correlationId ? { correlationId: options.correlationId } : {}) };
  }

  /**
   * Mints a consent link (requirement 27) for a caller the policy allows for the tenant (and user);
   * throws `validation_failed` for an unsafe `returnTo` (requirement 29) and `forbidden` (a
   * `CallerDeniedError`) for a subject outside the caller's grants (requirement 16).
   */
  async createLink(caller: Caller, request: ConsentLinkRequest, options: ConsentCallOptions = {}): Promise<ConsentLink> {
    const { config } = this.deps;
    const env = config.superOffice.environment;
    if (request.returnTo !== undefined && !isSafeReturnTo(request.returnTo)) {
      throw new BrokerError('validation_failed', 'returnTo must be a relative path on this site, such as /done', {
        extensions: { errors: [{ path: 'returnTo', message: 'must be a relative path starting with a single /' }] },
      });
    }
    assertSubject(parsePolicy(config.policy), caller, 'connections.admin', {
      env,
      ctx: request.ctx,
      ...(request.associateId !== undefined ? { associateId: request.associateId } : {}),
    });
    const keys = await this.keyring.keys(this.secretOptions(options));
    const ticket = newTicket(
      {
        env,
        ctx: request.ctx,
        ...(request.associateId !== undefined ? { associateId: request.associateId } : {}),
        ...(request.returnTo !== undefined ? { returnTo: request.returnTo } : {}),
        callerId: callerId(caller),
      },
      this.nowSec(),
    );
    const url = new URL(CONSENT_START_PATH, new URL(config.superOffice.redirectUri).origin);
    url.searchParams.set('ticket', encodeTicket(keys.ticket, ticket));
    return {
      url: url.href,
      expiresAt: new Date(ticket.expiresAt * 1000).toISOString(),
      subject: subjectOf(env, request.ctx, request.associateId),
    };
  }

  /**
   * `/consent/start`: redeems the ticket once (requirement 27), then answers with the SuperOffice
   * authorize URL and the sealed transaction cookie (requirements 21–23, 28).
   */
  async start(ticketText: string | null, options: ConsentCallOptions = {}): Promise<StartOutcome> {
    const { config } = this.deps;
    const keys = await this.keyring.keys(this.secretOptions(options));
    const now = this.nowSec();
    const decoded = decodeTicket(keys.ticket, ticketText, now);
    if (!decoded.ok) return failure(400, decoded.reason, 'link_invalid');
    const ticket = decoded.ticket;
    const subject = subjectOf(ticket.env, ticket.ctx, ticket.associateId);
    if (ticket.env !== config.superOffice.environment) return failure(400, 'ticket_invalid', 'link_invalid', subject);
    if (!(await this.deps.redemptions.redeemOnce('ticket', ticket.id, ticket.expiresAt, options))) {
      return failure(400, 'ticket_reused', 'link_used', subject);
    }

    const transaction: ConsentTransaction = {
      state: newState(),
      nonce: newNonce(),
      codeVerifier: newCodeVerifier(),
      env: config.superOffice.environment,
      issuer: config.superOffice.baseUrl,
      ctx: ticket.ctx,
      associateId: ticket.associateId,
      returnTo: ticket.returnTo,
      ticketId: ticket.id,
      callerId: ticket.callerId,
      expiresAt: now + TRANSACTION_TTL_SEC,
    };
    const location = buildAuthorizeUrl(this.deps.superOffice.endpoints, {
      clientId: config.superOffice.clientId,
      // Requirement 28: from configuration only, never from Host or X-Forwarded-Host.
      redirectUri: config.superOffice.redirectUri,
      state: transaction.state,
      nonce: transaction.nonce,
      codeChallenge: codeChallengeS256(transaction.codeVerifier),
      ctx: ticket.ctx,
    });
    const cookie = transactionCookie(encodeTransaction(keys.cookie, transaction), TRANSACTION_TTL_SEC);
    return { kind: 'redirect', location, cookie, subject };
  }

  /** `/consent/done`: the tenant and user of the callback's sealed notice (donePage.ts); `undefined` if absent, invalid or expired. */
  async connected(query: URLSearchParams, options: ConsentCallOptions = {}): Promise<ConnectedSubject | undefined> {
    return openDoneNotice(await this.keyring.keys(this.secretOptions(options)), query, this.nowSec());
  }

  /**
   * `/consent/callback`: checks the browser binding before anything else (requirements 24–26, 31),
   * exchanges the code once (33), validates the id_token (30, 17), refuses another user than the link
   * named, then stores the refresh token and, for an administrator, the system-user token (37).
   */
  async callback(query: URLSearchParams, cookieHeader: string | null, options: ConsentCallOptions = {}): Promise<CallbackOutcome> {
    const { config } = this.deps;
    const code = single(query, 'code');
    const state = single(query, 'state');
    const error = single(query, 'error');
    const iss = single(query, 'iss');
    if (code === undefined || state === undefined || error === undefined || iss === undefined) {
      return failure(400, 'callback_invalid', 'session_invalid');
    }

    const keys = await this.keyring.keys(this.secretOptions(options));
    const decoded = decodeTransaction(keys.cookie, readTransactionCookie(cookieHeader), this.nowSec());
    if (!decoded.ok) return failure(400, decoded.reason, 'session_invalid');
    const txn = decoded.transaction;
    const subject = subjectOf(txn.env, txn.ctx, txn.associateId);
    if (state === null || state.length === 0 || state.length > MAX_STATE_LENGTH) return failure(400, 'state_missing', 'session_invalid', subject);
    if (!safeEqual(state, txn.state)) return failure(400, 'state_mismatch', 'session_invalid', subject);
    // Mix-up defence (requirement 31): the transaction must belong to this broker's issuer, and an
    // RFC 9207 `iss`, when SuperOffice sends one, must name it too.
    if (txn.env !== config.superOffice.environment || txn.issuer !== config.superOffice.baseUrl || (iss !== null && iss !== txn.issuer)) {
      return failure(400, 'issuer_mismatch', 'not_verified', subject);
    }
    // Requirement 25: the state is used once, across instances, even if the browser keeps the cookie.
    if (!(await this.deps.redemptions.redeemOnce('state', txn.state, txn.expiresAt, options))) {
      return failure(400, 'state_reused', 'session_invalid', subject);
    }

    if (error !== null) {
      // The AS's error text is never reflected (requirement 36): only a fixed page and reason code.
      const denied = error === 'access_denied';
      return failure(400, denied ? 'as_access_denied' : 'as_error', denied ? 'denied' : 'authorization_error', subject);
    }
    if (code === null || code.length === 0 || code.length > MAX_CODE_LENGTH || !CODE_PATTERN.test(code)) {
      return failure(400, 'code_missing', 'session_invalid', subject);
    }

    let outcome: TokenEndpointOutcome & { readonly response: { readonly status: number } };
    try {
      outcome = await this.exchange(code, txn.codeVerifier, options);
    } catch (thrown) {
      if (thrown instanceof UpstreamTransportError) {
        return failure(thrown.status, `token_${thrown.code}`, 'unavailable', subject);
      }
      throw thrown;
    }
    const upstreamStatus = outcome.response.status;
    if (outcome.kind !== 'tokens') {
      switch (outcome.kind) {
        case 'oauth_error':
          // invalid_grant: the code expired or was already used; anything else is our registration's fault.
          return outcome.error === 'invalid_grant'
            ? failure(400, 'token_invalid_grant', 'session_invalid', subject, upstreamStatus)
            : failure(502, `token_${outcome.error}`, 'unavailable', subject, upstreamStatus);
        case 'transient':
          return failure(503, 'token_transient', 'unavailable', subject, upstreamStatus);
        case 'rejected':
          return failure(502, 'token_rejected', 'unavailable', subject, upstreamStatus);
        case 'malformed':
          return failure(502, 'token_malformed', 'unavailable', subject, upstreamStatus);
      }
    }
    const tokens = outcome.tokens;
    if (tokens.idToken === undefined) return failure(502, 'id_token_missing', 'not_verified', subject, upstreamStatus);
    if (tokens.refreshToken === undefined) return failure(502, 'refresh_token_missing', 'unavailable', subject, upstreamStatus);

    let identity: SuperOfficeIdentity;
    try {
      identity = await validateIdToken(tokens.idToken, {
        issuer: txn.issuer,
        clientId: config.superOffice.clientId,
        nonce: txn.nonce,
        keys: this.deps.superOffice.keys,
        allowedApiHosts: config.superOffice.allowedApiHosts,
        expectedCtx: txn.ctx,
        now: this.nowSec(),
      });
    } catch (thrown) {
      if (thrown instanceof IdTokenError) {
        const unavailable = thrown.reason === 'keys_unavailable';
        return failure(unavailable ? 503 : 400, `id_token_${thrown.reason}`, unavailable ? 'unavailable' : 'not_verified', subject, upstreamStatus);
      }
      throw thrown;
    }

    const consented = subjectOf(txn.env, identity.ctx, identity.associateId);
    if (txn.associateId !== undefined && !sameAssociate(txn.associateId, identity.associateId)) {
      // The link named another user: store nothing (the code is spent; the tokens are dropped).
      return failure(403, 'user_mismatch', 'user_mismatch', consented, upstreamStatus);
    }

    const env = config.superOffice.environment;
    const writeOptions = this.secretOptions(options);
    // Fingerprinted first: if the audit key cannot be read, nothing is stored (fail-closed audit).
    const tokenFingerprints = this.deps.fingerprint === undefined ? [] : [await this.deps.fingerprint(tokens.refreshToken)];
    // docs/superoffice.md §2: the refresh token is stored only after the id_token validated; a new version, never delete-then-recreate.
    await this.deps.secrets.set(connectionSecretName(env, identity.ctx, identity.associateId), tokens.refreshToken, writeOptions);
    let systemUserStored = false;
    if (identity.isAdministrator && identity.systemToken !== undefined) {
      await this.deps.secrets.set(systemUserSecretName(env, identity.ctx), new Secret(identity.systemToken), writeOptions);
      systemUserStored = true;
    }
    await this.deps.connections.saveConsent({
      env,
      ctx: identity.ctx,
      associateId: identity.associateId,
      webApiUrl: identity.webApiUrl,
      isAdministrator: identity.isAdministrator,
      systemUserStored,
      consentedAt: new Date(this.clock()).toISOString(),
      consentedBy: txn.callerId,
    });
    this.deps.logger?.info('consent.stored', { env, ctx: identity.ctx, associateId: identity.associateId, outcome: systemUserStored ? 'with_system_user' : 'user_only' });
    const location = txn.returnTo !== undefined && isSafeReturnTo(txn.returnTo)
      ? txn.returnTo
      : withDoneNotice(CONSENT_DONE_PATH, keys, { ctx: identity.ctx, associateId: identity.associateId }, this.nowSec());
    return { kind: 'done', location, subject: consented, isAdministrator: identity.isAdministrator, systemUserStored, upstreamStatus, tokenFingerprints };
  }

  /** One code exchange; retried only when the connection failed before the request was sent (requirement 33). */
  private async exchange(code: string, codeVerifier: string, options: ConsentCallOptions): Promise<Awaited<ReturnType<SuperOfficeClient['token']>>> {
    const { config } = this.deps;
    const clientSecret = await this.deps.appCredentials.clientSecret(this.secretOptions(options));
    const grant = {
      grantType: 'authorization_code' as const,
      code: new Secret(code),
      codeVerifier: new Secret(codeVerifier),
      redirectUri: config.superOffice.redirectUri,
    };
    const delayMs = this.deps.exchangeRetryDelayMs ?? DEFAULT_EXCHANGE_RETRY_DELAY_MS;
    return retry(
      () => this.deps.superOffice.token(config.superOffice.clientId, clientSecret, grant, options.signal ? { signal: options.signal } : {}),
      // The code is single-use: only a connection that failed before the request left is tried again.
      (outcome) => (!outcome.ok && outcome.error instanceof UpstreamTransportError && !outcome.error.sent ? {} : false),
      {
        maxAttempts: MAX_EXCHANGE_ATTEMPTS,
        baseDelayMs: delayMs,
        maxDelayMs: delayMs * 4,
        ...(options.signal ? { signal: options.signal } : {}),
        onRetry: ({ attempt, delayMs: waitMs }) => this.deps.logger?.warn('consent.exchange_retry', { attempt, delayMs: waitMs }),
      },
    );
  }
}
