/**
 * Whether a cached access token can be served (docs/style.md: `shouldRefresh` soon, `mustRefresh` now).
 * Pure, so it is tested exhaustively.
 */

export type RefreshReason =
  /** No cached token. */
  | 'absent'
  /** Below the safety margin plus the caller's minimum validity: refresh before answering. */
  | 'expired'
  /** Good to serve, but close to the margin: serve it and refresh in the background. */
  | 'refresh_ahead'
  | 'fresh';

export interface RefreshInput {
  /** Milliseconds since epoch at which the token expires, or undefined when nothing is cached. */
  readonly expiresAt: number | undefined;
  readonly now: number;
  /** Never serve a token with less than this left (requirement 44). */
  readonly safetyMarginMs: number;
  /** The caller's minimum remaining validity. */
  readonly minValidityMs: number;
  /** How long before the must-refresh point a background refresh starts. */
  readonly refreshAheadMs: number;
}

export function refreshReason(input: RefreshInput): RefreshReason {
  if (input.expiresAt === undefined) return 'absent';
  const usableFor = input.expiresAt - input.now - input.safetyMarginMs - input.minValidityMs;
  if (usableFor <= 0) return 'expired';
  if (usableFor <= input.refreshAheadMs) return 'refresh_ahead';
  return 'fresh';
}

/** True if the token must be refreshed before this request can be answered. */
export function mustRefresh(reason: RefreshReason): boolean {
  return reason === 'absent' || reason === 'expired';
}

/** True if a refresh should start (now or in the background). */
export function shouldRefresh(reason: RefreshReason): boolean {
  return reason !== 'fresh';
}

/** True if a token may be served while the upstream fails (requirement 44, 46): above the safety margin. */
export function servableWhileFailing(expiresAt: number | undefined, now: number, safetyMarginMs: number): boolean {
  return expiresAt !== undefined && expiresAt - now > safetyMarginMs;
}
