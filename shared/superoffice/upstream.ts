import { BrokerError } from '../errors/errors.js';
import { fetchTransport, nodeHttpTransport, type HttpTransport, type TransportResponse } from '../net/httpTransport.js';
import { parseRetryAfter } from '../resilience/retryAfter.js';
import { isAllowedApiUrl, isListedHost } from './apiHosts.js';

/**
 * The boundary for every outbound SuperOffice call: host allow-list (requirement 17), a per-hop
 * timeout combined with the caller's deadline (49), a bounded body (55), and one translation of
 * transport failures into broker errors that carry only method, host, path and status (68). The bytes
 * move through an `UpstreamTransport`: `defaultTransport` (node:http/https with keep-alive, or a replaced global `fetch`),
 * `fetchTransport` over an injected `fetch` where a test fakes SuperOffice.
 */

export const MAX_UPSTREAM_BODY_BYTES = 64 * 1024;

export interface UpstreamRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array<ArrayBuffer>;
  readonly signal?: AbortSignal;
  readonly timeoutMs: number;
  /** Largest response body read; default MAX_UPSTREAM_BODY_BYTES. */
  readonly maxBodyBytes?: number;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The body as text, at most MAX_UPSTREAM_BODY_BYTES. */
  readonly text: string;
  /** `Retry-After` in seconds (delta-seconds or HTTP-date), when present and valid. */
  readonly retryAfterSec: number | undefined;
}

/** Where a failed upstream call went, safe to log: never a query string, header or body. */
export interface UpstreamTarget {
  readonly method: string;
  readonly host: string;
  readonly path: string;
}

/** Thrown when the upstream could not be reached or did not answer in time; `sent` says whether the request left. */
export class UpstreamTransportError extends BrokerError {
  override readonly name = 'UpstreamTransportError';
  constructor(
    code: 'upstream_unavailable' | 'upstream_timeout',
    readonly target: UpstreamTarget,
    /** False only when the connection failed before the request was written (requirement 33). */
    readonly sent: boolean,
    cause: unknown,
  ) {
    super(code, `${target.method} ${target.host}${target.path} failed`, { cause });
  }
}

export function targetOf(method: string, url: URL): UpstreamTarget {
  return { method, host: url.host, path: url.pathname };
}

const PRE_SEND_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Throws `upstream_bad_response` unless `url` may receive a SuperOffice credential (requirement 17):
 * `isAllowedApiUrl` for Web API calls, or, with `exact`, only the listed hosts (authentication never
 * goes to a numbered host, docs/superoffice.md §0).
 */
export function assertAllowedHost(url: URL, allowedHosts: readonly string[], options: { readonly exact?: boolean } = {}): void {
  const allowed = options.exact === true ? isListedHost(url, allowedHosts) : isAllowedApiUrl(url, allowedHosts);
  if (!allowed) {
    throw new BrokerError('upstream_bad_response', `Refusing to send a request to ${url.host}: not an allowed SuperOffice host`);
  }
}

/** An upstream answer with its body as bytes (`sendUpstreamBytes`). */
export interface UpstreamBytesResponse extends Omit<UpstreamResponse, 'text'> {
  readonly body: Buffer;
}

/** How SuperOffice calls are sent (`shared/net/httpTransport.ts`). */
export type UpstreamTransport = HttpTransport;

/** Sends one request with a timeout and a bounded body; throws `UpstreamTransportError` or `upstream_bad_response` (oversized body). */
export async function sendUpstreamBytes(request: UpstreamRequest, transport: UpstreamTransport = defaultTransport): Promise<UpstreamBytesResponse> {
  const url = new URL(request.url);
  const target = targetOf(request.method, url);
  const maxBytes = request.maxBodyBytes ?? MAX_UPSTREAM_BODY_BYTES;
  // One controller for the per-hop timeout and the caller's signal, released when the call ends
  // (cheaper under load than AbortSignal.timeout + AbortSignal.any, whose timers and links outlive the call).
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('The upstream call timed out', 'TimeoutError')), request.timeoutMs);
  const onAbort = () => controller.abort(request.signal?.reason);
  if (request.signal?.aborted) onAbort();
  else request.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  try {
    return await exchange(request, url, target, maxBytes, signal, transport);
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener('abort', onAbort);
  }
}

async function exchange(request: UpstreamRequest, url: URL, target: UpstreamTarget, maxBytes: number, signal: AbortSignal, transport: UpstreamTransport): Promise<UpstreamBytesResponse> {
  let response: TransportResponse;
  try {
    response = await transport({ method: request.method, url, headers: request.headers, body: request.body, signal, maxBytes });
  } catch (error) {
    const timedOut = signal.aborted;
    const code = causeCode(error);
    const sent = !(code !== undefined && PRE_SEND_CODES.has(code));
    throw new UpstreamTransportError(timedOut ? 'upstream_timeout' : 'upstream_unavailable', target, timedOut || sent, error);
  }
  if (response.body === undefined) {
    throw new BrokerError('upstream_bad_response', `${target.method} ${target.host}${target.path} answered with a body over ${maxBytes} bytes`);
  }
  return { status: response.status, headers: response.headers, body: response.body, retryAfterSec: parseRetryAfter(response.headers.get('retry-after')) };
}

/** `sendUpstreamBytes` with the body decoded as UTF-8 text. */
export async function sendUpstream(request: UpstreamRequest, transport: UpstreamTransport = defaultTransport): Promise<UpstreamResponse> {
  const { body, ...rest } = await sendUpstreamBytes(request, transport);
  return { ...rest, text: body.toString('utf8') };
}

/** The process's own `fetch`, as it was when this module loaded. */
const originalFetch = globalThis.fetch;

/**
 * The default transport: `nodeHttpTransport`, unless the process's global `fetch` has been replaced (a test
 * double or an instrumentation wrapper set with `globalThis.fetch = …`); then calls go through that `fetch`,
 * as every SuperOffice call did before this transport existed.
 */
export const defaultTransport: UpstreamTransport = (request) =>
  globalThis.fetch === originalFetch ? nodeHttpTransport(request) : fetchTransport(globalThis.fetch)(request);

/** Parses a JSON body, or throws `upstream_bad_response`. */
export function parseJsonBody(response: UpstreamResponse, what: string): unknown {
  try {
    return JSON.parse(response.text) as unknown;
  } catch {
    throw new BrokerError('upstream_bad_response', `${what} answered with a body that is not JSON (HTTP ${response.status})`);
  }
}
