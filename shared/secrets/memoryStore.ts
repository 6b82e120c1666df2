import { randomBytes } from 'node:crypto';
import { BrokerError } from '../errors/errors.js';
import { SecretNotFoundError } from './errors.js';
import { isValidSecretName } from './names.js';
import { Secret } from './secret.js';
import type { SecretCallOptions, SecretReadOptions, SecretStore, SecretWriteOptions, StoredSecret } from './store.js';

/**
 * An in-memory `SecretStore` with Key Vault's semantics, for unit tests of services: case-insensitive
 * names, a new version per `set`, `disable` of every version, `SecretNotFoundError` for absent or
 * disabled secrets, and a caller's aborted signal honoured. Not for production (nothing persists).
 */

interface MemoryVersion {
  readonly version: string;
  readonly value: Secret;
  enabled: boolean;
  readonly tags: Readonly<Record<string, string>>;
  readonly updatedOn: Date;
}

export interface MemorySecretStoreOptions {
  readonly clock?: () => number;
}

function checkCall(name: string, options: SecretCallOptions | undefined): void {
  if (options?.signal?.aborted) {
    const reason: unknown = options.signal.reason;
    throw reason instanceof BrokerError ? reason : new BrokerError('deadline_exceeded');
  }
  if (!isValidSecretName(name)) throw new BrokerError('internal', 'Invalid secret name');
}

export class MemorySecretStore implements SecretStore {
  readonly #clock: () => number;
  readonly #secrets = new Map<string, MemoryVersion[]>();

  constructor(options: MemorySecretStoreOptions = {}) {
    this.#clock = options.clock ?? Date.now;
  }

  async get(name: string, options?: SecretReadOptions): Promise<StoredSecret> {
    checkCall(name, options);
    const current = this.#secrets.get(name.toLowerCase())?.at(-1);
    if (current === undefined) throw new SecretNotFoundError(name, 'missing');
    if (!current.enabled) throw new SecretNotFoundError(name, 'disabled');
    return { value: current.value, version: current.version, enabled: true, tags: current.tags, updatedOn: current.updatedOn };
  }

  async set(name: string, value: Secret, options?: SecretWriteOptions): Promise<{ readonly version: string }> {
    checkCall(name, options);
    const key = name.toLowerCase();
    const versions = this.#secrets.get(key) ?? [];
    const version = randomBytes(16).toString('hex');
    versions.push({ version, value, enabled: true, tags: { ...options?.tags }, updatedOn: new Date(this.#clock()) });
    this.#secrets.set(key, versions);
    return { version };
  }

  async disable(name: string, options?: SecretCallOptions): Promise<void> {
    checkCall(name, options);
    const versions = this.#secrets.get(name.toLowerCase());
    if (versions === undefined || versions.length === 0) throw new SecretNotFoundError(name, 'missing');
    for (const version of versions) version.enabled = false;
  }

  async getEnabledVersions(name: string, options?: SecretCallOptions): Promise<StoredSecret[]> {
    checkCall(name, options);
    return (this.#secrets.get(name.toLowerCase()) ?? [])
      .filter((v) => v.enabled)
      .reverse()
      .map((v) => ({ value: v.value, version: v.version, enabled: true, tags: v.tags, updatedOn: v.updatedOn }));
  }

  /** Versions of `name`, oldest first (test helper). */
  versions(name: string): readonly { readonly version: string; readonly enabled: boolean }[] {
    return (this.#secrets.get(name.toLowerCase()) ?? []).map(({ version, enabled }) => ({ version, enabled }));
  }

  /** Seeds a secret from a plain value (test helper). */
  async seed(name: string, value: string): Promise<{ readonly version: string }> {
    return this.set(name, new Secret(value));
  }
}

/** An empty in-memory store. */
export function createMemorySecretStore(options: MemorySecretStoreOptions = {}): MemorySecretStore {
  return new MemorySecretStore(options);
}
