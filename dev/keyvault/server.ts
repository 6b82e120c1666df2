import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../shared/log/logger.js';
import {
  DevVault,
  RECOVERY_LEVEL,
  VaultError,
  assertSecretName,
  loadVaultFile,
  saveVaultFile,
  type DeletedRecord,
  type SecretRecord,
  type SetSecretInput,
  type UpdateSecretInput,
  type VersionRecord,
} from './vault.js';

/**
 * A Key Vault-compatible HTTP server for the secrets REST API, as the real `@azure/keyvault-secrets`
 * `SecretClient` uses it (docs/azure.md §3): the 401 challenge, versions, properties, soft delete with
 * recover and purge, paging, the service's 400/403/404/409 answers, and scriptable faults (429 with
 * Retry-After, 5xx, connection resets, latency) for resilience tests (docs/security.md §6, requirement 72).
 * Loopback only; memory by default, or a JSON file written atomically with mode 0600.
 */

export type KeyVaultOperation =
  | 'setSecret'
  | 'getSecret'
  | 'updateSecret'
  | 'deleteSecret'
  | 'getSecrets'
  | 'getSecretVersions'
  | 'getDeletedSecrets'
  | 'getDeletedSecret'
  | 'recoverDeletedSecret'
  | 'purgeDeletedSecret'
  | 'unknown';

export const KEY_VAULT_OPERATIONS: readonly KeyVaultOperation[] = [
  'setSecret', 'getSecret', 'updateSecret', 'deleteSecret', 'getSecrets', 'getSecretVersions',
  'getDeletedSecrets', 'getDeletedSecret', 'recoverDeletedSecret', 'purgeDeletedSecret', 'unknown',
];

/** One request as the server saw it (requirement 63: the client request id is recorded). */
export interface RecordedRequest {
  readonly seq: number;
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  readonly operation: KeyVaultOperation;
  readonly secretName: string | undefined;
  readonly clientRequestId: string | undefined;
  /** False for the unauthenticated first request of the challenge flow. */
  readonly authenticated: boolean;
  /** The status answered, or 0 when the connection was reset by a fault. */
  readonly status: number;
  readonly fault: boolean;
  /** `performance.now()` when the request arrived and when the answer was sent. */
  readonly receivedAt: number;
  readonly finishedAt: number;
}

export interface FaultTarget {
  readonly method: string;
  readonly path: string;
  readonly operation: KeyVaultOperation;
  readonly secretName: string | undefined;
}

export type FaultMatcher = (target: FaultTarget) => boolean;

export interface FaultSpec {
  /** The status to answer; default 503. */
  readonly status?: number;
  /** Adds `Retry-After` in seconds. */
  readonly retryAfterSec?: number;
  /** How many matching requests get the fault; default 1, `Infinity` for all. */
  readonly times?: number;
  /** Which authenticated requests the fault applies to; default all. */
  readonly match?: FaultMatcher;
  /** Overrides the error body's code, inner code and message. */
  readonly code?: string;
  readonly innerCode?: string;
  readonly message?: string;
  /** Destroy the connection instead of answering (a network error for the client). */
  readonly reset?: boolean;
}

export interface KeyVaultFaults {
  /** Queues a fault; faults apply to authenticated requests, first matching fault first. */
  inject(spec: FaultSpec): void;
  /** Delays every matching authenticated request by `ms` before it is handled; `latency(0)` removes it. */
  latency(ms: number, match?: FaultMatcher): void;
  /** Removes all faults and latency. */
  clear(): void;
  /** Faults still queued. */
  readonly pending: number;
}

export interface KeyVaultServerOptions {
  /** Default 0: an OS-chosen port. */
  readonly port?: number;
  /** Load on start and persist after each change (e.g. `.local/keyvault.json`, git-ignored). */
  readonly storageFile?: string;
  /** Milliseconds since the epoch; drives dates, deletion and purge schedules. */
  readonly clock?: () => number;
  readonly log?: Logger;
  /** The tenant named in the challenge; default a fixed GUID. */
  readonly tenantId?: string;
  /** How long a delete stays in progress (PUT gives 409 ObjectIsBeingDeleted); default 0. */
  readonly deletionDelayMs?: number;
  /** Soft-delete retention in days (7-90); default 90. */
  readonly retentionDays?: number;
  /** Request bodies above this answer 413; default 256 KiB. */
  readonly maxBodyBytes?: number;
  /** The request log keeps the most recent entries; default 10,000. */
  readonly maxRecordedRequests?: number;
}

