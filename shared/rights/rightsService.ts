import type { RightsConfig, RightsStrategy } from '../config/config.js';
import type { ConnectionStore } from '../connections/connection.js';
import { BrokerError } from '../errors/errors.js';
import type { Secret } from '../secrets/secret.js';
import { UpstreamTransportError, parseJsonBody, type UpstreamResponse } from '../superoffice/upstream.js';
import { retryTransient, type Transient } from '../resilience/retry.js';
import { isTransientStatus } from '../resilience/transient.js';
import type { UserToken, UserTokenRequest } from '../tokens/tokenService.js';
import {
  answerFieldRight,
  answerFromScript,
  answerTableRight,
  answerTicketAccess,
  known,
  unknown,
  type EntityRead,
  type RightsAnswer,
  type ScriptRead,
} from './answers.js';
import type { RightsCheck } from './checks.js';
import { EXECUTE_SCRIPT_PATH, executeScriptBody, parametersKey, scriptParameters, strategyFor } from './crmscript.js';
import { TABLE_ENTITIES, type RightsTable } from './vocabulary.js';

/**
 * Answers rights questions about one SuperOffice user, *as that user* (their access token from the
 * token service; never the system user, docs/superoffice.md §3.9), with the tenant's strategy (issue 6):
 * - `webapi`: `isAdministrator` from the connection (the id_token's `is_administrator` at consent or
 *   last refresh); table, field and ticket-access answers from the entity's `TableRight` and
 *   `FieldProperties` (`GET v1/{Entity}/{id}`, or `GET v1/{Entity}/default` without a record);
 *   `isLoggedIn` is unknown.
 * - `crmscript`: the shipped rights-check script via `ExecuteScriptByUniqueId`, exact for every check
 *   it covers; ticket table/field rights, which CRMScript does not offer, come from the ticket's masks.
 * Within one request each record is read once and each distinct script question is asked once
 * (requirement 5 of the issue). Transient upstream failures are retried within the deadline
 * (requirements 49–52); a 401 renews the user's token once (a revoked consent then surfaces as
 * `reauth_required`). Throws `not_connected`, `reauth_required`, `tenant_unavailable`,
 * `upstream_unavailable`, `upstream_timeout`, `upstream_bad_response`.
 */

/** The token service calls the rights checks need. */
export interface UserTokenSource {
  getUserToken(request: UserTokenRequest): Promise<UserToken>;
  forget(ctx: string, associateId: string): void;
}

/** The Web API call (`SuperOfficeClient.webApi`) with a user's bearer token only. */
export interface UserWebApi {
  webApi(
    webApiUrl: string,
    path: string,
    credential: { readonly kind: 'bearer'; readonly accessToken: Secret },
    options: { readonly method?: 'GET' | 'POST'; readonly body?: string; readonly signal?: AbortSignal },
  ): Promise<UpstreamResponse>;
}

export interface RightsServiceOptions {
  readonly environment: string;
  readonly rights: RightsConfig;
  readonly tokens: UserTokenSource;
  readonly connections: Pick<ConnectionStore, 'get'>;
  readonly superOffice: UserWebApi;
  readonly maxAttempts?: number;
  readonly retryBaseDelayMs?: number;
  readonly retryMaxDelayMs?: number;
  /** Checks of one batch evaluated at once. */
  readonly concurrency?: number;
}

interface RetryAndConcurrency {
  readonly maxAttempts: number;
  readonly retryBaseDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly concurrency: number;
}

export const RIGHTS_SERVICE_DEFAULTS: RetryAndConcurrency = Object.freeze({
  maxAttempts: 3,
  retryBaseDelayMs: 200,
  retryMaxDelayMs: 2_000,
  concurrency: 4,
});

export interface RightsRequest {
  readonly ctx: string;
  readonly associateId: string;
  readonly checks: readonly RightsCheck[];
  readonly deadline: number;
  readonly signal?: AbortSignal;
  readonly correlationId?: string;
  /** Told each Web API status that becomes the request's `upstreamStatus`, also when the request then fails (audit). */
  readonly onUpstreamStatus?: (status: number) => void;
}

export interface RightsResult {
  readonly strategy: RightsStrategy;
  /** One answer per check, in order. */
  readonly answers: readonly RightsAnswer[];
  /** The first non-2xx Web API status, else the last one (audit). */
  readonly upstreamStatus: number | undefined;
  /** Audit flags, e.g. `served_cached` from the token service. */
  readonly flags: readonly string[];
}

/** Leave the wrapper this much of the deadline to answer. */
const DEADLINE_RESERVE_MS = 250;

/** A transient answer or transport failure of one attempt, retried by `retryTransient`. */
class TransientAttempt implements Transient {
  constructor(
    readonly status: number,
    readonly retryAfterSec: number | undefined,
    readonly transport?: UpstreamTransportError,
  ) {}
}

