import { NotifyingConnectionStore } from '../../../shared/events/connectionEvents.js';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../shared/config/config.js';
import type { Connection, ConnectionKey } from '../../../shared/connections/connection.js';
import { ConnectionLifecycle } from '../../../shared/connections/lifecycle.js';
import { CachedConnectionStore, withStatusCache } from '../../../shared/connections/statusCache.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createRuntime } from '../../../shared/runtime/runtime.js';
import { createMemorySecretStore } from '../../../shared/secrets/memoryStore.js';
import { connectionSecretName } from '../../../shared/secrets/names.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { TokenService } from '../../../shared/tokens/tokenService.js';
import { testEnv } from '../../support/config.js';
import { MemoryConnectionStore } from '../../support/memoryConnections.js';

const KEY: ConnectionKey = { env: 'sod', ctx: 'Cust1', associateId: '5' };

function setup(ttlMs = 5_000) {
  let now = 0;
  const inner = new MemoryConnectionStore();
  inner.add(KEY);
  const cache = new CachedConnectionStore(inner, { ttlMs, clock: () => now });
  return { inner, cache, advance: (ms: number) => { now += ms; } };
}

/** A store whose reads wait until released, to interleave a write with a read in flight. */
class GatedStore extends MemoryConnectionStore {
  private readonly waiting: (() => void)[] = [];
  gated = false;
  override async get(key: ConnectionKey): Promise<Connection | undefined> {
    const row = await super.get(key);
    if (this.gated) await new Promise<void>((resolve) => { this.waiting.push(resolve); });
    return row;
  }
  open(): void {
    this.gated = false;
    for (const release of this.waiting.splice(0)) release();
  }
}

describe('connection status cache: refusals are never delayed on this instance', () => {
  it('a revocation written through the cache is seen by the very next read', async () => {
    const { inner, cache } = setup();
    expect((await cache.get(KEY))?.status).toBe('active');
    await cache.setStatus(KEY, 'revoked', 'revoked');
    expect((await cache.get(KEY))?.status).toBe('revoked');
    expect(inner.reads).toBe(2); // the write dropped the cached record
  });

  it('reauth_required from a refresh, a probe failure and a new consent all drop the entry', async () => {
    const { inner, cache } = setup();
    await cache.get(KEY);
    await cache.setStatus(KEY, 'reauth_required', 'invalid_grant');
    expect((await cache.get(KEY))?.status).toBe('reauth_required');
    await cache.saveConsent({ ...KEY, webApiUrl: 'https://sod.superoffice.com/Cust1/api/', isAdministrator: false, systemUserStored: false, consentedAt: 'now', consentedBy: 'c' });
    const readsBefore = inner.reads;
    expect((await cache.get(KEY))?.status).toBe('active');
    expect(inner.reads).toBe(readsBefore + 1);
    await cache.recordProbeFailure(KEY, 'upstream_unavailable');
    expect((await cache.get(KEY))?.lastErrorCode).toBe('upstream_unavailable');
    expect(inner.reads).toBe(readsBefore + 2);
  });

  it('does not cache a missing, revoked or reauth_required connection: each is read every time', async () => {
    const { inner, cache } = setup();
    const other = { ...KEY, associateId: '6' };
    expect(await cache.get(other)).toBeUndefined();
    expect(await cache.get(other)).toBeUndefined();
    inner.add(other, 'revoked');
    expect((await cache.get(other))?.status).toBe('revoked');
    expect((await cache.get(other))?.status).toBe('revoked');
    inner.add(other, 'reauth_required');
    expect((await cache.get(other))?.status).toBe('reauth_required');
    expect(inner.reads).toBe(5);
    // A consent written by another instance is therefore seen at once.
    inner.add(other, 'active');
    expect((await cache.get(other))?.status).toBe('active');
  });

  it('a read in flight while a write happens is not cached', async () => {
    const inner = new GatedStore();
    inner.add(KEY);
    const cache = new CachedConnectionStore(inner, { ttlMs: 60_000, clock: () => 0 });
    inner.gated = true;
    const reading = cache.get(KEY); // reads 'active' and waits
    await Promise.resolve();
    await cache.setStatus(KEY, 'revoked', 'revoked');
    inner.open();
    expect((await reading)?.status).toBe('active'); // it started before the write
    expect((await cache.get(KEY))?.status).toBe('revoked'); // but it was not cached
  });

  it('a read that starts after a write does not join a read that started before it', async () => {
    const inner = new GatedStore();
    inner.add(KEY);
    const cache = new CachedConnectionStore(inner, { ttlMs: 60_000, clock: () => 0 });
    inner.gated = true;
    const before = cache.get(KEY);
    await Promise.resolve();
    inner.gated = false;
    await cache.setStatus(KEY, 'revoked', 'revoked');
    const after = await cache.get(KEY); // not gated: its own read
    expect(after?.status).toBe('revoked');
    inner.open();
    expect((await before)?.status).toBe('active');
    expect(inner.reads).toBe(2);
  });

  it('a failed write drops the entry all the same', async () => {
    const { inner, cache } = setup();
    await cache.get(KEY);
    inner.setStatus = async () => { throw new Error('storage down'); };
    await expect(cache.setStatus(KEY, 'revoked', 'revoked')).rejects.toThrow('storage down');
    const reads = inner.reads;
    await cache.get(KEY);
    expect(inner.reads).toBe(reads + 1);
  });
});

