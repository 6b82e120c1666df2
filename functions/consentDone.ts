import * as z from 'zod/mini';
import { CONSENT_PAGE_HEADERS, htmlResponse, pageResponses } from '../shared/connections/consent/http.js';
import { successPage } from '../shared/connections/consent/pages.js';
import { registerEndpoint } from '../shared/http/endpoint.js';

/** `GET /api/consent/done`: the clean success page the callback redirects to. Anonymous; audited. */
export const consentDoneHandler = registerEndpoint({
  name: 'consentDone',
  action: 'consent.done',
  method: 'GET',
  route: 'consent/done',
  tag: 'consent',
  summary: 'Consent stored (browser)',
  description: 'The page the callback redirects to by default. It reads nothing from the query string, so it ignores it.',
  access: { kind: 'anonymous' },
  failClosedAudit: false,
  headers: CONSENT_PAGE_HEADERS,
  request: { query: z.looseObject({}) },
  responses: { 200: pageResponses({ 200: 'The success page.' })[200]! },
  errors: [],
  handler: async ({ scope }) => htmlResponse(200, successPage(scope.requestId)),
});