export class RightsService {
  private readonly o: RetryAndConcurrency;

  constructor(private readonly options: RightsServiceOptions) {
    this.o = {
      maxAttempts: options.maxAttempts ?? RIGHTS_SERVICE_DEFAULTS.maxAttempts,
      retryBaseDelayMs: options.retryBaseDelayMs ?? RIGHTS_SERVICE_DEFAULTS.retryBaseDelayMs,
      retryMaxDelayMs: options.retryMaxDelayMs ?? RIGHTS_SERVICE_DEFAULTS.retryMaxDelayMs,
      concurrency: options.concurrency ?? RIGHTS_SERVICE_DEFAULTS.concurrency,
    };
  }

  /** The strategy configured for a tenant. */
  strategyOf(ctx: string): RightsStrategy {
    return strategyFor(this.options.rights, ctx).strategy;
  }

  /** Answers `checks` for one user; see the module comment for the errors it throws. */
  async evaluate(request: RightsRequest): Promise<RightsResult> {
    const tenant = strategyFor(this.options.rights, request.ctx);
    const session = new RightsSession(this.options, this.o, request, tenant.scriptUniqueId);
    // Every check runs as the user: the connection, consent and tenant state are checked first, so a
    // revoked consent or a tenant in maintenance fails the request the same way for every check.
    await session.userToken();
    const answers = await mapLimit(request.checks, this.o.concurrency, (check) => this.answer(session, tenant.strategy, check));
    return { strategy: tenant.strategy, answers, upstreamStatus: session.upstreamStatus, flags: session.flags };
  }

  private async answer(session: RightsSession, strategy: RightsStrategy, check: RightsCheck): Promise<RightsAnswer> {
    if (strategy === 'crmscript') {
      const parameters = scriptParameters(check);
      if (parameters !== undefined) return answerFromScript(await session.runScript(parameters));
    }
    switch (check.check) {
      case 'isAdministrator':
        return known(await session.administratorAtLastSignIn(), 'id_token');
      case 'checkTableRights':
        return answerTableRight(await session.readEntity(check.table, check.recordId), check.table, check.right);
      case 'checkFieldRights':
        return answerFieldRight(await session.readEntity(check.table, check.recordId), check.table, check.field, check.right);
      case 'hasTicketAccess':
        return answerTicketAccess(await session.readEntity('ticket', check.ticketId), check.level);
      case 'isLoggedIn':
        return unknown('login_state_not_available', 'webapi_rights_mask');
    }
  }
}

/** One request's view of the user: their token, and the reads and script runs made so far. */
class RightsSession {
  private token: Promise<UserToken> | undefined;
  private renewedFrom: UserToken | undefined;
  private readonly entities = new Map<string, Promise<EntityRead>>();
  private readonly scripts = new Map<string, Promise<ScriptRead>>();
  private readonly flagSet = new Set<string>();
  upstreamStatus: number | undefined;
  private sawFailure = false;

  constructor(
    private readonly options: RightsServiceOptions,
    private readonly o: RetryAndConcurrency,
    private readonly request: RightsRequest,
    private readonly scriptUniqueId: string,
  ) {}

  get flags(): readonly string[] {
    return [...this.flagSet];
  }

  userToken(): Promise<UserToken> {
    this.token ??= this.fetchToken();
    return this.token;
  }

  private async fetchToken(): Promise<UserToken> {
    const { ctx, associateId, deadline, signal, correlationId } = this.request;
    const token = await this.options.tokens.getUserToken({
      ctx,
      associateId,
      deadline,
      ...(signal ? { signal } : {}),
      ...(correlationId ? { correlationId } : {}),
    });
    for (const flag of token.flags) this.flagSet.add(flag);
    return token;
  }

  /** After a 401: drop the cached token once and get a fresh one (concurrent 401s share the renewal). */
  private renewToken(stale: UserToken): Promise<UserToken> {
    if (this.renewedFrom !== stale) {
      this.renewedFrom = stale;
      this.options.tokens.forget(this.request.ctx, this.request.associateId);
      this.token = this.fetchToken();
      this.flagSet.add('token_renewed');
    }
    return this.userToken();
  }

  /** `is_administrator` from the id_token at consent or at the last refresh (docs/superoffice.md §5.1). */
  async administratorAtLastSignIn(): Promise<boolean> {
    const { ctx, associateId, signal } = this.request;
    const connection = await this.options.connections.get({ env: this.options.environment, ctx, associateId }, signal ? { signal } : {});
    if (connection === undefined || connection.status === 'revoked') {
      throw new BrokerError('not_connected', 'No active connection for this user; send them a consent link', { extensions: { consentRequired: true } });
    }
    return connection.isAdministrator;
  }

