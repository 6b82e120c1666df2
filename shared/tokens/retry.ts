import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Bounded, jittered retries for transient upstream failures within the request deadline
 * (requirements 50, 51). Written here rather than with cockatiel's retry because the delay must
 * honour each answer's `Retry-After` and never pass the caller's deadline.
 */

export interface RetryOptions {
  /** Total attempts, first included (requirement 50: at most 3). */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Milliseconds since epoch after which no new attempt starts. */
  readonly deadline: number;
  readonly signal?: AbortSignal;
  /** Wall clock, compared with `deadline` (defaults to Date.now). */
  readonly clock?: () => number;
  readonly random?: () => number;
}

/** A transient failure to retry; `retryAfterSec` from the upstream answer, when given. */
export interface Transient {
  readonly retryAfterSec: number | undefined;
}

/** Decorrelated jitter (AWS Builders' Library): random between base and 3 × previous, capped. */
export function nextDelay(previousMs: number, options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const upper = Math.max(options.baseDelayMs, previousMs * 3);
  return Math.min(options.maxDelayMs, options.baseDelayMs + random() * (upper - options.baseDelayMs));
}

/**
 * Calls `attempt` until it returns a value, throws, or returns a `Transient` for the last time.
 * Resolves to the value, or to the last `Transient` when retries are exhausted or the deadline is near.
 */
export async function retryTransient<T, R extends Transient>(attempt: (n: number) => Promise<T | R>, isTransient: (r: T | R) => r is R, options: RetryOptions): Promise<T | R> {
  const clock = options.clock ?? Date.now;
  let previous = options.baseDelayMs;
  let last: T | R | undefined;
  for (let n = 1; n <= options.maxAttempts; n++) {
    last = await attempt(n);
    if (!isTransient(last) || n === options.maxAttempts) return last;
    let delay = nextDelay(previous, options, options.random);
    previous = delay;
    if (last.retryAfterSec !== undefined) delay = Math.max(delay, last.retryAfterSec * 1000);
    // Requirement 51: Retry-After is honoured, but never beyond the remaining deadline.
    if (clock() + delay >= options.deadline || options.signal?.aborted) return last;
    try {
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : {});
    } catch {
      return last; // aborted while waiting: report the last failure
    }
  }
  return last as T | R;
}
