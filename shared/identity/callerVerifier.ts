import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type FlattenedJWSInput,
  type JWK,
  type JWSHeaderParameters,
  type JWTPayload,
} from 'jose';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config/config.js';
import { createLogger, type Logger } from '../log/logger.js';
import type { Caller } from './caller.js';
import { CallerDeniedError, type TokenRejection } from './denial.js';

/**
 * Verifies Entra ID access tokens presented by callers (docs/security.md §2 and requirements 2–6, 9–12,
 * 17 for the Entra side). jose does the signature and claim checks; this module chooses the key set:
 *
 * - the tenant comes from the unverified `tid` only to pick the key set, and must be a GUID on the
 *   allowlist before anything is fetched;
 * - metadata comes from `{authorityHost}/{tid}/v2.0/.well-known/openid-configuration` (v2 tokens) or
 *   `{authorityHost}/{tid}/.well-known/openid-configuration` (v1), chosen by `ver`; its `issuer` must be
 *   Entra's template for that tenant and its `jwks_uri` must live on the authority host (or
 *   login.microsoftonline.com);
 * - keys are cached per tenant and version with one shared in-flight fetch, a fetch timeout, a cooldown
 *   between fetches (an unknown `kid` triggers at most one refetch per cooldown) and last-known-good keys
 *   that keep validating for a grace period while the keys endpoint is down. jose's remote key set is not
 *   used because it fails every verification once its cache is older than `cacheMaxAge` and a reload
 *   fails (docs/security.md §2, jose 6).
 *
 * Every failure is `unauthenticated` with one fixed message; the reason goes to the log and the audit
 * record only.
 *
 * A token that verified is remembered (its exact text, bounded LRU) with the key set object that verified
 * it, so a caller presenting the same token again skips the RSA check and the claim decoding. The answer
 * is the one a full verification would give: the entry is used only while the key set chosen for the
 * token now is that same object (a refresh, a rotation or a removed key replaces it, and the token is
 * verified again against the new keys), and only inside the time window in which every time check passed
 * without using the clock tolerance (`iat`/`nbf` reached, `exp` and the maximum age not reached); near
 * the edges the full check runs and gives its own answer. Only verified tokens are remembered.
 */

export type TokenVersion = '1.0' | '2.0';

/** Tuning defaults (named in one place; see `CallerVerifierOptions`). */
export const CALLER_VERIFIER_DEFAULTS = Object.freeze({
  clockToleranceSec: 60,
  /** Managed identity tokens live up to 24 h; `iat` older than this (or in the future) is refused. */
  maxTokenAgeSec: 26 * 3600,
  jwksTimeoutInMs: 5_000,
  jwksCooldownInMs: 30_000,
  jwksMaxAgeInMs: 10 * 60_000,
  lastKnownGoodGraceInMs: 24 * 3600_000,
  metadataMaxAgeInMs: 24 * 3600_000,
  maxTokenLength: 16 * 1024,
  maxDocumentBytes: 512 * 1024,
  maxKeys: 100,
  /** Verified tokens remembered per instance (exact token text); see `createCallerVerifier`. */
  verifiedTokens: 1_000,
});

/** The only JWKS/metadata host accepted besides the configured authority host (requirement 17). */
export const ENTRA_LOGIN_HOST = 'login.microsoftonline.com';

export interface CallerVerifierOptions {
  readonly entra: Config['entra'];
  readonly logger?: Logger;
  /** Milliseconds since epoch; tests pass a fake clock (it also drives jose's `currentDate`). */
  readonly clock?: () => number;
  readonly fetch?: typeof fetch;
  /** Per-fetch timeout for metadata and keys, 1–5000 ms (requirement 10). */
  readonly jwksTimeoutInMs?: number;
  /** Minimum time between two fetches of one key set (requirement 10). */
  readonly jwksCooldownInMs?: number;
  /** Age after which a key set is refreshed. */
  readonly jwksMaxAgeInMs?: number;
  /** How long after the last successful fetch the keys keep validating while refreshes fail (requirement 11). */
  readonly lastKnownGoodGraceInMs?: number;
  readonly metadataMaxAgeInMs?: number;
  readonly clockToleranceSec?: number;
}

/** What the broker knows about a caller after verifying its token. */
export interface VerifiedCallerToken {
  readonly caller: Caller;
  /** True when the token carries `scp` (a delegated token acting for a user). */
  readonly delegated: boolean;
  /** `exp`, seconds since epoch. */
  readonly expiresAt: number;
}

