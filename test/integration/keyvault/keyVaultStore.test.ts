import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startKeyVaultServer, type KeyVaultServer, type RecordedRequest } from '../../../dev/keyvault/server.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { createLogger, type Logger } from '../../../shared/log/logger.js';
import {
  SecretConflictError,
  SecretNotFoundError,
  SecretStoreUnavailableError,
  SecretThrottledError,
} from '../../../shared/secrets/errors.js';
import {
  createKeyVaultSecretStore,
  type KeyVaultSecretStore,
  type KeyVaultSecretStoreOptions,
} from '../../../shared/secrets/keyVaultStore.js';
import { LOOPBACK_DEV_TOKEN } from '../../../shared/secrets/loopbackCredential.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { clientFor } from './helpers.js';

/** `KeyVaultSecretStore` (the real SecretClient inside) against the dev Key Vault server. Negative cases first. */

let server: KeyVaultServer;
let logLines: string[];
let logger: Logger;

beforeAll(async () => {
  server = await startKeyVaultServer();
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.reset();
  logLines = [];
  logger = createLogger({ level: 'debug', sink: (line) => logLines.push(line) });
});

afterEach(() => {
  server.faults.clear();
});

type StoreOverrides = Partial<Omit<KeyVaultSecretStoreOptions, 'config' | 'logger'>>;

