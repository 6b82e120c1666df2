import * as z from 'zod/mini';
import { ERROR_STATUS, PROBLEM_CONTENT_TYPE, type ErrorCode } from '../errors/errors.js';
import { BROKER_ROLES, OPERATION_ROLES } from '../identity/operations.js';
import { BROKER_VERSION } from '../config/version.js';
import { errorCodesOf, type Endpoint, type PartSchema, type ResponseHeader } from './endpoint.js';
import { Problem } from './schemas.js';

/**
 * The OpenAPI 3.1 description of the broker's HTTP API, generated from the endpoint declarations:
 * parameters and request bodies are the declared zod schemas as accepted (`io: 'input'`), responses
 * as produced (`io: 'output'`), and each operation's problem responses list exactly the codes it can
 * answer. Served at `GET /api/openapi.json`; tests check it against the official 3.1 schema and check
 * that the server accepts exactly the inputs it describes.
 */

export type JsonObject = { readonly [key: string]: unknown };

export interface OpenApiDocumentOptions {
  /** The broker's public origin, e.g. `https://broker.example.com` (paths carry the `/api` prefix). Default `/`. */
  readonly serverUrl?: string;
}

const JSON_TYPE = 'application/json';
const ref = (kind: string, name: string): JsonObject => ({ $ref: `#/components/${kind}/${name}` });

/** A zod schema as a JSON Schema object (2020-12, the OpenAPI 3.1 dialect) without its `$schema`. */
function jsonSchema(schema: z.core.$ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const PROBLEM_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'The request is not valid: `validation_failed` (with `errors`), `invalid_json`, or `function_key_in_query` (function keys are never accepted).',
  401: 'No bearer token, or one that is not valid (expired, wrong audience or tenant, bad signature). The message never says which.',
  403: 'The caller token lacks the app role, or the broker policy does not grant this operation for this tenant or user.',
  404: 'Not found (`not_connected`: the user has no active connection, send a consent link; `consentRequired: true`).',
  409: '`reauth_required`: the user revoked the consent or the refresh token stopped working; send a new consent link (`consentRequired: true`).',
  413: 'The request body is too large.',
  415: 'The request body is not sent as `application/json`.',
  500: 'An internal error; the body carries only the title and the request id.',
  502: 'SuperOffice answered with something unexpected (`upstream_bad_response`).',
  503: 'A dependency is unavailable, or the audit record could not be written (`audit_unavailable`: nothing was computed for the request). `Retry-After` says when to try again, when known.',
  504: 'The request deadline passed (`deadline_exceeded`) or SuperOffice did not answer in time (`upstream_timeout`).',
};

/** The document's path for a route template; OpenAPI has no catch-all, so `{*path}` is the parameter `{path}` (its schema allows slashes). */
export function openApiPath(route: string): string {
  return `/api/${route.replace(/\{\*{1,2}/g, '{')}`;
}

function responseHeaders(status: number, declared: Readonly<Record<string, ResponseHeader>> = {}): JsonObject {
  return {
    'X-Request-Id': ref('headers', 'RequestId'),
    'Cache-Control': ref('headers', 'CacheControl'),
    ...(status === 401 ? { 'WWW-Authenticate': ref('headers', 'WWWAuthenticate') } : {}),
    ...(status === 503 ? { 'Retry-After': ref('headers', 'RetryAfter') } : {}),
    ...Object.fromEntries(Object.entries(declared).map(([name, h]) => [name, { description: h.description, required: h.required ?? false, schema: jsonSchema(h.schema, 'output') }])),
  };
}

function parameters(schema: PartSchema | undefined, location: 'path' | 'query' | 'header'): JsonObject[] {
  if (schema === undefined) return [];
  const object = jsonSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, { description, ...property }]) => ({
    name,
    in: location,
    required: location === 'path' || (object.required ?? []).includes(name),
    ...(typeof description === 'string' ? { description } : {}),
    schema: property,
  }));
}

function responses(endpoint: Endpoint): JsonObject {
  const out: Record<string, { description: string; headers: JsonObject; content?: Record<string, JsonObject> }> = {};
  for (const [status, declared] of Object.entries(endpoint.responses)) {
    out[status] = {
      description: declared.description,
      headers: responseHeaders(Number(status), declared.headers),
      ...(declared.body !== undefined ? { content: { [declared.contentType ?? JSON_TYPE]: { schema: jsonSchema(declared.body, 'output') } } } : {}),
    };
  }
  const codes = errorCodesOf(endpoint).filter((code) => !(code === 'validation_failed' && endpoint.invalidInputPage !== undefined));
  for (const status of [...new Set(codes.map((code) => ERROR_STATUS[code]))]) {
    const problem = {
      schema: { allOf: [ref('schemas', 'Problem')], properties: { status: { const: status }, code: { enum: codes.filter((c: ErrorCode) => ERROR_STATUS[c] === status) } } },
    };
    const existing = out[String(status)];
    if (existing !== undefined) existing.content = { ...existing.content, [PROBLEM_CONTENT_TYPE]: problem };
    else out[String(status)] = { description: PROBLEM_DESCRIPTIONS[status] ?? 'An error.', headers: responseHeaders(status), content: { [PROBLEM_CONTENT_TYPE]: problem } };
  }
  const sorted: Record<string, unknown> = Object.fromEntries(Object.entries(out).sort(([a], [b]) => Number(a) - Number(b)));
  if (endpoint.passThrough !== undefined) {
    // SuperOffice may answer any status, with its own body: every status also allows the upstream's answer.
    for (const entry of Object.values(out)) entry.content = { ...entry.content, '*/*': { schema: {} } };
    sorted['default'] = { description: endpoint.passThrough.description, headers: responseHeaders(0), content: { '*/*': { schema: {} } } };
  }
  return sorted;
}

