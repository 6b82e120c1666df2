import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { BrokerError } from '../errors/errors.js';
import { SecretNotFoundError } from '../secrets/errors.js';
import { SECRET_NAMES } from '../secrets/names.js';
import { hmacSecretKey } from '../secrets/hmacSecretKey.js';
import type { SecretStore } from '../secrets/store.js';

/**
 * The broker's key for signing its own queue messages and deriving event grant ids (docs/acting.md §4,
 * requirement 18): the Key Vault secret `actions-hmac-key` (32 random bytes, base64), written by
 * `infra/deploy.sh` like `audit-hmac-key` and never shown to anyone. Read through the `SecretStore`,
 * held as a `KeyObject` for a bounded time; an unreadable key is transient (`secret_store_unavailable`),
 * so a queue message waiting for it is retried rather than refused.
 */

export const ACTIONS_HMAC_KEY_NAME = SECRET_NAMES.actionsHmacKey;
/** How long the key stays in memory before it is read again (requirement 42's bound for cached secrets). */
export const ACTIONS_KEY_TTL_MS = 15 * 60_000;

export interface HmacKeyring {
  /** base64url HMAC-SHA256 of `data` under the key. */
  sign(data: string): Promise<string>;
  /** Constant-time check of `signature` (base64url) over `data`. */
  verify(data: string, signature: string): Promise<boolean>;
}

/** HMAC with a fixed key (tests and benchmarks). */
export function staticKeyring(key: string | Buffer): HmacKeyring {
  const keyObject = createSecretKey(typeof key === 'string' ? Buffer.from(key, 'utf8') : key);
  return keyringOf(async () => keyObject);
}

function keyringOf(currentKey: () => Promise<KeyObject>): HmacKeyring {
  const mac = async (data: string): Promise<Buffer> => createHmac('sha256', await currentKey()).update(data, 'utf8').digest();
  return {
    async sign(data) {
      return (await mac(data)).toString('base64url');
    },
    async verify(data, signature) {
      const expected = await mac(data);
      if (!/^[A-Za-z0-9_-]{43}$/.test(signature)) return false;
      const given = Buffer.from(signature, 'base64url');
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

/** A keyring over the Key Vault secret `actions-hmac-key` (stale-if-error, one read shared by callers). */
export function secretStoreKeyring(options: { readonly secrets: SecretStore; readonly keyName?: string; readonly ttlMs?: number; readonly clock?: () => number }): HmacKeyring {
  const keyName = options.keyName ?? ACTIONS_HMAC_KEY_NAME;
  const ttl = options.ttlMs ?? ACTIONS_KEY_TTL_MS;
  const clock = options.clock ?? Date.now;
  const currentKey = hmacSecretKey({
    secrets: options.secrets,
    keyName,
    ttlMs: ttl,
    clock,
    failure: (error) => new BrokerError('secret_store_unavailable', error instanceof SecretNotFoundError ? `The secret ${keyName} is missing; deploy creates it` : 'The actions signing key cannot be read', { cause: error, retryAfterSec: 5 }),
  });
  return keyringOf(async () => (await currentKey()).key);
}
