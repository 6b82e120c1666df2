import { compactVerify, errors as joseErrors, type CompactVerifyGetKey } from 'jose';

/**
 * Signature and claim-encoding rules shared by SuperOffice's id_tokens and system-user JWTs
 * (docs/superoffice.md §2, §3.5). SuperOffice writes `iat` as a string, which jose's `jwtVerify`
 * rejects, so the signature is checked with `compactVerify` (RS256 only) and the dates are read here,
 * accepting a number or a string of digits.
 */

export type JwsFailureReason = 'alg_not_allowed' | 'no_matching_key' | 'keys_unavailable' | 'signature_invalid' | 'payload_not_json';

/** Why a SuperOffice JWS could not be verified (internal: callers translate it into their own error). */
export class JwsFailure extends Error {
  override readonly name = 'JwsFailure';
  constructor(readonly reason: JwsFailureReason) {
    super(reason);
  }
}

/** Verifies the RS256 signature with SuperOffice's keys and returns the payload object; throws `JwsFailure`. */
export async function verifySuperOfficeJws(token: string, keys: CompactVerifyGetKey): Promise<Record<string, unknown>> {
  let payloadBytes: Uint8Array;
  try {
    payloadBytes = (await compactVerify(token, keys, { algorithms: ['RS256'] })).payload;
  } catch (error) {
    if (error instanceof joseErrors.JOSEAlgNotAllowed) throw new JwsFailure('alg_not_allowed');
    if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) throw new JwsFailure('no_matching_key');
    if (error instanceof joseErrors.JWKSTimeout || !(error instanceof joseErrors.JOSEError)) throw new JwsFailure('keys_unavailable');
    throw new JwsFailure('signature_invalid');
  }
  try {
    const parsed = JSON.parse(new TextDecoder().decode(payloadBytes)) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch {
    throw new JwsFailure('payload_not_json');
  }
}

/** A NumericDate claim as SuperOffice writes it: a number, or a string of digits (`"1581665207"`). */
export function numericDate(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^\d{1,12}$/.test(value)) return Number(value);
  return undefined;
}

export type LifetimeFailure = 'exp_missing' | 'expired' | 'iat_missing' | 'iat_invalid' | 'iat_out_of_range' | 'not_yet_valid';

/**
 * Checks `exp`, `iat` and `nbf` in either encoding; returns the first failure or undefined. `exp` and
 * `iat` are required only when asked; a present claim in neither encoding always fails.
 */
export function checkLifetime(
  payload: Record<string, unknown>,
  rules: { readonly now: number; readonly toleranceSec: number; readonly requireExp: boolean; readonly requireIat: boolean; readonly maxAgeSec?: number },
): LifetimeFailure | undefined {
  const { now, toleranceSec: tolerance } = rules;
  const exp = numericDate(payload['exp']);
  if (exp === undefined && (rules.requireExp || payload['exp'] !== undefined)) return 'exp_missing';
  if (exp !== undefined && exp + tolerance <= now) return 'expired';
  const iat = numericDate(payload['iat']);
  if (iat === undefined && rules.requireIat) return 'iat_missing';
  if (iat === undefined && payload['iat'] !== undefined) return 'iat_invalid';
  if (iat !== undefined) {
    const tooOld = rules.maxAgeSec !== undefined && now - iat > rules.maxAgeSec + tolerance;
    if (iat - tolerance > now || tooOld) return 'iat_out_of_range';
  }
  const nbf = numericDate(payload['nbf']);
  if (payload['nbf'] !== undefined && (nbf === undefined || nbf - tolerance > now)) return 'not_yet_valid';
  return undefined;
}
