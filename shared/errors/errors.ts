/**
 * The broker's error vocabulary: one base class with a code from a closed union, one exhaustive
 * code -> HTTP status table, and the problem+json body (RFC 9457) every error response uses.
 */

/** HTTP status for every error code. Adding a code without a status fails type-checking. */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  validation_failed: 400,
  function_key_in_query: 400,
  consent_invalid: 400,
  invalid_proxy_path: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  not_connected: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  conflict: 409,
  reauth_required: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  secret_not_found: 500,
  upstream_bad_response: 502,
  upstream_unavailable: 503,
  tenant_unavailable: 503,
  audit_unavailable: 503,
  secret_store_unavailable: 503,
  secret_store_throttled: 503,
  secret_conflict: 503,
  overloaded: 503,
  upstream_timeout: 504,
  deadline_exceeded: 504,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Fixed, non-revealing titles; `detail` may add safe specifics. */
const TITLES: { readonly [C in ErrorCode]: string } = {
  bad_request: 'Bad request',
  invalid_json: 'The request body is not valid JSON',
  validation_failed: 'The request is not valid',
  function_key_in_query: 'Function keys are not accepted in the query string',
  consent_invalid: 'The consent request is not valid',
  invalid_proxy_path: 'The Web API path is not allowed',
  unauthenticated: 'Authentication required',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  not_connected: 'The user has no connection',
  method_not_allowed: 'Method not allowed',
  not_acceptable: 'Not acceptable',
  conflict: 'Conflict',
  reauth_required: 'The user must consent again',
  payload_too_large: 'The request body is too large',
  unsupported_media_type: 'Unsupported media type',
  rate_limited: 'Too many requests',
  internal: 'Internal error',
  secret_not_found: 'Internal error',
  upstream_bad_response: 'The upstream service answered with something unexpected',
  upstream_unavailable: 'The upstream service is unavailable',
  tenant_unavailable: 'The SuperOffice tenant is not available',
  audit_unavailable: 'The audit trail cannot be written; the request was refused',
  secret_store_unavailable: 'The secret store is unavailable',
  secret_store_throttled: 'The secret store is throttling requests',
  secret_conflict: 'The secret store reported a conflict',
  overloaded: 'The broker is overloaded',
  upstream_timeout: 'The upstream service did not answer in time',
  deadline_exceeded: 'The request deadline was exceeded',
};

/**
 * `Retry-After` of a 503 whose cause names no better time: every 503 tells the client when to try again
 * (issue 15: a 503 without `Retry-After` counts as a server error).
 */
export const DEFAULT_RETRY_AFTER_SEC = 5;

/** Statuses whose details are internal: the response says only the title. */
const INTERNAL_CODES: ReadonlySet<ErrorCode> = new Set(['internal', 'secret_not_found']);

export interface BrokerErrorOptions {
  readonly cause?: unknown;
  /** Seconds the client should wait; becomes `Retry-After`. */
  readonly retryAfterSec?: number;
  /** Extra members for the problem body; must be safe to show to the caller. */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/** Base error: a code from the closed union, a safe detail, optional cause (never serialized). */
export class BrokerError extends Error {
  override readonly name: string = 'BrokerError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryAfterSec: number | undefined;
  readonly extensions: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, detail?: string, options: BrokerErrorOptions = {}) {
    super(detail ?? TITLES[code]);
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.retryAfterSec = options.retryAfterSec ?? (this.status === 503 ? DEFAULT_RETRY_AFTER_SEC : undefined);
    this.extensions = options.extensions;
    if (options.cause !== undefined) {
      // Non-enumerable so that logging or serializing the error never dumps the lower-layer error.
      Object.defineProperty(this, 'cause', { value: options.cause, enumerable: false, writable: false });
    }
  }
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail?: string;
  readonly requestId: string;
  readonly [extension: string]: unknown;
}

/** Builds the problem+json body; internal codes never carry details. */
export function toProblem(error: BrokerError, requestId: string): ProblemBody {
  const internal = INTERNAL_CODES.has(error.code);
  const detail = internal || error.message === TITLES[error.code] ? undefined : error.message;
  return {
    ...(internal ? {} : error.extensions),
    type: `urn:superoffice-token-broker:problem:${error.code}`,
    title: TITLES[error.code],
    status: error.status,
    code: error.code,
    ...(detail === undefined ? {} : { detail }),
    requestId,
  };
}

/** Any thrown value as a BrokerError: BrokerErrors pass through, everything else is `internal`. */
export function asBrokerError(error: unknown): BrokerError {
  if (error instanceof BrokerError) return error;
  return new BrokerError('internal', undefined, { cause: error });
}
