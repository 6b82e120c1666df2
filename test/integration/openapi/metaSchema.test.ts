import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../../shared/http/openapi.js';

/**
 * The document against the official OpenAPI 3.1 meta-schema ("without schema validation": Schema
 * Objects are `$dynamicRef: #meta` objects or booleans), then every Schema Object in it against the
 * JSON Schema 2020-12 meta-schema (the OAS base dialect is 2020-12 plus annotations we do not use).
 *
 * `OAS_3_1_SCHEMA` is https://spec.openapis.org/oas/3.1/schema/2022-02-27 as published in
 * OAI/OpenAPI-Specification `schemas/v3.1/schema.json` (commit d3c5de16), with its `$comment`
 * annotations left out and `$dynamicRef: '#meta'` replaced by its static target (see `META`); there is
 * no network in tests, so it is vendored here.
 */

const ref = (name: string) => ({ $ref: `#/$defs/${name}` });
const EXT = ref('specification-extensions');
const orReference = (name: string) => ({ if: { type: 'object', required: ['$ref'] }, then: ref('reference'), else: ref(name) });
const mapOf = (name: string) => ({ type: 'object', additionalProperties: ref(name) });
const servers = { type: 'array', items: ref('server') };
const styleIf = (field: string, value: string) => ({ properties: { [field]: { const: value } }, required: [field] });
const explodeDefault = { if: styleIf('style', 'form'), then: { properties: { explode: { default: true } } }, else: { properties: { explode: { default: false } } } };
const uri = { type: 'string', format: 'uri' };
const flow = (required: readonly string[], urls: readonly string[]) => ({
  type: 'object',
  properties: { ...Object.fromEntries(urls.map((u) => [u, uri])), scopes: ref('map-of-strings') },
  required: [...required, 'scopes'],
  $ref: '#/$defs/specification-extensions',
  unevaluatedProperties: false,
});
const whenType = (type: string) => ({ properties: { type: { const: type } }, required: ['type'] });
// The published schema says `{ $dynamicRef: '#meta' }`; with no dialect schema extending it, that resolves to
// `#/$defs/schema` (the only `$dynamicAnchor: meta`). Ajv 8 mis-resolves this dynamic reference (it lands on the
// enclosing parameter or media type), so the static equivalent is used.
const META = ref('schema');

