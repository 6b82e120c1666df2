import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import type { HttpResponseInit } from '@azure/functions';
import * as z from 'zod/mini';
import type { RequestScope } from '../../http/wrapper.js';
import { htmlResponse } from './http.js';
import { successPage } from './pages.js';
import { CONSENT_KEY_BYTES, openJson, sealJson, type ConsentKeys } from './sealed.js';

/**
 * Who was connected, for the success page (`GET /api/consent/done`): after a stored consent the callback
 * redirects to `/api/consent/done?connected=n1.…`, a short-lived notice sealed with AES-256-GCM under a
 * subkey of the consent key (HKDF from the ticket key, purpose `consent-done/v1`). The page names the
 * tenant and user only when the notice opens and has not expired, so nobody can craft a link to a page
 * claiming that some tenant was connected; anything else renders the generic success text.
 */

export const DONE_NOTICE_PARAMETER = 'connected';
export const DONE_NOTICE_PREFIX = 'n1.';
/** Long enough for the redirect and a reload, short enough that an old link stops naming anyone. */
export const DONE_NOTICE_TTL_SEC = 300;
const PURPOSE = 'consent-done/v1';
const MAX_NOTICE_LENGTH = 512;

/** The tenant and user a stored consent connected. */
export interface ConnectedSubject {
  readonly ctx: string;
  readonly associateId: string;
}

const noticeSchema = z.strictObject({
  v: z.literal(1),
  ctx: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/)),
  aid: z.string().check(z.regex(/^[1-9][0-9]{0,14}$/)),
  exp: z.int().check(z.gte(0)),
});

function noticeKey(keys: ConsentKeys): KeyObject {
  return createSecretKey(Buffer.from(hkdfSync('sha256', keys.ticket, Buffer.alloc(0), Buffer.from(PURPOSE, 'utf8'), CONSENT_KEY_BYTES)));
}

/** `path` with the sealed notice for `subject`, valid from `nowSec` for `DONE_NOTICE_TTL_SEC`. */
export function withDoneNotice(path: string, keys: ConsentKeys, subject: ConnectedSubject, nowSec: number): string {
  const payload: z.input<typeof noticeSchema> = { v: 1, ctx: subject.ctx, aid: subject.associateId, exp: nowSec + DONE_NOTICE_TTL_SEC };
  const query = new URLSearchParams({ [DONE_NOTICE_PARAMETER]: `${DONE_NOTICE_PREFIX}${sealJson(noticeKey(keys), PURPOSE, payload)}` });
  return `${path}?${query.toString()}`;
}

/** The subject of the request's notice, or `undefined` when it is absent, repeated, malformed, forged or expired. */
export function openDoneNotice(keys: ConsentKeys, query: URLSearchParams, nowSec: number): ConnectedSubject | undefined {
  const values = query.getAll(DONE_NOTICE_PARAMETER);
  const text = values.length === 1 ? values[0]! : '';
  if (!text.startsWith(DONE_NOTICE_PREFIX) || text.length > MAX_NOTICE_LENGTH) return undefined;
  const parsed = noticeSchema.safeParse(openJson(noticeKey(keys), PURPOSE, text.slice(DONE_NOTICE_PREFIX.length)));
  if (!parsed.success || parsed.data.exp <= nowSec) return undefined;
  return { ctx: parsed.data.ctx, associateId: parsed.data.aid };
}

/**
 * The response of `GET /api/consent/done`: the success page, naming the connected tenant and user when
 * the request carries a valid notice (and recording them as the audit subject). If the consent keys
 * cannot be read the page is still the generic success page: the consent itself was stored.
 */
export async function consentDoneResponse(scope: RequestScope): Promise<HttpResponseInit> {
  let connected: ConnectedSubject | undefined;
  try {
    connected = await scope.runtime.consent.connected(scope.request.query, { signal: scope.signal, correlationId: scope.requestId });
  } catch (error) {
    scope.log.warn('consent.done_notice_unreadable', { errorName: error instanceof Error ? error.name : 'error' });
  }
  if (connected !== undefined) {
    scope.annotate({ subject: { env: scope.runtime.config.superOffice.environment, ctx: connected.ctx, associateId: connected.associateId } });
  }
  return htmlResponse(200, successPage(scope.requestId, connected));
}
