/**
 * ASP.NET Core route templates as the Functions host uses them for HTTP triggers: literal segments
 * match case-insensitively, `{name}` binds one segment, `{name?}` may be omitted, `{name=default}`
 * has a default, `{name:int}`-style constraints restrict values, `{*rest}` / `{**rest}` bind the rest
 * of the path, and a segment may mix literals and parameters (`{file}.{ext}`). Parameter values are
 * percent-decoded like Kestrel does (everything but `%2F`). Invalid templates and unknown
 * constraints throw `RouteTemplateError` when the template is parsed, i.e. at start.
 */

/** Thrown for an invalid route template; `message` names the template and the problem. */
export class RouteTemplateError extends Error {
  override readonly name = 'RouteTemplateError';
}

interface Constraint {
  readonly text: string;
  test(value: string): boolean;
}

interface LiteralPart {
  readonly kind: 'literal';
  readonly text: string;
}

interface ParameterPart {
  readonly kind: 'parameter';
  readonly name: string;
  readonly optional: boolean;
  readonly catchAll: boolean;
  readonly defaultValue: string | undefined;
  readonly constraints: readonly Constraint[];
}

type Part = LiteralPart | ParameterPart;

interface Segment {
  readonly parts: readonly Part[];
  /** For segments mixing literals and parameters: the full pattern, then one with a trailing optional part left out. */
  readonly patterns?: readonly RegExp[];
}

