import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TokenRequestSchema } from '../../../functions/tokens.js';
import { ERROR_STATUS } from '../../../shared/errors/errors.js';
import { openApiDocument, type OpenApiDocument } from '../../../shared/http/openapi.js';
import { BROKER_ROLES, OPERATION_ROLES } from '../../../shared/identity/operations.js';
import { parseCheck } from '../../../shared/rights/checks.js';
import { listFunctions, type HttpFunctionDefinition } from '../../../shared/runtime/registry.js';
import { createRuntime, setRuntime } from '../../../shared/runtime/runtime.js';
import { BROKER_VERSION } from '../../../shared/runtime/version.js';
import { testConfig } from '../../support/config.js';

/**
 * The document's own structure: references resolve, operations are complete, schemas compile, the
 * request schemas are the parsers' (zod schema, accepted values), and `paths` is exactly the set of
 * registered HTTP functions (after loading the entry, as the Functions host does).
 */

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

type Json = unknown;

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Resolves a local JSON pointer (`#/a/b`) in `root`; `undefined` when it does not resolve. */
function resolvePointer(root: Json, ref: string): Json {
  if (!ref.startsWith('#')) return undefined;
  let node: Json = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isObject(node)) node = Object.hasOwn(node, key) ? node[key] : undefined;
    else return undefined;
  }
  return node;
}

/** Every `$ref` in `root` that does not resolve, with where it is. */
function danglingRefs(root: Json): string[] {
  const out: string[] = [];
  const visit = (node: Json, at: string): void => {
    if (Array.isArray(node)) node.forEach((item, i) => visit(item, `${at}/${i}`));
    else if (isObject(node)) {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string' && resolvePointer(root, value) === undefined) out.push(`${at}: ${value}`);
        visit(value, `${at}/${key}`);
      }
    }
  };
  visit(root, '');
  return out;
}

/** Follows `$ref`s between OpenAPI objects (responses, parameters, headers). */
function deref(root: Json, node: Json): Record<string, Json> {
  let current = node;
  for (let i = 0; i < 10 && isObject(current) && typeof current['$ref'] === 'string'; i++) current = resolvePointer(root, current['$ref']);
  if (!isObject(current)) throw new Error('unresolvable reference');
  return current;
}

interface FoundOperation {
  readonly path: string;
  readonly method: string;
  readonly operation: Record<string, Json>;
}

function operationsOf(document: OpenApiDocument): FoundOperation[] {
  const out: FoundOperation[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    if (!isObject(item)) continue;
    for (const method of METHODS) {
      const operation = item[method];
      if (isObject(operation)) out.push({ path, method, operation });
    }
  }
  return out;
}

/** Removes annotation keywords, so that a documented schema can be compared with a derived one. */
function withoutAnnotations(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(withoutAnnotations);
  if (!isObject(schema)) return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key]) => !['description', 'examples', '$schema', 'title'].includes(key))
      .map(([key, value]) => [key, key === 'properties' && isObject(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutAnnotations(v)])) : withoutAnnotations(value)]),
  );
}

const document = openApiDocument({ serverUrl: 'https://broker.example.com' });
const operations = operationsOf(document);

describe('the reference checker', () => {
  it('finds a dangling reference', () => {
    expect(danglingRefs({ a: { $ref: '#/components/schemas/Nope' }, components: { schemas: {} } })).toEqual(['/a: #/components/schemas/Nope']);
  });
});

