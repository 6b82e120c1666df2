import { BrokerError, type ErrorCode } from '../errors/errors.js';
import { isTransientStatus } from '../resilience/transient.js';

/**
 * What one execution attempt of an action means (docs/acting.md §4, requirement 20). Pure.
 * - SuperOffice answered 1xx-3xx: `succeeded`.
 * - A transient status (`isTransientStatus`: request timeout, too many requests, 5xx), and every broker error that a later attempt can cure (`upstream_*`, timeouts, the
 *   tenant or Key Vault or Table Storage unavailable, overload, an unknown error): `retry` — the executor
 *   throws so the host delivers the message again, and after the last dequeue the poison function
 *   finishes it as `exhausted`.
 * - Any other 4xx, and the permanent broker errors (`reauth_required`, `not_connected`, a policy denial,
 *   a path or body the broker refuses): `failed` at once, never retried.
 */

export type ActionState = 'queued' | 'running' | 'succeeded' | 'failed';
export const FINAL_STATES: ReadonlySet<ActionState> = new Set(['succeeded', 'failed']);

export type AttemptOutcome =
  | { readonly kind: 'succeeded'; readonly status: number }
  | { readonly kind: 'failed'; readonly errorCode: string; readonly status?: number }
  | { readonly kind: 'retry'; readonly errorCode: string; readonly status?: number };

/** Broker errors that end an action at once: retrying cannot change the answer. */
const PERMANENT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'reauth_required',
  'not_connected',
  'forbidden',
  'unauthenticated',
  'invalid_proxy_path',
  'validation_failed',
  'bad_request',
  'invalid_json',
  'not_found',
  'conflict',
  'payload_too_large',
  'unsupported_media_type',
  'method_not_allowed',
  'not_acceptable',
  'consent_invalid',
]);

/** The outcome of an attempt that got an answer from SuperOffice. */
export function classifyResponse(status: number): AttemptOutcome {
  if (status >= 100 && status < 400) return { kind: 'succeeded', status };
  if (isTransientStatus(status) || status >= 500) return { kind: 'retry', errorCode: `superoffice_${status}`, status };
  return { kind: 'failed', errorCode: `superoffice_${status}`, status };
}

/** The outcome of an attempt that threw. */
export function classifyError(error: unknown): AttemptOutcome {
  if (error instanceof BrokerError) {
    return PERMANENT_CODES.has(error.code) ? { kind: 'failed', errorCode: error.code } : { kind: 'retry', errorCode: error.code };
  }
  // Table Storage, the queue or anything unexpected: the host retries, then the poison function ends it.
  return { kind: 'retry', errorCode: 'internal' };
}
