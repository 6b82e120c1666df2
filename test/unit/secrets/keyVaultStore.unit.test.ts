import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BrokerError, ERROR_STATUS, toProblem } from '../../../shared/errors/errors.js';
import { createLogger } from '../../../shared/log/logger.js';
import {
  KeyVaultCallError,
  SecretConflictError,
  SecretNotFoundError,
  SecretStoreUnavailableError,
  SecretThrottledError,
} from '../../../shared/secrets/errors.js';
import { KEY_VAULT_STORE_DEFAULTS, KeyVaultSecretStore, createKeyVaultSecretStore } from '../../../shared/secrets/keyVaultStore.js';
import {
  LOOPBACK_DEV_TOKEN,
  LoopbackVaultRefusedError,
  createLoopbackDevCredential,
  isLoopbackVaultUrl,
} from '../../../shared/secrets/loopbackCredential.js';

/** The Key Vault store's wiring rules, its loopback credential and its error types, without a network. */

const logger = createLogger({ sink: () => undefined });
const realVault = { keyVault: { url: 'https://broker-kv.vault.azure.net', isLoopback: false } };
const fakeCredential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 60_000 }) };

describe('loopback dev credential: refusals', () => {
  it('refuses any vault that is not plain-HTTP loopback', () => {
    for (const url of [
      'https://broker-kv.vault.azure.net', 'http://broker-kv.vault.azure.net', 'https://127.0.0.1:8200',
      'http://10.0.0.1:8200', 'http://127.0.0.1.evil.example:80', 'not a url', 'http://localhost.evil.example',
    ]) {
      expect(isLoopbackVaultUrl(url), url).toBe(false);
      expect(() => createLoopbackDevCredential(url), url).toThrow(LoopbackVaultRefusedError);
    }
  });
});

describe('loopback dev credential', () => {
  it('hands out the fixed dev token for 127.0.0.1, localhost and [::1]', async () => {
    for (const url of ['http://127.0.0.1:8200', 'http://localhost:1', 'http://[::1]:9']) {
      expect(isLoopbackVaultUrl(url), url).toBe(true);
      const token = await createLoopbackDevCredential(url, () => 1_000).getToken('https://vault.azure.net/.default');
      expect(token).toEqual({ token: LOOPBACK_DEV_TOKEN, expiresOnTimestamp: 1_000 + 3_600_000 });
    }
  });
});

describe('createKeyVaultSecretStore: rejected options', () => {
  it('requires a credential for a vault that is not on loopback', () => {
    expect(() => createKeyVaultSecretStore({ config: realVault, logger })).toThrow(/credential is required/);
  });

  it('names the bad option', () => {
    const cases: [Parameters<typeof createKeyVaultSecretStore>[0], RegExp][] = [
      [{ config: realVault, credential: fakeCredential, logger, budgetMs: 0 }, /budgetMs/],
      [{ config: realVault, credential: fakeCredential, logger, budgetMs: 1.5 }, /budgetMs/],
      [{ config: realVault, credential: fakeCredential, logger, cache: { max: 0 } }, /cache\.max/],
      [{ config: realVault, credential: fakeCredential, logger, cache: { ttlMs: 0 } }, /cache\.ttlMs/],
      [{ config: realVault, credential: fakeCredential, logger, retry: { maxRetries: -1 } }, /retry\.maxRetries/],
      [{ config: realVault, credential: fakeCredential, logger, breaker: { threshold: 0 } }, /breaker\.threshold/],
      [{ config: realVault, credential: fakeCredential, logger, conflictRetry: { retries: 11 } }, /conflictRetry\.retries/],
    ];
    for (const [options, message] of cases) expect(() => createKeyVaultSecretStore(options), String(message)).toThrow(message);
  });
});

describe('createKeyVaultSecretStore', () => {
  it('builds a store for a real vault with the given credential, and for loopback without one', () => {
    expect(createKeyVaultSecretStore({ config: realVault, credential: fakeCredential, logger })).toBeInstanceOf(KeyVaultSecretStore);
    const local = createKeyVaultSecretStore({ config: { keyVault: { url: 'http://127.0.0.1:8200', isLoopback: true } }, logger });
    expect(local.breakerState).toBe('closed');
  });

  it('has explicit, bounded defaults (requirements 42, 53, 54)', () => {
    expect(KEY_VAULT_STORE_DEFAULTS).toMatchObject({
      cacheTtlMs: 15 * 60_000, maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1_000, breakerThreshold: 5,
    });
    expect(KEY_VAULT_STORE_DEFAULTS.budgetMs).toBeLessThan(10_000);
  });
});

describe('secret store errors', () => {
  it('carry the matching codes and statuses', () => {
    expect(new SecretNotFoundError('a')).toMatchObject({ code: 'secret_not_found', status: ERROR_STATUS.secret_not_found, reason: 'missing' });
    expect(new SecretConflictError('a', 'ObjectIsBeingDeleted')).toMatchObject({ code: 'secret_conflict', innerCode: 'ObjectIsBeingDeleted' });
    expect(new SecretThrottledError('a', { retryAfterSec: 3 })).toMatchObject({ code: 'secret_store_throttled', retryAfterSec: 3 });
    expect(new SecretStoreUnavailableError('timeout')).toMatchObject({ code: 'secret_store_unavailable', transient: true });
    expect(new SecretStoreUnavailableError('unauthorized').transient).toBe(false);
    for (const error of [new SecretNotFoundError('a'), new SecretConflictError('a'), new SecretThrottledError('a'), new SecretStoreUnavailableError('network')]) {
      expect(error).toBeInstanceOf(BrokerError);
      expect(error.name).toBe(error.constructor.name);
    }
  });

  it('keep cause non-enumerable and show callers no secret name or internals', () => {
    const cause = new KeyVaultCallError({ operation: 'get', secretName: 'so-rt-abc', status: 503, serviceCode: 'ServiceUnavailable' });
    const error = new SecretStoreUnavailableError('server_error', { secretName: 'so-rt-abc', upstreamStatus: 503, cause });
    expect(Object.keys(error)).not.toContain('cause');
    expect(error.cause).toBe(cause);
    expect(JSON.stringify(error)).not.toContain('ServiceUnavailable');
    expect(cause.message).toBe('Key Vault get of secret so-rt-abc failed: status 503, ServiceUnavailable');
    expect(inspect(error)).toContain('KeyVaultCallError');
    const problem = toProblem(error, 'req-1');
    expect(JSON.stringify(problem)).not.toContain('so-rt-abc');
    expect(toProblem(new SecretNotFoundError('so-rt-abc'), 'req-1').detail).toBeUndefined();
  });
});