describe('connection status cache: what it saves, and its bound', () => {
  it('serves an active record from memory until the TTL passes, then reads the store again', async () => {
    const { inner, cache, advance } = setup(5_000);
    await cache.get(KEY);
    await cache.get(KEY);
    advance(4_999);
    await cache.get(KEY);
    expect(inner.reads).toBe(1);
    advance(1);
    await cache.get(KEY);
    expect(inner.reads).toBe(2);
  });

  it('another instance\'s revocation (a write that bypasses this cache) is seen within the TTL', async () => {
    const { inner, cache, advance } = setup(5_000);
    await cache.get(KEY);
    await inner.setStatus(KEY, 'revoked', 'revoked');
    expect((await cache.get(KEY))?.status).toBe('active'); // the bounded lag
    advance(5_000);
    expect((await cache.get(KEY))?.status).toBe('revoked');
  });

  it('keys by the store\'s identity: tenant ids are case-insensitive', async () => {
    const { inner, cache } = setup();
    await cache.get(KEY);
    await cache.get({ ...KEY, ctx: 'CUST1' });
    expect(inner.reads).toBe(1);
    await cache.setStatus({ ...KEY, ctx: 'cust1' }, 'revoked', 'revoked');
    expect((await cache.get(KEY))?.status).toBe('revoked');
  });

  it('concurrent misses for one record share one store read', async () => {
    const inner = new GatedStore();
    inner.add(KEY);
    const cache = new CachedConnectionStore(inner, { ttlMs: 5_000, clock: () => 0 });
    inner.gated = true;
    const reads = Array.from({ length: 50 }, () => cache.get(KEY));
    await Promise.resolve();
    inner.open();
    expect((await Promise.all(reads)).every((c) => c?.status === 'active')).toBe(true);
    expect(inner.reads).toBe(1);
  });

  it('when the first caller\'s deadline ends the shared read, the others read for themselves', async () => {
    const inner = new MemoryConnectionStore();
    inner.add(KEY);
    const first = new AbortController();
    let calls = 0;
    const original = inner.get.bind(inner);
    inner.get = (async (key: ConnectionKey, options?: { signal?: AbortSignal }) => {
      calls++;
      if (calls === 1) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        throw options?.signal?.reason ?? new Error('aborted');
      }
      return original(key);
    });
    const cache = new CachedConnectionStore(inner, { ttlMs: 5_000, clock: () => 0 });
    const a = cache.get(KEY, { signal: first.signal });
    const b = cache.get(KEY, { signal: new AbortController().signal });
    first.abort(new Error('first caller deadline'));
    await expect(a).rejects.toThrow('first caller deadline');
    expect((await b)?.status).toBe('active');
    expect(calls).toBe(2);
  });

  it('a store failure is shared, not retried by every waiting request', async () => {
    const inner = new MemoryConnectionStore();
    inner.add(KEY);
    let calls = 0;
    inner.get = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('storage down');
    };
    const cache = new CachedConnectionStore(inner, { ttlMs: 5_000, clock: () => 0 });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => cache.get(KEY)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(calls).toBe(1);
  });

  it('is bounded: the least recently used record is dropped', async () => {
    const inner = new MemoryConnectionStore();
    for (const id of ['1', '2', '3']) inner.add({ ...KEY, associateId: id });
    const cache = new CachedConnectionStore(inner, { ttlMs: 60_000, max: 2, clock: () => 0 });
    for (const id of ['1', '2', '3']) await cache.get({ ...KEY, associateId: id });
    expect(cache.size).toBe(2);
    await cache.get({ ...KEY, associateId: '1' });
    expect(inner.reads).toBe(4);
  });

  it('ttlMs 0 turns it off: the store itself is used', async () => {
    const inner = new MemoryConnectionStore();
    expect(withStatusCache(inner, { ttlMs: 0 })).toBe(inner);
    expect(withStatusCache(inner, { ttlMs: 1 })).toBeInstanceOf(CachedConnectionStore);
    expect(() => new CachedConnectionStore(inner, { ttlMs: -1 })).toThrow(RangeError);
  });

  it('passes list through to the store', async () => {
    const { cache } = setup();
    expect((await cache.list({ env: 'sod', ctx: 'Cust1' })).map((c) => c.associateId)).toEqual(['5']);
  });
});

