import type { SuperOfficeEnvironment } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { SecretNotFoundError } from '../secrets/errors.js';
import { connectionSecretName } from '../secrets/names.js';
import type { Secret } from '../secrets/secret.js';
import type { SecretStore } from '../secrets/store.js';
import type { TokenService } from '../tokens/tokenService.js';
import type { Connection, ConnectionStore } from './connection.js';

/**
 * The connection lifecycle (issue 5 item 5): list, revoke, and probe.
 *
 * Revocation (issue 10 point 11) leaves no usable refresh token behind: it reads the refresh token of
 * every enabled Key Vault version, disables every version (never delete-then-recreate: a later consent
 * simply writes a new enabled version), drops the instance's cached token, asks SuperOffice to revoke
 * each distinct refresh token (RFC 7009), and marks the record `revoked`. The local part comes first
 * and always happens, so the broker stops using the tokens whatever SuperOffice answers; an upstream
 * revocation that failed is recorded as `lastErrorCode: upstream_revocation_failed` (or
 * `upstream_revocation_unsupported`).
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
      readonly tokens: Pick<TokenService, 'forget' | 'probe' | 'revokeRefreshTokens'>;
      readonly logger: Logger;
    },
  ) {}

  list(ctx: string): Promise<ConnectionView[]> {
    return this.deps.connections.list({ env: this.deps.environment, ctx });
  }

  /** Revokes a user's connection (see the module doc); returns the updated record, or undefined if there is none. */
  async revoke(ctx: string, associateId: string, options: { signal?: AbortSignal; correlationId?: string } = {}): Promise<Connection | undefined> {
    const key = { env: this.deps.environment, ctx, associateId };
    const existing = await this.deps.connections.get(key);
    if (existing === undefined) return undefined;
    const name = connectionSecretName(this.deps.environment, ctx, associateId);
    // Read first: a disabled version cannot be read, so its token could no longer be revoked upstream.
    const refreshTokens = await this.enabledRefreshTokens(name, options);
    try {
      await this.deps.secrets.disable(name, options);
    } catch (error) {
      if (!(error instanceof SecretNotFoundError)) throw error;
    }
    this.deps.tokens.forget(ctx, associateId);
    const upstream = refreshTokens.length === 0 ? 'revoked' : await this.deps.tokens.revokeRefreshTokens(refreshTokens, options);
    this.deps.logger.info('connections.revoked', { ctx, associateId, count: refreshTokens.length, outcome: upstream });
    return this.deps.connections.setStatus(key, 'revoked', upstream === 'revoked' ? 'revoked' : `upstream_revocation_${upstream}`);
  }

  /** The distinct refresh tokens of every enabled version (the current one where the store lists no versions). */
  private async enabledRefreshTokens(name: string, options: { signal?: AbortSignal; correlationId?: string }): Promise<Secret[]> {
    let stored;
    try {
      stored = this.deps.secrets.getEnabledVersions !== undefined
        ? await this.deps.secrets.getEnabledVersions(name, options)
        : [await this.deps.secrets.get(name, { ...options, fresh: true })];
    } catch (error) {
      if (error instanceof SecretNotFoundError) return [];
      throw error;
    }
    const seen = new Set<string>();
    const distinct: Secret[] = [];
    for (const { value } of stored) {
      if (seen.has(value.reveal())) continue;
      seen.add(value.reveal());
      distinct.push(value);
    }
    return distinct;
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
