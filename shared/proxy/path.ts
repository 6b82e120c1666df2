import { BrokerError } from '../errors/errors.js';

/**
 * The path a proxied call names, after `/api/superoffice/{ctx}/{actAs}/` (docs/acting.md §2). The broker
 * builds the upstream URL itself from the tenant's Web API base; the caller only names a path under it,
 * which must start with `v1/` and is refused (400 `invalid_proxy_path`) when it could mean anything other
 * than what the policy is checked against: dot segments, empty segments, encoded slashes or backslashes,
 * control characters, malformed percent-encoding, a scheme or host, or too many bytes.
 */

/** Longest raw path (after the proxy prefix) plus query string accepted, in bytes. */
export const MAX_PROXY_PATH_BYTES = 2048;

export interface ProxyPath {
  /** The decoded segments, e.g. `['v1', 'Contact', '5']`: what the policy patterns match. */
  readonly segments: readonly string[];
  /** The decoded path joined with `/`, e.g. `v1/Contact/5` (for policy matching and the audit record). */
  readonly path: string;
  /** The path re-encoded canonically, to append to the Web API base. */
  readonly encoded: string;
  /** The query string as received, including its leading `?`, or `''`. */
  readonly search: string;
}

function refuse(detail: string): BrokerError {
  return new BrokerError('invalid_proxy_path', detail);
}

// Encoded '/', '\' and control characters (incl. NUL and DEL) change what a segment means downstream.
const FORBIDDEN_ENCODED = /%(?:2f|5c|[01][0-9a-f]|7f)/i;
// Raw characters a URL path must not carry here: controls, space, backslash and anything outside ASCII
// (a conforming client percent-encodes them; the host normally has done so already).
const FORBIDDEN_RAW = /[\u0000-\u0020\u007f-\uffff\\]/;
// What may stay unencoded in a canonical segment (RFC 3986 pchar minus ':' and '@', which we encode).
const SEGMENT_SAFE = /[A-Za-z0-9\-._~!$&'()*+,;=]/;

function encodeSegment(segment: string): string {
  let out = '';
  for (const ch of segment) out += SEGMENT_SAFE.test(ch) ? ch : encodeURIComponent(ch);
  return out;
}

/**
 * Validates and normalises the raw (still percent-encoded) path and query of a proxied call.
 * Throws `invalid_proxy_path` (400) with a reason that never echoes more than the rule broken.
 */
export function parseProxyPath(rawPath: string, rawSearch = ''): ProxyPath {
  if (Buffer.byteLength(rawPath, 'utf8') + Buffer.byteLength(rawSearch, 'utf8') > MAX_PROXY_PATH_BYTES) {
    throw refuse(`The path and query may be at most ${MAX_PROXY_PATH_BYTES} bytes`);
  }
  if (FORBIDDEN_RAW.test(rawPath) || FORBIDDEN_RAW.test(rawSearch)) {
    throw refuse('The path or query contains a backslash, a space, a control or a non-ASCII character');
  }
  if (FORBIDDEN_ENCODED.test(rawPath)) {
    throw refuse('The path contains an encoded slash, backslash or control character');
  }
  if (/%(?:[01][0-9a-f]|7f)/i.test(rawSearch) || rawSearch.includes('#')) {
    throw refuse('The query contains an encoded control character');
  }
  if (rawSearch !== '' && !rawSearch.startsWith('?')) throw refuse('The query must start with ?');
  const rawSegments = rawPath.split('/');
  const segments: string[] = [];
  for (const raw of rawSegments) {
    if (raw === '') throw refuse('The path has an empty segment (leading, trailing or double slash)');
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      throw refuse('The path has malformed percent-encoding');
    }
    if (decoded === '.' || decoded === '..') throw refuse('The path has a dot segment');
    segments.push(decoded);
  }
  if (segments[0] !== 'v1' || segments.length < 2) {
    throw refuse('The path must start with v1/ (relative to the tenant\'s Web API, e.g. v1/Contact/5)');
  }
  const path = segments.join('/');
  return { segments, path, encoded: segments.map(encodeSegment).join('/'), search: rawSearch === '?' ? '' : rawSearch };
}

/**
 * The upstream URL for a proxied path under the tenant's Web API base (e.g.
 * `https://sod2.superoffice.com/Cust12345/api/`). Throws `invalid_proxy_path` if the result would leave
 * the base (it cannot after `parseProxyPath`; this is the second lock on the same door).
 */
export function upstreamUrlOf(webApiBase: string, proxyPath: ProxyPath): URL {
  const base = new URL(webApiBase.endsWith('/') ? webApiBase : `${webApiBase}/`);
  const url = new URL(`${base.href}${proxyPath.encoded}${proxyPath.search}`);
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname) || url.username !== '' || url.password !== '') {
    throw refuse('The path does not stay under the tenant\'s Web API');
  }
  return url;
}
