import { describe, expect, it } from 'vitest';
import {
  LANE_WINDOW_MS, callerLanesFilter, isWriterId, laneIdOf, lanePartition, newWriterId, parseLaneId, parseLanePartition, registryFilter, registryRowKey,
  windowKeyOf, windowStartOf, windowStartOfKey,
} from '../../../shared/audit/lanes.js';
import { MAX_RECORD_ROW_KEY } from '../../../shared/audit/canonical.js';
import { partitionOf } from '../../../shared/audit/record.js';
import { CALLER, CALLER_ID } from './fixtures.js';

describe('audit lanes: names and keys', () => {
  it('names the hour window of a time, and back', () => {
    const t = Date.UTC(2026, 0, 31, 23, 59, 59, 999);
    expect(windowKeyOf(t)).toBe('20260131T23');
    expect(windowStartOf(t)).toBe(Date.UTC(2026, 0, 31, 23));
    expect(windowKeyOf(t + 1)).toBe('20260201T00');
    expect(windowStartOfKey('20260131T23')).toBe(Date.UTC(2026, 0, 31, 23));
    expect(windowStartOfKey('20260231T23')).toBeUndefined();
    expect(windowStartOfKey('2026013123')).toBeUndefined();
    expect(LANE_WINDOW_MS).toBe(3_600_000);
  });

  it('makes a fresh writer id per sink from the instance, its start and 48 random bits', () => {
    const start = Date.UTC(2026, 0, 1);
    const a = newWriterId('0123456789ABCDEF0123456789abcdef', start);
    const b = newWriterId('0123456789ABCDEF0123456789abcdef', start);
    expect(a).not.toBe(b);
    expect(a).toMatch(new RegExp(`^01234567-${start.toString(36)}-[0-9a-f]{12}$`));
    expect(newWriterId('local-12/#?~', 0, (n) => Buffer.alloc(n, 1))).toBe('local12-0-010101010101');
    expect(newWriterId('', 0, (n) => Buffer.alloc(n))).toBe('x-0-000000000000');
    expect(isWriterId(a)).toBe(true);
    expect(isWriterId('a~b')).toBe(false);
    expect(isWriterId('A-b')).toBe(false);
  });

  it('lane ids start with their hour, so a caller\'s lanes sort by hour; they parse back', () => {
    const lane = laneIdOf(Date.UTC(2026, 4, 6, 7, 8), 'inst-k0-abc');
    expect(lane).toBe('20260506T07-inst-k0-abc');
    expect(parseLaneId(lane)).toEqual({ windowKey: '20260506T07', windowStart: Date.UTC(2026, 4, 6, 7), writer: 'inst-k0-abc' });
    expect(parseLaneId('20260506T07-inst~x')).toBeUndefined();
    expect(parseLaneId('2026050607-inst')).toBeUndefined();
    expect(laneIdOf(Date.UTC(2026, 4, 6, 7), 'w') < laneIdOf(Date.UTC(2026, 4, 6, 8), 'a')).toBe(true);
  });

  it('keys a lane\'s records by caller and lane, and its registry row by caller; `~` cannot occur in a caller id', () => {
    const lane = laneIdOf(Date.UTC(2026, 0, 1), 'w-1-aa');
    expect(lanePartition(CALLER_ID, lane)).toBe(`${CALLER_ID}~${lane}`);
    expect(parseLanePartition(`${CALLER_ID}~${lane}`)).toEqual({ caller: CALLER_ID, lane });
    expect(parseLanePartition(CALLER_ID)).toEqual({ caller: CALLER_ID, lane: undefined });
    expect(registryRowKey(lane) > MAX_RECORD_ROW_KEY).toBe(true);
    expect(partitionOf({ ...CALLER, tid: 'a~b', oid: 'c' })).toBe('a_b_c');
    expect(callerLanesFilter("it's")).toBe("PartitionKey gt 'it''s~' and PartitionKey lt 'it''s~~'");
    expect(registryFilter('c', '20260101T00')).toBe("PartitionKey eq 'c' and RowKey ge 'lane~20260101T00' and RowKey lt 'lane~~'");
    expect(registryFilter()).toBe("RowKey gt 'lane~' and RowKey lt 'lane~~'");
  });
});
