import type { Cookie } from '@azure/functions';
import type { KeyObject } from 'node:crypto';
import { parseCookie } from 'cookie';
import * as z from 'zod/mini';
import { isAssociateId, isTenantId } from '../../superoffice/identifiers.js';
import { openJson, sealJson } from './sealed.js';

/**
 * The consent transaction, bound to the user agent in a cookie (docs/security.md §4 "State cookie" and
 * requirement 23): `__Host-` prefix, `Secure`, `HttpOnly`, `Path=/`, no `Domain`, `SameSite=Lax`
 * (the callback is a cross-site top-level GET, where `Strict` cookies are not sent) and
 * `Max-Age` ≤ 600. The value is `c1.` + AES-256-GCM-sealed JSON (purpose `consent-transaction/v1`),
 * so the PKCE verifier and nonce inside stay confidential and any change is rejected.
 */

export const CONSENT_COOKIE_NAME = '__Host-so-consent';
export const COOKIE_PREFIX = 'c1.';
/** Requirement 23: the transaction lives at most 10 minutes (SuperOffice codes live 10 minutes too). */
export const TRANSACTION_TTL_SEC = 600;
const PURPOSE = 'consent-transaction/v1';
const MAX_COOKIE_VALUE_LENGTH = 3000;

/** Everything the callback needs to finish one authorization request. */
export interface ConsentTransaction {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** The SuperOffice environment and issuer the request went to (mix-up defence, requirement 31). */
  readonly env: string;
  readonly issuer: string;
  readonly ctx: string;
  readonly associateId: string | undefined;
  readonly returnTo: string | undefined;
  readonly ticketId: string;
  readonly callerId: string;
  /** Seconds since epoch. */
  readonly expiresAt: number;
}

export type TransactionFailure = 'cookie_missing' | 'cookie_invalid' | 'cookie_expired';

export type TransactionDecodeResult =
  | { readonly ok: true; readonly transaction: ConsentTransaction }
  | { readonly ok: false; readonly reason: TransactionFailure };

const token = z.string().check(z.regex(/^[A-Za-z0-9_-]{22,128}$/));
const payloadSchema = z.strictObject({
  v: z.literal(1),
  st: token,
  no: token,
  cv: z.string().check(z.regex(/^[A-Za-z0-9\-._~]{43,128}$/)),
  env: z.string().check(z.minLength(1), z.maxLength(16)),
  iss: z.string().check(z.minLength(1), z.maxLength(256)),
  ctx: z.string().check(z.refine(isTenantId)),
  aid: z.optional(z.string().check(z.refine(isAssociateId))),
  rt: z.optional(z.string().check(z.maxLength(2048))),
  tid: token,
  cid: z.string().check(z.minLength(1), z.maxLength(200)),
  exp: z.int().check(z.gte(0)),
});

/** The cookie value for a transaction. */
export function encodeTransaction(key: KeyObject, transaction: ConsentTransaction): string {
  const payload: z.input<typeof payloadSchema> = {
    v: 1,
    st: transaction.state,
    no: transaction.nonce,
    cv: transaction.codeVerifier,
    env: transaction.env,
    iss: transaction.issuer,
    ctx: transaction.ctx,
    ...(transaction.associateId !== undefined ? { aid: transaction.associateId } : {}),
    ...(transaction.returnTo !== undefined ? { rt: transaction.returnTo } : {}),
    tid: transaction.ticketId,
    cid: transaction.callerId,
    exp: transaction.expiresAt,
  };
  return `${COOKIE_PREFIX}${sealJson(key, PURPOSE, payload)}`;
}

/** Verifies integrity and expiry of a cookie value; never throws. */
export function decodeTransaction(key: KeyObject, value: string | undefined, nowSec: number): TransactionDecodeResult {
  if (value === undefined || value === '') return { ok: false, reason: 'cookie_missing' };
  if (value.length > MAX_COOKIE_VALUE_LENGTH || !value.startsWith(COOKIE_PREFIX)) return { ok: false, reason: 'cookie_invalid' };
  const parsed = payloadSchema.safeParse(openJson(key, PURPOSE, value.slice(COOKIE_PREFIX.length)));
  if (!parsed.success) return { ok: false, reason: 'cookie_invalid' };
  const p = parsed.data;
  if (p.exp > nowSec + TRANSACTION_TTL_SEC + 60) return { ok: false, reason: 'cookie_invalid' };
  if (p.exp <= nowSec) return { ok: false, reason: 'cookie_expired' };
  return {
    ok: true,
    transaction: Object.freeze({
      state: p.st,
      nonce: p.no,
      codeVerifier: p.cv,
      env: p.env,
      issuer: p.iss,
      ctx: p.ctx,
      associateId: p.aid,
      returnTo: p.rt,
      ticketId: p.tid,
      callerId: p.cid,
      expiresAt: p.exp,
    }),
  };
}

/** The `Set-Cookie` for a new transaction; `maxAgeSec` is capped at `TRANSACTION_TTL_SEC`. */
export function transactionCookie(value: string, maxAgeSec: number = TRANSACTION_TTL_SEC): Cookie {
  return {
    name: CONSENT_COOKIE_NAME,
    value,
    path: '/',
    secure: true,
    httpOnly: true,
    sameSite: 'Lax',
    maxAge: Math.max(0, Math.min(TRANSACTION_TTL_SEC, Math.floor(maxAgeSec))),
  };
}

/** The `Set-Cookie` that deletes the transaction (requirement 25: cleared on first use). */
export function clearedTransactionCookie(): Cookie {
  return { name: CONSENT_COOKIE_NAME, value: '', path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: 0, expires: new Date(0) };
}

/** The transaction cookie's value from a `Cookie` request header, if present. */
export function readTransactionCookie(cookieHeader: string | null | undefined): string | undefined {
  if (cookieHeader === null || cookieHeader === undefined || cookieHeader.length > 16 * 1024) return undefined;
  try {
    return parseCookie(cookieHeader)[CONSENT_COOKIE_NAME];
  } catch {
    // An unparsable Cookie header means no transaction cookie; the caller answers that case.
    return undefined;
  }
}
