import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import { SecretNotFoundError } from '../../../shared/secrets/errors.js';
import { createMemorySecretStore } from '../../../shared/secrets/memoryStore.js';
import { Secret } from '../../../shared/secrets/secret.js';
import type { SecretStore } from '../../../shared/secrets/store.js';

/** The in-memory SecretStore fake keeps Key Vault's semantics (versions, disable, case-insensitive names). */

describe('MemorySecretStore: rejected calls', () => {
  it('throws SecretNotFoundError (missing) for an unknown secret, on get and disable', async () => {
    const store = createMemorySecretStore();
    await expect(store.get('absent')).rejects.toMatchObject({ code: 'secret_not_found', reason: 'missing' });
    await expect(store.disable('absent')).rejects.toBeInstanceOf(SecretNotFoundError);
  });

  it('throws SecretNotFoundError (disabled) once the current version is disabled', async () => {
    const store = createMemorySecretStore();
    await store.set('rt', new Secret('v'));
    await store.disable('rt');
    await expect(store.get('rt')).rejects.toMatchObject({ reason: 'disabled' });
  });

  it('rejects invalid names and honours an aborted signal with its BrokerError reason', async () => {
    const store = createMemorySecretStore();
    await expect(store.set('bad_name', new Secret('v'))).rejects.toMatchObject({ code: 'internal' });
    const controller = new AbortController();
    controller.abort(new BrokerError('deadline_exceeded'));
    await expect(store.get('x', { signal: controller.signal })).rejects.toMatchObject({ code: 'deadline_exceeded' });
    const plain = new AbortController();
    plain.abort();
    await expect(store.set('x', new Secret('v'), { signal: plain.signal })).rejects.toMatchObject({ code: 'deadline_exceeded' });
  });
});

describe('MemorySecretStore', () => {
  it('implements SecretStore: each set is a new current version; names are case-insensitive', async () => {
    const store: SecretStore = createMemorySecretStore({ clock: () => 1_700_000_000_000 });
    const first = await store.set('Client-Secret', new Secret('one'), { tags: { kind: 'app' } });
    const second = await store.set('client-secret', new Secret('two'));
    expect(first.version).toMatch(/^[0-9a-f]{32}$/);
    expect(second.version).not.toBe(first.version);
    const read = await store.get('CLIENT-SECRET');
    expect(read.value.reveal()).toBe('two');
    expect(read).toMatchObject({ version: second.version, enabled: true, tags: {} });
    expect(read.updatedOn).toEqual(new Date(1_700_000_000_000));
  });

  it('issue 10 point 11: disable disables every version; a later set is enabled again', async () => {
    const store = createMemorySecretStore();
    await store.seed('rt', 'a');
    await store.seed('rt', 'b');
    await store.seed('rt', 'c');
    expect((await store.getEnabledVersions('rt')).map((v) => v.value.reveal())).toEqual(['c', 'b', 'a']);
    await store.disable('rt');
    expect(store.versions('RT').map((v) => v.enabled)).toEqual([false, false, false]);
    expect(await store.getEnabledVersions('rt')).toEqual([]);
    const { version } = await store.set('rt', new Secret('d'));
    expect((await store.get('rt')).version).toBe(version);
    expect(store.versions('RT').map((v) => v.enabled)).toEqual([false, false, false, true]);
    expect(await store.getEnabledVersions('absent')).toEqual([]);
  });

  it('requirement 65: returned values stay wrapped', async () => {
    const store = createMemorySecretStore();
    await store.seed('wrapped', 'plain-value');
    const read = await store.get('wrapped');
    expect(JSON.stringify(read)).not.toContain('plain-value');
    expect(String(read.value)).toBe('[REDACTED]');
  });
});
