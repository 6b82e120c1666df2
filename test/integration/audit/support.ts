import { createServer, connect, type Server, type Socket } from 'node:net';
import azureFunctions, { type HttpHandler, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { odata, TableClient } from '@azure/data-tables';
import type { HttpRequestInit } from '@azure/functions';

// A default import: the package is a CommonJS bundle whose named exports native ESM (tsx, the bench) cannot see (docs/azure.md §2).
const { HttpRequest: Request, InvocationContext } = azureFunctions;
import { MAX_RECORD_ROW_KEY } from '../../../shared/audit/canonical.js';
import { callerLanesFilter, registryFilter } from '../../../shared/audit/lanes.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import type { Caller } from '../../../shared/identity/caller.js';
import type { Operation } from '../../../shared/identity/operations.js';
import type { RequestGuard } from '../../../shared/runtime/runtime.js';
import { StorageClients } from '../../../shared/storage/storage.js';

export const TENANT = '11111111-1111-4111-8111-111111111111';

/** Caller n of the fake guard: `Authorization: Bearer caller-<n>`. */
export function callerNo(n: number): Caller {
  const hex = n.toString(16).padStart(12, '0');
  return { tid: TENANT, oid: `aaaaaaaa-0000-4000-8000-${hex}`, azp: 'bbbbbbbb-0000-4000-8000-000000000001', idtyp: 'app', roles: ['Tokens.Request', 'Audit.Read'], tokenVersion: '2.0' };
}

/** A guard for tests: `Bearer caller-<n>` authenticates caller n; `Bearer deny` is forbidden; nothing is 401. */
export const fakeGuard: RequestGuard = {
  async authenticate(request: HttpRequest, operation: Operation) {
    const header = request.headers.get('authorization') ?? '';
    if (header === 'Bearer deny') throw new BrokerError('forbidden');
    const match = /^Bearer caller-(\d+)$/.exec(header);
    if (match === null) throw new BrokerError('unauthenticated');
    return { caller: callerNo(Number(match[1])), roleUsed: operation === 'audit.read' ? 'Audit.Read' : 'Tokens.Request' };
  },
};

export async function call(handler: HttpHandler, init: HttpRequestInit) {
  const response = (await handler(new Request(init), new InvocationContext({ functionName: 'test' }))) as HttpResponseInit;
  const text = typeof response.body === 'string' ? response.body : response.jsonBody !== undefined ? JSON.stringify(response.jsonBody) : '';
  return { status: response.status ?? 200, text, headers: new Headers(response.headers) };
}

/** Storage clients for a connection string (tests only; no credential). */
export function storageFor(connectionString: string): StorageClients {
  return new StorageClients({ kind: 'connectionString', connectionString }, () => {
    throw new Error('no credential in tests');
  });
}

export function tableFor(connectionString: string, name: string): TableClient {
  return TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection: true });
}

/** Every entity of a table, as stored. */
export async function allEntities(connectionString: string, name: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const e of tableFor(connectionString, name).listEntities<Record<string, unknown>>()) out.push(e);
  return out;
}

/** Every audit record (not lane registry row) of a caller, over all its lanes, in storage order (lane, then seq). */
export async function laneRecordsOf(connectionString: string, caller: string, name = 'audit'): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const filter = `${callerLanesFilter(caller)} and ${odata`RowKey le ${MAX_RECORD_ROW_KEY}`}`;
  for await (const e of tableFor(connectionString, name).listEntities<Record<string, unknown>>({ queryOptions: { filter } })) out.push(e);
  return out;
}

/** A caller's records grouped by lane partition. */
export function byLane(records: readonly Record<string, unknown>[]): Map<string, Record<string, unknown>[]> {
  const lanes = new Map<string, Record<string, unknown>[]>();
  for (const r of records) {
    const key = String(r['partitionKey']);
    lanes.set(key, [...(lanes.get(key) ?? []), r]);
  }
  return lanes;
}

/** The lane registry rows of a caller. */
export async function registryOf(connectionString: string, caller: string, name = 'audit'): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const e of tableFor(connectionString, name).listEntities<Record<string, unknown>>({ queryOptions: { filter: registryFilter(caller) } })) out.push(e);
  return out;
}

/** The forms in which a canary could leak (requirement 67's list). */
export function canaryForms(canary: string): string[] {
  const bytes = Buffer.from(canary, 'utf8');
  return [canary, bytes.toString('base64'), bytes.toString('base64url'), encodeURIComponent(canary), JSON.stringify(canary).slice(1, -1)];
}

/**
 * A loopback TCP forwarder that can be switched off (listener closed, live sockets destroyed) and
 * on again at the same port: the audit store "goes away" and "comes back" without losing data.
 */
export interface TogglingProxy {
  readonly port: number;
  /** `connectionString` with its table endpoint pointed at the proxy. */
  route(connectionString: string): string;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTogglingProxy(targetEndpoint: string): Promise<TogglingProxy> {
  const target = new URL(targetEndpoint);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = (): Promise<void> => new Promise((resolve, reject) => {
    const s = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(client);
      sockets.add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const address = s.address();
      if (address !== null && typeof address === 'object') port = address.port;
      server = s;
      resolve();
    });
  });
  const down = (): Promise<void> => new Promise((resolve) => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (server === undefined) return resolve();
    server.close(() => resolve());
    server = undefined;
  });
  await listen();
  return {
    get port() {
      return port;
    },
    route: (cs) => cs.replace(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+/, `TableEndpoint=http://127.0.0.1:${port}`),
    down,
    up: listen,
    close: down,
  };
}

/** A connection string whose table endpoint is a closed loopback port. */
export async function closedPortConnectionString(connectionString: string): Promise<string> {
  const s = createServer();
  const port = await new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return connectionString.replace(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+/, `TableEndpoint=http://127.0.0.1:${port}`);
}