  /** Reads `GET v1/{Entity}/{id}` (or `/default` without an id) once per request. */
  readEntity(table: RightsTable, recordId: number | undefined): Promise<EntityRead> {
    const path = `v1/${TABLE_ENTITIES[table]}/${recordId ?? 'default'}`;
    let read = this.entities.get(path);
    if (read === undefined) {
      read = this.fetchEntity(path, recordId === undefined);
      this.entities.set(path, read);
    }
    return read;
  }

  private async fetchEntity(path: string, isDefault: boolean): Promise<EntityRead> {
    const response = await this.call('GET', path, undefined);
    switch (response.status) {
      case 200: {
        const body = parseJsonBody(response, 'The Web API');
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          throw new BrokerError('upstream_bad_response', 'The Web API answered an entity read with something other than an object');
        }
        return { kind: 'entity', body: body as Record<string, unknown> };
      }
      case 403:
        return { kind: 'forbidden' };
      case 404:
        return isDefault ? { kind: 'unsupported' } : { kind: 'not_found' };
      case 400:
      case 405:
        // A Web API that does not offer `GET v1/{Entity}/default` reads "default" as a bad id (400) or route (404/405).
        if (isDefault) return { kind: 'unsupported' };
        throw unexpected(response.status);
      default:
        throw unexpected(response.status);
    }
  }

  /** Runs the rights-check script once per distinct question in this request. */
  runScript(parameters: Readonly<Record<string, string>>): Promise<ScriptRead> {
    const key = parametersKey(parameters);
    let run = this.scripts.get(key);
    if (run === undefined) {
      run = this.fetchScript(parameters);
      this.scripts.set(key, run);
    }
    return run;
  }

  private async fetchScript(parameters: Readonly<Record<string, string>>): Promise<ScriptRead> {
    const response = await this.call('POST', EXECUTE_SCRIPT_PATH, executeScriptBody(this.scriptUniqueId, parameters));
    switch (response.status) {
      case 200:
        return { kind: 'output', output: parseJsonBody(response, 'The CRMScript agent') };
      case 403:
        return { kind: 'forbidden' };
      case 404:
        return { kind: 'not_installed' };
      default:
        throw unexpected(response.status);
    }
  }

  /** One Web API call as the user: retried when transient, renewed once on 401. */
  private async call(method: 'GET' | 'POST', path: string, body: string | undefined): Promise<UpstreamResponse> {
    let token = await this.userToken();
    let response = await this.callWithRetries(token, method, path, body);
    if (response.status === 401) {
      token = await this.renewToken(token);
      response = await this.callWithRetries(token, method, path, body);
      if (response.status === 401) {
        throw new BrokerError('upstream_bad_response', 'SuperOffice refused a freshly issued access token (HTTP 401)');
      }
    }
    return response;
  }

  private async callWithRetries(token: UserToken, method: 'GET' | 'POST', path: string, body: string | undefined): Promise<UpstreamResponse> {
    const { signal, deadline } = this.request;
    const result = await retryTransient<UpstreamResponse, TransientAttempt>(
      async () => {
        try {
          const response = await this.options.superOffice.webApi(token.webApiUrl, path, { kind: 'bearer', accessToken: token.accessToken }, {
            method,
            ...(body !== undefined ? { body } : {}),
            ...(signal ? { signal } : {}),
          });
          this.noteStatus(response.status);
          return isTransientStatus(response.status) ? new TransientAttempt(response.status, response.retryAfterSec) : response;
        } catch (error) {
          if (error instanceof UpstreamTransportError) return new TransientAttempt(error.code === 'upstream_timeout' ? 504 : 503, undefined, error);
          throw error;
        }
      },
      (r): r is TransientAttempt => r instanceof TransientAttempt,
      {
        maxAttempts: this.o.maxAttempts,
        baseDelayMs: this.o.retryBaseDelayMs,
        maxDelayMs: this.o.retryMaxDelayMs,
        deadline: deadline - DEADLINE_RESERVE_MS,
        ...(signal ? { signal } : {}),
      },
    );
    if (result instanceof TransientAttempt) {
      if (result.transport) throw result.transport;
      throw new BrokerError(result.status === 504 || result.status === 408 ? 'upstream_timeout' : 'upstream_unavailable', `The Web API is unavailable (HTTP ${result.status})`, {
        retryAfterSec: result.retryAfterSec ?? 5,
      });
    }
    return result;
  }

  private noteStatus(status: number): void {
    if (this.sawFailure) return;
    this.upstreamStatus = status;
    if (status < 200 || status > 299) this.sawFailure = true;
    this.request.onUpstreamStatus?.(status);
  }
}

function unexpected(status: number): BrokerError {
  return new BrokerError('upstream_bad_response', `The Web API answered HTTP ${status}`);
}

/** Maps `items` with at most `limit` calls of `fn` in flight, keeping the order; the first failure rejects. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
