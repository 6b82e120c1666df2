import type { KeyObject } from 'node:crypto';
import * as z from 'zod/mini';
import { isAssociateId, isTenantId } from '../../superoffice/identifiers.js';
import { openJson, sealJson } from './sealed.js';
import { randomToken } from './pkce.js';

/**
 * The single-use onboarding ticket (requirement 27): minted by `POST /api/consent-links`
 * for an authenticated caller, carried in the consent link, redeemed once by `/api/consent/start`.
 * Text form: `t1.` + AES-256-GCM-sealed JSON (`sealed.ts`, purpose `consent-ticket/v1`) holding a
 * 256-bit random id, the SuperOffice environment and tenant, the expected user, the return path,
 * the minting caller and the validity window (at most 10 minutes).
 */

export const TICKET_PREFIX = 't1.';
/** Requirement 27: a ticket is valid for at most 10 minutes. */
export const TICKET_TTL_SEC = 600;
const PURPOSE = 'consent-ticket/v1';
/** Tolerated clock difference between instances for `iat` in the future. */
const CLOCK_SKEW_SEC = 60;
const MAX_TICKET_LENGTH = 2048;

export interface OnboardingTicket {
  /** 256-bit random id; the redemption key. */
  readonly id: string;
  readonly env: string;
  readonly ctx: string;
  /** The SuperOffice user expected to consent, when the link names one. */
  readonly associateId: string | undefined;
  /** Where the browser goes after a successful consent (already checked by `isSafeReturnTo`). */
  readonly returnTo: string | undefined;
  /** `callerId()` of the caller that minted the link. */
  readonly callerId: string;
  /** Seconds since epoch. */
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export type TicketFailure = 'ticket_missing' | 'ticket_malformed' | 'ticket_invalid' | 'ticket_expired';

export type TicketDecodeResult =
  | { readonly ok: true; readonly ticket: OnboardingTicket }
  | { readonly ok: false; readonly reason: TicketFailure };

const payloadSchema = z.strictObject({
  v: z.literal(1),
  id: z.string().check(z.regex(/^[A-Za-z0-9_-]{22,86}$/)),
  env: z.string().check(z.minLength(1), z.maxLength(16)),
  ctx: z.string().check(z.refine(isTenantId)),
  aid: z.optional(z.string().check(z.refine(isAssociateId))),
  rt: z.optional(z.string().check(z.maxLength(2048))),
  cid: z.string().check(z.minLength(1), z.maxLength(200)),
  iat: z.int().check(z.gte(0)),
  exp: z.int().check(z.gte(0)),
});

/** A new ticket for `input`, valid from `nowSec` for `TICKET_TTL_SEC`. */
export function newTicket(
  input: { readonly env: string; readonly ctx: string; readonly associateId?: string; readonly returnTo?: string; readonly callerId: string },
  nowSec: number,
): OnboardingTicket {
  return Object.freeze({
    id: randomToken(),
    env: input.env,
    ctx: input.ctx,
    associateId: input.associateId,
    returnTo: input.returnTo,
    callerId: input.callerId,
    issuedAt: nowSec,
    expiresAt: nowSec + TICKET_TTL_SEC,
  });
}

/** The ticket's text form for the consent link's `ticket` query parameter. */
export function encodeTicket(key: KeyObject, ticket: OnboardingTicket): string {
  const payload: z.input<typeof payloadSchema> = {
    v: 1,
    id: ticket.id,
    env: ticket.env,
    ctx: ticket.ctx,
    ...(ticket.associateId !== undefined ? { aid: ticket.associateId } : {}),
    ...(ticket.returnTo !== undefined ? { rt: ticket.returnTo } : {}),
    cid: ticket.callerId,
    iat: ticket.issuedAt,
    exp: ticket.expiresAt,
  };
  return `${TICKET_PREFIX}${sealJson(key, PURPOSE, payload)}`;
}

/** Verifies integrity and validity window; never throws. */
export function decodeTicket(key: KeyObject, text: string | null | undefined, nowSec: number): TicketDecodeResult {
  if (text === null || text === undefined || text === '') return { ok: false, reason: 'ticket_missing' };
  if (text.length > MAX_TICKET_LENGTH || !text.startsWith(TICKET_PREFIX)) return { ok: false, reason: 'ticket_malformed' };
  const opened = openJson(key, PURPOSE, text.slice(TICKET_PREFIX.length));
  if (opened === undefined) return { ok: false, reason: 'ticket_invalid' };
  const parsed = payloadSchema.safeParse(opened);
  if (!parsed.success) return { ok: false, reason: 'ticket_invalid' };
  const p = parsed.data;
  if (p.exp <= p.iat || p.exp - p.iat > TICKET_TTL_SEC || p.iat > nowSec + CLOCK_SKEW_SEC) return { ok: false, reason: 'ticket_invalid' };
  if (p.exp <= nowSec) return { ok: false, reason: 'ticket_expired' };
  return {
    ok: true,
    ticket: Object.freeze({
      id: p.id,
      env: p.env,
      ctx: p.ctx,
      associateId: p.aid,
      returnTo: p.rt,
      callerId: p.cid,
      issuedAt: p.iat,
      expiresAt: p.exp,
    }),
  };
}
