import { sign, constants, type KeyObject } from 'node:crypto';
import type { JWTVerifyGetKey } from 'jose';
import { BrokerError } from '../errors/errors.js';
import { isTransientStatus } from '../resilience/transient.js';
import { Secret } from '../secrets/secret.js';
import { CLAIM } from './idToken.js';
import { JwsFailure, checkLifetime, verifySuperOfficeJws } from './jws.js';
import type { UpstreamResponse } from './upstream.js';

/**
 * The system user (docs/superoffice.md §3): sign the tenant's system-user token with the app's RSA key,
 * exchange it at PartnerSystemUser/Authenticate, and validate the returned JWT (issuer
 * `SuperOffice AS`, audience `spn:{serial}`, RS256 from SuperOffice's JWKS). The ticket never leaves
 * the broker.
 */

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `yyyyMMddHHmm` in UTC, 24-hour clock. */
export function systemUserTimestamp(at: Date): string {
  return `${at.getUTCFullYear()}${pad(at.getUTCMonth() + 1)}${pad(at.getUTCDate())}${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}`;
}

/** `token.yyyyMMddHHmm.base64(RSA-SHA256 PKCS#1 v1.5 over "token.yyyyMMddHHmm")` (standard base64). */
export function signSystemUserToken(systemToken: Secret, privateKey: KeyObject, at: Date = new Date()): Secret {
  const data = `${systemToken.reveal()}.${systemUserTimestamp(at)}`;
  const signature = sign('sha256', Buffer.from(data, 'utf8'), { key: privateKey, padding: constants.RSA_PKCS1_PADDING }).toString('base64');
  return new Secret(`${data}.${signature}`);
}

/** The JSON body of the Authenticate call; reveals the signed token and the client_secret only here. */
export function systemUserRequestBody(signed: Secret, clientSecret: Secret, ctx: string): string {
  return JSON.stringify({
    SignedSystemToken: signed.reveal(),
    ApplicationToken: clientSecret.reveal(),
    ContextIdentifier: ctx,
    ReturnTokenType: 'JWT',
  });
}

export type SystemUserOutcome =
  | { readonly kind: 'token'; readonly jwt: string }
  | { readonly kind: 'refused'; readonly message: string }
  | { readonly kind: 'transient'; readonly status: number; readonly retryAfterSec: number | undefined }
  | { readonly kind: 'malformed'; readonly status: number; readonly problem: string };

/** Classifies an Authenticate answer `{IsSuccessful, ErrorMessage, Token}`. */
export function classifySystemUserResponse(response: UpstreamResponse): SystemUserOutcome {
  if (isTransientStatus(response.status)) return { kind: 'transient', status: response.status, retryAfterSec: response.retryAfterSec };
  let body: unknown;
  try {
    body = JSON.parse(response.text) as unknown;
  } catch {
    // The parse failure becomes the typed "malformed" outcome the caller maps to an error.
    return { kind: 'malformed', status: response.status, problem: 'body is not JSON' };
  }
  if (typeof body !== 'object' || body === null) return { kind: 'malformed', status: response.status, problem: 'body is not an object' };
  const record = body as Record<string, unknown>;
  if (record['IsSuccessful'] === true && response.status === 200) {
    const token = record['Token'];
    if (typeof token !== 'string' || token.split('.').length !== 3) return { kind: 'malformed', status: response.status, problem: 'Token missing' };
    return { kind: 'token', jwt: token };
  }
  const message = typeof record['ErrorMessage'] === 'string' ? record['ErrorMessage'].slice(0, 200) : `HTTP ${response.status}`;
  return { kind: 'refused', message };
}

export interface SystemUserTicket {
  /** `7T:…`, used as `Authorization: SOTicket {ticket}` with `SO-AppToken`. */
  readonly ticket: Secret;
  readonly ctx: string;
  readonly serial: string;
}

/**
 * Validates the returned JWT (issuer `SuperOffice AS`, audience `spn:{serial}`, RS256 with the key
 * `./signingKeys.ts` picks) with the id_token's claim encodings (`./jws.ts`: a string `iat` is
 * accepted) and extracts the ticket; throws `upstream_bad_response` on any failure.
 */
export async function validateSystemUserJwt(jwt: string, keys: JWTVerifyGetKey, expectedCtx: string, now?: Date): Promise<SystemUserTicket> {
  let payload: Record<string, unknown>;
  try {
    payload = await verifySuperOfficeJws(jwt, keys);
  } catch (error) {
    if (error instanceof JwsFailure) {
      if (error.reason === 'keys_unavailable') throw new BrokerError('upstream_unavailable', "SuperOffice's signing keys could not be fetched", { retryAfterSec: 5 });
      throw new BrokerError('upstream_bad_response', `The system-user token failed validation (${error.reason})`);
    }
    throw error;
  }
  if (payload['iss'] !== 'SuperOffice AS') throw new BrokerError('upstream_bad_response', 'The system-user token failed validation (issuer_mismatch)');
  // The audience is spn:{serial}, where serial is a claim of the same token (docs/superoffice.md §3.5).
  const claimed = payload[`${CLAIM}serial`];
  const serial = typeof claimed === 'string' && /^\d{1,20}$/.test(claimed) ? claimed : undefined;
  if (serial === undefined) throw new BrokerError('upstream_bad_response', 'The system-user token has no serial');
  const aud = payload['aud'];
  if (!(Array.isArray(aud) ? aud : [aud]).includes(`spn:${serial}`)) {
    throw new BrokerError('upstream_bad_response', 'The system-user token failed validation (audience_mismatch)');
  }
  const nowSec = Math.floor((now?.getTime() ?? Date.now()) / 1000);
  const lifetime = checkLifetime(payload, { now: nowSec, toleranceSec: 60, requireExp: false, requireIat: false });
  if (lifetime !== undefined) throw new BrokerError('upstream_bad_response', `The system-user token failed validation (${lifetime})`);
  const ticket = payload[`${CLAIM}ticket`];
  const ctx = payload[`${CLAIM}ctx`];
  if (typeof ticket !== 'string' || !/^7T:[A-Za-z0-9+/=_-]{4,512}$/.test(ticket)) throw new BrokerError('upstream_bad_response', 'The system-user token has no ticket');
  if (typeof ctx !== 'string' || ctx.toLowerCase() !== expectedCtx.toLowerCase()) throw new BrokerError('upstream_bad_response', 'The system-user token is for another tenant');
  return { ticket: new Secret(ticket), ctx, serial };
}
