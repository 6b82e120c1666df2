/**
 * The scale model (docs/scale.md §4): from per-request and per-refresh counts measured by the token
 * bench, what one connected user costs per hour at 1, 10 and 100 instances, and at how many connected
 * users each published limit is reached. Pure arithmetic; the assumptions are parameters.
 */
import { textTable } from './types.js';

/** Published limits (docs/scale.md §4 cites them). */
export const LIMITS = Object.freeze({
  /** Key Vault, per vault per region: secret GET and all other non-create transactions per 10 s. */
  keyVaultReadsPer10s: 4_000,
  /** Key Vault: secret CREATE (every set is a create of a new version) per 10 s. */
  keyVaultWritesPer10s: 300,
  /** Table Storage: transactions per second per storage account (1 KiB entities). */
  tableTransactionsPerSecond: 20_000,
});

/** What the bench measured on one instance (section (c)). */
export interface MeasuredCosts {
  /** Refresh-token reads per refresh (the token service reads it fresh, never from cache). */
  readonly keyVaultReadsPerRefresh: number;
  readonly keyVaultWritesPerRefresh: number;
  /** Reads of the app's own secrets (client secret, audit key) by a new instance, cached for `secretCacheTtlSec`. */
  readonly keyVaultInstanceReads: number;
  readonly superOfficeTokenCallsPerRefresh: number;
  readonly superOfficeTenantStateCalls: number;
  /** Table calls of the audit trail per request (records, head hints, batches). */
  readonly auditTableCallsPerRequest: number;
  /** Writes to the connection record per refresh (last refresh time). */
  readonly connectionWritesPerRefresh: number;
  readonly statusCacheMs: number;
  readonly statusCacheOn: boolean;
  readonly tokenLifetimeSec: number;
  readonly refreshAheadSec: number;
  readonly secretCacheTtlSec: number;
}

export interface ScaleAssumptions {
  /** Token requests per connected user per hour, spread evenly over the instances (the worst case for per-instance caches). */
  readonly requestsPerUserPerHour: number;
  readonly instances: readonly number[];
}

export interface ScaleRow {
  readonly instances: number;
  readonly refreshesPerUserPerHour: number;
  readonly keyVaultReadsPerUserPerHour: number;
  readonly keyVaultWritesPerUserPerHour: number;
  readonly tableCallsPerUserPerHour: number;
  readonly superOfficeTokenCallsPerUserPerHour: number;
  /** Connected users at which the limit is reached in steady state (Infinity: never by token traffic). */
  readonly usersAtKeyVaultReadLimit: number;
  readonly usersAtKeyVaultWriteLimit: number;
  readonly usersAtTableLimit: number;
}

/**
 * Per user per hour at `instances`: each instance that sees a user refreshes that user's token once per
 * (lifetime − refresh-ahead), or on every request when it sees the user less often than that; so a user
 * costs `min(r, n × 3600 / (lifetime − ahead))` refreshes per hour. Each refresh costs the measured Key
 * Vault reads/writes and SuperOffice calls. Table calls per request: the measured audit calls, plus one
 * connection read unless the status cache covers the gap between two requests of this user on one
 * instance; per refresh, the measured record writes (and, with the cache on, the read after each).
 */
export function scaleRow(costs: MeasuredCosts, r: number, instances: number): ScaleRow {
  const cadenceSec = costs.tokenLifetimeSec - costs.refreshAheadSec;
  const refreshes = Math.min(r, instances * (3600 / cadenceSec));
  // Seconds between two requests of this user on one instance; the status cache covers gaps shorter than its TTL.
  const gapMs = r > 0 ? (3600_000 * instances) / r : Infinity;
  const statusCached = costs.statusCacheOn && gapMs < costs.statusCacheMs;
  const connectionReadsPerRequest = statusCached ? 0 : 1;
  // A refresh writes the record (last refresh time); with the cache on, that write drops the entry: one more read.
  const bookkeepingPerRefresh = costs.connectionWritesPerRefresh * (costs.statusCacheOn ? 2 : 1);
  const tableCalls = r * (costs.auditTableCallsPerRequest + connectionReadsPerRequest) + refreshes * bookkeepingPerRefresh;
  const kvReads = refreshes * costs.keyVaultReadsPerRefresh;
  const kvWrites = refreshes * costs.keyVaultWritesPerRefresh;
  const instanceReadsPerHour = instances * costs.keyVaultInstanceReads * (3600 / costs.secretCacheTtlSec);
  const perHour = (per10s: number) => per10s * 360;
  const users = (budget: number, perUser: number) => (perUser <= 0 ? Infinity : Math.max(0, budget) / perUser);
  return {
    instances,
    refreshesPerUserPerHour: refreshes,
    keyVaultReadsPerUserPerHour: kvReads,
    keyVaultWritesPerUserPerHour: kvWrites,
    tableCallsPerUserPerHour: tableCalls,
    superOfficeTokenCallsPerUserPerHour: refreshes * costs.superOfficeTokenCallsPerRefresh,
    usersAtKeyVaultReadLimit: users(perHour(LIMITS.keyVaultReadsPer10s) - instanceReadsPerHour, kvReads),
    usersAtKeyVaultWriteLimit: users(perHour(LIMITS.keyVaultWritesPer10s), kvWrites),
    usersAtTableLimit: users(LIMITS.tableTransactionsPerSecond * 3600, tableCalls),
  };
}

