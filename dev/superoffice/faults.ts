/**
 * Scriptable faults per endpoint (docs/security.md §6): an HTTP status with optional Retry-After, a hang (never
 * answer), a delay (answer normally after N ms), a malformed (non-JSON) body, an oversized body and a socket
 * reset mid-body. Each fault fires `times` times (default: until cleared).
 */
import type { ServerResponse } from 'node:http';
import type { EndpointName } from './counters.js';
import { isRecord } from './http.js';
import type { TimerSet } from './timers.js';

export interface StatusFault {
  readonly kind?: 'status';
  readonly status: 429 | 500 | 502 | 503 | 504;
  /** Seconds (number) or an HTTP-date (string) for the Retry-After header. */
  readonly retryAfter?: number | string;
  readonly times?: number;
}
export interface HangFault {
  readonly kind: 'hang';
  readonly times?: number;
}
export interface DelayFault {
  readonly kind: 'delay';
  readonly ms: number;
  readonly times?: number;
}
export interface MalformedFault {
  readonly kind: 'malformed';
  readonly status?: number;
  readonly times?: number;
}
export interface OversizedFault {
  readonly kind: 'oversized';
  /** Body size in bytes (default 100 000, i.e. above the 64 KB a client should accept). */
  readonly bytes?: number;
  readonly times?: number;
}
export interface ResetFault {
  readonly kind: 'reset';
  readonly times?: number;
}

export type FaultSpec = StatusFault | HangFault | DelayFault | MalformedFault | OversizedFault | ResetFault;

const STATUS_CODES = new Set([429, 500, 502, 503, 504]);
export const DEFAULT_OVERSIZED_BYTES = 100_000;

/** Validates a fault from untrusted input (the HTTP control surface). Returns an error text or the fault. */
export function parseFaultSpec(value: unknown): FaultSpec | string {
  if (!isRecord(value)) return 'fault must be an object';
  const times = value['times'];
  if (times !== undefined && !(typeof times === 'number' && Number.isInteger(times) && times > 0)) {
    return 'times must be a positive integer';
  }
  const timesValue = typeof times === 'number' ? times : undefined;
  const kind = value['kind'] ?? 'status';
  switch (kind) {
    case 'status': {
      const status = value['status'];
      if (typeof status !== 'number' || !STATUS_CODES.has(status)) return 'status must be 429, 500, 502, 503 or 504';
      const retryAfter = value['retryAfter'];
      if (retryAfter !== undefined && typeof retryAfter !== 'number' && typeof retryAfter !== 'string') {
        return 'retryAfter must be seconds or an HTTP-date';
      }
      return { kind: 'status', status: status as StatusFault['status'], retryAfter, times: timesValue };
    }
    case 'hang':
    case 'reset':
      return { kind: kind as 'hang' | 'reset', times: timesValue };
    case 'delay': {
      const ms = value['ms'];
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > 600_000) return 'ms must be 0..600000';
      return { kind: 'delay', ms, times: timesValue };
    }
    case 'malformed': {
      const status = value['status'];
      if (status !== undefined && !(typeof status === 'number' && status >= 200 && status <= 599)) {
        return 'status must be an HTTP status';
      }
      return { kind: 'malformed', status, times: timesValue };
    }
    case 'oversized': {
      const bytes = value['bytes'];
      if (bytes !== undefined && !(typeof bytes === 'number' && bytes > 0 && bytes <= 20_000_000)) {
        return 'bytes must be 1..20000000';
      }
      return { kind: 'oversized', bytes, times: timesValue };
    }
    default:
      return 'kind must be status, hang, delay, malformed, oversized or reset';
  }
}

export { isEndpointName } from './counters.js';

interface ActiveFault {
  readonly spec: FaultSpec;
  remaining: number;
}

export class FaultRegistry {
  private readonly faults = new Map<EndpointName, ActiveFault>();

  set(endpoint: EndpointName, spec: FaultSpec): void {
    this.faults.set(endpoint, { spec, remaining: spec.times ?? Number.POSITIVE_INFINITY });
  }

  clear(endpoint?: EndpointName): void {
    if (endpoint === undefined) this.faults.clear();
    else this.faults.delete(endpoint);
  }

  /** The fault to apply to this call, if any (counts down `times`). */
  take(endpoint: EndpointName): FaultSpec | undefined {
    const active = this.faults.get(endpoint);
    if (!active) return undefined;
    active.remaining -= 1;
    if (active.remaining <= 0) this.faults.delete(endpoint);
    return active.spec;
  }

  list(): Partial<Record<EndpointName, FaultSpec>> {
    const out: Partial<Record<EndpointName, FaultSpec>> = {};
    for (const [name, active] of this.faults) out[name] = active.spec;
    return out;
  }
}

/**
 * Applies a fault. Returns 'continue' when the request should then be handled normally (delay), otherwise
 * 'handled' (a response was sent, the socket was reset, or the request hangs until the server closes).
 */
export async function applyFault(
  spec: FaultSpec,
  res: ServerResponse,
  timers: TimerSet,
): Promise<'handled' | 'continue'> {
  switch (spec.kind ?? 'status') {
    case 'status': {
      const s = spec as StatusFault;
      const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8' };
      if (s.retryAfter !== undefined) headers['Retry-After'] = String(s.retryAfter);
      const body = JSON.stringify({
        error: s.status === 429 ? 'too_many_requests' : 'temporarily_unavailable',
        error_description: `Simulated fault: HTTP ${s.status}`,
      });
      res.writeHead(s.status, { ...headers, 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
      return 'handled';
    }
    case 'hang':
      // Never answer; close() destroys the connection.
      return 'handled';
    case 'delay': {
      const proceed = await timers.sleep((spec as DelayFault).ms);
      return proceed ? 'continue' : 'handled';
    }
    case 'malformed': {
      const body = '<html><body>Service Unavailable - this is not JSON</body></html>';
      res.writeHead((spec as MalformedFault).status ?? 200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(body)),
      });
      res.end(body);
      return 'handled';
    }
    case 'oversized': {
      const size = (spec as OversizedFault).bytes ?? DEFAULT_OVERSIZED_BYTES;
      const padding = 'x'.repeat(Math.max(0, size - 16));
      const body = `{"padding":"${padding}"}`;
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
      return 'handled';
    }
    case 'reset': {
      // Promise a body, send part of it, then reset the TCP connection.
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': '4096' });
      res.write('{"token_type":"Bearer","access_token":"8A:');
      const socket = res.socket;
      if (socket) {
        await new Promise<void>((resolve) => {
          socket.write('', () => resolve());
        });
        socket.resetAndDestroy();
      }
      return 'handled';
    }
    default:
      return 'continue';
  }
}
