import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import azureFunctions, { type Cookie, type HttpMethod, type HttpResponse } from '@azure/functions';
import { stringifySetCookie } from 'cookie';
import type { HttpFunctionDefinition } from '../../shared/runtime/registry.js';
import { createInvocationContext, type DevHostLog } from './invocation.js';
import { comparePrecedence, parseRouteTemplate, RouteTemplateError, withRoutePrefix, type RouteTemplate } from './routeTemplate.js';

/**
 * HTTP triggers: the route table (prefix + templates + methods), and one invocation: a real
 * `HttpRequest` and `InvocationContext` in, the handler's `HttpResponseInit` (or `HttpResponse`)
 * written back as the host does without HTTP streaming: status, headers, cookies, buffered body.
 */

export interface HttpRoute {
  readonly definition: HttpFunctionDefinition;
  readonly template: RouteTemplate;
  /** Upper-case methods; empty means every method. */
  readonly methods: ReadonlySet<string>;
}

export type RouteResolution =
  | { readonly kind: 'found'; readonly route: HttpRoute; readonly params: Record<string, string> }
  | { readonly kind: 'method_not_allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not_found' };

/** Segments the real host keeps for itself when the route prefix is empty. */
const RESERVED_FIRST_SEGMENTS = new Set(['admin', 'runtime']);

/** Builds the route table; throws `RouteTemplateError` for an invalid or unsupported template. */
export function buildRouteTable(functions: readonly HttpFunctionDefinition[], routePrefix: string): HttpRoute[] {
  return functions.map((definition) => {
    let template: RouteTemplate;
    try {
      template = parseRouteTemplate(withRoutePrefix(routePrefix, definition.route));
    } catch (error) {
      if (error instanceof RouteTemplateError) throw new RouteTemplateError(`Function "${definition.name}": ${error.message}`);
      throw error;
    }
    const first = withRoutePrefix(routePrefix, definition.route).split('/')[0]?.toLowerCase() ?? '';
    if (RESERVED_FIRST_SEGMENTS.has(first)) {
      throw new RouteTemplateError(`Function "${definition.name}": routes starting with "${first}" are reserved by the host`);
    }
    return { definition, template, methods: new Set(definition.methods.map((m) => m.toUpperCase())) };
  });
}

function allows(route: HttpRoute, method: string): boolean {
  return route.methods.size === 0 || route.methods.has(method) || (method === 'HEAD' && route.methods.has('GET'));
}

/** Finds the most specific route for a raw path; 405 when only the method is wrong. */
export function resolveRoute(table: readonly HttpRoute[], method: string, path: string): RouteResolution {
  const matches: { route: HttpRoute; params: Record<string, string> }[] = [];
  for (const route of table) {
    const params = route.template.match(path);
    if (params !== undefined) matches.push({ route, params });
  }
  if (matches.length === 0) return { kind: 'not_found' };
  const allowed = matches.filter((m) => allows(m.route, method.toUpperCase()));
  if (allowed.length === 0) {
    const allow = new Set<string>();
    for (const { route } of matches) {
      for (const m of route.methods) allow.add(m);
      if (route.methods.has('GET')) allow.add('HEAD');
    }
    return { kind: 'method_not_allowed', allow: [...allow].sort() };
  }
  allowed.sort((a, b) => comparePrecedence(a.route.template, b.route.template));
  const best = allowed[0]!;
  return { kind: 'found', route: best.route, params: best.params };
}

/** Request headers as one string per name (repeated headers joined as Node and the host join them). */
export function requestHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/**
 * The query as the host hands it to a Node worker (without HTTP streaming): one string per name, a
 * repeated name's values joined with commas (`?a=1&a=2` gives `a=1,2`; azure-functions-nodejs-library#168).
 */
export function requestQuery(search: URLSearchParams): Record<string, string> {
  const query: Record<string, string> = {};
  for (const name of new Set(search.keys())) query[name] = search.getAll(name).join(',');
  return query;
}

/** Response headers a host never forwards from a worker (hop-by-hop), as the Node library's HTTP proxy. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade']);

function serializeCookie(cookie: Cookie): string {
  const sameSite = cookie.sameSite === undefined ? undefined : (cookie.sameSite.toLowerCase() as 'lax' | 'strict' | 'none');
  return stringifySetCookie(cookie.name, cookie.value, {
    ...(cookie.domain !== undefined ? { domain: cookie.domain } : {}),
    ...(cookie.path !== undefined ? { path: cookie.path } : {}),
    ...(cookie.expires !== undefined ? { expires: typeof cookie.expires === 'number' ? new Date(cookie.expires) : cookie.expires } : {}),
    ...(cookie.maxAge !== undefined ? { maxAge: cookie.maxAge } : {}),
    ...(cookie.secure !== undefined ? { secure: cookie.secure } : {}),
    ...(cookie.httpOnly !== undefined ? { httpOnly: cookie.httpOnly } : {}),
    ...(sameSite !== undefined ? { sameSite } : {}),
  });
}

/** Writes a handler's response: status, headers (multi-valued kept), `Set-Cookie` for `cookies`, buffered body. */
export async function writeFunctionResponse(res: ServerResponse, response: HttpResponse): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  const connection = response.headers.get('connection');
  const listed = new Set((connection ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== ''));
  for (const [name, value] of response.headers) {
    if (name === 'set-cookie' || name === 'content-length' || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    res.setHeader(name, value);
  }
  const setCookies = [...response.headers.getSetCookie(), ...response.cookies.map(serializeCookie)];
  if (setCookies.length > 0) res.setHeader('Set-Cookie', setCookies);
  res.statusCode = response.status;
  const bodyless = response.status === 204 || response.status === 304 || (response.status >= 100 && response.status < 200);
  if (!bodyless) res.setHeader('Content-Length', body.length);
  res.end(bodyless ? undefined : body);
}

export interface InvokeHttpOptions {
  readonly route: HttpRoute;
  readonly params: Record<string, string>;
  readonly url: string;
  readonly body: Buffer;
  readonly log: DevHostLog;
}

/** Calls the function's handler and returns its response; throws what the handler throws. */
export async function invokeHttpFunction(req: IncomingMessage, options: InvokeHttpOptions): Promise<HttpResponse> {
  const { definition } = options.route;
  const method = (req.method ?? 'GET').toUpperCase();
  const request = new azureFunctions.HttpRequest({
    method,
    url: options.url,
    headers: requestHeaders(req),
    query: requestQuery(new URL(options.url).searchParams),
    params: options.params,
    ...(options.body.length > 0 && method !== 'GET' && method !== 'HEAD' ? { body: { bytes: options.body } } : {}),
  });
  const context = createInvocationContext({
    invocationId: randomUUID(),
    functionName: definition.name,
    trigger: {
      type: 'httpTrigger',
      name: 'request',
      route: definition.route,
      methods: [...definition.methods] as HttpMethod[],
      authLevel: 'anonymous',
    },
    log: options.log,
  });
  const result = await definition.handler(request, context);
  if (result instanceof azureFunctions.HttpResponse) return result;
  // A handler that returns nothing answers 204 No Content.
  return new azureFunctions.HttpResponse(result ?? { status: 204 });
}
