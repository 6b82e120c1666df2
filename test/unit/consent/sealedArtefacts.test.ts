import { stringifySetCookie } from 'cookie';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveConsentKeys, open, seal, strictBase64urlDecode } from '../../../shared/connections/consent/sealed.js';
import { TICKET_PREFIX, TICKET_TTL_SEC, decodeTicket, encodeTicket, newTicket } from '../../../shared/connections/consent/ticket.js';
import {
  CONSENT_COOKIE_NAME,
  TRANSACTION_TTL_SEC,
  clearedTransactionCookie,
  decodeTransaction,
  encodeTransaction,
  readTransactionCookie,
  transactionCookie,
  type ConsentTransaction,
} from '../../../shared/connections/consent/transactionCookie.js';
import { newCodeVerifier, newNonce, newState, randomToken } from '../../../shared/connections/consent/pkce.js';
import { safeEqual } from '../../../shared/superoffice/idToken.js';
import { fuzzSeed } from './fuzz.js';

const NOW = 1_800_000_000;
const keys = deriveConsentKeys(Buffer.alloc(32, 1));
const otherKeys = deriveConsentKeys(Buffer.alloc(32, 2));

function transaction(overrides: Partial<ConsentTransaction> = {}): ConsentTransaction {
  return {
    state: newState(), nonce: newNonce(), codeVerifier: newCodeVerifier(), env: 'sod', issuer: 'https://sod.superoffice.com', ctx: 'Cust12345',
    associateId: '5', returnTo: '/back', ticketId: randomToken(), callerId: 'tid_oid', expiresAt: NOW + TRANSACTION_TTL_SEC, ...overrides,
  };
}

/** Every single-character change of `text` at every position (to a different base64url/prefix character). */
function* tamperings(text: string): Generator<string> {
  for (let i = 0; i < text.length; i++) {
    for (const replacement of ['A', 'B', '_', '.']) {
      if (replacement !== text[i]) {
        yield `${text.slice(0, i)}${replacement}${text.slice(i + 1)}`;
        break;
      }
    }
  }
}

/** Serialises a Cookie as the dev host and the Functions host do (cookie's stringifySetCookie). */
function setCookieHeader(cookie: ReturnType<typeof transactionCookie>): string {
  return stringifySetCookie(cookie.name, cookie.value, {
    path: cookie.path,
    ...(cookie.maxAge !== undefined ? { maxAge: cookie.maxAge } : {}),
    ...(cookie.expires !== undefined ? { expires: cookie.expires instanceof Date ? cookie.expires : new Date(cookie.expires) } : {}),
    secure: cookie.secure,
    httpOnly: cookie.httpOnly,
    sameSite: 'lax',
    ...(cookie.domain !== undefined ? { domain: cookie.domain } : {}),
  });
}

describe('sealing (AES-256-GCM, strict base64url)', () => {
  it('refuses non-canonical base64url (changed unused low bits of the last character)', () => {
    const text = Buffer.from([1, 2, 3, 4]).toString('base64url'); // "AQIDBA": the last char carries 4 unused bits
    expect(strictBase64urlDecode(text)).toEqual(Buffer.from([1, 2, 3, 4]));
    expect(strictBase64urlDecode(`${text.slice(0, -1)}B`)).toBeUndefined();
    expect(strictBase64urlDecode('AQID+A')).toBeUndefined();
    expect(strictBase64urlDecode('AQID=')).toBeUndefined();
  });

  it('binds the purpose and the key', () => {
    const sealed = seal(keys.cookie, 'a', Buffer.from('x'));
    expect(open(keys.cookie, 'a', sealed)?.toString()).toBe('x');
    expect(open(keys.cookie, 'b', sealed)).toBeUndefined();
    expect(open(keys.ticket, 'a', sealed)).toBeUndefined();
    expect(open(otherKeys.cookie, 'a', sealed)).toBeUndefined();
  });

  it('derives different subkeys for tickets and cookies, and refuses short key material', () => {
    expect(keys.ticket.export().equals(keys.cookie.export())).toBe(false);
    expect(() => deriveConsentKeys(Buffer.alloc(31))).toThrow(RangeError);
  });
});

