import { createHash } from 'node:crypto';
import { RestError, type TableClient } from '@azure/data-tables';
import { BrokerError } from '../../errors/errors.js';
import { tableOnFirstUse } from '../../storage/storage.js';

/**
 * One-time use of onboarding tickets and `state` values across instances (docs/security.md requirements
 * 25, 27): an insert-if-absent in Table Storage, where a second insert of the same key answers 409.
 * Keys are stored as SHA-256 digests, so the table never holds a value that was in a browser.
 */

export type RedemptionKind = 'ticket' | 'state';

export interface RedemptionStore {
  /** True the first time `(kind, id)` is redeemed, false on every later call; throws `upstream_unavailable` if the store fails. */
  redeemOnce(kind: RedemptionKind, id: string, expiresAtSec: number, options?: { signal?: AbortSignal }): Promise<boolean>;
}

/** The table of redeemed ids. */
export const CONSENT_REDEMPTIONS_TABLE = 'consentredemptions';

function rowKeyOf(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex');
}

function storageError(error: unknown): BrokerError {
  return new BrokerError('upstream_unavailable', 'The consent redemption store is unavailable', { cause: error, retryAfterSec: 5 });
}

/** `RedemptionStore` on a Table Storage table (created on first use). */
export class TableRedemptionStore implements RedemptionStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ensureTable = tableOnFirstUse(table, storageError);
  }

  async redeemOnce(kind: RedemptionKind, id: string, expiresAtSec: number, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    await this.ensureTable();
    try {
      await this.table.createEntity(
        { partitionKey: kind, rowKey: rowKeyOf(id), expiresAt: new Date(expiresAtSec * 1000).toISOString() },
        options.signal ? { abortSignal: options.signal } : {},
      );
      return true;
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 409) return false;
      throw storageError(error);
    }
  }
}

/** An in-memory `RedemptionStore` for unit tests (one process only). */
export class MemoryRedemptionStore implements RedemptionStore {
  readonly redeemed = new Map<string, number>();

  async redeemOnce(kind: RedemptionKind, id: string, expiresAtSec: number): Promise<boolean> {
    const key = `${kind}|${rowKeyOf(id)}`;
    if (this.redeemed.has(key)) return false;
    this.redeemed.set(key, expiresAtSec);
    return true;
  }
}
