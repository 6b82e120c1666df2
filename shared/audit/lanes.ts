import { randomBytes } from 'node:crypto';
import { odata } from '@azure/data-tables';

/**
 * Audit lanes (docs/audit.md): each writer — one audit sink in one broker instance, from its start —
 * appends a caller's records to its own hash chain per hour, a *lane*. A lane has exactly one writer,
 * so appends never race another instance for a chain head. Names and keys:
 *
 * - writer id: `<instance tag>-<start, base 36>-<48 random bits, hex>`, fresh for every sink;
 * - lane id:   `<hour, YYYYMMDDTHH UTC>-<writer id>`, so a caller's lanes sort by hour;
 * - records:   PartitionKey `<caller id>~<lane id>`, RowKey the zero-padded `seq`;
 * - registry:  one row per lane in the records table, PartitionKey `<caller id>`, RowKey `lane~<lane id>`.
 *
 * `~` never occurs in a caller id (`partitionOf` replaces it) nor in a lane id, so a caller's lanes are
 * exactly the PartitionKeys strictly between `<caller>~` and `<caller>~~`.
 */

export const LANE_SEPARATOR = '~';
/** A lane covers one hour of its writer's records for one caller. */
export const LANE_WINDOW_MS = 3_600_000;
/** RowKey prefix of lane registry rows; sorts after every record RowKey (digits). */
export const REGISTRY_ROW_PREFIX = 'lane~';
const REGISTRY_ROW_END = 'lane~~';

const WINDOW_KEY = /^(\d{4})(\d{2})(\d{2})T(\d{2})$/;
const WRITER_ID = /^[a-z0-9]+(?:-[a-z0-9]+){0,3}$/;
const LANE_ID = /^(\d{8}T\d{2})-([a-z0-9]+(?:-[a-z0-9]+){0,3})$/;

/** Start (ms) of the hour window that contains `ms`. */
export function windowStartOf(ms: number): number {
  return Math.floor(ms / LANE_WINDOW_MS) * LANE_WINDOW_MS;
}

/** `YYYYMMDDTHH` (UTC) of the window that contains `ms`. */
export function windowKeyOf(ms: number): string {
  const iso = new Date(windowStartOf(ms)).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}`;
}

/** Start (ms) of the window named by `key`; undefined for a malformed key. */
export function windowStartOfKey(key: string): number | undefined {
  const m = WINDOW_KEY.exec(key);
  if (m === null) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
  return windowKeyOf(ms) === key ? ms : undefined;
}

/** A fresh writer id for a sink of `instanceId` started at `startedAt`; 48 random bits keep it unique. */
export function newWriterId(instanceId: string, startedAt: number, random: (size: number) => Buffer = randomBytes): string {
  const tag = instanceId.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8) || 'x';
  return `${tag}-${Math.max(0, Math.floor(startedAt)).toString(36)}-${random(6).toString('hex')}`;
}

export function isWriterId(value: string): boolean {
  return value.length <= 64 && WRITER_ID.test(value);
}

/** The lane of `writer` for the window that contains `ms`. */
export function laneIdOf(ms: number, writer: string): string {
  return `${windowKeyOf(ms)}-${writer}`;
}

/** The parts of a lane id; undefined when it is not one. */
export function parseLaneId(lane: string): { readonly windowKey: string; readonly windowStart: number; readonly writer: string } | undefined {
  const m = LANE_ID.exec(lane);
  if (m === null || lane.length > 96) return undefined;
  const windowStart = windowStartOfKey(m[1]!);
  return windowStart === undefined ? undefined : { windowKey: m[1]!, windowStart, writer: m[2]! };
}

/** The records PartitionKey of a caller's lane. */
export function lanePartition(caller: string, lane: string): string {
  return `${caller}${LANE_SEPARATOR}${lane}`;
}

/** Caller and lane of a records PartitionKey; `lane` undefined for a pre-lane (single chain) partition. */
export function parseLanePartition(partitionKey: string): { readonly caller: string; readonly lane: string | undefined } {
  const at = partitionKey.indexOf(LANE_SEPARATOR);
  if (at < 0) return { caller: partitionKey, lane: undefined };
  return { caller: partitionKey.slice(0, at), lane: partitionKey.slice(at + 1) };
}

/** The filter matching every lane partition of `caller` (all hours, all writers). */
export function callerLanesFilter(caller: string): string {
  return odata`PartitionKey gt ${caller + LANE_SEPARATOR} and PartitionKey lt ${caller + LANE_SEPARATOR + LANE_SEPARATOR}`;
}

/**
 * PartitionKey of the lane index (in the head-hint table): one row per lane of `table` whose hour is
 * `windowKey`, RowKey the lane's records PartitionKey. Written when the lane is registered, so the head
 * signer finds the lanes of recent hours without scanning the records (requirement 61). No caller id
 * starts with `~`, so index rows never meet head hints.
 */
export function laneIndexPartition(table: string, windowKey: string): string {
  return `${LANE_SEPARATOR}index${LANE_SEPARATOR}${table}${LANE_SEPARATOR}${windowKey}`;
}

/** RowKey of a lane's registry row. */
export function registryRowKey(lane: string): string {
  return `${REGISTRY_ROW_PREFIX}${lane}`;
}

/** The filter matching registry rows (of `caller`, if given), from the window `fromWindowKey` on. */
export function registryFilter(caller?: string, fromWindowKey?: string): string {
  const rows = fromWindowKey === undefined
    ? odata`RowKey gt ${REGISTRY_ROW_PREFIX} and RowKey lt ${REGISTRY_ROW_END}`
    : odata`RowKey ge ${REGISTRY_ROW_PREFIX + fromWindowKey} and RowKey lt ${REGISTRY_ROW_END}`;
  return caller === undefined ? rows : `${odata`PartitionKey eq ${caller}`} and ${rows}`;
}

/**
 * A lane registry row (docs/audit.md "Lane registry"): written once, after the lane's first records
 * are durable and before they are acknowledged. It names the lane's writer and hour, the hash of its
 * first record, and — the writer's previous lane for this caller being closed by then — that lane's
 * final record (`prev_lane`, `prev_seq`, `prev_hash`; `''`, 0 and the genesis hash for a writer's first
 * lane). The first record's `prev_hash` is this row's `prev_hash`, so a writer's lanes form one chain.
 * Never updated: a later signed head names the row by (caller, lane, `first_hash`).
 */
export interface LaneRegistration {
  readonly caller_id: string;
  readonly lane: string;
  readonly writer: string;
  readonly instance_id: string;
  readonly broker_version: string;
  /** UTC ISO-8601: the hour the lane covers, `[window_start, window_end)`. */
  readonly window_start: string;
  readonly window_end: string;
  /** When the writer (the sink) started, UTC ISO-8601. */
  readonly writer_started: string;
  readonly prev_lane: string;
  readonly prev_seq: number;
  readonly prev_hash: string;
  /** SHA-256 of the lane's record 1. */
  readonly first_hash: string;
  readonly first_time: string;
}

export const LANE_REGISTRATION_FIELDS = [
  'caller_id', 'lane', 'writer', 'instance_id', 'broker_version', 'window_start', 'window_end', 'writer_started',
  'prev_lane', 'prev_seq', 'prev_hash', 'first_hash', 'first_time',
] as const satisfies readonly (keyof LaneRegistration)[];
