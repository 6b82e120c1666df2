import { createHmac, randomUUID } from 'node:crypto';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { BROKER_VERSION } from '../config/version.js';
import { abortReason, createNodeHttpTransport, type TransportResponse } from '../net/httpTransport.js';
import { retry, RETRY_DEFAULTS } from '../resilience/retry.js';
import { untilAborted } from '../resilience/sleep.js';
import { parseRetryAfter } from '../resilience/retryAfter.js';
import { isTransientStatus } from '../resilience/transient.js';

/**
 * Table Storage's Insert Entity operation over `node:http` (`shared/net/httpTransport.ts`), for the one write every audited request waits
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
 * service). Transient answers (`isTransientStatus`) and connection failures are retried by the one retry loop
 * (`shared/resilience/retry.ts`), at most three attempts within the caller's signal; a write whose answer
 * was lost may then come back as 409, which the audit sink resolves by event id.
 */

export const TABLE_API_VERSION = '2019-02-02';
const STORAGE_SCOPE = 'https://storage.azure.com/.default';
/** A token is renewed this long before it expires. */
const TOKEN_RENEW_BEFORE_MS = 5 * 60_000;
/** Bytes of an answer read (an error's code, a transaction's sub-responses). */
const MAX_ANSWER_BYTES = 256 * 1024;
const RETRY = { maxAttempts: RETRY_DEFAULTS.maxAttempts, baseDelayMs: 25, maxDelayMs: 500 } as const;

/** Keep-alive connections of the table requests, apart from those to SuperOffice. */
const transport = createNodeHttpTransport({ maxSockets: 64 });

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
    // One renewal shared by every caller, so it is not tied to the first caller's signal; each caller stops
    // waiting when its own signal aborts.
    this.inflight ??= this.credential.getToken(STORAGE_SCOPE).then(
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
      return (await untilAborted(this.inflight, signal, abortReason)).token;
    } catch (error) {
      if (signal.aborted) throw error;
      // A renewal that fails while the old token is still valid: that token is used.
      if (current !== undefined && current.expiresOnTimestamp > Date.now()) return current.token;
      throw error;
    }
  }
}

/** Inserts entities into one table: one at a time, or several of one partition in one transaction. */
export class TableInserter {
  private readonly url: URL;
  private readonly batchUrl: URL;
  private readonly tokens: TokenCache | undefined;

  constructor(
    tableServiceUrl: string,
    readonly table: string,
    private readonly auth: TableAuth,
  ) {
    const service = tableServiceUrl.endsWith('/') ? tableServiceUrl : `${tableServiceUrl}/`;
    this.url = new URL(table, service);
    this.batchUrl = new URL('$batch', service);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new Error('TableInserter: the table endpoint must be http or https');
    this.tokens = auth.kind === 'token' ? new TokenCache(auth.credential) : undefined;
  }

  /** Inserts `entity` (409 when its RowKey exists: `TableRequestError` with `statusCode` 409). */
  async insert(entity: TableEntityToInsert, signal: AbortSignal): Promise<void> {
    const body = insertBody(entity);
    await this.withRetries(signal, async () => {
      const answer = await this.send(this.url, INSERT_HEADERS, body, signal);
      if (answer.status !== 201 && answer.status !== 204) throw answerError(answer, this.table);
    });
  }

  /**
   * Inserts `entities` (one partition, 1–100) in one entity group transaction: all or none. A failed
   * operation (409 for an existing RowKey) fails the transaction with that operation's status, as the
   * SDK's `submitTransaction` does.
   */
  async insertBatch(entities: readonly TableEntityToInsert[], signal: AbortSignal): Promise<void> {
    if (entities.length === 0 || entities.length > 100) throw new RangeError('insertBatch: 1 to 100 entities');
    if (entities.some((e) => e.partitionKey !== entities[0]!.partitionKey)) throw new RangeError('insertBatch: one partition per transaction');
    const batch = `batch_${randomUUID()}`;
    const changeset = `changeset_${randomUUID()}`;
    const body = transactionBody(this.url, batch, changeset, entities.map(insertBody));
    const headers = { ...TRANSACTION_HEADERS, 'content-type': `multipart/mixed; boundary=${batch}` };
    await this.withRetries(signal, async () => {
      const answer = await this.send(this.batchUrl, headers, body, signal);
      if (answer.status < 200 || answer.status > 299) throw answerError(answer, this.table);
      const failed = failedOperation(answer.body?.toString('utf8') ?? '');
      if (failed !== undefined) throw new TableRequestError(failed.status, this.table, failed.code, undefined);
    });
  }

