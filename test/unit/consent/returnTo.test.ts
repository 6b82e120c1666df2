import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSafeReturnTo } from '../../../shared/connections/consent/returnTo.js';
import { fuzzSeed } from './fuzz.js';
import { ADMIN_CALLER, consentHarness } from './support.js';

const ORIGIN = 'https://broker.example';

/** Where a browser could end up for a Location value, under several parsers' readings. */
function resolvedOrigins(location: string): string[] {
  const readings = [
    location,
    // Browsers strip tab/CR/LF inside URLs and treat `\` as `/` for http(s).
    location.replace(/[\t\r\n]/g, ''),
    location.replace(/\\/g, '/'),
  ];
  // A proxy or framework that decodes percent-escapes before following the redirect.
  let decoded = location;
  for (let i = 0; i < 4; i++) {
    try {
      const next = decodeURIComponent(decoded);
      if (next === decoded) break;
      decoded = next;
      readings.push(decoded, decoded.replace(/\\/g, '/').replace(/[\t\r\n]/g, ''));
    } catch {
      break;
    }
  }
  return readings.map((r) => {
    try {
      return new URL(r, `${ORIGIN}/api/consent/callback`).origin;
    } catch {
      return 'unparseable';
    }
  });
}

const HOSTILE_PREFIXES = [
  '', '/', '//', '///', '/\\', '\\', '\\\\', '/\t/', '/\n/', '\t//', ' //', '/%2f', '/%2F', '%2f%2f', '/%5c', '/%5C', '%5c%5c', '/%252f%252f',
  '/%25252f/', 'http:', 'https:', 'HTTPS:', 'javascript:', 'JaVaScRiPt:', 'data:', 'vbscript:', 'http://', 'https://', '//@', '/.//', '/./\\',
  '/\r\n', '/%0d%0a', '/%09/', '/%00', '\u3002', '/\u2215', '／／',
];

const hostileReturnTo = fc
  .tuple(fc.constantFrom(...HOSTILE_PREFIXES), fc.oneof(fc.domain(), fc.constant('evil.example'), fc.string({ maxLength: 8 })), fc.webPath(), fc.constantFrom('', '?x=1', '#f', '%0d%0aSet-Cookie:%20a=1', '\r\nLocation: //evil'))
  .map(([prefix, host, path, suffix]) => `${prefix}${host}${path}${suffix}`);

const anyReturnTo = fc.oneof(
  hostileReturnTo,
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: fc.constantFrom('/', '\\', '%', '2', 'f', 'F', '5', 'c', 'C', ':', '.', 'a', '@', '\t', '\n', '\r', '?', '#'), maxLength: 24 }),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.tuple(fc.webPath(), fc.webQueryParameters(), fc.webFragments()).map(([p, q, f]) => `${p.startsWith('/') ? p : `/${p}`}${q ? `?${q}` : ''}${f ? `#${f}` : ''}`),
);

describe('requirement 29: returnTo allow-list rule', () => {
  it('requirement 29: refuses absolute URLs, protocol-relative, backslash, scheme, CR/LF and encoded slashes', () => {
    for (const value of [
      'https://evil.example/', 'http://127.0.0.1/x', '//evil.example', '//evil.example/path', '///evil.example', '/\\evil.example', '\\\\evil.example',
      '\\/evil.example', 'javascript:alert(1)', 'JAVASCRIPT:alert(1)', 'data:text/html,x', '%2f%2fevil.example', '/%2f/evil.example', '/%2F%2Fevil.example',
      '/%5cevil.example', '/%5C%5Cevil.example', '/%252f%252fevil.example', '/a\r\nLocation: //evil', '/a%0d%0aSet-Cookie:x', '/\t/evil.example', '/a b',
      '', 'relative/path', '?x=1', '#frag', `/${'a'.repeat(2048)}`, '/%', '/%zz', '/é', '/%25%32%66%25%32%66evil',
    ]) {
      expect(isSafeReturnTo(value), JSON.stringify(value)).toBe(false);
    }
    expect(isSafeReturnTo(undefined)).toBe(false);
    expect(isSafeReturnTo(42)).toBe(false);
  });

  it('accepts ordinary same-origin paths', () => {
    for (const value of ['/', '/done', '/portal/connections?tab=superoffice&x=1', '/a/b/c#section', '/a%20b', '/@user', '/a:b', '/a/./b']) {
      expect(isSafeReturnTo(value), value).toBe(true);
    }
  });

  it('requirement 29: fast-check (2,000 runs): an accepted returnTo never resolves off-origin under any parser reading', () => {
    const seed = fuzzSeed('requirement 29 returnTo rule');
    fc.assert(
      fc.property(anyReturnTo, (value) => {
        if (!isSafeReturnTo(value)) return true;
        return resolvedOrigins(value).every((origin) => origin === ORIGIN) && !/[\r\n\t\\]/.test(value) && !value.startsWith('//');
      }),
      { numRuns: 2_000, seed },
    );
  });

  it('requirement 29: fast-check (1,000 runs): hostile returnTo values are never accepted', () => {
    const seed = fuzzSeed('requirement 29 hostile returnTo');
    fc.assert(
      fc.property(hostileReturnTo, (value) => {
        const offOrigin = resolvedOrigins(value).some((origin) => origin !== ORIGIN);
        return !(offOrigin && isSafeReturnTo(value));
      }),
      { numRuns: 1_000, seed },
    );
  });

  it('requirement 29: fast-check (1,000 runs) through the whole flow: the post-consent Location is never off-origin', async () => {
    const seed = fuzzSeed('requirement 29 consent Location');
    const h = await consentHarness();
    let completed = 0;
    await fc.assert(
      fc.asyncProperty(anyReturnTo, async (returnTo) => {
        let link;
        try {
          link = await h.service.createLink(ADMIN_CALLER, { ctx: 'Cust12345', returnTo });
        } catch (error) {
          return (error as { code?: string }).code === 'validation_failed';
        }
        const started = await h.service.start(new URL(link.url).searchParams.get('ticket'));
        if (started.kind !== 'redirect') return false;
        const query = h.superOffice.approve(started.location, { associateId: '6', isAdministrator: false });
        const done = await h.service.callback(query, `${started.cookie.name}=${started.cookie.value}`);
        if (done.kind !== 'done') return false;
        completed++;
        return resolvedOrigins(done.location).every((origin) => origin === ORIGIN) && !/code=|state=/.test(done.location);
      }),
      { numRuns: 1_000, seed },
    );
    // The property must have exercised real redirects, not only refusals.
    expect(completed).toBeGreaterThan(100);
  }, 120_000);
});
