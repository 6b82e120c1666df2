import { BrokerError } from '../errors/errors.js';
import type { SuperOfficeClient } from '../superoffice/client.js';
import type { TenantState } from '../superoffice/tenantState.js';
import { UpstreamTransportError } from '../superoffice/upstream.js';
import { SingleFlight } from './singleFlight.js';

/**
 * Tenant states from SuperOffice's status API, cached per tenant until `ValidUntil`
 * (docs/superoffice.md §4). A tenant that is not running is `tenant_unavailable` (503, Retry-After).
 */
export class TenantStates {
  private readonly cache = new Map<string, TenantState>();
  private readonly flights = new SingleFlight<TenantState | undefined>();

  constructor(
    private readonly client: Pick<SuperOfficeClient, 'tenantState'>,
    private readonly clock: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {}

  /**
   * The tenant's state, or `undefined` when the status API is unreachable (callers then fall back to
   * the Web API URL from the consent). Throws `not_found` for an unknown tenant.
   */
  async get(ctx: string, signal?: AbortSignal): Promise<TenantState | undefined> {
    const key = ctx.toLowerCase();
    const cached = this.cache.get(key);
    if (cached && cached.validUntil > this.clock()) return cached;
    return this.flights.run(key, async () => {
      let outcome;
      try {
        outcome = await this.client.tenantState(ctx, signal ? { signal } : {});
      } catch (error) {
        if (error instanceof UpstreamTransportError) return cached;
        throw error;
      }
      switch (outcome.kind) {
        case 'state':
          if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
          this.cache.set(key, outcome.state);
          return outcome.state;
        case 'unknown_tenant':
          throw new BrokerError('not_found', 'SuperOffice does not know this tenant');
        case 'transient':
        case 'malformed':
          return cached;
      }
    });
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
}
