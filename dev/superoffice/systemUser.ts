/**
 * The system-user exchange `POST /Login/api/PartnerSystemUser/Authenticate` (docs/superoffice.md §3).
 *
 * The signed token is `token.yyyyMMddHHmm.base64(RSA-SHA256 PKCS#1 v1.5 over utf8("token.yyyyMMddHHmm"))`
 * with the UTC time. Checks, in order: request shape, ReturnTokenType, ApplicationToken (= an app's
 * client_secret), tenant known and running, Development Tools licence, app has a system-user key, the system
 * token belongs to that tenant+app, the signature, then the timestamp window.
 *
 * Timestamp window: ±10 minutes around the server clock (`SYSTEM_USER_TIMESTAMP_WINDOW_MS`). SuperOffice's
 * allowed skew is UNCONFIRMED; 10 minutes tolerates ordinary clock drift while still rejecting stale tokens.
 *
 * Logical failures answer HTTP 200 with `{IsSuccessful:false, ErrorMessage, Token:null}`; a body that is not
 * a JSON object answers 400 with the same shape. On success `Token` is a JWT (iss `SuperOffice AS`,
 * aud `spn:{serial}`, 5 minutes) carrying the ticket `7T:…`, valid 6 hours with sliding expiration.
 */
import { constants, createPublicKey, generateKeyPairSync, verify, randomBytes, type KeyObject } from 'node:crypto';
import { isRecord, mediaType, parseJson, readBody, sendJson, type SimContext, type SimRequest } from './http.js';
import { CLAIM_PREFIX, safeEqual } from './tokens.js';
import { isRunningState } from './seed.js';
import { TICKET_TTL_MS } from './store.js';

export const SYSTEM_USER_TIMESTAMP_WINDOW_MS = 10 * 60_000;
export const SYSTEM_USER_JWT_LIFETIME_S = 300;
export const SYSTEM_USER_ISSUER = 'SuperOffice AS';

interface AuthenticateResult {
  readonly IsSuccessful: boolean;
  readonly ErrorMessage: string | null;
  readonly Token: string | null;
}

function failure(message: string): AuthenticateResult {
  return { IsSuccessful: false, ErrorMessage: message, Token: null };
}

/** Parses `yyyyMMddHHmm` as UTC; undefined if malformed or not a real date. */
export function parseSignedTimestamp(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi] = m.map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi);
  const check = new Date(ms);
  if (
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d ||
    check.getUTCHours() !== h ||
    check.getUTCMinutes() !== mi
  ) {
    return undefined;
  }
  return ms;
}

/** Splits `token.timestamp.signature` from the right (the token itself may contain dots). */
export function splitSignedToken(signed: string): { token: string; timestamp: string; signature: string } | undefined {
  const last = signed.lastIndexOf('.');
  if (last <= 0) return undefined;
  const middle = signed.lastIndexOf('.', last - 1);
  if (middle <= 0) return undefined;
  return { token: signed.slice(0, middle), timestamp: signed.slice(middle + 1, last), signature: signed.slice(last + 1) };
}