function operation(endpoint: Endpoint): JsonObject {
  const { access, request } = endpoint;
  const query = request.query === undefined ? 'refused' : (jsonSchema(request.query, 'input')['additionalProperties'] === false ? 'refused' : 'ignored');
  return {
    operationId: endpoint.name,
    tags: [endpoint.tag],
    summary: endpoint.summary,
    description: endpoint.description,
    ...(access.kind === 'anonymous' ? { security: [] } : {}),
    'x-required-role': access.kind === 'anonymous' ? null : access.operation === null ? [...BROKER_ROLES] : OPERATION_ROLES[access.operation],
    'x-policy-operation': access.kind === 'anonymous' ? null : access.operation,
    ...(endpoint.subject !== undefined ? { 'x-policy-subject': 'read' in endpoint.subject ? endpoint.subject.fields : endpoint.subject } : {}),
    'x-audit': endpoint.failClosedAudit ? 'fail-closed' : 'best-effort',
    'x-unlisted-query-parameters': query,
    parameters: [
      ref('parameters', 'RequestId'),
      ...parameters(request.path, 'path'),
      ...parameters(request.query, 'query'),
      ...parameters(request.headers, 'header'),
    ],
    ...(request.body !== undefined ? { requestBody: { required: true, content: { [JSON_TYPE]: { schema: jsonSchema(request.body, 'input') } } } } : {}),
    ...(request.rawBody !== undefined ? { requestBody: { required: false, description: request.rawBody.description, content: { '*/*': { schema: { type: 'string', format: 'binary' } } } } } : {}),
    responses: responses(endpoint),
  };
}

const DESCRIPTION = [
  'Holds SuperOffice refresh tokens in Key Vault and hands out access tokens, consent links, connection administration, rights checks and the audit trail to authorized services.',
  '',
  '- **Callers** authenticate with an Entra ID access token for the broker API (`Authorization: Bearer …`), app-only, carrying the app role named by `x-required-role` on each operation (an array: any one of them; `null`: anonymous). The broker policy then grants operations (`x-policy-operation`) per SuperOffice tenant and user; `x-policy-subject` says where the tenant and user are read from, and is checked before the rest of the input.',
  '- **Input** is validated against this document: anything it does not accept is refused with 400 `validation_failed` and `errors` (`location`, `name`, `message`). Query parameters an operation does not list are refused (`x-unlisted-query-parameters: refused`; the consent callback and done page ignore them), and so is a parameter given twice.',
  '- **Errors** are `application/problem+json` (RFC 9457) with a stable `code` and the `requestId`.',
  '- **Every response** carries `X-Request-Id` (an inbound `X-Request-Id` of 1-64 characters `[A-Za-z0-9._:-]` is echoed, otherwise one is generated), `Cache-Control: no-store` and security headers (HSTS, `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, CSP, `Referrer-Policy: no-referrer`).',
  '- **Function keys** are never accepted: a `code` query parameter is refused (400 `function_key_in_query`), except on the consent callback.',
  '- **Audit**: every request is recorded; `x-audit: fail-closed` operations answer 503 `audit_unavailable` rather than respond without a record.',
].join('\n');

const TAGS = [
  { name: 'tokens', description: 'Access tokens for connected SuperOffice users.' },
  { name: 'consent', description: 'Consent links and the browser-facing consent pages.' },
  { name: 'connections', description: 'User connections (administration).' },
  { name: 'rights', description: 'Rights checks with CRMScript semantics, asked as the user.' },
  { name: 'audit', description: 'The audit trail.' },
  { name: 'caller', description: 'The calling service.' },
  { name: 'health', description: 'Health.' },
  { name: 'meta', description: 'This description.' },
];

const REQUEST_ID_SCHEMA = { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' };

/** The OpenAPI 3.1.0 description of `endpoints` (paths under `/api/`), with `serverUrl` as its server. */
export function openApiDocument(endpoints: readonly Endpoint[], options: OpenApiDocumentOptions = {}): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const endpoint of endpoints) {
    const path = openApiPath(endpoint.route);
    paths[path] = { ...paths[path], [endpoint.method.toLowerCase()]: operation(endpoint) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'SuperOffice token broker',
      version: BROKER_VERSION,
      summary: 'SuperOffice CRM Online access tokens, consent, connections, rights checks and audit for authorized services.',
      description: DESCRIPTION,
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    servers: [{ url: options.serverUrl ?? '/', description: 'This broker' }],
    security: [{ bearer: [] }],
    tags: TAGS.filter((tag) => endpoints.some((e) => e.tag === tag.name)),
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An Entra ID access token for the broker API (audience: its application id URI), app-only, with the app role the operation requires.',
        },
      },
      parameters: {
        RequestId: {
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          description: 'A correlation id to echo (1-64 of `A-Z a-z 0-9 . _ : -`); anything else is replaced by a generated id.',
          schema: REQUEST_ID_SCHEMA,
        },
      },
      headers: {
        RequestId: { description: 'The request id (also `requestId` in problem bodies and audit records).', required: true, schema: REQUEST_ID_SCHEMA },
        CacheControl: { description: 'Responses are never cached.', required: true, schema: { const: 'no-store' } },
        RetryAfter: { description: 'Seconds to wait before trying again, when known.', required: false, schema: { type: 'string', pattern: '^[1-9][0-9]*$' } },
        WWWAuthenticate: {
          description: 'The bearer challenge; `error="invalid_token"` when a token was sent but refused.',
          required: true,
          schema: { type: 'string', enum: ['Bearer realm="superoffice-token-broker"', 'Bearer realm="superoffice-token-broker", error="invalid_token"'] },
        },
      },
      schemas: { Problem: jsonSchema(Problem, 'output') },
    },
  };
}
