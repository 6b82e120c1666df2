import { randomUUID } from 'node:crypto';
import type { HttpHandler, HttpMethod, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { AuditEntry, AuditOutcome } from '../audit/entry.js';
import { BrokerError, PROBLEM_CONTENT_TYPE, asBrokerError, toProblem } from '../errors/errors.js';
import type { Caller } from '../identity/caller.js';
import { callerDenialOf } from '../identity/denial.js';
import type { Operation } from '../identity/operations.js';
import type { Logger } from '../log/logger.js';
import type { Runtime } from '../runtime/runtime.js';

/**
 * The one HTTP wrapper (docs/architecture.md §3 `http/`): request id, function-key refusal, caller
 * authentication, deadline, body limits, security headers, error mapping to problem+json, and one
 * audit record per request written before the response leaves (fail-closed where required).
 */

/**
 * Who may call a route: nobody needs a token (`anonymous`), a caller granted `operation`, or
 * (`operation: null`) any valid caller token carrying at least one broker role (`/api/me`).
 */
export type Access = { readonly kind: 'anonymous' } | { readonly kind: 'caller'; readonly operation: Operation | null };

export interface RouteOptions {
  /** Function name; also the audit `action` unless `action` is given. */
  readonly name: string;
  readonly action?: string;
  readonly access: Access;
  /** Refuse to answer when the audit record cannot be written (tokens, consent, rights, actions). */
  readonly failClosedAudit: boolean;
  /** Only the consent callback receives `?code=` (the authorization code from SuperOffice). */
  readonly allowCodeQuery?: boolean;
  /** Extra security headers or overrides, e.g. a CSP for an HTML page. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly maxBodyBytes?: number;
}

/** What a route handler receives besides the raw request. */
export interface RequestScope {
  readonly request: HttpRequest;
  readonly context: InvocationContext;
  readonly requestId: string;
  /** Aborted when the request deadline passes; pass it to every outbound call. */
  readonly signal: AbortSignal;
  /** Milliseconds since epoch at which the deadline passes. */
  readonly deadline: number;
  /** The authenticated caller; `null` on anonymous routes. */
  readonly caller: Caller | null;
  readonly runtime: Runtime;
  readonly log: Logger;
  /** Adds facts to this request's audit record (subject, target, upstream status, fingerprints, flags). */
  annotate(this: void, facts: AuditAnnotations): void;
  /** Reads the body as JSON (415 unless `application/json`, 413 over the limit, 400 `invalid_json`); endpoint.ts validates it. */
  readJson(): Promise<unknown>;
  /** Reads the body as bytes, any media type (413 over the limit); empty when none was sent. */
  readBytes(): Promise<Buffer>;
}

export interface AuditAnnotations {
  readonly subject?: AuditEntry['subject'];
  readonly target?: string;
  readonly upstreamStatus?: number;
  readonly tokenFingerprints?: readonly string[];
  readonly flags?: readonly string[];
  readonly reason?: string;
}

export type RouteHandler = (scope: RequestScope) => Promise<HttpResponseInit>;

/** Headers on every response (docs/security.md §4, requirements 34 and 71). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Accepts an inbound request id only if short and safe; otherwise generates one. */
export function requestIdOf(request: HttpRequest): string {
  const inbound = request.headers.get('x-request-id') ?? request.headers.get('x-correlation-id');
  return inbound !== null && SAFE_REQUEST_ID.test(inbound) ? inbound : randomUUID();
}

function problemResponse(error: BrokerError, requestId: string): HttpResponseInit {
  const headers: Record<string, string> = { 'Content-Type': PROBLEM_CONTENT_TYPE };
  if (error.retryAfterSec !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(error.retryAfterSec)));
  if (error.status === 401) {
    headers['WWW-Authenticate'] = error.code === 'unauthenticated' && error.message !== 'Authentication required'
      ? 'Bearer realm="superoffice-token-broker", error="invalid_token"'
      : 'Bearer realm="superoffice-token-broker"';
  }
  if (error.status === 405 && Array.isArray(error.extensions?.['allow'])) {
    headers['Allow'] = (error.extensions['allow'] as string[]).join(', ');
  }
  return { status: error.status, headers, body: JSON.stringify(toProblem(error, requestId)) };
}

function withHeaders(response: HttpResponseInit, extra: Readonly<Record<string, string>>, requestId: string): HttpResponseInit {
  const headers = new Headers();
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) headers.set(k, v);
  for (const [k, v] of Object.entries(extra)) headers.set(k, v);
  if (response.headers !== undefined) {
    for (const [k, v] of new Headers(response.headers)) headers.set(k, v);
  }
  headers.set('x-request-id', requestId);
  const cookies = response.cookies;
  return { ...response, headers: Object.fromEntries(headers), ...(cookies ? { cookies } : {}) };
}

async function readBody(request: HttpRequest, maxBytes: number): Promise<Buffer> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) throw new BrokerError('payload_too_large');
  const bytes = Buffer.from(await request.arrayBuffer());
  if (bytes.byteLength > maxBytes) throw new BrokerError('payload_too_large');
  return bytes;
}

