import { createSecretKey, type KeyObject } from 'node:crypto';
import type { BrokerError } from '../errors/errors.js';
import type { SecretStore } from './store.js';

/**
 * An HMAC key kept in Key Vault (the audit, actions and heads keys): read through the `SecretStore`,
 * held as a `KeyObject` for `ttlMs`, one read in flight shared by every caller, and stale-if-error — a
 * key read before keeps working while Key Vault is unreachable. `failure` says what a read that cannot be
 * served means to the caller (audit: `audit_unavailable`; actions: `secret_store_unavailable`).
 */

/** Shortest key accepted, in bytes. */
export const MIN_HMAC_KEY_BYTES = 16;

export interface VersionedKey {
  readonly key: KeyObject;
  /** The Key Vault version the key was read from. */
  readonly version: string;
}

export interface HmacSecretKeyOptions {
  readonly secrets: Pick<SecretStore, 'get'>;
  readonly keyName: string;
  readonly ttlMs: number;
  readonly clock?: () => number;
  readonly failure: (error: unknown) => BrokerError;
}

/** Returns a function giving the current key and its version (throws `failure(error)` when none can be had). */
export function hmacSecretKey(options: HmacSecretKeyOptions): () => Promise<VersionedKey> {
  const clock = options.clock ?? Date.now;
  let cached: { key: VersionedKey; readAt: number } | undefined;
  let pending: Promise<VersionedKey> | undefined;
  const load = async (): Promise<VersionedKey> => {
    const stored = await options.secrets.get(options.keyName);
    const bytes = Buffer.from(stored.value.reveal(), 'utf8');
    try {
      if (bytes.length < MIN_HMAC_KEY_BYTES) throw new Error(`${options.keyName} is shorter than ${MIN_HMAC_KEY_BYTES} bytes`);
      return { key: createSecretKey(bytes), version: stored.version };
    } finally {
      bytes.fill(0);
    }
  };
  return async () => {
    if (cached !== undefined && clock() - cached.readAt < options.ttlMs) return cached.key;
    pending ??= load()
      .then((key) => {
        cached = { key, readAt: clock() };
        return key;
      })
      .catch((error: unknown) => {
        if (cached !== undefined) return cached.key;
        throw options.failure(error);
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
}
