import { BrokerError } from '../errors/errors.js';

/**
 * The errors every `SecretStore` throws. Messages are fixed or name the secret (names carry no PII,
 * docs/architecture.md §4); none ever contains a secret value, a token or a URL. The lower-layer error is
 * kept as a non-enumerable `cause`, rebuilt from whitelisted fields (`KeyVaultCallError`).
 */

/** Why a secret could not be read: absent (404) or its current version is disabled (403 SecretDisabled). */
export type SecretNotFoundReason = 'missing' | 'disabled';

/** Why the store is unavailable. `transient` reasons count towards the circuit breaker. */
export type SecretStoreUnavailableReason =
  | 'network'
  | 'server_error'
  | 'timeout'
  | 'circuit_open'
  | 'credential'
  | 'unauthorized'
  | 'bad_response';

const TRANSIENT: ReadonlySet<SecretStoreUnavailableReason> = new Set(['network', 'server_error', 'timeout', 'credential']);

/** The secret does not exist or its current version is disabled; `secret_not_found`. */
export class SecretNotFoundError extends BrokerError {
  override readonly name = 'SecretNotFoundError';
  readonly secretName: string;
  readonly reason: SecretNotFoundReason;

  constructor(secretName: string, reason: SecretNotFoundReason = 'missing', options: { cause?: unknown } = {}) {
    super('secret_not_found', `Secret ${secretName} ${reason === 'disabled' ? 'is disabled' : 'was not found'}`, options);
    this.secretName = secretName;
    this.reason = reason;
  }
}

/** The vault answered 409 (a concurrent write, or a name that is deleted or being deleted); `secret_conflict`. */
export class SecretConflictError extends BrokerError {
  override readonly name = 'SecretConflictError';
  readonly secretName: string;
  /** The service's inner code, e.g. `ObjectIsDeletedButRecoverable` or `ObjectIsBeingDeleted`. */
  readonly innerCode: string | undefined;

  constructor(secretName: string, innerCode?: string, options: { cause?: unknown } = {}) {
    super('secret_conflict', undefined, options);
    this.secretName = secretName;
    this.innerCode = innerCode;
  }
}

/** The vault answered 429, or kept answering it until the hop budget ran out; `secret_store_throttled`. */
export class SecretThrottledError extends BrokerError {
  override readonly name = 'SecretThrottledError';
  readonly secretName: string;

  constructor(secretName: string, options: { retryAfterSec?: number; cause?: unknown } = {}) {
    super('secret_store_throttled', undefined, options);
    this.secretName = secretName;
  }
}

/** Network failure, 5xx, timeout, open circuit or an unusable credential; `secret_store_unavailable`. */
export class SecretStoreUnavailableError extends BrokerError {
  override readonly name = 'SecretStoreUnavailableError';
  readonly secretName: string | undefined;
  readonly reason: SecretStoreUnavailableReason;
  /** The last HTTP status seen from the vault, if any. */
  readonly upstreamStatus: number | undefined;
  /** True for failures that a later call may not see (these open the circuit breaker). */
  readonly transient: boolean;

  constructor(
    reason: SecretStoreUnavailableReason,
    details: { secretName?: string; upstreamStatus?: number; retryAfterSec?: number; cause?: unknown } = {},
  ) {
    super('secret_store_unavailable', undefined, { cause: details.cause, retryAfterSec: details.retryAfterSec });
    this.reason = reason;
    this.secretName = details.secretName;
    this.upstreamStatus = details.upstreamStatus;
    this.transient = TRANSIENT.has(reason);
  }
}

/**
 * The safe summary of a failed Key Vault call, used as `cause`: operation, secret name, HTTP status,
 * the service's error codes and a transport error code. Never a URL, header, body or value.
 */
export class KeyVaultCallError extends Error {
  override readonly name = 'KeyVaultCallError';
  readonly operation: string;
  readonly secretName: string;
  readonly status: number | undefined;
  readonly serviceCode: string | undefined;
  readonly innerCode: string | undefined;
  readonly transportCode: string | undefined;

  constructor(fields: {
    operation: string;
    secretName: string;
    status?: number;
    serviceCode?: string;
    innerCode?: string;
    transportCode?: string;
  }) {
    const parts = [
      fields.status === undefined ? 'no response' : `status ${fields.status}`,
      fields.serviceCode,
      fields.innerCode,
      fields.transportCode,
    ].filter((part): part is string => part !== undefined);
    super(`Key Vault ${fields.operation} of secret ${fields.secretName} failed: ${parts.join(', ')}`);
    this.operation = fields.operation;
    this.secretName = fields.secretName;
    this.status = fields.status;
    this.serviceCode = fields.serviceCode;
    this.innerCode = fields.innerCode;
    this.transportCode = fields.transportCode;
  }
}
