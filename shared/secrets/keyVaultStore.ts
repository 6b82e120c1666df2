import type { TokenCredential } from '@azure/identity';
import { SecretClient, type KeyVaultSecret, type SecretClientOptions, type SecretProperties } from '@azure/keyvault-secrets';
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  IsolatedCircuitError,
  circuitBreaker,
  halfJitterGenerator,
  handleWhen,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config/config.js';
import { BrokerError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { retry } from '../resilience/retry.js';
import { retryAfterFromHeaders } from '../resilience/retryAfter.js';
import { abortError, untilAborted } from '../resilience/sleep.js';
import { isTransientStatus } from '../resilience/transient.js';
import {
  KeyVaultCallError,
  SecretConflictError,
  SecretNotFoundError,
  SecretStoreUnavailableError,
  SecretThrottledError,
} from './errors.js';
import { createLoopbackDevCredential } from './loopbackCredential.js';
import { isValidSecretName } from './names.js';
import { Secret } from './secret.js';
import type { SecretCallOptions, SecretReadOptions, SecretStore, SecretWriteOptions, StoredSecret } from './store.js';

/**
 * `SecretStore` on Azure Key Vault through the real `SecretClient` (docs/azure.md §3, docs/security.md §5):
 * - a bounded read cache with a TTL (requirement 42; `fresh: true` bypasses it);
 * - explicit SDK `retryOptions` plus a per-call hop budget combined with the caller's signal, so a 429
 *   with `Retry-After: 60` gives up within the budget (requirement 54);
 * - writes serialised per name within the instance, 409 retried with jittered backoff (requirement 48);
 * - the caller's correlation id sent as `x-ms-client-request-id` (requirement 63);
 * - a circuit breaker on the vault that counts only transient failures (requirement 53);
 * - SDK errors translated once, here, into the errors of `./errors.ts` (no URLs, headers or values).
 */

/** Defaults, in one place. */
export const KEY_VAULT_STORE_DEFAULTS = Object.freeze({
  cacheMax: 1_000,
  cacheTtlMs: 15 * 60_000,
  /** Per SDK call, retries included; below the 10 s default request deadline. */
  budgetMs: 4_000,
  maxRetries: 2,
  retryDelayInMs: 200,
  maxRetryDelayInMs: 1_000,
  breakerThreshold: 5,
  halfOpenAfterMs: 30_000,
  conflictRetries: 3,
  conflictBaseDelayMs: 50,
  conflictMaxDelayMs: 500,
});

/** Key Vault's value limit: 25 KB = 25,600 bytes (docs/azure.md §3). */
export const MAX_SECRET_VALUE_BYTES = 25_600;

/** The request ids the HTTP wrapper accepts or generates (shared/http/wrapper.ts). */
const SAFE_CORRELATION_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const SAFE_CODE = /^[A-Za-z0-9_.-]{1,64}$/;
const CLIENT_REQUEST_ID_HEADER = 'x-ms-client-request-id';
const CREDENTIAL_ERRORS: ReadonlySet<string> = new Set([
  'CredentialUnavailableError',
  'AuthenticationError',
  'AggregateAuthenticationError',
  'AuthenticationRequiredError',
]);

export interface KeyVaultCacheOptions {
  /** Most secrets kept; default 1,000. */
  readonly max?: number;
  /** How long a read is served from memory; default 15 min. */
  readonly ttlMs?: number;
}

export interface KeyVaultRetryOptions {
  readonly maxRetries?: number;
  readonly retryDelayInMs?: number;
  readonly maxRetryDelayInMs?: number;
}

export interface KeyVaultBreakerOptions {
  /** Consecutive transient failures that open the circuit; default 5. */
  readonly threshold?: number;
  /** How long the circuit stays open before one probe; default 30 s. */
  readonly halfOpenAfterMs?: number;
}

export interface KeyVaultConflictRetryOptions {
  /** Retries after a 409 on a write; default 3. */
  readonly retries?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

export interface KeyVaultSecretStoreOptions {
  readonly config: Pick<Config, 'keyVault'>;
  /** Required for a real vault; ignored for a loopback vault, which gets the loopback dev credential. */
  readonly credential?: TokenCredential;
  readonly logger: Logger;
  readonly cache?: KeyVaultCacheOptions;
  /** Time allowed for one Key Vault call, SDK retries included; default 4,000 ms. */
  readonly budgetMs?: number;
  readonly retry?: KeyVaultRetryOptions;
  readonly breaker?: KeyVaultBreakerOptions;
  readonly conflictRetry?: KeyVaultConflictRetryOptions;
  /** Monotonic milliseconds for cache expiry (tests); default `performance.now()`. */
  readonly clock?: () => number;
  /**
   * Names whose values are never kept in the read cache. Default: per-user refresh tokens
   * (`so-rt-…`), which are read once per refresh and must not stay in memory (docs/security.md §4).
   */
  readonly uncached?: (name: string) => boolean;
}

/** Refresh-token secrets are never cached (docs/security.md §4: not in memory longer than one refresh). */
export function isRefreshTokenSecretName(name: string): boolean {
  return name.toLowerCase().startsWith('so-rt-');
}

/** Settings after validation and defaults. */
export interface KeyVaultStoreSettings {
  readonly cacheMax: number;
  readonly cacheTtlMs: number;
  readonly budgetMs: number;
  readonly breakerThreshold: number;
  readonly halfOpenAfterMs: number;
  readonly conflictRetries: number;
  readonly conflictBaseDelayMs: number;
  readonly conflictMaxDelayMs: number;
  readonly clock: (() => number) | undefined;
  readonly uncached: (name: string) => boolean;
}

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

type StoreOperation = 'get' | 'set' | 'disable' | 'list';
type AdditionalPolicy = NonNullable<SecretClientOptions['additionalPolicies']>[number]['policy'];
type SdkOperationOptions = {
  abortSignal: AbortSignal;
  requestOptions: { headers: Record<string, string> };
};

/** What the wire saw during one store call: the last response status and its Retry-After. */
interface CallObservation {
  lastStatus: number | undefined;
  retryAfterSec: number | undefined;
}

/**
 * The observation of each running store call, found by the call's own abort signal (a new one per call,
 * which the SDK hands to the pipeline as `request.abortSignal`). Not an AsyncLocalStorage: once one is
 * used, Node runs a promise hook on every promise of the process (about 2.5x the cost of an `await`).
 */
const observations = new WeakMap<object, CallObservation>();

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function safeCode(value: unknown): string | undefined {
  return typeof value === 'string' && SAFE_CODE.test(value) ? value : undefined;
}

function headerGetter(error: unknown): (name: string) => string | undefined {
  const headers = field(field(error, 'response'), 'headers');
  const get = field(headers, 'get');
  if (typeof get !== 'function') return () => undefined;
  return (name) => {
    const value: unknown = Reflect.apply(get, headers, [name]);
    return typeof value === 'string' ? value : undefined;
  };
}

function checkInteger(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const result = value ?? fallback;
  if (!Number.isInteger(result) || result < min || result > max) {
    throw new RangeError(`createKeyVaultSecretStore: ${name} must be an integer from ${min} to ${max}`);
  }
  return result;
}

function isTransient(error: unknown): boolean {
  return error instanceof SecretThrottledError || (error instanceof SecretStoreUnavailableError && error.transient);
}

interface TranslateContext {
  readonly operation: StoreOperation;
  readonly secretName: string;
  readonly callerSignal: AbortSignal | undefined;
  readonly budgetSignal: AbortSignal;
  readonly observation: CallObservation;
}

/** The one place where SDK and transport errors become store errors (docs/style.md §3). */
function translate(error: unknown, context: TranslateContext): BrokerError {
  if (error instanceof BrokerError) return error;
  const { operation, secretName, observation } = context;
  const status = field(error, 'statusCode');
  const statusCode = typeof status === 'number' ? status : undefined;
  const serviceError = field(field(error, 'details'), 'error');
  const serviceCode = safeCode(field(serviceError, 'code'));
  const innerCode = safeCode(field(field(serviceError, 'innerError'), 'code'));
  const transportCode = statusCode === undefined ? safeCode(field(error, 'code')) : undefined;
  const errorName = error instanceof Error ? error.name : undefined;
  const cause = new KeyVaultCallError({
    operation, secretName, status: statusCode ?? observation.lastStatus, serviceCode, innerCode,
    transportCode: transportCode ?? (errorName === 'AbortError' ? 'aborted' : safeCode(errorName)),
  });

  if (context.callerSignal?.aborted) return abortError(context.callerSignal, cause);
  if (context.budgetSignal.aborted || errorName === 'AbortError') {
    // The hop budget ran out, typically while the SDK waited out a Retry-After (requirement 54).
    if (observation.lastStatus === 429) return new SecretThrottledError(secretName, { retryAfterSec: observation.retryAfterSec, cause });
    return new SecretStoreUnavailableError('timeout', { secretName, upstreamStatus: observation.lastStatus, cause });
  }
  if (statusCode !== undefined) {
    if (statusCode === 404) return new SecretNotFoundError(secretName, 'missing', { cause });
    if (statusCode === 403 && innerCode === 'SecretDisabled') return new SecretNotFoundError(secretName, 'disabled', { cause });
    if (statusCode === 409) return new SecretConflictError(secretName, innerCode, { cause });
    if (statusCode === 429) {
      return new SecretThrottledError(secretName, { retryAfterSec: retryAfterFromHeaders(headerGetter(error)), cause });
    }
    if (isTransientStatus(statusCode)) {
      return new SecretStoreUnavailableError('server_error', { secretName, upstreamStatus: statusCode, cause });
    }
    if (statusCode === 401 || statusCode === 403) {
      return new SecretStoreUnavailableError('unauthorized', { secretName, upstreamStatus: statusCode, cause });
    }
    // 501, 505 and other 5xx are not transient (requirement 50): unavailable, without counting towards the breaker.
    if (statusCode >= 500) return new SecretStoreUnavailableError('bad_response', { secretName, upstreamStatus: statusCode, cause });
    return new BrokerError('internal', 'Key Vault rejected the request', { cause });
  }
  if (errorName !== undefined && CREDENTIAL_ERRORS.has(errorName)) {
    return new SecretStoreUnavailableError('credential', { secretName, cause });
  }
  if (errorName === 'RestError' || transportCode !== undefined) {
    return new SecretStoreUnavailableError('network', { secretName, cause });
  }
  return new SecretStoreUnavailableError('bad_response', { secretName, cause });
}

/** Records each response's status (and Retry-After) for the running store call; runs once per retry. */
const observerPolicy: AdditionalPolicy = {
  name: 'brokerKeyVaultObserverPolicy',
  async sendRequest(request, next) {
    const observation = request.abortSignal === undefined ? undefined : observations.get(request.abortSignal);
    try {
      const response = await next(request);
      if (observation !== undefined) {
        observation.lastStatus = response.status;
        observation.retryAfterSec = retryAfterFromHeaders((name) => response.headers.get(name));
      }
      return response;
    } catch (error) {
      if (observation !== undefined) {
        const status = field(error, 'statusCode');
        observation.lastStatus = typeof status === 'number' ? status : undefined;
      }
      throw error;
    }
  },
};

/** The Key Vault implementation of `SecretStore`; build it with `createKeyVaultSecretStore`. */
export class KeyVaultSecretStore implements SecretStore {
  readonly #client: SecretClient;
  readonly #logger: Logger;
  readonly #settings: KeyVaultStoreSettings;
  readonly #cache: LRUCache<string, StoredSecret>;
  readonly #uncached: (name: string) => boolean;
  readonly #breaker: CircuitBreakerPolicy;
  /** Tail of the write queue per lower-case name. */
  readonly #writeQueues = new Map<string, Promise<void>>();
  /** Bumped on every write so that a read which overlapped a write does not cache a stale value. */
  #writeSeq = 0;

  constructor(client: SecretClient, settings: KeyVaultStoreSettings, logger: Logger) {
    this.#client = client;
    this.#settings = settings;
    this.#logger = logger;
    this.#uncached = settings.uncached;
    this.#cache = new LRUCache<string, StoredSecret>({
      max: settings.cacheMax,
      ttl: settings.cacheTtlMs,
      ...(settings.clock === undefined ? {} : { perf: { now: settings.clock }, ttlResolution: 0 }),
    });
    this.#breaker = circuitBreaker(handleWhen(isTransient), {
      halfOpenAfter: settings.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(settings.breakerThreshold),
    });
    this.#breaker.onBreak(() => this.#logger.warn('keyvault.breaker', { breaker: 'keyvault', state: 'open' }));
    this.#breaker.onHalfOpen(() => this.#logger.info('keyvault.breaker', { breaker: 'keyvault', state: 'half-open' }));
    this.#breaker.onReset(() => this.#logger.info('keyvault.breaker', { breaker: 'keyvault', state: 'closed' }));
  }

  /** The circuit breaker's state (health checks, tests). */
  get breakerState(): BreakerState {
    switch (this.#breaker.state) {
      case CircuitState.Closed:
        return 'closed';
      case CircuitState.Open:
        return 'open';
      case CircuitState.HalfOpen:
        return 'half-open';
      case CircuitState.Isolated:
        return 'isolated';
    }
  }

  /** Drops every cached read. */
  clearCache(): void {
    this.#cache.clear();
  }

  /** The current enabled version, from the cache unless `fresh`; throws `SecretNotFoundError` and the store errors. */
  async get(name: string, options: SecretReadOptions = {}): Promise<StoredSecret> {
    checkName(name);
    const key = name.toLowerCase();
    const cacheable = !this.#uncached(name);
    if (options.fresh !== true && cacheable) {
      const cached = this.#cache.get(key);
      if (cached !== undefined) {
        this.#logger.debug('keyvault.cache', { cache: 'hit', secretName: name });
        return cached;
      }
    }
    const writeSeq = this.#writeSeq;
    try {
      const secret = await this.#call('get', name, options, (sdk) => this.#client.getSecret(name, sdk));
      const stored = toStoredSecret(name, secret);
      if (writeSeq === this.#writeSeq && cacheable) this.#cache.set(key, stored);
      return stored;
    } catch (error) {
      if (error instanceof SecretNotFoundError) this.#cache.delete(key);
      throw error;
    }
  }

  /** Writes a new current version (serialised per name, 409 retried); throws the store errors. */
  async set(name: string, value: Secret, options: SecretWriteOptions = {}): Promise<{ readonly version: string }> {
    checkName(name);
    if (Buffer.byteLength(value.reveal(), 'utf8') > MAX_SECRET_VALUE_BYTES) {
      throw new BrokerError('internal', 'The secret value exceeds the Key Vault limit');
    }
    const key = name.toLowerCase();
    return this.#exclusive(key, options.signal, async () => {
      this.#writeSeq += 1;
      this.#cache.delete(key);
      const result = await this.#withConflictRetry('set', name, options, () =>
        this.#call('set', name, options, (sdk) =>
          this.#client.setSecret(name, value.reveal(), {
            ...sdk,
            ...(options.tags === undefined ? {} : { tags: { ...options.tags } }),
            ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
          }),
        ),
      );
      const version = result.properties.version;
      if (version === undefined) throw new SecretStoreUnavailableError('bad_response', { secretName: name });
      this.#writeSeq += 1;
      if (this.#uncached(name)) return { version };
      this.#cache.set(key, Object.freeze({
        value,
        version,
        enabled: true,
        tags: Object.freeze({ ...result.properties.tags }),
        updatedOn: result.properties.updatedOn,
      }));
      return { version };
    });
  }

  /**
   * Disables every enabled version (idempotent), one PATCH at a time (the service refuses parallel
   * writes to one secret with 409); throws `SecretNotFoundError` if the secret does not exist.
   */
  async disable(name: string, options: SecretCallOptions = {}): Promise<void> {
    checkName(name);
    const key = name.toLowerCase();
    await this.#exclusive(key, options.signal, async () => {
      this.#writeSeq += 1;
      this.#cache.delete(key);
      const enabled = (await this.#listVersions(name, options)).filter((p) => p.enabled !== false && p.version !== undefined);
      for (const properties of enabled) {
        const version = properties.version as string;
        await this.#withConflictRetry('disable', name, options, () =>
          this.#call('disable', name, options, (sdk) => this.#client.updateSecretProperties(name, version, { ...sdk, enabled: false })),
        );
      }
      this.#writeSeq += 1;
      this.#cache.delete(key);
    });
  }

  /** The value of every enabled version, newest first, never cached; `[]` when the secret does not exist. */
  async getEnabledVersions(name: string, options: SecretCallOptions = {}): Promise<StoredSecret[]> {
    checkName(name);
    let versions: SecretProperties[];
    try {
      versions = await this.#listVersions(name, options);
    } catch (error) {
      if (error instanceof SecretNotFoundError) return [];
      throw error;
    }
    // Newest first; `created` has whole seconds, so ties keep the listing's (creation) order, reversed.
    const enabled = versions
      .map((properties, index) => ({ properties, index }))
      .filter(({ properties: p }) => p.enabled !== false && p.version !== undefined)
      .sort((a, b) => (b.properties.createdOn?.getTime() ?? 0) - (a.properties.createdOn?.getTime() ?? 0) || b.index - a.index)
      .map(({ properties }) => properties);
    const stored: StoredSecret[] = [];
    for (const properties of enabled) {
      const version = properties.version as string;
      try {
        stored.push(toStoredSecret(name, await this.#call('get', name, options, (sdk) => this.#client.getSecret(name, { ...sdk, version }))));
      } catch (error) {
        // Disabled or removed since the listing: nothing to return for it.
        if (!(error instanceof SecretNotFoundError)) throw error;
      }
    }
    return stored;
  }

  /** Every version's properties (the SDK follows the pages); throws `SecretNotFoundError` for a missing secret. */
  async #listVersions(name: string, options: SecretCallOptions): Promise<SecretProperties[]> {
    return this.#call('list', name, options, async (sdk) => {
      const versions: SecretProperties[] = [];
      for await (const properties of this.#client.listPropertiesOfSecretVersions(name, sdk)) versions.push(properties);
      return versions;
    });
  }

  /** Runs `work` after every earlier write to the same name has finished (requirement 48). */
  async #exclusive<T>(key: string, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    const previous = this.#writeQueues.get(key) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The next writer waits for both: releasing early (on abort) never lets it overtake `previous`.
    const tail = previous.then(() => done);
    this.#writeQueues.set(key, tail);
    try {
      await untilAborted(previous, signal);
      return await work();
    } finally {
      release();
      void tail.then(() => {
        if (this.#writeQueues.get(key) === tail) this.#writeQueues.delete(key);
      });
    }
  }

  /** Retries a write after 409 with jittered exponential backoff; a deleted-but-recoverable name is final. */
  async #withConflictRetry<T>(operation: StoreOperation, name: string, options: SecretCallOptions, write: () => Promise<T>): Promise<T> {
    const { conflictRetries, conflictBaseDelayMs, conflictMaxDelayMs } = this.#settings;
    try {
      return await retry(
        write,
        (outcome) => (!outcome.ok && outcome.error instanceof SecretConflictError && outcome.error.innerCode !== 'ObjectIsDeletedButRecoverable' ? {} : false),
        {
          maxAttempts: conflictRetries + 1,
          baseDelayMs: conflictBaseDelayMs,
          maxDelayMs: Math.max(conflictBaseDelayMs, conflictMaxDelayMs),
          // Half jitter (between half and all of base × 2^n): a conflicting writer always waits a while.
          backoff: new ExponentialBackoff({ generator: halfJitterGenerator, initialDelay: conflictBaseDelayMs, maxDelay: Math.max(conflictBaseDelayMs, conflictMaxDelayMs) }),
          ...(options.signal ? { signal: options.signal } : {}),
          onRetry: ({ attempt, delayMs }) => this.#logger.info('keyvault.conflict_retry', { operation, secretName: name, attempt: attempt + 1, delayMs }),
        },
      );
    } catch (error) {
      // The caller's deadline ended the backoff: report that, not the conflict it interrupted.
      if (options.signal?.aborted) throw abortError(options.signal, error);
      throw error;
    }
  }

  /** One SDK call: breaker, hop budget combined with the caller's signal, correlation id, error translation. */
  async #call<T>(
    operation: StoreOperation,
    name: string,
    options: SecretCallOptions,
    run: (sdk: SdkOperationOptions) => Promise<T>,
  ): Promise<T> {
    const callerSignal = options.signal;
    if (callerSignal?.aborted) throw abortError(callerSignal);
    const headers: Record<string, string> = {};
    if (options.correlationId !== undefined && SAFE_CORRELATION_ID.test(options.correlationId)) {
      headers[CLIENT_REQUEST_ID_HEADER] = options.correlationId;
    }
    const started = performance.now();
    try {
      return await this.#breaker.execute(async () => {
        const budgetSignal = AbortSignal.timeout(this.#settings.budgetMs);
        const abortSignal = callerSignal === undefined ? budgetSignal : AbortSignal.any([callerSignal, budgetSignal]);
        const observation: CallObservation = { lastStatus: undefined, retryAfterSec: undefined };
        observations.set(abortSignal, observation);
        try {
          return await run({ abortSignal, requestOptions: { headers } });
        } catch (error) {
          throw translate(error, { operation, secretName: name, callerSignal, budgetSignal, observation });
        } finally {
          observations.delete(abortSignal);
        }
      });
    } catch (error) {
      const translated = error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError
        ? new SecretStoreUnavailableError('circuit_open', {
          secretName: name,
          retryAfterSec: Math.max(1, Math.ceil(this.#settings.halfOpenAfterMs / 1000)),
        })
        : error instanceof BrokerError ? error : new BrokerError('internal', undefined, { cause: error });
      const level = translated instanceof SecretNotFoundError ? 'debug' : 'warn';
      this.#logger[level]('keyvault.call_failed', {
        operation,
        secretName: name,
        code: translated.code,
        reason: translated instanceof SecretStoreUnavailableError || translated instanceof SecretNotFoundError ? translated.reason : undefined,
        upstreamStatus: translated instanceof SecretStoreUnavailableError ? translated.upstreamStatus : undefined,
        retryAfterSec: translated.retryAfterSec,
        durationMs: Math.round(performance.now() - started),
      });
      throw translated;
    }
  }
}

