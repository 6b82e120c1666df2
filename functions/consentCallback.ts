import * as z from 'zod/mini';
import {
  CLEAR_CONSENT_COOKIE,
  CONSENT_PAGE_HEADERS,
  LOCATION_HEADER,
  consentErrorResponse,
  consentFailureResponse,
  consentInvalidInputPage,
  htmlResponse,
  pageResponses,
  refuseNonGet,
} from '../shared/connections/consent/http.js';
import { clearedTransactionCookie } from '../shared/connections/consent/transactionCookie.js';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { described, EmptyBody } from '../shared/http/schemas.js';
import { mustBe } from '../shared/superoffice/identifiers.js';

/** Printable ASCII of 1 to `max` characters: what the OAuth parameters are made of (RFC 6749 appendix A). */
const printable = (max: number) => z.string().check(z.regex(new RegExp(`^[\\x20-\\x7e]{1,${max}}$`), { error: mustBe(`1-${max} printable ASCII characters`) }));

/**
 * The redirect from SuperOffice. A loose object: parameters SuperOffice may add are ignored, the
 * ones the broker reads are checked here and by the consent service.
 */
const CallbackQuery = z.looseObject({
  code: z.optional(described(printable(4096), 'The authorization code.')),
  state: z.optional(described(printable(512), 'The state sent to SuperOffice.')),
  error: z.optional(described(printable(256), 'An authorization error from SuperOffice (never shown).')),
  error_description: z.optional(described(printable(1024), 'Its description (never shown).')),
  iss: z.optional(described(printable(256), 'RFC 9207 issuer; must be the SuperOffice environment when sent.')),
});

const cleared = () => [clearedTransactionCookie()];

/**
 * `GET /api/consent/callback?code=…&state=…` (the registered redirect URI): finishes the consent and
 * ends with a 303 to a clean URL. Anonymous (bound to the browser by the transaction cookie), the only
 * route that accepts `?code=`, audited fail-closed. Every answer clears the transaction cookie.
 */
export const consentCallbackHandler = registerEndpoint({
  name: 'consentCallback',
  action: 'consent.callback',
  method: 'GET',
  route: 'consent/callback',
  tag: 'consent',
  summary: 'SuperOffice redirect target (browser)',
  description: "The registered redirect URI. Checks the transaction cookie and `state`, exchanges the code once, validates the id_token, stores the refresh token (and an administrator's system-user token), then redirects to a clean URL. The only route that accepts `code`. Every answer clears the transaction cookie. Fail-closed audit.",
  access: { kind: 'anonymous' },
  failClosedAudit: true,
  allowCodeQuery: true,
  headers: CONSENT_PAGE_HEADERS,
  request: { query: CallbackQuery },
  invalidInputPage: consentInvalidInputPage('session_invalid', cleared),
  responses: {
    303: { description: "The consent is stored: to the link's `returnTo`, or `/api/consent/done`.", contentType: 'text/html', body: EmptyBody, headers: { Location: LOCATION_HEADER, 'Set-Cookie': CLEAR_CONSENT_COOKIE } },
    ...pageResponses({
      400: 'The sign-in session is missing, expired, already completed or does not match; SuperOffice reported an error; or the id_token did not verify.',
      403: 'Signed in as another user than the link named; nothing was stored.',
      500: 'Internal error; nothing was stored.',
      502: 'SuperOffice answered the code exchange with something unexpected.',
      503: 'SuperOffice, a store or the key vault is unavailable.',
      504: 'The request deadline passed.',
    }, { 'Set-Cookie': CLEAR_CONSENT_COOKIE }),
  },
  errors: [],
  async handler({ query, scope }) {
    const refused = refuseNonGet(scope);
    if (refused !== undefined) return refused;
    try {
      const parameters = new URLSearchParams(Object.entries(query).flatMap(([name, value]) => (typeof value === 'string' ? [[name, value]] : [])));
      const result = await scope.runtime.consent.callback(parameters, scope.request.headers.get('cookie'), {
        signal: scope.signal,
        correlationId: scope.requestId,
      });
      if (result.kind === 'failure') return consentFailureResponse(scope, result, cleared());
      scope.annotate({
        subject: { ...result.subject },
        target: 'connection',
        upstreamStatus: result.upstreamStatus,
        tokenFingerprints: result.tokenFingerprints,
        flags: [...(result.isAdministrator ? ['administrator'] : []), ...(result.systemUserStored ? ['system_user_stored'] : [])],
      });
      return htmlResponse(303, '', { location: result.location, cookies: cleared() });
    } catch (thrown) {
      return consentErrorResponse(scope, thrown, cleared());
    }
  },
});