const OAS_3_1_SCHEMA = {
  $id: 'https://spec.openapis.org/oas/3.1/schema/2022-02-27',
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+(-.+)?$' },
    info: ref('info'),
    jsonSchemaDialect: { type: 'string', format: 'uri', default: 'https://spec.openapis.org/oas/3.1/dialect/base' },
    servers: { ...servers, default: [{ url: '/' }] },
    paths: ref('paths'),
    webhooks: mapOf('path-item-or-reference'),
    components: ref('components'),
    security: { type: 'array', items: ref('security-requirement') },
    tags: { type: 'array', items: ref('tag') },
    externalDocs: ref('external-documentation'),
  },
  required: ['openapi', 'info'],
  anyOf: [{ required: ['paths'] }, { required: ['components'] }, { required: ['webhooks'] }],
  $ref: '#/$defs/specification-extensions',
  unevaluatedProperties: false,
  $defs: {
    info: {
      type: 'object',
      properties: {
        title: { type: 'string' },
        summary: { type: 'string' },
        description: { type: 'string' },
        termsOfService: uri,
        contact: ref('contact'),
        license: ref('license'),
        version: { type: 'string' },
      },
      required: ['title', 'version'],
      ...EXT,
      unevaluatedProperties: false,
    },
    contact: {
      type: 'object',
      properties: { name: { type: 'string' }, url: uri, email: { type: 'string', format: 'email' } },
      ...EXT,
      unevaluatedProperties: false,
    },
    license: {
      type: 'object',
      properties: { name: { type: 'string' }, identifier: { type: 'string' }, url: uri },
      required: ['name'],
      oneOf: [{ required: ['identifier'] }, { required: ['url'] }],
      ...EXT,
      unevaluatedProperties: false,
    },
    server: {
      type: 'object',
      properties: {
        url: { type: 'string', format: 'uri-reference' },
        description: { type: 'string' },
        variables: mapOf('server-variable'),
      },
      required: ['url'],
      ...EXT,
      unevaluatedProperties: false,
    },
    'server-variable': {
      type: 'object',
      properties: {
        enum: { type: 'array', items: { type: 'string' }, minItems: 1 },
        default: { type: 'string' },
        description: { type: 'string' },
      },
      required: ['default'],
      ...EXT,
      unevaluatedProperties: false,
    },
    components: {
      type: 'object',
      properties: {
        schemas: { type: 'object', additionalProperties: META },
        responses: mapOf('response-or-reference'),
        parameters: mapOf('parameter-or-reference'),
        examples: mapOf('example-or-reference'),
        requestBodies: mapOf('request-body-or-reference'),
        headers: mapOf('header-or-reference'),
        securitySchemes: mapOf('security-scheme-or-reference'),
        links: mapOf('link-or-reference'),
        callbacks: mapOf('callbacks-or-reference'),
        pathItems: mapOf('path-item-or-reference'),
      },
      patternProperties: {
        '^(schemas|responses|parameters|examples|requestBodies|headers|securitySchemes|links|callbacks|pathItems)$': {
          propertyNames: { pattern: '^[a-zA-Z0-9._-]+$' },
        },
      },
      ...EXT,
      unevaluatedProperties: false,
    },
    paths: {
      type: 'object',
      patternProperties: { '^/': ref('path-item') },
      ...EXT,
      unevaluatedProperties: false,
    },
    'path-item': {
      type: 'object',
      properties: {
        summary: { type: 'string' },
        description: { type: 'string' },
        servers,
        parameters: { type: 'array', items: ref('parameter-or-reference') },
      },
      patternProperties: { '^(get|put|post|delete|options|head|patch|trace)$': ref('operation') },
      ...EXT,
      unevaluatedProperties: false,
    },
    'path-item-or-reference': orReference('path-item'),
    operation: {
      type: 'object',
      properties: {
        tags: { type: 'array', items: { type: 'string' } },
        summary: { type: 'string' },
        description: { type: 'string' },
        externalDocs: ref('external-documentation'),
        operationId: { type: 'string' },
        parameters: { type: 'array', items: ref('parameter-or-reference') },
        requestBody: ref('request-body-or-reference'),
        responses: ref('responses'),
        callbacks: mapOf('callbacks-or-reference'),
        deprecated: { default: false, type: 'boolean' },
        security: { type: 'array', items: ref('security-requirement') },
        servers,
      },
      ...EXT,
      unevaluatedProperties: false,
    },
    'external-documentation': {
      type: 'object',
      properties: { description: { type: 'string' }, url: uri },
      required: ['url'],
      ...EXT,
      unevaluatedProperties: false,
    },
    parameter: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        in: { enum: ['query', 'header', 'path', 'cookie'] },
        description: { type: 'string' },
        required: { default: false, type: 'boolean' },
        deprecated: { default: false, type: 'boolean' },
        schema: META,
        content: { $ref: '#/$defs/content', minProperties: 1, maxProperties: 1 },
      },
      required: ['name', 'in'],
      oneOf: [{ required: ['schema'] }, { required: ['content'] }],
      if: styleIf('in', 'query'),
      then: { properties: { allowEmptyValue: { default: false, type: 'boolean' } } },
      dependentSchemas: {
        schema: {
          properties: { style: { type: 'string' }, explode: { type: 'boolean' } },
          allOf: [
            ref('examples'),
            { $ref: '#/$defs/parameter/dependentSchemas/schema/$defs/styles-for-path' },
            { $ref: '#/$defs/parameter/dependentSchemas/schema/$defs/styles-for-header' },
            { $ref: '#/$defs/parameter/dependentSchemas/schema/$defs/styles-for-query' },
            { $ref: '#/$defs/parameter/dependentSchemas/schema/$defs/styles-for-cookie' },
            { $ref: '#/$defs/parameter/dependentSchemas/schema/$defs/styles-for-form' },
          ],
          $defs: {
            'styles-for-path': {
              if: styleIf('in', 'path'),
              then: {
                properties: {
                  name: { pattern: '[^/#?]+$' },
                  style: { default: 'simple', enum: ['matrix', 'label', 'simple'] },
                  required: { const: true },
                },
                required: ['required'],
              },
            },
            'styles-for-header': {
              if: styleIf('in', 'header'),
              then: { properties: { style: { default: 'simple', const: 'simple' } } },
            },
            'styles-for-query': {
              if: styleIf('in', 'query'),
              then: {
                properties: {
                  style: { default: 'form', enum: ['form', 'spaceDelimited', 'pipeDelimited', 'deepObject'] },
                  allowReserved: { default: false, type: 'boolean' },
                },
              },
            },
            'styles-for-cookie': {
              if: styleIf('in', 'cookie'),
              then: { properties: { style: { default: 'form', const: 'form' } } },
            },
            'styles-for-form': explodeDefault,
          },
        },
      },
      ...EXT,
      unevaluatedProperties: false,
    },
    'parameter-or-reference': orReference('parameter'),
    'request-body': {
      type: 'object',
      properties: { description: { type: 'string' }, content: ref('content'), required: { default: false, type: 'boolean' } },
      required: ['content'],
      ...EXT,
      unevaluatedProperties: false,
    },
    'request-body-or-reference': orReference('request-body'),
    content: {
      type: 'object',
      additionalProperties: ref('media-type'),
      propertyNames: { format: 'media-range' },
    },
    'media-type': {
      type: 'object',
      properties: { schema: META, encoding: mapOf('encoding') },
      allOf: [EXT, ref('examples')],
      unevaluatedProperties: false,
    },
    encoding: {
      type: 'object',
      properties: {
        contentType: { type: 'string', format: 'media-range' },
        headers: mapOf('header-or-reference'),
        style: { default: 'form', enum: ['form', 'spaceDelimited', 'pipeDelimited', 'deepObject'] },
        explode: { type: 'boolean' },
        allowReserved: { default: false, type: 'boolean' },
      },
      allOf: [EXT, { $ref: '#/$defs/encoding/$defs/explode-default' }],
      unevaluatedProperties: false,
      $defs: { 'explode-default': explodeDefault },
    },
    responses: {
      type: 'object',
      properties: { default: ref('response-or-reference') },
      patternProperties: { '^[1-5](?:[0-9]{2}|XX)$': ref('response-or-reference') },
      minProperties: 1,
      ...EXT,
      unevaluatedProperties: false,
    },
    response: {
      type: 'object',
      properties: {
        description: { type: 'string' },
        headers: mapOf('header-or-reference'),
        content: ref('content'),
        links: mapOf('link-or-reference'),
      },
      required: ['description'],
      ...EXT,
      unevaluatedProperties: false,
    },
    'response-or-reference': orReference('response'),
    callbacks: {
      type: 'object',
      ...EXT,
      additionalProperties: ref('path-item-or-reference'),
    },
    'callbacks-or-reference': orReference('callbacks'),
    example: {
      type: 'object',
      properties: { summary: { type: 'string' }, description: { type: 'string' }, value: true, externalValue: uri },
      not: { required: ['value', 'externalValue'] },
      ...EXT,
      unevaluatedProperties: false,
    },
    'example-or-reference': orReference('example'),
    link: {
      type: 'object',
      properties: {
        operationRef: { type: 'string', format: 'uri-reference' },
        operationId: true,
        parameters: ref('map-of-strings'),
        requestBody: true,
        description: { type: 'string' },
        body: ref('server'),
      },
      oneOf: [{ required: ['operationRef'] }, { required: ['operationId'] }],
      ...EXT,
      unevaluatedProperties: false,
    },
    'link-or-reference': orReference('link'),
    header: {
      type: 'object',
      properties: {
        description: { type: 'string' },
        required: { default: false, type: 'boolean' },
        deprecated: { default: false, type: 'boolean' },
        schema: META,
        content: { $ref: '#/$defs/content', minProperties: 1, maxProperties: 1 },
      },
      oneOf: [{ required: ['schema'] }, { required: ['content'] }],
      dependentSchemas: {
        schema: {
          properties: { style: { default: 'simple', const: 'simple' }, explode: { default: false, type: 'boolean' } },
          $ref: '#/$defs/examples',
        },
      },
      ...EXT,
      unevaluatedProperties: false,
    },
    'header-or-reference': orReference('header'),
    tag: {
      type: 'object',
      properties: { name: { type: 'string' }, description: { type: 'string' }, externalDocs: ref('external-documentation') },
      required: ['name'],
      ...EXT,
      unevaluatedProperties: false,
    },
    reference: {
      type: 'object',
      properties: { $ref: { type: 'string', format: 'uri-reference' }, summary: { type: 'string' }, description: { type: 'string' } },
      unevaluatedProperties: false,
    },
    schema: { $dynamicAnchor: 'meta', type: ['object', 'boolean'] },
    'security-scheme': {
      type: 'object',
      properties: {
        type: { enum: ['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect'] },
        description: { type: 'string' },
      },
      required: ['type'],
      allOf: [
        EXT,
        { $ref: '#/$defs/security-scheme/$defs/type-apikey' },
        { $ref: '#/$defs/security-scheme/$defs/type-http' },
        { $ref: '#/$defs/security-scheme/$defs/type-http-bearer' },
        { $ref: '#/$defs/security-scheme/$defs/type-oauth2' },
        { $ref: '#/$defs/security-scheme/$defs/type-oidc' },
      ],
      unevaluatedProperties: false,
      $defs: {
        'type-apikey': {
          if: whenType('apiKey'),
          then: { properties: { name: { type: 'string' }, in: { enum: ['query', 'header', 'cookie'] } }, required: ['name', 'in'] },
        },
        'type-http': {
          if: whenType('http'),
          then: { properties: { scheme: { type: 'string' } }, required: ['scheme'] },
        },
        'type-http-bearer': {
          if: {
            properties: { type: { const: 'http' }, scheme: { type: 'string', pattern: '^[Bb][Ee][Aa][Rr][Ee][Rr]$' } },
            required: ['type', 'scheme'],
          },
          then: { properties: { bearerFormat: { type: 'string' } } },
        },
        'type-oauth2': {
          if: whenType('oauth2'),
          then: { properties: { flows: ref('oauth-flows') }, required: ['flows'] },
        },
        'type-oidc': {
          if: whenType('openIdConnect'),
          then: { properties: { openIdConnectUrl: uri }, required: ['openIdConnectUrl'] },
        },
      },
    },
    'security-scheme-or-reference': orReference('security-scheme'),
    'oauth-flows': {
      type: 'object',
      properties: {
        implicit: { $ref: '#/$defs/oauth-flows/$defs/implicit' },
        password: { $ref: '#/$defs/oauth-flows/$defs/password' },
        clientCredentials: { $ref: '#/$defs/oauth-flows/$defs/client-credentials' },
        authorizationCode: { $ref: '#/$defs/oauth-flows/$defs/authorization-code' },
      },
      ...EXT,
      unevaluatedProperties: false,
      $defs: {
        implicit: flow(['authorizationUrl'], ['authorizationUrl', 'refreshUrl']),
        password: flow(['tokenUrl'], ['tokenUrl', 'refreshUrl']),
        'client-credentials': flow(['tokenUrl'], ['tokenUrl', 'refreshUrl']),
        'authorization-code': flow(['authorizationUrl', 'tokenUrl'], ['authorizationUrl', 'tokenUrl', 'refreshUrl']),
      },
    },
    'security-requirement': {
      type: 'object',
      additionalProperties: { type: 'array', items: { type: 'string' } },
    },
    'specification-extensions': { patternProperties: { '^x-': true } },
    examples: {
      properties: {
        example: true,
        examples: mapOf('example-or-reference'),
      },
    },
    'map-of-strings': { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

/** The formats the meta-schema and the document use (no network, no ajv-formats). */
function addFormats(ajv: Ajv2020): void {
  const isUrl = (value: string, base?: string): boolean => {
    try {
      new URL(value, base);
      return true;
    } catch {
      return false;
    }
  };
  ajv.addFormat('uri', (v: string) => /^[A-Za-z][A-Za-z0-9+.-]*:/.test(v) && isUrl(v));
  ajv.addFormat('uri-reference', (v: string) => !/\s/.test(v) && isUrl(v, 'https://base.invalid/'));
  ajv.addFormat('email', /^[^\s@]+@[^\s@]+$/);
  ajv.addFormat('media-range', /^(?:\*|[a-z0-9!#$&^_.+-]+)\/(?:\*|[a-z0-9!#$&^_.+-]+)(?:\s*;.*)?$/i);
  ajv.addFormat('date-time', (v: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i.test(v) && !Number.isNaN(Date.parse(v)));
}

function metaValidator() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv.compile(OAS_3_1_SCHEMA);
}

const describeErrors = (errors: readonly ErrorObject[] | null | undefined): string =>
  JSON.stringify((errors ?? []).slice(0, 30).map((e) => ({ at: e.instancePath, keyword: e.keyword, message: e.message, params: e.params })), null, 2);

/** Every Schema Object in the document, with its JSON pointer. */
function schemaObjects(document: Readonly<Record<string, unknown>>): { pointer: string; schema: unknown }[] {
  const out: { pointer: string; schema: unknown }[] = [];
  const escape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
  const visit = (node: unknown, pointer: string, parentKey: string | undefined): void => {
    if (typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, `${pointer}/${i}`, undefined));
      return;
    }
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      const at = `${pointer}/${escape(key)}`;
      if (key === 'schema' && parentKey !== 'properties') out.push({ pointer: at, schema: value });
      else if (parentKey === 'schemas' && pointer === '/components/schemas') out.push({ pointer: at, schema: value });
      else visit(value, at, key);
    }
  };
  visit(document, '', undefined);
  return out;
}

describe('the OpenAPI meta-schema check', () => {
  const validate = metaValidator();
  const good = openApiDocument({ serverUrl: 'https://broker.example.com' });

  it.each([
    ['no info', { openapi: '3.1.0', paths: {} }],
    ['an OpenAPI 3.0 version', { ...good, openapi: '3.0.3' }],
    ['an unknown member in an operation', { ...good, paths: { '/x': { get: { operationId: 'x', responses: { 200: { description: 'ok' } }, nonsense: 1 } } } }],
    ['a response without a description', { ...good, paths: { '/x': { get: { responses: { 200: {} } } } } }],
    ['a status key that is not a status', { ...good, paths: { '/x': { get: { responses: { 20: { description: 'ok' } } } } } }],
    ['a path parameter that is not required', { ...good, paths: { '/x/{id}': { get: { parameters: [{ name: 'id', in: 'path', schema: { type: 'string' } }], responses: { 200: { description: 'ok' } } } } } }],
    ['a schema that is neither an object nor a boolean', { ...good, components: { schemas: { Broken: 42 } } }],
  ])('rejects a document with %s', (_name, document) => {
    expect(validate(document)).toBe(false);
  });

  it('accepts the broker\'s document (servers with and without an origin)', () => {
    for (const document of [good, openApiDocument()]) {
      const valid = validate(document);
      expect(valid, describeErrors(validate.errors)).toBe(true);
    }
  });

  it('every Schema Object in the document is valid JSON Schema 2020-12', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const found = schemaObjects(good);
    expect(found.length).toBeGreaterThan(40);
    const invalid = found.filter(({ schema }) => !ajv.validateSchema(schema as object | boolean)).map(({ pointer }) => ({ pointer, errors: describeErrors(ajv.errors) }));
    expect(invalid, JSON.stringify(invalid, null, 2)).toEqual([]);
  });
});
