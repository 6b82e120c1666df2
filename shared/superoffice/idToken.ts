import { createHash, timingSafeEqual } from 'node:crypto';
import type { CompactVerifyGetKey } from 'jose';
import { BrokerError } from '../errors/errors.js';
import { isAllowedApiUrl } from './apiHosts.js';
import { isAssociateId, isTenantId } from './identifiers.js';
import { JwsFailure, checkLifetime, verifySuperOfficeJws } from './jws.js';

/**
 * SuperOffice id_token validation (docs/superoffice.md §2; requirement 30): the RS256 signature and
 * SuperOffice's claim encodings (a string `iat`) as `./jws.ts` checks them, the key picked by
 * `./signingKeys.ts`. The issuer is pinned from configuration, never read from the token.
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

function stringClaim(payload: Record<string, unknown>, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value.length > 0 && value.length <= 2048 ? value : undefined;
}

/** Verifies signature and claims; returns the identity or throws `IdTokenError` with an internal reason. */
export async function validateIdToken(idToken: string, expect: IdTokenExpectations): Promise<SuperOfficeIdentity> {
  let payload: Record<string, unknown>;
  try {
    payload = await verifySuperOfficeJws(idToken, expect.keys);
  } catch (error) {
    if (error instanceof JwsFailure) throw new IdTokenError(error.reason);
    throw error;
  }

  const now = expect.now ?? Math.floor(Date.now() / 1000);
  const tolerance = expect.clockToleranceSec ?? 60;
  if (payload['iss'] !== expect.issuer) throw new IdTokenError('issuer_mismatch');
  const aud = payload['aud'];
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(expect.clientId)) throw new IdTokenError('audience_mismatch');
  if (Array.isArray(aud) && aud.length > 1 && payload['azp'] !== expect.clientId) throw new IdTokenError('azp_mismatch');
  const lifetime = checkLifetime(payload, { now, toleranceSec: tolerance, requireExp: true, requireIat: true, maxAgeSec: MAX_ID_TOKEN_AGE_SEC });
  if (lifetime !== undefined) throw new IdTokenError(lifetime === 'iat_invalid' ? 'iat_missing' : lifetime);
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
  // The configuration's rule: listed hosts and the numbered hosts of a listed environment (sod2.superoffice.com).
  if (!isAllowedApiUrl(webApi, expect.allowedApiHosts) || webApi.search || webApi.hash) {
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
