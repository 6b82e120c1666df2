import { describe, expect, it } from 'vitest';
import { comparePrecedence, decodePathSegment, parseRouteTemplate, withRoutePrefix } from '../../../dev/host/routeTemplate.js';
import { createLogger } from '../../../shared/log/logger.js';
import { listFunctions } from '../../../shared/runtime/registry.js';
import { createRuntime, setRuntime } from '../../../shared/runtime/runtime.js';
import { testConfig } from '../../support/config.js';

describe('route templates: invalid or unsupported templates', () => {
  it.each([
    ['a/{id:int}', '"{id:int}" is not supported'],
    ['a/{id=7}', '"{id=7}" is not supported'],
    ['a/{file}.{ext}', '"{file}.{ext}" is not supported'],
    ['a/v{version}', '"v{version}" is not supported'],
    ['a/{*rest}/b', 'catch-all parameter must be the last segment'],
    ['a/{*rest?}', 'catch-all parameter cannot be marked optional'],
    ['a/{x?}/b', 'only trailing parameters may be optional'],
    ['a/{id}/{ID}', 'the parameter "ID" appears twice'],
    ['a/{id', '"{id" is not supported'],
    ['a/id}', '"id}" is not supported'],
    ['a//b', 'empty segment'],
    ['a/{}', '"{}" is not supported'],
    ['a/b?c', '"b?c" is not supported'],
  ])('rejects %s', (template, message) => {
    expect(() => parseRouteTemplate(template)).toThrow(`Invalid route template "${template}": `);
    expect(() => parseRouteTemplate(template)).toThrow(message);
  });

  it('accepts every route the app registers', async () => {
    const previous = setRuntime(createRuntime(testConfig(), { logger: createLogger({ sink: () => undefined }) }));
    try {
      await import('../../../functions/index.js');
    } finally {
      setRuntime(previous);
    }
    const routes = listFunctions().flatMap((f) => (f.kind === 'http' ? [f.route] : []));
    expect(routes.length).toBeGreaterThan(10);
    for (const route of routes) expect(() => parseRouteTemplate(withRoutePrefix('api', route)), route).not.toThrow();
  });
});

describe('route templates: matching', () => {
  it('matches literals case-insensitively and ignores one trailing slash', () => {
    const t = parseRouteTemplate('api/Tokens');
    expect(t.match('/API/tokens')).toEqual({});
    expect(t.match('/api/tokens/')).toEqual({});
    expect(t.match('/api/tokens//')).toBeUndefined();
    expect(t.match('/api/tokensx')).toBeUndefined();
    expect(t.match('/api')).toBeUndefined();
  });

  it('binds {name}, and allows trailing {name?} to be left out, a later one only with the earlier one', () => {
    const t = parseRouteTemplate('api/a/{x?}/{y?}');
    expect(t.match('/api/a')).toEqual({});
    expect(t.match('/api/a/1')).toEqual({ x: '1' });
    expect(t.match('/api/a/1/2')).toEqual({ x: '1', y: '2' });
    expect(t.match('/api/a//2')).toBeUndefined();
    expect(t.match('/api/a/1/2/3')).toBeUndefined();
    expect(parseRouteTemplate('api/{x}/b').match('/api/b')).toBeUndefined();
    expect(parseRouteTemplate('api/connections/{ctx}/{associateId}/revoke').match('/api/connections/Cust1/6/REVOKE')).toEqual({ ctx: 'Cust1', associateId: '6' });
  });

  it('binds the rest of the path to {*rest} or {**rest}, decoded per segment', () => {
    expect(parseRouteTemplate('api/f/{*rest}').match('/api/f/a/b%2Fc/d%20e')).toEqual({ rest: 'a/b%2Fc/d e' });
    expect(parseRouteTemplate('api/f/{**rest}').match('/api/f/a/b')).toEqual({ rest: 'a/b' });
    expect(parseRouteTemplate('api/f/{*rest}').match('/api/f')).toEqual({});
    expect(parseRouteTemplate('api/f/{*rest}').match('/api/g/x')).toBeUndefined();
  });

  it('decodes percent-encoding except %2F, and keeps malformed escapes as they are', () => {
    expect(decodePathSegment('a%20b')).toBe('a b');
    expect(decodePathSegment('a%2fb%2Fc')).toBe('a%2fb%2Fc');
    expect(decodePathSegment('100%')).toBe('100%');
    expect(decodePathSegment('%E2%82%AC')).toBe('€');
    expect(parseRouteTemplate('api/{x}').match('/api/%61bc')).toEqual({ x: 'abc' });
    expect(parseRouteTemplate('api/{x}').match('/api/%')).toEqual({ x: '%' });
    expect(parseRouteTemplate('api/{x}').match('/api/%2525')).toEqual({ x: '%25' });
    // Literals are compared after decoding, as Kestrel decodes the path before routing.
    expect(parseRouteTemplate('api/tokens').match('/api/%74okens')).toEqual({});
    expect(parseRouteTemplate('api/a/b').match('/api/a%2Fb')).toBeUndefined();
  });

  it('orders literals before parameters, before catch-alls', () => {
    const templates = ['api/{*rest}', 'api/{id}', 'api/new', 'api/{id}/x'].map(parseRouteTemplate);
    const ordered = [...templates].sort(comparePrecedence).map((t) => t.template);
    expect(ordered).toEqual(['api/new', 'api/{id}', 'api/{id}/x', 'api/{*rest}']);
  });

  it('joins the route prefix and the route', () => {
    expect(withRoutePrefix('api', 'health')).toBe('api/health');
    expect(withRoutePrefix('api', '/health')).toBe('api/health');
    expect(withRoutePrefix('', 'health')).toBe('health');
    expect(withRoutePrefix('api', '')).toBe('api');
  });
});
