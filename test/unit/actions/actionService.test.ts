import { beforeEach, describe, expect, it } from 'vitest';
import { ActionService, MAX_ACTION_BODY_BYTES, type ActionInput } from '../../../shared/actions/actionService.js';
import { MemoryActionStore } from '../../../shared/actions/actionStore.js';
import { sealEnvelope } from '../../../shared/actions/envelope.js';
import { staticKeyring } from '../../../shared/actions/hmacKey.js';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { grantIdOf, MemoryEventGrantStore } from '../../../shared/events/grants.js';
import type { Caller } from '../../../shared/identity/caller.js';
import { parsePolicy, type Policy } from '../../../shared/identity/policy.js';
import { createLogger } from '../../../shared/log/logger.js';
import type { ProxyRequest, ProxyResponse } from '../../../shared/proxy/proxyService.js';

const TID = '11111111-1111-4111-8111-111111111111';
const CALLER: Caller = { tid: TID, oid: '33333333-3333-4333-8333-333333333333', azp: '44444444-4444-4444-8444-444444444444', idtyp: 'app', roles: ['Actions.Run'], tokenVersion: '2.0' };
const WORKER: Caller = { ...CALLER, oid: '55555555-5555-4555-8555-555555555555', azp: '66666666-6666-4666-8666-666666666666' };
const OTHER: Caller = { ...CALLER, oid: '77777777-7777-4777-8777-777777777777' };
const KEY = staticKeyring('unit-actions-hmac-key-0123456789');

function policyOf(users: '*' | string[] = ['5']): Policy {
  return parsePolicy({
    version: 1,
    callers: [
      { name: 'integration', tid: TID, oid: CALLER.oid, operations: ['actions'], superOffice: [{ env: 'sod', ctx: 'Cust1', users, webApi: ['GET,PATCH v1/Contact/*'] }] },
      { name: 'worker', tid: TID, oid: WORKER.oid, operations: ['actions'], superOffice: [{ env: 'sod', ctx: 'Cust1', users: ['999'], webApi: ['PATCH v1/Contact/*'] }] },
      { name: 'other', tid: TID, oid: OTHER.oid, operations: ['actions'], superOffice: [{ env: 'sod', ctx: 'Cust1', users: '*', webApi: ['* v1/**'] }] },
    ],
  });
}

