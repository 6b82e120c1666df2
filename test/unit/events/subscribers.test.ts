import { describe, expect, it } from 'vitest';
import { cloudEvent, queueMessageOf } from '../../../shared/events/cloudEvents.js';
import { parseSubscriberConfig, subscribersFor, subscribersOfCaller } from '../../../shared/events/subscribers.js';

const TID = '11111111-1111-4111-8111-111111111111';
const OID = '55555555-5555-4555-8555-555555555555';

describe('EVENT_SUBSCRIBERS: refused documents', () => {
  it.each([
    ['an unknown member', { subscribers: {}, extra: 1 }, /EVENT_SUBSCRIBERS/],
    ['a subscriber without oid or appId', { subscribers: { w: { queue: 'events-w', tid: TID } } }, /subscribers\.w/],
    ['a bad queue name', { subscribers: { w: { queue: 'Events_W', tid: TID, oid: OID } } }, /queue/],
    ["the broker's own queue", { subscribers: { w: { queue: 'actions', tid: TID, oid: OID } } }, /queue/],
    ['a rule naming an unknown subscriber', { subscribers: {}, rules: [{ ctx: 'Cust1', events: ['*'], subscribers: ['nobody'] }] }, /rules\.0\.subscribers.*nobody/],
    ['a bad event pattern', { subscribers: { w: { queue: 'events-w', tid: TID, oid: OID } }, rules: [{ ctx: 'Cust1', events: ['contact.**'], subscribers: ['w'] }] }, /rules\.0\.events/],
  ])('refuses %s', (_what, doc, message) => {
    expect(() => parseSubscriberConfig(doc)).toThrow(message);
  });
});

describe('EVENT_SUBSCRIBERS', () => {
  const config = parseSubscriberConfig({
    subscribers: { worker: { queue: 'events-worker', tid: TID, oid: OID }, ops: { queue: 'events-ops', tid: TID, appId: OID } },
    rules: [
      { ctx: 'Cust1', events: ['contact.changed', 'person.*'], subscribers: ['worker'] },
      { ctx: '*', events: ['connection.*'], subscribers: ['ops', 'worker'] },
    ],
  });

  it('no document means no subscribers', () => {
    expect(parseSubscriberConfig({}).subscribers.size).toBe(0);
  });

  it('routes by tenant and event pattern, each subscriber once', () => {
    expect(subscribersFor(config, 'Cust1', 'contact.changed').map((s) => s.name)).toEqual(['worker']);
    expect(subscribersFor(config, 'Cust1', 'person.created').map((s) => s.name)).toEqual(['worker']);
    expect(subscribersFor(config, 'Cust1', 'contact.created')).toEqual([]);
    expect(subscribersFor(config, 'Cust2', 'contact.changed')).toEqual([]);
    expect(subscribersFor(config, 'Cust2', 'connection.revoked').map((s) => s.name)).toEqual(['ops', 'worker']);
  });

  it("finds a caller's subscribers by identity", () => {
    expect(subscribersOfCaller(config, { tid: TID, oid: OID, azp: 'x' }).map((s) => s.name)).toEqual(['worker']);
    expect(subscribersOfCaller(config, { tid: TID, oid: 'other', azp: OID }).map((s) => s.name)).toEqual(['ops']);
  });
});

describe('CloudEvents', () => {
  it('refuses an event without id, source or type', () => {
    expect(() => cloudEvent({ id: '', source: '/s', type: 't', time: new Date(0), data: {} })).toThrow(TypeError);
  });

  it('builds the JSON format with the grant as an extension attribute, base64 on the queue', () => {
    const event = cloudEvent({ id: 'e1', source: '/superoffice/sod/Cust1', type: 'superoffice.contact.changed', subject: 'Cust1/contact/2', time: new Date(0), data: { a: 1 }, grant: 'g' });
    expect(event).toEqual({ specversion: '1.0', id: 'e1', source: '/superoffice/sod/Cust1', type: 'superoffice.contact.changed', subject: 'Cust1/contact/2', time: '1970-01-01T00:00:00.000Z', datacontenttype: 'application/json', data: { a: 1 }, brokereventgrant: 'g' });
    expect(/^[a-z0-9]{1,20}$/.test('brokereventgrant')).toBe(true);
    expect(JSON.parse(Buffer.from(queueMessageOf(event), 'base64').toString('utf8'))).toEqual(event);
  });
});