export interface KeyVaultServer {
  /** `http://127.0.0.1:<port>`, the vault URL to give `SecretClient`. */
  readonly url: string;
  readonly port: number;
  /** A copy of the request log, oldest first. */
  readonly requests: readonly RecordedRequest[];
  /** Authenticated requests per operation, faulted ones included, plus `challenge` for 401 answers. */
  readonly counters: Readonly<Record<KeyVaultOperation | 'challenge', number>>;
  readonly faults: KeyVaultFaults;
  /** Clears secrets, faults, counters and the request log. */
  reset(): void;
  close(): Promise<void>;
}

export const DEFAULT_TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
const DEFAULT_MAX_RECORDED = 10_000;
const SERVICE_VERSION = '1.9.0.0';
const API_VERSION = /^(\d+\.\d+(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview)?)$/;
const MAX_PAGE = 25;
const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/;
const SAFE_REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

interface Route {
  readonly operation: KeyVaultOperation;
  readonly name: string | undefined;
  readonly version: string | undefined;
  /** Known path, wrong method. */
  readonly methodNotAllowed: boolean;
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpProblem(400, 'BadParameter', 'The request URI is not valid.');
  }
}

/** Maps method and path to an operation, as the REST API defines them. */
function route(method: string, pathname: string): Route {
  const parts = pathname.split('/').slice(1).map(decodeSegment);
  const make = (operation: KeyVaultOperation, name?: string, version?: string, allowed?: readonly string[]): Route => {
    const ok = allowed === undefined || allowed.includes(method);
    return { operation: ok ? operation : 'unknown', name, version, methodNotAllowed: !ok };
  };
  const [collection, name, third, fourth] = parts;
  if (collection === 'secrets') {
    if (name === undefined || (name === '' && parts.length === 2)) return make('getSecrets', undefined, undefined, ['GET']);
    if (parts.length === 2 || (parts.length === 3 && third === '')) {
      if (method === 'PUT') return make('setSecret', name);
      if (method === 'GET') return make('getSecret', name);
      if (method === 'DELETE') return make('deleteSecret', name);
      if (method === 'PATCH') return make('updateSecret', name, '');
      return make('unknown', name, undefined, []);
    }
    if (parts.length === 3 && third === 'versions') return make('getSecretVersions', name, undefined, ['GET']);
    if (parts.length === 3 || (parts.length === 4 && fourth === '')) {
      if (method === 'GET') return make('getSecret', name, third);
      if (method === 'PATCH') return make('updateSecret', name, third);
      return make('unknown', name, undefined, []);
    }
  }
  if (collection === 'deletedsecrets') {
    if (name === undefined || (name === '' && parts.length === 2)) return make('getDeletedSecrets', undefined, undefined, ['GET']);
    if (parts.length === 2) {
      if (method === 'GET') return make('getDeletedSecret', name);
      if (method === 'DELETE') return make('purgeDeletedSecret', name);
      return make('unknown', name, undefined, []);
    }
    if (parts.length === 3 && third === 'recover') return make('recoverDeletedSecret', name, undefined, ['POST']);
  }
  return { operation: 'unknown', name: undefined, version: undefined, methodNotAllowed: false };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new HttpProblem(400, 'BadParameter', `Property ${key} must be a string.`);
  return value;
}

function parseTags(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw new HttpProblem(400, 'BadParameter', 'Property tags must be an object of strings.');
  const tags: Record<string, string> = {};
  for (const [key, tag] of Object.entries(value)) {
    if (typeof tag !== 'string') throw new HttpProblem(400, 'BadParameter', 'Property tags must be an object of strings.');
    tags[key] = tag;
  }
  return tags;
}

