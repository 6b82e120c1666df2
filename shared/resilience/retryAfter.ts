/**
 * `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date, as whole seconds from `now`.
 * Azure services may also send `retry-after-ms` / `x-ms-retry-after-ms` (requirement 54), which win
 * when present because they are more precise.
 */

const DELTA_SECONDS = /^\d{1,10}$/;

/** Seconds to wait, or `undefined` when the value is absent or neither delta-seconds nor an HTTP-date. A past date gives 0. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (DELTA_SECONDS.test(trimmed)) return Number(trimmed);
  // Only a date-shaped value: `Date.parse` would also accept "-5" or "1.5".
  if (!/[A-Za-z]/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** The wait a response asks for, in whole seconds: `retry-after-ms`, `x-ms-retry-after-ms`, then `Retry-After`. */
export function retryAfterFromHeaders(get: (name: string) => string | null | undefined, now: number = Date.now()): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const raw = get(name)?.trim();
    if (raw !== undefined && DELTA_SECONDS.test(raw)) return Math.ceil(Number(raw) / 1000);
  }
  return parseRetryAfter(get('retry-after'), now);
}