export interface CallerVerifier {
  /** Verifies a compact JWS; throws `CallerDeniedError` (`unauthenticated`, fixed message). */
  verify(token: string): Promise<VerifiedCallerToken>;
}

const GUID_LOWER = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const GUID_ANY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SAFE_KID = /^[A-Za-z0-9._~+/=-]{1,128}$/;

/** Entra's issuer for a tenant and token version (docs/security.md §2). */
export function entraIssuer(tid: string, version: TokenVersion): string {
  return version === '2.0' ? `https://${ENTRA_LOGIN_HOST}/${tid}/v2.0` : `https://sts.windows.net/${tid}/`;
}

/** Where the tenant's openid-configuration for a token version is fetched from. */
export function metadataUrl(authorityHost: string, tid: string, version: TokenVersion): string {
  const host = authorityHost.replace(/\/+$/, '');
  return version === '2.0' ? `${host}/${tid}/v2.0/.well-known/openid-configuration` : `${host}/${tid}/.well-known/openid-configuration`;
}

/** Thrown inside the key resolver; mapped to a `CallerDeniedError` with the same reason. */
class Rejection extends Error {
  constructor(readonly reason: TokenRejection) {
    super(reason);
  }
}

interface PublishedKey {
  /** The key's own `issuer` property, as Entra publishes it for multi-tenant validation. */
  readonly issuer: string | undefined;
}

interface KeySet {
  readonly keys: ReadonlyMap<string, PublishedKey>;
  readonly resolve: ReturnType<typeof createLocalJWKSet>;
  readonly fetchedAt: number;
}

/** A token that verified, with what the verification depended on besides the clock. */
interface VerifiedEntry {
  readonly source: KeySource;
  readonly kid: string;
  readonly keySet: KeySet;
  readonly result: VerifiedCallerToken;
  /** Milliseconds since epoch: the entry answers for `validFromMs <= now < validUntilMs` only. */
  readonly validFromMs: number;
  readonly validUntilMs: number;
}

interface KeySource {
  readonly tid: string;
  readonly version: TokenVersion;
  metadata: { readonly jwksUri: string; readonly fetchedAt: number } | undefined;
  keySet: KeySet | undefined;
  lastAttemptAt: number | undefined;
  lastFailure: TokenRejection | undefined;
  inflight: Promise<void> | undefined;
}

/**
 * Whether a `jwks_uri` may be fetched: the configured authority host itself, or Entra's login host over
 * https (requirement 17, Entra side). Anything else, including credentials in the URL, is refused.
 */
export function isAllowedKeysUrl(authorityHost: string, raw: string): boolean {
  let url: URL;
  let authority: URL;
  try {
    url = new URL(raw);
    authority = new URL(authorityHost);
  } catch {
    // Not a URL: not a trusted issuer, which is the answer.
    return false;
  }
  if (url.username !== '' || url.password !== '' || url.hash !== '') return false;
  return url.origin === authority.origin || (url.protocol === 'https:' && url.hostname === ENTRA_LOGIN_HOST && url.port === '');
}

function positiveInt(name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < 1 || resolved > max) {
    throw new RangeError(`createCallerVerifier: ${name} must be an integer from 1 to ${max}`);
  }
  return resolved;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stripSlash(value: string): string {
  return value.replace(/\/+$/, '');
}

