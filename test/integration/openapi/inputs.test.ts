import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { endpointHandler, listEndpoints, type Endpoint } from '../../../shared/http/endpoint.js';
import { openApiDocument, openApiPath } from '../../../shared/http/openapi.js';
import type { Caller } from '../../../shared/identity/caller.js';
import { OPERATION_ROLES, OPERATIONS } from '../../../shared/identity/operations.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createRuntime, setRuntime, type Runtime, type RuntimeOverrides } from '../../../shared/runtime/runtime.js';
import { isTenantId } from '../../../shared/superoffice/identifiers.js';
import { testConfig } from '../../support/config.js';
import { fuzzSeed } from '../../unit/consent/fuzz.js';
import { schemaArbitrary, type Schema } from '../../support/schemaArbitrary.js';

/**
 * Done-when of issue 11 §2: for every endpoint, the server accepts exactly the inputs its published
 * OpenAPI description accepts. For each operation in the generated document, fast-check builds
 * requests from its parameter and body schemas — mostly valid values, mutated with wrong types,
 * missing and extra members and parameters, repeated parameters, out-of-range numbers, bad
 * identifiers, long and unicode strings, empty values — decides with Ajv against the published
 * schemas whether each is valid, sends it to the real endpoint in-process (authorized caller, a
 * policy granting the request's tenant, backends stubbed), and asserts the server refuses it as
 * invalid input (400 `validation_failed`, or `function_key_in_query`) exactly when the schema does.
 *
 * The rules the document states besides its schemas: unlisted query parameters are refused unless
 * the operation says `x-unlisted-query-parameters: ignored`; a query parameter given twice is refused;
 * a `code` query parameter is refused on every operation that does not list it.
 */

const RUNS = 300;

setRuntime(createRuntime(testConfig()));
await import('../../../functions/index.js');
setRuntime(undefined);
const endpoints = listEndpoints();
const document = openApiDocument(endpoints) as { paths: Record<string, Record<string, Operation>> };

interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly required: boolean;
  readonly schema: Schema;
}
interface Operation {
  readonly operationId: string;
  readonly parameters: readonly (Parameter | { $ref: string })[];
  readonly requestBody?: { content: { 'application/json'?: { schema: Schema } } };
  readonly 'x-unlisted-query-parameters': 'refused' | 'ignored';
}

const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
const validators = new Map<Schema, ValidateFunction>();
const valid = (schema: Schema, value: unknown): boolean => {
  let validate = validators.get(schema);
  if (validate === undefined) {
    validate = ajv.compile(schema);
    validators.set(schema, validate);
  }
  return validate(value);
};

// --- Generation from the published schemas --------------------------------------------------------

const junkString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('', ' ', '0', '-1', '01', '1.5', '1e3', '2147483648', 'null', 'Cust-1', 'cust12345', '../x', '<script>', '%2F%2F', '\u0000', 'é'),
  fc.string({ minLength: 65, maxLength: 5000 }).map((s) => s.padEnd(65, 'A')),
);
const junk: fc.Arbitrary<unknown> = fc.oneof(junkString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}), fc.constant(2 ** 31), fc.constant(-0.5));

/**
 * Values for a schema: mostly ones it is likely to accept, sometimes junk (less often deeper down, so
 * that whole bodies are still valid often enough). `text`: it is a path, query or header value.
 */
const valueFor = schemaArbitrary({
  junk: (text) => (text ? junkString : junk),
  likelyWeight: { top: 12, deep: 40 },
  strings: { maxLength: 20, cap: 200 },
  requiredFreq: 12,
  extraNames: ['extra', 'recordID', 'Check'],
  extraEvery: 8,
});
const arbitraryFor = (schema: Schema, text: boolean): fc.Arbitrary<unknown> => valueFor(schema, undefined, text);

/** `arbitrary` one time in three, otherwise `undefined`. */
const often = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });


