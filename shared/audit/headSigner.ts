import { createSecretKey, type KeyObject } from 'node:crypto';
import { odata, type TableClient } from '@azure/data-tables';
import type { Logger } from '../log/logger.js';
import { SECRET_NAMES } from '../secrets/names.js';
import type { SecretStore, StoredSecret } from '../secrets/store.js';
import { MAX_RECORD_ROW_KEY, recordHash, rowKeyOf } from './canonical.js';
import { buildDigests, type SignedHead } from './headDigest.js';
import { dayOf, DigestConflictError, type DigestStore } from './headStore.js';
import { LANE_WINDOW_MS, laneIndexPartition, lanePartition, windowKeyOf } from './lanes.js';

/**
 * The head signer (requirement 61; docs/audit.md "Signed heads"), run by the `auditHeads` timer: finds
 * the lanes of the last hours in the lane index, reads each lane's current head (from its head hint
 * forward, so at most a few records per lane), signs the heads that moved since this signer last signed
 * them with `audit-heads-key`, and appends the digest to the write-once blob store.
 */

export const AUDIT_HEADS_KEY_NAME = SECRET_NAMES.auditHeadsKey;
/** A shorter key is refused, as for the fingerprint key. */
const MIN_KEY_BYTES = 16;
/** Lanes read at once. */
const CONCURRENCY = 8;
const APPEND_ATTEMPTS = 3;

function keyOf(stored: StoredSecret): KeyObject {
  const bytes = Buffer.from(stored.value.reveal(), 'utf8');
  try {
    if (bytes.length < MIN_KEY_BYTES) throw new Error(`${AUDIT_HEADS_KEY_NAME} is shorter than ${MIN_KEY_BYTES} bytes`);
    return createSecretKey(bytes);
  } finally {
    bytes.fill(0);
  }
}

/** The current head key and its version. */
export async function currentHeadKey(secrets: SecretStore, signal?: AbortSignal): Promise<{ key: KeyObject; version: string }> {
  const stored = await secrets.get(AUDIT_HEADS_KEY_NAME, { fresh: true, ...(signal ? { signal } : {}) });
  return { key: keyOf(stored), version: stored.version };
}

/** Every enabled version of the head key, by version (for the verifier). */
export async function headKeysByVersion(secrets: SecretStore, signal?: AbortSignal): Promise<Map<string, KeyObject>> {
  const call = signal ? { signal } : {};
  const versions = secrets.getEnabledVersions ? await secrets.getEnabledVersions(AUDIT_HEADS_KEY_NAME, call) : [await secrets.get(AUDIT_HEADS_KEY_NAME, { ...call, fresh: true })];
  const out = new Map<string, KeyObject>();
  for (const stored of versions) {
    try {
      out.set(stored.version, keyOf(stored));
    } catch {
      // A malformed version signs nothing; its digests are reported as signed by an unknown key.
    }
  }
  return out;
}

export interface HeadSignerOptions {
  readonly records: TableClient;
  /** The head-hint table, which also holds the lane index. */
  readonly heads: TableClient;
  readonly store: DigestStore;
  readonly secrets: SecretStore;
  readonly logger: Logger;
  readonly clock?: () => number;
  /** Hours back (besides the current one) whose lanes are signed; default 2. */
  readonly lookbackHours?: number;
}

export interface SignRun {
  /** Lanes found in the index. */
  readonly lanes: number;
  /** Heads signed in this run. */
  readonly signed: number;
  /** Digest lines appended. */
  readonly digests: number;
}

