import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { BROKER_VERSION } from '../config/version.js';
import { retry, RETRY_DEFAULTS } from '../resilience/retry.js';
import { parseRetryAfter } from '../resilience/retryAfter.js';
import { isTransientStatus } from '../resilience/transient.js';

/**
 * Table Storage's Insert Entity operation over `node:http`, for the one write every audited request waits
 * for (the audit record, docs/audit.md "Writing"). `@azure/data-tables` stays the client for everything
 * else; its request pipeline costs about 0.5 ms of CPU per insert, a sixth of a proxied call (docs/scale.md
 * §6). The request is the one the SDK sends (checked by a test against the SDK's own request):
 * `POST <table endpoint>/<table>`, JSON with `PartitionKey`/`RowKey` and the entity's properties without
 * type annotations (strings, booleans and numbers, as the SDK sends JavaScript primitives),
 * `Prefer: return-no-content` (201 is not read back), API version 2019-02-02.
 *
 * Authentication as the SDK: Shared Key Lite from a connection string's `AccountKey` (Azurite locally), or
 * an Entra token for `https://storage.azure.com/.default` (the app's managed identity), kept until five
 * minutes before it expires. REST reference: https://learn.microsoft.com/rest/api/storageservices/insert-entity
 * and https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key (Shared Key Lite, Table
 * service). Transient answers (408, 429, 5xx) and connection failures are retried by the one retry loop
 * (`shared/resilience/retry.ts`), at most three attempts within the caller's signal; a write whose answer
 * was lost may then come back as 409, which the audit sink resolves by event id.
 */

export const TABLE_API_VERSION = '2019-02-02';
const STORAGE_SCOPE = 'https://storage.azure.com/.default';
/** A token is renewed this long before it expires. */
const TOKEN_RENEW_BEFORE_MS = 5 * 60_000;
/** Bytes of an error answer read for its error code. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const RETRY = { maxAttempts: RETRY_DEFAULTS.maxAttempts, baseDelayMs: 25, maxDelayMs: 500 } as const;

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }),
} as const;

export type TableAuth =
  | { readonly kind: 'sharedKey'; readonly account: string; readonly key: Buffer }
  | { readonly kind: 'token'; readonly credential: TokenCredential };

/** The table answered with an unexpected status; `statusCode` as the SDK's `RestError` has it. Never carries the entity. */
export class TableRequestError extends Error {
  override readonly name = 'TableRequestError';
  constructor(readonly statusCode: number, readonly table: string, readonly code: string | undefined, readonly retryAfterSec: number | undefined) {
    super(`Table service insert into ${table}: HTTP ${statusCode}${code ? ` ${code}` : ''}`);
  }
}

/** A property value the insert sends as the SDK sends it (no type annotation). */
export type TablePropertyValue = string | number | boolean;

export interface TableEntityToInsert {
  readonly partitionKey: string;
  readonly rowKey: string;
  readonly [property: string]: TablePropertyValue;
}

/** The Shared Key Lite `Authorization` value for a Table service request (pure, for tests). */
export function sharedKeyLiteAuthorization(account: string, key: Buffer, date: string, url: URL): string {
  const comp = url.searchParams.get('comp');
  const resource = `/${account}${url.pathname}${comp ? `?comp=${comp}` : ''}`;
  return `SharedKeyLite ${account}:${createHmac('sha256', key).update(`${date}\n${resource}`, 'utf8').digest('base64')}`;
}

/** The JSON body of Insert Entity; throws `TypeError` for a value the SDK would annotate or refuse. */
export function insertBody(entity: TableEntityToInsert): string {
  const { partitionKey, rowKey, ...properties } = entity;
  const out: Record<string, TablePropertyValue> = { PartitionKey: partitionKey, RowKey: rowKey };
  for (const [name, value] of Object.entries(properties)) {
    if (name === 'PartitionKey' || name === 'RowKey' || name.includes('@odata.')) throw new TypeError(`insertBody: property name ${name} is reserved`);
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`insertBody: ${name} is not a finite number`);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw new TypeError(`insertBody: ${name} has an unsupported type`);
    out[name] = value;
  }
  return JSON.stringify(out);
}

/** Renews an Entra token before it expires; one request in flight; the old token is used while it is valid. */
class TokenCache {
  private token: AccessToken | undefined;
  private inflight: Promise<AccessToken> | undefined;

  constructor(private readonly credential: TokenCredential) {}

