import type { HttpHandler, HttpMethod, HttpResponseInit } from '@azure/functions';
import * as z from 'zod/mini';
import { BrokerError, ERROR_STATUS, type ErrorCode } from '../errors/errors.js';
import type { Caller } from '../identity/caller.js';
import { assertSubject, type SubjectRequest } from '../identity/policy.js';
import { listFunctions, registerHttp } from '../runtime/registry.js';
import { getRuntime, type Runtime } from '../runtime/runtime.js';
import { describeIssue, inputError, inputErrors, validationFailed, type InputError, type InputLocation } from './validation.js';
import { httpRoute, type Access, type RequestScope } from './wrapper.js';

/**
 * One declaration per HTTP endpoint (docs/architecture.md §3 `http/`): method, route, access, the zod
 * schemas of its path, query, headers, body and responses, where the policy subject is read from,
 * and the handler. From it, the wrapper validates every input before the handler runs, runs the
 * policy for the subject, hands the handler typed values and (when the runtime asks, as tests do)
 * checks the handler's responses; `openapi.ts` publishes the same schemas.
 *
 * Order of checks: function key in the query, caller (401/403 for the operation), the audit trail
 * (fail-closed routes), the body's media type, size and JSON syntax (415, 413, 400 `invalid_json`),
 * the policy for the subject once the fields it is read from are valid (403, so a refused caller
 * learns nothing about the rest of its input), then every input (400 `validation_failed`).
 *
 * Query strings: a parameter the endpoint does not declare is refused (a misspelt `recordId` must not
 * silently widen a question), unless the query schema is a loose object (the consent callback takes
 * what SuperOffice adds); a parameter given more than once is refused.
 */

export type { Access } from './wrapper.js';

/** A request part's schema: an object whose members are the parameters (or body members). */
export type PartSchema = z.ZodMiniObject<z.core.$ZodShape, z.core.$ZodObjectConfig>;

export interface RequestSchemas {
  readonly path?: PartSchema;
  readonly query?: PartSchema;
  /** Declared headers only (names in lower case); other headers are not looked at. */
  readonly headers?: PartSchema;
  /** A JSON body (`application/json`). */
  readonly body?: z.ZodMiniType;
  /**
   * Instead of a JSON body: the body as bytes, of any media type, at most `maxBodyBytes` (the proxy
   * passes it through unread). The handler receives a `Buffer` (empty when none was sent).
   */
  readonly rawBody?: { readonly description: string };
}

export interface ResponseHeader {
  readonly description: string;
  readonly required?: boolean;
  readonly schema: z.ZodMiniType;
}

export interface ResponseDeclaration {
  readonly description: string;
  /** The body's schema; absent: no body. */
  readonly body?: z.ZodMiniType;
  /** Default `application/json`. */
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, ResponseHeader>>;
}

type Parsed<S> = S extends z.ZodMiniType ? z.output<S> : undefined;
type Keys<S> = S extends z.ZodMiniObject<infer Shape, z.core.$ZodObjectConfig> ? keyof Shape & string : never;

/** Where a subject field is read from: `path.ctx`, `query.ctx`, `body.associateId`, … */
export type FieldRef<R extends RequestSchemas> = `path.${Keys<R['path']>}` | `query.${Keys<R['query']>}` | `body.${Keys<R['body']>}`;

/** The policy subject of a request (the SuperOffice environment is the broker's). */
export interface SubjectFields<R extends RequestSchemas> {
  readonly ctx: FieldRef<R>;
  /** Absent, or read as absent: the whole tenant (a `users: "*"` grant is needed). */
  readonly associateId?: FieldRef<R>;
}

/**
 * A subject the policy needs more than fields for (the proxy: tenant, user or system user, and the Web
 * API call), read from the raw request before the rest of the input is validated. `fields` documents
 * where it comes from (OpenAPI `x-policy-subject`). `read` returns `undefined` when the values it reads
 * are invalid (validation then reports them), or throws a 400 of its own.
 */
export interface ComputedSubject {
  readonly fields: Readonly<Record<string, string>>;
  read(request: { readonly params: Readonly<Record<string, string>>; readonly url: string; readonly method: string; readonly env: string }): SubjectRequest | undefined;
  /**
   * Another way the caller may be authorized for this subject (the proxy: an event grant); runs before
   * the policy check. `true`: authorized, the policy is not asked; `false`: the policy decides; throws a
   * 403 of its own when the other way is tried and refused.
   */
  authorize?(input: { readonly subject: SubjectRequest; readonly caller: Caller; readonly scope: RequestScope }): Promise<boolean>;
}