/** Generates a dev RSA key pair for an app's system user (PEM, SPKI public / PKCS#8 private). */
export function generateSystemUserKeyPair(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function publicKeyOf(pem: string): KeyObject | undefined {
  try {
    return createPublicKey(pem);
  } catch {
    return undefined;
  }
}

async function authenticate(ctx: SimContext, input: Record<string, unknown>): Promise<AuthenticateResult> {
  const signed = input['SignedSystemToken'];
  const applicationToken = input['ApplicationToken'];
  const contextIdentifier = input['ContextIdentifier'];
  const returnTokenType = input['ReturnTokenType'] ?? 'JWT';
  if (typeof signed !== 'string' || signed === '') return failure('SignedSystemToken is required');
  if (typeof applicationToken !== 'string' || applicationToken === '') return failure('ApplicationToken is required');
  if (typeof contextIdentifier !== 'string' || contextIdentifier === '') return failure('ContextIdentifier is required');
  if (typeof returnTokenType !== 'string' || returnTokenType.toUpperCase() !== 'JWT') {
    return failure('Unsupported ReturnTokenType (the simulator supports JWT)');
  }
  const app = ctx.store.appBySecret(applicationToken);
  if (!app) return failure('Invalid application token');
  const tenant = ctx.store.tenant(contextIdentifier);
  if (!tenant) return failure(`Unknown context identifier ${contextIdentifier}`);
  if (!isRunningState(tenant.state)) return failure(`Tenant ${tenant.seed.contextIdentifier} is not available (${tenant.state})`);
  if (!tenant.seed.developmentToolsLicense) return failure('The tenant has no Development Tools license; the system user is not available');
  const publicKey = app.systemUserPublicKeyPem === undefined ? undefined : publicKeyOf(app.systemUserPublicKeyPem);
  if (!publicKey) return failure('The application is not registered for system user access');

  const parts = splitSignedToken(signed);
  if (!parts) return failure('Malformed signed system token: InvalidSignature (7)');
  const expected = ctx.store.systemTokens.get(ctx.store.systemTokenKey(tenant.seed.contextIdentifier, app.clientId));
  if (expected === undefined || !safeEqual(parts.token, expected)) {
    return failure('Unknown system user token for this application and tenant: Revoked (1)');
  }
  // Standard, padded base64 as .NET's Convert.FromBase64String expects (not base64url).
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(parts.signature) || parts.signature.length % 4 !== 0) {
    return failure('Signature is not standard base64: InvalidSignature (7)');
  }
  const data = Buffer.from(`${parts.token}.${parts.timestamp}`, 'utf8');
  const signatureOk = verify(
    'sha256',
    data,
    { key: publicKey, padding: constants.RSA_PKCS1_PADDING },
    Buffer.from(parts.signature, 'base64'),
  );
  if (!signatureOk) return failure('Signature validation failed: InvalidSignature (7)');
  const stamped = parseSignedTimestamp(parts.timestamp);
  const now = ctx.now();
  if (stamped === undefined || Math.abs(now - stamped) > SYSTEM_USER_TIMESTAMP_WINDOW_MS) {
    return failure('Timestamp outside the allowed window: InvalidTimestamp (6)');
  }

  const ticket = `7T:${randomBytes(36).toString('base64')}`;
  ctx.store.tickets.set(ticket, { clientId: app.clientId, ctx: tenant.seed.contextIdentifier, expiresAt: now + TICKET_TTL_MS });
  const iat = Math.floor(now / 1000);
  const ctxId = tenant.seed.contextIdentifier;
  const token = await ctx.keys.sign({
    [`${CLAIM_PREFIX}ticket`]: ticket,
    [`${CLAIM_PREFIX}ctx`]: ctxId,
    [`${CLAIM_PREFIX}serial`]: tenant.seed.serial,
    [`${CLAIM_PREFIX}associateid`]: String(tenant.seed.systemUser.associateId),
    [`${CLAIM_PREFIX}netserver_url`]: `${ctx.url}/${ctxId}/Remote/Services88/`,
    [`${CLAIM_PREFIX}webapi_url`]: `${ctx.url}/${ctxId}/api/`,
    iat,
    nbf: iat - 60,
    exp: iat + SYSTEM_USER_JWT_LIFETIME_S,
    iss: SYSTEM_USER_ISSUER,
    aud: `spn:${tenant.seed.serial}`,
  });
  ctx.log('systemUser: ticket issued', { clientId: app.clientId, ctx: ctxId });
  return { IsSuccessful: true, ErrorMessage: null, Token: token };
}

/** POST /Login/api/PartnerSystemUser/Authenticate */
export async function handleSystemUser(ctx: SimContext, r: SimRequest): Promise<void> {
  if (r.method !== 'POST') {
    sendJson(r.res, 405, failure('Method not allowed'), { Allow: 'POST' });
    return;
  }
  const body = await readBody(r.req);
  if (mediaType(r.req) !== 'application/json') {
    sendJson(r.res, 415, failure('Content-Type must be application/json'));
    return;
  }
  const input = parseJson(body);
  if (!isRecord(input)) {
    sendJson(r.res, 400, failure('The request body must be a JSON object'));
    return;
  }
  sendJson(r.res, 200, await authenticate(ctx, input));
}
