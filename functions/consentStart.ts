import { CONSENT_PAGE_HEADERS, consentErrorResponse, consentFailureResponse, htmlResponse, refuseNonGet } from '../shared/connections/consent/http.js';
import { httpRoute } from '../shared/http/wrapper.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/**
 * `GET /api/consent/start?ticket=…`: redeems the onboarding ticket once, sets the sealed transaction
 * cookie and redirects (303) to SuperOffice's authorize endpoint. Anonymous (the ticket is the
 * authorization), audited fail-closed; every refusal is a generic HTML page.
 */
export const consentStartHandler = httpRoute(
  { name: 'consentStart', action: 'consent.start', access: { kind: 'anonymous' }, failClosedAudit: true, headers: CONSENT_PAGE_HEADERS },
  async (scope) => {
    const refused = refuseNonGet(scope);
    if (refused !== undefined) return refused;
    try {
      const ticket = scope.request.query.getAll('ticket');
      const result = await scope.runtime.consent.start(ticket.length === 1 ? (ticket[0] ?? null) : null, {
        signal: scope.signal,
        correlationId: scope.requestId,
      });
      if (result.kind === 'failure') return consentFailureResponse(scope, result);
      scope.annotate({ subject: { ...result.subject }, target: 'superoffice-authorize' });
      return htmlResponse(303, '', { location: result.location, cookies: [result.cookie] });
    } catch (thrown) {
      return consentErrorResponse(scope, thrown);
    }
  },
  getRuntime,
);

registerHttp('consentStart', { route: 'consent/start', methods: ['GET'], handler: consentStartHandler });