/** What a handler receives: the validated inputs, the caller, and the request scope. */
export interface EndpointInput<R extends RequestSchemas, A extends Access> {
  readonly path: Parsed<R['path']>;
  readonly query: Parsed<R['query']>;
  readonly headers: Parsed<R['headers']>;
  readonly body: R['rawBody'] extends object ? Buffer : Parsed<R['body']>;
  /** The authenticated caller; `null` on anonymous endpoints. */
  readonly caller: A extends { readonly kind: 'caller' } ? Caller : null;
  readonly scope: RequestScope;
}

export interface EndpointDeclaration<R extends RequestSchemas, A extends Access> {
  /** Function name and OpenAPI `operationId`; also the audit `action` unless `action` is given. */
  readonly name: string;
  readonly action?: string;
  readonly method: HttpMethod;
  /** Azure route template without the `api/` prefix, e.g. `connections/{ctx}/{associateId}/revoke`. */
  readonly route: string;
  readonly tag: string;
  readonly summary: string;
  readonly description: string;
  readonly access: A;
  /** Refuse to answer when the audit record cannot be written (tokens, consent, rights, actions). */
  readonly failClosedAudit: boolean;
  readonly maxBodyBytes?: number;
  /** Only the consent callback receives `?code=` (the authorization code from SuperOffice). */
  readonly allowCodeQuery?: boolean;
  /** Extra security headers or overrides, e.g. a CSP for an HTML page. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly request: R;
  /** The answers the handler gives, by status. */
  readonly responses: Readonly<Record<number, ResponseDeclaration>>;
  /**
   * Answers passed through from upstream with their own status, headers and body (the proxy): any
   * status besides the declared ones is allowed, documented as the OpenAPI `default` response.
   */
  readonly passThrough?: { readonly description: string };
  /** Problem codes the handler can answer, besides those the wrapper adds (auth, validation, audit, deadline). */
  readonly errors: readonly ErrorCode[];
  /** The policy subject; the wrapper checks it for the access operation before the handler runs. */
  readonly subject?: A extends { readonly kind: 'caller'; readonly operation: infer O } ? (null extends O ? never : SubjectFields<R> | ComputedSubject) : never;
  /**
   * The browser pages answer refused input with their own HTML page instead of a problem; the
   * OpenAPI document then lists that page under 400.
   */
  readonly invalidInputPage?: (scope: RequestScope, error: BrokerError) => HttpResponseInit;
  handler(input: EndpointInput<R, A>): Promise<HttpResponseInit>;
}

/** A declaration with its types erased, as the registry, the OpenAPI generator and tests enumerate it. */
export type Endpoint = Omit<EndpointDeclaration<RequestSchemas, Access>, 'subject' | 'handler'> & {
  readonly subject?: { readonly ctx: string; readonly associateId?: string } | ComputedSubject;
  handler(input: EndpointInput<RequestSchemas, Access>): Promise<HttpResponseInit>;
};

const ROUTE_PARAMETER = /\{\*{0,2}([A-Za-z][A-Za-z0-9_]*)\}/g;

/** The parameter names of a route template, in order. */
export function routeParameters(route: string): string[] {
  return [...route.matchAll(ROUTE_PARAMETER)].map((m) => m[1] ?? '');
}

/** Checks a declaration (route parameters = path schema members; subject fields exist) and returns it untyped. */
export function defineEndpoint<R extends RequestSchemas, A extends Access>(declaration: EndpointDeclaration<R, A>): Endpoint {
  const declared = Object.keys(declaration.request.path?.shape ?? {}).sort();
  const templated = routeParameters(declaration.route).sort();
  if (declaration.request.body !== undefined && declaration.request.rawBody !== undefined) {
    throw new Error(`Endpoint ${declaration.name}: a JSON body and a raw body exclude each other`);
  }
  if (declared.join() !== templated.join()) {
    throw new Error(`Endpoint ${declaration.name}: route parameters {${templated.join(', ')}} differ from the path schema (${declared.join(', ')})`);
  }
  const subject = declaration.subject as Endpoint['subject'];
  if (subject !== undefined) {
    if (declaration.access.kind !== 'caller' || declaration.access.operation === null) {
      throw new Error(`Endpoint ${declaration.name}: a subject needs an access operation`);
    }
    const refs = 'read' in subject ? [] : [subject.ctx, subject.associateId];
    for (const ref of refs) {
      if (ref !== undefined && fieldSchema(declaration.request, ref) === undefined) throw new Error(`Endpoint ${declaration.name}: no input field ${ref}`);
    }
  }
  return declaration;
}

type Part = 'path' | 'query' | 'headers' | 'body';
const LOCATION: { readonly [P in Part]: InputLocation } = { path: 'path', query: 'query', headers: 'header', body: 'body' };

function shapeOf(schema: z.ZodMiniType | undefined): Readonly<Record<string, z.core.$ZodType>> | undefined {
  const def = schema?._zod.def as { readonly type?: string; readonly shape?: Record<string, z.core.$ZodType> } | undefined;
  return def?.type === 'object' ? def.shape : undefined;
}

