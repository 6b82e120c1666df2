import * as z from 'zod/mini';
import {
  CONSENT_PAGE_HEADERS,
  LOCATION_HEADER,
  SET_CONSENT_COOKIE,
  consentErrorResponse,
  consentFailureResponse,
  consentInvalidInputPage,
  htmlResponse,
  pageResponses,
  refuseNonGet,
} from '../shared/connections/consent/http.js';
import { TICKET_PREFIX } from '../shared/connections/consent/ticket.js';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { described, EmptyBody } from '../shared/http/schemas.js';
import { mustBe } from '../shared/superoffice/identifiers.js';

const Ticket = z.string().check(
  z.maxLength(2048, { error: mustBe('a consent link ticket') }),
  z.regex(new RegExp(`^${TICKET_PREFIX.replace('.', '\\.')}[A-Za-z0-9_-]+$`), { error: mustBe('a consent link ticket') }),
);

/**
 * `GET /api/consent/start?ticket=…`: redeems the onboarding ticket once, sets the sealed transaction
 * cookie and redirects (303) to SuperOffice's authorize endpoint. Anonymous (the ticket is the
 * authorization), audited fail-closed; every refusal is a generic HTML page.
 */
export const consentStartHandler = registerEndpoint({
  name: 'consentStart',
  action: 'consent.start',
  method: 'GET',
  route: 'consent/start',
  tag: 'consent',
  summary: 'Open a consent link (browser)',
  description: "Redeems the ticket once, sets the sealed transaction cookie and redirects to SuperOffice's authorize endpoint. Anonymous: the ticket is the authorization. Every refusal is a generic HTML page. Fail-closed audit.",
  access: { kind: 'anonymous' },
  failClosedAudit: true,
  headers: CONSENT_PAGE_HEADERS,
  request: { query: z.strictObject({ ticket: described(Ticket, 'The ticket from the consent link.') }) },
  invalidInputPage: consentInvalidInputPage('link_invalid'),
  responses: {
    303: { description: "To SuperOffice's authorize endpoint, with the transaction cookie.", contentType: 'text/html', body: EmptyBody, headers: { Location: LOCATION_HEADER, 'Set-Cookie': SET_CONSENT_COOKIE } },
    ...pageResponses({
      400: 'The link is missing, malformed, expired or already used.',
      500: 'Internal error.',
      503: 'A store or the key vault is unavailable.',
      504: 'The request deadline passed.',
    }),
  },
  errors: [],
  async handler({ query, scope }) {
    const refused = refuseNonGet(scope);
    if (refused !== undefined) return refused;
    try {
      const result = await scope.runtime.consent.start(query.ticket, { signal: scope.signal, correlationId: scope.requestId });
      if (result.kind === 'failure') return consentFailureResponse(scope, result);
      scope.annotate({ subject: { ...result.subject }, target: 'superoffice-authorize' });
      return htmlResponse(303, '', { location: result.location, cookies: [result.cookie] });
    } catch (thrown) {
      return consentErrorResponse(scope, thrown);
    }
  },
});
