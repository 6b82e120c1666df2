/**
 * Where a SuperOffice credential may be sent (requirement 17), as one rule for the configuration,
 * the id_token's `webapi_url` and every Web API call. An environment's API is served by its main
 * host (`sod.superoffice.com`) and by numbered, load-balanced hosts (`sod2.superoffice.com`,
 * `online3.superoffice.com`, …) that the tenant status API hands out and that change routinely
 * (docs/superoffice.md §0, §4). So a listed main host also admits that environment's numbered hosts,
 * over https on the default port. Authentication never goes to a numbered host: auth URLs are
 * checked against the auth host exactly (`isListedHost`).
 */

/** SuperOffice's environments (docs/superoffice.md §0). */
export const SUPEROFFICE_ENVIRONMENTS = ['sod', 'qaonline', 'online'] as const;

const OFFICIAL_HOST = /^(sod|qaonline|online)(\d{1,3})?\.superoffice\.com$/;
const LOOPBACK_HOSTNAMES: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** `{ environment: 'sod', numbered: true }` for `sod2.superoffice.com`; undefined for any other host. */
export function superOfficeHost(hostname: string): { readonly environment: string; readonly numbered: boolean } | undefined {
  const match = OFFICIAL_HOST.exec(hostname.toLowerCase());
  if (match === null || match[1] === undefined) return undefined;
  return { environment: match[1], numbered: match[2] !== undefined };
}

/** True for 127.0.0.1, localhost and [::1]. */
export function isLoopbackHostname(hostname: string): boolean {
  return LOOPBACK_HOSTNAMES.has(hostname.toLowerCase());
}

/** https, or http on a loopback host (the simulator); never userinfo. */
function safeScheme(url: URL): boolean {
  if (url.username !== '' || url.password !== '') return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHostname(url.hostname));
}

/** True when `url`'s host (with port) is one of `hosts`, over a safe scheme. */
export function isListedHost(url: URL, hosts: readonly string[]): boolean {
  const host = url.host.toLowerCase();
  return safeScheme(url) && hosts.some((h) => h.toLowerCase() === host);
}

/**
 * True when a SuperOffice credential may go to `url`: its host is listed, or it is a numbered host
 * (https, default port) of an environment whose main host is listed.
 */
export function isAllowedApiUrl(url: URL, allowedHosts: readonly string[]): boolean {
  if (isListedHost(url, allowedHosts)) return true;
  const official = superOfficeHost(url.hostname);
  if (official === undefined || !official.numbered || url.protocol !== 'https:' || url.port !== '' || !safeScheme(url)) return false;
  const mainHost = `${official.environment}.superoffice.com`;
  return allowedHosts.some((h) => h.toLowerCase() === mainHost);
}
