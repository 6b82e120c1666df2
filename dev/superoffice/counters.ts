/**
 * Call counters per endpoint name and a bounded record of recent token-endpoint requests, so tests can assert
 * how often the broker called SuperOffice and where it put its parameters (requirement 32).
 */

/** Endpoint names used by counters and faults. */
export const ENDPOINT_NAMES = [
  'discovery',
  'jwks',
  'authorize',
  'tokens',
  'revoke',
  'systemUser',
  'state',
  'webapi',
  'crmscript',
  'webhookApi',
] as const;

export type EndpointName = (typeof ENDPOINT_NAMES)[number];

/** Counter names: the inbound endpoints plus outbound webhook traffic. */
export type CounterName = EndpointName | 'webhookDelivery' | 'webhookTest';

export function isEndpointName(value: unknown): value is EndpointName {
  return typeof value === 'string' && (ENDPOINT_NAMES as readonly string[]).includes(value);
}

/** Where the parameters of one token request came from. Values are never stored, only names. */
export interface TokenRequestRecord {
  readonly at: number;
  readonly method: string;
  /** Path plus query with every value except `grant_type` and `client_id` replaced by `REDACTED`. */
  readonly url: string;
  readonly contentType: string | undefined;
  readonly bodyParams: readonly string[];
  readonly queryParams: readonly string[];
  readonly basicAuth: boolean;
  readonly grantType: string | undefined;
}

/** How many token requests are remembered. */
export const TOKEN_REQUEST_LOG_SIZE = 50;

const SHOWN_VALUES = new Set(['grant_type', 'client_id']);

/** Redacts query values (allow-list) for the token request record. */
export function redactUrl(url: URL): string {
  const params = new URLSearchParams();
  for (const [name, value] of url.searchParams) params.append(name, SHOWN_VALUES.has(name) ? value : 'REDACTED');
  const query = params.toString();
  return query === '' ? url.pathname : `${url.pathname}?${query}`;
}

export class SimulatorCounters {
  private readonly counts = new Map<CounterName, number>();
  private readonly tokenLog: TokenRequestRecord[] = [];

  increment(name: CounterName): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  /** Calls counted for one name since start or the last `reset()`. */
  get(name: CounterName): number {
    return this.counts.get(name) ?? 0;
  }

  /** All non-zero counters. */
  snapshot(): Partial<Record<CounterName, number>> {
    return Object.fromEntries(this.counts);
  }

  recordTokenRequest(record: TokenRequestRecord): void {
    this.tokenLog.push(record);
    if (this.tokenLog.length > TOKEN_REQUEST_LOG_SIZE) this.tokenLog.shift();
  }

  /** The last `TOKEN_REQUEST_LOG_SIZE` token-endpoint requests, oldest first. */
  tokenRequests(): readonly TokenRequestRecord[] {
    return [...this.tokenLog];
  }

  reset(): void {
    this.counts.clear();
    this.tokenLog.length = 0;
  }
}
