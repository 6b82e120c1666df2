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
/**
 * The document is built once per instance (and again only if an endpoint is registered later or the
 * server URL differs): building it walks every schema, which costs tens of milliseconds a request.
 */
let built: { readonly key: string; readonly document: ReturnType<typeof openApiDocument> } | undefined;
function documentFor(serverUrl: string): ReturnType<typeof openApiDocument> {
  const endpoints = listEndpoints();
  const key = `${endpoints.length}|${serverUrl}`;
  if (built?.key !== key) built = { key, document: openApiDocument(endpoints, { serverUrl }) };
  return built.document;
}

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
    jsonBody: documentFor(new URL(scope.runtime.config.superOffice.redirectUri).origin),
  }),
});