function makeStore(overrides: StoreOverrides = {}): KeyVaultSecretStore {
  return createKeyVaultSecretStore({
    config: { keyVault: { url: server.url, isLoopback: true } },
    logger,
    retry: { maxRetries: 0 },
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

const authenticated = (filter: (r: RecordedRequest) => boolean = () => true): RecordedRequest[] =>
  server.requests.filter((r) => r.authenticated && filter(r));

describe('KeyVaultSecretStore: typed errors', () => {
  it('404 → SecretNotFoundError (missing); nothing is cached, so the next get asks again', async () => {
    const store = makeStore();
    const error = await rejection(store.get('absent'));
    expect(error).toBeInstanceOf(SecretNotFoundError);
    expect(error).toMatchObject({ code: 'secret_not_found', reason: 'missing', secretName: 'absent' });
    await rejection(store.get('absent'));
    expect(server.counters.getSecret).toBe(2);
  });

  it('403 SecretDisabled → SecretNotFoundError (disabled)', async () => {
    const store = makeStore();
    await store.set('switched-off', new Secret('v'));
    await store.disable('switched-off');
    const error = await rejection(store.get('switched-off', { fresh: true }));
    expect(error).toBeInstanceOf(SecretNotFoundError);
    expect(error).toMatchObject({ reason: 'disabled' });
  });

  it('409 on a soft-deleted name → SecretConflictError, not retried (only recover or purge can help)', async () => {
    const client = clientFor(server);
    await client.setSecret('deleted-name', 'v');
    await (await client.beginDeleteSecret('deleted-name', { intervalInMs: 10 })).pollUntilDone();
    const store = makeStore();
    const error = await rejection(store.set('deleted-name', new Secret('again')));
    expect(error).toBeInstanceOf(SecretConflictError);
    expect(error).toMatchObject({ code: 'secret_conflict', innerCode: 'ObjectIsDeletedButRecoverable' });
    expect(authenticated((r) => r.method === 'PUT' && r.secretName === 'deleted-name')).toHaveLength(2);
  });

  it('requirement 48: a 409 that persists is retried a bounded number of times, then SecretConflictError', async () => {
    const store = makeStore({ conflictRetry: { retries: 2, baseDelayMs: 5, maxDelayMs: 10 } });
    server.faults.inject({ status: 409, times: Infinity, match: (t) => t.method === 'PUT' });
    const error = await rejection(store.set('contended', new Secret('v')));
    expect(error).toBeInstanceOf(SecretConflictError);
    expect(authenticated((r) => r.method === 'PUT')).toHaveLength(3);
  });

  it('429 → SecretThrottledError carrying Retry-After', async () => {
    const store = makeStore();
    server.faults.inject({ status: 429, retryAfterSec: 7 });
    const error = await rejection(store.get('busy'));
    expect(error).toBeInstanceOf(SecretThrottledError);
    expect(error).toMatchObject({ code: 'secret_store_throttled', status: 503, retryAfterSec: 7 });
  });

  it('5xx → SecretStoreUnavailableError (server_error, with the upstream status)', async () => {
    const store = makeStore();
    server.faults.inject({ status: 503 });
    const error = await rejection(store.get('down'));
    expect(error).toBeInstanceOf(SecretStoreUnavailableError);
    expect(error).toMatchObject({ code: 'secret_store_unavailable', reason: 'server_error', upstreamStatus: 503, transient: true });
    server.faults.inject({ status: 500 });
    expect(await rejection(store.set('down', new Secret('v')))).toMatchObject({ reason: 'server_error', upstreamStatus: 500 });
  });

  it('a reset connection → SecretStoreUnavailableError (network)', async () => {
    const store = makeStore();
    server.faults.inject({ reset: true });
    const error = await rejection(store.get('unreachable'));
    expect(error).toBeInstanceOf(SecretStoreUnavailableError);
    expect(error).toMatchObject({ reason: 'network', transient: true });
  });

  it('a closed port → SecretStoreUnavailableError (network)', async () => {
    const gone = await startKeyVaultServer();
    const url = gone.url;
    await gone.close();
    const store = createKeyVaultSecretStore({ config: { keyVault: { url, isLoopback: true } }, logger, retry: { maxRetries: 0 } });
    expect(await rejection(store.get('nowhere'))).toMatchObject({ code: 'secret_store_unavailable', reason: 'network' });
  });

  it('requirement 54: a 429 with Retry-After: 60 gives up within the hop budget as SecretThrottledError', async () => {
    const budgetMs = 800;
    const store = makeStore({ budgetMs, retry: { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1000 } });
    server.faults.inject({ status: 429, retryAfterSec: 60, times: Infinity });
    const started = performance.now();
    const error = await rejection(store.get('throttled'));
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(SecretThrottledError);
    expect(error).toMatchObject({ retryAfterSec: 60 });
    expect(elapsed).toBeGreaterThanOrEqual(budgetMs - 50);
    expect(elapsed).toBeLessThan(budgetMs + 500);
    expect(authenticated()).toHaveLength(1);
  });

  it('requirement 54: a vault that does not answer gives SecretStoreUnavailableError (timeout) within the budget', async () => {
    const store = makeStore({ budgetMs: 300 });
    server.faults.latency(5_000);
    const started = performance.now();
    const error = await rejection(store.get('hanging'));
    expect(performance.now() - started).toBeLessThan(800);
    expect(error).toMatchObject({ code: 'secret_store_unavailable', reason: 'timeout' });
  });

  it("a caller's aborted signal ends the call with its reason (deadline_exceeded) and is not a vault failure", async () => {
    const store = makeStore();
    const before = new AbortController();
    before.abort(new BrokerError('deadline_exceeded'));
    expect(await rejection(store.get('any', { signal: before.signal }))).toMatchObject({ code: 'deadline_exceeded' });
    expect(server.requests).toHaveLength(0);

    server.faults.latency(2_000);
    const during = new AbortController();
    setTimeout(() => during.abort(), 100);
    const started = performance.now();
    expect(await rejection(store.get('any', { signal: during.signal }))).toMatchObject({ code: 'deadline_exceeded' });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(store.breakerState).toBe('closed');
  });

  it('rejects an invalid secret name before any call', async () => {
    const store = makeStore();
    expect(await rejection(store.get('bad_name'))).toMatchObject({ code: 'internal' });
    expect(await rejection(store.set('bad name', new Secret('v')))).toMatchObject({ code: 'internal' });
    expect(server.requests).toHaveLength(0);
  });
});

describe('KeyVaultSecretStore: circuit breaker', () => {
  it('requirement 53: opens after 5 transient failures, then fails fast with zero server hits; a half-open probe closes it', async () => {
    const store = makeStore({ breaker: { threshold: 5, halfOpenAfterMs: 300 } });
    await store.set('guarded', new Secret('v'));
    server.faults.inject({ status: 503, times: Infinity });
    for (let i = 0; i < 5; i += 1) {
      expect(await rejection(store.get('guarded', { fresh: true }))).toMatchObject({ reason: 'server_error' });
    }
    expect(store.breakerState).toBe('open');
    const hits = server.requests.length;
    const fast = await rejection(store.get('guarded', { fresh: true }));
    expect(fast).toBeInstanceOf(SecretStoreUnavailableError);
    expect(fast).toMatchObject({ reason: 'circuit_open', retryAfterSec: 1 });
    expect(await rejection(store.set('guarded', new Secret('w')))).toMatchObject({ reason: 'circuit_open' });
    expect(server.requests).toHaveLength(hits);

    server.faults.clear();
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await store.get('guarded', { fresh: true })).value.reveal()).toBe('v');
    expect(server.requests).toHaveLength(hits + 1);
    expect(store.breakerState).toBe('closed');
    expect(logLines.some((line) => line.includes('"state":"open"'))).toBe(true);
  });

  it('requirement 53: a failed half-open probe opens the circuit again', async () => {
    const store = makeStore({ breaker: { threshold: 2, halfOpenAfterMs: 200 } });
    server.faults.inject({ status: 500, times: Infinity });
    await rejection(store.get('probe'));
    await rejection(store.get('probe'));
    expect(store.breakerState).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await rejection(store.get('probe'))).toMatchObject({ reason: 'server_error' });
    expect(store.breakerState).toBe('open');
    expect(await rejection(store.get('probe'))).toMatchObject({ reason: 'circuit_open' });
  });

  it('requirement 53: 404s, 409s and caller aborts do not count towards the breaker', async () => {
    const store = makeStore({ breaker: { threshold: 2, halfOpenAfterMs: 60_000 }, conflictRetry: { retries: 1, baseDelayMs: 5 } });
    for (let i = 0; i < 5; i += 1) await rejection(store.get('never-there'));
    server.faults.inject({ status: 409, times: Infinity, match: (t) => t.method === 'PUT' });
    expect(await rejection(store.set('conflicted', new Secret('v')))).toBeInstanceOf(SecretConflictError);
    expect(await rejection(store.set('conflicted', new Secret('v')))).toBeInstanceOf(SecretConflictError);
    server.faults.clear();
    server.faults.latency(1_000);
    for (let i = 0; i < 3; i += 1) {
      expect(await rejection(store.get('never-there', { signal: AbortSignal.timeout(30) }))).toMatchObject({ code: 'deadline_exceeded' });
    }
    server.faults.clear();
    expect(store.breakerState).toBe('closed');
    expect(await rejection(store.get('never-there'))).toBeInstanceOf(SecretNotFoundError);
  });
});

