import { CONSENT_PAGE_HEADERS, consentErrorResponse, consentFailureResponse, htmlResponse, refuseNonGet } from '../shared/connections/consent/http.js';
import { clearedTransactionCookie } from '../shared/connections/consent/transactionCookie.js';
import { httpRoute } from '../shared/http/wrapper.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/**
 * `GET /api/consent/callback?code=…&state=…` (the registered redirect URI): finishes the consent and
 * ends with a 303 to a clean URL. Anonymous (bound to the browser by the transaction cookie), the only
 * route that accepts `?code=`, audited fail-closed. Every answer clears the transaction cookie.
 */
export const consentCallbackHandler = httpRoute(
  {
    name: 'consentCallback',
    action: 'consent.callback',
    access: { kind: 'anonymous' },
    failClosedAudit: true,
    allowCodeQuery: true,
    headers: CONSENT_PAGE_HEADERS,
  },
  async (scope) => {
    const refused = refuseNonGet(scope);
    if (refused !== undefined) return refused;
    const cleared = [clearedTransactionCookie()];
    try {
      const result = await scope.runtime.consent.callback(scope.request.query, scope.request.headers.get('cookie'), {
        signal: scope.signal,
        correlationId: scope.requestId,
      });
      if (result.kind === 'failure') return consentFailureResponse(scope, result, cleared);
      scope.annotate({
        subject: { ...result.subject },
        target: 'connection',
        upstreamStatus: result.upstreamStatus,
        tokenFingerprints: result.tokenFingerprints,
        flags: [...(result.isAdministrator ? ['administrator'] : []), ...(result.systemUserStored ? ['system_user_stored'] : [])],
      });
      return htmlResponse(303, '', { location: result.location, cookies: cleared });
    } catch (thrown) {
      return consentErrorResponse(scope, thrown, cleared);
    }
  },
  getRuntime,
);

registerHttp('consentCallback', { route: 'consent/callback', methods: ['GET'], handler: consentCallbackHandler });
