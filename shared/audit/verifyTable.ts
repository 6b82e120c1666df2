import { odata, type TableClient } from '@azure/data-tables';
import { MAX_RECORD_ROW_KEY } from './canonical.js';
import { createChainVerifier, type ChainAnchor, type ChainProblem, type ChainVerifier } from './verify.js';

/**
 * Reads the audit table partition by partition (the service returns entities ordered by
 * PartitionKey, then RowKey) and verifies each caller's chain, anchored on its head hint.
 */

export interface PartitionReport {
  readonly caller: string;
  readonly records: number;
  readonly lastSeq: number;
  /** The head hint used as anchor, if any. */
  readonly anchor: ChainAnchor | undefined;
  readonly problems: readonly ChainProblem[];
}

export interface VerifyAuditTableOptions {
  readonly records: TableClient;
  /** The head-hint table; without it chains are verified unanchored. */
  readonly heads?: TableClient;
  /** Verify only this caller's partition. */
  readonly caller?: string;
  readonly abortSignal?: AbortSignal;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

async function readAnchors(options: VerifyAuditTableOptions): Promise<Map<string, ChainAnchor>> {
  const anchors = new Map<string, ChainAnchor>();
  if (options.heads === undefined) return anchors;
  const tableName = options.records.tableName;
  const filter = options.caller === undefined
    ? odata`RowKey eq ${tableName}`
    : odata`PartitionKey eq ${options.caller} and RowKey eq ${tableName}`;
  try {
    for await (const hint of options.heads.listEntities<{ seq?: unknown; hash?: unknown }>({ queryOptions: { filter }, abortSignal: options.abortSignal })) {
      if (typeof hint.seq === 'number' && typeof hint.hash === 'string' && typeof hint.partitionKey === 'string') {
        anchors.set(hint.partitionKey, { seq: hint.seq, hash: hint.hash });
      }
    }
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
  return anchors;
}

/** Verifies every partition (or one caller's); throws the storage error if the table cannot be read. */
export async function verifyAuditTable(options: VerifyAuditTableOptions): Promise<PartitionReport[]> {
  const anchors = await readAnchors(options);
  const reports: PartitionReport[] = [];
  const filter = options.caller === undefined
    ? odata`RowKey le ${MAX_RECORD_ROW_KEY}`
    : odata`PartitionKey eq ${options.caller} and RowKey le ${MAX_RECORD_ROW_KEY}`;

  let current: { caller: string; verifier: ChainVerifier } | undefined;
  const close = (): void => {
    if (current === undefined) return;
    const anchor = anchors.get(current.caller);
    anchors.delete(current.caller);
    reports.push({ caller: current.caller, records: current.verifier.count, lastSeq: current.verifier.lastSeq, anchor, problems: current.verifier.finish() });
  };
  try {
    for await (const entity of options.records.listEntities<Record<string, unknown>>({ queryOptions: { filter }, abortSignal: options.abortSignal })) {
      const caller = String(entity.partitionKey);
      if (current?.caller !== caller) {
        close();
        current = { caller, verifier: createChainVerifier({ partition: caller, head: anchors.get(caller) }) };
      }
      current.verifier.push(entity);
    }
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
  close();
  // A head hint whose partition has no record left: the whole chain was deleted.
  for (const [caller, anchor] of anchors) {
    reports.push({ caller, records: 0, lastSeq: 0, anchor, problems: createChainVerifier({ partition: caller, head: anchor }).finish() });
  }
  return reports;
}
