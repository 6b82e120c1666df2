/**
 * Request generation for the fuzzer (issue 15 point 1), from an endpoint's published OpenAPI operation:
 * valid values from its parameter and body schemas, near-valid ones (a member missing, out of range, a
 * neighbour of the pattern), and hostile ones — wrong types, huge and empty values, unicode, control
 * characters, duplicate JSON keys, deep nesting, wrong and missing content types, truncated bodies,
 * invalid UTF-8, repeated and unlisted parameters, odd headers — sent by valid and invalid callers.
 *
 * Every hostile string carries the marker `<fz` so the checker can see input reflected unescaped in HTML.
 */
import fc from 'fast-check';
import { schemaArbitrary, type Schema } from '../support/schemaArbitrary.js';

export type { Schema };

export interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly required: boolean;
  readonly schema: Schema;
}

export interface Operation {
  readonly operationId: string;
  readonly parameters: readonly (Parameter | { $ref: string })[];
  readonly requestBody?: { content: Record<string, { schema?: Schema }> };
  readonly responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema?: Schema }> }>;
  readonly security?: readonly unknown[];
}

/** One generated request, before the caller's credentials are added. */
export interface FuzzRequest {
  readonly method: string;
  /** Path and query as sent on the request line (already percent-encoded where needed). */
  readonly target: string;
  /** Extra headers; an array value sends the header more than once. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer | undefined;
  /** Index into the caller table (see `callers.ts`). */
  readonly caller: number;
  /** Whether the request is the declared method with a JSON body as the schema describes it (for statistics). */
  readonly shape: string;
}

export const MARKER = '<fz';

/** `arbitrary` about once in `n` draws, otherwise `undefined`. */
function rarely<T>(arbitrary: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

/** Values tenants and users of the local stack actually have, so that valid requests get past the policy. */
const KNOWN: Readonly<Record<string, readonly string[]>> = {
  ctx: ['Cust12345', 'Cust12345', 'Cust12345', 'Cust54321', 'cust12345', 'Cust99999'],
  associateId: ['5', '6', '6', '7', '8', '1'],
  actAs: ['5', '6', '7', 'system', '8'],
  path: ['v1/Contact/1', 'v1/Contact/101', 'v1/User/currentPrincipal', 'v1/Person/1001', 'v1/Contact?$top=5', 'v1/Ticket/303', 'v1/Agents/CRMScript/ExecuteScriptByName', 'v1/../v1/Contact/1', 'v1/%2e%2e/x', 'api/v1/Contact/1', 'v1//Contact'],
  webhookName: ['fuzz', 'contact-changes', 'broker'],
  customerId: ['1', '1001', '2'],
};

const hostileString = fc.oneof(
  fc.constantFrom(
    `${MARKER}>`, `"><fz onload=x>`, `</script>${MARKER}>`, `${MARKER} x="'>`, 'javascript:alert(1)<fz', '%3Cfz%3E<fz',
    '\u0000<fz', '\r\n<fz>Set-Cookie: a=b', '\u2028<fz\u2029', '\u202e<fz', '\ud800<fz', '{{7*7}}<fz', '${7*7}<fz', '../../etc/passwd<fz',
  ),
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => `${s}<fz>`),
  fc.string({ unit: 'binary', maxLength: 12 }).map((s) => `<fz>${s}`),
  fc.string({ maxLength: 8 }).map((s) => `${s}\u0007\u001b[31m<fz`),
);

const junkString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 2, arbitrary: fc.constantFrom('', ' ', '0', '-1', '01', '1.5', '1e3', '2147483648', '9'.repeat(30), 'null', 'true', '[]', '{}', 'Cust-1', 'é', 'ß', '\u00a0', '%00', '%zz', '%2F%2F', '..', '.') },
  { weight: 3, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.integer({ min: 65, max: 2_000 }).map((n) => 'A'.repeat(n)) },
);

/** A huge string: bodies only (in a URL or header it would pass Node's 16 KiB header limit, see `oddHeaders`). */
const hugeString = fc.integer({ min: 2_000, max: 70_000 }).map((n) => 'A'.repeat(n));

