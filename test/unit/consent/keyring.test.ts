import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConsentKeyring } from '../../../shared/connections/consent/keyring.js';
import { createMemorySecretStore } from '../../../shared/secrets/memoryStore.js';
import { SECRET_NAMES } from '../../../shared/secrets/names.js';

describe('ConsentKeyring (state-cookie-key from Key Vault)', () => {
  it('refuses a missing key, a short key and a key that is not base64', async () => {
    const store = createMemorySecretStore();
    await expect(new ConsentKeyring(store).keys()).rejects.toMatchObject({ code: 'secret_not_found' });
    await store.seed(SECRET_NAMES.stateCookieKey, randomBytes(16).toString('base64'));
    await expect(new ConsentKeyring(store).keys()).rejects.toMatchObject({ code: 'internal' });
    await store.seed(SECRET_NAMES.stateCookieKey, 'not base64 at all, but long enough to be 32 bytes!!');
    await expect(new ConsentKeyring(store).keys()).rejects.toMatchObject({ code: 'internal' });
  });

  it('accepts base64 and base64url of 32 bytes (the same key material gives the same subkeys)', async () => {
    const bytes = randomBytes(32);
    const a = createMemorySecretStore();
    const b = createMemorySecretStore();
    await a.seed(SECRET_NAMES.stateCookieKey, bytes.toString('base64'));
    await b.seed(SECRET_NAMES.stateCookieKey, bytes.toString('base64url'));
    const ka = await new ConsentKeyring(a).keys();
    const kb = await new ConsentKeyring(b).keys();
    expect(ka.ticket.export().equals(kb.ticket.export())).toBe(true);
    expect(ka.cookie.export().equals(kb.cookie.export())).toBe(true);
  });

  it('picks up a rotated key (a new secret version) and caches per version', async () => {
    const store = createMemorySecretStore();
    await store.seed(SECRET_NAMES.stateCookieKey, randomBytes(32).toString('base64'));
    const keyring = new ConsentKeyring(store);
    const first = await keyring.keys();
    expect(await keyring.keys()).toBe(first);
    await store.seed(SECRET_NAMES.stateCookieKey, randomBytes(32).toString('base64'));
    const second = await keyring.keys();
    expect(second).not.toBe(first);
    expect(second.cookie.export().equals(first.cookie.export())).toBe(false);
  });
});