  async get(signal: AbortSignal): Promise<string> {
    const now = Date.now();
    const current = this.token;
    if (current !== undefined && current.expiresOnTimestamp - now > TOKEN_RENEW_BEFORE_MS) return current.token;
    this.inflight ??= this.credential.getToken(STORAGE_SCOPE, { abortSignal: signal }).then(
      (token) => {
        this.inflight = undefined;
        if (token === null) throw new TableRequestError(401, '', 'NoToken', undefined);
        this.token = token;
        return token;
      },
      (error: unknown) => {
        this.inflight = undefined;
        throw error;
      },
    );
    try {
      return (await this.inflight).token;
    } catch (error) {
      // A renewal that fails while the old token is still valid: that token is used.
      if (current !== undefined && current.expiresOnTimestamp > Date.now()) return current.token;
      throw error;
    }
  }
}

/** Inserts entities into one table. */
export class TableInserter {
  private readonly url: URL;
  private readonly tokens: TokenCache | undefined;

  constructor(
    tableServiceUrl: string,
    readonly table: string,
    private readonly auth: TableAuth,
  ) {
    this.url = new URL(table, tableServiceUrl.endsWith('/') ? tableServiceUrl : `${tableServiceUrl}/`);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new Error('TableInserter: the table endpoint must be http or https');
    this.tokens = auth.kind === 'token' ? new TokenCache(auth.credential) : undefined;
  }

  /** Inserts `entity` (409 when its RowKey exists: `TableRequestError` with `statusCode` 409). */
  async insert(entity: TableEntityToInsert, signal: AbortSignal): Promise<void> {
    const body = Buffer.from(insertBody(entity), 'utf8');
    await retry(
      () => this.send(body, signal),
      (outcome) => {
        if (outcome.ok || signal.aborted) return false;
        const { error } = outcome;
        if (error instanceof TableRequestError) return isTransientStatus(error.statusCode) ? { retryAfterSec: error.retryAfterSec } : false;
        // A connection failure (refused, reset, closed before the answer): the next attempt decides.
        return isConnectionError(error) ? {} : false;
      },
      { ...RETRY, signal },
    );
  }

  private async send(body: Buffer, signal: AbortSignal): Promise<void> {
    const date = new Date().toUTCString();
    const authorization = this.auth.kind === 'sharedKey'
      ? sharedKeyLiteAuthorization(this.auth.account, this.auth.key, date, this.url)
      : `Bearer ${await this.tokens!.get(signal)}`;
    const headers = {
      'content-type': 'application/json;odata=nometadata',
      accept: 'application/json;odata=minimalmetadata',
      'x-ms-version': TABLE_API_VERSION,
      dataserviceversion: '3.0',
      prefer: 'return-no-content',
      'x-ms-date': date,
      'user-agent': `superoffice-token-broker/${BROKER_VERSION}`,
      'content-length': String(body.length),
      authorization,
    };
    const client = this.url.protocol === 'https:' ? https : http;
    const agent = agents[this.url.protocol as keyof typeof agents];
    await new Promise<void>((resolve, reject) => {
      const request = client.request(this.url, { method: 'POST', headers, agent, signal }, (response) => {
        const status = response.statusCode ?? 0;
        if (status === 201 || status === 204) {
          response.resume();
          response.once('end', resolve);
          response.once('error', reject);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_ERROR_BODY_BYTES) chunks.push(chunk);
        });
        response.once('error', reject);
        response.once('end', () => {
          const retryAfter: string | undefined = response.headers['retry-after'];
          const errorCode: string | string[] | undefined = response.headers['x-ms-error-code'];
          reject(new TableRequestError(status, this.table, errorCodeOf(errorCode, Buffer.concat(chunks)), parseRetryAfter(retryAfter)));
        });
      });
      request.once('error', reject);
      request.end(body);
    });
  }
}

/** The error code from `x-ms-error-code`, else from the OData error body (`odata.error.code`). */
function errorCodeOf(header: string | string[] | undefined, body: Buffer): string | undefined {
  if (typeof header === 'string' && header !== '') return header;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { 'odata.error'?: { code?: unknown } };
    const code = parsed['odata.error']?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined; // not JSON: the status alone describes the failure
  }
}

const CONNECTION_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error) || error.name === 'AbortError') return false;
  const code = (error as { code?: unknown }).code;
  return (typeof code === 'string' && CONNECTION_CODES.has(code)) || error.message === 'socket hang up';
}