function parseAttributes(value: unknown): { enabled?: boolean; exp?: number; nbf?: number } {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new HttpProblem(400, 'BadParameter', 'Property attributes must be an object.');
  const out: { enabled?: boolean; exp?: number; nbf?: number } = {};
  const { enabled, exp, nbf } = value;
  if (enabled !== undefined && enabled !== null) {
    if (typeof enabled !== 'boolean') throw new HttpProblem(400, 'BadParameter', 'Property attributes.enabled must be a boolean.');
    out.enabled = enabled;
  }
  for (const [key, raw] of [['exp', exp], ['nbf', nbf]] as const) {
    if (raw === undefined || raw === null) continue;
    if (typeof raw !== 'number' || !Number.isInteger(raw)) {
      throw new HttpProblem(400, 'BadParameter', `Property attributes.${key} must be an integer (Unix seconds).`);
    }
    out[key] = raw;
  }
  return out;
}

function parseJson(body: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new HttpProblem(400, 'BadParameter', 'The request body is not valid JSON.');
  }
  if (!isRecord(parsed)) throw new HttpProblem(400, 'BadParameter', 'The request body must be a JSON object.');
  return parsed;
}

function parseSetBody(body: Buffer): SetSecretInput {
  const json = parseJson(body);
  const value = json['value'];
  if (typeof value !== 'string') throw new HttpProblem(400, 'BadParameter', 'Property value is required and must be a string.');
  return { value, contentType: optionalString(json, 'contentType'), tags: parseTags(json['tags']), ...parseAttributes(json['attributes']) };
}

function parseUpdateBody(body: Buffer): UpdateSecretInput {
  const json = body.length === 0 ? {} : parseJson(body);
  return { contentType: optionalString(json, 'contentType'), tags: parseTags(json['tags']), ...parseAttributes(json['attributes']) };
}

function faultBody(status: number, spec: FaultSpec): { code: string; message: string; innerCode: string | undefined } {
  const defaults: Record<number, [string, string]> = {
    409: ['Conflict', 'There was a conflict while updating the secret; retry later.'],
    429: ['Throttled', 'Request was not processed because too many requests were received. Reason: A single client has exceeded the request limit.'],
    500: ['InternalServerError', 'The service encountered an internal error.'],
    502: ['BadGateway', 'The service encountered a gateway error.'],
    503: ['ServiceUnavailable', 'The service is temporarily unavailable.'],
    504: ['GatewayTimeout', 'The service timed out.'],
  };
  const [code, message] = defaults[status] ?? ['InjectedFault', 'An injected fault.'];
  return { code: spec.code ?? code, message: spec.message ?? message, innerCode: spec.innerCode };
}

interface QueuedFault {
  readonly spec: FaultSpec;
  remaining: number;
}

