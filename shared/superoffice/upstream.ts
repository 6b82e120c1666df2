import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Transform } from 'node:stream';
import { constants as zlibConstants, createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { BrokerError } from '../errors/errors.js';
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

/** One request as a transport sends it: the URL is parsed, the signal already combines timeout and caller. */
export interface TransportRequest {
  readonly method: UpstreamRequest['method'];
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array<ArrayBuffer>;
  /** Aborting it ends the exchange at once, whatever phase it is in. */
  readonly signal: AbortSignal;
  /** Largest body read. */
  readonly maxBytes: number;
}

/** A transport's answer: status and headers as received; `body` is undefined when it was over `maxBytes` (the rest was not read). */
export interface TransportResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer | undefined;
}

/**
 * Sends one request and reads its bounded body. It never follows a redirect and throws the raw failure;
 * `sendUpstreamBytes` classifies it (a `code` such as ECONNREFUSED on the error or its causes means the
 * request was never written; anything while the signal is aborted is a timeout).
 */
export type UpstreamTransport = (request: TransportRequest) => Promise<TransportResponse>;

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

/** A transport over a `fetch` (manual redirects, body read up to the bound): how tests put a fake upstream in place. */
export function fetchTransport(fetchImpl: typeof fetch): UpstreamTransport {
  return async ({ method, url, headers, body, signal, maxBytes }) => {
    const response = await fetchImpl(url, { method, headers, body, redirect: 'manual', signal });
    return { status: response.status, headers: response.headers, body: await readBounded(response, maxBytes) };
  };
}

async function readBounded(response: Response, maxBytes: number): Promise<Buffer | undefined> {
  const declared = response.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.body === null) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

export interface NodeHttpTransportOptions {
  /** Connections per host and protocol; calls beyond it wait for a free one. */
  readonly maxSockets?: number;
  /** How long an idle kept-alive connection stays open (shorter if the server's `Keep-Alive: timeout` says so). */
  readonly idleSocketMs?: number;
  /** Trusted roots in place of Node's bundled ones (a test against a self-signed local server); verification itself is never turned off. */
  readonly ca?: string;
}

/**
 * What `fetch` sends when the caller does not say, so SuperOffice negotiates the same answer: compressed
 * where it compresses, decoded here as fetch decodes it (`decoderFor`).
 */
const DEFAULT_REQUEST_HEADERS: Readonly<Record<string, string>> = Object.freeze({ accept: '*/*', 'accept-language': '*', 'accept-encoding': 'gzip, deflate', 'user-agent': 'node' });

/**
 * A decoder for the answer's `Content-Encoding` when it is one coding fetch decodes (gzip, deflate, br),
 * lenient about a truncated end as undici is; undefined for no coding, several, or one it does not know
 * (those bytes are returned as received, as fetch returns them). Answers without a body are never decoded.
 */
function decoderFor(method: string, status: number, encoding: string | undefined): Transform | undefined {
  if (encoding === undefined || method === 'HEAD' || status === 204 || status === 304) return undefined;
  const sync = { flush: zlibConstants.Z_SYNC_FLUSH, finishFlush: zlibConstants.Z_SYNC_FLUSH };
  switch (encoding.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip(sync);
    case 'deflate':
      return createInflate(sync);
    case 'br':
      return createBrotliDecompress({ flush: zlibConstants.BROTLI_OPERATION_FLUSH, finishFlush: zlibConstants.BROTLI_OPERATION_FLUSH });
    default:
      return undefined;
  }
}
const PAYLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * A transport over `node:http`/`node:https` with keep-alive agents of its own (measured: about 0.2 ms
 * less CPU per small call than `fetch`). Same contract as `fetchTransport`: no redirects followed, TLS verified as Node
 * does by default, the body bounded by Content-Length and by the bytes read (an oversized response's
 * connection is destroyed, not drained), an abort ends the call in any phase.
 */
export function createNodeHttpTransport(options: NodeHttpTransportOptions = {}): UpstreamTransport {
  // Idle connections close after 4 s unless the server hints otherwise, as undici (fetch) does.
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 256, timeout: options.idleSocketMs ?? 4000 };
  const agents = { 'http:': new HttpAgent(agentOptions), 'https:': new HttpsAgent({ ...agentOptions, ...(options.ca !== undefined ? { ca: options.ca } : {}) }) };
  return (request) => new Promise<TransportResponse>((resolve, reject) => {
    const { url, signal, maxBytes } = request;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`Unsupported protocol ${url.protocol}`);
    if (url.username !== '' || url.password !== '') throw new TypeError('A request URL must not include credentials');
    if (signal.aborted) throw abortReason(signal);
    const headers: Record<string, string> = { ...DEFAULT_REQUEST_HEADERS };
    for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
    let payload: Uint8Array | undefined;
    if (request.body !== undefined) {
      if (request.method === 'GET') throw new TypeError('Request with GET method cannot have body');
      if (typeof request.body === 'string') {
        payload = Buffer.from(request.body, 'utf8');
        headers['content-type'] ??= 'text/plain;charset=UTF-8';
      } else {
        payload = request.body;
      }
    }
    const length = payload?.byteLength ?? 0;
    if (length > 0 || PAYLOAD_METHODS.has(request.method)) headers['content-length'] = String(length);

    let settled = false;
    let response: IncomingMessage | undefined;
    const onAbort = () => {
      fail(abortReason(signal));
      req.destroy();
      response?.destroy();
    };
    function finish(): boolean {
      if (settled) return false;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      return true;
    }
    function fail(error: Error): void {
      if (finish()) reject(error);
    }
    function succeed(answer: TransportResponse): void {
      if (finish()) resolve(answer);
    }

    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: request.method, headers, agent: agents[url.protocol] }, (res) => {
      response = res;
      res.on('error', fail);
      // A response that closes before its end is reported by 'error' first; this catches any other early close.
      res.on('close', () => {
        if (!res.complete) fail(Object.assign(new Error('The response closed before its end'), { code: 'ECONNRESET' }));
      });
      let responseHeaders: Headers;
      try {
        responseHeaders = headersOf(res.rawHeaders);
      } catch (error) {
        fail(error instanceof Error ? error : new TypeError('The response headers are not valid'));
        res.destroy();
        return;
      }
      const status = res.statusCode ?? 0;
      const declared = res.headers['content-length'];
      if (declared !== undefined && Number(declared) > maxBytes) {
        succeed({ status, headers: responseHeaders, body: undefined });
        res.destroy();
        return;
      }
      // The bound counts decoded bytes, so a small compressed answer cannot expand past it.
      const decoder = decoderFor(request.method, status, res.headers['content-encoding']);
      const source = decoder === undefined ? res : res.pipe(decoder);
      decoder?.on('error', fail);
      const chunks: Buffer[] = [];
      let total = 0;
      source.on('data', (chunk: Buffer) => {
        total += chunk.byteLength;
        if (total > maxBytes) {
          succeed({ status, headers: responseHeaders, body: undefined });
          res.destroy();
          decoder?.destroy();
          return;
        }
        chunks.push(chunk);
      });
      source.on('end', () => succeed({ status, headers: responseHeaders, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total) }));
    });
    req.on('error', fail);
    signal.addEventListener('abort', onAbort, { once: true });
    req.end(payload);
  });
}

/** Why the signal was aborted, as an Error (the reason given, or an AbortError). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}

/** The response headers in arrival order; a repeated header (Set-Cookie among them) is appended, not merged away. */
function headersOf(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

/** `node:http`/`node:https`, one pair of keep-alive agents for the process. */
export const nodeHttpTransport: UpstreamTransport = createNodeHttpTransport();

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
