/**
 * Values generated from a published JSON Schema (OpenAPI 3.1), shared by the generated-input test
 * (`test/integration/openapi/inputs.test.ts`) and the fuzzer (`test/fuzz/inputs.ts`): mostly values the
 * schema is likely to accept, sometimes a neighbour (one past a bound, a missing or extra member),
 * sometimes the caller's junk. Each user gives its own junk and weights.
 */
import fc from 'fast-check';

export type Schema = Record<string, unknown>;

export interface SchemaArbitraryOptions {
  /** Noise mixed in at every level; `text` is true for path, query and header values. */
  readonly junk: (text: boolean) => fc.Arbitrary<unknown>;
  /** Extra likely values for a member or parameter of this name (e.g. connected tenants). */
  readonly known?: (name: string) => readonly unknown[] | undefined;
  /** Weight of a likely value against one junk value, at the top and deeper down. */
  readonly likelyWeight: { readonly top: number; readonly deep: number };
  /** Default and largest generated string length. */
  readonly strings: { readonly maxLength: number; readonly cap: number };
  /** `fc.option` frequency of a required object member (optional ones: 2). */
  readonly requiredFreq: number;
  /** Names tried as an unexpected extra member, besides the declared ones. */
  readonly extraNames: readonly string[];
  /** One object in `extraEvery` gets an extra member. */
  readonly extraEvery: number;
}

/** A regex fast-check can generate from: lookaheads dropped (the schema still decides with the full pattern). */
export function generatable(pattern: string): fc.Arbitrary<string> | undefined {
  try {
    return fc.stringMatching(new RegExp(pattern.replace(/\(\?[!=][^()]*\)/g, '')), { size: 'small' });
  } catch {
    // fast-check cannot generate from this pattern: the schema's other keywords and the junk still apply.
    return undefined;
  }
}

const MAX_DEPTH = 6;

/** The generator for one set of options: `valueFor(schema, name?, text?)`. */
export function schemaArbitrary(options: SchemaArbitraryOptions): (schema: Schema, name?: string, text?: boolean) => fc.Arbitrary<unknown> {
  const valueFor = (schema: Schema, name: string | undefined, text: boolean, depth: number): fc.Arbitrary<unknown> => {
    const likely: fc.Arbitrary<unknown>[] = [];
    for (const key of ['anyOf', 'oneOf'] as const) {
      for (const branch of (schema[key] as Schema[] | undefined) ?? []) likely.push(valueFor(branch, name, text, depth + 1));
    }
    const known = name === undefined ? undefined : options.known?.(name);
    // Known values count three times, so that valid requests often name a connected user.
    if (known !== undefined && known.length > 0) likely.push(...Array.from({ length: 3 }, () => fc.constantFrom(...known)));
    if (Array.isArray(schema['enum'])) likely.push(fc.constantFrom(...(schema['enum'] as unknown[])));
    if ('const' in schema) likely.push(fc.constant(schema['const']));
    if (Array.isArray(schema['examples'])) likely.push(fc.constantFrom(...(schema['examples'] as unknown[])));
    // A closed set of values is generated from the set (the junk covers everything else).
    const type = Array.isArray(schema['enum']) || 'const' in schema ? undefined : schema['type'];
    if (typeof schema['pattern'] === 'string') {
      const matching = generatable(schema['pattern']);
      if (matching !== undefined) likely.push(matching);
    } else if (type === 'string') {
      const max = typeof schema['maxLength'] === 'number' ? schema['maxLength'] : options.strings.maxLength;
      likely.push(fc.string({ maxLength: Math.min(max + 2, options.strings.cap) }));
    }
    if (type === 'integer' || type === 'number') {
      const min = typeof schema['minimum'] === 'number' ? schema['minimum'] : typeof schema['exclusiveMinimum'] === 'number' ? schema['exclusiveMinimum'] : -1000;
      const max = typeof schema['maximum'] === 'number' ? schema['maximum'] : 1_000_000;
      likely.push(fc.oneof(
        fc.integer({ min: Math.max(min - 2, -(2 ** 53)), max: Math.min(min + 50, 2 ** 53) }),
        fc.integer({ min: Math.max(max - 50, -(2 ** 53)), max: Math.min(max + 2, 2 ** 53) }),
        fc.constantFrom(min, max, min - 1, max + 1, 1.5),
      ));
    }
    if (type === 'boolean') likely.push(fc.boolean());
    if (type === 'object' && depth < MAX_DEPTH) likely.push(objectFor(schema, depth + 1));
    if (type === 'array' && depth < MAX_DEPTH) {
      const items = (schema['items'] as Schema | undefined) ?? {};
      const minItems = typeof schema['minItems'] === 'number' ? schema['minItems'] : 0;
      const maxItems = typeof schema['maxItems'] === 'number' ? schema['maxItems'] : 5;
      const item = valueFor(items, undefined, false, depth + 1);
      likely.push(fc.oneof(
        { weight: 6, arbitrary: fc.array(item, { minLength: minItems, maxLength: Math.max(minItems, Math.min(maxItems, 3)) }) },
        { weight: 1, arbitrary: fc.array(item, { maxLength: Math.max(0, minItems - 1) }) },
        { weight: 1, arbitrary: fc.array(item, { minLength: maxItems, maxLength: maxItems + 1 }) },
      ));
    }
    const noise = options.junk(text);
    if (likely.length === 0) return noise;
    return fc.oneof({ weight: depth === 0 ? options.likelyWeight.top : options.likelyWeight.deep, arbitrary: fc.oneof(...likely) }, { weight: 1, arbitrary: noise });
  };

  /** An object: each required member usually present, optional ones sometimes, sometimes an extra one. */
  const objectFor = (schema: Schema, depth: number): fc.Arbitrary<Record<string, unknown>> => {
    const properties = (schema['properties'] as Record<string, Schema> | undefined) ?? {};
    const required = new Set((schema['required'] as string[] | undefined) ?? []);
    const members = Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, fc.option(valueFor(property, name, false, depth), { freq: required.has(name) ? options.requiredFreq : 2, nil: undefined })]));
    const extra = fc.oneof(
      { weight: options.extraEvery - 1, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constantFrom(...Object.keys(properties), ...options.extraNames), fc.string({ maxLength: 8 })), options.junk(false)) },
    );
    return fc.tuple(fc.record(members), extra).map(([record, more]) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(record)) if (v !== undefined) out[k] = v;
      // defineProperty, so that an extra `__proto__` is an own member (as JSON.parse makes it), not a prototype.
      if (more !== undefined && !Object.hasOwn(out, more[0])) Object.defineProperty(out, more[0], { value: more[1], enumerable: true, configurable: true, writable: true });
      return out;
    });
  };

  return (schema, name, text = false) => valueFor(schema, name, text, 0);
}
