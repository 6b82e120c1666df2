/**
 * Small HTTP helpers for the simulator: bounded body reading, JSON/HTML/text responses, form parsing,
 * HTML escaping and the request context handed to every endpoint module.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, SimulatorStore } from './store.js';
import type { SigningKeys } from './keys.js';
import type { SimulatorCounters } from './counters.js';

/** Largest request body the simulator reads (larger → 413). */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

export type SimulatorLog = (message: string, fields?: Record<string, unknown>) => void;

/** Which of the simulator's two host names a request came in on. */
export type HostRole = 'auth' | 'api';

/** Shared dependencies of the endpoint modules. */
export interface SimContext {
  readonly url: string;
  readonly apiHostUrl: string;
  readonly store: SimulatorStore;
  readonly keys: SigningKeys;
  readonly counters: SimulatorCounters;
  readonly now: Clock;
  readonly log: SimulatorLog;
}

/** One parsed request as the router hands it on. */
export interface SimRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly url: URL;
  readonly host: HostRole;
}

export class BodyTooLargeError extends Error {
  constructor() {
    super('request body too large');
    this.name = 'BodyTooLargeError';
  }
}

/** Reads the whole body, refusing more than `limit` bytes. */
export async function readBody(req: IncomingMessage, limit = MAX_REQUEST_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > limit) throw new BodyTooLargeError();
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  if (Array.isArray(value)) return value[0];
  return value;
}

/** The media type of the request without parameters, lower-cased ('' if absent). */
export function mediaType(req: IncomingMessage): string {
  return (headerValue(req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(body.length),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(text, 'utf8');
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(body.length),
    ...headers,
  });
  res.end(body);
}

/** Security headers for every HTML page (requirement 34 style; no third-party resources). */
export function htmlHeaders(cspNonce: string, formActions: readonly string[] = ["'self'"]): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': [
      "default-src 'none'",
      `style-src 'nonce-${cspNonce}'`,
      `script-src 'nonce-${cspNonce}'`,
      `form-action ${formActions.join(' ')}`,
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join('; '),
  };
}

export function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string>): void {
  const body = Buffer.from(html, 'utf8');
  res.writeHead(status, { ...headers, 'Content-Length': String(body.length) });
  res.end(body);
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Parsed `application/x-www-form-urlencoded` parameters; duplicated names are reported, not merged. */
export interface FormParams {
  readonly values: Map<string, string>;
  readonly duplicates: string[];
}

export function parseForm(text: string): FormParams {
  const values = new Map<string, string>();
  const duplicates: string[] = [];
  for (const [name, value] of new URLSearchParams(text)) {
    if (values.has(name)) duplicates.push(name);
    else values.set(name, value);
  }
  return { values, duplicates };
}

/** Parses JSON from bytes, returning `undefined` for anything that is not valid JSON. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `new Date(ms).toISOString()` with seven fractional digits, as .NET writes round-trip timestamps. */
export function dotNetTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

/** True for loopback host names (http is allowed only for these). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/** Parses a positive 32-bit integer path segment, or undefined. */
export function parseId(segment: string | undefined): number | undefined {
  if (segment === undefined || !/^[1-9]\d{0,9}$/.test(segment)) return undefined;
  const n = Number(segment);
  return n <= 2_147_483_647 ? n : undefined;
}

/** `decodeURIComponent` that returns undefined instead of throwing on a malformed escape. */
export function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