describe('requirement 23: the transaction cookie', () => {
  it('requirement 23: tampering with any byte of the cookie value is rejected', () => {
    const value = encodeTransaction(keys.cookie, transaction());
    let count = 0;
    for (const tampered of tamperings(value)) {
      expect(decodeTransaction(keys.cookie, tampered, NOW)).toMatchObject({ ok: false });
      count++;
    }
    expect(count).toBe(value.length);
    expect(decodeTransaction(keys.cookie, value.slice(0, -1), NOW)).toMatchObject({ ok: false, reason: 'cookie_invalid' });
    expect(decodeTransaction(keys.cookie, `${value}A`, NOW)).toMatchObject({ ok: false, reason: 'cookie_invalid' });
  });

  it('requirement 23: an expired cookie is rejected; one sealed with another key or as a ticket too', () => {
    const value = encodeTransaction(keys.cookie, transaction());
    expect(decodeTransaction(keys.cookie, value, NOW + TRANSACTION_TTL_SEC)).toEqual({ ok: false, reason: 'cookie_expired' });
    expect(decodeTransaction(otherKeys.cookie, value, NOW)).toEqual({ ok: false, reason: 'cookie_invalid' });
    expect(decodeTransaction(keys.ticket, value, NOW)).toEqual({ ok: false, reason: 'cookie_invalid' });
    const ticket = encodeTicket(keys.cookie, newTicket({ env: 'sod', ctx: 'Cust12345', callerId: 'x' }, NOW));
    expect(decodeTransaction(keys.cookie, `c1.${ticket.slice(TICKET_PREFIX.length)}`, NOW)).toEqual({ ok: false, reason: 'cookie_invalid' });
    expect(decodeTransaction(keys.cookie, undefined, NOW)).toEqual({ ok: false, reason: 'cookie_missing' });
  });

  it('requirement 23: refuses a cookie claiming a lifetime above 10 minutes', () => {
    const value = encodeTransaction(keys.cookie, transaction({ expiresAt: NOW + 3600 }));
    expect(decodeTransaction(keys.cookie, value, NOW)).toEqual({ ok: false, reason: 'cookie_invalid' });
  });

  it('requirement 23: round-trips a transaction; the value reveals neither verifier nor nonce nor state', () => {
    const txn = transaction();
    const value = encodeTransaction(keys.cookie, txn);
    expect(decodeTransaction(keys.cookie, value, NOW)).toEqual({ ok: true, transaction: txn });
    for (const secret of [txn.codeVerifier, txn.nonce, txn.state, Buffer.from(txn.codeVerifier).toString('base64url')]) expect(value).not.toContain(secret);
  });

  it('requirement 23: __Host- prefix, Secure, HttpOnly, Path=/, no Domain, SameSite=Lax, Max-Age ≤ 600', () => {
    const cookie = transactionCookie(encodeTransaction(keys.cookie, transaction()));
    expect(cookie).toMatchObject({ name: CONSENT_COOKIE_NAME, path: '/', secure: true, httpOnly: true, sameSite: 'Lax', maxAge: 600 });
    expect(cookie.name.startsWith('__Host-')).toBe(true);
    expect(cookie.domain).toBeUndefined();
    expect(transactionCookie('v', 86_400).maxAge).toBe(600);
    const header = setCookieHeader(cookie);
    expect(header).toMatch(/^__Host-so-consent=c1\.[A-Za-z0-9_-]+; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(header).not.toMatch(/domain/i);
  });

  it('requirement 25: the clearing cookie has Max-Age=0 and the same name, path and flags', () => {
    const header = setCookieHeader(clearedTransactionCookie());
    expect(header).toMatch(/^__Host-so-consent=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax$/);
  });

  it('reads the cookie from a Cookie header among others, and ignores oversized headers', () => {
    expect(readTransactionCookie(`a=1; ${CONSENT_COOKIE_NAME}=c1.xyz; b=2`)).toBe('c1.xyz');
    expect(readTransactionCookie('a=1')).toBeUndefined();
    expect(readTransactionCookie(null)).toBeUndefined();
    expect(readTransactionCookie(`${CONSENT_COOKIE_NAME}=${'x'.repeat(20_000)}`)).toBeUndefined();
  });
});

describe('requirement 27: the onboarding ticket', () => {
  it('requirement 27: tampering with any byte of the ticket is rejected', () => {
    const text = encodeTicket(keys.ticket, newTicket({ env: 'sod', ctx: 'Cust12345', associateId: '5', returnTo: '/x', callerId: 'tid_oid' }, NOW));
    let count = 0;
    for (const tampered of tamperings(text)) {
      expect(decodeTicket(keys.ticket, tampered, NOW)).toMatchObject({ ok: false });
      count++;
    }
    expect(count).toBe(text.length);
  });

  it('requirement 27: a ticket is valid for at most 10 minutes (expired at iat + 600)', () => {
    const ticket = newTicket({ env: 'sod', ctx: 'Cust12345', callerId: 'tid_oid' }, NOW);
    expect(ticket.expiresAt - ticket.issuedAt).toBe(TICKET_TTL_SEC);
    expect(TICKET_TTL_SEC).toBeLessThanOrEqual(600);
    const text = encodeTicket(keys.ticket, ticket);
    expect(decodeTicket(keys.ticket, text, NOW + 599)).toMatchObject({ ok: true });
    expect(decodeTicket(keys.ticket, text, NOW + 600)).toEqual({ ok: false, reason: 'ticket_expired' });
  });

  it('requirement 27: a sealed ticket claiming a longer lifetime, or issued in the future, is rejected', () => {
    const long = encodeTicket(keys.ticket, { ...newTicket({ env: 'sod', ctx: 'Cust12345', callerId: 'x' }, NOW), expiresAt: NOW + 3600 });
    expect(decodeTicket(keys.ticket, long, NOW)).toEqual({ ok: false, reason: 'ticket_invalid' });
    const future = encodeTicket(keys.ticket, newTicket({ env: 'sod', ctx: 'Cust12345', callerId: 'x' }, NOW + 3600));
    expect(decodeTicket(keys.ticket, future, NOW)).toEqual({ ok: false, reason: 'ticket_invalid' });
  });

  it('requirement 27: a ticket sealed with the cookie key, or another key, is rejected; the id has 256 bits', () => {
    const ticket = newTicket({ env: 'sod', ctx: 'Cust12345', callerId: 'x' }, NOW);
    expect(ticket.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(decodeTicket(keys.ticket, encodeTicket(keys.cookie, ticket), NOW)).toEqual({ ok: false, reason: 'ticket_invalid' });
    expect(decodeTicket(keys.ticket, encodeTicket(otherKeys.ticket, ticket), NOW)).toEqual({ ok: false, reason: 'ticket_invalid' });
    expect(decodeTicket(keys.ticket, '', NOW)).toEqual({ ok: false, reason: 'ticket_missing' });
    expect(decodeTicket(keys.ticket, 'x1.abc', NOW)).toEqual({ ok: false, reason: 'ticket_malformed' });
  });
});

describe('requirement 26: constant-time comparisons', () => {
  it('requirement 26: fast-check (1,000 runs): safeEqual over fixed-length digests equals ===, and a length mismatch returns false without throwing', () => {
    const seed = fuzzSeed('requirement 26 safeEqual');
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.string({ maxLength: 300 }), (a, b) => safeEqual(a, b) === (a === b) && safeEqual(a, a) && !safeEqual(a, `${a}x`)),
      { numRuns: 1_000, seed },
    );
    const state = newState();
    expect(() => safeEqual(state, '')).not.toThrow();
    expect(safeEqual(state, state.slice(0, 20))).toBe(false);
  });
});
