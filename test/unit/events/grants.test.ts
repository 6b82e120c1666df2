import { describe, expect, it } from 'vitest';
import { staticKeyring } from '../../../shared/actions/hmacKey.js';
import { decideEventGrant, EVENT_GRANT_TTL_MS, grantIdOf, type EventGrant } from '../../../shared/events/grants.js';
import type { Caller } from '../../../shared/identity/caller.js';
import { parsePolicy } from '../../../shared/identity/policy.js';

const TID = '11111111-1111-4111-8111-111111111111';
const WORKER: Caller = { tid: TID, oid: '55555555-5555-4555-8555-555555555555', azp: '66666666-6666-4666-8666-666666666666', idtyp: 'app', roles: [], tokenVersion: '2.0' };
const NOW = 1_750_000_000_000;
const POLICY = parsePolicy({
  version: 1,
  callers: [{ name: 'worker', tid: TID, oid: WORKER.oid, operations: ['actions', 'proxy'], superOffice: [{ env: 'sod', ctx: 'Cust1', users: ['999'], webApi: ['PATCH v1/Contact/*'] }] }],
});
const GRANT: EventGrant = { id: 'g', subscriber: 'worker', identity: { tid: TID, oid: WORKER.oid, appId: undefined }, env: 'sod', ctx: 'Cust1', associateId: '6', eventId: 'e', createdAt: new Date(NOW) };
const REQUEST = { policy: POLICY, caller: WORKER, operation: 'actions' as const, env: 'sod', ctx: 'Cust1', actAs: '6', webApi: { method: 'PATCH', segments: ['v1', 'Contact', '101'] }, now: NOW };

describe('decideEventGrant: refusals', () => {
  it.each([
    ['no grant', undefined, {}, 'event_grant_unknown'],
    ['a grant older than 15 minutes', GRANT, { now: NOW + EVENT_GRANT_TTL_MS + 1 }, 'event_grant_expired'],
    ['a grant from the future', GRANT, { now: NOW - 120_000 }, 'event_grant_expired'],
    ["another subscriber's grant", { ...GRANT, identity: { tid: TID, oid: '77777777-7777-4777-8777-777777777777', appId: undefined } }, {}, 'event_grant_not_yours'],
    ['a grant of another tenant (same user id)', GRANT, { ctx: 'Cust2' }, 'event_grant_other_subject'],
    ['another user', GRANT, { actAs: '7' }, 'event_grant_other_subject'],
    ['the system user', GRANT, { actAs: 'system' }, 'event_grant_other_subject'],
    ['another environment', GRANT, { env: 'online' }, 'event_grant_other_subject'],
    ['an operation the policy does not grant', GRANT, { operation: 'tokens' as const }, 'operation_not_granted'],
    ['a call outside the Web API rules', GRANT, { webApi: { method: 'DELETE', segments: ['v1', 'Contact', '101'] } }, 'web_api_not_granted'],
  ] as const)('refuses %s', (_what, grant, overrides, reason) => {
    expect(decideEventGrant({ ...REQUEST, ...overrides }, grant)).toEqual({ allowed: false, reason });
  });

  it('refuses when the policy no longer grants the tenant', () => {
    const narrowed = parsePolicy({ version: 1, callers: [{ name: 'worker', tid: TID, oid: WORKER.oid, operations: ['actions'], superOffice: [{ env: 'sod', ctx: 'Cust9', users: '*' }] }] });
    expect(decideEventGrant({ ...REQUEST, policy: narrowed }, GRANT)).toEqual({ allowed: false, reason: 'tenant_not_granted' });
  });
});

describe('decideEventGrant', () => {
  it('allows exactly the event user, for the subscriber, within 15 minutes, for granted calls', () => {
    expect(decideEventGrant(REQUEST, GRANT)).toEqual({ allowed: true, grant: GRANT });
    expect(decideEventGrant({ ...REQUEST, now: NOW + EVENT_GRANT_TTL_MS }, GRANT)).toMatchObject({ allowed: true });
    expect(decideEventGrant({ ...REQUEST, operation: 'proxy' }, GRANT)).toMatchObject({ allowed: true });
  });

  it('grant ids are stable per (event, subscriber), differ otherwise, and depend on the key', async () => {
    const key = staticKeyring('unit-actions-hmac-key-0123456789');
    const id = await grantIdOf(key, 'e1', 'worker');
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await grantIdOf(key, 'e1', 'worker')).toBe(id);
    expect(await grantIdOf(key, 'e2', 'worker')).not.toBe(id);
    expect(await grantIdOf(key, 'e1', 'other')).not.toBe(id);
    expect(await grantIdOf(staticKeyring('another-key-0123456789abcdef'), 'e1', 'worker')).not.toBe(id);
  });
});
