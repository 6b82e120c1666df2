import { setTimeout as delay } from 'node:timers/promises';
import { BrokerError } from '../errors/errors.js';

/**
 * The one abortable wait (docs/style.md §6: every wait ends with the caller's deadline), on
 * `node:timers/promises`, and the one way to stop waiting for a shared promise at one's own deadline.
 */

/** The error an aborted signal stands for: its `BrokerError` reason, or `deadline_exceeded`. */
export function abortError(signal: AbortSignal, cause?: unknown): BrokerError {
  const reason: unknown = signal.reason;
  if (reason instanceof BrokerError) return reason;
  return new BrokerError('deadline_exceeded', undefined, cause === undefined ? {} : { cause });
}

/** Waits `ms`; rejects with `abortError(signal)` if the signal is or becomes aborted. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw abortError(signal);
  try {
    await delay(Math.max(0, ms), undefined, signal ? { signal } : {});
  } catch (error) {
    if (signal?.aborted) throw abortError(signal, error);
    throw error;
  }
}

/**
 * Resolves with `promise`, or rejects with `reasonOf(signal)` (default `abortError`) as soon as `signal` aborts.
 * The promise itself runs on: this is how one caller stops waiting for work it shares with others (a token
 * renewal, a queued write) without cancelling it for them. A non-Error rejection is wrapped in an Error.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, reasonOf: (signal: AbortSignal) => Error = abortError): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(reasonOf(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(reasonOf(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
