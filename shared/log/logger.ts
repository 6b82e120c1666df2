import type { LogLevel } from '../config/config.js';

/**
 * Structured JSON logging with allow-list redaction (docs/style.md §Azure SDK guidelines; docs/security.md
 * requirements 62, 64, 66): only field names on the allow-list are written as they are; any other
 * field, at any depth, is written as `[REDACTED]`. One record is one JSON line, so CR/LF in values
 * cannot forge a second line. A failing sink never fails the caller.
 */

/** Field names whose values are safe to log. Everything else is redacted. */
export const LOGGABLE_FIELDS: ReadonlySet<string> = new Set([
  'event', 'requestId', 'invocationId', 'functionName', 'operation', 'method', 'route', 'path', 'status',
  'durationMs', 'errorCode', 'errorName', 'outcome', 'reason', 'callerTid', 'callerOid', 'callerAzp', 'env', 'ctx',
  'associateId', 'attempt', 'delayMs', 'upstream', 'upstreamStatus', 'host', 'count', 'port', 'queue', 'messageId',
  'dequeueCount', 'dependency', 'dependencies', 'reachable', 'configured', 'version', 'instanceId', 'secretName',
  'kid', 'retryAfterSec', 'breaker', 'state', 'cache', 'name', 'url', 'schedule', 'isPastDue', 'detail', 'service',
  'target', 'seq', 'partition', 'records', 'elapsedMs', 'limit',
]);

const LEVELS: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
const REDACTED = '[REDACTED]';
const MAX_DEPTH = 4;
const MAX_STRING = 2048;

export type LogFields = Readonly<Record<string, unknown>>;
export type LogSink = (line: string) => void;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  readonly level?: LogLevel;
  readonly sink?: LogSink;
  readonly clock?: () => number;
}

function sanitizeValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return value;
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { errorName: value.name, ...(typeof code === 'string' ? { errorCode: code } : {}) };
  }
  if (depth >= MAX_DEPTH) return REDACTED;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => sanitizeValue(v, depth + 1));
  if (typeof value === 'object') return sanitizeFields(value as Record<string, unknown>, depth + 1);
  return REDACTED;
}

/** Keeps allow-listed keys (case-sensitive, exact) and redacts the rest, recursively. */
export function sanitizeFields(fields: Readonly<Record<string, unknown>>, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[key] = LOGGABLE_FIELDS.has(key) ? sanitizeValue(value, depth) : REDACTED;
  }
  return out;
}

function stdoutSink(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Creates a logger writing one JSON object per line to `sink` (default: stdout). */
export function createLogger(options: LoggerOptions = {}, base: LogFields = {}): Logger {
  const threshold = LEVELS[options.level ?? 'info'];
  const sink = options.sink ?? stdoutSink;
  const clock = options.clock ?? Date.now;

  const write = (level: LogLevel, event: string, fields: LogFields | undefined): void => {
    if (LEVELS[level] < threshold) return;
    try {
      const record = {
        time: new Date(clock()).toISOString(),
        level,
        event,
        ...sanitizeFields({ ...base, ...fields }),
      };
      // JSON leaves U+2028, U+2029 and U+0085 raw; some viewers break lines on them (requirement 62).
      sink(JSON.stringify(record).replace(/[\u2028\u2029\u0085]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
    } catch {
      // Operational logging must never fail the request (requirement 64).
    }
  };

  return {
    debug: (event, fields) => write('debug', event, fields),
    info: (event, fields) => write('info', event, fields),
    warn: (event, fields) => write('warn', event, fields),
    error: (event, fields) => write('error', event, fields),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}