/** Creates the verifier. Throws `RangeError` naming a bad option. */
export function createCallerVerifier(options: CallerVerifierOptions): CallerVerifier {
  const d = CALLER_VERIFIER_DEFAULTS;
  const timeoutInMs = positiveInt('jwksTimeoutInMs', options.jwksTimeoutInMs, d.jwksTimeoutInMs, 5_000);
  const cooldownInMs = positiveInt('jwksCooldownInMs', options.jwksCooldownInMs, d.jwksCooldownInMs);
  const maxAgeInMs = positiveInt('jwksMaxAgeInMs', options.jwksMaxAgeInMs, d.jwksMaxAgeInMs);
  const graceInMs = positiveInt('lastKnownGoodGraceInMs', options.lastKnownGoodGraceInMs, d.lastKnownGoodGraceInMs);
  const metadataMaxAgeInMs = positiveInt('metadataMaxAgeInMs', options.metadataMaxAgeInMs, d.metadataMaxAgeInMs);
  const toleranceSec = options.clockToleranceSec ?? d.clockToleranceSec;
  if (!Number.isInteger(toleranceSec) || toleranceSec < 0 || toleranceSec > 300) {
    throw new RangeError('createCallerVerifier: clockToleranceSec must be an integer from 0 to 300');
  }
  if (graceInMs < maxAgeInMs) throw new RangeError('createCallerVerifier: lastKnownGoodGraceInMs must be at least jwksMaxAgeInMs');

  const entra = options.entra;
  const allowedTenants = new Set(entra.tenantIds.map((t) => t.toLowerCase()));
  const audience = entra.audience.toLowerCase();
  const v1Audiences = entra.appIdUri === undefined ? [audience] : [entra.appIdUri, audience];
  const authority = new URL(entra.authorityHost);
  const clock = options.clock ?? Date.now;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const log = (options.logger ?? createLogger({ sink: () => undefined })).child({ service: 'caller-verifier' });
  const sources = new Map<string, KeySource>();
  const verified = new LRUCache<string, VerifiedEntry>({ max: d.verifiedTokens });

  async function fetchDocument(url: string): Promise<unknown> {
    const response = await fetchImpl(url, {
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutInMs),
      headers: { accept: 'application/json' },
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined); // discarding the body; the error below is what counts
      throw new Error(`status ${response.status}`);
    }
    const declared = Number(response.headers.get('content-length') ?? '0');
    if (declared > d.maxDocumentBytes) {
      await response.body?.cancel().catch(() => undefined); // discarding the body; the error below is what counts
      throw new Error('document too large');
    }
    const text = await response.text();
    if (text.length > d.maxDocumentBytes) throw new Error('document too large');
    return JSON.parse(text) as unknown;
  }

  async function jwksUriFor(source: KeySource): Promise<string> {
    const cached = source.metadata;
    if (cached !== undefined && clock() - cached.fetchedAt < metadataMaxAgeInMs) return cached.jwksUri;
    const url = metadataUrl(entra.authorityHost, source.tid, source.version);
    let doc: unknown;
    try {
      doc = await fetchDocument(url);
    } catch (error) {
      log.warn('caller.metadata_fetch_failed', { host: authority.host, errorName: error instanceof Error ? error.name : 'unknown' });
      // A stale metadata document is still the last-known-good one.
      if (cached !== undefined) return cached.jwksUri;
      throw new Rejection('metadata_unavailable');
    }
    if (!isRecord(doc) || doc['issuer'] !== entraIssuer(source.tid, source.version) || typeof doc['jwks_uri'] !== 'string') {
      log.warn('caller.metadata_invalid', { host: authority.host, callerTid: source.tid });
      throw new Rejection('metadata_invalid');
    }
    const jwksUri = doc['jwks_uri'];
    if (!isAllowedKeysUrl(entra.authorityHost, jwksUri)) {
      log.warn('caller.jwks_uri_not_allowed', { host: authority.host, callerTid: source.tid });
      throw new Rejection('jwks_uri_not_allowed');
    }
    source.metadata = { jwksUri, fetchedAt: clock() };
    return jwksUri;
  }

  function parseKeySet(doc: unknown): KeySet {
    if (!isRecord(doc) || !Array.isArray(doc['keys'])) throw new Error('not a JWKS');
    const keys = new Map<string, PublishedKey>();
    const jwks: JWK[] = [];
    for (const candidate of doc['keys'].slice(0, d.maxKeys) as unknown[]) {
      if (!isRecord(candidate)) continue;
      const { kty, kid, n, e, use, alg, issuer } = candidate;
      if (kty !== 'RSA' || typeof kid !== 'string' || typeof n !== 'string' || typeof e !== 'string') continue;
      if (use !== undefined && use !== 'sig') continue;
      if (alg !== undefined && alg !== 'RS256') continue;
      if (keys.has(kid)) continue;
      // Only the public members are kept; anything else a key document carries is ignored.
      jwks.push({ kty, kid, n, e, ...(alg === undefined ? {} : { alg }), ...(use === undefined ? {} : { use }) });
      keys.set(kid, { issuer: typeof issuer === 'string' ? issuer : undefined });
    }
    return { keys, resolve: createLocalJWKSet({ keys: jwks }), fetchedAt: clock() };
  }

  function refresh(source: KeySource): Promise<void> {
    if (source.inflight !== undefined) return source.inflight;
    source.lastAttemptAt = clock();
    const run = async (): Promise<void> => {
      const jwksUri = await jwksUriFor(source);
      let doc: unknown;
      try {
        doc = await fetchDocument(jwksUri);
        source.keySet = parseKeySet(doc);
      } catch (error) {
        log.warn('caller.jwks_fetch_failed', { host: new URL(jwksUri).host, errorName: error instanceof Error ? error.name : 'unknown' });
        throw new Rejection('keys_unavailable');
      }
      source.lastFailure = undefined;
      log.info('caller.jwks_refreshed', { callerTid: source.tid, version: source.version, count: source.keySet.keys.size });
    };
    // One pending fetch shared by every caller, cleared when it settles (docs/style.md, jose's remote set).
    source.inflight = run()
      .catch((error: unknown) => {
        source.lastFailure = error instanceof Rejection ? error.reason : 'keys_unavailable';
        throw error;
      })
      .finally(() => {
        source.inflight = undefined;
      });
    return source.inflight;
  }

  async function keySetFor(source: KeySource, kid: string): Promise<KeySet> {
    const now = clock();
    const current = source.keySet;
    if (current !== undefined && now - current.fetchedAt < maxAgeInMs && current.keys.has(kid)) return current;
    // Stale, missing, or an unknown kid: refresh, but at most once per cooldown (requirement 10).
    if (source.inflight !== undefined) {
      await source.inflight.catch(() => undefined); // its failure is in source.lastFailure, answered below
    } else if (source.lastAttemptAt === undefined || now - source.lastAttemptAt >= cooldownInMs) {
      await refresh(source).catch(() => undefined); // its failure is in source.lastFailure, answered below
    }
    const keySet = source.keySet;
    if (keySet === undefined) throw new Rejection(source.lastFailure ?? 'keys_unavailable');
    // Last-known-good keys validate until the grace period after their fetch ends (requirement 11).
    if (clock() - keySet.fetchedAt >= graceInMs) throw new Rejection('keys_unavailable');
    if (!keySet.keys.has(kid)) throw new Rejection('kid_unknown');
    return keySet;
  }

  function sourceFor(tid: string, version: TokenVersion): KeySource {
    const key = `${tid}|${version}`;
    let source = sources.get(key);
    if (source === undefined) {
      source = { tid, version, metadata: undefined, keySet: undefined, lastAttemptAt: undefined, lastFailure: undefined, inflight: undefined };
      sources.set(key, source);
    }
    return source;
  }

  /** The signing key's own `issuer`, with `{tenantid}` substituted, must name the token's tenant. */
  function keyIssuerMatches(keyIssuer: string, tid: string): boolean {
    const effective = stripSlash(keyIssuer.replace('{tenantid}', tid));
    return effective === stripSlash(entraIssuer(tid, '2.0')) || effective === stripSlash(entraIssuer(tid, '1.0'));
  }

  function mapJoseError(error: unknown): TokenRejection {
    if (error instanceof Rejection) return error.reason;
    if (error instanceof errors.JWTExpired) return 'expired';
    if (error instanceof errors.JWTClaimValidationFailed) {
      if (error.reason === 'missing') return 'claim_missing';
      if (error.claim === 'iss') return 'issuer_mismatch';
      if (error.claim === 'aud') return 'audience_mismatch';
      if (error.claim === 'nbf') return 'not_yet_valid';
      return 'claims_invalid';
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature_invalid';
    if (error instanceof errors.JOSEAlgNotAllowed) return 'alg_not_allowed';
    return 'malformed';
  }

  /** The remembered answer for `token`, when a full verification now would give the same. */
  async function rememberedFor(token: string): Promise<VerifiedCallerToken | undefined> {
    const entry = verified.get(token);
    if (entry === undefined) return undefined;
    const now = clock();
    if (now >= entry.validFromMs && now < entry.validUntilMs) {
      // Throws as a full verification would when the keys are gone or past their grace period.
      const keySet = await keySetFor(entry.source, entry.kid);
      if (keySet === entry.keySet) return entry.result;
    }
    verified.delete(token);
    return undefined;
  }

  async function verifyOrThrow(token: string): Promise<VerifiedCallerToken> {
    if (token.length > d.maxTokenLength) throw new Rejection('malformed');
    const remembered = await rememberedFor(token);
    if (remembered !== undefined) return remembered;
    let header: JWSHeaderParameters;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      throw new Rejection('malformed');
    }
    // Decided before any fetch: no key lookup for an algorithm or a tenant we would refuse anyway.
    if (header.alg !== 'RS256') throw new Rejection('alg_not_allowed');
    const kid = header.kid;
    if (typeof kid !== 'string' || !SAFE_KID.test(kid)) throw new Rejection('kid_missing');
    const version = unverified['ver'];
    if (version !== '1.0' && version !== '2.0') throw new Rejection('version_unsupported');
    const tid = unverified['tid'];
    if (typeof tid !== 'string' || !GUID_LOWER.test(tid)) throw new Rejection('tenant_invalid');
    if (!allowedTenants.has(tid)) throw new Rejection('tenant_not_allowed');

    const source = sourceFor(tid, version);
    let usedKeySet: KeySet | undefined;
    const getKey = async (protectedHeader: JWSHeaderParameters, input: FlattenedJWSInput) => {
      const keySet = await keySetFor(source, kid);
      usedKeySet = keySet;
      const published = keySet.keys.get(kid);
      if (published?.issuer !== undefined && !keyIssuerMatches(published.issuer, tid)) throw new Rejection('key_issuer_mismatch');
      return keySet.resolve(protectedHeader, input);
    };
    const { payload } = await jwtVerify(token, getKey, {
      algorithms: ['RS256'],
      issuer: entraIssuer(tid, version),
      audience: version === '2.0' ? audience : v1Audiences,
      requiredClaims: ['exp', 'iat', 'tid', 'oid'],
      clockTolerance: toleranceSec,
      maxTokenAge: d.maxTokenAgeSec,
      currentDate: new Date(clock()),
    });

    // Verified claims from here on; jose checked iss (so `tid` in `iss` equals the `tid` claim).
    const oid = payload['oid'];
    const client = version === '2.0' ? payload['azp'] : payload['appid'];
    const roles = payload['roles'] ?? [];
    const idtyp = payload['idtyp'];
    const scp = payload['scp'];
    if (payload['tid'] !== tid || typeof oid !== 'string' || !GUID_ANY.test(oid)) throw new Rejection('claims_invalid');
    if (typeof client !== 'string' || !GUID_ANY.test(client)) throw new Rejection('claims_invalid');
    if (!Array.isArray(roles) || roles.length > 200 || !roles.every((r): r is string => typeof r === 'string')) {
      throw new Rejection('claims_invalid');
    }
    if (idtyp !== undefined && typeof idtyp !== 'string') throw new Rejection('claims_invalid');
    const caller: Caller = Object.freeze({
      tid,
      oid: oid.toLowerCase(),
      azp: client.toLowerCase(),
      idtyp,
      roles: Object.freeze([...roles]),
      tokenVersion: version,
    });
    const result: VerifiedCallerToken = Object.freeze({ caller, delegated: scp !== undefined, expiresAt: payload.exp ?? 0 });
    remember(token, { source, kid, keySet: usedKeySet, result, payload });
    return result;
  }

  /** Remembers a verified token for the window in which every time check passes without tolerance. */
  function remember(token: string, from: { source: KeySource; kid: string; keySet: KeySet | undefined; result: VerifiedCallerToken; payload: JWTPayload }): void {
    const { iat, nbf, exp } = from.payload;
    if (from.keySet === undefined || typeof iat !== 'number' || typeof exp !== 'number' || (nbf !== undefined && typeof nbf !== 'number')) return;
    const validFromMs = Math.max(iat, nbf ?? iat) * 1000;
    const validUntilMs = Math.min(exp, iat + d.maxTokenAgeSec) * 1000;
    if (!(validFromMs < validUntilMs)) return;
    verified.set(token, { source: from.source, kid: from.kid, keySet: from.keySet, result: from.result, validFromMs, validUntilMs });
  }

  return {
    async verify(token: string): Promise<VerifiedCallerToken> {
      try {
        return await verifyOrThrow(token);
      } catch (error) {
        const reason = mapJoseError(error);
        log.warn('caller.token_rejected', { reason });
        throw new CallerDeniedError('unauthenticated', reason);
      }
    },
  };
}
