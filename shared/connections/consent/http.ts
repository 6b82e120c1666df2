import type { Cookie, HttpResponseInit } from '@azure/functions';
import { asBrokerError, type BrokerError } from '../../errors/errors.js';
import * as z from 'zod/mini';
import type { ResponseDeclaration, ResponseHeader } from '../../http/endpoint.js';
import { EmptyBody, HtmlPage } from '../../http/schemas.js';
import type { RequestScope } from '../../http/wrapper.js';
import type { ConsentFailure, ConsentSubject } from './consentService.js';
import { CONSENT_PAGE_CSP, HTML_CONTENT_TYPE, failurePage, type FailurePage } from './pages.js';
import { CONSENT_COOKIE_NAME, TRANSACTION_TTL_SEC } from './transactionCookie.js';

/**
 * Glue between the consent functions and the service: one `ConsentService` per runtime, and the
 * HTML responses of the browser-facing routes (requirement 34: the wrapper adds no-store,
 * no-referrer, nosniff, X-Frame-Options, HSTS and COOP; these routes add their page CSP).
 */

/** Route `headers` of the browser-facing consent routes: the page CSP (stylesheet hash, `frame-ancestors 'none'`). */
export const CONSENT_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'Content-Security-Policy': CONSENT_PAGE_CSP });

/** The `Location` of a redirect. */
export const LOCATION_HEADER: ResponseHeader = { description: 'Where the browser goes next.', required: true, schema: z.string().check(z.minLength(1)) };
/** The sealed transaction cookie `/api/consent/start` sets. */
export const SET_CONSENT_COOKIE: ResponseHeader = {
  description: `The sealed transaction cookie (\`${CONSENT_COOKIE_NAME}\`, Secure, HttpOnly, SameSite=Lax, Path=/, at most ${TRANSACTION_TTL_SEC} s).`,
  required: true,
  schema: z.string().check(z.startsWith(`${CONSENT_COOKIE_NAME}=`)),
};
/** The deletion of that cookie, on every answer of the callback. */
export const CLEAR_CONSENT_COOKIE: ResponseHeader = {
  description: `Deletes the transaction cookie (\`${CONSENT_COOKIE_NAME}=; Max-Age=0\`).`,
  schema: z.string().check(z.startsWith(`${CONSENT_COOKIE_NAME}=;`)),
};

/** The declared HTML answers of a consent page: `pages` maps a status to its description; 405 for anything but GET. */
export function pageResponses(pages: Readonly<Record<number, string>>, headers: Readonly<Record<string, ResponseHeader>> = {}): Record<number, ResponseDeclaration> {
  const out: Record<number, ResponseDeclaration> = {};
  for (const [status, description] of Object.entries(pages)) out[Number(status)] = { description, contentType: 'text/html', body: HtmlPage, headers };
  out[405] = { description: 'Anything but GET (a link scanner\'s HEAD must not spend the link).', contentType: 'text/html', body: EmptyBody, headers: { ...headers, Allow: { description: 'GET', required: true, schema: z.literal('GET') } } };
  return out;
}

/** An HTML response (the page, or an empty body for a redirect). */
export function htmlResponse(
  status: number,
  html: string,
  extra: { readonly location?: string; readonly cookies?: readonly Cookie[]; readonly headers?: Readonly<Record<string, string>> } = {},
): HttpResponseInit {
  const headers: Record<string, string> = { ...extra.headers, 'Content-Type': HTML_CONTENT_TYPE };
  if (extra.location !== undefined) headers['Location'] = extra.location;
  return { status, headers, body: html, ...(extra.cookies && extra.cookies.length > 0 ? { cookies: [...extra.cookies] } : {}) };
}

function annotateSubject(scope: RequestScope, subject: ConsentSubject | undefined): void {
  if (subject !== undefined) scope.annotate({ subject: { ...subject } });
}

/** The page for a refused consent step; annotates the audit record with the reason and subject. */
export function consentFailureResponse(scope: RequestScope, result: ConsentFailure, cookies: readonly Cookie[] = []): HttpResponseInit {
  annotateSubject(scope, result.subject);
  scope.annotate({ reason: result.reason, ...(result.upstreamStatus !== undefined ? { upstreamStatus: result.upstreamStatus } : {}) });
  scope.log.warn('consent.refused', { reason: result.reason, status: result.status });
  return htmlResponse(result.status, failurePage(result.page, scope.requestId), { cookies });
}

/** The page for an unexpected error in a browser-facing step (store or vault down, missing key): a generic page, never details. */
export function consentErrorResponse(scope: RequestScope, thrown: unknown, cookies: readonly Cookie[] = []): HttpResponseInit {
  const error = asBrokerError(thrown);
  if (error.code === 'internal' || error.code === 'secret_not_found') {
    const cause = (error as { cause?: unknown }).cause;
    scope.log.error('consent.failed', { errorCode: error.code, errorName: cause instanceof Error ? cause.name : error.name });
  } else {
    scope.log.warn('consent.failed', { errorCode: error.code, status: error.status });
  }
  scope.annotate({ reason: error.code });
  let page: FailurePage = 'session_invalid';
  if (error.status === 500) page = 'internal';
  else if (error.status > 500) page = 'unavailable';
  const headers: Record<string, string> = {};
  if (error.retryAfterSec !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(error.retryAfterSec)));
  return htmlResponse(error.status, failurePage(page, scope.requestId), { cookies, headers });
}

/**
 * The endpoint declaration's answer to a refused query (`invalidInputPage`): the generic page `page`,
 * 400, with `cookies` (the callback clears the transaction cookie on every answer).
 */
export function consentInvalidInputPage(page: FailurePage, cookies: () => readonly Cookie[] = () => []): (scope: RequestScope, error: BrokerError) => HttpResponseInit {
  return function invalidConsentInput(scope, error) {
    scope.log.warn('consent.refused', { reason: error.code, status: 400 });
    return htmlResponse(400, failurePage(page, scope.requestId), { cookies: cookies() });
  };
}

/**
 * A 405 for anything but GET (a host may route HEAD to GET handlers): a link scanner's HEAD must not
 * redeem a single-use ticket or spend a state. `undefined` for GET.
 */
export function refuseNonGet(scope: RequestScope): HttpResponseInit | undefined {
  if (scope.request.method.toUpperCase() === 'GET') return undefined;
  scope.annotate({ reason: 'method_not_allowed' });
  return htmlResponse(405, '', { headers: { Allow: 'GET' } });
}