describe('KeyVaultSecretStore: secret values never leak', () => {
  it('requirement 67: no canary in error message, String(err), JSON.stringify(err), util.inspect(err) or the log', async () => {
    const canary = `canary-${Math.random().toString(36).slice(2)}-value`;
    const store = makeStore({ budgetMs: 300, conflictRetry: { retries: 0 } });
    const client = clientFor(server);
    await client.setSecret('soft-deleted', 'v');
    await (await client.beginDeleteSecret('soft-deleted', { intervalInMs: 10 })).pollUntilDone();

    const errors: unknown[] = [];
    errors.push(await rejection(store.set('soft-deleted', new Secret(canary))));
    for (const fault of [{ status: 429, retryAfterSec: 1 }, { status: 503 }, { status: 400 }, { reset: true }]) {
      server.faults.inject(fault);
      errors.push(await rejection(store.set('canary-target', new Secret(canary))));
    }
    errors.push(await rejection(store.set('canary-target', new Secret(canary), { tags: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'v'])) })));
    errors.push(await rejection(store.set('canary-target', new Secret(canary.repeat(2_000)))));
    server.faults.latency(2_000);
    errors.push(await rejection(store.set('canary-target', new Secret(canary))));
    server.faults.clear();

    expect(errors).toHaveLength(8);
    for (const error of errors) {
      expect(error).toBeInstanceOf(BrokerError);
      const renderings = [
        error instanceof Error ? error.message : '',
        String(error),
        JSON.stringify(error),
        inspect(error, { depth: Infinity, showHidden: true }),
        error instanceof Error ? String(error.stack) : '',
      ];
      for (const text of renderings) {
        expect(text).not.toContain(canary);
        expect(text).not.toContain(LOOPBACK_DEV_TOKEN);
        expect(text).not.toContain('api-version');
        expect(text).not.toContain(server.url);
      }
    }
    const codes = errors.map((e) => (e instanceof BrokerError ? e.code : 'none'));
    expect(codes).toEqual([
      'secret_conflict', 'secret_store_throttled', 'secret_store_unavailable', 'internal',
      'secret_store_unavailable', 'internal', 'internal', 'secret_store_unavailable',
    ]);
    expect(logLines.join('\n')).not.toContain(canary);
    expect(logLines.length).toBeGreaterThan(0);
  });
});

