import { BrokerError } from '../errors/errors.js';

import * as z from 'zod/mini';

/**
 * The path a proxied call names, after `/api/superoffice/{ctx}/{actAs}/` (docs/acting.md §2): the route's
 * `{*path}` value, which the Functions host has already percent-decoded (all but `%2F`) and whose `.`/`..`
 * segments its URL handling has already resolved. The broker builds the upstream URL itself from the
 * tenant's Web API base; the caller only names a path under it, which must start with `v1/` and is
 * refused (400) when it could mean anything other than what the policy is checked against: dot
 * segments, empty segments, an encoded slash or backslash (`%2F`, `%5C`), a backslash, control
 * characters, or more than `MAX_PROXY_PATH_BYTES`. A scheme or host cannot appear: the first segment is
 * `v1`. Segments are never decoded a second time; each is re-encoded for the upstream URL.
 */

/** Longest path (after the proxy prefix) accepted, in bytes; the query string has the same bound. */
export const MAX_PROXY_PATH_BYTES = 2048;

/** The rule as one ECMAScript pattern (published in the OpenAPI document and used by the schema). */
export const PROXY_PATH_PATTERN = '^(?![\\s\\S]*%(?:2[fF]|5[cC]))(?![\\s\\S]*/\\.{1,2}(?:/|$))v1(?:/[^/\\\\\\u0000-\\u001f\\u007f]+)+$';
const PROXY_PATH = new RegExp(PROXY_PATH_PATTERN);

/** `{*path}` of a proxy route, as the zod schema every proxy declaration uses. */
export const ProxyPathParam = z.string().check(
  z.maxLength(MAX_PROXY_PATH_BYTES),
  z.regex(PROXY_PATH, { error: 'must be a Web API path under the tenant such as v1/Contact/5: starting with v1/, without empty, "." or ".." segments, backslashes, %2F, %5C or control characters' }),
);

export interface ProxyPath {
  /** The segments, e.g. `['v1', 'Contact', '5']`: what the policy patterns match. */
  readonly segments: readonly string[];
  /** The segments joined with `/`, e.g. `v1/Contact/5` (for policy matching and the audit record). */
  readonly path: string;
  /** The path re-encoded canonically, to append to the Web API base. */
  readonly encoded: string;
  /** The query string as received (still encoded), including its leading `?`, or `''`. */
  readonly search: string;
}

function refuse(detail: string): BrokerError {
  return new BrokerError('invalid_proxy_path', detail);
}

// What may stay unencoded in a canonical segment (RFC 3986 pchar minus ':' and '@', which we encode).
const SEGMENT_SAFE = /[A-Za-z0-9\-._~!$&'()*+,;=]/;

function encodeSegment(segment: string): string {
  let out = '';
  for (const ch of segment) out += SEGMENT_SAFE.test(ch) ? ch : encodeURIComponent(ch);
  return out;
}

/** Controls, space, DEL and `#`: never part of a query string as the host passes it on. */
function isUnsafeQueryCharacter(ch: string): boolean {
  const code = ch.charCodeAt(0);
  return code <= 0x20 || code === 0x7f || ch === '#';
}

/**
 * Validates the decoded `{*path}` value and the raw query string of a proxied call. Throws
 * `invalid_proxy_path` (400) naming the rule broken, never echoing the input.
 */
export function parseProxyPath(path: string, rawSearch = ''): ProxyPath {
  if (Buffer.byteLength(path, 'utf8') > MAX_PROXY_PATH_BYTES || Buffer.byteLength(rawSearch, 'utf8') > MAX_PROXY_PATH_BYTES) {
    throw refuse(`The path and the query may each be at most ${MAX_PROXY_PATH_BYTES} bytes`);
  }
  if (!PROXY_PATH.test(path)) {
    throw refuse('The path must start with v1/ and have no empty, "." or ".." segments, backslashes, %2F, %5C or control characters');
  }
  if (rawSearch !== '' && (!rawSearch.startsWith('?') || [...rawSearch].some(isUnsafeQueryCharacter))) {
    throw refuse('The query string is malformed');
  }
  const segments = path.split('/');
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
