import * as z from 'zod/mini';
import { listEndpoints, registerEndpoint } from '../shared/http/endpoint.js';
import { openApiDocument } from '../shared/http/openapi.js';

/** The document as served: an OpenAPI 3.1 object (the tests check it against the official schema). */
const OpenApiDescription = z.looseObject({ openapi: z.literal('3.1.0'), info: z.looseObject({}), paths: z.looseObject({}), components: z.looseObject({}) });

/**
 * `GET /api/openapi.json`: the OpenAPI 3.1 description of the broker's HTTP API, generated from the
 * endpoint declarations, with the broker's public origin (that of the configured redirect URI) as its
 * server. Like `/api/me`, it needs a valid caller token with any broker role: only health and the
 * consent pages are anonymous (issue 4). Audited best-effort.
 */
export const openApiHandler = registerEndpoint({
  name: 'openapi',
  method: 'GET',
  route: 'openapi.json',
  tag: 'meta',
  summary: 'This description',
  description: "The OpenAPI 3.1 description of the broker's HTTP API. Open to any valid app-only caller token carrying at least one broker role (only health and the consent pages are anonymous).",
  access: { kind: 'caller', operation: null },
  failClosedAudit: false,
  request: {},
  responses: { 200: { description: 'The document.', body: OpenApiDescription } },
  errors: [],
  handler: async ({ scope }) => ({
    status: 200,
    headers: { 'Content-Type': 'application/json' },
    jsonBody: openApiDocument(listEndpoints(), { serverUrl: new URL(scope.runtime.config.superOffice.redirectUri).origin }),
  }),
});
