import { createHash, timingSafeEqual } from 'node:crypto';
import { compactVerify, errors as joseErrors, type CompactVerifyGetKey } from 'jose';
import { BrokerError } from '../errors/errors.js';
import { isAssociateId, isTenantId } from './identifiers.js';

/**
 * SuperOffice id_token validation (superoffice.md §2; requirement 30). SuperOffice sends `iat` as a
 * string, which jose's `jwtVerify` rejects, so the signature is verified with `compactVerify`
 * (RS256 only, key by `kid` from SuperOffice's JWKS) and the claims are checked here. The issuer is
 * pinned from configuration, never read from the token.
 */

export const CLAIM = 'http://schemes.superoffice.net/identity/';

/** The facts the broker keeps from a validated id_token. */
export interface SuperOfficeIdentity {
  readonly subject: string;
  readonly ctx: string;
  readonly associateId: string;
  readonly isAdministrator: boolean;
  /** The REST base, e.g. https://sod.superoffice.com/Cust12345/api/ (host allow-listed). */
  readonly webApiUrl: string;
  readonly serial: string | undefined;
  /** Present only after an administrator consents to an app with a system user. */
  readonly systemToken: string | undefined;
  readonly email: string | undefined;
}

export interface IdTokenExpectations {
  readonly issuer: string;
  readonly clientId: string;
  /** The nonce sent in the authorize request; `null` only for id_tokens from a refresh, which carry none. */
  readonly nonce: string | null;
  readonly keys: CompactVerifyGetKey;
  readonly allowedApiHosts: readonly string[];
  /** Seconds since epoch; defaults to now. */
  readonly now?: number;
  readonly clockToleranceSec?: number;
  /** When the consent link named a tenant, the token must be for it. */
  readonly expectedCtx?: string;
}

/** Thrown for any id_token that fails validation; the message never says which check failed to the browser. */
export class IdTokenError extends BrokerError {
  override readonly name = 'IdTokenError';
  constructor(readonly reason: string) {
    super('consent_invalid', 'The sign-in could not be verified');
  }
}

const MAX_ID_TOKEN_AGE_SEC = 600;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time string equality over fixed-length digests (requirement 26). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function numericDate(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^\d{1,12}$/.test(value)) return Number(value);
  return undefined;
}

function stringClaim(payload: Record<string, unknown>, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value.length > 0 && value.length <= 2048 ? value : undefined;
}

/** Verifies signature and claims; returns the identity or throws `IdTokenError` with an internal reason. */
export async function validateIdToken(idToken: string, expect: IdTokenExpectations): Promise<SuperOfficeIdentity> {
  let payloadBytes: Uint8Array;
  try {
    const verified = await compactVerify(idToken, expect.keys, { algorithms: ['RS256'] });
    payloadBytes = verified.payload;
  } catch (error) {
    if (error instanceof joseErrors.JOSEAlgNotAllowed) throw new IdTokenError('alg_not_allowed');
    if (error instanceof joseErrors.JWKSNoMatchingKey) throw new IdTokenError('no_matching_key');
    const isJoseError = error instanceof joseErrors.JOSEError;
    if (error instanceof joseErrors.JWKSTimeout || !isJoseError) throw new IdTokenError('keys_unavailable');
    throw new IdTokenError('signature_invalid');
  }
  let payload: Record<string, unknown>;
  try {
    const parsed = JSON.parse(new TextDecoder().decode(payloadBytes)) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    payload = parsed as Record<string, unknown>;
  } catch {
    throw new IdTokenError('payload_not_json');
  }

  const now = expect.now ?? Math.floor(Date.now() / 1000);
  const tolerance = expect.clockToleranceSec ?? 60;
  if (payload['iss'] !== expect.issuer) throw new IdTokenError('issuer_mismatch');
  const aud = payload['aud'];
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(expect.clientId)) throw new IdTokenError('audience_mismatch');
  if (Array.isArray(aud) && aud.length > 1 && payload['azp'] !== expect.clientId) throw new IdTokenError('azp_mismatch');
  const exp = numericDate(payload['exp']);
  if (exp === undefined) throw new IdTokenError('exp_missing');
  if (exp + tolerance <= now) throw new IdTokenError('expired');
  const iat = numericDate(payload['iat']);
  if (iat === undefined) throw new IdTokenError('iat_missing');
  if (iat - tolerance > now || now - iat > MAX_ID_TOKEN_AGE_SEC + tolerance) throw new IdTokenError('iat_out_of_range');
  const nbf = numericDate(payload['nbf']);
  if (payload['nbf'] !== undefined && (nbf === undefined || nbf - tolerance > now)) throw new IdTokenError('not_yet_valid');
  const nonce = payload['nonce'];
  if (expect.nonce !== null && (typeof nonce !== 'string' || !safeEqual(nonce, expect.nonce))) throw new IdTokenError('nonce_mismatch');

  const ctx = stringClaim(payload, `${CLAIM}ctx`);
  if (ctx === undefined || !isTenantId(ctx)) throw new IdTokenError('ctx_missing');
  if (expect.expectedCtx !== undefined && ctx.toLowerCase() !== expect.expectedCtx.toLowerCase()) throw new IdTokenError('ctx_unexpected');
  const associateId = stringClaim(payload, `${CLAIM}associateid`);
  if (associateId === undefined || !isAssociateId(associateId)) throw new IdTokenError('associateid_missing');
  const webApiUrl = stringClaim(payload, `${CLAIM}webapi_url`);
  if (webApiUrl === undefined) throw new IdTokenError('webapi_url_missing');
  let webApi: URL;
  try {
    webApi = new URL(webApiUrl);
  } catch {
    throw new IdTokenError('webapi_url_invalid');
  }
  const loopback = webApi.hostname === '127.0.0.1' || webApi.hostname === 'localhost';
  const hostAllowed = expect.allowedApiHosts.some((h) => h.toLowerCase() === webApi.host.toLowerCase());
  if (!hostAllowed || (webApi.protocol !== 'https:' && !(loopback && webApi.protocol === 'http:')) || webApi.search || webApi.username) {
    // Requirement 17: no access token is ever sent to a host outside the allow-list.
    throw new IdTokenError('webapi_url_not_allowed');
  }
  const admin = payload[`${CLAIM}is_administrator`];
  const subject = stringClaim(payload, 'sub');
  if (subject === undefined) throw new IdTokenError('sub_missing');
  return {
    subject,
    ctx,
    associateId,
    isAdministrator: admin === 'True' || admin === 'true' || admin === true,
    webApiUrl: webApi.href.endsWith('/') ? webApi.href : `${webApi.href}/`,
    serial: stringClaim(payload, `${CLAIM}serial`),
    systemToken: stringClaim(payload, `${CLAIM}system_token`),
    email: stringClaim(payload, `${CLAIM}email`) ?? stringClaim(payload, `${CLAIM}upn`),
  };
}
