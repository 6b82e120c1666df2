import { describe, expect, it } from 'vitest';
import { openEnvelope, sealEnvelope, MAX_ENVELOPE_AGE_MS, type ActionMessage } from '../../../shared/actions/envelope.js';
import { secretStoreKeyring, staticKeyring } from '../../../shared/actions/hmacKey.js';
import { MemorySecretStore } from '../../../shared/secrets/memoryStore.js';
import { Secret } from '../../../shared/secrets/secret.js';

const KEY = staticKeyring('unit-actions-hmac-key-0123456789');
const NOW = Date.parse('2025-06-01T12:00:00.000Z');

const ACTION: ActionMessage = {
  id: '0b5f2c1e-3a4b-4c5d-8e6f-7a8b9c0d1e2f',
  caller: { tid: '11111111-1111-4111-8111-111111111111', oid: '33333333-3333-4333-8333-333333333333', azp: '44444444-4444-4444-8444-444444444444' },
  env: 'sod',
  ctx: 'Cust12345',
  actAs: '5',
  method: 'PATCH',
  path: 'v1/Contact/2',
  body: { Name: 'Nora AS' },
  notify: false,
  enqueuedAt: new Date(NOW).toISOString(),
};

describe('action envelope: refused messages (requirement 18)', () => {
  it('refuses text that is not JSON', async () => {
    expect(await openEnvelope('not json {', KEY, NOW)).toEqual({ ok: false, reason: 'not_json' });
  });

  it('refuses JSON that is not an envelope object', async () => {
    expect(await openEnvelope('[1,2]', KEY, NOW)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(await openEnvelope(42, KEY, NOW)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('refuses an unsigned message, naming the id it claims', async () => {
    const unsigned = { v: 1, action: ACTION };
    expect(await openEnvelope(JSON.stringify(unsigned), KEY, NOW)).toEqual({ ok: false, reason: 'signature_missing', claimedId: ACTION.id });
    expect(await openEnvelope({ ...unsigned, sig: '' }, KEY, NOW)).toMatchObject({ reason: 'signature_missing' });
  });

  it('refuses a message signed with another key', async () => {
    const forged = await sealEnvelope(ACTION, staticKeyring('another-key-0123456789abcdef'));
    expect(await openEnvelope(forged, KEY, NOW)).toMatchObject({ ok: false, reason: 'signature_invalid' });
  });

  it.each([
    ['the user it acts as', (a: Record<string, unknown>) => ({ ...a, actAs: '6' })],
    ['the caller', (a: Record<string, unknown>) => ({ ...a, caller: { ...(a['caller'] as object), oid: '55555555-5555-4555-8555-555555555555' } })],
    ['the path', (a: Record<string, unknown>) => ({ ...a, path: 'v1/Contact/3' })],
    ['the body', (a: Record<string, unknown>) => ({ ...a, body: { Name: 'Mallory' } })],
    ['the id', (a: Record<string, unknown>) => ({ ...a, id: '0b5f2c1e-3a4b-4c5d-8e6f-7a8b9c0d1e20' })],
    ['the enqueue time', (a: Record<string, unknown>) => ({ ...a, enqueuedAt: new Date(NOW + 1).toISOString() })],
    ['an added grant', (a: Record<string, unknown>) => ({ ...a, grant: 'g'.repeat(43) })],
  ])('refuses a message whose %s was altered after signing', async (_what, alter) => {
    const sealed = JSON.parse(await sealEnvelope(ACTION, KEY)) as Record<string, unknown>;
    const tampered = { ...sealed, action: alter(sealed['action'] as Record<string, unknown>) };
    expect(await openEnvelope(JSON.stringify(tampered), KEY, NOW)).toMatchObject({ ok: false, reason: 'signature_invalid' });
  });

  it('refuses extra envelope members and a wrong version even with a valid signature', async () => {
    const sealed = JSON.parse(await sealEnvelope(ACTION, KEY)) as Record<string, unknown>;
    expect(await openEnvelope({ ...sealed, extra: 1 }, KEY, NOW)).toMatchObject({ reason: 'malformed' });
    expect(await openEnvelope({ ...sealed, v: 2 }, KEY, NOW)).toMatchObject({ reason: 'malformed' });
  });

  it('refuses a correctly signed action of the wrong shape', async () => {
    const bad = { ...ACTION, actAs: '../5' } as ActionMessage;
    expect(await openEnvelope(await sealEnvelope(bad, KEY), KEY, NOW)).toMatchObject({ reason: 'malformed' });
  });

  it('refuses a replay older than the queue time to live, and one from the future', async () => {
    const sealed = await sealEnvelope(ACTION, KEY);
    expect(await openEnvelope(sealed, KEY, NOW + MAX_ENVELOPE_AGE_MS + 1)).toMatchObject({ reason: 'expired' });
    expect(await openEnvelope(sealed, KEY, NOW - 10 * 60_000)).toMatchObject({ reason: 'expired' });
  });
});

describe('action envelope: accepted messages', () => {
  it('opens what it sealed, from text or from the object the worker parsed', async () => {
    const sealed = await sealEnvelope(ACTION, KEY);
    expect(await openEnvelope(sealed, KEY, NOW)).toEqual({ ok: true, action: ACTION });
    expect(await openEnvelope(JSON.parse(sealed) as unknown, KEY, NOW + MAX_ENVELOPE_AGE_MS)).toEqual({ ok: true, action: ACTION });
  });

  it('signs independently of member order', async () => {
    const sealed = JSON.parse(await sealEnvelope(ACTION, KEY)) as { action: Record<string, unknown>; sig: string; v: number };
    const reordered = Object.fromEntries(Object.entries(sealed.action).reverse());
    expect(await openEnvelope({ sig: sealed.sig, action: reordered, v: 1 }, KEY, NOW)).toMatchObject({ ok: true });
  });

  it('holds no secret: the message is the caller-supplied action and a signature', async () => {
    const sealed = await sealEnvelope(ACTION, KEY);
    expect(sealed).not.toContain('unit-actions-hmac-key');
    expect(Object.keys(JSON.parse(sealed) as object).sort()).toEqual(['action', 'sig', 'v']);
  });
});

describe('secretStoreKeyring', () => {
  it('reads actions-hmac-key from the secret store; a missing key is transient, not a refusal', async () => {
    const secrets = new MemorySecretStore();
    const keyring = secretStoreKeyring({ secrets });
    await expect(keyring.sign('x')).rejects.toMatchObject({ code: 'secret_store_unavailable' });
    await secrets.set('actions-hmac-key', new Secret('unit-actions-hmac-key-0123456789'));
    const sealed = await sealEnvelope(ACTION, keyring);
    expect(await openEnvelope(sealed, KEY, NOW)).toMatchObject({ ok: true });
  });
});
