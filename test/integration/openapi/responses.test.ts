import { HttpRequest, HttpResponse, InvocationContext, type Cookie, type HttpResponseInit } from '@azure/functions';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildRouteTable, resolveRoute, type HttpRoute } from '../../../dev/host/httpTrigger.js';
import { DEMO_REDIRECT_URI } from '../../../dev/superoffice/seed.js';
import type { Config } from '../../../shared/config/config.js';
import { listEndpoints } from '../../../shared/http/endpoint.js';
import { openApiDocument } from '../../../shared/http/openapi.js';
import { listFunctions, type HttpFunctionDefinition } from '../../../shared/runtime/registry.js';
import { HealthService } from '../../../shared/runtime/health.js';
import { createRuntime, setRuntime, type RuntimeOverrides } from '../../../shared/runtime/runtime.js';
import { BROKER_VERSION } from '../../../shared/config/version.js';
import { CALLERS, TEST_POLICY, startBrokerHarness, type BrokerHarness } from '../../support/brokerHarness.js';
import { testConfig } from '../../support/config.js';
import { consentAtSuperOffice } from '../consent/harness.js';
import { randomBytes } from 'node:crypto';
import { SECRET_NAMES } from '../../../shared/secrets/names.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { webhookSecretName, webhookSignature } from '../../../shared/webhooks/signature.js';

/**
 * Real responses against the published document: every registered HTTP function is driven through
 * the real wrapper and runtime (Azurite, the Key Vault server, the SuperOffice simulator; the test
 * guard names the caller), routed by the dev host's route table, and each answer's status, content
 * type, body and documented headers are validated against the operation in the document. A mismatch
 * fails with the Ajv error list.
 */

const ORIGIN = new URL(DEMO_REDIRECT_URI).origin;
const DOC_ID = 'https://broker.invalid/openapi.json';
// The entry, as the Functions host loads it (startup reads a runtime first): every endpoint registers.
setRuntime(createRuntime(testConfig()));
await import('../../../functions/index.js');
setRuntime(undefined);
const document = openApiDocument(listEndpoints(), { serverUrl: ORIGIN }) as { readonly paths: Record<string, Json> } & Record<string, Json>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

type Json = unknown;
type Caller = keyof typeof CALLERS;

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

function atPointer(pointer: string): Json {
  let node: Json = document;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObject(node) ? node[key] : undefined;
  }
  return node;
}

/** Follows OpenAPI `$ref`s (responses, headers); returns the object and its pointer. */
function follow(node: Json, pointer: string): { node: Record<string, Json>; pointer: string } {
  let current = node;
  let at = pointer;
  while (isObject(current) && typeof current['$ref'] === 'string') {
    at = current['$ref'].slice(1);
    current = atPointer(at);
  }
  if (!isObject(current)) throw new Error(`${pointer} does not resolve`);
  return { node: current, pointer: at };
}

const operationsById = new Map<string, { pointer: string; operation: Record<string, Json> }>();
for (const [path, item] of Object.entries(document.paths)) {
  for (const method of METHODS) {
    const operation = isObject(item) ? item[method] : undefined;
    if (isObject(operation)) operationsById.set(String(operation['operationId']), { pointer: `/paths/${escapePointer(path)}/${method}`, operation });
  }
}

function formats(ajv: Ajv2020): Ajv2020 {
  const isUrl = (value: string, base?: string): boolean => {
    try {
      new URL(value, base);
      return true;
    } catch {
      return false;
    }
  };
  return ajv
    .addFormat('uri', (v: string) => /^[A-Za-z][A-Za-z0-9+.-]*:/.test(v) && isUrl(v))
    .addFormat('uri-reference', (v: string) => !/\s/.test(v) && isUrl(v, 'https://base.invalid/'))
    .addFormat('date-time', (v: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i.test(v) && !Number.isNaN(Date.parse(v)));
}

const ajv = formats(new Ajv2020({ strict: false, allErrors: true }));
ajv.addSchema(structuredClone(document), DOC_ID);
const validators = new Map<string, ValidateFunction>();

function validatorAt(pointer: string): ValidateFunction {
  let validate = validators.get(pointer);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `${DOC_ID}#${pointer}` });
    validators.set(pointer, validate);
  }
  return validate;
}

/** Failure messages quote bodies; access tokens and tickets in them are masked (requirement 67: nothing secret is printed). */
const redact = (text: string): string => text.replace(/\b(?:8A|7T):[^"\s]+/g, '[REDACTED]').replace(/("(?:accessToken|ticket)"\s*:\s*")[^"]*/g, '$1[REDACTED]').replace(/(__Host-so-consent=)[^;"\s]+/g, '$1[REDACTED]');

const errorList = (errors: readonly ErrorObject[] | null | undefined): string =>
  JSON.stringify((errors ?? []).map((e) => ({ at: e.instancePath || '/', keyword: e.keyword, message: e.message, params: e.params, schema: e.schemaPath })), null, 2);

const PROBLEM_MEMBERS = Object.keys((atPointer('/components/schemas/Problem') as { properties: object }).properties);

export interface Answer {
  readonly operationId: string;
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown>;
  readonly cookies: readonly Cookie[];
}

function setCookie(cookie: Cookie): string {
  return [
    `${cookie.name}=${cookie.value}`,
    ...(cookie.path !== undefined ? [`Path=${cookie.path}`] : []),
    ...(cookie.maxAge !== undefined ? [`Max-Age=${cookie.maxAge}`] : []),
    ...(cookie.secure ? ['Secure'] : []),
    ...(cookie.httpOnly ? ['HttpOnly'] : []),
    ...(cookie.sameSite !== undefined ? [`SameSite=${cookie.sameSite}`] : []),
  ].join('; ');
}

