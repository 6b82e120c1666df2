import { odata, RestError, type TableClient, type TableEntity } from '@azure/data-tables';
import { CONSENT_REDEMPTIONS_TABLE } from '../connections/consent/redemptions.js';
import { EVENT_GRANTS_TABLE } from '../events/grants.js';
import { WEBHOOK_EVENTS_TABLE } from '../webhooks/dedupe.js';

/**
 * Housekeeping (issue 15 point 5): rows whose `expiresAt` lies in the past are deleted by a timer
 * (functions/housekeeping.ts). Any table whose rows carry an `expiresAt` column — an ISO-8601 UTC
 * string, as `consentredemptions` writes it, or a Table `DateTime` — is pruned by adding its name to
 * `EXPIRING_TABLES`: one line per table.
 */

/**
 * Tables pruned by the housekeeping timer: one line per table. (`actionresults`, the actions and their
 * idempotency keys, has its own `actionsPrune` timer; adding it here would only prune it twice.)
 */
export const EXPIRING_TABLES: readonly string[] = Object.freeze([
  CONSENT_REDEMPTIONS_TABLE,
  WEBHOOK_EVENTS_TABLE,
  EVENT_GRANTS_TABLE,
]);

/** Rows are deleted this long after `expiresAt`, so that a clock skew between instances never drops a live row. */
export const EXPIRY_GRACE_MS = 5 * 60_000;

export interface PruneOptions {
  readonly now: number;
  readonly graceMs?: number;
  /** Stop after deleting this many rows (the next run continues). */
  readonly maxRows?: number;
  readonly signal?: AbortSignal;
}

export interface PruneResult {
  readonly table: string;
  /** Expired rows found. */
  readonly expired: number;
  readonly deleted: number;
  /** Rows that could not be deleted (changed or already gone count as neither). */
  readonly failed: number;
  /** False when `maxRows` or the signal stopped the run before every expired row was seen. */
  readonly complete: boolean;
  /** The table does not exist (nothing to do). */
  readonly missing?: boolean;
}

/** The filter of rows expired before `cutoff`, whether `expiresAt` is stored as a string or a DateTime. */
export function expiredFilter(cutoff: Date): string {
  const iso = cutoff.toISOString();
  return `(${odata`expiresAt lt ${iso}`}) or (${odata`expiresAt lt ${cutoff}`})`;
}

function statusOf(error: unknown): number | undefined {
  return error instanceof RestError ? error.statusCode : (error as { statusCode?: number } | null)?.statusCode;
}

/** Deletes in flight at once. */
const CONCURRENCY = 8;

/**
 * Deletes the expired rows of one table, 8 at a time, each delete conditional on the ETag read, so a
 * row rewritten meanwhile (a new expiry) is kept. (Entity-group transactions would be fewer round trips,
 * but the SDK sends their deletes unconditionally.)
 */
export async function pruneExpiredRows(table: TableClient, options: PruneOptions): Promise<PruneResult> {
  const cutoff = new Date(options.now - (options.graceMs ?? EXPIRY_GRACE_MS));
  const maxRows = options.maxRows ?? 10_000;
  let expired = 0;
  let deleted = 0;
  let failed = 0;
  let complete = true;
  const inFlight = new Set<Promise<void>>();

  const remove = async (row: TableEntity): Promise<void> => {
    try {
      const etag = typeof row['etag'] === 'string' ? row['etag'] : '*';
      await table.deleteEntity(row.partitionKey, row.rowKey, { etag, ...(options.signal ? { abortSignal: options.signal } : {}) });
      deleted += 1;
    } catch (error) {
      // 404: already gone; 412: rewritten since it was read (kept).
      const status = statusOf(error);
      if (status !== 404 && status !== 412) failed += 1;
    }
  };

  try {
    const rows = table.listEntities<TableEntity>({
      queryOptions: { filter: expiredFilter(cutoff), select: ['PartitionKey', 'RowKey', 'expiresAt'] },
      ...(options.signal ? { abortSignal: options.signal } : {}),
    });
    for await (const row of rows) {
      if (expired >= maxRows || options.signal?.aborted) {
        complete = false;
        break;
      }
      expired += 1;
      const running = remove(row).finally(() => inFlight.delete(running));
      inFlight.add(running);
      if (inFlight.size >= CONCURRENCY) await Promise.race(inFlight);
    }
  } catch (error) {
    await Promise.all(inFlight);
    if (statusOf(error) === 404) return { table: table.tableName, expired: 0, deleted: 0, failed: 0, complete: true, missing: true };
    throw error;
  }
  await Promise.all(inFlight);
  return { table: table.tableName, expired, deleted, failed, complete };
}

/** Prunes every table in `tables`; one table's failure is reported and does not stop the others. */
export async function pruneExpiredTables(
  tableOf: (name: string) => TableClient,
  options: PruneOptions & { readonly tables?: readonly string[] },
): Promise<Array<PruneResult | { readonly table: string; readonly error: string }>> {
  const results: Array<PruneResult | { readonly table: string; readonly error: string }> = [];
  for (const name of options.tables ?? EXPIRING_TABLES) {
    try {
      results.push(await pruneExpiredRows(tableOf(name), options));
    } catch (error) {
      const status = statusOf(error);
      results.push({ table: name, error: `${error instanceof Error ? error.name : 'error'}${status === undefined ? '' : ` ${status}`}` });
    }
  }
  return results;
}
