import * as z from 'zod/mini';
import { DONE_NOTICE_PARAMETER, consentDoneResponse } from '../shared/connections/consent/donePage.js';
import { CONSENT_PAGE_HEADERS, htmlResponse, pageResponses } from '../shared/connections/consent/http.js';
import { successPage } from '../shared/connections/consent/pages.js';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { described } from '../shared/http/schemas.js';

/** `GET /api/consent/done`: the success page the callback redirects to, naming who was connected. Anonymous; audited. */
export const consentDoneHandler = registerEndpoint({
  name: 'consentDone',
  action: 'consent.done',
  method: 'GET',
  route: 'consent/done',
  tag: 'consent',
  summary: 'Consent stored (browser)',
  description: 'The page the callback redirects to by default. With a valid, unexpired notice from the callback it names the tenant and user that were connected; otherwise it shows the generic success text. Other query parameters are ignored.',
  access: { kind: 'anonymous' },
  failClosedAudit: false,
  headers: CONSENT_PAGE_HEADERS,
  request: {
    query: z.looseObject({
      [DONE_NOTICE_PARAMETER]: z.optional(described(z.string(), 'The sealed, short-lived notice the callback adds (which tenant and user were connected).')),
    }),
  },
  responses: {
    200: pageResponses({ 200: 'The success page.' })[200]!,
    // Found by `npm run fuzz`: without this the document promised problem+json for the refused query below.
    400: pageResponses({ 400: 'A repeated or malformed notice: the generic success page (the query was refused).' })[400]!,
  },
  errors: [],
  // A repeated or malformed notice names nobody: the generic success text, as for a forged one (400: the query was refused).
  invalidInputPage: (scope) => htmlResponse(400, successPage(scope.requestId)),
  handler: async ({ scope }) => consentDoneResponse(scope),
});