const junk: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    junkString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(2 ** 31, -(2 ** 53) - 2, 1e308, -0, 0.5),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString')), tie('value'), { maxKeys: 3 }),
  ),
})).value;

/** Values for a schema: mostly ones it accepts, sometimes a neighbour, sometimes junk; known tenants and users often. */
export const valueFor: (schema: Schema, name?: string) => fc.Arbitrary<unknown> = schemaArbitrary({
  junk: () => junk,
  known: (name) => KNOWN[name],
  likelyWeight: { top: 8, deep: 30 },
  strings: { maxLength: 40, cap: 300 },
  requiredFreq: 14,
  extraNames: ['extra', '__proto__', 'constructor'],
  extraEvery: 6,
});

/** A JSON text whose first member appears twice (the second with another value). */
function duplicateKeys(text: string, value: unknown): string {
  const m = /^\{\s*("(?:[^"\\]|\\.)*")\s*:/.exec(text);
  if (m === null) return `{"a":1,"a":${JSON.stringify(value) ?? 'null'}}`;
  return `${text.slice(0, -1)}${text.length > 2 ? ',' : ''}${m[1]}:${JSON.stringify(value) ?? 'null'}}`;
}

const bodyVariant = fc.oneof(
  { weight: 30, arbitrary: fc.constant('valid' as const) },
  { weight: 2, arbitrary: fc.constant('duplicate_keys' as const) },
  { weight: 2, arbitrary: fc.constant('truncated' as const) },
  { weight: 2, arbitrary: fc.constant('deep' as const) },
  { weight: 1, arbitrary: fc.constant('invalid_utf8' as const) },
  { weight: 1, arbitrary: fc.constant('empty' as const) },
  { weight: 1, arbitrary: fc.constant('huge' as const) },
  { weight: 2, arbitrary: fc.constant('junk' as const) },
  { weight: 1, arbitrary: fc.constant('bom' as const) },
);

const contentTypeVariant = fc.oneof(
  { weight: 30, arbitrary: fc.constant<string | readonly string[] | undefined>('application/json') },
  { weight: 3, arbitrary: fc.constantFrom<string | readonly string[] | undefined>(
    'application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=latin1', 'application/json-patch+json',
    'application/problem+json', 'text/plain', 'text/html', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
    'application/xml', '*/*', '', 'application/json, text/plain', 'application/json; boundary=<fz', undefined,
  ) },
  { weight: 1, arbitrary: fc.constant<string | readonly string[] | undefined>(['application/json', 'text/plain']) },
);

const oddHeaders: fc.Arbitrary<Record<string, string | readonly string[]>> = fc.record({
  'x-request-id': rarely(fc.oneof(fc.constantFrom('fuzz-1', 'a'.repeat(65), 'x y', '<fz>', '../..', '\u00e9', ''), fc.string({ maxLength: 70 }).map(latin1)), 4),
  'x-ms-client-principal': rarely(fc.constantFrom('eyJhdXRoX3R5cCI6ImFhZCJ9', 'not base64 <fz', ''), 12),
  'x-ms-client-principal-id': rarely(fc.constantFrom('0f3b8e2a-6c1d-4a7e-b295-3d8f1c6e0a41', '<fz'), 15),
  'x-forwarded-host': rarely(fc.constantFrom('evil.example', '<fz>.example', ''), 12),
  accept: rarely(fc.constantFrom('text/html', 'application/xml', '*/*', 'application/json;q=0', '<fz'), 8),
  cookie: rarely(fc.constantFrom('__Host-so-consent=garbage<fz', 'a=b; a=c', '=; ;', `__Host-so-consent=${'x'.repeat(3000)}`), 10),
  'accept-encoding': rarely(fc.constantFrom('gzip, br', 'identity;q=0', '<fz'), 12),
  // Headers, request line and token stay below Node's (and the host's) 16 KiB header limit: beyond it the
  // server answers 431 and closes, and under load Node's client then often reports a reset instead.
  'x-huge': rarely(fc.integer({ min: 1000, max: 5000 }).map((n) => 'h'.repeat(n)), 20),
}).map((headers) => Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string | readonly string[]>);

