import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The parts of `host.json` the dev host honours (docs/azure.md §4): the HTTP route prefix and the
 * storage-queue trigger settings. Values are validated once; a bad one throws `HostJsonError`
 * naming the setting.
 */

export type MessageEncoding = 'base64' | 'none';

export interface QueueSettings {
  /** Upper bound of the random exponential back-off between empty polls. */
  readonly maxPollingIntervalMs: number;
  /** How long a failed message stays invisible before its next attempt. */
  readonly visibilityTimeoutMs: number;
  /** Messages fetched per receive (1-32). */
  readonly batchSize: number;
  /** A new batch is fetched when this many or fewer messages are still being processed. */
  readonly newBatchThreshold: number;
  /** Attempts before a message moves to `<queue>-poison`. */
  readonly maxDequeueCount: number;
  readonly messageEncoding: MessageEncoding;
}

export interface HostSettings {
  /** Route prefix without slashes; `''` serves functions at the root. */
  readonly routePrefix: string;
  readonly queues: QueueSettings;
}

/** Thrown for an unreadable or invalid host.json; `message` names the setting. */
export class HostJsonError extends Error {
  override readonly name = 'HostJsonError';
}

/** The project's host.json, independent of the working directory. */
export const DEFAULT_HOST_JSON_PATH = fileURLToPath(new URL('../../host.json', import.meta.url));

/** Defaults of the queue extension when running locally (docs/azure.md §4: 2 s polling locally). */
export const DEFAULT_QUEUE_SETTINGS: QueueSettings = Object.freeze({
  maxPollingIntervalMs: 2000,
  visibilityTimeoutMs: 0,
  batchSize: 16,
  newBatchThreshold: 8,
  maxDequeueCount: 5,
  messageEncoding: 'base64',
});

const MIN_POLLING_INTERVAL_MS = 100;
const MAX_BATCH_SIZE = 32;
const TIME_SPAN = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/;

/** Parses a .NET TimeSpan (`[d.]hh:mm:ss[.fffffff]`) into milliseconds. */
export function parseTimeSpan(value: string, setting: string): number {
  const match = TIME_SPAN.exec(value.trim());
  if (match === null) throw new HostJsonError(`host.json: ${setting} must be a TimeSpan such as 00:00:02`);
  const [, days, hours, minutes, seconds, fraction] = match;
  if (Number(minutes) > 59 || Number(seconds) > 59 || Number(hours) > 23) {
    throw new HostJsonError(`host.json: ${setting} must be a TimeSpan such as 00:00:02`);
  }
  const fractionMs = fraction === undefined ? 0 : Math.round(Number(`0.${fraction}`) * 1000);
  return (((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000 + fractionMs;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function section(parent: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  const value = parent[key];
  if (value === undefined) return {};
  if (!isRecord(value)) throw new HostJsonError(`host.json: ${path} must be an object`);
  return value;
}

/** A duration given as a TimeSpan string, or (as the host also accepts) a number of milliseconds. */
function duration(value: unknown, setting: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') return parseTimeSpan(value, setting);
  throw new HostJsonError(`host.json: ${setting} must be a TimeSpan such as 00:00:02`);
}

function integer(value: unknown, setting: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new HostJsonError(`host.json: ${setting} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function parseQueues(queues: Record<string, unknown>): QueueSettings {
  const d = DEFAULT_QUEUE_SETTINGS;
  const path = 'extensions.queues';
  const maxPollingIntervalMs = duration(queues['maxPollingInterval'], `${path}.maxPollingInterval`, d.maxPollingIntervalMs);
  if (maxPollingIntervalMs < MIN_POLLING_INTERVAL_MS) {
    throw new HostJsonError(`host.json: ${path}.maxPollingInterval must be at least 00:00:00.100`);
  }
  const batchSize = integer(queues['batchSize'], `${path}.batchSize`, 1, MAX_BATCH_SIZE, d.batchSize);
  const encoding = queues['messageEncoding'] ?? d.messageEncoding;
  if (encoding !== 'base64' && encoding !== 'none') {
    throw new HostJsonError(`host.json: ${path}.messageEncoding must be base64 or none`);
  }
  return Object.freeze({
    maxPollingIntervalMs,
    visibilityTimeoutMs: duration(queues['visibilityTimeout'], `${path}.visibilityTimeout`, d.visibilityTimeoutMs),
    batchSize,
    newBatchThreshold: integer(queues['newBatchThreshold'], `${path}.newBatchThreshold`, 0, 1000, Math.floor(batchSize / 2)),
    maxDequeueCount: integer(queues['maxDequeueCount'], `${path}.maxDequeueCount`, 1, 1000, d.maxDequeueCount),
    messageEncoding: encoding,
  });
}

/** Validates a parsed host.json document. */
export function parseHostJson(document: unknown): HostSettings {
  if (!isRecord(document)) throw new HostJsonError('host.json: the document must be a JSON object');
  const extensions = section(document, 'extensions', 'extensions');
  const http = section(extensions, 'http', 'extensions.http');
  const prefix = http['routePrefix'] ?? 'api';
  if (typeof prefix !== 'string' || /[{}?*]/.test(prefix)) {
    throw new HostJsonError('host.json: extensions.http.routePrefix must be a string without route parameters');
  }
  return Object.freeze({
    routePrefix: prefix.replace(/^\/+|\/+$/g, ''),
    queues: parseQueues(section(extensions, 'queues', 'extensions.queues')),
  });
}

/** Reads host.json from a path (default: the project's) or takes an already parsed document. */
export function loadHostSettings(source: string | object = DEFAULT_HOST_JSON_PATH): HostSettings {
  if (typeof source !== 'string') return parseHostJson(source);
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (error) {
    throw new HostJsonError(`host.json: cannot read ${source} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new HostJsonError(`host.json: ${source} is not valid JSON`);
  }
  return parseHostJson(document);
}
