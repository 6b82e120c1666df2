import type { JWTVerifyGetKey } from 'jose';
import type { SuperOfficeEnvironment } from '../config/config.js';
import { BrokerError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { SecretNotFoundError } from '../secrets/errors.js';
import { systemUserSecretName } from '../secrets/names.js';
import type { Secret } from '../secrets/secret.js';
import type { SecretStore } from '../secrets/store.js';
import type { AppCredentials } from '../superoffice/appCredentials.js';
import type { SuperOfficeClient } from '../superoffice/client.js';
import { signSystemUserToken, validateSystemUserJwt } from '../superoffice/systemUser.js';
import type { UpstreamResponse } from '../superoffice/upstream.js';
import { UpstreamTransportError } from '../superoffice/upstream.js';
import { SingleFlight } from './singleFlight.js';

/**
 * System-user tickets (docs/superoffice.md §3), used only inside the broker (proxy, actions): never
 * returned to a caller, because using one needs the client_secret as `SO-AppToken`. Tickets are
 * cached with their sliding lifetime (6 h from last use, minus a margin) and renewed on 401.
 */

export const SYSTEM_USER_TICKET_LIFETIME_MS = 6 * 3600_000;

export interface SystemUserServiceOptions {
  readonly environment: SuperOfficeEnvironment;
  readonly secrets: SecretStore;
  readonly credentials: Pick<AppCredentials, 'clientSecret' | 'rsaPrivateKey'>;
  readonly client: Pick<SuperOfficeClient, 'authenticateSystemUser' | 'webApi'>;
  readonly keys: JWTVerifyGetKey;
  readonly logger: Logger;
  readonly clock?: () => number;
  /** Renew this long before the sliding expiry. */
  readonly marginMs?: number;
}

interface CachedTicket {
  readonly ticket: Secret;
  lastUsed: number;
}

export class SystemUserService {
  private readonly tickets = new Map<string, CachedTicket>();
  private readonly flights = new SingleFlight<CachedTicket>();
  private readonly clock: () => number;
  private readonly marginMs: number;

  constructor(private readonly options: SystemUserServiceOptions) {
    this.clock = options.clock ?? Date.now;
    this.marginMs = options.marginMs ?? 10 * 60_000;
  }

  /**
   * Calls the tenant's Web API as the system user (`SOTicket` + `SO-AppToken`); on 401 the ticket is
   * renewed once and the call repeated. Throws `not_connected` if no administrator has consented.
   */
  async callWebApi(ctx: string, webApiUrl: string, path: string, options: { method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; body?: string; signal?: AbortSignal } = {}): Promise<UpstreamResponse> {
    for (let attempt = 1; ; attempt++) {
      const ticket = await this.ticketFor(ctx, options.signal, attempt > 1);
      const clientSecret = await this.options.credentials.clientSecret(options.signal ? { signal: options.signal } : {});
      const response = await this.options.client.webApi(webApiUrl, path, { kind: 'ticket', ticket: ticket.ticket, clientSecret }, options);
      if (response.status === 401 && attempt === 1) {
        this.tickets.delete(ctx.toLowerCase());
        continue;
      }
      ticket.lastUsed = this.clock();
      return response;
    }
  }

  /**
   * The ticket and client_secret for one call made elsewhere (the proxy, which streams its own bodies);
   * `renew` forces a new ticket (after a 401). Call `markUsed` when SuperOffice accepted the ticket, so
   * its sliding lifetime is tracked. Throws like `callWebApi`.
   */
  async credentials(ctx: string, options: { signal?: AbortSignal; renew: boolean }): Promise<{ ticket: Secret; clientSecret: Secret; markUsed(): void }> {
    if (options.renew) this.tickets.delete(ctx.toLowerCase());
    const ticket = await this.ticketFor(ctx, options.signal, options.renew);
    const clientSecret = await this.options.credentials.clientSecret(options.signal ? { signal: options.signal } : {});
    return {
      ticket: ticket.ticket,
      clientSecret,
      markUsed: () => {
        ticket.lastUsed = this.clock();
      },
    };
  }

  /** Drops a tenant's cached ticket (e.g. after the system-user token was revoked). */
  forget(ctx: string): void {
    this.tickets.delete(ctx.toLowerCase());
  }

  private async ticketFor(ctx: string, signal: AbortSignal | undefined, renew: boolean): Promise<CachedTicket> {
    const key = ctx.toLowerCase();
    const cached = this.tickets.get(key);
    if (!renew && cached && this.clock() - cached.lastUsed < SYSTEM_USER_TICKET_LIFETIME_MS - this.marginMs) return cached;
    return this.flights.run(key, async () => {
      const ticket = await this.authenticate(ctx, signal);
      this.tickets.set(key, ticket);
      return ticket;
    });
  }

  private async authenticate(ctx: string, signal: AbortSignal | undefined): Promise<CachedTicket> {
    const call = signal ? { signal } : {};
    let systemToken: Secret;
    try {
      systemToken = (await this.options.secrets.get(systemUserSecretName(this.options.environment, ctx), call)).value;
    } catch (error) {
      if (error instanceof SecretNotFoundError) {
        throw new BrokerError('not_connected', 'No administrator of this tenant has consented to the system user', { extensions: { consentRequired: true } });
      }
      throw error;
    }
    const [key, clientSecret] = await Promise.all([this.options.credentials.rsaPrivateKey(call), this.options.credentials.clientSecret(call)]);
    const signed = signSystemUserToken(systemToken, key, new Date(this.clock()));
    let outcome;
    try {
      outcome = await this.options.client.authenticateSystemUser(signed, clientSecret, ctx, call);
    } catch (error) {
      if (error instanceof UpstreamTransportError) throw new BrokerError(error.code, "SuperOffice's system-user endpoint is unavailable", { cause: error, retryAfterSec: 5 });
      throw error;
    }
    switch (outcome.kind) {
      case 'token': {
        const validated = await validateSystemUserJwt(outcome.jwt, this.options.keys, ctx, new Date(this.clock()));
        return { ticket: validated.ticket, lastUsed: this.clock() };
      }
      case 'refused':
        this.options.logger.warn('system_user.refused', { ctx, detail: outcome.message });
        throw new BrokerError('upstream_bad_response', 'SuperOffice refused the system-user sign-in');
      case 'transient':
        throw new BrokerError('upstream_unavailable', "SuperOffice's system-user endpoint is unavailable", { retryAfterSec: outcome.retryAfterSec ?? 5 });
      case 'malformed':
        throw new BrokerError('upstream_bad_response', `SuperOffice's system-user endpoint answered malformed (${outcome.problem})`);
    }
  }
}
