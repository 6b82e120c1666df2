import { CONSENT_PAGE_HEADERS, htmlResponse } from '../shared/connections/consent/http.js';
import { successPage } from '../shared/connections/consent/pages.js';
import { httpRoute } from '../shared/http/wrapper.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/** `GET /api/consent/done`: the clean success page the callback redirects to. Anonymous; audited. */
export const consentDoneHandler = httpRoute(
  { name: 'consentDone', action: 'consent.done', access: { kind: 'anonymous' }, failClosedAudit: false, headers: CONSENT_PAGE_HEADERS },
  async (scope) => htmlResponse(200, successPage(scope.requestId)),
  getRuntime,
);

registerHttp('consentDone', { route: 'consent/done', methods: ['GET'], handler: consentDoneHandler });
