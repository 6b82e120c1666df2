import { BrokerError } from '../errors/errors.js';
import type { SuperOfficeClient } from '../superoffice/client.js';
import type { TenantState } from '../superoffice/tenantState.js';
import { UpstreamTransportError, type UpstreamTransport } from '../superoffice/upstream.js';
import { SingleFlight } from './singleFlight.js';

/**
 * Tenant states from SuperOffice's status API (docs/superoffice.md §4). A tenant that is not running is
 * `tenant_unavailable` (503, Retry-After).
 *
 * A state is used until its `ValidUntil`, but never longer than `maxAgeMs` (60 s) after it was
 * fetched, so a tenant going into maintenance is noticed within a minute even when SuperOffice
 * promises the old state for longer (issue 15 point 6). A 503 from the token endpoint or the Web
 * API for a tenant marks its state stale at once (`invalidate`), at most once per `minRefetchMs`, so
 * a failing tenant costs at most one state call per that interval, never one per request. While the
 * status API itself fails, the last state (or none: the consent's Web API URL) is used and the API
 * is asked again only after `failureBackoffMs`.
 */
export interface TenantStatesOptions {
  readonly clock?: () => number;
  readonly maxEntries?: number;
  /** The longest a fetched state is trusted, whatever its `ValidUntil` says. */
  readonly maxAgeMs?: number;
  /** An invalidation within this time of the last fetch is ignored. */
  readonly minRefetchMs?: number;
  /** After a failed state call, how long the fallback is used before asking again. */
  readonly failureBackoffMs?: number;
}

export const TENANT_STATES_DEFAULTS = Object.freeze({ maxEntries: 10_000, maxAgeMs: 60_000, minRefetchMs: 5_000, failureBackoffMs: 10_000 });

interface Entry {
  /** The last state the API gave, kept as the fallback while it fails. */
  readonly state: TenantState | undefined;
  /** When the state API was last asked (success or failure). */
  readonly fetchedAt: number;
  /** Ask again at or after this time. */
  readonly refetchAt: number;
  /** This state was fetched because an invalidation made it due. */
  readonly afterInvalidation?: boolean;
  /** An invalidation made this entry due (the next fetch is `afterInvalidation`). */
  readonly dueToInvalidation?: boolean;
}

export class TenantStates {
  private readonly cache = new Map<string, Entry>();
  private readonly flights = new SingleFlight<TenantState | undefined>();
  private readonly clock: () => number;
  private readonly o: Required<Omit<TenantStatesOptions, 'clock'>>;

  constructor(
    private readonly client: Pick<SuperOfficeClient, 'tenantState'>,
    opts: TenantStatesOptions = {},
  ) {
    this.clock = opts.clock ?? Date.now;
    this.o = {
      maxEntries: opts.maxEntries ?? TENANT_STATES_DEFAULTS.maxEntries,
      maxAgeMs: opts.maxAgeMs ?? TENANT_STATES_DEFAULTS.maxAgeMs,
      minRefetchMs: opts.minRefetchMs ?? TENANT_STATES_DEFAULTS.minRefetchMs,
      failureBackoffMs: opts.failureBackoffMs ?? TENANT_STATES_DEFAULTS.failureBackoffMs,
    };
  }

  /**
   * The tenant's state, or `undefined` when the status API is unreachable and no state is known
   * (callers then fall back to the Web API URL from the consent). Throws `not_found` for an unknown tenant.
   */
  async get(ctx: string, signal?: AbortSignal): Promise<TenantState | undefined> {
    const key = ctx.toLowerCase();
    const entry = this.cache.get(key);
    if (entry && entry.refetchAt > this.clock()) return entry.state;
    return this.flights.run(key, async () => {
      const fallback = (): TenantState | undefined => {
        const now = this.clock();
        this.put(key, { state: entry?.state, fetchedAt: now, refetchAt: now + this.o.failureBackoffMs, afterInvalidation: entry?.dueToInvalidation === true });
        return entry?.state;
      };
      let outcome;
      try {
        outcome = await this.client.tenantState(ctx, signal ? { signal } : {});
      } catch (error) {
        if (error instanceof UpstreamTransportError) return fallback();
        throw error;
      }
      switch (outcome.kind) {
        case 'state': {
          const now = this.clock();
          this.put(key, { state: outcome.state, fetchedAt: now, refetchAt: Math.min(outcome.state.validUntil, now + this.o.maxAgeMs), afterInvalidation: entry?.dueToInvalidation === true });
          return outcome.state;
        }
        case 'unknown_tenant':
          throw new BrokerError('not_found', 'SuperOffice does not know this tenant');
        case 'transient':
        case 'malformed':
          return fallback();
      }
    });
  }

  /**
   * Marks a tenant's state stale because SuperOffice answered 503 for it (token endpoint or Web API):
   * the next request asks the status API again. A state that was itself fetched because of an
   * invalidation is kept for at least `minRefetchMs`, so a storm of 503s costs one state call per that
   * interval. Returns false when nothing changed (no state known, or already due by then).
   */
  invalidate(ctx: string): boolean {
    const key = ctx.toLowerCase();
    const entry = this.cache.get(key);
    if (!entry) return false;
    if (entry.dueToInvalidation) return false;
    const earliest = entry.afterInvalidation ? entry.fetchedAt + this.o.minRefetchMs : entry.fetchedAt;
    const refetchAt = Math.max(this.clock(), earliest);
    if (entry.refetchAt <= refetchAt) return false;
    this.cache.set(key, { ...entry, refetchAt, dueToInvalidation: true });
    return true;
  }

  /** Throws `tenant_unavailable` with Retry-After unless the tenant is running. */
  async requireRunning(ctx: string, signal?: AbortSignal): Promise<TenantState | undefined> {
    const state = await this.get(ctx, signal);
    if (state !== undefined && !state.isRunning) {
      const retryAfterSec = Math.max(30, Math.ceil((state.validUntil - this.clock()) / 1000));
      throw new BrokerError('tenant_unavailable', `The tenant is not running (${state.state})`, { retryAfterSec, extensions: { tenantState: state.state } });
    }
    return state;
  }

  private put(key: string, entry: Entry): void {
    this.cache.delete(key);
    if (this.cache.size >= this.o.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, entry);
  }
}

/**
 * The tenant named by a Web API URL (`https://sod2.superoffice.com/Cust12345/api/…`: the first path
 * segment, when the second is `api`), or undefined.
 */
export function tenantOfWebApiUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL: no tenant to mark stale.
    return undefined;
  }
  const match = /^\/([^/]+)\/api(?:\/|$)/i.exec(parsed.pathname);
  return match ? decodeURIComponent(match[1]!) : undefined;
}

/**
 * Wraps a transport so that every 503 from a tenant's Web API marks that tenant's state stale
 * (`TenantStates.invalidate`). It only observes: the answer (or the failure) is passed on unchanged.
 */
export function invalidatingTransport(inner: UpstreamTransport, invalidate: (ctx: string) => void): UpstreamTransport {
  return async (request) => {
    const response = await inner(request);
    if (response.status === 503) {
      const ctx = tenantOfWebApiUrl(request.url.href);
      if (ctx !== undefined) {
        try {
          invalidate(ctx);
        } catch {
          // Observing must never change the call's outcome.
        }
      }
    }
    return response;
  };
}