/** Header values may hold only tab, printable ASCII and latin-1 octets. */
function latin1(s: string): string {
  return s.replace(/[^\t\x20-\x7e\xa0-\xff]/g, '?');
}

/**
 * Percent-encodes a generated value's UTF-8 bytes for the request line (a lone surrogate becomes U+FFFD, as
 * a client would send it). `raw` keeps printable ASCII as it is — `%zz`, `&`, `=`, `/` and `..` included.
 */
function encodePart(value: string, raw: boolean): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (raw && byte >= 0x21 && byte <= 0x7e && c !== '#' && c !== '?')) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

/**
 * Requests for one operation of route `route` (with `{name}` placeholders) and method `method`, by any of
 * `callers` callers; two in three by one of the `preferred` (callers whose token carries a role the
 * operation accepts), so that most requests reach the policy and the handler.
 */
export function requestsFor(route: string, method: string, operation: Operation, callers: number, preferred: readonly number[] = []): fc.Arbitrary<FuzzRequest> {
  const parameters = operation.parameters.filter((p): p is Parameter => 'name' in p);
  const pathParams = parameters.filter((p) => p.in === 'path');
  const listed = parameters.filter((p) => p.in === 'query');
  const declaredHeaders = parameters.filter((p) => p.in === 'header' && p.name.toLowerCase() !== 'x-request-id');
  const headerParams = fc.tuple(...declaredHeaders.map((p) => fc.option(valueFor(p.schema, p.name).map((v) => latin1(typeof v === 'string' ? v : JSON.stringify(v) ?? '')), { freq: p.required ? 14 : 3, nil: undefined })))
    .map((values) => Object.fromEntries(declaredHeaders.flatMap((p, i) => (values[i] === undefined ? [] : [[p.name.toLowerCase(), values[i]]]))) as Record<string, string>);
  const catchAll = new Set([...route.matchAll(/\{\*([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!));
  const encodeParam = (name: string, value: string, raw: boolean): string => (catchAll.has(name) ? value.split('/').map((segment) => encodePart(segment, raw)).join('/') : encodePart(value, raw));
  const path = fc.record(Object.fromEntries(pathParams.map((p) => [p.name, fc.tuple(valueFor(p.schema, p.name).map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '')), fc.boolean()).map(([v, raw]) => encodeParam(p.name, v === '' ? '_' : v, raw))]))) as fc.Arbitrary<Record<string, string>>;
  const query = fc
    .tuple(
      fc.tuple(...listed.map((p) => fc.option(valueFor(p.schema, p.name).map((v) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '')), { freq: p.required ? 14 : 3, nil: undefined }))),
      rarely(fc.tuple(fc.oneof(fc.constantFrom('code', 'x', 'ctx', 'limit', 'state', '__proto__', 'ticket', ''), fc.string({ maxLength: 6 })), junkString), 6),
      rarely(fc.nat(), 10),
      fc.boolean(),
      rarely(fc.constantFrom('%', '%zz', '&&&', '=', 'a=%00', 'a', ';x=1', '?'), 16),
    )
    .map(([values, extra, repeat, raw, broken]) => {
      const pairs: [string, string][] = [];
      listed.forEach((p, i) => {
        const value = values[i];
        if (value !== undefined) pairs.push([p.name, value]);
      });
      if (extra !== undefined) pairs.push([extra[0], extra[1]]);
      const again = repeat === undefined ? undefined : pairs[repeat % Math.max(1, pairs.length)];
      if (again !== undefined) pairs.push([again[0], `${again[1]}x`]);
      const text = pairs.map(([k, v]) => `${encodePart(k, raw)}=${encodePart(v, raw)}`).join('&');
      const all = broken === undefined ? text : text === '' ? broken : `${text}&${broken}`;
      return all === '' ? '' : `?${all}`;
    });
  const content = operation.requestBody?.content ?? {};
  const bodySchema = content['application/json']?.schema;
  // A body of any type (`*/*`: the proxy, a webhook notification): JSON of junk, JSON-like text, or bytes.
  const anyBody = fc.oneof(
    junk.map((v) => ({ kind: 'json' as const, value: v })),
    fc.constantFrom('{"a":', '{"EventId":"e1","Event":"contact.changed","ContextIdentifier":"Cust12345","ChangedByAssociateId":6}', '<xml/>', '').map((value) => ({ kind: 'raw' as const, value })),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: 'bytes' as const, value: Buffer.from(bytes) })),
    hugeString.map((value) => ({ kind: 'raw' as const, value })),
  );
  const body = bodySchema === undefined
    ? (content['*/*'] !== undefined ? fc.option(anyBody, { freq: 4, nil: undefined }) : rarely(fc.oneof(junk.map((v) => ({ kind: 'json' as const, value: v })), fc.constant({ kind: 'raw' as const, value: '{"a":' })), 6))
    : fc.tuple(valueFor(bodySchema, undefined), bodyVariant, fc.oneof({ weight: 8, arbitrary: junk }, { weight: 1, arbitrary: hugeString }), fc.integer({ min: 1, max: 100 }), fc.integer({ min: 10, max: 60_000 })).map(([value, variant, other, cut, deep]) => {
      const text = JSON.stringify(value) ?? 'null';
      switch (variant) {
        case 'valid': return { kind: 'raw' as const, value: text };
        case 'duplicate_keys': return { kind: 'raw' as const, value: duplicateKeys(text, other) };
        case 'truncated': return { kind: 'raw' as const, value: text.slice(0, Math.floor((text.length * cut) / 101)) };
        case 'deep': return { kind: 'raw' as const, value: deep % 2 === 0 ? `${'['.repeat(deep)}${']'.repeat(deep)}` : `${'{"a":'.repeat(Math.min(deep, 12_000))}1${'}'.repeat(Math.min(deep, 12_000))}` };
        case 'invalid_utf8': return { kind: 'bytes' as const, value: Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(text.slice(-1))]) };
        case 'empty': return { kind: 'raw' as const, value: '' };
        case 'huge': return { kind: 'raw' as const, value: JSON.stringify({ ...(typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}), pad: 'p'.repeat(deep + 40_000) }) };
        case 'junk': return { kind: 'raw' as const, value: JSON.stringify(other) ?? 'undefined' };
        case 'bom': return { kind: 'bytes' as const, value: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]) };
      }
    });
  const methodArb = fc.oneof({ weight: 12, arbitrary: fc.constant(method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS.filter((m) => m !== method)) });
  return fc
    .record({
      method: methodArb, path, query, body, contentType: contentTypeVariant, headers: oddHeaders, declared: headerParams,
      caller: preferred.length === 0 ? fc.nat({ max: callers - 1 }) : fc.oneof({ weight: 1, arbitrary: fc.nat({ max: callers - 1 }) }, { weight: 2, arbitrary: fc.constantFrom(...preferred) }),
    })
    .map(({ method: m, path: p, query: q, body: b, contentType, headers: odd, declared, caller }) => {
      // `{*path}` is a catch-all: its value may hold `/` (encoded only when the generator chose to).
      const target = `/api/${route.replace(/\{\*?([A-Za-z0-9_]+)\}/g, (_, name: string) => p[name] ?? '_')}${q}`;
      const headers = { ...odd, ...declared };
      const bytes = b === undefined ? undefined : b.kind === 'bytes' ? b.value : Buffer.from(b.kind === 'json' ? JSON.stringify(b.value) ?? 'null' : b.value, 'utf8');
      const sendBody = bytes !== undefined && m !== 'GET' && m !== 'HEAD';
      const all: Record<string, string | readonly string[]> = { ...headers };
      if (sendBody && contentType !== undefined) all['content-type'] = contentType;
      return { method: m, target, headers: all, body: sendBody ? bytes : undefined, caller, shape: m === method ? 'declared' : 'other_method' };
    });
}
