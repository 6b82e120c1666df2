/**
 * Which upstream answers are worth another attempt (requirements 50, 52): network errors and
 * timeouts (classified by the caller's transport layer), and exactly these HTTP statuses. Every
 * other status, 501 and 505 included, is answered after one call.
 */

/** The one set of transient HTTP statuses: 408, 429, 500, 502, 503 and 504. */
export const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** True when an answer with this status may be retried. */
export function isTransientStatus(status: number): boolean {
  return TRANSIENT_STATUSES.has(status);
}
