import { createHash, randomBytes } from 'node:crypto';

/**
 * The per-transaction secrets of the authorization request (requirements 21, 22; RFC 7636):
 * `state`, `nonce` and the PKCE verifier are 256 bits from the CSPRNG, base64url without padding (43
 * characters); the challenge is base64url(SHA-256(verifier)), always sent with `S256`.
 */

/** Bytes of CSPRNG output behind every state, nonce, verifier and ticket id (≥ 128 bits, ASVS 11.5.1). */
export const RANDOM_TOKEN_BYTES = 32;
/** base64url alphabet of the generated values; also within RFC 7636's unreserved set for verifiers. */
export const RANDOM_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** RFC 7636 §4.1: 43–128 unreserved characters. */
export const CODE_VERIFIER_PATTERN = /^[A-Za-z0-9\-._~]{43,128}$/;

/** `bytes` of CSPRNG output as base64url without padding. */
export function randomToken(bytes: number = RANDOM_TOKEN_BYTES): string {
  if (!Number.isInteger(bytes) || bytes < 16) throw new RangeError('randomToken needs at least 16 bytes (128 bits)');
  return randomBytes(bytes).toString('base64url');
}

/** A new `state` value (CSRF defence, single use). */
export function newState(): string {
  return randomToken();
}

/** A new OIDC `nonce` (binds the id_token to this transaction). */
export function newNonce(): string {
  return randomToken();
}

/** A new PKCE code verifier: 43 base64url characters (256 bits). */
export function newCodeVerifier(): string {
  return randomToken();
}

/** The S256 code challenge of a verifier: base64url(SHA-256(ascii(verifier))), 43 characters. */
export function codeChallengeS256(verifier: string): string {
  if (!CODE_VERIFIER_PATTERN.test(verifier)) throw new RangeError('The code verifier must be 43-128 unreserved characters');
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}