/** A fake of the proxy's call path: answers from a script, records each call. */
class FakeProxy {
  readonly calls: ProxyRequest[] = [];
  script: Array<number | Error> = [];
  async call(request: ProxyRequest): Promise<ProxyResponse> {
    this.calls.push(request);
    const next = this.script.shift() ?? 200;
    if (next instanceof Error) throw next;
    return { status: next, headers: { 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from(JSON.stringify({ ContactId: 2, status: next })), retried: false, flags: [] };
  }
}

let now: number;
let store: MemoryActionStore;
let queue: Array<{ text: string; visibilityTimeoutSec?: number }>;
let proxy: FakeProxy;
let audit: AuditEntry[];
let grants: MemoryEventGrantStore;
let policy: Policy;
let notified: string[];
let service: ActionService;

beforeEach(() => {
  now = Date.parse('2025-06-01T12:00:00.000Z');
  store = new MemoryActionStore();
  queue = [];
  proxy = new FakeProxy();
  audit = [];
  grants = new MemoryEventGrantStore();
  policy = policyOf();
  notified = [];
  service = new ActionService({
    environment: 'sod',
    store,
    queue: { send: async (text, options) => void queue.push({ text, ...options }) },
    keyring: KEY,
    policy: () => policy,
    proxy,
    grants,
    audit: { record: async (entry) => void audit.push(entry) },
    logger: createLogger({ sink: () => undefined }),
    retentionMs: 24 * 3600_000,
    attemptTimeoutMs: 5000,
    notifier: { actionFinished: async (record) => void notified.push(`${record.id}:${record.state}`) },
    clock: () => now,
  });
});

const INPUT: ActionInput = { ctx: 'Cust1', actAs: '5', request: { method: 'PATCH', path: 'v1/Contact/2', body: { Name: 'Nora AS' } } };

async function createAndTake(input: ActionInput = INPUT, caller: Caller = CALLER): Promise<{ id: string; text: string }> {
  const { id } = await service.create(caller, `key-${Math.random()}`, input);
  const message = queue.shift();
  if (message === undefined) throw new Error('nothing enqueued');
  return { id, text: message.text };
}

describe('ActionService.create: refusals first', () => {
  it('refuses a caller the policy does not let act as that user, before storing anything', async () => {
    await expect(service.create(CALLER, 'k1', { ...INPUT, actAs: '6' })).rejects.toMatchObject({ code: 'forbidden', reason: 'user_not_granted' });
    await expect(service.create(CALLER, 'k1', { ...INPUT, request: { method: 'DELETE', path: 'v1/Contact/2' } })).rejects.toMatchObject({ reason: 'web_api_not_granted' });
    await expect(service.create(CALLER, 'k1', { ...INPUT, actAs: 'system' })).rejects.toMatchObject({ reason: 'system_user_not_granted' });
    expect(store.actions.size).toBe(0);
    expect(queue).toHaveLength(0);
  });

  it('applies the proxy path rules', async () => {
    await expect(service.create(CALLER, 'k1', { ...INPUT, request: { method: 'GET', path: 'v1/Contact/../User/1' } })).rejects.toMatchObject({ code: 'invalid_proxy_path' });
    await expect(service.create(CALLER, 'k1', { ...INPUT, request: { method: 'GET', path: 'https://evil.example/v1/Contact/1' } })).rejects.toMatchObject({ code: 'invalid_proxy_path' });
  });

  it('refuses a bad Idempotency-Key, an oversized body and a far notBefore', async () => {
    await expect(service.create(CALLER, '', INPUT)).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(service.create(CALLER, 'a b', INPUT)).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(service.create(CALLER, 'k', { ...INPUT, request: { ...INPUT.request, body: 'x'.repeat(MAX_ACTION_BODY_BYTES) } })).rejects.toMatchObject({ code: 'payload_too_large' });
    await expect(service.create(CALLER, 'k', { ...INPUT, notBefore: new Date(now + 7 * 24 * 3600_000).toISOString() })).rejects.toMatchObject({ code: 'validation_failed' });
  });

  it('answers 409 for the same key with a different request', async () => {
    await service.create(CALLER, 'same-key', INPUT);
    await expect(service.create(CALLER, 'same-key', { ...INPUT, request: { ...INPUT.request, body: { Name: 'Other' } } })).rejects.toMatchObject({ code: 'conflict' });
    expect(queue).toHaveLength(1);
  });
});

describe('ActionService.create', () => {
  it('returns the same id for the same key from the same caller, and enqueues once', async () => {
    const first = await service.create(CALLER, 'same-key', INPUT);
    const second = await service.create(CALLER, 'same-key', INPUT);
    expect(second).toEqual({ id: first.id, created: false });
    expect(first.created).toBe(true);
    expect(queue).toHaveLength(1);
  });

  it('keeps keys apart per caller', async () => {
    const mine = await service.create(CALLER, 'same-key', INPUT);
    const theirs = await service.create(OTHER, 'same-key', INPUT);
    expect(theirs.id).not.toBe(mine.id);
  });

  it('re-sends an action stored by an attempt that crashed before the queue took it', async () => {
    let fail = true;
    const flaky = new ActionService({ ...(service as unknown as { options: ConstructorParameters<typeof ActionService>[0] }).options, queue: { send: async (text) => { if (fail) throw new BrokerError('upstream_unavailable'); queue.push({ text }); } } });
    await expect(flaky.create(CALLER, 'crash-key', INPUT)).rejects.toMatchObject({ code: 'upstream_unavailable' });
    fail = false;
    const again = await flaky.create(CALLER, 'crash-key', INPUT);
    expect(queue).toHaveLength(1);
    expect(store.actions.get(again.id)?.enqueued).toBe(true);
  });

  it('delays an action with notBefore by the queue visibility timeout', async () => {
    await service.create(CALLER, 'later', { ...INPUT, notBefore: new Date(now + 90_500).toISOString() });
    expect(queue[0]?.visibilityTimeoutSec).toBe(91);
  });

  it('shows the result to its creator only', async () => {
    const { id } = await service.create(CALLER, 'k', INPUT);
    await expect(service.get(OTHER, id)).rejects.toMatchObject({ code: 'not_found' });
    await expect(service.get(CALLER, 'no-such-id')).rejects.toMatchObject({ code: 'not_found' });
    expect(await service.get(CALLER, id)).toMatchObject({ id, state: 'queued', attempts: 0, request: { method: 'PATCH', path: 'v1/Contact/2' } });
  });
});

describe('ActionService.execute: messages that must never run', () => {
  it.each([
    ['not JSON', 'garbage{'],
    ['unsigned', '{"v":1,"action":{"id":"x"}}'],
  ])('refuses a %s message, records and audits it as anonymous, and completes', async (_what, text) => {
    await service.execute(text, { messageId: 'm1' });
    expect(proxy.calls).toHaveLength(0);
    expect(store.refusals).toHaveLength(1);
    expect(audit).toEqual([expect.objectContaining({ caller: null, outcome: 'deny', action: 'actions.execute' })]);
  });

  it('refuses a tampered message without touching the real action', async () => {
    const { id, text } = await createAndTake();
    const tampered = JSON.parse(text) as { action: { actAs: string } };
    tampered.action.actAs = '6';
    await service.execute(JSON.stringify(tampered));
    expect(proxy.calls).toHaveLength(0);
    expect(store.refusals[0]).toMatchObject({ reason: 'signature_invalid', claimedId: id });
    expect(store.actions.get(id)?.state).toBe('queued');
  });

  it('a message forged with another key is refused', async () => {
    const { text } = await createAndTake();
    const parsed = JSON.parse(text) as { action: Parameters<typeof sealEnvelope>[0] };
    await service.execute(await sealEnvelope(parsed.action, staticKeyring('attacker-key-0123456789abcdef')));
    expect(proxy.calls).toHaveLength(0);
    expect(store.refusals[0]?.reason).toBe('signature_invalid');
  });

  it('a replayed (duplicate) delivery of a finished action executes nothing', async () => {
    const { id, text } = await createAndTake();
    await service.execute(text);
    await service.execute(text);
    await service.execute(JSON.parse(text) as unknown);
    expect(proxy.calls).toHaveLength(1);
    expect(store.actions.get(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
  });
});

describe('ActionService.execute', () => {
  it('runs the request as actAs through the proxy call path and stores the result', async () => {
    const { id, text } = await createAndTake();
    await service.execute(text);
    const call = proxy.calls[0]!;
    expect(call).toMatchObject({ ctx: 'Cust1', actAs: { kind: 'user', associateId: '5' }, method: 'PATCH' });
    expect(call.path.path).toBe('v1/Contact/2');
    expect(Buffer.from(call.body!).toString('utf8')).toBe('{"Name":"Nora AS"}');
    expect(call.headers.get('authorization')).toBeNull();
    const view = await service.get(CALLER, id);
    expect(view).toMatchObject({ state: 'succeeded', superOfficeStatus: 200, attempts: 1, response: { encoding: 'utf8', truncated: false } });
    expect(JSON.parse(view.response!.body)).toEqual({ ContactId: 2, status: 200 });
    expect(audit.at(-1)).toMatchObject({ caller: expect.objectContaining({ oid: CALLER.oid }), action: 'actions.execute', outcome: 'allow', reason: 'ok', upstreamStatus: 200, subject: { env: 'sod', ctx: 'Cust1', associateId: '5' } });
  });

  it('a transient failure throws for the host to retry, then succeeds', async () => {
    proxy.script = [503, new BrokerError('upstream_timeout')];
    const { id, text } = await createAndTake();
    await expect(service.execute(text)).rejects.toThrow();
    expect(store.actions.get(id)).toMatchObject({ state: 'queued', errorCode: 'superoffice_503', attempts: 1 });
    await expect(service.execute(text)).rejects.toThrow();
    await service.execute(text);
    expect(store.actions.get(id)).toMatchObject({ state: 'succeeded', attempts: 3, superOfficeStatus: 200, errorCode: undefined });
    expect(audit.map((a) => a.reason)).toEqual(['superoffice_503', 'upstream_timeout', 'ok']);
  });

  it.each([
    ['SuperOffice 400', 400, 'superoffice_400'],
    ['reauth_required', new BrokerError('reauth_required'), 'reauth_required'],
    ['not_connected', new BrokerError('not_connected'), 'not_connected'],
  ])('a permanent failure (%s) ends the action at once as failed', async (_what, answer, code) => {
    proxy.script = [answer];
    const { id, text } = await createAndTake();
    await service.execute(text);
    expect(store.actions.get(id)).toMatchObject({ state: 'failed', errorCode: code, attempts: 1 });
    expect(audit.at(-1)).toMatchObject({ outcome: 'error', reason: code });
  });

  it('re-checks the policy as it stands now: a grant withdrawn after acceptance fails the action without a call', async () => {
    const { id, text } = await createAndTake();
    policy = policyOf(['7']);
    await service.execute(text);
    expect(proxy.calls).toHaveLength(0);
    expect(store.actions.get(id)).toMatchObject({ state: 'failed', errorCode: 'forbidden' });
    expect(audit.at(-1)).toMatchObject({ outcome: 'deny', reason: 'forbidden' });
  });

  it('Table Storage unavailable while executing: throws so the host retries', async () => {
    const { text } = await createAndTake();
    store.failure = new Error('table down');
    await expect(service.execute(text)).rejects.toMatchObject({ code: 'upstream_unavailable' });
    expect(proxy.calls).toHaveLength(0);
  });

  it('notifies when asked', async () => {
    const { id, text } = await createAndTake({ ...INPUT, notify: true });
    await service.execute(text);
    expect(notified).toEqual([`${id}:succeeded`]);
  });
});

describe('ActionService.finishExhausted', () => {
  it('ends an action from the poison queue as failed / exhausted, once', async () => {
    proxy.script = [503];
    const { id, text } = await createAndTake();
    await expect(service.execute(text)).rejects.toThrow();
    await service.finishExhausted(text);
    await service.finishExhausted(text);
    expect(store.actions.get(id)).toMatchObject({ state: 'failed', errorCode: 'exhausted' });
    expect(audit.filter((a) => a.action === 'actions.exhausted')).toHaveLength(1);
    await service.execute(text);
    expect(proxy.calls).toHaveLength(1);
  });

  it('refuses a forged poison message rather than failing the real action', async () => {
    const { id, text } = await createAndTake();
    const forged = JSON.parse(text) as { sig: string };
    forged.sig = 'A'.repeat(43);
    await service.finishExhausted(JSON.stringify(forged));
    expect(store.actions.get(id)?.state).toBe('queued');
    expect(store.refusals[0]).toMatchObject({ queue: 'actions-poison', reason: 'signature_invalid' });
  });
});

describe('ActionService with an event grant (issue 13 point 6)', () => {
  async function grant(options: { subscriberOid?: string; associateId?: string; createdAt?: number } = {}): Promise<string> {
    const id = await grantIdOf(KEY, `event-${Math.random()}`, 'worker');
    await grants.put({
      id, subscriber: 'worker', identity: { tid: TID, oid: options.subscriberOid ?? WORKER.oid, appId: undefined },
      env: 'sod', ctx: 'Cust1', associateId: options.associateId ?? '5', eventId: 'e', createdAt: new Date(options.createdAt ?? now),
    });
    return id;
  }

  it('without a grant the worker may not act as user 5', async () => {
    await expect(service.create(WORKER, 'k', INPUT)).rejects.toMatchObject({ code: 'forbidden', reason: 'user_not_granted' });
  });

  it.each([
    ['unknown', async () => 'A'.repeat(43), 'event_grant_unknown'],
    ['malformed', async () => 'not a grant', 'event_grant_unknown'],
    ['older than 15 minutes', () => grant({ createdAt: now - 15 * 60_000 - 1 }), 'event_grant_expired'],
    ["another subscriber's", () => grant({ subscriberOid: OTHER.oid }), 'event_grant_not_yours'],
    ['for another user', () => grant({ associateId: '6' }), 'event_grant_other_subject'],
  ])('refuses a grant that is %s', async (_what, make, reason) => {
    const id = await make();
    await expect(service.create(WORKER, 'k', INPUT, id)).rejects.toMatchObject({ code: 'forbidden', grantReason: reason });
  });

  it('refuses a grant for a call outside the web API rules', async () => {
    const id = await grant();
    await expect(service.create(WORKER, 'k', { ...INPUT, request: { method: 'GET', path: 'v1/Contact/2' } }, id)).rejects.toMatchObject({ grantReason: 'web_api_not_granted' });
  });

  it('lets the worker act as the event user, and records the grant in the audit', async () => {
    const id = await grant();
    const created = await service.create(WORKER, 'k', INPUT, id);
    await service.execute(queue.shift()!.text);
    expect(proxy.calls[0]?.actAs).toEqual({ kind: 'user', associateId: '5' });
    expect(store.actions.get(created.id)?.state).toBe('succeeded');
    expect(audit.at(-1)?.target).toContain(`grant ${id}`);
    expect(audit.at(-1)?.flags).toContain('event_grant');
  });
});