/** Which statuses of which operations were seen and validated. */
const covered = new Map<string, Set<number>>();

/**
 * Validates one answer against the document: the status is documented for the operation, the content
 * type is one of the status's media types and the body matches its schema, and every documented
 * header is present when required and matches its schema. Throws with the Ajv errors otherwise.
 */
function conform(answer: Omit<Answer, 'json'>): void {
  const { operationId, status, headers, text, cookies } = answer;
  const found = operationsById.get(operationId);
  if (found === undefined) throw new Error(`${operationId}: no such operation in the document`);
  const responses = found.operation['responses'] as Record<string, Json>;
  const where = `${operationId} ${status}`;
  // OpenAPI: `default` covers every status not listed (the proxy passes SuperOffice's status through).
  const key = responses[String(status)] !== undefined ? String(status) : 'default';
  if (responses[key] === undefined) {
    throw new Error(`${where}: status not documented (documented: ${Object.keys(responses).join(', ')}); body: ${redact(text.slice(0, 500))}`);
  }
  const { node: response, pointer } = follow(responses[key], `${found.pointer}/responses/${key}`);
  const mediaType = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const content = response['content'];
  if (isObject(content)) {
    if (!Object.hasOwn(content, mediaType) && !Object.hasOwn(content, '*/*')) throw new Error(`${where}: content type "${mediaType}" not documented (documented: ${Object.keys(content).join(', ')})`);
    let body: Json = text;
    if (mediaType.endsWith('json') && Object.hasOwn(content, mediaType)) {
      try {
        body = JSON.parse(text) as Json;
      } catch {
        throw new Error(`${where}: ${mediaType} body is not JSON: ${redact(text.slice(0, 200))}`);
      }
    }
    const declaredType = isObject(content) && content[mediaType] === undefined && content['*/*'] !== undefined ? '*/*' : mediaType;
    const validate = validatorAt(`${pointer}/content/${escapePointer(declaredType)}/schema`);
    if (!validate(body)) throw new Error(`${where} (${mediaType}): the body does not match the document:\n${errorList(validate.errors)}\nbody: ${redact(text.slice(0, 1500))}`);
    if (mediaType === 'application/problem+json' && isObject(body)) {
      const undocumented = Object.keys(body).filter((k) => !PROBLEM_MEMBERS.includes(k));
      if (undocumented.length > 0) throw new Error(`${where}: undocumented problem members ${undocumented.join(', ')}`);
    }
  } else if (text !== '') {
    throw new Error(`${where}: a body that the document does not describe: ${redact(text.slice(0, 200))}`);
  }
  for (const [name, ref] of Object.entries((response['headers'] ?? {}) as Record<string, Json>)) {
    const { node: header, pointer: headerPointer } = follow(ref, `${pointer}/headers/${escapePointer(name)}`);
    const values = name.toLowerCase() === 'set-cookie' ? cookies.map(setCookie) : headers.has(name) ? [headers.get(name)!] : [];
    if (values.length === 0) {
      if (header['required'] === true) throw new Error(`${where}: required header ${name} is missing`);
      continue;
    }
    const validate = validatorAt(`${headerPointer}/schema`);
    for (const value of values) {
      if (!validate(value)) throw new Error(`${where}: header ${name}: ${redact(JSON.stringify(value))} does not match the document:\n${errorList(validate.errors)}`);
    }
  }
  const seen = covered.get(operationId) ?? new Set<number>();
  seen.add(status);
  covered.set(operationId, seen);
}

let h: BrokerHarness;
let routes: HttpRoute[];

interface SendOptions {
  readonly caller?: Caller;
  /** JSON-encoded and sent as `application/json`. */
  readonly body?: unknown;
  /** Sent as is (with `headers` deciding the content type). */
  readonly rawBody?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Routes `method target` as the host does, calls the registered handler, and validates the answer against the document. */
async function send(method: string, target: string, options: SendOptions = {}): Promise<Answer> {
  const url = new URL(target, ORIGIN);
  const resolved = resolveRoute(routes, method, url.pathname);
  if (resolved.kind !== 'found') throw new Error(`${method} ${url.pathname}: ${resolved.kind}`);
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.caller !== undefined) headers['x-test-caller'] = options.caller;
  Object.assign(headers, options.headers);
  const bodyText = options.rawBody ?? (options.body !== undefined ? JSON.stringify(options.body) : undefined);
  const request = new HttpRequest({
    method,
    url: url.href,
    headers,
    params: resolved.params,
    ...(bodyText !== undefined ? { body: { string: bodyText } } : {}),
  });
  const operationId = resolved.route.definition.name;
  const init = (await resolved.route.definition.handler(request, new InvocationContext({ functionName: operationId }))) as HttpResponseInit;
  // What the host sends: the library fills in Content-Type for `jsonBody` and serialises the body.
  const response = new HttpResponse(init);
  const text = await response.text();
  const answer = { operationId, status: response.status, headers: response.headers, text, cookies: response.cookies };
  conform(answer);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = {};
  }
  return { ...answer, json };
}

