import { LRUCache } from 'lru-cache';
import type { Connection, ConnectionKey, ConnectionStatus, ConnectionStore } from './connection.js';

/**
 * A per-instance cache of `active` connection records in front of the connection store, so that a
 * cached token request does not read Table Storage (issue 14; docs/scale.md §3).
 *
 * - Only `active` records are cached: the cache can delay a refusal by at most `ttlMs`, never an
 *   acceptance. A missing, revoked or `reauth_required` connection is read from the store every time,
 *   so a new consent on another instance is seen at once.
 * - Every write through this store (consent, status change, refresh or probe bookkeeping) drops the
 *   entry before and after it reaches the store, and a read that was in flight across a write is not
 *   cached: revocation on this instance stops token release here at once.
 * - Another instance's write is seen when the entry expires, within `ttlMs` (default 5 s). That lag
 *   is bounded and documented (docs/scale.md §3): revocation also disables the refresh token in Key
 *   Vault and revokes it at SuperOffice, and an access token already released stays usable at
 *   SuperOffice for up to an hour whatever the broker does.
 * - Concurrent misses for one record share one store read (a cold instance under load reads a hot
 *   user's record once, not once per request); a read is never shared across a write.
 * - `ttlMs: 0` turns the cache off (every read goes to the store).
 */

export interface ConnectionStatusCacheOptions {
  /** How long an `active` record is served from memory; 0 disables the cache. */
  readonly ttlMs: number;
  /** Most records kept (LRU); default 10,000. */
  readonly max?: number;
  /** Monotonic milliseconds (tests); default `performance.now()`. */
  readonly clock?: () => number;
}

export const CONNECTION_STATUS_CACHE_DEFAULTS = Object.freeze({ ttlMs: 5_000, max: 10_000 });

interface Entry {
  readonly connection: Connection;
  readonly expiresAt: number;
}

/** A store read in progress, shared by the requests for the same record that arrive meanwhile. */
interface Flight {
  readonly writes: number;
  readonly promise: Promise<Connection | undefined>;
  readonly signal: AbortSignal | undefined;
}

/** The cache key: the store's own identity of a record (partition `{env}|{ctx}` lower case, row associate id). */
function keyOf(key: ConnectionKey): string {
  return `${key.env.toLowerCase()}|${key.ctx.toLowerCase()}|${key.associateId}`;
}

export class CachedConnectionStore implements ConnectionStore {
  private readonly entries: LRUCache<string, Entry>;
  private readonly ttlMs: number;
  private readonly clock: () => number;
  private readonly inflight = new Map<string, Flight>();
  /** Bumped around every write; a read that started under another value is neither cached nor joined. */
  private writes = 0;

  constructor(
    private readonly inner: ConnectionStore,
    options: ConnectionStatusCacheOptions,
  ) {
    if (!Number.isInteger(options.ttlMs) || options.ttlMs < 0) throw new RangeError('ttlMs must be a non-negative integer');
    this.ttlMs = options.ttlMs;
    this.clock = options.clock ?? (() => performance.now());
    this.entries = new LRUCache<string, Entry>({ max: options.max ?? CONNECTION_STATUS_CACHE_DEFAULTS.max });
  }

  /** Records currently cached (tests and the bench). */
  get size(): number {
    return this.entries.size;
  }

  async get(key: ConnectionKey, options: { signal?: AbortSignal } = {}): Promise<Connection | undefined> {
    if (this.ttlMs === 0) return this.inner.get(key, options);
    const k = keyOf(key);
    const entry = this.entries.get(k);
    if (entry !== undefined) {
      if (entry.expiresAt > this.clock()) return entry.connection;
      this.entries.delete(k);
    }
    const shared = this.inflight.get(k);
    if (shared !== undefined && shared.writes === this.writes) {
      try {
        return await shared.promise;
      } catch (error) {
        // The shared read carried the first caller's signal; if only that caller's deadline ended it, read for this one.
        if (!(shared.signal?.aborted === true && options.signal?.aborted !== true)) throw error;
      }
    }
    const writesBefore = this.writes;
    const flight: Flight = { writes: writesBefore, promise: this.inner.get(key, options), signal: options.signal };
    this.inflight.set(k, flight);
    try {
      const connection = await flight.promise;
      if (connection !== undefined && connection.status === 'active' && this.writes === writesBefore) {
        this.entries.set(k, { connection, expiresAt: this.clock() + this.ttlMs });
      }
      return connection;
    } finally {
      if (this.inflight.get(k) === flight) this.inflight.delete(k);
    }
  }

  /** Drops a record from this instance's cache. */
  forget(key: ConnectionKey): void {
    this.writes++;
    this.entries.delete(keyOf(key));
  }

  saveConsent(connection: Parameters<ConnectionStore['saveConsent']>[0]): Promise<Connection> {
    return this.writing(connection, () => this.inner.saveConsent(connection));
  }

  setStatus(key: ConnectionKey, status: ConnectionStatus, lastErrorCode: string | undefined): Promise<Connection | undefined> {
    return this.writing(key, () => this.inner.setStatus(key, status, lastErrorCode));
  }

  recordSuccess(key: ConnectionKey, kind: 'refresh' | 'probe', isAdministrator?: boolean): Promise<void> {
    return this.writing(key, () => this.inner.recordSuccess(key, kind, isAdministrator));
  }

  recordProbeFailure(key: ConnectionKey, errorCode: string): Promise<void> {
    return this.writing(key, () => this.inner.recordProbeFailure(key, errorCode));
  }

  list(filter: { env: string; ctx?: string }): Promise<Connection[]> {
    return this.inner.list(filter);
  }

  /** Drops the entry before the write (so no request here is served from it meanwhile) and after it, whatever its outcome. */
  private async writing<T>(key: ConnectionKey, write: () => Promise<T>): Promise<T> {
    this.forget(key);
    try {
      return await write();
    } finally {
      this.forget(key);
    }
  }
}

/** The store the runtime uses: `inner` behind the cache, or `inner` itself when `ttlMs` is 0. */
export function withStatusCache(inner: ConnectionStore, options: ConnectionStatusCacheOptions): ConnectionStore {
  return options.ttlMs === 0 ? inner : new CachedConnectionStore(inner, options);
}
