import { describe, expect, it } from 'vitest';
import { parseRetryAfter, retryAfterFromHeaders } from '../../../shared/resilience/retryAfter.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

describe('parseRetryAfter (RFC 9110 §10.2.3, requirement 51)', () => {
  it('gives undefined for absent, empty and malformed values', () => {
    for (const value of [null, undefined, '', '   ', 'soon', '-5', '1.5', '0x10', '12 seconds', 'NaN', '99999999999']) {
      expect(parseRetryAfter(value, NOW), String(value)).toBeUndefined();
    }
  });
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120);
  });
  it('reads an HTTP-date relative to now, and a past date as 0', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', NOW)).toBe(30);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', NOW)).toBe(0);
  });
});

describe('retryAfterFromHeaders', () => {
  const headers = (values: Record<string, string>) => (name: string) => values[name];
  it('gives undefined without a usable header', () => {
    expect(retryAfterFromHeaders(headers({}), NOW)).toBeUndefined();
    expect(retryAfterFromHeaders(headers({ 'retry-after-ms': 'x', 'retry-after': 'later' }), NOW)).toBeUndefined();
  });
  it('prefers the millisecond headers, rounding up to whole seconds', () => {
    expect(retryAfterFromHeaders(headers({ 'retry-after-ms': '1500', 'retry-after': '60' }), NOW)).toBe(2);
    expect(retryAfterFromHeaders(headers({ 'x-ms-retry-after-ms': '10' }), NOW)).toBe(1);
    expect(retryAfterFromHeaders(headers({ 'retry-after': '7' }), NOW)).toBe(7);
  });
});