describe('the OpenAPI document (structure)', () => {
  it('is OpenAPI 3.1.0 with the broker version, a server, and bearer security by default', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.info).toMatchObject({ title: 'SuperOffice token broker', version: BROKER_VERSION });
    expect(document.servers).toEqual([{ url: 'https://broker.example.com', description: 'This broker' }]);
    expect(openApiDocument().servers).toEqual([{ url: '/', description: 'This broker' }]);
    expect(document.security).toEqual([{ bearer: [] }]);
    expect(resolvePointer(document, '#/components/securitySchemes/bearer')).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  });

  it('is built once per server URL and deeply frozen', () => {
    expect(openApiDocument({ serverUrl: 'https://broker.example.com' })).toBe(document);
    const unfrozen: string[] = [];
    const visit = (node: Json, at: string): void => {
      if (typeof node !== 'object' || node === null) return;
      if (!Object.isFrozen(node)) unfrozen.push(at);
      for (const [key, value] of Object.entries(node)) visit(value, `${at}/${key}`);
    };
    visit(document, '');
    expect(unfrozen).toEqual([]);
    expect(() => {
      (document.info as Record<string, unknown>)['title'] = 'changed';
    }).toThrow(TypeError);
  });

  it('every $ref resolves', () => {
    expect(danglingRefs(document)).toEqual([]);
  });

  it('every operation has an operationId (unique), a summary, responses with descriptions, a role and an audit mode', () => {
    const ids = operations.map((o) => o.operation['operationId']);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, method, operation } of operations) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(typeof operation['operationId'], where).toBe('string');
      expect(typeof operation['summary'], where).toBe('string');
      expect(['fail-closed', 'best-effort'], where).toContain(operation['x-audit']);
      const role = operation['x-required-role'];
      if (role === null) expect(operation['security'], `${where} is anonymous`).toEqual([]);
      else {
        expect(operation['security'], where).toBeUndefined();
        for (const r of Array.isArray(role) ? role : [role]) expect(BROKER_ROLES, where).toContain(r);
        if (!Array.isArray(role)) expect(role, where).toBe(OPERATION_ROLES[operation['x-policy-operation'] as keyof typeof OPERATION_ROLES]);
      }
      const responses = operation['responses'];
      expect(isObject(responses) && Object.keys(responses).length > 0, where).toBe(true);
      for (const [status, response] of Object.entries(responses as Record<string, Json>)) {
        expect(status, where).toMatch(/^[1-5]\d\d$/);
        expect(typeof deref(document, response)['description'], `${where} ${status}`).toBe('string');
      }
    }
  });

  it('declares every path template parameter as a required path parameter, and no other', () => {
    for (const { path, method, operation } of operations) {
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = ((operation['parameters'] ?? []) as Json[]).map((p) => deref(document, p)).filter((p) => p['in'] === 'path');
      expect(declared.map((p) => p['name']).sort(), `${method} ${path}`).toEqual(templated);
      for (const p of declared) expect(p['required'], `${method} ${path} ${String(p['name'])}`).toBe(true);
    }
  });

  it('every caller operation documents 401 (with WWW-Authenticate) and 403; every fail-closed one 503 (with Retry-After)', () => {
    for (const { path, method, operation } of operations) {
      const responses = operation['responses'] as Record<string, Json>;
      if (operation['x-required-role'] !== null) {
        expect(Object.keys(deref(document, responses['401'])['headers'] as object), `${method} ${path}`).toContain('WWW-Authenticate');
        expect(responses['403'], `${method} ${path}`).toBeDefined();
      }
      if (operation['x-audit'] === 'fail-closed') {
        expect(Object.keys(deref(document, responses['503'])['headers'] as object), `${method} ${path}`).toContain('Retry-After');
      }
    }
  });

  it('the problem responses partition the error codes by status', () => {
    const problems = document.components['responses'] as Record<string, Json>;
    for (const response of Object.values(problems)) {
      const schema = ((deref(document, response)['content'] as Record<string, Json>)['application/problem+json'] as Record<string, Json>)['schema'] as Record<string, Record<string, Record<string, Json>>>;
      const status = schema['properties']!['status']!['const'] as number;
      const codes = schema['properties']!['code']!['enum'];
      expect(codes).toEqual(Object.entries(ERROR_STATUS).filter(([, s]) => s === status).map(([c]) => c));
    }
  });

  it('every schema compiles with Ajv (JSON Schema 2020-12), component schemas in strict mode', () => {
    const base = 'https://broker.invalid/schemas.json';
    const rebase = (schema: Json, to: string): object => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${to}#/$defs/`)) as object;
    const lenient = new Ajv2020({ strict: false });
    const strict = new Ajv2020({ strict: true, strictTypes: false, allowMatchingProperties: true });
    for (const ajv of [lenient, strict]) {
      ajv.addFormat('date-time', true).addFormat('uri', true).addFormat('uri-reference', true);
      ajv.addSchema({ $id: base, $defs: rebase(document.components['schemas'], '') });
    }
    for (const name of Object.keys(document.components['schemas'] as object)) {
      expect(() => strict.compile({ $ref: `${base}#/$defs/${name}` }), name).not.toThrow();
    }
    const seen: string[] = [];
    const visit = (node: Json, at: string): void => {
      if (Array.isArray(node)) node.forEach((item, i) => visit(item, `${at}/${i}`));
      if (!isObject(node)) return;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'schema' && isObject(value)) {
          seen.push(at);
          expect(() => lenient.compile(rebase(value, base)), `${at}/schema`).not.toThrow();
        } else visit(value, `${at}/${key}`);
      }
    };
    visit(document.paths, '#/paths');
    visit(document.components['responses'], '#/components/responses');
    visit(document.components['headers'], '#/components/headers');
    expect(seen.length).toBeGreaterThan(50);
  });
});

