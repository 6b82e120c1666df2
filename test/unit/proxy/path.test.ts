import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import * as z from 'zod/mini';
import { MAX_PROXY_PATH_BYTES, ProxyPathParam, parseProxyPath, upstreamUrlOf } from '../../../shared/proxy/path.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof BrokerError ? error.code : 'not-a-broker-error';
  }
}

/**
 * Traversal and smuggling payloads, as `{*path}` values (the host has decoded all but %2F) with a raw
 * query string.
 */
export const HOSTILE_PROXY_PATHS: readonly (readonly [string, string])[] = [
  ['..', ''],
  ['v1/..', ''],
  ['v1/../tokens', ''],
  ['v1/Contact/../../../api/tokens', ''],
  ['v1/./Contact/5', ''],
  ['v1/Contact/.', ''],
  ['v1%2f..%2fx', ''],
  ['v1/Contact%2F5', ''],
  ['v1/Contact%2f..%2f..%2ftokens', ''],
  ['v1/Contact%5c..%5cx', ''],
  ['v1\\..\\x', ''],
  ['v1/Contact\\5', ''],
  ['v1//Contact', ''],
  ['v1/Contact/', ''],
  ['/v1/Contact', ''],
  ['//evil.example/v1/Contact', ''],
  ['https://evil.example/v1/Contact', ''],
  ['https:/evil.example/v1', ''],
  ['@evil.example/v1', ''],
  ['v2/Contact', ''],
  ['api/v1/Contact', ''],
  ['V1/Contact', ''],
  ['v1', ''],
  ['', ''],
  ['v1/Contact/\u0000', ''],
  ['v1/Contact/\r\nHost: evil', ''],
  ['v1/Contact/\u007f', ''],
  ['v1/Contact/5', '?a=\r\n'],
  ['v1/Contact/5', 'x=1'],
  ['v1/Contact/5', '?a=1#frag'],
  ['v1/Contact/5', '?a b'],
  [`v1/${'a'.repeat(MAX_PROXY_PATH_BYTES)}`, ''],
  ['v1/Contact/5', `?q=${'a'.repeat(MAX_PROXY_PATH_BYTES)}`],
];

describe('parseProxyPath refuses traversal and smuggling', () => {
  it.each(HOSTILE_PROXY_PATHS)('refuses %j %j with invalid_proxy_path', (path, search) => {
    expect(codeOf(() => parseProxyPath(path, search))).toBe('invalid_proxy_path');
  });

  it('the published schema refuses every hostile path too', () => {
    for (const [path, search] of HOSTILE_PROXY_PATHS) {
      if (search === '') expect(z.safeParse(ProxyPathParam, path).success, path).toBe(false);
    }
  });
});

describe('parseProxyPath accepts Web API paths', () => {
  it('keeps the segments for the policy and encodes them canonically', () => {
    const parsed = parseProxyPath('v1/Contact/5');
    expect(parsed).toEqual({ segments: ['v1', 'Contact', '5'], path: 'v1/Contact/5', encoded: 'v1/Contact/5', search: '' });
  });

  it('never decodes twice: a literal %2e%2e (from %252e%252e) stays a literal, re-encoded', () => {
    const parsed = parseProxyPath('v1/Find/%2e%2e');
    expect(parsed.segments).toEqual(['v1', 'Find', '%2e%2e']);
    expect(parsed.encoded).toBe('v1/Find/%252e%252e');
  });

  it('keeps the query string and encodes what needs encoding', () => {
    const parsed = parseProxyPath('v1/Find/æ x:y', '?$select=name,department&$top=5');
    expect(parsed.segments).toEqual(['v1', 'Find', 'æ x:y']);
    expect(parsed.encoded).toBe('v1/Find/%C3%A6%20x%3Ay');
    expect(parsed.search).toBe('?$select=name,department&$top=5');
    expect(z.safeParse(ProxyPathParam, 'v1/Find/æ x:y').success).toBe(true);
  });

  it('treats a lone ? as no query', () => {
    expect(parseProxyPath('v1/User/currentPrincipal', '?').search).toBe('');
  });
});

describe('upstreamUrlOf', () => {
  it('appends the canonical path under the tenant base, with or without a trailing slash', () => {
    const parsed = parseProxyPath('v1/Contact/5', '?$select=name');
    expect(upstreamUrlOf('https://sod2.superoffice.com/Cust12345/api/', parsed).href).toBe('https://sod2.superoffice.com/Cust12345/api/v1/Contact/5?$select=name');
    expect(upstreamUrlOf('https://sod2.superoffice.com/Cust12345/api', parsed).href).toBe('https://sod2.superoffice.com/Cust12345/api/v1/Contact/5?$select=name');
  });

  it('never leaves the base, whatever the segments decode to', () => {
    const crafted = { segments: ['v1', '..', '..'], path: 'v1/../..', encoded: 'v1/../..', search: '' };
    expect(codeOf(() => upstreamUrlOf('https://sod.superoffice.com/Cust1/api/', crafted))).toBe('invalid_proxy_path');
  });
});
