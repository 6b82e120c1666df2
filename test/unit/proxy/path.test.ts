import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import { MAX_PROXY_PATH_BYTES, parseProxyPath, upstreamUrlOf } from '../../../shared/proxy/path.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof BrokerError ? error.code : 'not-a-broker-error';
  }
}

/** Traversal and smuggling payloads (raw, as they would follow `/api/superoffice/{ctx}/{actAs}/`). */
export const HOSTILE_PROXY_PATHS: readonly (readonly [string, string])[] = [
  ['..', ''],
  ['v1/..', ''],
  ['v1/../tokens', ''],
  ['v1/Contact/../../../api/tokens', ''],
  ['v1/./Contact/5', ''],
  ['v1/%2e%2e/x', ''],
  ['v1/%2E%2E/%2e%2E/x', ''],
  ['v1/.%2e/x', ''],
  ['v1/%2e/Contact', ''],
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
  ['http:%2f%2fevil.example/v1', ''],
  ['@evil.example/v1', ''],
  ['v2/Contact', ''],
  ['api/v1/Contact', ''],
  ['V1', ''],
  ['v1', ''],
  ['', ''],
  ['v1/Contact/%00', ''],
  ['v1/Contact/%0d%0aX-Injected:1', ''],
  ['v1/Contact/%0A', ''],
  ['v1/Contact/%7f', ''],
  ['v1/Contact/\u0000', ''],
  ['v1/Contact/a b', ''],
  ['v1/Contact/\r\nHost: evil', ''],
  ['v1/Contact/%', ''],
  ['v1/Contact/%zz', ''],
  ['v1/Contact/%c0%ae%c0%ae', ''],
  ['v1/Contact/\u00e9', ''],
  ['v1/Contact/5', '?$select=name%0d%0aX: y'],
  ['v1/Contact/5', '?a=\r\n'],
  ['v1/Contact/5', 'x=1'],
  ['v1/Contact/5', '?a=1#frag'],
  [`v1/${'a'.repeat(MAX_PROXY_PATH_BYTES)}`, ''],
  ['v1/Contact/5', `?q=${'a'.repeat(MAX_PROXY_PATH_BYTES)}`],
];

describe('parseProxyPath refuses traversal and smuggling', () => {
  it.each(HOSTILE_PROXY_PATHS)('refuses %j %j with invalid_proxy_path', (path, search) => {
    expect(codeOf(() => parseProxyPath(path, search))).toBe('invalid_proxy_path');
  });
});

describe('parseProxyPath accepts Web API paths', () => {
  it('decodes segments for the policy and re-encodes them canonically', () => {
    const parsed = parseProxyPath('v1/Contact/5');
    expect(parsed).toEqual({ segments: ['v1', 'Contact', '5'], path: 'v1/Contact/5', encoded: 'v1/Contact/5', search: '' });
  });

  it('keeps the query string and encodes what needs encoding', () => {
    const parsed = parseProxyPath('v1/Find/%C3%A6%20x:y', '?$select=name,department&$top=5');
    expect(parsed.segments).toEqual(['v1', 'Find', 'æ x:y']);
    expect(parsed.encoded).toBe('v1/Find/%C3%A6%20x%3Ay');
    expect(parsed.search).toBe('?$select=name,department&$top=5');
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