describe('request schemas are the parsers\'', () => {
  it('TokenRequest is z.toJSONSchema(TokenRequestSchema) (draft 2020-12, input side)', () => {
    const derived = z.toJSONSchema(TokenRequestSchema, { target: 'draft-2020-12', io: 'input' });
    const documented = resolvePointer(document, '#/components/schemas/TokenRequest');
    expect(withoutAnnotations(documented)).toEqual(withoutAnnotations(derived));
  });

  const parameter = (path: string, name: string): Record<string, Json> => {
    const op = operations.find((o) => o.path === path);
    const found = ((op?.operation['parameters'] ?? []) as Json[]).map((p) => deref(document, p)).find((p) => p['name'] === name);
    if (found === undefined) throw new Error(`no parameter ${name} on ${path}`);
    return deref(document, found['schema']);
  };
  const enumOf = (path: string, name: string): string[] => parameter(path, name)['enum'] as string[];
  const base = '/api/rights/{ctx}/{associateId}';

  it('every documented rights value is accepted by the parser, and a value outside the enums is refused', () => {
    for (const table of enumOf(`${base}/tables/{table}`, 'table')) {
      for (const right of enumOf(`${base}/tables/{table}`, 'right')) {
        expect(parseCheck('checkTableRights', { table, right }).ok, `${table} ${right}`).toBe(true);
      }
    }
    for (const field of enumOf(`${base}/fields/{table}/{field}`, 'field')) {
      const tables = ['contact', 'person', 'ticket'].filter((table) => parseCheck('checkFieldRights', { table, field, right: 'read' }).ok);
      expect(tables.length, field).toBeGreaterThan(0);
    }
    for (const right of enumOf(`${base}/fields/{table}/{field}`, 'right')) expect(parseCheck('checkFieldRights', { table: 'contact', field: 'name', right }).ok).toBe(true);
    for (const level of enumOf(`${base}/tickets/{ticketId}`, 'level')) expect(parseCheck('hasTicketAccess', { ticketId: '1', level }).ok, level).toBe(true);
    for (const origin of enumOf(`${base}/logged-in`, 'origin')) expect(parseCheck('isLoggedIn', { origin }).ok, origin).toBe(true);

    expect(parseCheck('checkTableRights', { table: 'order', right: 'select' }).ok).toBe(false);
    expect(parseCheck('hasTicketAccess', { ticketId: '1', level: '3' }).ok).toBe(false);
    expect(parseCheck('isLoggedIn', { origin: 'mobile' }).ok).toBe(false);
    expect(parseCheck('checkFieldRights', { table: 'contact', field: 'secret', right: 'read' }).ok).toBe(false);
  });
});

describe('completeness: paths are exactly the registered HTTP functions', () => {
  let registered: HttpFunctionDefinition[];

  beforeAll(async () => {
    // The entry's first import (startup) reads the runtime, as the Functions host does on load.
    setRuntime(createRuntime(testConfig()));
    await import('../../../functions/index.js');
    registered = listFunctions().filter((f): f is HttpFunctionDefinition => f.kind === 'http');
  });

  /** An Azure route template as an OpenAPI path: `{name:int}`, `{name?}` and `{*name}` become `{name}`. */
  const pathOf = (route: string): string => `/api/${route.replace(/\{\*?([A-Za-z0-9_]+)(?::[^}]*)?\??\}/g, '{$1}')}`;

  it('maps Azure route templates to OpenAPI paths', () => {
    expect(pathOf('rights/{ctx}/{associateId:int}/x/{rest?}/{*tail}')).toBe('/api/rights/{ctx}/{associateId}/x/{rest}/{tail}');
  });

  const documented = () => operations.map((o) => ({ operationId: String(o.operation['operationId']), path: o.path, method: o.method }));

  it('loads at least the functions this suite knows of', () => {
    expect(registered.map((f) => f.name)).toEqual(expect.arrayContaining(['tokens', 'health', 'me', 'openapi', 'rightsChecks', 'consentCallback']));
  });

  it('every registered HTTP function appears with its route and every method, as operationId = function name', () => {
    const missing: string[] = [];
    for (const fn of registered) {
      for (const method of fn.methods) {
        const path = pathOf(fn.route);
        const op = documented().find((d) => d.path === path && d.method === method.toLowerCase());
        if (op === undefined) missing.push(`${method} ${path} (${fn.name})`);
        else if (op.operationId !== fn.name) missing.push(`${method} ${path}: operationId ${op.operationId}, function ${fn.name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('nothing in paths is unregistered', () => {
    const extra = documented().filter((d) => !registered.some((fn) => pathOf(fn.route) === d.path && fn.name === d.operationId && fn.methods.some((m) => m.toLowerCase() === d.method)));
    expect(extra).toEqual([]);
  });
});

