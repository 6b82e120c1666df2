import { consentDoneResponse } from '../shared/connections/consent/donePage.js';
import { CONSENT_PAGE_HEADERS } from '../shared/connections/consent/http.js';
import { httpRoute } from '../shared/http/wrapper.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/** `GET /api/consent/done`: the success page the callback redirects to (naming who was connected). Anonymous; audited. */
export const consentDoneHandler = httpRoute(
  { name: 'consentDone', action: 'consent.done', access: { kind: 'anonymous' }, failClosedAudit: false, headers: CONSENT_PAGE_HEADERS },
  consentDoneResponse,
  getRuntime,
);

registerHttp('consentDone', { route: 'consent/done', methods: ['GET'], handler: consentDoneHandler });
