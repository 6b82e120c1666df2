import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONSENT_PAGE_CSP, PAGE_STYLE_HASH, escapeHtml, failurePage, successPage, type FailurePage } from '../../../shared/connections/consent/pages.js';
import { fuzzSeed } from './fuzz.js';

const PAGES: readonly FailurePage[] = ['link_invalid', 'link_used', 'session_invalid', 'denied', 'authorization_error', 'not_verified', 'user_mismatch', 'unavailable', 'internal'];

describe('consent pages', () => {
  it('requirement 36: fast-check (1,000 runs): escapeHtml never leaves <, >, quotes or backticks', () => {
    const seed = fuzzSeed('requirement 36 escapeHtml');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 120 }), (value) => {
        const escaped = escapeHtml(value);
        return !/[<>"'`]/.test(escaped) && escaped.replace(/&(amp|lt|gt|quot|#39|#96);/g, '').includes('&') === false;
      }),
      { numRuns: 1_000, seed },
    );
  });

  it('requirement 36: fast-check (1,000 runs): a hostile request id is escaped in every page', () => {
    const seed = fuzzSeed('requirement 36 request id');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), fc.constantFrom(...PAGES), (requestId, page) => {
        const id = `<x>${requestId}`;
        return !failurePage(page, id).includes('<x>') && !successPage(id).includes('<x>');
      }),
      { numRuns: 1_000, seed },
    );
  });

  it('requirement 36: fast-check (1,000 runs): a hostile tenant or user on the success page is escaped', () => {
    const seed = fuzzSeed('requirement 36 connected subject');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), (ctx, associateId) => {
        const html = successPage('r', { ctx: `<x>${ctx}`, associateId: `"${associateId}` });
        return !html.includes('<x>') && !html.includes('"<') && html.includes('<span id="consent-tenant">&lt;x&gt;');
      }),
      { numRuns: 1_000, seed },
    );
  });

  it('the success page names the connected tenant and user only when given them', () => {
    expect(successPage('r')).toContain('<p id="consent-message">The connection is set up. You can close this window.</p>');
    expect(successPage('r')).not.toContain('consent-tenant');
    expect(successPage('r', { ctx: 'Cust12345', associateId: '6' }))
      .toContain('<p id="consent-message">The connection of SuperOffice user <span id="consent-user">6</span> in tenant <span id="consent-tenant">Cust12345</span> is set up. You can close this window.</p>');
  });

  it('requirement 34: the CSP allows only the page stylesheet, by hash', () => {
    const style = /<style>([\s\S]*?)<\/style>/.exec(successPage('r'))?.[1] ?? '';
    expect(PAGE_STYLE_HASH).toBe(`'sha256-${createHash('sha256').update(style, 'utf8').digest('base64')}'`);
    expect(CONSENT_PAGE_CSP).toBe(`default-src 'none'; style-src ${PAGE_STYLE_HASH}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`);
  });

  it('every failure page is generic: fixed text and the request id only', () => {
    for (const page of PAGES) {
      const html = failurePage(page, 'req-1');
      expect(html).toContain('Request id: <span id="request-id">req-1</span>');
      expect(html).not.toMatch(/<script|<a |<form|<img|<link/i);
    }
  });
});
