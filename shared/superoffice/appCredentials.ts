import { createPrivateKey, type KeyObject } from 'node:crypto';
import { BrokerError } from '../errors/errors.js';
import { SECRET_NAMES } from '../secrets/names.js';
import { Secret } from '../secrets/secret.js';
import type { SecretStore } from '../secrets/store.js';

/**
 * The app's own SuperOffice credentials from Key Vault: the client_secret and the RSA private key
 * (PEM; ops convert SuperOffice's .NET XML form with scripts/convert-rsa-key.ts). Reads go through
 * the store's bounded cache (requirement 42: at most its TTL in memory); `fresh` re-reads after
 * `invalid_client`.
 */
export class AppCredentials {
  private rsaKey: { version: string; key: KeyObject } | undefined;

  constructor(private readonly secrets: SecretStore) {}

  /** The client_secret; `fresh` bypasses the cache (after `invalid_client`). */
  async clientSecret(options: { fresh?: boolean; signal?: AbortSignal; correlationId?: string } = {}): Promise<Secret> {
    return (await this.secrets.get(SECRET_NAMES.clientSecret, options)).value;
  }

  /** The app's RSA private key for system-user signing; throws `internal` if it is not a private RSA key. */
  async rsaPrivateKey(options: { signal?: AbortSignal; correlationId?: string } = {}): Promise<KeyObject> {
    const stored = await this.secrets.get(SECRET_NAMES.rsaPrivateKey, options);
    if (this.rsaKey?.version === stored.version) return this.rsaKey.key;
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: stored.value.reveal(), format: 'pem' });
    } catch (error) {
      throw new BrokerError('internal', 'The stored RSA key is not a PEM private key', { cause: error });
    }
    if (key.asymmetricKeyType !== 'rsa') throw new BrokerError('internal', 'The stored key is not an RSA key');
    this.rsaKey = { version: stored.version, key };
    return key;
  }
}

/** Wraps a plain string as a Secret (used where parsers need a factory). */
export function secretOf(value: string): Secret {
  return new Secret(value);
}