describe('KeyVaultSecretStore: reads and the cache', () => {
  it('requirement 42: a second get is served from the cache with no HTTP call', async () => {
    const store = makeStore();
    await clientFor(server).setSecret('client-secret', 'hush');
    const first = await store.get('client-secret');
    const second = await store.get('CLIENT-SECRET');
    expect(first.value.reveal()).toBe('hush');
    expect(second).toBe(first);
    expect(server.counters.getSecret).toBe(1);
  });

  it('refresh tokens (so-rt-…) are never cached: every read and write goes to the vault (docs/security.md §4)', async () => {
    const store = makeStore();
    const name = `so-rt-${'a'.repeat(64)}`;
    await store.set(name, new Secret('rt-1'));
    expect((await store.get(name)).value.reveal()).toBe('rt-1');
    expect((await store.get(name)).value.reveal()).toBe('rt-1');
    expect(server.counters.getSecret).toBe(2);
  });

  it('requirement 42: a cached read expires after the TTL (fake clock)', async () => {
    let now = 1_000;
    const store = makeStore({ cache: { max: 10, ttlMs: 60_000 }, clock: () => now });
    const client = clientFor(server);
    await client.setSecret('rotating', 'v1');
    expect((await store.get('rotating')).value.reveal()).toBe('v1');
    await client.setSecret('rotating', 'v2');
    now += 59_999;
    expect((await store.get('rotating')).value.reveal()).toBe('v1');
    now += 2;
    expect((await store.get('rotating')).value.reveal()).toBe('v2');
    expect(server.counters.getSecret).toBe(2);
  });

  it('requirement 42: the cache is bounded by max (least recently used evicted)', async () => {
    const store = makeStore({ cache: { max: 2, ttlMs: 60_000 } });
    const client = clientFor(server);
    for (const name of ['lru-a', 'lru-b', 'lru-c']) await client.setSecret(name, name);
    await store.get('lru-a');
    await store.get('lru-b');
    await store.get('lru-c');
    await store.get('lru-c');
    await store.get('lru-b');
    expect(server.counters.getSecret).toBe(3);
    await store.get('lru-a');
    expect(server.counters.getSecret).toBe(4);
  });

  it('requirement 42: fresh: true bypasses the cache and refreshes it', async () => {
    const store = makeStore();
    const client = clientFor(server);
    await client.setSecret('client-secret', 'old');
    await store.get('client-secret');
    await client.setSecret('client-secret', 'new');
    expect((await store.get('client-secret')).value.reveal()).toBe('old');
    expect((await store.get('client-secret', { fresh: true })).value.reveal()).toBe('new');
    expect((await store.get('client-secret')).value.reveal()).toBe('new');
    expect(server.counters.getSecret).toBe(2);
  });

  it('returns version, tags and updatedOn; set and contentType reach the vault', async () => {
    const store = makeStore();
    const { version } = await store.set('described', new Secret('v'), { tags: { owner: 'broker' }, contentType: 'text/plain' });
    const read = await store.get('described', { fresh: true });
    expect(read).toMatchObject({ version, enabled: true, tags: { owner: 'broker' } });
    expect(read.updatedOn).toBeInstanceOf(Date);
    expect((await clientFor(server).getSecret('described')).properties.contentType).toBe('text/plain');
  });
});