describe('with the token service and the lifecycle (one instance)', () => {
  it('cached token requests read no connection row; revocation here refuses the next request at once', async () => {
    const inner = new MemoryConnectionStore();
    inner.add(KEY);
    const connections = new CachedConnectionStore(inner, { ttlMs: 5_000, clock: () => 0 });
    const secrets = createMemorySecretStore();
    await secrets.set(connectionSecretName('sod', 'Cust1', '5'), new Secret('RT-1'));
    const tokens = new TokenService({
      clientId: 'cid', environment: 'sod', secrets, connections,
      credentials: { clientSecret: async () => new Secret('cs') },
      client: {
        token: async () => ({ kind: 'tokens', tokens: { accessToken: new Secret('AT-1'), expiresInSec: 3600, refreshToken: undefined, idToken: undefined }, response: { status: 200 } }),
        revoke: async () => ({ kind: 'revoked' }),
      },
      tenants: { requireRunning: async () => undefined },
      logger: createLogger({ sink: () => undefined }),
    });
    const lifecycle = new ConnectionLifecycle({ environment: 'sod', connections, secrets, tokens, logger: createLogger({ sink: () => undefined }) });
    const request = { ctx: 'Cust1', associateId: '5', deadline: Date.now() + 10_000 };

    expect((await tokens.getUserToken(request)).accessToken.reveal()).toBe('AT-1');
    // The refresh's bookkeeping write (lastRefreshAt) dropped the entry: the next request reads once more, then none do.
    const readsAfterFirst = inner.reads;
    for (let i = 0; i < 10; i++) await tokens.getUserToken(request);
    expect(inner.reads).toBe(readsAfterFirst + 1);

    await lifecycle.revoke('Cust1', '5');
    const refused = await tokens.getUserToken(request).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(BrokerError);
    expect((refused as BrokerError).code).toBe('not_connected');
  });
});

describe('CONNECTION_STATUS_CACHE_MS', () => {
  it('defaults to 5 s, accepts 0 (off) up to 30 s, and names itself when invalid', () => {
    expect(loadConfig(testEnv()).connectionStatusCacheMs).toBe(5_000);
    expect(loadConfig(testEnv({ CONNECTION_STATUS_CACHE_MS: '0' })).connectionStatusCacheMs).toBe(0);
    expect(loadConfig(testEnv({ CONNECTION_STATUS_CACHE_MS: '30000' })).connectionStatusCacheMs).toBe(30_000);
    for (const bad of ['30001', '-1', '5s', '1.5']) {
      expect(() => loadConfig(testEnv({ CONNECTION_STATUS_CACHE_MS: bad }))).toThrow(new ConfigError('CONNECTION_STATUS_CACHE_MS', 'an integer from 0 to 30000'));
    }
  });

  it('the runtime puts the cache in front of the store (which publishes connection events to Table Storage), or leaves it out at 0', () => {
    expect(createRuntime(loadConfig(testEnv())).connections).toBeInstanceOf(CachedConnectionStore);
    const uncached = createRuntime(loadConfig(testEnv({ CONNECTION_STATUS_CACHE_MS: '0' }))).connections;
    expect(uncached).not.toBeInstanceOf(CachedConnectionStore);
    expect(uncached).toBeInstanceOf(NotifyingConnectionStore);
  });
});