export interface RouteTemplate {
  readonly template: string;
  /** ASP.NET inbound precedence, one digit per segment; lower sorts first (more specific). */
  readonly precedence: readonly number[];
  readonly parameterNames: readonly string[];
  /** The decoded parameter values if `path` (a raw, percent-encoded URL path) matches, else `undefined`. */
  match(path: string): Record<string, string> | undefined;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INTEGER = /^[+-]?\d+$/;
const GUID_D = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parseInt64(value: string): bigint | undefined {
  if (!INTEGER.test(value)) return undefined;
  const n = BigInt(value);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

function isGuid(value: string): boolean {
  if (/^[0-9a-f]{32}$/i.test(value)) return true;
  const inner = /^\{.*\}$/.test(value) || /^\(.*\)$/.test(value) ? value.slice(1, -1) : value;
  return GUID_D.test(inner);
}

function integerArguments(name: string, args: string | undefined, count: readonly number[]): bigint[] {
  const values = (args ?? '').split(',').map((a) => a.trim()).filter((a) => a !== '');
  const parsed = values.map(parseInt64);
  if (!count.includes(values.length) || parsed.some((v) => v === undefined)) {
    throw new RouteTemplateError(`constraint ${name} takes ${count.join(' or ')} integer argument(s)`);
  }
  return parsed as bigint[];
}

/** The inline constraints the ASP.NET Core route table knows (DefaultInlineConstraintResolver). */
function createConstraint(text: string): Constraint {
  const match = /^([A-Za-z]+)(?:\((.*)\))?$/s.exec(text);
  if (match === null) throw new RouteTemplateError(`invalid constraint "${text}"`);
  const name = match[1]!.toLowerCase();
  const args = match[2];
  const noArgs = (test: (value: string) => boolean): Constraint => {
    if (args !== undefined) throw new RouteTemplateError(`constraint ${name} takes no arguments`);
    return { text, test };
  };
  switch (name) {
    case 'int':
      return noArgs((v) => INTEGER.test(v) && Number(v) >= INT32_MIN && Number(v) <= INT32_MAX);
    case 'long':
      return noArgs((v) => parseInt64(v) !== undefined);
    case 'bool':
      return noArgs((v) => /^(true|false)$/i.test(v));
    case 'guid':
      return noArgs(isGuid);
    case 'alpha':
      return noArgs((v) => /^[a-z]*$/i.test(v));
    case 'datetime':
      return noArgs((v) => !Number.isNaN(Date.parse(v)));
    case 'decimal':
      return noArgs((v) => /^[+-]?(\d+\.?\d*|\.\d+)$/.test(v));
    case 'double':
    case 'float':
      return noArgs((v) => /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(v));
    case 'required':
      return noArgs((v) => v !== '');
    case 'min': {
      const [min] = integerArguments(name, args, [1]);
      return { text, test: (v) => (parseInt64(v) ?? min! - 1n) >= min! };
    }
    case 'max': {
      const [max] = integerArguments(name, args, [1]);
      return { text, test: (v) => (parseInt64(v) ?? max! + 1n) <= max! };
    }
    case 'range': {
      const [min, max] = integerArguments(name, args, [2]);
      return { text, test: (v) => { const n = parseInt64(v); return n !== undefined && n >= min! && n <= max!; } };
    }
    case 'length': {
      const bounds = integerArguments(name, args, [1, 2]).map(Number);
      const [min, max] = bounds.length === 1 ? [bounds[0]!, bounds[0]!] : [bounds[0]!, bounds[1]!];
      return { text, test: (v) => v.length >= min && v.length <= max };
    }
    case 'minlength': {
      const [min] = integerArguments(name, args, [1]).map(Number);
      return { text, test: (v) => v.length >= min! };
    }
    case 'maxlength': {
      const [max] = integerArguments(name, args, [1]).map(Number);
      return { text, test: (v) => v.length <= max! };
    }
    case 'regex': {
      if (args === undefined || args === '') throw new RouteTemplateError('constraint regex needs a pattern');
      let pattern: RegExp;
      try {
        // ASP.NET evaluates regex constraints case-insensitively and does not anchor them.
        pattern = new RegExp(args, 'i');
      } catch {
        throw new RouteTemplateError(`constraint regex has an invalid pattern`);
      }
      return { text, test: (v) => pattern.test(v) };
    }
    default:
      throw new RouteTemplateError(`unknown constraint "${name}"`);
  }
}

/** Splits `name:c1:c2(args)?` / `*name` / `name=default` into a parameter part. */
function parseParameter(body: string): ParameterPart {
  let rest = body;
  let catchAll = false;
  if (rest.startsWith('**')) {
    catchAll = true;
    rest = rest.slice(2);
  } else if (rest.startsWith('*')) {
    catchAll = true;
    rest = rest.slice(1);
  }
  const nameMatch = /^[^:=?]+/.exec(rest);
  if (nameMatch === null) throw new RouteTemplateError('a parameter needs a name');
  const name = nameMatch[0].trim();
  if (name === '' || /[/{}*?=:]/.test(name)) throw new RouteTemplateError(`invalid parameter name "${name}"`);
  rest = rest.slice(nameMatch[0].length);

  const constraints: Constraint[] = [];
  while (rest.startsWith(':')) {
    rest = rest.slice(1);
    let end = 0;
    let depth = 0;
    for (; end < rest.length; end++) {
      const ch = rest[end];
      if (ch === '(') depth++;
      else if (ch === ')') depth--;
      else if (depth === 0 && (ch === ':' || ch === '=' || (ch === '?' && end === rest.length - 1))) break;
    }
    constraints.push(createConstraint(rest.slice(0, end)));
    rest = rest.slice(end);
  }

  let optional = false;
  let defaultValue: string | undefined;
  if (rest === '?') {
    optional = true;
  } else if (rest.startsWith('=')) {
    defaultValue = rest.slice(1);
  } else if (rest !== '') {
    throw new RouteTemplateError(`invalid parameter "{${body}}"`);
  }
  if (catchAll && optional) throw new RouteTemplateError(`a catch-all parameter cannot be marked optional ("${name}")`);
  if (optional && defaultValue !== undefined) throw new RouteTemplateError(`"${name}" cannot be optional and have a default`);
  return { kind: 'parameter', name, optional, catchAll, defaultValue, constraints };
}

/** Splits one template segment into literal and parameter parts (`{{`/`}}` escape braces). */
function parseSegment(text: string): Part[] {
  const parts: Part[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '{' && text[i + 1] === '{') {
      literal += '{';
      i += 2;
    } else if (ch === '}' && text[i + 1] === '}') {
      literal += '}';
      i += 2;
    } else if (ch === '{') {
      let depth = 0;
      let end = i + 1;
      for (; end < text.length; end++) {
        const c = text[end];
        if (c === '(') depth++;
        else if (c === ')') depth--;
        else if (c === '}' && depth <= 0) break;
      }
      if (end >= text.length) throw new RouteTemplateError('unclosed "{"');
      if (literal !== '') parts.push({ kind: 'literal', text: literal });
      literal = '';
      parts.push(parseParameter(text.slice(i + 1, end)));
      i = end + 1;
    } else if (ch === '}') {
      throw new RouteTemplateError('unmatched "}"');
    } else if (ch === '?' || ch === '*') {
      throw new RouteTemplateError(`"${ch}" is only allowed inside a parameter`);
    } else {
      literal += ch;
      i += 1;
    }
  }
  if (literal !== '') parts.push({ kind: 'literal', text: literal });
  return parts;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Patterns for a segment mixing literals and parameters; ASP.NET matches them right to left, hence greedy groups. */
function complexPatterns(parts: readonly Part[]): RegExp[] {
  const source = (list: readonly Part[]): string =>
    list.map((p) => (p.kind === 'literal' ? escapeRegExp(p.text) : '(.+)')).join('');
  const patterns = [new RegExp(`^${source(parts)}$`, 'i')];
  const last = parts[parts.length - 1];
  const beforeLast = parts[parts.length - 2];
  // `{name}.{ext?}` also matches `name` alone: the literal before a trailing optional parameter is optional too.
  if (last?.kind === 'parameter' && last.optional && beforeLast?.kind === 'literal') {
    patterns.push(new RegExp(`^${source(parts.slice(0, -2))}$`, 'i'));
  }
  return patterns;
}

function validateSegments(segments: readonly Segment[]): void {
  const names = new Set<string>();
  segments.forEach((segment, index) => {
    const params = segment.parts.filter((p): p is ParameterPart => p.kind === 'parameter');
    for (const param of params) {
      const key = param.name.toLowerCase();
      if (names.has(key)) throw new RouteTemplateError(`the parameter "${param.name}" appears twice`);
      names.add(key);
      if (param.catchAll && (index !== segments.length - 1 || segment.parts.length !== 1)) {
        throw new RouteTemplateError(`a catch-all parameter must be the whole last segment ("${param.name}")`);
      }
    }
    if (segment.parts.length > 1) {
      segment.parts.forEach((part, i) => {
        const next = segment.parts[i + 1];
        if (part.kind === 'parameter' && next?.kind === 'parameter') {
          throw new RouteTemplateError('a segment cannot contain two consecutive parameters');
        }
        if (part.kind === 'parameter' && part.optional && i !== segment.parts.length - 1) {
          throw new RouteTemplateError(`an optional parameter must be at the end of its segment ("${part.name}")`);
        }
      });
    }
  });
}

function precedenceDigit(segment: Segment): number {
  const [first] = segment.parts;
  if (segment.parts.length > 1) return 2;
  if (first === undefined || first.kind === 'literal') return 1;
  if (first.catchAll) return 5;
  return first.constraints.length > 0 ? 3 : 4;
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

function satisfies(param: ParameterPart, value: string): boolean {
  return param.constraints.every((c) => c.test(value));
}

function matchSegment(segment: Segment, value: string, values: Record<string, string>): boolean {
  const [first] = segment.parts;
  if (segment.parts.length === 1 && first !== undefined) {
    if (first.kind === 'literal') return first.text.toLowerCase() === value.toLowerCase();
    if (!satisfies(first, value)) return false;
    values[first.name] = value;
    return true;
  }
  const params = segment.parts.filter((p): p is ParameterPart => p.kind === 'parameter');
  for (const pattern of segment.patterns ?? []) {
    const match = pattern.exec(value);
    if (match === null) continue;
    const captured: Record<string, string> = {};
    let ok = true;
    params.forEach((param, i) => {
      const v = match[i + 1];
      if (v === undefined) {
        if (param.defaultValue !== undefined) captured[param.name] = param.defaultValue;
        return;
      }
      if (!satisfies(param, v)) ok = false;
      captured[param.name] = v;
    });
    if (ok) {
      Object.assign(values, captured);
      return true;
    }
  }
  return false;
}

/** The parameter of a segment that consists of one parameter only. */
function soleParameter(segment: Segment): ParameterPart | undefined {
  const [first] = segment.parts;
  return segment.parts.length === 1 && first?.kind === 'parameter' ? first : undefined;
}

/** Parses a route template (e.g. `api/connections/{ctx}/{associateId:int}`); throws `RouteTemplateError`. */
export function parseRouteTemplate(template: string): RouteTemplate {
  const trimmed = template.replace(/^~?\//, '');
  let segments: Segment[];
  try {
    const texts = trimmed === '' ? [] : trimmed.split('/');
    segments = texts.map((text) => {
      if (text === '') throw new RouteTemplateError('empty segment ("//" or a trailing "/")');
      const parts = parseSegment(text);
      return parts.length > 1 ? { parts, patterns: complexPatterns(parts) } : { parts };
    });
    validateSegments(segments);
  } catch (error) {
    if (error instanceof RouteTemplateError) {
      throw new RouteTemplateError(`Invalid route template "${template}": ${error.message}`);
    }
    throw error;
  }

  const parameterNames = segments.flatMap((s) => s.parts.filter((p): p is ParameterPart => p.kind === 'parameter').map((p) => p.name));

  return {
    template,
    precedence: segments.map(precedenceDigit),
    parameterNames,
    match(path: string): Record<string, string> | undefined {
      let rest = path.startsWith('/') ? path.slice(1) : path;
      // ASP.NET routing ignores one trailing slash.
      if (rest.endsWith('/')) rest = rest.slice(0, -1);
      const raw = rest === '' ? [] : rest.split('/');
      const values: Record<string, string> = {};
      for (let i = 0; i < segments.length; i++) {
        const segment = segments[i]!;
        const sole = soleParameter(segment);
        if (sole?.catchAll) {
          const value = raw.slice(i).map(decodePathSegment).join('/');
          if (value !== '') {
            if (!satisfies(sole, value)) return undefined;
            values[sole.name] = value;
          } else if (sole.defaultValue !== undefined) {
            values[sole.name] = sole.defaultValue;
          }
          return values;
        }
        const rawSegment = raw[i];
        if (rawSegment === undefined) {
          // Only trailing optional or defaulted parameters may be left out.
          if (sole === undefined || (!sole.optional && sole.defaultValue === undefined)) return undefined;
          if (sole.defaultValue !== undefined) values[sole.name] = sole.defaultValue;
          continue;
        }
        const value = decodePathSegment(rawSegment);
        if (value === '' || !matchSegment(segment, value, values)) return undefined;
      }
      return raw.length > segments.length ? undefined : values;
    },
  };
}

/** Orders by ASP.NET inbound precedence: more specific templates first. */
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
