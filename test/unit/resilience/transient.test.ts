import { describe, expect, it } from 'vitest';
import { TRANSIENT_STATUSES, isTransientStatus } from '../../../shared/resilience/transient.js';

describe('isTransientStatus (requirements 50, 52)', () => {
  it('refuses every other status, 501 and 505 included', () => {
    for (const status of [0, 200, 204, 301, 400, 401, 403, 404, 409, 413, 421, 451, 499, 501, 505, 511, 599]) {
      expect(isTransientStatus(status), String(status)).toBe(false);
    }
  });
  it('accepts exactly 408, 429, 500, 502, 503 and 504', () => {
    const all = Array.from({ length: 600 }, (_, i) => i).filter(isTransientStatus);
    expect(all).toEqual([408, 429, 500, 502, 503, 504]);
    expect([...TRANSIENT_STATUSES].sort()).toEqual([408, 429, 500, 502, 503, 504]);
  });
});