interface Sample {
  readonly path: Record<string, string>;
  readonly query: readonly (readonly [string, string])[];
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

function samplesFor(operation: Operation): fc.Arbitrary<Sample> {
  const parameters = operation.parameters.filter((p): p is Parameter => 'name' in p);
  // A route's catch-all (`{*path}`, OpenAPI `{path}` whose pattern allows slashes) keeps its slashes; other path values cannot contain one.
  const catchAll = (p: Parameter) => typeof p.schema['pattern'] === 'string' && p.schema['pattern'].includes('v1(?:');
  const webApiPath = fc.oneof(
    fc.constantFrom('v1/Contact/5', 'v1/User/currentPrincipal', 'v1/Person/201/Emails', 'v1/Find/æ x', 'v1/..', 'v1//x', 'v1/a%2Fb', 'v1\\x', '/v1/x', 'v2/x', 'v1'),
    fc.array(fc.oneof(fc.constantFrom('v1', 'Contact', '5', '.', '..', '', '%2f', '%2e'), fc.string({ maxLength: 4 })), { minLength: 1, maxLength: 5 }).map((s) => s.join('/')),
  );
  const path = fc.record(Object.fromEntries(parameters.filter((p) => p.in === 'path').map((p) => [p.name, catchAll(p) ? webApiPath : arbitraryFor(p.schema, true).map((v) => String(v).replaceAll('/', '_') || '_')])));
  const listed = parameters.filter((p) => p.in === 'query');
  const query = fc
    .tuple(
      fc.tuple(...listed.map((p) => fc.option(arbitraryFor(p.schema, true).map(String), { freq: p.required ? 12 : 2, nil: undefined }))),
      often(fc.tuple(fc.oneof(fc.constantFrom('recordid', 'limit', 'ctx', 'code', 'utm_source', 'state', 'x'), fc.string({ minLength: 1, maxLength: 6 })), junkString)),
      often(fc.nat()),
    )
    .map(([values, extra, repeat]) => {
      const pairs: [string, string][] = [];
      listed.forEach((p, i) => {
        const value = values[i];
        if (value !== undefined) pairs.push([p.name, value]);
      });
      if (extra !== undefined) pairs.push([extra[0], extra[1]]);
      const again = repeat === undefined ? undefined : pairs[repeat % Math.max(1, pairs.length)];
      if (again !== undefined) pairs.push([again[0], again[1]]);
      return pairs;
    });
  // Declared header parameters (e.g. Idempotency-Key): mostly valid values, sometimes absent or junk.
  const headerParams = parameters.filter((p) => p.in === 'header');
  const headers = fc
    // A header value can only be visible ASCII, and HTTP trims it: generate what can be sent.
    .tuple(...headerParams.map((p) => fc.option(arbitraryFor(p.schema, true).map((v) => String(v).replace(/[^\x20-\x7e]/g, '').trim()), { freq: p.required ? 12 : 2, nil: undefined })))
    .map((values) => Object.fromEntries(headerParams.flatMap((p, i) => (values[i] === undefined ? [] : [[p.name, values[i]]]))));
  const bodySchema = operation.requestBody?.content['application/json']?.schema;
  return fc.record({ path, query, headers, ...(bodySchema !== undefined ? { body: arbitraryFor(bodySchema, false) } : {}) });
}

/** What the published document says about a request, as the server will see it (query as the URL parses it, body as JSON parses it). */
function documentAccepts(operation: Operation, sample: Sample, query: URLSearchParams, body: unknown): boolean {
  const parameters = operation.parameters.filter((p): p is Parameter => 'name' in p);
  for (const p of parameters.filter((q) => q.in === 'path')) if (!valid(p.schema, sample.path[p.name])) return false;
  const names = [...new Set(query.keys())];
  for (const name of names) {
    if (query.getAll(name).length > 1) return false;
    const p = parameters.find((q) => q.in === 'query' && q.name === name);
    if (p === undefined && (operation['x-unlisted-query-parameters'] === 'refused' || name === 'code')) return false;
    if (p !== undefined && !valid(p.schema, query.get(name))) return false;
  }
  for (const p of parameters.filter((q) => q.in === 'query' && q.required)) if (!query.has(p.name)) return false;
  for (const p of parameters.filter((q) => q.in === 'header')) {
    const value = sample.headers[p.name];
    if (value === undefined ? p.required : !valid(p.schema, value)) return false;
  }
  const bodySchema = operation.requestBody?.content['application/json']?.schema;
  return bodySchema === undefined || valid(bodySchema, body);
}

// --- The server, in-process, with an authorized caller and stubbed backends -------------------------

const TID = '11111111-1111-4111-8111-111111111111';
const CALLER: Caller = { tid: TID, oid: 'aaaaaaaa-0000-4000-8000-000000000001', azp: 'x', idtyp: 'app', roles: Object.values(OPERATION_ROLES), tokenVersion: '2.0' };
const logger = createLogger({ level: 'error', sink: () => undefined });

const STUBS: RuntimeOverrides = {
  logger,
  guard: { authenticate: async () => ({ caller: CALLER, roleUsed: 'Tokens.Request' }) },
  tokens: { getUserToken: async () => { throw new BrokerError('not_connected'); } } as unknown as Runtime['tokens'],
  rights: {
    strategyOf: () => 'webapi',
    evaluate: async ({ checks }: { checks: readonly unknown[] }) => ({ strategy: 'webapi', answers: checks.map(() => ({ allowed: true, source: 'webapi_rights_mask' })), upstreamStatus: 200, flags: [] }),
  } as unknown as Runtime['rights'],
  lifecycle: { list: async () => [], revoke: async () => undefined } as unknown as Runtime['lifecycle'],
  consent: {
    createLink: async () => ({ url: 'http://127.0.0.1:7071/api/consent/start?ticket=t1.x', expiresAt: new Date().toISOString() }),
    start: async () => ({ kind: 'failure', status: 400, reason: 'ticket_invalid', page: 'link_invalid' }),
    callback: async () => ({ kind: 'failure', status: 400, reason: 'cookie_missing', page: 'session_invalid' }),
  } as unknown as Runtime['consent'],
  health: { check: async () => { throw new BrokerError('upstream_unavailable'); } } as unknown as Runtime['health'],
  proxy: { call: async () => { throw new BrokerError('not_connected'); } } as unknown as Runtime['proxy'],
  customerSessions: { login: async () => { throw new BrokerError('not_connected'); }, logout: async () => { throw new BrokerError('not_connected'); } } as unknown as Runtime['customerSessions'],
  auditTable: {} as Runtime['auditTable'],
  actions: {
    create: async () => ({ id: '0b5f2c1e-3a4b-4c5d-8e6f-7a8b9c0d1e2f', created: true }),
    get: async () => { throw new BrokerError('not_found'); },
  } as unknown as Runtime['actions'],
  webhooks: {
    receive: async () => ({ status: 401, reason: 'signature_missing' }),
    register: async () => { throw new BrokerError('upstream_unavailable'); },
    list: async () => [],
    remove: async () => { throw new BrokerError('not_found'); },
  } as unknown as Runtime['webhooks'],
};

/** A runtime whose policy grants the caller every operation for the tenant the request names (so the policy never masks validation). */
function runtimeFor(endpoint: Endpoint, sample: Sample, audits: AuditEntry[]): Runtime {
  const subjectCtx = endpoint.subject === undefined ? undefined : 'read' in endpoint.subject ? endpoint.subject.fields['ctx'] : endpoint.subject.ctx;
  const [part, name] = (subjectCtx ?? 'path.none').split('.') as ['path' | 'query' | 'body', string];
  const source = part === 'path' ? sample.path : part === 'query' ? Object.fromEntries([...sample.query].reverse()) : sample.body;
  const ctx = typeof source === 'object' && source !== null ? (source as Record<string, unknown>)[name] : undefined;
  const policy = { version: 1, callers: [{ name: 'generated', tid: TID, oid: CALLER.oid, operations: OPERATIONS, superOffice: isTenantId(ctx) ? [{ env: 'sod', ctx, users: '*', webApi: ['* v1/**'] }] : [], systemUser: true }] };
  return createRuntime(testConfig({ BROKER_POLICY: JSON.stringify(policy) }), {
    ...STUBS,
    audit: { record: async (entry) => { audits.push(entry); }, fingerprint: async () => 'fp1_test' },
  });
}

describe('issue 11: every endpoint accepts exactly the inputs its published schema accepts', () => {
  it('covers every endpoint in the document', () => {
    const operations = Object.values(document.paths).flatMap((item) => Object.values(item).map((o) => o.operationId));
    expect(operations.sort()).toEqual(endpoints.map((e) => e.name).sort());
    expect(endpoints.length).toBe(30);
  });

  for (const endpoint of endpoints) {
    const operation = document.paths[openApiPath(endpoint.route)]![endpoint.method.toLowerCase()]!;
    it(`${endpoint.method} /api/${endpoint.route} (${endpoint.name}): ${RUNS} generated requests, same decision as the document`, async () => {
      let current: Runtime | undefined;
      const handler = endpointHandler(endpoint, () => current!);
      const seen = { valid: 0, invalid: 0 };
      await fc.assert(
        fc.asyncProperty(samplesFor(operation), async (sample) => {
          const audits: AuditEntry[] = [];
          current = runtimeFor(endpoint, sample, audits);
          const url = new URL(`http://127.0.0.1:7071/api/${endpoint.route}`);
          for (const [name, value] of sample.query) url.searchParams.append(name, value);
          const bodyText = sample.body === undefined ? undefined : JSON.stringify(sample.body);
          const request = new HttpRequest({
            method: endpoint.method,
            url: url.href,
            params: sample.path,
            headers: { ...sample.headers, ...(bodyText !== undefined ? { 'content-type': 'application/json' } : {}) },
            ...(bodyText !== undefined ? { body: { string: bodyText } } : {}),
          });
          const response = (await handler(request, new InvocationContext({ functionName: endpoint.name }))) as HttpResponseInit;
          const expected = documentAccepts(operation, sample, url.searchParams, bodyText === undefined ? undefined : JSON.parse(bodyText));
          const reason = audits[0]?.reason;
          const refused = reason === 'validation_failed' || reason === 'function_key_in_query';
          if (refused) expect(response.status).toBe(400);
          if (expected) seen.valid++;
          else seen.invalid++;
          if (refused === expected) {
            throw new Error(`the document ${expected ? 'accepts' : 'refuses'} it, the server ${refused ? 'refused' : 'accepted'} it (status ${response.status ?? 200}, reason ${String(reason)}): ${typeof response.body === 'string' ? response.body.slice(0, 300) : ''}`);
          }
        }),
        { numRuns: RUNS, seed: fuzzSeed(`openapi inputs ${endpoint.name}`) },
      );
      // Both sides of the decision were exercised.
      expect(seen.valid, 'valid samples').toBeGreaterThanOrEqual(20);
      expect(seen.invalid, 'invalid samples').toBeGreaterThanOrEqual(20);
    }, 120_000);
  }
});
