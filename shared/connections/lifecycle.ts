import type { SuperOfficeEnvironment } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { SecretNotFoundError } from '../secrets/errors.js';
import { connectionSecretName } from '../secrets/names.js';
import type { SecretStore } from '../secrets/store.js';
import type { TokenService } from '../tokens/tokenService.js';
import type { Connection, ConnectionStore } from './connection.js';

/**
 * The connection lifecycle (issue 5 item 5): list, revoke, and probe. Revocation disables the Key
 * Vault secret's current version (never delete-then-recreate: a later consent simply writes a new
 * enabled version), marks the record, and drops the instance's cached token so it stops working at once.
 */

/** What an admin caller sees of a connection: status and metadata, nothing secret. */
export type ConnectionView = Omit<Connection, never>;

export interface ProbeSummary {
  readonly probed: number;
  readonly ok: number;
  readonly reauthRequired: number;
  readonly failed: number;
  readonly skipped: number;
}

export class ConnectionLifecycle {
  constructor(
    private readonly deps: {
      readonly environment: SuperOfficeEnvironment;
      readonly connections: ConnectionStore;
      readonly secrets: SecretStore;
      readonly tokens: Pick<TokenService, 'forget' | 'probe'>;
      readonly logger: Logger;
    },
  ) {}

  list(ctx: string): Promise<ConnectionView[]> {
    return this.deps.connections.list({ env: this.deps.environment, ctx });
  }

  /** Revokes a user's connection; returns the updated record, or undefined if there is none. */
  async revoke(ctx: string, associateId: string, options: { signal?: AbortSignal; correlationId?: string } = {}): Promise<Connection | undefined> {
    const key = { env: this.deps.environment, ctx, associateId };
    const existing = await this.deps.connections.get(key);
    if (existing === undefined) return undefined;
    try {
      await this.deps.secrets.disable(connectionSecretName(this.deps.environment, ctx, associateId), options);
    } catch (error) {
      if (!(error instanceof SecretNotFoundError)) throw error;
    }
    this.deps.tokens.forget(ctx, associateId);
    return this.deps.connections.setStatus(key, 'revoked', 'revoked');
  }

  /**
   * Probes every active connection of the environment (bounded concurrency, within `budgetMs`),
   * recording health; a revoked consent becomes `reauth_required`.
   */
  async probeAll(options: { budgetMs: number; concurrency?: number; perProbeMs?: number } ): Promise<ProbeSummary> {
    const started = Date.now();
    const all = await this.deps.connections.list({ env: this.deps.environment });
    const active = all.filter((c) => c.status === 'active');
    const counts = { probed: 0, ok: 0, reauthRequired: 0, failed: 0, skipped: 0 };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < active.length) {
        const connection = active[next++]!;
        if (Date.now() - started > options.budgetMs) {
          counts.skipped++;
          continue;
        }
        const outcome = await this.deps.tokens.probe(connection.ctx, connection.associateId, Date.now() + (options.perProbeMs ?? 10_000));
        counts.probed++;
        if (outcome === 'ok') counts.ok++;
        else if (outcome === 'reauth_required') counts.reauthRequired++;
        else counts.failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
    this.deps.logger.info('connections.probed', { count: counts.probed, detail: counts });
    return counts;
  }
}