  private async withRetries(signal: AbortSignal, attempt: () => Promise<void>): Promise<void> {
    await retry(
      attempt,
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

  /** One POST with the table's authorization; the answer's body is read up to MAX_ANSWER_BYTES. */
  private async send(url: URL, fixed: Readonly<Record<string, string>>, body: string, signal: AbortSignal): Promise<TransportResponse> {
    const date = new Date().toUTCString();
    const authorization = this.auth.kind === 'sharedKey'
      ? sharedKeyLiteAuthorization(this.auth.account, this.auth.key, date, url)
      : `Bearer ${await this.tokens!.get(signal)}`;
    const headers = { ...fixed, 'x-ms-date': date, 'user-agent': USER_AGENT, authorization };
    return transport({ method: 'POST', url, headers, body, signal, maxBytes: MAX_ANSWER_BYTES });
  }
}

const USER_AGENT = `superoffice-token-broker/${BROKER_VERSION}`;

/** Insert Entity's headers, as the SDK sends them. */
const INSERT_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json;odata=nometadata',
  accept: 'application/json;odata=minimalmetadata',
  'x-ms-version': TABLE_API_VERSION,
  dataserviceversion: '3.0',
  prefer: 'return-no-content',
};

/** The transaction's own headers, as the SDK sends them (`content-type` names the batch boundary). */
const TRANSACTION_HEADERS: Readonly<Record<string, string>> = {
  accept: 'application/json',
  'x-ms-version': TABLE_API_VERSION,
  dataserviceversion: '3.0;',
  maxdataserviceversion: '3.0;NetFx',
  'accept-charset': 'UTF-8',
};

const CRLF = '\r\n';

/**
 * The multipart body of an entity group transaction of inserts, byte for byte as the SDK builds it
 * (https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions).
 */
export function transactionBody(tableUrl: URL, batch: string, changeset: string, jsonBodies: readonly string[]): string {
  const parts = [`--${batch}${CRLF}content-type: multipart/mixed; boundary=${changeset}${CRLF}${CRLF}`];
  for (const json of jsonBodies) {
    parts.push([
      `--${changeset}`,
      'content-type: application/http',
      'content-transfer-encoding: binary',
      '',
      `POST ${tableUrl.href} HTTP/1.1`,
      'Content-Type: application/json;odata=nometadata',
      'Accept: application/json;odata=minimalmetadata',
      'DataServiceVersion: 3.0',
      'Prefer: return-no-content',
      '',
      '',
      json,
    ].join(CRLF));
  }
  return `${parts.join(CRLF)}${CRLF}--${changeset}--${CRLF}--${batch}--${CRLF}`;
}

/**
 * The first failed operation in a transaction answer: a sub-response whose status is not 2xx, or that
 * carries an OData error body (the SDK's rule). Undefined when every operation succeeded.
 */
export function failedOperation(text: string): { status: number; code: string | undefined } | undefined {
  const parts = text.split('--changesetresponse_').slice(1, -1);
  for (const part of parts) {
    const status = /HTTP\/1\.1 (\d{3})/.exec(part);
    if (status === null) return { status: 502, code: 'UnreadableTransactionAnswer' };
    const code = Number(status[1]);
    const json = /\{.*\}/s.exec(part);
    if (code >= 200 && code <= 299 && json === null) continue;
    // A 2xx that carries an error body is a failure too (the SDK's rule); it has no status of its own.
    return { status: code >= 200 && code <= 299 ? 502 : code, code: errorCodeOf(null, Buffer.from(json?.[0] ?? '', 'utf8')) };
  }
  return parts.length === 0 ? { status: 502, code: 'UnreadableTransactionAnswer' } : undefined;
}

function answerError(answer: TransportResponse, table: string): TableRequestError {
  return new TableRequestError(answer.status, table, errorCodeOf(answer.headers.get('x-ms-error-code'), answer.body), parseRetryAfter(answer.headers.get('retry-after')));
}

/** The error code from `x-ms-error-code`, else from the OData error body (`odata.error.code`). */
function errorCodeOf(header: string | null, body: Buffer | undefined): string | undefined {
  if (header !== null && header !== '') return header;
  try {
    const parsed = JSON.parse(body?.toString('utf8') ?? '') as { 'odata.error'?: { code?: unknown } };
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