describe('KeyVaultSecretStore: writes', () => {
  it('set updates the cache; disable evicts it so the next get fails at once', async () => {
    const store = makeStore();
    const { version } = await store.set('refresh-token', new Secret('rt-1'));
    const cached = await store.get('refresh-token');
    expect(cached.version).toBe(version);
    expect(server.counters.getSecret).toBe(0);
    await store.disable('refresh-token');
    expect(await rejection(store.get('refresh-token'))).toMatchObject({ reason: 'disabled' });
    const versions = [];
    for await (const v of clientFor(server).listPropertiesOfSecretVersions('refresh-token')) versions.push(v);
    expect(versions.map((v) => [v.version, v.enabled])).toEqual([[version, false]]);
  });

  it('disable is idempotent, a missing secret gives SecretNotFoundError, and a later set writes a new enabled version', async () => {
    const store = makeStore();
    expect(await rejection(store.disable('never-written'))).toBeInstanceOf(SecretNotFoundError);
    await store.set('revoked', new Secret('a'));
    await store.disable('revoked');
    await store.disable('revoked');
    expect(server.counters.updateSecret).toBe(1);
    const { version } = await store.set('revoked', new Secret('b'));
    expect(await store.get('revoked', { fresh: true })).toMatchObject({ version, enabled: true });
  });

  it('requirement 48: concurrent writes to one name reach the vault one at a time', async () => {
    const store = makeStore();
    await store.set('warm-up', new Secret('v'));
    server.reset();
    server.faults.latency(120, (t) => t.method === 'PUT');
    await Promise.all([
      store.set('same-name', new Secret('1')),
      store.set('SAME-NAME', new Secret('2')),
      store.set('Same-Name', new Secret('3')),
      store.disable('same-name'),
    ]);
    const writes = authenticated((r) => r.secretName?.toLowerCase() === 'same-name');
    // disable lists the versions, then disables each enabled one.
    expect(writes.map((r) => r.method)).toEqual(['PUT', 'PUT', 'PUT', 'GET', 'PATCH', 'PATCH', 'PATCH']);
    for (let i = 1; i < writes.length; i += 1) {
      const previous = writes[i - 1];
      const current = writes[i];
      if (previous === undefined || current === undefined) throw new Error('missing request');
      expect(current.receivedAt).toBeGreaterThanOrEqual(previous.finishedAt);
    }
    const versions = [];
    for await (const v of clientFor(server).listPropertiesOfSecretVersions('same-name')) versions.push(v.enabled);
    expect(versions).toEqual([false, false, false]);
  });

  it('issue 10 point 11: disable disables every enabled version (37, over several pages), and none can be read afterwards', async () => {
    const store = makeStore();
    const written: string[] = [];
    for (let i = 1; i <= 37; i += 1) written.push((await store.set('many-versions', new Secret(`rt-${i}`))).version);
    const client = clientFor(server);
    // One older version already disabled by hand: it is left as it is (no PATCH).
    await client.updateSecretProperties('many-versions', written[0]!, { enabled: false });
    const enabled = await store.getEnabledVersions('many-versions');
    expect(enabled).toHaveLength(36);
    expect(enabled[0]?.value.reveal()).toBe('rt-37');
    expect(new Set(enabled.map((v) => v.version))).toEqual(new Set(written.slice(1)));
    const patchesBefore = authenticated((r) => r.method === 'PATCH').length;
    await store.disable('many-versions');
    expect(authenticated((r) => r.method === 'PATCH').length - patchesBefore).toBe(36);
    const after = [];
    for await (const v of client.listPropertiesOfSecretVersions('many-versions')) after.push(v.enabled);
    expect(after).toHaveLength(37);
    expect(after.every((enabledFlag) => enabledFlag === false)).toBe(true);
    for (const version of [written[1]!, written[20]!, written[36]!]) {
      expect(await rejection(client.getSecret('many-versions', { version }))).toMatchObject({ statusCode: 403 });
    }
    expect(await store.getEnabledVersions('many-versions')).toEqual([]);
    expect(await store.getEnabledVersions('never-written')).toEqual([]);
    // A later consent writes a new, enabled version.
    const { version } = await store.set('many-versions', new Secret('rt-new'));
    expect(await store.get('many-versions', { fresh: true })).toMatchObject({ version, enabled: true });
  });

  it('requirement 48: writes to different names are not serialised with each other', async () => {
    const store = makeStore();
    await store.set('warm-up', new Secret('v'));
    server.reset();
    server.faults.latency(150, (t) => t.method === 'PUT');
    await Promise.all([store.set('name-a', new Secret('1')), store.set('name-b', new Secret('2'))]);
    const [a, b] = authenticated((r) => r.method === 'PUT');
    if (a === undefined || b === undefined) throw new Error('missing request');
    expect(b.receivedAt).toBeLessThan(a.finishedAt);
  });

  it('requirement 48: a 409 Conflict is retried with backoff and the write succeeds', async () => {
    const store = makeStore({ conflictRetry: { retries: 3, baseDelayMs: 20, maxDelayMs: 40 } });
    server.faults.inject({ status: 409, times: 2, match: (t) => t.method === 'PUT' });
    const { version } = await store.set('contended', new Secret('finally'));
    const puts = authenticated((r) => r.method === 'PUT');
    expect(puts.map((r) => r.status)).toEqual([409, 409, 200]);
    const second = puts[1];
    const first = puts[0];
    if (first === undefined || second === undefined) throw new Error('missing request');
    expect(second.receivedAt - first.finishedAt).toBeGreaterThanOrEqual(8);
    expect((await store.get('contended', { fresh: true })).version).toBe(version);
    expect(logLines.filter((line) => line.includes('keyvault.conflict_retry'))).toHaveLength(2);
  });
});

describe('KeyVaultSecretStore: correlation', () => {
  it('requirement 63: the correlation id arrives as the client request id on every call', async () => {
    const store = makeStore();
    await store.set('correlated', new Secret('v'), { correlationId: 'req-set-1' });
    await store.get('correlated', { fresh: true, correlationId: 'req-get-2' });
    await store.disable('correlated', { correlationId: 'req-disable-3' });
    const seen = server.requests.map((r) => [r.method, r.authenticated, r.clientRequestId]);
    expect(seen).toEqual([
      ['PUT', false, 'req-set-1'],
      ['PUT', true, 'req-set-1'],
      ['GET', true, 'req-get-2'],
      ['GET', true, 'req-disable-3'],
      ['PATCH', true, 'req-disable-3'],
    ]);
  });

  it('requirement 63: an unsafe correlation id is not sent (the SDK generates its own)', async () => {
    const store = makeStore();
    await rejection(store.get('x', { correlationId: 'bad id\r\ninjected: 1' }));
    for (const request of server.requests) {
      expect(request.clientRequestId).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});
