import type { Secret } from './secret.js';

/**
 * Persistent secret storage (Key Vault in Azure, the dev Key Vault server locally). Implementations
 * translate their errors into `SecretNotFoundError`, `SecretConflictError`, `SecretThrottledError`
 * and `SecretStoreUnavailableError` (shared/secrets/errors.ts).
 */

export interface SecretCallOptions {
  /** Abort when the caller's deadline passes. */
  readonly signal?: AbortSignal;
  /** The broker request id; sent to Key Vault as the client request id (requirement 63). */
  readonly correlationId?: string;
}

export interface SecretReadOptions extends SecretCallOptions {
  /** Skip the in-memory cache (e.g. after `invalid_client`, requirement 42). */
  readonly fresh?: boolean;
}

export interface SecretWriteOptions extends SecretCallOptions {
  /** Non-sensitive tags only: tags are readable by anyone with list or get. */
  readonly tags?: Readonly<Record<string, string>>;
  readonly contentType?: string;
}

export interface StoredSecret {
  readonly value: Secret;
  readonly version: string;
  readonly enabled: boolean;
  readonly tags: Readonly<Record<string, string>>;
  readonly updatedOn: Date | undefined;
}

export interface SecretStore {
  /** The current enabled version; throws `SecretNotFoundError` if absent or disabled. */
  get(name: string, options?: SecretReadOptions): Promise<StoredSecret>;
  /** Writes a new version and makes it current (never delete-then-recreate, docs/architecture.md §4). */
  set(name: string, value: Secret, options?: SecretWriteOptions): Promise<{ readonly version: string }>;
  /**
   * Disables every enabled version, so no version of the secret can be read (reads fail at once);
   * a later `set` writes a new enabled version. Throws `SecretNotFoundError` if the secret does not exist.
   */
  disable(name: string, options?: SecretCallOptions): Promise<void>;
  /**
   * The value of every enabled version, newest first; `[]` when the secret does not exist. Used to
   * revoke each stored refresh token before `disable` (issue 10 point 11). Optional: a store without
   * it is read through `get` (the current version only).
   */
  getEnabledVersions?(name: string, options?: SecretCallOptions): Promise<StoredSecret[]>;
}
