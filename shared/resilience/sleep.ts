import { setTimeout as delay } from 'node:timers/promises';
import { BrokerError } from '../errors/errors.js';

/**
 * The one abortable wait (docs/style.md §6: every wait ends with the caller's deadline), on
 * `node:timers/promises`.
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