/** Runs `run` with a new runtime over the same stack (empty caches), with `overrides`. */
async function withRuntime<T>(overrides: RuntimeOverrides, run: () => Promise<T>, config: Config = h.config): Promise<T> {
  const runtime = createRuntime(config, { guard: h.runtime.guard, logger: h.runtime.logger, secrets: h.runtime.secrets, validateResponses: true, ...overrides });
  const previous = setRuntime(runtime);
  try {
    return await run();
  } finally {
    setRuntime(previous);
  }
}

const failingAudit = (): RuntimeOverrides => ({
  audit: {
    record: async () => {
      throw new Error('audit table down');
    },
    fingerprint: (token) => h.runtime.audit.fingerprint(token),
  },
});

const mintLink = (body: unknown, caller: Caller = 'integration') => send('POST', '/api/consent-links', { caller, body });

beforeAll(async () => {
  h = await startBrokerHarness();
  routes = buildRouteTable(listFunctions().filter((f): f is HttpFunctionDefinition => f.kind === 'http'), 'api');
  await h.connect(5);
  await h.connect(6);
  await h.connect(7);
}, 120_000);

afterAll(async () => h?.stop());

beforeEach(() => {
  h.sim.control.clearFaults();
  h.sim.control.setTenantState('Cust12345', 'Running');
});

describe('the response validator', () => {
  const headers = (type: string) => new Headers({ 'content-type': type, 'x-request-id': 'r-1', 'cache-control': 'no-store' });
  const token = { tokenType: 'Bearer', accessToken: '8A:x', expiresAt: '2026-01-01T00:00:00.000Z', expiresInSec: 60, webApiUrl: 'https://sod.superoffice.com/Cust12345/api/', env: 'sod', ctx: 'Cust12345', associateId: '5' };
  const check = (status: number, body: unknown, type = 'application/json', h2 = headers(type)) => () =>
    conform({ operationId: 'tokens', status, headers: h2, text: typeof body === 'string' ? body : JSON.stringify(body), cookies: [] });

  it('refuses an undocumented status', () => {
    expect(check(418, token)).toThrow(/status not documented/);
  });
  it('refuses a missing member, an undocumented member and a wrong type, listing the Ajv errors', () => {
    const { accessToken: _, ...withoutToken } = token;
    expect(check(200, withoutToken)).toThrow(/accessToken/);
    expect(check(200, { ...token, refreshToken: 'x' })).toThrow(/additionalProperties/);
    expect(check(200, { ...token, expiresInSec: '60' })).toThrow(/must be integer/);
  });
  it('refuses an undocumented content type and a missing required header', () => {
    expect(check(200, token, 'text/plain')).toThrow(/content type "text\/plain" not documented/);
    expect(check(200, token, 'application/json', new Headers({ 'content-type': 'application/json', 'cache-control': 'no-store' }))).toThrow(/X-Request-Id is missing/);
    expect(check(401, { type: 'urn:superoffice-token-broker:problem:unauthenticated', title: 'Authentication required', status: 401, code: 'unauthenticated', requestId: 'r-1' }, 'application/problem+json')).toThrow(/WWW-Authenticate is missing/);
  });
  it('refuses a problem whose code belongs to another status', () => {
    expect(check(404, { type: 'urn:superoffice-token-broker:problem:forbidden', title: 'Forbidden', status: 404, code: 'forbidden', requestId: 'r-1' }, 'application/problem+json')).toThrow(/must be equal to one of the allowed values/);
  });
  it('masks tokens in its failure messages', () => {
    const accessToken = `8A:Cust12345.${'Q'.repeat(60)}`;
    let message = '';
    try {
      check(200, { ...token, accessToken, extra: 1 })();
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/does not match the document/);
    expect(message).not.toContain('QQQQ');
  });
  it('accepts the documented shape', () => {
    expect(check(200, token)).not.toThrow();
  });
});

describe('GET /api/health and GET /api/openapi.json (anonymous)', () => {
  it('health: 400 for a function key in the query', async () => {
    const res = await send('GET', '/api/health?code=abc');
    expect(res.status).toBe(400);
    expect(res.json['code']).toBe('function_key_in_query');
  });

  it('health: 500 with only the title when the handler fails', async () => {
    const health = new HealthService({
      config: h.config,
      storageEndpoints: () => {
        throw new Error('no storage endpoints');
      },
      version: BROKER_VERSION,
    });
    const res = await withRuntime({ health }, () => send('GET', '/api/health'));
    expect(res.status).toBe(500);
    expect(res.json).toMatchObject({ code: 'internal', title: 'Internal error' });
    expect(res.json['detail']).toBeUndefined();
  });

  it('health: 200', async () => {
    const res = await send('GET', '/api/health');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ version: BROKER_VERSION });
  });

  it('openapi.json: 400 for a function key in the query', async () => {
    expect((await send('GET', '/api/openapi.json?code=abc')).status).toBe(400);
  });

  it('openapi.json: 401 without a caller token (only health and the consent pages are anonymous)', async () => {
    const res = await send('GET', '/api/openapi.json');
    expect(res.status).toBe(401);
  });

  it('openapi.json: 200 application/json, the document with the broker origin as server', async () => {
    const res = await send('GET', '/api/openapi.json', { caller: 'integration' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toEqual(JSON.parse(JSON.stringify(document)));
    expect(res.json['servers']).toEqual([{ url: 'http://127.0.0.1:7071', description: 'This broker' }]);
    // Built once per instance: a second request serves the same document.
    const again = await send('GET', '/api/openapi.json', { caller: 'integration' });
    expect(again.json).toEqual(res.json);
  });
});