function fieldSchema(request: RequestSchemas, ref: string): { part: 'path' | 'query' | 'body'; name: string; schema: z.core.$ZodType } | undefined {
  const [part, name] = ref.split('.', 2) as ['path' | 'query' | 'body', string];
  const schema = shapeOf(request[part])?.[name];
  return schema === undefined ? undefined : { part, name, schema };
}

/** Query parameters as one value each, with an error for each parameter given more than once. */
function queryValues(url: string): { readonly values: Record<string, string>; readonly errors: InputError[] } {
  const params = new URL(url).searchParams;
  const values: Record<string, string> = {};
  const errors: InputError[] = [];
  for (const name of new Set(params.keys())) {
    const all = params.getAll(name);
    values[name] = all[0] ?? '';
    if (all.length > 1) errors.push(inputError('query', name, 'must be given once'));
  }
  return { values, errors };
}

const NO_PARAMETERS: PartSchema = z.strictObject({});

/** The raw inputs, before validation (the body read as JSON: 415, 413 and 400 `invalid_json` here). */
async function rawInputs(endpoint: Endpoint, scope: RequestScope): Promise<{ readonly raw: Record<Part, unknown>; readonly queryErrors: InputError[] }> {
  const query = queryValues(scope.request.url);
  const headers: Record<string, string> = {};
  for (const name of Object.keys(shapeOf(endpoint.request.headers) ?? {})) {
    const value = scope.request.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  const body = endpoint.request.rawBody !== undefined ? await scope.readBytes() : endpoint.request.body === undefined ? undefined : await scope.readJson();
  return { raw: { path: { ...scope.request.params }, query: query.values, headers, body }, queryErrors: query.errors };
}

/** The subject, when every field it is read from is valid (and given once); `undefined` otherwise (validation then reports it). */
function subjectOf(endpoint: Endpoint, raw: Record<Part, unknown>, queryErrors: readonly InputError[], env: string, scope: RequestScope): SubjectRequest | undefined {
  const declared = endpoint.subject;
  if (declared !== undefined && 'read' in declared) {
    return declared.read({ params: scope.request.params, url: scope.request.url, method: scope.request.method, env });
  }
  const read = (ref: string | undefined): { ok: boolean; value?: unknown } => {
    if (ref === undefined) return { ok: true };
    const field = fieldSchema(endpoint.request, ref);
    if (field === undefined || (field.part === 'query' && queryErrors.some((e) => e.name === field.name))) return { ok: false };
    const container = raw[field.part];
    const value = typeof container === 'object' && container !== null && !Array.isArray(container) ? (container as Record<string, unknown>)[field.name] : undefined;
    const result = z.safeParse(field.schema, value);
    return result.success ? { ok: true, value: result.data } : { ok: false };
  };
  const ctx = read(declared?.ctx);
  const associateId = read(declared?.associateId);
  if (!ctx.ok || !associateId.ok || typeof ctx.value !== 'string') return undefined;
  return { env, ctx: ctx.value, ...(typeof associateId.value === 'string' ? { associateId: associateId.value } : {}) };
}

/** Validates every part; throws 400 `validation_failed` listing every problem. */
function validate(endpoint: Endpoint, raw: Record<Part, unknown>, queryErrors: readonly InputError[]): Record<Part, unknown> {
  const errors: InputError[] = [...queryErrors];
  const out: Record<Part, unknown> = { path: undefined, query: undefined, headers: undefined, body: undefined };
  for (const part of ['path', 'query', 'headers', 'body'] as const) {
    if (part === 'body' && endpoint.request.rawBody !== undefined) {
      out.body = raw.body;
      continue;
    }
    const schema = endpoint.request[part] ?? (part === 'query' ? NO_PARAMETERS : undefined);
    if (schema === undefined) continue;
    const result = z.safeParse(schema, raw[part], { error: describeIssue });
    if (result.success) out[part] = result.data;
    else errors.push(...inputErrors(LOCATION[part], result.error.issues));
  }
  if (errors.length > 0) throw validationFailed(errors);
  return out;
}

/** The problem codes an endpoint can answer: its own plus those the wrapper adds for its declaration. */
export function errorCodesOf(endpoint: Endpoint): ErrorCode[] {
  const codes = new Set<ErrorCode>([...endpoint.errors, 'validation_failed', 'internal', 'deadline_exceeded']);
  if (!endpoint.allowCodeQuery) codes.add('function_key_in_query');
  if (endpoint.access.kind === 'caller') codes.add('unauthenticated').add('forbidden');
  if (endpoint.failClosedAudit) codes.add('audit_unavailable');
  if (endpoint.request.body !== undefined) codes.add('invalid_json').add('unsupported_media_type').add('payload_too_large');
  if (endpoint.request.rawBody !== undefined) codes.add('payload_too_large');
  return (Object.keys(ERROR_STATUS) as ErrorCode[]).filter((code) => codes.has(code));
}

/**
 * What is wrong with a response the handler gave (undeclared status, or a body that does not match
 * its schema); empty when it conforms. Paths and messages only, never values.
 */
export function responseMismatches(endpoint: Endpoint, response: HttpResponseInit): string[] {
  const status = response.status ?? 200;
  const declared = endpoint.responses[status];
  if (declared === undefined) return endpoint.passThrough !== undefined ? [] : [`status ${status} is not declared`];
  if (declared.body === undefined) return response.body === undefined && response.jsonBody === undefined ? [] : [`status ${status} declares no body`];
  if ((declared.contentType ?? 'application/json') !== 'application/json') return [];
  let body: unknown = response.jsonBody;
  if (body === undefined && typeof response.body === 'string') body = JSON.parse(response.body) as unknown;
  const result = z.safeParse(declared.body, body);
  return result.success ? [] : result.error.issues.slice(0, 10).map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.code}`);
}

/** The Azure Functions handler of an endpoint, running on the runtime `getRuntimeOf` returns. */
export function endpointHandler(endpoint: Endpoint, getRuntimeOf: () => Runtime = getRuntime): HttpHandler {
  return httpRoute(
    {
      name: endpoint.name,
      ...(endpoint.action !== undefined ? { action: endpoint.action } : {}),
      access: endpoint.access,
      failClosedAudit: endpoint.failClosedAudit,
      ...(endpoint.allowCodeQuery !== undefined ? { allowCodeQuery: endpoint.allowCodeQuery } : {}),
      ...(endpoint.headers !== undefined ? { headers: endpoint.headers } : {}),
      ...(endpoint.maxBodyBytes !== undefined ? { maxBodyBytes: endpoint.maxBodyBytes } : {}),
    },
    async function declaredEndpoint(scope): Promise<HttpResponseInit> {
      let input: Record<Part, unknown>;
      try {
        const { raw, queryErrors } = await rawInputs(endpoint, scope);
        const subject = subjectOf(endpoint, raw, queryErrors, scope.runtime.config.superOffice.environment, scope);
        if (subject !== undefined && scope.caller !== null && endpoint.access.kind === 'caller' && endpoint.access.operation !== null) {
          scope.annotate({ subject: { env: subject.env, ctx: subject.ctx, ...(subject.associateId !== undefined ? { associateId: subject.associateId } : {}) } });
          const declared = endpoint.subject;
          const otherwise = declared !== undefined && 'authorize' in declared && declared.authorize !== undefined
            ? await declared.authorize({ subject, caller: scope.caller, scope })
            : false;
          if (!otherwise) assertSubject(scope.runtime.policy, scope.caller, endpoint.access.operation, subject);
        }
        input = validate(endpoint, raw, queryErrors);
      } catch (thrown) {
        if (endpoint.invalidInputPage === undefined || !(thrown instanceof BrokerError) || thrown.code !== 'validation_failed') throw thrown;
        scope.annotate({ reason: thrown.code });
        return endpoint.invalidInputPage(scope, thrown);
      }
      const { path, query, headers, body } = input;
      const undeclared = (mismatches: readonly string[]): Error => {
        scope.log.error('response.undeclared', { operation: endpoint.name, detail: mismatches.join('; ') });
        return new Error(`${endpoint.name}: the response does not match its declaration`);
      };
      let response: HttpResponseInit;
      try {
        response = await endpoint.handler({ path, query, headers, body, caller: scope.caller, scope } as EndpointInput<RequestSchemas, Access>);
      } catch (thrown) {
        if (scope.runtime.validateResponses && thrown instanceof BrokerError && !errorCodesOf(endpoint).includes(thrown.code)) {
          throw undeclared([`problem code ${thrown.code} is not declared`]);
        }
        throw thrown;
      }
      const mismatches = scope.runtime.validateResponses ? responseMismatches(endpoint, response) : [];
      if (mismatches.length > 0) throw undeclared(mismatches);
      return response;
    },
    getRuntimeOf,
  );
}

/** Registers an endpoint with the Functions host (and the registry the dev host, the OpenAPI document and tests read). */
export function registerEndpoint<R extends RequestSchemas, A extends Access>(declaration: EndpointDeclaration<R, A>): HttpHandler {
  const endpoint = defineEndpoint(declaration);
  const handler = endpointHandler(endpoint);
  registerHttp(endpoint.name, { route: endpoint.route, methods: [endpoint.method], handler, endpoint });
  return handler;
}

/** Every endpoint registered so far, in registration order. */
export function listEndpoints(): Endpoint[] {
  return listFunctions().flatMap((f) => (f.kind === 'http' && f.endpoint !== undefined ? [f.endpoint] : []));
}
