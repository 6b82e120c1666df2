import { BrokerError } from '../errors/errors.js';
import type { Caller } from './caller.js';

/**
 * Why a caller token was not accepted. Internal only: it goes to logs and the audit record, never to
 * the response, whose message is fixed ("The bearer token is not valid") whatever the reason.
 */
export type TokenRejection =
  | 'missing'
  | 'malformed'
  | 'alg_not_allowed'
  | 'kid_missing'
  | 'version_unsupported'
  | 'tenant_invalid'
  | 'tenant_not_allowed'
  | 'metadata_unavailable'
  | 'metadata_invalid'
  | 'jwks_uri_not_allowed'
  | 'keys_unavailable'
  | 'kid_unknown'
  | 'key_issuer_mismatch'
  | 'signature_invalid'
  | 'issuer_mismatch'
  | 'audience_mismatch'
  | 'claim_missing'
  | 'expired'
  | 'not_yet_valid'
  | 'claims_invalid'
  | 'easy_auth_mismatch';

/** Why an authenticated caller was refused (403). */
export type AccessDenial =
  | 'not_app_only'
  | 'role_missing'
  | 'no_broker_role'
  | 'caller_not_in_policy'
  | 'operation_not_granted'
  | 'environment_not_granted'
  | 'tenant_not_granted'
  | 'user_not_granted'
  | 'web_api_not_granted'
  | 'tenant_scope_not_granted'
  | 'system_user_not_granted'
  | 'subject_invalid';

export type DenialReason = TokenRejection | AccessDenial;

/** The fixed message of every rejected (as opposed to missing) bearer token. */
export const INVALID_TOKEN_MESSAGE = 'The bearer token is not valid';

/**
 * A refused caller: `unauthenticated` (401) or `forbidden` (403) with a fixed message, plus the
 * internal `reason` and, once the token was verified, the `caller` (so the audit record names who was
 * refused).
 */
export class CallerDeniedError extends BrokerError {
  override readonly name = 'CallerDeniedError';
  readonly reason: DenialReason;
  readonly caller: Caller | null;

  constructor(code: 'unauthenticated' | 'forbidden', reason: DenialReason, caller: Caller | null = null) {
    // A missing credential gets the default title (plain `WWW-Authenticate: Bearer` challenge);
    // any presented-but-refused token gets one fixed message (`error="invalid_token"`).
    super(code, code === 'unauthenticated' && reason !== 'missing' ? INVALID_TOKEN_MESSAGE : undefined);
    this.reason = reason;
    this.caller = caller;
  }
}

/** The reason and caller of a caller denial, for the HTTP wrapper's audit record; `undefined` otherwise. */
export function callerDenialOf(error: unknown): { readonly reason: DenialReason; readonly caller: Caller | null } | undefined {
  return error instanceof CallerDeniedError ? { reason: error.reason, caller: error.caller } : undefined;
}