describe('GET /api/me', () => {
  it('401 without a caller token, with the bearer challenge', async () => {
    const res = await send('GET', '/api/me');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="superoffice-token-broker"');
  });

  it('200: the caller, its operations and its grants', async () => {
    const res = await send('GET', '/api/me', { caller: 'integration' });
    expect(res.status).toBe(200);
    expect(res.json['policyEntries']).toEqual(['integration']);
  });
});

describe('POST /api/tokens', () => {
  const body = (associateId: string | number, extra: Record<string, unknown> = {}) => ({ ctx: 'Cust12345', associateId, ...extra });

  it('401 without a caller', async () => {
    expect((await send('POST', '/api/tokens', { body: body(6) })).status).toBe(401);
  });

  it('403 for a tenant the caller is not granted', async () => {
    expect((await send('POST', '/api/tokens', { caller: 'outsider', body: body(6) })).status).toBe(403);
  });

  it('400 validation_failed with the errors', async () => {
    const res = await send('POST', '/api/tokens', { caller: 'integration', body: { ctx: 'Cust 1', associateId: 'x', extra: 1 } });
    expect(res.status).toBe(400);
    expect(res.json['code']).toBe('validation_failed');
    expect((res.json['errors'] as unknown[]).length).toBeGreaterThan(0);
  });

  it('400 invalid_json, 415 and 413', async () => {
    expect((await send('POST', '/api/tokens', { caller: 'integration', rawBody: '{"ctx":', headers: { 'content-type': 'application/json' } })).json['code']).toBe('invalid_json');
    expect((await send('POST', '/api/tokens', { caller: 'integration', rawBody: 'ctx=Cust12345', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(415);
    const big = JSON.stringify(body(6, { padding: 'x'.repeat(70_000) }));
    expect((await send('POST', '/api/tokens', { caller: 'integration', rawBody: big, headers: { 'content-type': 'application/json' } })).status).toBe(413);
  });

  it('404 not_connected with consentRequired', async () => {
    const res = await send('POST', '/api/tokens', { caller: 'integration', body: body(8) });
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ code: 'not_connected', consentRequired: true });
  });

  it('503 tenant_unavailable with Retry-After and tenantState (tenant in maintenance)', async () => {
    h.sim.control.setTenantState('Cust12345', 'OfflineMaintenance');
    const res = await withRuntime({}, () => send('POST', '/api/tokens', { caller: 'integration', body: body(6) }));
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({ code: 'tenant_unavailable', tenantState: 'OfflineMaintenance' });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('503 audit_unavailable when the audit record cannot be written (fail-closed)', async () => {
    const res = await withRuntime(failingAudit(), () => send('POST', '/api/tokens', { caller: 'integration', body: body(6) }));
    expect(res.status).toBe(503);
    expect(res.json['code']).toBe('audit_unavailable');
    expect(res.text).not.toContain('8A:');
  });

  it('502 when the token endpoint answers with something unexpected', async () => {
    h.sim.control.setFault('tokens', { kind: 'malformed', status: 200 });
    const res = await withRuntime({}, () => send('POST', '/api/tokens', { caller: 'integration', body: body(7) }));
    expect(res.status).toBe(502);
    expect(res.json['code']).toBe('upstream_bad_response');
  });

  it('504 when the request deadline passes', async () => {
    h.sim.control.setFault('tokens', { kind: 'hang' });
    const res = await withRuntime({}, () => send('POST', '/api/tokens', { caller: 'integration', body: body(7) }), { ...h.config, requestDeadlineMs: 1000 });
    expect(res.status).toBe(504);
  });

  it('200: the token, as a string or a number associate id', async () => {
    const res = await send('POST', '/api/tokens', { caller: 'integration', body: body(6, { minValiditySec: 0 }) });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ tokenType: 'Bearer', env: 'sod', ctx: 'Cust12345', associateId: '6' });
    expect((await send('POST', '/api/tokens', { caller: 'integration', body: body('5') })).status).toBe(200);
  });
});

describe('connections', () => {
  it('GET: 401, 403, 400 for a missing or malformed ctx', async () => {
    expect((await send('GET', '/api/connections?ctx=Cust12345')).status).toBe(401);
    expect((await send('GET', '/api/connections?ctx=Cust12345', { caller: 'outsider' })).status).toBe(403);
    const missing = await send('GET', '/api/connections', { caller: 'integration' });
    expect(missing.status).toBe(400);
    expect(missing.json['errors']).toEqual([{ location: 'query', name: 'ctx', message: 'is required' }]);
    expect((await send('GET', '/api/connections?ctx=Cust-1', { caller: 'integration' })).status).toBe(400);
  });

  it('GET: 200 with the tenant\'s connections', async () => {
    const res = await send('GET', '/api/connections?ctx=Cust12345', { caller: 'integration' });
    expect(res.status).toBe(200);
    expect((res.json['connections'] as { associateId: string }[]).map((c) => c.associateId)).toEqual(expect.arrayContaining(['5', '6', '7']));
  });

  it('revoke: 404 for a user without a connection, 403 for an outsider', async () => {
    const res = await send('POST', '/api/connections/Cust12345/999/revoke', { caller: 'integration' });
    expect(res.status).toBe(404);
    expect(res.json['code']).toBe('not_connected');
    expect((await send('POST', '/api/connections/Cust12345/7/revoke', { caller: 'outsider' })).status).toBe(403);
    expect((await send('POST', '/api/connections/Cust12345/x7/revoke', { caller: 'integration' })).status).toBe(400);
  });

  it('revoke: 200 with the revoked connection (then reconnected)', async () => {
    const res = await send('POST', '/api/connections/Cust12345/7/revoke', { caller: 'integration' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ associateId: '7', status: 'revoked', lastErrorCode: 'revoked' });
    await h.connect(7);
  });
});

describe('consent links and pages', () => {
  it('consent-links: 401, 403, 400 (validation, unsafe returnTo)', async () => {
    expect((await send('POST', '/api/consent-links', { body: { ctx: 'Cust12345' } })).status).toBe(401);
    expect((await mintLink({ ctx: 'Cust12345' }, 'outsider')).status).toBe(403);
    expect((await mintLink({ associateId: 5 })).status).toBe(400);
    const unsafe = await mintLink({ ctx: 'Cust12345', returnTo: '//evil.example' });
    expect(unsafe.status).toBe(400);
    expect(unsafe.json['errors']).toEqual([{ location: 'body', name: '/returnTo', message: 'must be a relative path on this site, such as /done' }]);
  });

  it('consent-links: 201 with the link; start: 303 to SuperOffice with the cookie, then 400 (HTML) when used again', async () => {
    const link = await mintLink({ ctx: 'Cust12345', associateId: '6' });
    expect(link.status).toBe(201);
    const url = String(link.json['url']);
    expect(url.startsWith(`${ORIGIN}/api/consent/start?ticket=t1.`)).toBe(true);
    const start = await send('GET', url);
    expect(start.status).toBe(303);
    expect(start.headers.get('location')).toMatch(/\/login\/common\/oauth\/authorize\?/);
    expect(start.cookies).toHaveLength(1);
    const again = await send('GET', url);
    expect(again.status).toBe(400);
    expect(again.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('start: 400 (HTML) without a ticket, 400 (problem) with a function key, 503 (problem) when the audit fails', async () => {
    expect((await send('GET', '/api/consent/start')).headers.get('content-type')).toMatch(/^text\/html/);
    const key = await send('GET', '/api/consent/start?ticket=t1.x&code=abc');
    expect(key.status).toBe(400);
    expect(key.headers.get('content-type')).toBe('application/problem+json');
    const link = await mintLink({ ctx: 'Cust12345' });
    const down = await withRuntime(failingAudit(), () => send('GET', String(link.json['url'])));
    expect(down.status).toBe(503);
    expect(down.json['code']).toBe('audit_unavailable');
  });

  it('callback: 400 (HTML) without the transaction cookie', async () => {
    const res = await send('GET', '/api/consent/callback?code=abc&state=def');
    expect(res.status).toBe(400);
    expect(res.text).toContain('consent-error');
  });

  it('callback: 303 to /api/consent/done after a consent; done: 200', async () => {
    const link = await mintLink({ ctx: 'Cust12345', associateId: '6' });
    const start = await send('GET', String(link.json['url']));
    const cookie = start.cookies[0]!;
    const callbackUrl = await consentAtSuperOffice(start.headers.get('location')!, 6);
    const callback = await send('GET', `${callbackUrl.pathname}${callbackUrl.search}`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    expect(callback.status).toBe(303);
    expect(callback.headers.get('location')).toMatch(/^\/api\/consent\/done\?connected=n1\.[A-Za-z0-9_-]+$/);
    const done = await send('GET', callback.headers.get('location')!);
    expect(done.status).toBe(200);
    expect(done.text).toContain('consent-done');
    expect((await send('GET', '/api/consent/done?code=abc')).status).toBe(400);
  });

  it('callback: 403 (HTML) when another user than the link named signs in', async () => {
    const link = await mintLink({ ctx: 'Cust12345', associateId: '7' });
    const start = await send('GET', String(link.json['url']));
    const cookie = start.cookies[0]!;
    const callbackUrl = await consentAtSuperOffice(start.headers.get('location')!, 6);
    const callback = await send('GET', `${callbackUrl.pathname}${callbackUrl.search}`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    expect(callback.status).toBe(403);
  });
});

describe('rights', () => {
  const base = '/api/rights/Cust12345';

  it('401, 403, 400 naming the accepted values, 404 for a field the table does not have', async () => {
    expect((await send('GET', `${base}/6/administrator`)).status).toBe(401);
    expect((await send('GET', `${base}/6/administrator`, { caller: 'outsider' })).status).toBe(403);
    const level = await send('GET', `${base}/6/tickets/302?level=3`, { caller: 'integration' });
    expect(level.status).toBe(400);
    expect(level.json['errors']).toEqual([{ location: 'query', name: 'level', message: 'must be one of 0, 1, 2, list, read, edit (0 = list, 1 = read, 2 = edit)' }]);
    const field = await send('GET', `${base}/6/fields/contact/firstname?right=read`, { caller: 'integration' });
    expect(field.status).toBe(404);
    expect(field.json).toMatchObject({ code: 'not_found', detail: expect.stringContaining('contactId, name, department, orgNr') });
    const unknownParameter = await send('GET', `${base}/6/logged-in?origin=web&recordid=1`, { caller: 'integration' });
    expect(unknownParameter.status).toBe(400);
    const batch = await send('POST', `${base}/6/checks`, { caller: 'integration', body: { checks: [{ check: 'checkTableRights', table: 'order', right: 'select' }] } });
    expect(batch.status).toBe(400);
    expect((await send('POST', `${base}/6/checks`, { caller: 'integration', rawBody: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await send('POST', `${base}/6/checks`, { caller: 'integration', rawBody: `{"checks":[${'{"check":"isAdministrator"},'.repeat(3000)}]}`, headers: { 'content-type': 'application/json' } })).status).toBe(413);
  });

  it('404 not_connected for a user without a connection', async () => {
    const res = await send('GET', `${base}/8/administrator`, { caller: 'integration' });
    expect(res.status).toBe(404);
    expect(res.json['consentRequired']).toBe(true);
  });

  it('502 when the Web API answers with something unexpected', async () => {
    h.sim.control.setFault('webapi', { kind: 'malformed', status: 200, times: 1 });
    const res = await send('GET', `${base}/6/tables/contact?right=select&recordId=102`, { caller: 'integration' });
    expect(res.status).toBe(502);
  });

  it.each([
    ['administrator', '5/administrator'],
    ['table rights on a record', '6/tables/contact?right=update&recordId=101'],
    ['table rights by alias, without a record', '6/tables/company?right=insert'],
    ['field rights', '6/fields/contact/name?right=write&recordId=101'],
    ['field rights by column name', '6/fields/person/person_id?right=read&recordId=201'],
    ['ticket access', '6/tickets/302?level=read'],
    ['login state (unknown under the webapi strategy)', '6/logged-in?origin=web'],
  ])('200: %s', async (_name, path) => {
    const res = await send('GET', `${base}/${path}`, { caller: 'integration' });
    expect(res.status).toBe(200);
  });

  it('200: a batch, answered in order', async () => {
    const checks = [
      { check: 'isAdministrator' },
      { check: 'checkTableRights', table: 'contact', right: 'select', recordId: 101 },
      { check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'read', recordId: '104' },
      { check: 'hasTicketAccess', ticketId: 302, level: 2 },
      { check: 'isLoggedIn', origin: 1 },
    ];
    const res = await send('POST', `${base}/6/checks`, { caller: 'integration', body: { checks } });
    expect(res.status).toBe(200);
    expect((res.json['results'] as { check: { check: string } }[]).map((r) => r.check.check)).toEqual(checks.map((c) => c.check));
  });
});

describe('request body schemas agree with the handlers', () => {
  const accepts = (operationId: string, body: unknown): boolean => validatorAt(`${operationsById.get(operationId)!.pointer}/requestBody/content/application~1json/schema`)(body);

  it.each([
    [{ ctx: 'Cust12345' }],
    [{ ctx: 'Cust12345', associateId: '6', returnTo: '/after/consent?x=1' }],
    [{ ctx: 'C' }],
    [{ ctx: 'Cust12345', associateId: 6 }],
    [{ ctx: 'Cust12345', associateId: '06' }],
    [{ ctx: 'Cust12345', extra: true }],
    [{ ctx: 'Cust12345', returnTo: 'https://evil.example/' }],
    [{ ctx: 'Cust12345', returnTo: '//evil.example' }],
    [{ ctx: 'Cust12345', returnTo: '/a\\b' }],
    [{ ctx: 'Cust12345', returnTo: `/${'a'.repeat(2048)}` }],
  ])('ConsentLinkRequest: %j', async (body) => {
    const res = await mintLink(body);
    expect(res.status === 400, redact(res.text)).toBe(!accepts('consentLinks', body));
  });

  it.each([
    [{ checks: [{ check: 'isAdministrator' }] }],
    [{ checks: [{ check: 'checkTableRights', table: 'customer', right: 'select', recordId: '201' }, { check: 'hasTicketAccess', ticketId: 302, level: 'list' }, { check: 'isLoggedIn', origin: '2' }] }],
    [{ checks: [{ check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'write' }] }],
    [{ checks: [] }],
    [{ checks: [{ check: 'isAdministrator', recordId: 1 }] }],
    [{ checks: [{ check: 'checkTableRights', table: 'contact', right: 'delete' }] }],
    [{ checks: [{ check: 'hasTicketAccess', ticketId: 0, level: 1 }] }],
    [{ checks: [{ check: 'isLoggedIn', origin: 3 }] }],
    [{ checks: [{ check: 'isAdministrator' }], extra: 1 }],
    [{ checks: Array.from({ length: 51 }, () => ({ check: 'isAdministrator' })) }],
  ])('RightsChecksRequest: %j', async (body) => {
    const res = await send('POST', '/api/rights/Cust12345/5/checks', { caller: 'integration', body });
    expect(res.status === 400, redact(res.text)).toBe(!accepts('rightsChecks', body));
  });
});

describe('GET /api/audit', () => {
  const integration = `${CALLERS.integration.tid}_${CALLERS.integration.oid}`;

  it('401 without a caller; 403 for a tenant not granted; 400 for unknown or malformed filters, saying what is accepted; 400 bad_request for a foreign continuation', async () => {
    expect((await send('GET', '/api/audit')).status).toBe(401);
    expect((await send('GET', '/api/audit?ctx=Cust12345', { caller: 'outsider' })).status).toBe(403);
    const res = await send('GET', '/api/audit?callr=x&limit=500', { caller: 'integration' });
    expect(res.status).toBe(400);
    expect(res.json['errors']).toEqual([
      { location: 'query', name: 'limit', message: 'must be an integer from 1 to 200' },
      { location: 'query', name: 'callr', message: 'is not a parameter of this operation' },
    ]);
  });

  it('503 when its own audit record cannot be written', async () => {
    expect((await withRuntime(failingAudit(), () => send('GET', '/api/audit', { caller: 'integration' }))).status).toBe(503);
  });

  it('200: pages of records with a continuation', async () => {
    const first = await send('GET', `/api/audit?caller=${integration}&limit=2`, { caller: 'integration' });
    expect(first.status).toBe(200);
    expect(first.json['records']).toHaveLength(2);
    const next = await send('GET', `/api/audit?caller=${integration}&limit=2&continuation=${String(first.json['continuation'])}`, { caller: 'integration' });
    expect(next.status).toBe(200);
    expect(next.json['records']).toHaveLength(2);
    const foreign = await send('GET', `/api/audit?operation=tokens&limit=2&continuation=${String(first.json['continuation'])}`, { caller: 'integration' });
    expect(foreign.status).toBe(400);
    expect(foreign.json['code']).toBe('bad_request');
    expect((await send('GET', '/api/audit?ctx=Cust12345&operation=tokens&from=2020-01-01', { caller: 'integration' })).status).toBe(200);
  });
});

describe('a revoked consent (409 reauth_required)', () => {
  it('tokens and rights answer 409 with consentRequired; a new consent restores them', async () => {
    h.sim.control.revokeConsent('Cust12345', 6);
    h.runtime.tokens.forget('Cust12345', '6');
    const tokens = await send('POST', '/api/tokens', { caller: 'integration', body: { ctx: 'Cust12345', associateId: '6' } });
    expect(tokens.status).toBe(409);
    expect(tokens.json).toMatchObject({ code: 'reauth_required', consentRequired: true });
    const rights = await send('GET', '/api/rights/Cust12345/6/administrator', { caller: 'integration' });
    expect(rights.status).toBe(409);
    const batch = await send('POST', '/api/rights/Cust12345/6/checks', { caller: 'integration', body: { checks: [{ check: 'isAdministrator' }] } });
    expect(batch.status).toBe(409);
    await h.connect(6);
  });
});

describe('the SuperOffice proxy and customer sessions', () => {
  // Earlier tests may have marked these users for re-consent; act on fresh connections.
  beforeAll(async () => {
    await h.connect(5);
    await h.connect(6);
  }, 60_000);

  it('GET as a user: 200 with SuperOffice\'s answer; 400 for an encoded slash; 403 for a path no rule grants; 401 without a caller', async () => {
    await withRuntime({}, async () => {
    const ok = await send('GET', '/api/superoffice/Cust12345/6/v1/User/currentPrincipal', { caller: 'integration' });
    expect(ok.status).toBe(200);
    expect(ok.json['AssociateId']).toBe(6);
    expect(ok.text).not.toMatch(/8A:|7T:/);
    expect((await send('GET', '/api/superoffice/Cust12345/6/v1/Contact%2F101', { caller: 'integration' })).status).toBe(400);
    const refused = await send('GET', '/api/superoffice/Cust12345/6/v1/Sale/1', { caller: 'integration' });
    expect(refused.status).toBe(403);
    expect((await send('GET', '/api/superoffice/Cust12345/6/v1/Contact/101')).status).toBe(401);
    });
  });

  it('POST, PUT and DELETE as the system user pass SuperOffice\'s statuses through; errors pass through too', async () => {
    await withRuntime({}, async () => {
    const hook = createServer((_req, res) => res.writeHead(200).end());
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    try {
      const target = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
      const definition = { Name: 'proxy test', Events: ['contact.changed'], TargetUrl: target, Secret: 'hook-secret-0123456789', State: 'Active', Type: 'webhook' };
      const created = await send('POST', '/api/superoffice/Cust12345/system/v1/Webhook', { caller: 'integration', body: definition });
      expect(created.status).toBe(200);
      const id = Number(created.json['WebhookId'] ?? created.json['Id']);
      const updated = await send('PUT', `/api/superoffice/Cust12345/system/v1/Webhook/${id}`, { caller: 'integration', body: { ...definition, Name: 'renamed' } });
      expect(updated.status).toBe(200);
      expect((await send('DELETE', `/api/superoffice/Cust12345/system/v1/Webhook/${id}`, { caller: 'integration' })).status).toBeLessThan(300);
      expect((await send('DELETE', `/api/superoffice/Cust12345/system/v1/Webhook/${id}`, { caller: 'integration' })).status).toBe(404);
      expect((await send('PUT', '/api/superoffice/Cust12345/system/v1/Webhook/999999', { caller: 'integration', body: definition })).status).toBeGreaterThanOrEqual(400);
      expect((await send('POST', '/api/superoffice/Cust12345/system/v1/Webhook', { caller: 'integration', body: { Name: 'x' } })).status).toBe(400);
    } finally {
      hook.close();
    }
    });
  });

  it('PATCH as a user: SuperOffice\'s answer for the user (200 where they may, their refusal where not)', async () => {
    await withRuntime({}, async () => {
    const ok = await send('PATCH', '/api/superoffice/Cust12345/5/v1/Contact/101', { caller: 'integration', body: [{ op: 'replace', path: '/Department', value: 'Proxy' }], headers: { 'content-type': 'application/json-patch+json' } });
    expect(ok.status).toBe(200);
    const refused = await send('PATCH', '/api/superoffice/Cust12345/8/v1/Contact/101', { caller: 'integration', body: [{ op: 'replace', path: '/Department', value: 'x' }], headers: { 'content-type': 'application/json-patch+json' } });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    });
  });

  it('customer sessions: 200 with the key (no-store), 204 on logout; 404 for an unknown customer; 403 without the grant', async () => {
    await withRuntime({}, async () => {
    const login = await send('POST', '/api/superoffice/Cust12345/system/customers/201/session', { caller: 'integration' });
    expect(login.status).toBe(200);
    expect(login.json).toMatchObject({ ctx: 'Cust12345', actAs: 'system', customerId: 201, sessionKey: expect.any(String) });
    expect(login.headers.get('cache-control')).toBe('no-store');
    expect((await send('DELETE', '/api/superoffice/Cust12345/system/customers/201/session', { caller: 'integration' })).status).toBe(204);
    expect((await send('POST', '/api/superoffice/Cust12345/6/customers/999/session', { caller: 'integration' })).status).toBe(404);
    expect((await send('DELETE', '/api/superoffice/Cust12345/6/customers/201/session', { caller: 'outsider' })).status).toBe(403);
    });
  });
});

describe('actions and webhooks (issue 13)', () => {
  it('actions: 202 with Location, 200 for the creator, 404 for another caller, 403 without the grant, 400 without Idempotency-Key, 409 for a reused key', async () => {
    await h.runtime.secrets.set(SECRET_NAMES.actionsHmacKey, new Secret(randomBytes(32).toString('base64')));
    const policy = { ...TEST_POLICY, callers: TEST_POLICY.callers.map((c) => (c.name === 'integration' ? { ...c, operations: [...c.operations, 'actions'] } : { ...c, operations: [...c.operations, 'actions'] })) };
    await withRuntime({}, async () => {
      const body = { ctx: 'Cust12345', actAs: '6', request: { method: 'PATCH', path: 'v1/Contact/101', body: { Department: 'Actions' } } };
      const created = await send('POST', '/api/actions', { caller: 'integration', body, headers: { 'idempotency-key': 'responses-1' } });
      expect(created.status).toBe(202);
      const id = String(created.json['id']);
      expect(created.headers.get('location')).toBe(`/api/actions/${id}`);
      expect((await send('POST', '/api/actions', { caller: 'integration', body: { ...body, notify: true }, headers: { 'idempotency-key': 'responses-1' } })).status).toBe(409);
      expect((await send('POST', '/api/actions', { caller: 'integration', body })).status).toBe(400);
      expect((await send('POST', '/api/actions', { caller: 'outsider', body, headers: { 'idempotency-key': 'responses-2' } })).status).toBe(403);
      const read = await send('GET', `/api/actions/${id}`, { caller: 'integration' });
      expect(read.status).toBe(200);
      expect(read.json).toMatchObject({ id, state: 'queued', attempts: 0 });
      expect((await send('GET', `/api/actions/${id}`, { caller: 'outsider' })).status).toBe(404);
    }, { ...h.config, policy });
  });

  it('webhooks: register (201), list (200), receive (401 unsigned, 200 signed test event), delete (200, then 404); 403 for an outsider', async () => {
    const target = createServer((_req, res) => res.writeHead(200).end());
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
    try {
      await withRuntime({}, async () => {
        expect((await send('POST', '/api/webhooks/superoffice/Cust12345', { caller: 'outsider', body: { name: 'hooks', events: ['contact.changed'] } })).status).toBe(403);
        const created = await send('POST', '/api/webhooks/superoffice/Cust12345', { caller: 'integration', body: { name: 'hooks', events: ['contact.changed'] } });
        expect(created.status).toBe(201);
        expect(created.json).toMatchObject({ name: 'hooks', state: 'Active', targetUrl: `${origin}/api/webhooks/superoffice/Cust12345/hooks` });
        const listed = await send('GET', '/api/webhooks/superoffice/Cust12345', { caller: 'integration' });
        expect(listed.status).toBe(200);
        expect((await send('GET', '/api/webhooks/superoffice/Cust12345')).status).toBe(401);
        const event = JSON.stringify({ EventId: '9d4f3c2b-1a0e-4f5d-8c7b-6a5948372615', Event: 'test', Entity: 'test', ContextIdentifier: 'Cust12345' });
        expect((await send('POST', '/api/webhooks/superoffice/Cust12345/hooks', { rawBody: event, headers: { 'content-type': 'application/json' } })).status).toBe(401);
        const secret = (await h.runtime.secrets.get(webhookSecretName('sod', 'Cust12345', 'hooks'))).value;
        const signed = await send('POST', '/api/webhooks/superoffice/Cust12345/hooks', { rawBody: event, headers: { 'content-type': 'application/json', 'x-superoffice-signature': webhookSignature(Buffer.from(event), secret) } });
        expect(signed.status).toBe(200);
        expect(signed.json).toEqual({ received: 'test' });
        expect((await send('DELETE', '/api/webhooks/superoffice/Cust12345/hooks', { caller: 'integration' })).status).toBe(200);
        expect((await send('DELETE', '/api/webhooks/superoffice/Cust12345/hooks', { caller: 'integration' })).status).toBe(404);
      }, { ...h.config, superOffice: { ...h.config.superOffice, redirectUri: `${origin}/api/consent/callback` } });
    } finally {
      target.close();
    }
  });
});

describe('coverage', () => {
  it('every documented operation was validated with a success and an error answer', () => {
    const gaps: string[] = [];
    for (const operationId of operationsById.keys()) {
      const statuses = [...(covered.get(operationId) ?? [])];
      if (!statuses.some((s) => s < 400)) gaps.push(`${operationId}: no success`);
      if (!statuses.some((s) => s >= 400)) gaps.push(`${operationId}: no error`);
    }
    expect(gaps).toEqual([]);
  });
});