export interface HeadSigner {
  run(signal?: AbortSignal): Promise<SignRun>;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

export function createHeadSigner(options: HeadSignerOptions): HeadSigner {
  const table = options.records.tableName;
  const clock = options.clock ?? Date.now;
  const lookback = Math.max(0, options.lookbackHours ?? 2);
  /** What this signer signed last per lane (a cold signer signs every lane of the window again: harmless). */
  const lastSigned = new Map<string, number>();

  async function lanesOf(windowKey: string, signal?: AbortSignal): Promise<Array<{ partition: string; caller: string; lane: string; firstHash: string }>> {
    const out: Array<{ partition: string; caller: string; lane: string; firstHash: string }> = [];
    const filter = odata`PartitionKey eq ${laneIndexPartition(table, windowKey)}`;
    try {
      for await (const row of options.heads.listEntities<Record<string, unknown>>({ queryOptions: { filter }, ...(signal ? { abortSignal: signal } : {}) })) {
        const caller = row['caller_id'];
        const lane = row['lane'];
        const firstHash = row['first_hash'];
        if (typeof caller === 'string' && typeof lane === 'string' && typeof firstHash === 'string') out.push({ partition: String(row.rowKey), caller, lane, firstHash });
      }
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    return out;
  }

  async function hintOf(partition: string, signal?: AbortSignal): Promise<number> {
    try {
      const hint = await options.heads.getEntity<{ seq?: unknown }>(partition, table, signal ? { abortSignal: signal } : {});
      return typeof hint.seq === 'number' && Number.isSafeInteger(hint.seq) && hint.seq > 0 ? hint.seq : 0;
    } catch (error) {
      if (statusOf(error) === 404) return 0;
      throw error;
    }
  }

  async function lastFrom(partition: string, fromSeq: number, signal?: AbortSignal): Promise<{ seq: number; hash: string } | undefined> {
    const filter = odata`PartitionKey eq ${partition} and RowKey ge ${rowKeyOf(fromSeq)} and RowKey le ${MAX_RECORD_ROW_KEY}`;
    let last: Record<string, unknown> | undefined;
    for await (const entity of options.records.listEntities<Record<string, unknown>>({ queryOptions: { filter }, ...(signal ? { abortSignal: signal } : {}) })) last = entity;
    if (last === undefined || typeof last['seq'] !== 'number') return undefined;
    return { seq: last['seq'], hash: recordHash(last) };
  }

  async function headOf(partition: string, signal?: AbortSignal): Promise<{ seq: number; hash: string } | undefined> {
    const lower = Math.max(await hintOf(partition, signal), lastSigned.get(partition) ?? 0);
    return (await lastFrom(partition, lower, signal)) ?? (lower > 0 ? await lastFrom(partition, 0, signal) : undefined);
  }

  return {
    async run(signal) {
      const now = clock();
      const windows = [...new Set(Array.from({ length: lookback + 1 }, (_, h) => windowKeyOf(now - h * LANE_WINDOW_MS)))];
      const lanes = (await Promise.all(windows.map((w) => lanesOf(w, signal)))).flat();
      const heads: SignedHead[] = [];
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < lanes.length) {
          const lane = lanes[next++]!;
          const head = await headOf(lane.partition, signal);
          if (head === undefined || head.seq === lastSigned.get(lane.partition)) continue;
          heads.push({ caller: lane.caller, lane: lane.lane, first_hash: lane.firstHash, seq: head.seq, hash: head.hash });
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, lanes.length) }, worker));
      if (heads.length === 0) return { lanes: lanes.length, signed: 0, digests: 0 };
      heads.sort((a, b) => (a.caller < b.caller ? -1 : a.caller > b.caller ? 1 : a.lane < b.lane ? -1 : a.lane > b.lane ? 1 : 0));

      const { key, version } = await currentHeadKey(options.secrets, signal);
      const time = new Date(now).toISOString();
      for (let attempt = 1; ; attempt++) {
        const tail = await options.store.tail(table, signal);
        const { lines } = buildDigests({ table, time, prev: tail.prev, keyVersion: version, heads }, key);
        try {
          await options.store.append(table, dayOf(now), lines, tail, signal);
        } catch (error) {
          if (error instanceof DigestConflictError && attempt < APPEND_ATTEMPTS) {
            options.logger.warn('audit.heads_conflict', { attempt });
            continue;
          }
          throw error;
        }
        for (const head of heads) lastSigned.set(lanePartition(head.caller, head.lane), head.seq);
        return { lanes: lanes.length, signed: heads.length, digests: lines.length };
      }
    },
  };
}
