import { openApiDocument } from '../shared/http/openapi.js';
import { httpRoute } from '../shared/http/wrapper.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/**
 * `GET /api/openapi.json`: the OpenAPI 3.1 description of the broker's HTTP API, with the broker's
 * public origin (that of the configured redirect URI) as its server. Like `/api/me`, it needs a valid caller
 * token with any broker role: only health and the consent pages are anonymous (issue 4). Audited best-effort.
 */
export const openApiHandler = httpRoute(
  { name: 'openapi', access: { kind: 'caller', operation: null }, failClosedAudit: false },
  async ({ runtime }) => ({
    status: 200,
    headers: { 'Content-Type': 'application/json' },
    jsonBody: openApiDocument({ serverUrl: new URL(runtime.config.superOffice.redirectUri).origin }),
  }),
  getRuntime,
);

registerHttp('openapi', { route: 'openapi.json', methods: ['GET'], handler: openApiHandler });