function checkName(name: string): void {
  if (!isValidSecretName(name)) throw new BrokerError('internal', 'Invalid secret name');
}

function toStoredSecret(name: string, secret: KeyVaultSecret): StoredSecret {
  const { value } = secret;
  const { version, enabled } = secret.properties;
  if (value === undefined || version === undefined) throw new SecretStoreUnavailableError('bad_response', { secretName: name });
  if (enabled === false) throw new SecretNotFoundError(name, 'disabled');
  return Object.freeze({
    value: new Secret(value),
    version,
    enabled: true,
    tags: Object.freeze({ ...secret.properties.tags }),
    updatedOn: secret.properties.updatedOn,
  });
}

/**
 * Builds the store on a `SecretClient` with explicit retry options. Only for a loopback vault
 * (`config.keyVault.isLoopback`, the dev server) does it allow plain HTTP, skip the challenge resource
 * check and use the loopback dev credential. Throws `RangeError` naming a bad option.
 */
export function createKeyVaultSecretStore(options: KeyVaultSecretStoreOptions): KeyVaultSecretStore {
  const defaults = KEY_VAULT_STORE_DEFAULTS;
  const settings: KeyVaultStoreSettings = {
    cacheMax: checkInteger('cache.max', options.cache?.max, defaults.cacheMax, 1, 1_000_000),
    cacheTtlMs: checkInteger('cache.ttlMs', options.cache?.ttlMs, defaults.cacheTtlMs, 1, 24 * 60 * 60_000),
    budgetMs: checkInteger('budgetMs', options.budgetMs, defaults.budgetMs, 50, 60_000),
    breakerThreshold: checkInteger('breaker.threshold', options.breaker?.threshold, defaults.breakerThreshold, 1, 1_000),
    halfOpenAfterMs: checkInteger('breaker.halfOpenAfterMs', options.breaker?.halfOpenAfterMs, defaults.halfOpenAfterMs, 1, 3_600_000),
    conflictRetries: checkInteger('conflictRetry.retries', options.conflictRetry?.retries, defaults.conflictRetries, 0, 10),
    conflictBaseDelayMs: checkInteger('conflictRetry.baseDelayMs', options.conflictRetry?.baseDelayMs, defaults.conflictBaseDelayMs, 1, 10_000),
    conflictMaxDelayMs: checkInteger('conflictRetry.maxDelayMs', options.conflictRetry?.maxDelayMs, defaults.conflictMaxDelayMs, 1, 60_000),
    clock: options.clock,
    uncached: options.uncached ?? isRefreshTokenSecretName,
  };
  const retryOptions = {
    maxRetries: checkInteger('retry.maxRetries', options.retry?.maxRetries, defaults.maxRetries, 0, 10),
    retryDelayInMs: checkInteger('retry.retryDelayInMs', options.retry?.retryDelayInMs, defaults.retryDelayInMs, 0, 60_000),
    maxRetryDelayInMs: checkInteger('retry.maxRetryDelayInMs', options.retry?.maxRetryDelayInMs, defaults.maxRetryDelayInMs, 0, 60_000),
  };
  const { url, isLoopback } = options.config.keyVault;
  let credential: TokenCredential;
  if (isLoopback) {
    credential = createLoopbackDevCredential(url);
  } else if (options.credential !== undefined) {
    credential = options.credential;
  } else {
    throw new RangeError('createKeyVaultSecretStore: credential is required for a vault that is not on loopback');
  }
  const clientOptions: SecretClientOptions = {
    retryOptions,
    additionalPolicies: [{ policy: observerPolicy, position: 'perRetry' }],
    ...(isLoopback ? { allowInsecureConnection: true, disableChallengeResourceVerification: true } : {}),
  };
  const client = new SecretClient(url, credential, clientOptions);
  return new KeyVaultSecretStore(client, settings, options.logger.child({ dependency: 'keyvault' }));
}