/** Starts the server on 127.0.0.1 and resolves once it listens. */
export async function startKeyVaultServer(options: KeyVaultServerOptions = {}): Promise<KeyVaultServer> {
  const clock = options.clock ?? Date.now;
  const log = options.log;
  const tenantId = options.tenantId ?? DEFAULT_TENANT_ID;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxRecorded = options.maxRecordedRequests ?? DEFAULT_MAX_RECORDED;
  const storageFile = options.storageFile;
  const vault = new DevVault(
    { clock, deletionDelayMs: options.deletionDelayMs, retentionDays: options.retentionDays },
    storageFile === undefined ? undefined : loadVaultFile(storageFile),
  );

  let requests: RecordedRequest[] = [];
  let seq = 0;
  const newCounters = (): Record<KeyVaultOperation | 'challenge', number> => {
    const counters = { challenge: 0 } as Record<KeyVaultOperation | 'challenge', number>;
    for (const operation of KEY_VAULT_OPERATIONS) counters[operation] = 0;
    return counters;
  };
  let counters = newCounters();
  let queued: QueuedFault[] = [];
  let latencyRule: { ms: number; match: FaultMatcher | undefined } | undefined;
  const pendingDelays = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  let closed = false;

  const persist = (): void => {
    if (storageFile !== undefined) saveVaultFile(storageFile, vault.snapshot());
  };

  const delay = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const entry = { timer: setTimeout(() => { pendingDelays.delete(entry); resolve(); }, ms), resolve };
      pendingDelays.add(entry);
    });

  const takeFault = (target: FaultTarget): FaultSpec | undefined => {
    const index = queued.findIndex((fault) => fault.spec.match === undefined || fault.spec.match(target));
    if (index < 0) return undefined;
    const fault = queued[index];
    if (fault === undefined) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) queued.splice(index, 1);
    return fault.spec;
  };

  const faults: KeyVaultFaults = {
    inject(spec) {
      const times = spec.times ?? 1;
      if (!(times > 0)) throw new RangeError('times must be positive');
      if (spec.status !== undefined && (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599)) {
        throw new RangeError('status must be an HTTP error status (400-599)');
      }
      queued.push({ spec, remaining: times });
    },
    latency(ms, match) {
      if (!(ms >= 0)) throw new RangeError('latency must be 0 or more milliseconds');
      latencyRule = ms === 0 ? undefined : { ms, match };
    },
    clear() {
      queued = [];
      latencyRule = undefined;
    },
    get pending() {
      return queued.length;
    },
  };

  let port = 0;
  const canonicalUrl = (): string => `http://127.0.0.1:${port}`;

  /** The vault URL as the client addressed it (ids must name the host the client used). */
  const vaultUrlOf = (request: IncomingMessage): string => {
    const host = request.headers.host;
    return host !== undefined && LOOPBACK_HOST.test(host) ? `http://${host}` : canonicalUrl();
  };

  const attributesJson = (version: VersionRecord): Record<string, unknown> => ({
    enabled: version.enabled,
    ...(version.nbf === undefined ? {} : { nbf: version.nbf }),
    ...(version.exp === undefined ? {} : { exp: version.exp }),
    created: version.created,
    updated: version.updated,
    recoveryLevel: RECOVERY_LEVEL,
    recoverableDays: vault.retentionDays,
  });

  const propertiesJson = (base: string, secret: SecretRecord, version: VersionRecord, withVersion: boolean): Record<string, unknown> => ({
    id: withVersion ? `${base}/secrets/${secret.name}/${version.version}` : `${base}/secrets/${secret.name}`,
    attributes: attributesJson(version),
    ...(version.contentType === undefined ? {} : { contentType: version.contentType }),
    ...(version.tags === undefined ? {} : { tags: version.tags }),
  });

  const bundleJson = (base: string, secret: SecretRecord, version: VersionRecord, withValue: boolean): Record<string, unknown> => ({
    ...(withValue ? { value: version.value } : {}),
    ...propertiesJson(base, secret, version, true),
  });

  const deletedJson = (base: string, record: DeletedRecord, item: boolean): Record<string, unknown> => {
    const current = record.secret.versions[record.secret.versions.length - 1];
    if (current === undefined) throw new HttpProblem(500, 'InternalServerError', 'The deleted secret has no versions.');
    return {
      recoveryId: `${base}/deletedsecrets/${record.secret.name}`,
      deletedDate: record.deletedDate,
      scheduledPurgeDate: record.scheduledPurgeDate,
      ...propertiesJson(base, record.secret, current, !item),
    };
  };

  const page = <T>(
    items: readonly T[],
    url: URL,
    base: string,
    apiVersion: string,
    toJson: (item: T) => Record<string, unknown>,
  ): Record<string, unknown> => {
    const maxRaw = url.searchParams.get('maxresults');
    let max = MAX_PAGE;
    if (maxRaw !== null && maxRaw !== '') {
      max = Number(maxRaw);
      if (!/^\d+$/.test(maxRaw) || max < 1 || max > MAX_PAGE) {
        throw new HttpProblem(400, 'BadParameter', `maxresults must be an integer from 1 to ${MAX_PAGE}.`);
      }
    }
    const token = url.searchParams.get('$skiptoken');
    let offset = 0;
    if (token !== null) {
      const decoded = Buffer.from(token, 'base64url').toString('utf8');
      offset = Number(decoded);
      if (!/^\d{1,9}$/.test(decoded)) throw new HttpProblem(400, 'BadParameter', 'The $skiptoken is not valid.');
    }
    const slice = items.slice(offset, offset + max);
    const next = offset + max < items.length
      ? `${base}${url.pathname}?api-version=${encodeURIComponent(apiVersion)}&$skiptoken=${Buffer.from(String(offset + max)).toString('base64url')}&maxresults=${max}`
      : null;
    return { value: slice.map(toJson), nextLink: next };
  };

  const readBody = (request: IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const declared = Number(request.headers['content-length'] ?? '0');
      if (declared > maxBodyBytes) {
        reject(new HttpProblem(413, 'RequestEntityTooLarge', `The request body is larger than ${maxBodyBytes} bytes.`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      request.on('data', (chunk: Buffer) => {
        if (failed) return;
        size += chunk.length;
        if (size > maxBodyBytes) {
          failed = true;
          chunks.length = 0;
          reject(new HttpProblem(413, 'RequestEntityTooLarge', `The request body is larger than ${maxBodyBytes} bytes.`));
          return;
        }
        chunks.push(chunk);
      });
      request.on('end', () => {
        if (!failed) resolve(Buffer.concat(chunks));
      });
      request.on('error', (error) => {
        if (!failed) reject(error);
      });
    });

  /** Runs one authenticated request against the vault; returns status and JSON body. */
  const handle = async (
    request: IncomingMessage,
    url: URL,
    target: Route,
    base: string,
  ): Promise<{ status: number; body: Record<string, unknown> | undefined }> => {
    const apiVersion = url.searchParams.get('api-version');
    if (apiVersion === null || !API_VERSION.test(apiVersion)) {
      throw new HttpProblem(400, 'BadParameter', 'The api-version query parameter is missing or not valid.');
    }
    if (target.name !== undefined) assertSecretName(target.name);
    const body = await readBody(request);
    const name = target.name ?? '';
    switch (target.operation) {
      case 'setSecret': {
        const { secret, version } = vault.set(name, parseSetBody(body));
        persist();
        return { status: 200, body: bundleJson(base, secret, version, true) };
      }
      case 'getSecret': {
        const { secret, version } = vault.get(name, target.version);
        return { status: 200, body: bundleJson(base, secret, version, true) };
      }
      case 'updateSecret': {
        const { secret, version } = vault.update(name, target.version, parseUpdateBody(body));
        persist();
        return { status: 200, body: bundleJson(base, secret, version, false) };
      }
      case 'deleteSecret': {
        const record = vault.delete(name);
        persist();
        return { status: 200, body: deletedJson(base, record, false) };
      }
      case 'getSecrets':
        return { status: 200, body: page(vault.listSecrets(), url, base, apiVersion, ({ secret, version }) => propertiesJson(base, secret, version, false)) };
      case 'getSecretVersions':
        return { status: 200, body: page(vault.listVersions(name), url, base, apiVersion, ({ secret, version }) => propertiesJson(base, secret, version, true)) };
      case 'getDeletedSecrets':
        return { status: 200, body: page(vault.listDeleted(), url, base, apiVersion, (record) => deletedJson(base, record, true)) };
      case 'getDeletedSecret':
        return { status: 200, body: deletedJson(base, vault.getDeleted(name), false) };
      case 'recoverDeletedSecret': {
        const { secret, version } = vault.recover(name);
        persist();
        return { status: 200, body: bundleJson(base, secret, version, false) };
      }
      case 'purgeDeletedSecret':
        vault.purge(name);
        persist();
        return { status: 204, body: undefined };
      case 'unknown':
        throw new HttpProblem(404, 'NotFound', 'The requested resource was not found.');
    }
  };

  const onRequest = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const receivedAt = performance.now();
    const method = (request.method ?? 'GET').toUpperCase();
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://127.0.0.1');
    } catch {
      url = new URL('http://127.0.0.1/');
    }
    const rawClientId = request.headers['x-ms-client-request-id'];
    const clientRequestId = typeof rawClientId === 'string' && SAFE_REQUEST_ID.test(rawClientId) ? rawClientId : undefined;
    const authorization = request.headers.authorization;
    const authenticated = typeof authorization === 'string' && /^Bearer \S+$/.test(authorization);
    let target: Route = { operation: 'unknown', name: undefined, version: undefined, methodNotAllowed: false };
    let fault = false;

    const record = (status: number): void => {
      seq += 1;
      requests.push({
        seq, method, path: url.pathname, operation: target.operation, secretName: target.name, clientRequestId,
        authenticated, status, fault, receivedAt, finishedAt: performance.now(),
      });
      if (requests.length > maxRecorded) requests = requests.slice(requests.length - maxRecorded);
      log?.debug('keyvault.request', {
        method, path: url.pathname, operation: target.operation, status, durationMs: Math.round(performance.now() - receivedAt),
      });
    };

    const send = (status: number, body: Record<string, unknown> | undefined, extra: Record<string, string> = {}): void => {
      const payload = body === undefined ? '' : JSON.stringify(body);
      const headers: Record<string, string> = {
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'x-ms-request-id': clientRequestId ?? randomUUID(),
        'x-ms-keyvault-service-version': SERVICE_VERSION,
        'x-ms-keyvault-region': 'local',
        ...(clientRequestId === undefined ? {} : { 'x-ms-client-request-id': clientRequestId }),
        ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
        'content-length': String(Buffer.byteLength(payload)),
        ...extra,
      };
      record(status);
      if (!response.headersSent) response.writeHead(status, headers);
      response.end(payload);
    };

    const sendError = (status: number, code: string, message: string, innerCode?: string, extra?: Record<string, string>): void => {
      send(status, { error: { code, message, ...(innerCode === undefined ? {} : { innererror: { code: innerCode } }) } }, extra);
    };

    try {
      target = route(method, url.pathname);
      if (!authenticated) {
        // The SDK's first request carries no token and an empty body; it expects this challenge (docs/azure.md §3).
        counters.challenge += 1;
        request.resume();
        sendError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', undefined, {
          'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="https://vault.azure.net"`,
        });
        return;
      }
      counters[target.operation] += 1;
      const faultTarget: FaultTarget = { method, path: url.pathname, operation: target.operation, secretName: target.name };
      if (latencyRule !== undefined && (latencyRule.match === undefined || latencyRule.match(faultTarget))) {
        await delay(latencyRule.ms);
        if (closed) return;
      }
      const injected = takeFault(faultTarget);
      if (injected !== undefined) {
        fault = true;
        if (injected.reset === true) {
          record(0);
          request.socket.destroy();
          return;
        }
        request.resume();
        const status = injected.status ?? 503;
        const { code, message, innerCode } = faultBody(status, injected);
        sendError(status, code, message, innerCode, injected.retryAfterSec === undefined ? {} : { 'retry-after': String(injected.retryAfterSec) });
        return;
      }
      if (target.methodNotAllowed) {
        request.resume();
        throw new HttpProblem(405, 'MethodNotAllowed', `The method ${method} is not allowed on this resource.`);
      }
      const result = await handle(request, url, target, vaultUrlOf(request));
      send(result.status, result.body);
    } catch (error) {
      if (error instanceof VaultError || error instanceof HttpProblem) {
        const extra: Record<string, string> = error.status === 413 ? { connection: 'close' } : {};
        sendError(error.status, error.code, error.message, error.innerCode, extra);
        if (error.status === 413) response.on('finish', () => request.destroy());
        return;
      }
      log?.error('keyvault.internal_error', { errorName: error instanceof Error ? error.name : 'unknown' });
      sendError(500, 'InternalServerError', 'The dev Key Vault failed to handle the request.');
    }
  };

  const server = createServer((request, response) => {
    onRequest(request, response).catch(() => {
      response.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  log?.info('keyvault.listening', { url: canonicalUrl(), port });

  return {
    url: canonicalUrl(),
    port,
    get requests() {
      return [...requests];
    },
    get counters() {
      return { ...counters };
    },
    faults,
    reset() {
      vault.clear();
      persist();
      faults.clear();
      requests = [];
      counters = newCounters();
    },
    close() {
      closed = true;
      for (const entry of pendingDelays) {
        clearTimeout(entry.timer);
        entry.resolve();
      }
      pendingDelays.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
