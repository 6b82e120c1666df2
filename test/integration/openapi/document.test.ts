import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../../shared/errors/errors.js';
import { listEndpoints, routeParameters, type Endpoint } from '../../../shared/http/endpoint.js';
import { openApiDocument, openApiPath, type JsonObject } from '../../../shared/http/openapi.js';
import { BROKER_ROLES, OPERATION_ROLES } from '../../../shared/identity/operations.js';
import { listFunctions } from '../../../shared/runtime/registry.js';
import { createRuntime, setRuntime } from '../../../shared/runtime/runtime.js';
import { BROKER_VERSION } from '../../../shared/config/version.js';
import { testConfig } from '../../support/config.js';

/**
 * The generated document: valid against the official OpenAPI 3.1 schema (a maintained package, not a
 * transcription), every JSON Schema in it compiles, and it describes exactly the registered endpoints
 * with what the generator promises (roles, problem codes by status, headers). Whether the server
 * accepts exactly what it describes is inputs.test.ts; whether real answers match it, responses.test.ts.
 */

type Json = unknown;
const isObject = (value: Json): value is Record<string, Json> => typeof value === 'object' && value !== null && !Array.isArray(value);

let endpoints: Endpoint[];
let document: JsonObject;
let operations: { path: string; method: string; operation: Record<string, Json> }[];

function deref(node: Json): Record<string, Json> {
  let current = node;
  for (let i = 0; i < 10 && isObject(current) && typeof current['$ref'] === 'string'; i++) {
    current = current['$ref'].slice(2).split('/').reduce<Json>((at, key) => (isObject(at) ? at[key] : undefined), document);
  }
  if (!isObject(current)) throw new Error('unresolvable reference');
  return current;
}

beforeAll(async () => {
  // The entry, as the Functions host loads it: startup reads the runtime, then every function registers.
  setRuntime(createRuntime(testConfig()));
  await import('../../../functions/index.js');
  endpoints = listEndpoints();
  document = openApiDocument(endpoints, { serverUrl: 'https://broker.example.com' });
  operations = Object.entries(document['paths'] as Record<string, Record<string, Record<string, Json>>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ path, method, operation })),
  );
});

describe('the generated OpenAPI document', () => {
  it('is valid against the official OpenAPI 3.1 schema', async () => {
    const result = await new Validator().validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('the validator refuses a broken document (it can fail)', async () => {
    const broken = structuredClone(document) as Record<string, Record<string, Record<string, Record<string, unknown>>>>;
    broken['paths']!['/api/tokens']!['post']!['parameters'] = [{ name: 'ctx', in: 'body', schema: { type: 'string' } }];
    expect((await new Validator().validate(broken as Parameters<Validator['validate']>[0])).valid).toBe(false);
  });

  it('is OpenAPI 3.1.0 with the broker version, the server given, and bearer security by default', () => {
    expect(document['openapi']).toBe('3.1.0');
    expect(document['info']).toMatchObject({ title: 'SuperOffice token broker', version: BROKER_VERSION });
    expect(document['servers']).toEqual([{ url: 'https://broker.example.com', description: 'This broker' }]);
    expect(openApiDocument(endpoints)['servers']).toEqual([{ url: '/', description: 'This broker' }]);
    expect(document['security']).toEqual([{ bearer: [] }]);
  });

  it('every JSON Schema in it compiles with Ajv (2020-12, strict)', () => {
    const ajv = new Ajv2020({ strict: true, strictTypes: false, strictTuples: false, allowMatchingProperties: true, validateFormats: false });
    ajv.addSchema({ $id: 'https://broker.invalid/schemas.json', $defs: (document['components'] as Record<string, Json>)['schemas'] });
    let compiled = 0;
    const visit = (node: Json, at: string): void => {
      if (Array.isArray(node)) node.forEach((item, i) => visit(item, `${at}/${i}`));
      if (!isObject(node)) return;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'schema' && isObject(value)) {
          const schema = JSON.parse(JSON.stringify(value).replaceAll('"#/components/schemas/', '"https://broker.invalid/schemas.json#/$defs/')) as object;
          expect(() => ajv.compile(schema), `${at}/schema`).not.toThrow();
          compiled++;
        } else visit(value, `${at}/${key}`);
      }
    };
    visit(document['paths'], '#/paths');
    expect(compiled).toBeGreaterThan(100);
  });
});

describe('it describes exactly the registered endpoints', () => {
  it('every registered HTTP function is a declaration, with its route and method, as operationId = function name', () => {
    const http = listFunctions().filter((f) => f.kind === 'http');
    expect(http.filter((f) => f.endpoint === undefined).map((f) => f.name)).toEqual([]);
    expect(http.map((f) => f.name)).toEqual(expect.arrayContaining(['tokens', 'health', 'me', 'openapi', 'audit', 'rightsChecks', 'consentCallback', 'connectionRevoke']));
    const described = operations.map((o) => `${o.method.toUpperCase()} ${o.path} ${String(o.operation['operationId'])}`).sort();
    expect(described).toEqual(endpoints.map((e) => `${e.method} ${openApiPath(e.route)} ${e.name}`).sort());
  });

  it('declares every route parameter as a required path parameter, and no other', () => {
    for (const endpoint of endpoints) {
      const op = operations.find((o) => o.operation['operationId'] === endpoint.name)!;
      const path = ((op.operation['parameters'] ?? []) as Json[]).map(deref).filter((p) => p['in'] === 'path');
      expect(path.map((p) => p['name']).sort(), endpoint.name).toEqual(routeParameters(endpoint.route).sort());
      for (const p of path) expect(p['required'], `${endpoint.name} ${String(p['name'])}`).toBe(true);
    }
  });

  it('roles and audit mode follow the declared access; caller operations document 401 (WWW-Authenticate) and 403; fail-closed ones 503 (Retry-After)', () => {
    for (const endpoint of endpoints) {
      const { operation } = operations.find((o) => o.operation['operationId'] === endpoint.name)!;
      const responses = operation['responses'] as Record<string, Json>;
      expect(operation['x-audit'], endpoint.name).toBe(endpoint.failClosedAudit ? 'fail-closed' : 'best-effort');
      if (endpoint.access.kind === 'anonymous') {
        expect(operation['security'], endpoint.name).toEqual([]);
        expect(operation['x-required-role']).toBeNull();
      } else {
        expect(operation['x-required-role'], endpoint.name).toEqual(endpoint.access.operation === null ? BROKER_ROLES : OPERATION_ROLES[endpoint.access.operation]);
        expect(Object.keys(deref(responses['401'])['headers'] as object), endpoint.name).toContain('WWW-Authenticate');
        expect(responses['403'], endpoint.name).toBeDefined();
      }
      if (endpoint.failClosedAudit) expect(Object.keys(deref(responses['503'])['headers'] as object), endpoint.name).toContain('Retry-After');
    }
  });

  it('each problem response lists only codes of its status, and together the codes the endpoint can answer', () => {
    for (const { operation } of operations) {
      for (const [status, response] of Object.entries(operation['responses'] as Record<string, Json>)) {
        const problem = (deref(response)['content'] as Record<string, Record<string, Record<string, Record<string, Record<string, Json>>>>> | undefined)?.['application/problem+json'];
        if (problem === undefined) continue;
        const codes = problem['schema']!['properties']!['code']!['enum'] as string[];
        expect(codes.length).toBeGreaterThan(0);
        for (const code of codes) expect(ERROR_STATUS[code as keyof typeof ERROR_STATUS], `${String(operation['operationId'])} ${status} ${code}`).toBe(Number(status));
      }
    }
  });
});
