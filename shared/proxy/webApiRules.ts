/**
 * Which Web API calls a policy grant allows through the proxy and actions (docs/acting.md §1): rules
 * such as `GET v1/Contact/*`, `GET,PATCH v1/Person/**` or `POST v1/Agents/CRMScript/ExecuteScriptByUniqueId`.
 *
 * - The method part is `*` or a comma-separated list of GET, POST, PUT, PATCH, DELETE.
 * - The pattern is matched against the decoded path segments (`parseProxyPath`), case-insensitively
 *   (SuperOffice's routes are): a segment `**` matches zero or more whole segments; elsewhere `*` matches
 *   any run of characters within one segment; every other character matches itself.
 * - A pattern starts with `v1/` and has no empty, `.` or `..` segment; `**` only as a whole segment.
 */

export const PROXY_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type ProxyMethod = (typeof PROXY_METHODS)[number];

export interface WebApiRule {
  /** The rule as written in the policy (for error messages and `/api/me`). */
  readonly source: string;
  readonly methods: readonly ProxyMethod[];
  readonly segments: readonly SegmentMatcher[];
}

type SegmentMatcher = { readonly kind: 'any-depth' } | { readonly kind: 'segment'; readonly pattern: RegExp };

const SEGMENT_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%]+$/;

function isProxyMethod(value: string): value is ProxyMethod {
  return (PROXY_METHODS as readonly string[]).includes(value);
}

function segmentMatcher(segment: string): SegmentMatcher {
  if (segment === '**') return { kind: 'any-depth' };
  const escaped = segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
  return { kind: 'segment', pattern: new RegExp(`^${escaped}$`, 'i') };
}

/** Parses one rule; returns a message naming what is wrong instead of throwing, for the policy loader. */
export function parseWebApiRule(source: string): WebApiRule | string {
  const match = /^(\S+) (\S+)$/.exec(source);
  if (match === null) return 'must be "<METHODS> <path pattern>", e.g. "GET v1/Contact/*"';
  const [, methodPart = '', pattern = ''] = match;
  let methods: ProxyMethod[];
  if (methodPart === '*') {
    methods = [...PROXY_METHODS];
  } else {
    const listed = methodPart.split(',');
    const unknown = listed.filter((m) => !isProxyMethod(m));
    if (unknown.length > 0 || listed.length === 0) return `has an unknown method (allowed: *, ${PROXY_METHODS.join(', ')})`;
    methods = [...new Set(listed as ProxyMethod[])];
  }
  const segments = pattern.split('/');
  if (segments[0]?.toLowerCase() !== 'v1' || segments.length < 2) return 'must have a path pattern starting with v1/';
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') return 'has an empty, "." or ".." segment';
    if (!SEGMENT_CHARS.test(segment)) return 'has a character that cannot appear in a path segment';
    if (segment.includes('**') && segment !== '**') return 'may use ** only as a whole segment';
  }
  return { source, methods, segments: segments.map(segmentMatcher) };
}

function matchFrom(matchers: readonly SegmentMatcher[], mi: number, segments: readonly string[], si: number): boolean {
  if (mi === matchers.length) return si === segments.length;
  const matcher = matchers[mi]!;
  if (matcher.kind === 'any-depth') {
    for (let skip = si; skip <= segments.length; skip++) if (matchFrom(matchers, mi + 1, segments, skip)) return true;
    return false;
  }
  const segment = segments[si];
  return segment !== undefined && matcher.pattern.test(segment) && matchFrom(matchers, mi + 1, segments, si + 1);
}

/** Whether `rule` allows `method` on the decoded path `segments`. */
export function ruleAllows(rule: WebApiRule, method: string, segments: readonly string[]): boolean {
  return (rule.methods as readonly string[]).includes(method) && matchFrom(rule.segments, 0, segments, 0);
}
