import { BrokerError } from '../../errors/errors.js';
import { SECRET_NAMES } from '../../secrets/names.js';
import type { SecretCallOptions, SecretStore } from '../../secrets/store.js';
import { CONSENT_KEY_BYTES, deriveConsentKeys, type ConsentKeys } from './sealed.js';

/**
 * The consent keys from Key Vault: the secret `state-cookie-key` holds base64 (or base64url) of 32
 * random bytes;
 * HKDF derives one subkey for tickets and one for the transaction cookie. Derived keys are kept per
 * secret version, so a rotated secret is picked up as soon as the store's cache returns it.
 */
export class ConsentKeyring {
  private cached: { readonly version: string; readonly keys: ConsentKeys } | undefined;

  constructor(private readonly secrets: SecretStore) {}

  /** The current subkeys; throws the store's errors, or `internal` if the secret is not base64 of ≥ 32 bytes. */
  async keys(options: SecretCallOptions = {}): Promise<ConsentKeys> {
    const stored = await this.secrets.get(SECRET_NAMES.stateCookieKey, options);
    if (this.cached?.version === stored.version) return this.cached.keys;
    const text = stored.value.reveal().trim();
    const ikm = Buffer.from(text, 'base64');
    try {
      // Node's base64 decoder reads both alphabets; the local stack seeds base64url.
      if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text) || ikm.length < CONSENT_KEY_BYTES) {
        throw new BrokerError('internal', `The ${SECRET_NAMES.stateCookieKey} secret must be base64 of at least ${CONSENT_KEY_BYTES} random bytes`);
      }
      const keys = deriveConsentKeys(ikm);
      this.cached = { version: stored.version, keys };
      return keys;
    } finally {
      ikm.fill(0);
    }
  }
}
