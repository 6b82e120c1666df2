import { match as pathMatcher, TokenData, type Token } from 'path-to-regexp';

/**
 * The dev host's route matching: the subset of the Functions host's (ASP.NET Core) route templates the
 * app uses, translated to `path-to-regexp` tokens, which does the matching. Supported: literal segments
 * (matched case-insensitively), `{name}` (one segment), trailing `{name?}` (may be left out) and a last
 * `{*rest}` / `{**rest}` (the rest of the path, possibly empty). Parameter values are percent-decoded as
 * Kestrel decodes a request path (everything but `%2F`), literals are compared after the same decoding,
 * and one trailing slash is ignored. Anything else (constraints such as `{id:int}`, defaults, several
 * parts in one segment) is refused with `RouteTemplateError` when the table is built, i.e. at start, so
 * that the dev host never serves a route differently from Azure.
 */

/** Thrown for an invalid or unsupported route template; `message` names the template and the problem. */
export class RouteTemplateError extends Error {
  override readonly name = 'RouteTemplateError';
}

export interface RouteTemplate {
  readonly template: string;
  /** Inbound precedence, one digit per segment (literal 1, parameter 4, catch-all 5); lower sorts first. */
  readonly precedence: readonly number[];
  readonly parameterNames: readonly string[];
  /** The decoded parameter values if `path` (a raw, percent-encoded URL path) matches, else `undefined`. */
  match(path: string): Record<string, string> | undefined;
}

type Segment =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'parameter'; readonly name: string; readonly optional: boolean }
  | { readonly kind: 'catchAll'; readonly name: string };

const PARAMETER = /^\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)(\?)?\}$/;
const UNSUPPORTED = 'the dev host supports literal segments, {name}, a trailing {name?} and a last {*rest}';

function parseSegment(text: string): Segment {
  if (text === '') throw new RouteTemplateError('empty segment ("//" or a trailing "/")');
  if (!/[{}*?]/.test(text)) return { kind: 'literal', text };
  const parameter = PARAMETER.exec(text);
  if (parameter === null) throw new RouteTemplateError(`"${text}" is not supported (${UNSUPPORTED})`);
  const [, star, name, question] = parameter;
  if (star !== undefined && question !== undefined) throw new RouteTemplateError(`a catch-all parameter cannot be marked optional ("${name!}")`);
  return star !== undefined ? { kind: 'catchAll', name: name! } : { kind: 'parameter', name: name!, optional: question !== undefined };
}

function validate(segments: readonly Segment[]): void {
  const names = new Set<string>();
  segments.forEach((segment, index) => {
    if (segment.kind === 'literal') return;
    const key = segment.name.toLowerCase();
    if (names.has(key)) throw new RouteTemplateError(`the parameter "${segment.name}" appears twice`);
    names.add(key);
    const later = segments.slice(index + 1);
    if (segment.kind === 'catchAll' && later.length > 0) throw new RouteTemplateError(`a catch-all parameter must be the last segment ("${segment.name}")`);
    if (segment.kind === 'parameter' && segment.optional && later.some((s) => s.kind !== 'parameter' || !s.optional)) {
      throw new RouteTemplateError(`only trailing parameters may be optional ("${segment.name}")`);
    }
  });
}

/** `path-to-regexp` tokens: each optional segment is a group nested in the one before, so `{x?}/{y?}` needs x for y. */
function tokensOf(segments: readonly Segment[]): Token[] {
  const tokens: Token[] = [];
  let target = tokens;
  for (const segment of segments) {
    if (segment.kind === 'literal') {
      target.push({ type: 'text', value: `/${segment.text}` });
    } else if (segment.kind === 'catchAll') {
      target.push({ type: 'group', tokens: [{ type: 'text', value: '/' }, { type: 'wildcard', name: segment.name }] });
    } else if (segment.optional) {
      const group: Token[] = [{ type: 'text', value: '/' }, { type: 'param', name: segment.name }];
      target.push({ type: 'group', tokens: group });
      target = group;
    } else {
      target.push({ type: 'text', value: '/' }, { type: 'param', name: segment.name });
    }
  }
  return tokens;
}

/** Percent-decodes a path segment the way Kestrel decodes a request path: everything but `%2F`. */
export function decodePathSegment(raw: string): string {
  // The capturing split keeps each `%2F` as written, at the odd indexes.
  return raw
    .split(/(%2F)/i)
    .map((piece, i) => {
      if (i % 2 === 1) return piece;
      try {
        return decodeURIComponent(piece);
      } catch {
        return piece;
      }
    })
    .join('');
}

/** Parses a route template (e.g. `api/connections/{ctx}/{associateId}/revoke`); throws `RouteTemplateError`. */
export function parseRouteTemplate(template: string): RouteTemplate {
  const trimmed = template.replace(/^~?\//, '');
  let segments: Segment[];
  try {
    segments = trimmed === '' ? [] : trimmed.split('/').map(parseSegment);
    validate(segments);
  } catch (error) {
    if (error instanceof RouteTemplateError) throw new RouteTemplateError(`Invalid route template "${template}": ${error.message}`);
    throw error;
  }
  // The path is decoded before matching (literals compare decoded text), so the matcher must not decode again.
  const matcher = pathMatcher<Record<string, string | string[]>>(new TokenData(tokensOf(segments), template), { decode: false, sensitive: false, trailing: true, end: true });
  return {
    template,
    precedence: segments.map((s) => (s.kind === 'literal' ? 1 : s.kind === 'catchAll' ? 5 : 4)),
    parameterNames: segments.flatMap((s) => (s.kind === 'literal' ? [] : [s.name])),
    match(path: string): Record<string, string> | undefined {
      const decoded = (path.startsWith('/') ? path : `/${path}`).split('/').map(decodePathSegment).join('/');
      const result = matcher(decoded);
      if (result === false) return undefined;
      const values: Record<string, string> = {};
      for (const [name, value] of Object.entries(result.params)) {
        if (value !== undefined) values[name] = Array.isArray(value) ? value.join('/') : value;
      }
      return values;
    },
  };
}

/** Orders by inbound precedence: more specific templates first. */
export function comparePrecedence(a: RouteTemplate, b: RouteTemplate): number {
  const length = Math.min(a.precedence.length, b.precedence.length);
  for (let i = 0; i < length; i++) {
    const diff = a.precedence[i]! - b.precedence[i]!;
    if (diff !== 0) return diff;
  }
  return a.precedence.length - b.precedence.length || a.template.localeCompare(b.template);
}

/** The full template the host serves: route prefix plus the function's route. */
export function withRoutePrefix(prefix: string, route: string): string {
  const cleanRoute = route.replace(/^\/+/, '');
  if (prefix === '') return cleanRoute;
  return cleanRoute === '' ? prefix : `${prefix}/${cleanRoute}`;
}
