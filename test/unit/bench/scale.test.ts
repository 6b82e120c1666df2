import { describe, expect, it } from 'vitest';
import { LIMITS, scaleModel, scaleRow, usersAtColdReadBurst, type MeasuredCosts } from '../../bench/scale.js';

const COSTS: MeasuredCosts = {
  keyVaultReadsPerRefresh: 1,
  keyVaultWritesPerRefresh: 0,
  keyVaultInstanceReads: 2,
  superOfficeTokenCallsPerRefresh: 1,
  superOfficeTenantStateCalls: 1,
  auditTableCallsPerRequest: 1,
  connectionWritesPerRefresh: 1,
  statusCacheMs: 5_000,
  statusCacheOn: true,
  tokenLifetimeSec: 3600,
  refreshAheadSec: 300,
  secretCacheTtlSec: 900,
};

describe('scale model (docs/scale.md §4)', () => {
  it('one instance refreshes a user once per lifetime minus refresh-ahead; more instances each refresh, up to one per request', () => {
    expect(scaleRow(COSTS, 60, 1).refreshesPerUserPerHour).toBeCloseTo(60 / 55);
    expect(scaleRow(COSTS, 60, 10).refreshesPerUserPerHour).toBeCloseTo(600 / 55);
    expect(scaleRow(COSTS, 60, 100).refreshesPerUserPerHour).toBe(60);
  });

  it('users at the Key Vault read limit: the hourly budget less the instances\' own reads, over one user\'s reads', () => {
    const row = scaleRow(COSTS, 60, 1);
    const budget = LIMITS.keyVaultReadsPer10s * 360 - 1 * 2 * 4;
    expect(row.usersAtKeyVaultReadLimit).toBeCloseTo(budget / (60 / 55));
    expect(row.usersAtKeyVaultWriteLimit).toBe(Infinity);
    expect(scaleRow({ ...COSTS, keyVaultWritesPerRefresh: 1 }, 60, 1).usersAtKeyVaultWriteLimit).toBeCloseTo((300 * 360) / (60 / 55));
  });

  it('counts a connection read per request unless the status cache covers the gap between a user\'s requests on one instance', () => {
    // 3600/h on one instance: a request a second, inside the 5 s TTL → audit only, plus bookkeeping per refresh (write + re-read).
    expect(scaleRow(COSTS, 3600, 1).tableCallsPerUserPerHour).toBeCloseTo(3600 * 1 + (60 / 55) * 2);
    // Ten instances: each sees the user every 10 s, beyond the TTL → a read per request.
    expect(scaleRow(COSTS, 3600, 10).tableCallsPerUserPerHour).toBeCloseTo(3600 * 2 + (600 / 55) * 2);
    // Cache off: a read per request, one bookkeeping write per refresh.
    expect(scaleRow({ ...COSTS, statusCacheOn: false }, 3600, 1).tableCallsPerUserPerHour).toBeCloseTo(3600 * 2 + 60 / 55);
  });

  it('after all instances restart, at most one read per request: the limit binds at the users\' combined request rate', () => {
    expect(usersAtColdReadBurst(COSTS, 3600)).toBeCloseTo(400);
    expect(usersAtColdReadBurst(COSTS, 60)).toBeCloseTo(24_000);
  });

  it('prints a table per request rate with a row per instance count', () => {
    const { text, rows } = scaleModel(COSTS, [60], [1, 10, 100]);
    expect(rows.map((r) => r.instances)).toEqual([1, 10, 100]);
    expect(text).toContain('60 token requests per user per hour');
    expect(text).toContain('users at KV read limit');
  });
});
