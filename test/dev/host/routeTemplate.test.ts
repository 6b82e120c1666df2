import { describe, expect, it } from 'vitest';
import { comparePrecedence, decodePathSegment, parseRouteTemplate, withRoutePrefix } from '../../../dev/host/routeTemplate.js';

describe('route templates: invalid templates', () => {
  it.each([
    ['a/{id:number}', 'unknown constraint "number"'],
    ['a/{id:int(3)}', 'constraint int takes no arguments'],
    ['a/{id:min(x)}', 'constraint min takes 1 integer argument(s)'],
    ['a/{id:range(1)}', 'constraint range takes 2 integer argument(s)'],
    ['a/{id:regex([)}', 'invalid pattern'],
    ['a/{*rest}/b', 'catch-all parameter must be the whole last segment'],
    ['a/x{*rest}', 'catch-all parameter must be the whole last segment'],
    ['a/{*rest?}', 'catch-all parameter cannot be marked optional'],
    ['a/{id}/{ID}', 'the parameter "ID" appears twice'],
    ['a/{x}{y}', 'two consecutive parameters'],
    ['a/{x?}.txt', 'optional parameter must be at the end of its segment'],
    ['a/{id', 'unclosed "{"'],
    ['a/id}', 'unmatched "}"'],
    ['a//b', 'empty segment'],
    ['a/{}', 'a parameter needs a name'],
    ['a/b?c', 'only allowed inside a parameter'],
  ])('rejects %s', (template, message) => {
    expect(() => parseRouteTemplate(template)).toThrow(`Invalid route template "${template}": `);
    expect(() => parseRouteTemplate(template)).toThrow(message);
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

  it('binds {name}, allows {name?} to be left out only at the end, and fills {name=default}', () => {
    const t = parseRouteTemplate('api/a/{x?}/{y?}');
    expect(t.match('/api/a')).toEqual({});
    expect(t.match('/api/a/1')).toEqual({ x: '1' });
    expect(t.match('/api/a/1/2')).toEqual({ x: '1', y: '2' });
    expect(parseRouteTemplate('api/{x?}/b').match('/api/b')).toBeUndefined();
    expect(parseRouteTemplate('api/p/{n=7}').match('/api/p')).toEqual({ n: '7' });
  });

  it('applies constraints: int, long, alpha, guid, bool, ranges, lengths, regex, and combinations', () => {
    const cases: [string, string, boolean][] = [
      ['{v:int}', '2147483647', true],
      ['{v:int}', '2147483648', false],
      ['{v:int}', '-5', true],
      ['{v:int}', '5.0', false],
      ['{v:long}', '9223372036854775807', true],
      ['{v:long}', '9223372036854775808', false],
      ['{v:alpha}', 'AbC', true],
      ['{v:alpha}', 'ab1', false],
      ['{v:guid}', '0f8fad5b-d9cb-469f-a165-70867728950e', true],
      ['{v:guid}', '0f8fad5bd9cb469fa16570867728950e', true],
      ['{v:guid}', '{0f8fad5b-d9cb-469f-a165-70867728950e}', true],
      ['{v:guid}', '0f8fad5b-d9cb-469f-a165', false],
      ['{v:bool}', 'False', true],
      ['{v:bool}', '1', false],
      ['{v:min(10)}', '10', true],
      ['{v:min(10)}', '9', false],
      ['{v:max(10)}', 'x', false],
      ['{v:range(1,3)}', '3', true],
      ['{v:range(1,3)}', '4', false],
      ['{v:length(2)}', 'ab', true],
      ['{v:length(2,3)}', 'abcd', false],
      ['{v:minlength(2)}', 'a', false],
      ['{v:maxlength(2)}', 'ab', true],
      ['{v:regex(^cust\\d+$)}', 'CUST123', true],
      ['{v:regex(^cust\\d+$)}', 'cust12a', false],
      ['{v:int:min(1)}', '0', false],
      ['{v:int:min(1)}', '1', true],
      ['{v:double}', '-1.5e3', true],
      ['{v:decimal}', '1e3', false],
      ['{v:datetime}', '2026-01-02', true],
    ];
    for (const [param, value, matches] of cases) {
      const result = parseRouteTemplate(`api/${param}`).match(`/api/${encodeURIComponent(value)}`);
      expect(result === undefined ? false : result['v'] === value, `${param} ${value}`).toBe(matches);
    }
    expect(parseRouteTemplate('api/{v:int?}').match('/api')).toEqual({});
    expect(parseRouteTemplate('api/{v:int?}').match('/api/x')).toBeUndefined();
  });

  it('binds the rest of the path to {*rest} or {**rest}, decoded per segment', () => {
    expect(parseRouteTemplate('api/f/{*rest}').match('/api/f/a/b%2Fc/d%20e')).toEqual({ rest: 'a/b%2Fc/d e' });
    expect(parseRouteTemplate('api/f/{**rest}').match('/api/f/a/b')).toEqual({ rest: 'a/b' });
    expect(parseRouteTemplate('api/f/{*rest}').match('/api/f')).toEqual({});
    expect(parseRouteTemplate('api/f/{*rest:minlength(3)}').match('/api/f/ab')).toBeUndefined();
  });

  it('matches segments that mix literals and parameters, right to left', () => {
    const t = parseRouteTemplate('api/{name}.{ext}');
    expect(t.match('/api/a.b.c')).toEqual({ name: 'a.b', ext: 'c' });
    expect(t.match('/api/abc')).toBeUndefined();
    const optional = parseRouteTemplate('api/{name}.{ext?}');
    expect(optional.match('/api/readme')).toEqual({ name: 'readme' });
    expect(optional.match('/api/readme.md')).toEqual({ name: 'readme', ext: 'md' });
    expect(parseRouteTemplate('api/v{version:int}').match('/api/V2')).toEqual({ version: '2' });
    expect(parseRouteTemplate('api/v{version:int}').match('/api/vx')).toBeUndefined();
  });

  it('decodes percent-encoding except %2F, and keeps malformed escapes as they are', () => {
    expect(decodePathSegment('a%20b')).toBe('a b');
    expect(decodePathSegment('a%2fb%2Fc')).toBe('a%2fb%2Fc');
    expect(decodePathSegment('100%')).toBe('100%');
    expect(decodePathSegment('%E2%82%AC')).toBe('€');
    expect(parseRouteTemplate('api/{x}').match('/api/%61bc')).toEqual({ x: 'abc' });
    expect(parseRouteTemplate('api/{x}').match('/api/%')).toEqual({ x: '%' });
  });

  it('orders literals before constrained parameters, before parameters, before catch-alls', () => {
    const templates = ['api/{*rest}', 'api/{id}', 'api/{id:int}', 'api/new', 'api/{a}.{b}'].map(parseRouteTemplate);
    const ordered = [...templates].sort(comparePrecedence).map((t) => t.template);
    expect(ordered).toEqual(['api/new', 'api/{a}.{b}', 'api/{id:int}', 'api/{id}', 'api/{*rest}']);
  });

  it('joins the route prefix and the route', () => {
    expect(withRoutePrefix('api', 'health')).toBe('api/health');
    expect(withRoutePrefix('api', '/health')).toBe('api/health');
    expect(withRoutePrefix('', 'health')).toBe('health');
    expect(withRoutePrefix('api', '')).toBe('api');
  });
});
