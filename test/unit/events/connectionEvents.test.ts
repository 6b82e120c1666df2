import { describe, expect, it } from 'vitest';
import { connectionChangeOf, NotifyingConnectionStore } from '../../../shared/events/connectionEvents.js';
import { EventPublisher } from '../../../shared/events/publisher.js';
import { parseSubscriberConfig } from '../../../shared/events/subscribers.js';
import { staticKeyring } from '../../../shared/actions/hmacKey.js';
import { MemoryEventGrantStore } from '../../../shared/events/grants.js';
import { createLogger } from '../../../shared/log/logger.js';
import { MemoryConnectionStore } from '../../support/memoryConnections.js';

const TID = '11111111-1111-4111-8111-111111111111';
const KEY = { env: 'sod', ctx: 'Cust1', associateId: '6' };

describe('connection change events', () => {
  it('no event without a change of status, or for a first consent', () => {
    expect(connectionChangeOf('active', 'active')).toBeUndefined();
    expect(connectionChangeOf(undefined, 'active')).toBeUndefined();
    expect(connectionChangeOf('revoked', 'revoked')).toBeUndefined();
  });

  it('names reauth_required, revoked and recovered', () => {
    expect(connectionChangeOf('active', 'reauth_required')).toBe('reauth_required');
    expect(connectionChangeOf('reauth_required', 'revoked')).toBe('revoked');
    expect(connectionChangeOf('reauth_required', 'active')).toBe('recovered');
  });

  it('delivers each change to the subscribers of connection events; a failing queue never fails the write', async () => {
    const sent: string[] = [];
    let fail = false;
    const publisher = new EventPublisher({
      environment: 'sod',
      config: parseSubscriberConfig({ subscribers: { ops: { queue: 'events-ops', tid: TID, oid: TID } }, rules: [{ ctx: '*', events: ['connection.*'], subscribers: ['ops'] }] }),
      send: async (_queue, text) => {
        if (fail) throw new Error('queue down');
        sent.push((JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as { type: string }).type);
      },
      grants: new MemoryEventGrantStore(),
      keyring: staticKeyring('unit-actions-hmac-key-0123456789'),
      logger: createLogger({ sink: () => undefined }),
    });
    const inner = new MemoryConnectionStore();
    const store = new NotifyingConnectionStore(inner, () => publisher, createLogger({ sink: () => undefined }));
    await store.saveConsent({ ...KEY, webApiUrl: 'https://sod.superoffice.com/Cust1/api/', isAdministrator: false, systemUserStored: false, consentedAt: 'now', consentedBy: 'c' });
    await store.setStatus(KEY, 'reauth_required', 'invalid_grant');
    await store.setStatus(KEY, 'reauth_required', 'invalid_grant');
    await store.saveConsent({ ...KEY, webApiUrl: 'https://sod.superoffice.com/Cust1/api/', isAdministrator: false, systemUserStored: false, consentedAt: 'now', consentedBy: 'c' });
    fail = true;
    expect(await store.setStatus(KEY, 'revoked', 'revoked')).toMatchObject({ status: 'revoked' });
    expect(sent).toEqual(['broker.connection.reauth_required', 'broker.connection.recovered']);
    expect(inner.rows.get('sod|cust1|6')?.status).toBe('revoked');
  });
});
