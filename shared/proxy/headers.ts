/**
 * The headers a proxied call carries each way, by allow-list only (docs/acting.md §2). The caller's own
 * `Authorization`, cookies and everything not listed never reach SuperOffice; SuperOffice's `Set-Cookie`
 * and everything not listed never reach the caller. `Location` passes only when it points under the
 * tenant's Web API base, rewritten to the matching proxy path.
 */

/** Request headers forwarded to SuperOffice (lower case). */
export const FORWARDED_REQUEST_HEADERS: readonly string[] = Object.freeze([
  'accept',
  'accept-language',
  'content-type',
  'if-match',
  'if-none-match',
  'so-language',
  'so-culture',
  'so-timezone',
]);

/** Response headers returned to the caller (lower case); `location` is rewritten or dropped. */
export const RETURNED_RESPONSE_HEADERS: readonly string[] = Object.freeze([
  'content-type',
  'content-language',
  'etag',
  'last-modified',
  'location',
  'retry-after',
]);

const MAX_HEADER_VALUE_LENGTH = 1024;
// A forwarded value is plain visible ASCII and spaces: no CR/LF or other controls (header smuggling).
const SAFE_HEADER_VALUE = /^[\u0020-\u007e]*$/;

/** The allow-listed request headers whose values are safe to forward. */
export function forwardedRequestHeaders(incoming: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = incoming.get(name);
    if (value === null || value.length > MAX_HEADER_VALUE_LENGTH || !SAFE_HEADER_VALUE.test(value)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * The allow-listed response headers. `location` survives only if it resolves (against `requestUrl`)
 * to a URL under `webApiBase`; it then becomes `proxyPrefix` + the rest of its path and query.
 */
export function returnedResponseHeaders(
  upstream: Headers,
  options: { readonly webApiBase: string; readonly requestUrl: URL; readonly proxyPrefix: string },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of RETURNED_RESPONSE_HEADERS) {
    const value = upstream.get(name);
    if (value === null) continue;
    if (name === 'location') {
      const rewritten = rewriteLocation(value, options);
      if (rewritten !== undefined) out[name] = rewritten;
      continue;
    }
    out[name] = value;
  }
  return out;
}

function rewriteLocation(
  value: string,
  { webApiBase, requestUrl, proxyPrefix }: { readonly webApiBase: string; readonly requestUrl: URL; readonly proxyPrefix: string },
): string | undefined {
  let target: URL;
  try {
    target = new URL(value, requestUrl);
  } catch {
    return undefined;
  }
  const base = new URL(webApiBase.endsWith('/') ? webApiBase : `${webApiBase}/`);
  if (target.origin !== base.origin || target.username !== '' || target.password !== '') return undefined;
  if (!target.pathname.toLowerCase().startsWith(base.pathname.toLowerCase())) return undefined;
  const rest = target.pathname.slice(base.pathname.length);
  const prefix = proxyPrefix.endsWith('/') ? proxyPrefix : `${proxyPrefix}/`;
  return `${prefix}${rest}${target.search}`;
}