function outcomeOf(status: number): AuditOutcome {
  if (status < 400) return 'allow';
  if (status === 401 || status === 403) return 'deny';
  return status >= 500 ? 'error' : 'deny';
}

/** Wraps a route handler into an Azure Functions `HttpHandler` with the broker's cross-cutting behaviour. */
export function httpRoute(options: RouteOptions, handler: RouteHandler, getRuntime: () => Runtime): HttpHandler {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const action = options.action ?? options.name;

  return async function brokerHttpHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const started = Date.now();
    const requestId = requestIdOf(request);
    let runtime: Runtime;
    try {
      runtime = getRuntime();
    } catch (error) {
      // Configuration errors stop start-up elsewhere; a request that still arrives gets a generic 500.
      return withHeaders(problemResponse(asBrokerError(error), requestId), options.headers ?? {}, requestId);
    }
    const log = runtime.logger.child({ requestId, functionName: options.name, invocationId: context.invocationId });
    const deadline = started + runtime.config.requestDeadlineMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new BrokerError('deadline_exceeded')), runtime.config.requestDeadlineMs);
    timer.unref?.();

    let caller: Caller | null = null;
    let roleUsed: string | undefined;
    const annotations: { -readonly [K in keyof AuditAnnotations]: AuditAnnotations[K] } = {};

    const scope: RequestScope = {
      request,
      context,
      requestId,
      signal: controller.signal,
      deadline,
      get caller() {
        return caller;
      },
      runtime,
      log,
      annotate(facts) {
        Object.assign(annotations, facts);
      },
      async readJson(): Promise<unknown> {
        const type = request.headers.get('content-type') ?? '';
        if (!/^application\/(?:[a-z0-9.+-]*\+)?json\s*(?:;|$)/i.test(type)) {
          throw new BrokerError('unsupported_media_type', 'Send the body as application/json');
        }
        const text = (await readBody(request, maxBody)).toString('utf8');
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new BrokerError('invalid_json');
        }
      },
      readBytes: () => readBody(request, maxBody),
    };

    let response: HttpResponseInit;
    let reason = 'ok';
    try {
      if (!options.allowCodeQuery && request.query.has('code')) {
        // Function keys in the query string end up in logs; they are never accepted (requirement 14).
        throw new BrokerError('function_key_in_query', 'Remove the code query parameter; the broker authenticates callers with Entra ID bearer tokens');
      }
      if (options.access.kind === 'caller') {
        const authorized = await runtime.guard.authenticate(request, options.access.operation);
        caller = authorized.caller;
        roleUsed = authorized.roleUsed;
      }
      // While the last audit write failed, fail-closed routes refuse before acting (mission: "refuses to act
      // if it cannot write one"); the refusal's own audit write is the probe, and its success re-opens them.
      if (options.failClosedAudit && runtime.auditTrail.failing) {
        throw new BrokerError('audit_unavailable', undefined, { retryAfterSec: 5 });
      }
      const deadlineReached = new Promise<never>((_, reject) => {
        controller.signal.addEventListener('abort', () => reject(new BrokerError('deadline_exceeded')), { once: true });
      });
      response = await Promise.race([handler(scope), deadlineReached]);
    } catch (thrown) {
      const error = asBrokerError(thrown);
      reason = error.code;
      const denial = callerDenialOf(thrown);
      if (denial !== undefined) {
        // The audit record names who was refused and why (fixed message to the caller, reason internal).
        caller ??= denial.caller;
        reason = denial.reason;
      }
      if (error.code === 'internal') {
        const cause = (error as { cause?: unknown }).cause;
        log.error('request.failed', { errorName: cause instanceof Error ? cause.name : typeof cause, errorCode: error.code });
      }
      response = problemResponse(error, requestId);
    } finally {
      clearTimeout(timer);
    }

    const status = response.status ?? 200;
    const entry: AuditEntry = {
      correlationId: requestId,
      caller,
      roleUsed,
      subject: annotations.subject ?? {},
      action,
      target: annotations.target ?? `${request.method as HttpMethod} ${new URL(request.url).pathname}`,
      outcome: outcomeOf(status),
      reason: annotations.reason ?? reason,
      httpStatus: status,
      upstreamStatus: annotations.upstreamStatus,
      latencyMs: Date.now() - started,
      functionName: options.name,
      ...(annotations.tokenFingerprints ? { tokenFingerprints: annotations.tokenFingerprints } : {}),
      ...(annotations.flags ? { flags: annotations.flags } : {}),
    };
    try {
      await runtime.audit.record(entry);
      runtime.auditTrail.failing = false;
    } catch {
      runtime.auditTrail.failing = true;
      log.error('audit.write_failed', { operation: action, status });
      if (options.failClosedAudit) {
        // Fail-closed (requirement 58): nothing computed for this request leaves the broker.
        response = problemResponse(new BrokerError('audit_unavailable', undefined, { retryAfterSec: 5 }), requestId);
      }
    }
    log.info('request', { method: request.method, path: new URL(request.url).pathname, status: response.status ?? 200, durationMs: Date.now() - started, reason: entry.reason });
    return withHeaders(response, options.headers ?? {}, requestId);
  };
}
