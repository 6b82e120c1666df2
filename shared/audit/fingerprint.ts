import { createHmac } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { BrokerError } from '../errors/errors.js';
import { Secret } from '../secrets/secret.js';
import { MIN_HMAC_KEY_BYTES, hmacSecretKey } from '../secrets/hmacSecretKey.js';
import type { SecretStore } from '../secrets/store.js';

/**
 * Token fingerprints for the audit trail (requirement 59, after Vault's audit HMAC):
 * `fp1_` + base64url(HMAC-SHA256(auditKey, token)). The key is the Key Vault secret
 * `audit-hmac-key`, read through the `SecretStore` and held as a `KeyObject` for a bounded time.
 * Knowing a token, anyone with the key recomputes its fingerprint and finds its records; the
 * fingerprint reveals nothing about the token without the key.
 */

export const AUDIT_HMAC_KEY_NAME = 'audit-hmac-key';
export const FINGERPRINT_PREFIX = 'fp1_';
/** How long the key stays in memory before it is read again (requirement 42's bound for cached secrets). */
export const DEFAULT_KEY_TTL_MS = 15 * 60_000;
/** A shorter key is refused: HMAC keys below 128 bits give no margin. */
export const MIN_KEY_BYTES = MIN_HMAC_KEY_BYTES;
/** Fingerprints whose key version the fingerprinter remembers for the record that lists them. */
export const DEFAULT_VERSION_MEMORY = 10_000;

export interface TokenFingerprinterOptions {
  readonly secrets: SecretStore;
  readonly keyName?: string;
  readonly keyTtlMs?: number;
  readonly clock?: () => number;
  readonly versionMemory?: number;
}

export interface TokenFingerprinter {
  /** The fingerprint of `token`; throws `audit_unavailable` (503) when the key cannot be read. */
  fingerprint(token: string | Secret): Promise<string>;
  /**
   * The Key Vault version of the key that made `fingerprint`, if this fingerprinter made it recently
   * (the audit record stores it as `fingerprint_key_version`, so fingerprints can be recomputed after
   * `audit-hmac-key` is rotated). A fingerprint is not a secret; remembering it is safe.
   */
  keyVersionOf(fingerprint: string): string | undefined;
}

/** Creates a fingerprinter that reads the HMAC key lazily, caches it, and shares one read among callers. */
export function createTokenFingerprinter(options: TokenFingerprinterOptions): TokenFingerprinter {
  const keyName = options.keyName ?? AUDIT_HMAC_KEY_NAME;
  const ttl = options.keyTtlMs ?? DEFAULT_KEY_TTL_MS;
  const clock = options.clock ?? Date.now;
  const versions = new LRUCache<string, string>({ max: Math.max(1, options.versionMemory ?? DEFAULT_VERSION_MEMORY) });
  const currentKey = hmacSecretKey({
    secrets: options.secrets,
    keyName,
    ttlMs: ttl,
    clock,
    failure: (error) => new BrokerError('audit_unavailable', 'The audit key cannot be read', { cause: error }),
  });

  return {
    async fingerprint(token) {
      const { key, version } = await currentKey();
      const value = token instanceof Secret ? token.reveal() : token;
      const fingerprint = `${FINGERPRINT_PREFIX}${createHmac('sha256', key).update(value, 'utf8').digest('base64url')}`;
      versions.set(fingerprint, version);
      return fingerprint;
    },
    keyVersionOf: (fingerprint) => versions.get(fingerprint),
  };
}
