import { createHash } from 'node:crypto';
import {
  createRemoteJWKSet,
  errors as joseErrors,
  flattenedVerify,
  importJWK,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWK,
  type JWSHeaderParameters,
  type JWTVerifyGetKey,
} from 'jose';

/**
 * Picks SuperOffice's signing key for an id_token or system-user JWT (docs/superoffice.md §2:
 * "pick by kid"; issue 10 point 8). SuperOffice's tokens may carry only `x5t`, and during a key
 * rollover its JWKS holds two RSA keys, where jose alone refuses to choose. The order is:
 * 1. `kid`: jose's own selection (a remote set refetches an unknown kid, after its cooldown);
 * 2. `x5t` (or `x5t#S256`): the key whose JWK `x5t` matches, or whose `x5c[0]` certificate hashes to it;
 * 3. neither, or no key matches the thumbprint: each RSA signing key in turn, and the one whose
 *    signature verifies is used. RS256 only; the caller still verifies with the returned key.
 */

/** A jose key set that can show its keys (`createLocalJWKSet`, `createRemoteJWKSet`). */
export interface InspectableKeySet {
  (protectedHeader?: JWSHeaderParameters, token?: FlattenedJWSInput): Promise<unknown>;
  jwks(): JSONWebKeySet | undefined;
  /** Remote sets only: refetch (jose dedupes concurrent fetches). */
  reload?: () => Promise<void>;
  readonly coolingDown?: boolean;
}

function thumbprints(jwk: JWK): { sha1: string | undefined; sha256: string | undefined } {
  const cert = Array.isArray(jwk.x5c) && typeof jwk.x5c[0] === 'string' ? Buffer.from(jwk.x5c[0], 'base64') : undefined;
  const fromCert = (algorithm: 'sha1' | 'sha256') => (cert === undefined ? undefined : createHash(algorithm).update(cert).digest('base64url'));
  return { sha1: typeof jwk.x5t === 'string' ? jwk.x5t : fromCert('sha1'), sha256: typeof jwk['x5t#S256'] === 'string' ? jwk['x5t#S256'] : fromCert('sha256') };
}

function isRsaSigningKey(jwk: JWK): boolean {
  return jwk.kty === 'RSA' && (jwk.use === undefined || jwk.use === 'sig') && (jwk.alg === undefined || jwk.alg === 'RS256') &&
    (jwk.key_ops === undefined || jwk.key_ops.includes('verify'));
}

async function verifies(token: FlattenedJWSInput, jwk: JWK): Promise<unknown> {
  try {
    const key = await importJWK(jwk, 'RS256');
    await flattenedVerify(token, key, { algorithms: ['RS256'] });
    return key;
  } catch {
    // Not this key (bad JWK or signature): the caller tries the next key or refuses the token.
    return undefined;
  }
}

/** The key for `token` among `keys` by thumbprint, else by trying each RSA key; undefined if none verifies. */
async function pick(keys: readonly JWK[], header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<unknown> {
  const candidates = keys.filter(isRsaSigningKey);
  const x5t = typeof header.x5t === 'string' ? header.x5t : undefined;
  const x5tS256 = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
  if (x5t !== undefined || x5tS256 !== undefined) {
    const matched = candidates.find((jwk) => {
      const t = thumbprints(jwk);
      return (x5t !== undefined && t.sha1 === x5t) || (x5tS256 !== undefined && t.sha256 === x5tS256);
    });
    // A thumbprint names exactly one key; it is used even if its signature then fails to verify.
    if (matched !== undefined) return importJWK(matched, 'RS256');
  }
  for (const jwk of candidates) {
    const key = await verifies(token, jwk);
    if (key !== undefined) return key;
  }
  return undefined;
}

/** Wraps a jose key set with SuperOffice's key selection (see module doc). */
export function selectingSigningKey(set: InspectableKeySet): JWTVerifyGetKey {
  return async function superOfficeSigningKey(protectedHeader, token) {
    const header: JWSHeaderParameters = { ...protectedHeader, ...token.header };
    if (header.alg !== 'RS256') throw new joseErrors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
    if (typeof header.kid === 'string') return (await set(protectedHeader, token)) as Awaited<ReturnType<JWTVerifyGetKey>>;
    try {
      // No kid: with a single RSA key in the set, jose returns it.
      return (await set(protectedHeader, token)) as Awaited<ReturnType<JWTVerifyGetKey>>;
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSMultipleMatchingKeys) && !(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
    }
    let key = await pick(set.jwks()?.keys ?? [], header, token);
    if (key === undefined && set.reload !== undefined && set.coolingDown === false) {
      // A rollover may have published the key since the last fetch.
      await set.reload();
      key = await pick(set.jwks()?.keys ?? [], header, token);
    }
    if (key === undefined) throw new joseErrors.JWKSNoMatchingKey();
    return key as Awaited<ReturnType<JWTVerifyGetKey>>;
  };
}

/** SuperOffice's JWKS fetched with jose (timeout, cooldown, cache) and the selection above. */
export function remoteSigningKeys(jwksUrl: URL, options: { readonly timeoutMs: number; readonly cooldownMs: number; readonly cacheMaxAgeMs: number }): JWTVerifyGetKey {
  const set = createRemoteJWKSet(jwksUrl, { timeoutDuration: options.timeoutMs, cooldownDuration: options.cooldownMs, cacheMaxAge: options.cacheMaxAgeMs });
  return selectingSigningKey(set);
}
