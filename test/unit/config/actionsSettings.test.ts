import { describe, expect, it } from 'vitest';
import { testConfig } from '../../support/config.js';

describe('issue 13 settings', () => {
  it('refuses a retention outside 1-2160 hours and EVENT_SUBSCRIBERS that is not JSON', () => {
    expect(() => testConfig({ ACTION_RESULT_RETENTION_HOURS: '0' })).toThrow(/ACTION_RESULT_RETENTION_HOURS must be an integer from 1 to 2160/);
    expect(() => testConfig({ ACTION_RESULT_RETENTION_HOURS: '2161' })).toThrow(/ACTION_RESULT_RETENTION_HOURS/);
    expect(() => testConfig({ ACTION_RESULT_RETENTION_HOURS: '1.5' })).toThrow(/ACTION_RESULT_RETENTION_HOURS/);
    expect(() => testConfig({ EVENT_SUBSCRIBERS: '{subscribers' })).toThrow(/EVENT_SUBSCRIBERS must be a valid JSON document/);
  });

  it('defaults to 7 days of results and no subscribers', () => {
    const config = testConfig();
    expect(config.actionResultRetentionMs).toBe(168 * 3600_000);
    expect(config.eventSubscribers).toEqual({});
    expect(testConfig({ ACTION_RESULT_RETENTION_HOURS: '24', EVENT_SUBSCRIBERS: '{"subscribers":{}}' })).toMatchObject({ actionResultRetentionMs: 24 * 3600_000, eventSubscribers: { subscribers: {} } });
  });
});
