import { ExponentialBackoff, type IBackoff, type IBackoffFactory } from 'cockatiel';
import { sleep as abortableSleep } from './sleep.js';

/**
 * The one retry loop (requirements 49–52): bounded attempts, delays from cockatiel's
 * `ExponentialBackoff` (decorrelated jitter by default), a `Retry-After` honoured
 * but never beyond the deadline, and waits that end with the caller's signal. cockatiel's own
 * `retry()` policy is not used because the delay must depend on each answer's `Retry-After` and the
 * remaining deadline.
 */

export interface RetryOptions {
  /** Total attempts, the first included (requirement 50: at most 3). Required: the backoff itself is unbounded. */
  readonly maxAttempts: number;
  /** cockatiel's `initialDelay`: the scale of the first delay. */
  readonly baseDelayMs: number;
  /** cockatiel's `maxDelay`: no backoff delay is longer. */
  readonly maxDelayMs: number;
  /**
   * Milliseconds since epoch (on `clock`) after which no new attempt starts and no wait ends. Without
   * one, a `Retry-After` is honoured only up to `maxDelayMs`.
   */
  readonly deadline?: number;
  /** Aborting stops the wait at once; the last outcome is then returned or thrown. */
  readonly signal?: AbortSignal;
  /** Default `Date.now`. */
  readonly clock?: () => number;
  /** Default `new ExponentialBackoff({ initialDelay: baseDelayMs, maxDelay: maxDelayMs })`. */
  readonly backoff?: IBackoffFactory<unknown>;
  /** Default: the abortable `sleep` of `./sleep.ts` (tests pass a fake one that moves a fake clock). */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Told before each wait (e.g. to log it). */
  readonly onRetry?: (info: { readonly attempt: number; readonly delayMs: number }) => void;
}

/** What one attempt gave: a value, or a thrown error. */
export type AttemptOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** Returned by a `shouldRetry` that wants another attempt; `retryAfterSec` from the upstream answer, if any. */
export interface RetryRequest {
  readonly retryAfterSec?: number | undefined;
}

/** A transient failure returned (not thrown) by an attempt, for `retryTransient`. */
export interface Transient {
  readonly retryAfterSec: number | undefined;
}

/** Default attempts and delays of the services (requirement 50). */
export const RETRY_DEFAULTS = Object.freeze({ maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 });

const MAX_ATTEMPTS_LIMIT = 10;

function checkOptions(options: RetryOptions): void {
  const { maxAttempts, baseDelayMs, maxDelayMs } = options;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS_LIMIT) {
    throw new RangeError(`retry: maxAttempts must be an integer from 1 to ${MAX_ATTEMPTS_LIMIT}`);
  }
  if (!Number.isFinite(baseDelayMs) || baseDelayMs < 0) throw new RangeError('retry: baseDelayMs must be a non-negative number');
  if (!Number.isFinite(maxDelayMs) || maxDelayMs < baseDelayMs) throw new RangeError('retry: maxDelayMs must be a number not below baseDelayMs');
}

function settle<T>(outcome: AttemptOutcome<T>): T {
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}

/**
 * Runs `attempt` until `shouldRetry` declines, attempts run out, the next wait would pass the
 * deadline, or the signal aborts; then returns the last value or throws the last error.
 * Throws `RangeError` for bad options.
 */
export async function retry<T>(
  attempt: (n: number) => Promise<T>,
  shouldRetry: (outcome: AttemptOutcome<T>) => RetryRequest | false | undefined,
  options: RetryOptions,
): Promise<T> {
  checkOptions(options);
  const clock = options.clock ?? Date.now;
  const wait = options.sleep ?? abortableSleep;
  const factory = options.backoff ?? new ExponentialBackoff({ initialDelay: options.baseDelayMs, maxDelay: options.maxDelayMs });
  let backoff: IBackoff<unknown> | undefined;
  for (let n = 1; ; n++) {
    let outcome: AttemptOutcome<T>;
    try {
      outcome = { ok: true, value: await attempt(n) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const request = n < options.maxAttempts ? shouldRetry(outcome) : undefined;
    if (!request || options.signal?.aborted) return settle(outcome);

    backoff = backoff === undefined ? factory.next(undefined) : backoff.next(undefined);
    const retryAfterMs = request.retryAfterSec === undefined ? 0 : Math.max(0, request.retryAfterSec) * 1000;
    let delayMs = Math.max(backoff.duration, options.deadline === undefined ? Math.min(retryAfterMs, options.maxDelayMs) : retryAfterMs);
    // Requirement 51: Retry-After is honoured, but never beyond the remaining deadline.
    if (options.deadline !== undefined && clock() + delayMs >= options.deadline) return settle(outcome);
    delayMs = Math.round(delayMs);
    options.onRetry?.({ attempt: n, delayMs });
    try {
      await wait(delayMs, options.signal);
    } catch {
      return settle(outcome); // aborted while waiting: report the last outcome
    }
  }
}

/**
 * `retry` for attempts that return (rather than throw) a `Transient` marker: resolves to the value, or
 * to the last marker when attempts or time ran out. Errors an attempt throws are not retried.
 */
export function retryTransient<T, R extends Transient>(
  attempt: (n: number) => Promise<T | R>,
  isTransient: (result: T | R) => result is R,
  options: RetryOptions,
): Promise<T | R> {
  return retry(attempt, (outcome) => (outcome.ok && isTransient(outcome.value) ? { retryAfterSec: outcome.value.retryAfterSec } : false), options);
}