/**
 * After every instance starts cold (a deployment, a platform restart) each user's next request on each
 * instance refreshes; at most one Key Vault read per request, so the vault's 10-second read limit is
 * reached when the users' combined request rate exceeds it, whatever the number of instances.
 */
export function usersAtColdReadBurst(costs: MeasuredCosts, r: number): number {
  return (LIMITS.keyVaultReadsPer10s / 10) * 3600 / (r * Math.max(costs.keyVaultReadsPerRefresh, 1e-9));
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return 'never';
  if (n >= 10_000) return `${Math.round(n / 1000).toLocaleString('en-US')}k`;
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(2);
}

/** The model as printed by the bench: one table per assumed request rate. */
export function scaleModel(costs: MeasuredCosts, rates: readonly number[] = [60, 3600], instances: readonly number[] = [1, 10, 100]): { text: string; rows: ScaleRow[] } {
  const rows: ScaleRow[] = [];
  const blocks: string[] = [
    `measured per refresh: Key Vault reads ${fmt(costs.keyVaultReadsPerRefresh)}, writes ${fmt(costs.keyVaultWritesPerRefresh)}, SuperOffice token calls ${fmt(costs.superOfficeTokenCallsPerRefresh)}; ` +
      `per new instance: ${costs.keyVaultInstanceReads} app-secret reads (cached ${costs.secretCacheTtlSec / 60} min), ${costs.superOfficeTenantStateCalls} tenant-state call(s) per tenant; ` +
      `Table calls per request: audit ${fmt(costs.auditTableCallsPerRequest)}, connection read 1 unless the status cache covers the gap since this instance's last read; per refresh ${fmt(costs.connectionWritesPerRefresh)} connection write(s); ` +
      `token lifetime ${costs.tokenLifetimeSec} s, refreshed ${costs.refreshAheadSec} s ahead; connection status cache ${costs.statusCacheOn ? `${costs.statusCacheMs} ms` : 'off'}.`,
    `limits: Key Vault ${LIMITS.keyVaultReadsPer10s.toLocaleString('en-US')} reads and ${LIMITS.keyVaultWritesPer10s} writes per 10 s per vault; Table Storage ${LIMITS.tableTransactionsPerSecond.toLocaleString('en-US')} transactions/s per account. Requests of a user are spread evenly over the instances.`,
  ];
  for (const r of rates) {
    const table: string[][] = [['instances', 'refreshes', 'KV reads', 'KV writes', 'Table calls', 'SO token calls', 'users at KV read limit', 'users at KV write limit', 'users at Table limit']];
    for (const n of instances) {
      const row = scaleRow(costs, r, n);
      rows.push(row);
      table.push([String(n), fmt(row.refreshesPerUserPerHour), fmt(row.keyVaultReadsPerUserPerHour), fmt(row.keyVaultWritesPerUserPerHour), fmt(row.tableCallsPerUserPerHour), fmt(row.superOfficeTokenCallsPerUserPerHour),
        fmt(row.usersAtKeyVaultReadLimit), fmt(row.usersAtKeyVaultWriteLimit), fmt(row.usersAtTableLimit)]);
    }
    blocks.push(`${r} token requests per user per hour — per user per hour, and connected users at each limit:\n${textTable(table)}\n` +
      `after all instances restart at once: the Key Vault read limit is reached at ${fmt(usersAtColdReadBurst(costs, r))} users (one read per request at most, any number of instances).`);
  }
  return { text: blocks.join('\n\n'), rows };
}
