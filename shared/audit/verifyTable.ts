import { odata, type TableClient } from '@azure/data-tables';
import { MAX_RECORD_ROW_KEY } from './canonical.js';
import { LANE_SEPARATOR, REGISTRY_ROW_PREFIX, callerLanesFilter, parseLanePartition } from './lanes.js';
import { createCallerVerifier, type CallerReport, type CallerVerifier, type CallerVerifierOptions, type ChainAnchor } from './verify.js';

/**
 * Reads the audit table in one ordered pass (the service returns entities by PartitionKey, then
 * RowKey) and verifies every caller's lanes against the lane registry (docs/audit.md
 * "Verification"). A caller's registry rows (PartitionKey = caller id) sort before its lanes
 * (`<caller id>~…`), and once the pass reaches `<caller id>~~` the caller is complete and reported,
 * so memory holds one caller at a time. Lanes are anchored on their head hints.
 */

export type { CallerReport, LaneReport } from './verify.js';

export interface VerifyAuditTableOptions {
  readonly records: TableClient;
  /** The head-hint table; without it open lanes are verified without a tail anchor. */
  readonly heads?: TableClient;
  /** Verify only this caller's lanes. */
  readonly caller?: string;
  /** Signed heads by caller, then by records PartitionKey (`verifyDigests(...).byCaller`; requirement 61). */
  readonly signed?: ReadonlyMap<string, NonNullable<CallerVerifierOptions['signed']>>;
  readonly abortSignal?: AbortSignal;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Every partition of one caller: its registry (and pre-lane chain) and its lanes. */
function callerFilter(caller: string): string {
  return `(${odata`PartitionKey eq ${caller}`} or (${callerLanesFilter(caller)}))`;
}

/** Head hints by caller, then by records PartitionKey. */
async function readHints(options: VerifyAuditTableOptions): Promise<Map<string, Map<string, ChainAnchor>>> {
  const hints = new Map<string, Map<string, ChainAnchor>>();
  if (options.heads === undefined) return hints;
  const tableName = options.records.tableName;
  const rowFilter = odata`RowKey eq ${tableName}`;
  const filter = options.caller === undefined ? rowFilter : `${callerFilter(options.caller)} and ${rowFilter}`;
  try {
    for await (const hint of options.heads.listEntities<{ seq?: unknown; hash?: unknown }>({ queryOptions: { filter }, abortSignal: options.abortSignal })) {
      if (typeof hint.seq === 'number' && typeof hint.hash === 'string' && typeof hint.partitionKey === 'string') {
        const { caller } = parseLanePartition(hint.partitionKey);
        let byPartition = hints.get(caller);
        if (byPartition === undefined) hints.set(caller, (byPartition = new Map<string, ChainAnchor>()));
        byPartition.set(hint.partitionKey, { seq: hint.seq, hash: hint.hash });
      }
    }
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
  return hints;
}

/** Verifies every caller (or one); throws the storage error if the table cannot be read. */
export async function verifyAuditTable(options: VerifyAuditTableOptions): Promise<CallerReport[]> {
  const hints = await readHints(options);
  const signed = new Map(options.signed ?? []);
  if (options.caller !== undefined) for (const caller of [...signed.keys()]) if (caller !== options.caller) signed.delete(caller);
  const reports: CallerReport[] = [];
  const open = new Map<string, CallerVerifier>();
  const verifierOf = (caller: string): CallerVerifier => {
    let verifier = open.get(caller);
    if (verifier === undefined) {
      const signedHeads = signed.get(caller);
      verifier = createCallerVerifier(caller, { hints: hints.get(caller), ...(signedHeads === undefined ? {} : { signed: signedHeads }) });
      hints.delete(caller);
      signed.delete(caller);
      open.set(caller, verifier);
    }
    return verifier;
  };
  const close = (caller: string): void => {
    const verifier = open.get(caller);
    open.delete(caller);
    if (verifier !== undefined) reports.push(verifier.finish());
  };

  const filter = options.caller === undefined ? undefined : callerFilter(options.caller);
  try {
    let lastPartition: string | undefined;
    for await (const entity of options.records.listEntities<Record<string, unknown>>({ queryOptions: filter === undefined ? {} : { filter }, abortSignal: options.abortSignal })) {
      const partition = String(entity.partitionKey);
      const rowKey = String(entity.rowKey);
      if (partition !== lastPartition) {
        // Callers whose partitions all sort before this one are complete.
        for (const caller of [...open.keys()]) if (`${caller}${LANE_SEPARATOR}${LANE_SEPARATOR}` <= partition) close(caller);
        lastPartition = partition;
      }
      if (rowKey.startsWith(REGISTRY_ROW_PREFIX)) verifierOf(partition).register(entity);
      else if (rowKey <= MAX_RECORD_ROW_KEY) verifierOf(parseLanePartition(partition).caller).push(entity);
    }
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
  for (const caller of [...open.keys()]) close(caller);
  // Hints of callers with no entity left at all: every lane and registry row was deleted.
  for (const caller of [...hints.keys(), ...signed.keys()]) {
    if (open.has(caller) || reports.some((r) => r.caller === caller)) continue;
    verifierOf(caller);
    close(caller);
  }
  return reports.sort((a, b) => (a.caller < b.caller ? -1 : a.caller > b.caller ? 1 : 0));
}
