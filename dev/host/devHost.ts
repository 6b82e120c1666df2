import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { DefaultAzureCredential } from '@azure/identity';
import { QueueClient } from '@azure/storage-queue';
import {
  listFunctions,
  type FunctionDefinition,
  type HttpFunctionDefinition,
  type QueueFunctionDefinition,
  type TimerFunctionDefinition,
} from '../../shared/runtime/registry.js';
import { loadHostSettings, type HostSettings } from './hostSettings.js';
import { buildRouteTable, invokeHttpFunction, resolveRoute, writeFunctionResponse, type HttpRoute } from './httpTrigger.js';
import { describeError, stdoutLog, type DevHostLog } from './invocation.js';
import { invokeQueueFunction, MIN_POLLING_INTERVAL_MS, QueueListener } from './queueTrigger.js';
import { decodePathSegment } from './routeTemplate.js';
import { TimerRunner } from './timerTrigger.js';

/**
 * The local stand-in for the Azure Functions host (docs/architecture.md §7): serves the registered
 * functions on loopback with the host's semantics for HTTP routes, storage queues and timers, plus
 * the admin endpoint that runs a non-HTTP function on demand. Dev only; never deployed.
 */

export interface DevHostOptions {
  /** The functions to serve; default: everything registered through `shared/runtime/registry.ts`. */
  readonly functions?: readonly FunctionDefinition[];
  /** Loopback port; default 7071 (as `func start`); 0 picks a free one. */
  readonly port?: number;
  /** Storage for queue triggers; default: the app setting each function names (`AzureWebJobsStorage`). */
  readonly storageConnectionString?: string;
  /** A host.json path or parsed document; default: the project's host.json. */
  readonly hostJson?: string | object;
  /** Where request, queue and timer lines go; default stdout. */
  readonly log?: DevHostLog;
  /** Overrides host.json `extensions.queues.maxPollingInterval` (ms). */
  readonly queuePollMs?: number;
  /** Request body limit; default 100 MB, as the Functions host. */
  readonly maxRequestBodyBytes?: number;
  /** App settings for queue connections; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface DevHost {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The base of HTTP functions: `url` plus the route prefix. */
  readonly apiUrl: string;
  readonly settings: HostSettings;
  readonly functions: readonly FunctionDefinition[];
  /** Runs a timer function now, as `POST /admin/functions/{name}` does; resolves when it finished. */
  runTimer(name: string): Promise<void>;
  /** Stops HTTP, queue polling and timers; waits for invocations in flight. */
  close(): Promise<void>;
}

export const DEFAULT_DEV_HOST_PORT = 7071;
/** The Functions host's default request body limit (`maxRequestBodySize`, 100 MB). */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 100 * 1024 * 1024;
const ADMIN_BODY_LIMIT_BYTES = 1024 * 1024;
const CLOSE_GRACE_MS = 5000;
const LOOPBACK_ADDRESSES = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

type Body = { readonly kind: 'ok'; readonly bytes: Buffer } | { readonly kind: 'too_large' };

function readBody(req: IncomingMessage, limit: number): Promise<Body> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve({ kind: 'too_large' });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        resolve({ kind: 'too_large' });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve({ kind: 'ok', bytes: Buffer.concat(chunks) }));
    req.once('error', reject);
  });
}

function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'Content-Length': '0' });
  res.end();
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(text, 'utf8');
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(body.length) });
  res.end(body);
}

/** Queue clients for a function: the explicit connection string, or the app setting(s) its `connection` names. */
function queueClientsFor(
  definition: QueueFunctionDefinition,
  options: DevHostOptions,
): { queue: QueueClient; poison: QueueClient } {
  const env = options.env ?? process.env;
  const poisonName = `${definition.queueName}-poison`;
  const connectionString = options.storageConnectionString ?? env[definition.connection];
  if (connectionString !== undefined && connectionString.trim() !== '') {
    return { queue: new QueueClient(connectionString, definition.queueName), poison: new QueueClient(connectionString, poisonName) };
  }
  // Identity-based connection, as in Azure (`<connection>__queueServiceUri` or `__accountName`).
  const accountName = env[`${definition.connection}__accountName`];
  const serviceUri = env[`${definition.connection}__queueServiceUri`] ?? (accountName ? `https://${accountName}.queue.core.windows.net` : undefined);
  if (serviceUri === undefined) {
    throw new Error(`Function "${definition.name}": set ${definition.connection} (a storage connection string) or pass storageConnectionString`);
  }
  const clientId = env[`${definition.connection}__clientId`];
  const credential = new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
  const base = serviceUri.replace(/\/+$/, '');
  return { queue: new QueueClient(`${base}/${definition.queueName}`, credential), poison: new QueueClient(`${base}/${poisonName}`, credential) };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(new Error(`Dev host cannot listen on 127.0.0.1:${port} (${error.code ?? error.message})`));
    };
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
    // Keep-alive connections that finish their request while closing become idle later: close them as they do.
    const sweep = setInterval(() => server.closeIdleConnections(), 25);
    server.close(() => {
      clearTimeout(force);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** Starts the dev host. Throws at start for invalid host.json, route templates, schedules or missing queue storage. */
export async function startDevHost(options: DevHostOptions = {}): Promise<DevHost> {
  const log = options.log ?? stdoutLog;
  const functions = options.functions ?? listFunctions();
  const loaded = loadHostSettings(options.hostJson);
  const settings: HostSettings = options.queuePollMs === undefined
    ? loaded
    : { ...loaded, queues: { ...loaded.queues, maxPollingIntervalMs: Math.max(MIN_POLLING_INTERVAL_MS, options.queuePollMs) } };
  const maxBody = options.maxRequestBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES;

  // Function names are case-insensitive in the host (and in the admin API).
  const byName = new Map<string, FunctionDefinition>();
  for (const f of functions) {
    if (byName.has(f.name.toLowerCase())) throw new Error(`Function "${f.name}" is defined twice`);
    byName.set(f.name.toLowerCase(), f);
  }
  const routes: HttpRoute[] = buildRouteTable(functions.filter((f): f is HttpFunctionDefinition => f.kind === 'http'), settings.routePrefix);
  const timers = new Map(
    functions
      .filter((f): f is TimerFunctionDefinition => f.kind === 'timer')
      .map((definition) => [definition.name.toLowerCase(), new TimerRunner({ definition, log })]),
  );
  const listeners = functions
    .filter((f): f is QueueFunctionDefinition => f.kind === 'queue')
    .map((definition) => {
      const { queue, poison } = queueClientsFor(definition, options);
      return new QueueListener({ definition, queue, poisonQueue: poison, settings: settings.queues, log });
    });
  const adminRuns = new Set<Promise<void>>();
  let port = 0;

  function trackAdminRun(run: Promise<void>): void {
    const tracked = run.catch(() => undefined).finally(() => adminRuns.delete(tracked));
    adminRuns.add(tracked);
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string): Promise<number> {
    if (!LOOPBACK_ADDRESSES.has(req.socket.remoteAddress ?? '')) {
      sendEmpty(res, 403);
      return 403;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    if (/^\/admin\/host\/status\/?$/i.test(path)) {
      if (method !== 'GET') {
        sendEmpty(res, 405, { Allow: 'GET' });
        return 405;
      }
      sendJson(res, 200, { id: 'dev-host', state: 'Running', version: 'dev' });
      return 200;
    }
    const match = /^\/admin\/functions\/([^/]+)\/?$/i.exec(path);
    if (match === null) {
      sendEmpty(res, 404);
      return 404;
    }
    const name = decodePathSegment(match[1]!);
    const definition = byName.get(name.toLowerCase());
    if (definition === undefined) {
      sendEmpty(res, 404);
      return 404;
    }
    if (method !== 'POST') {
      sendEmpty(res, 405, { Allow: 'POST' });
      return 405;
    }
    const body = await readBody(req, ADMIN_BODY_LIMIT_BYTES);
    if (body.kind === 'too_large') {
      sendEmpty(res, 413, { Connection: 'close' });
      return 413;
    }
    let input = '';
    if (body.bytes.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.bytes.toString('utf8'));
      } catch {
        sendText(res, 400, 'The body must be JSON such as {"input": ""}');
        return 400;
      }
      const value = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['input'] : undefined;
      if (value !== undefined && typeof value !== 'string') {
        sendText(res, 400, 'input must be a string');
        return 400;
      }
      input = value ?? '';
    }
    if (definition.kind === 'http') {
      sendText(res, 400, `${definition.name} is an HTTP function; call its route instead`);
      return 400;
    }
    if (definition.kind === 'timer') {
      trackAdminRun(timers.get(definition.name.toLowerCase())!.run('manual'));
    } else {
      trackAdminRun(invokeQueueFunction(definition, input, { dequeueCount: 1 }, log).catch((error: unknown) => {
        log(`admin run of ${definition.name} failed: ${describeError(error)}`);
      }));
    }
    sendEmpty(res, 202);
    return 202;
  }

  async function handleFunction(req: IncomingMessage, res: ServerResponse, url: URL): Promise<{ status: number; name?: string }> {
    const method = (req.method ?? 'GET').toUpperCase();
    const resolution = resolveRoute(routes, method, url.pathname);
    if (resolution.kind === 'not_found') {
      sendEmpty(res, 404);
      return { status: 404 };
    }
    if (resolution.kind === 'method_not_allowed') {
      sendEmpty(res, 405, { Allow: resolution.allow.join(', ') });
      return { status: 405 };
    }
    const name = resolution.route.definition.name;
    const body = await readBody(req, maxBody);
    if (body.kind === 'too_large') {
      sendEmpty(res, 413, { Connection: 'close' });
      return { status: 413, name };
    }
    let response;
    try {
      response = await invokeHttpFunction(req, { route: resolution.route, params: resolution.params, url: url.href, body: body.bytes, log });
    } catch (error) {
      // As the host: a failed invocation is a bare 500; details go to the log only.
      log(`function ${name} failed: ${describeError(error)}`);
      sendText(res, 500, 'Internal Server Error');
      return { status: 500, name };
    }
    try {
      await writeFunctionResponse(res, response);
    } catch (error) {
      log(`function ${name} returned a response that cannot be sent: ${describeError(error)}`);
      if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
      else res.destroy();
      return { status: 500, name };
    }
    return { status: response.status, name };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    let path = rawUrl.split('?')[0] ?? '/';
    let outcome: { status: number; name?: string };
    try {
      if (!rawUrl.startsWith('/')) {
        sendEmpty(res, 400);
        outcome = { status: 400 };
      } else {
        const url = new URL(`http://127.0.0.1:${port}${rawUrl}`);
        path = url.pathname;
        outcome = /^\/admin(\/|$)/i.test(path)
          ? { status: await handleAdmin(req, res, path) }
          : await handleFunction(req, res, url);
      }
    } catch (error) {
      log(`dev host error on ${method} ${path}: ${describeError(error)}`);
      if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
      else res.destroy();
      outcome = { status: 500 };
    }
    const ms = Math.round(performance.now() - started);
    log(`${method} ${path} ${outcome.status} ${ms}ms${outcome.name ? ` (${outcome.name})` : ''}`);
  }

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  port = await listen(server, options.port ?? DEFAULT_DEV_HOST_PORT);

  const started: QueueListener[] = [];
  try {
    for (const listener of listeners) {
      try {
        await listener.start();
      } catch (error) {
        throw new Error(`Function "${listener.name}": cannot open its queue (${describeError(error)})`, { cause: error });
      }
      started.push(listener);
    }
  } catch (error) {
    await Promise.all(started.map((l) => l.stop()));
    await closeServer(server);
    throw error;
  }
  for (const timer of timers.values()) timer.start();

  const url = `http://127.0.0.1:${port}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    apiUrl: settings.routePrefix === '' ? url : `${url}/${settings.routePrefix}`,
    settings,
    functions,
    runTimer(name: string): Promise<void> {
      const timer = timers.get(name.toLowerCase());
      if (timer === undefined) return Promise.reject(new Error(`No timer function named "${name}"`));
      return timer.run('manual');
    },
    close(): Promise<void> {
      closing ??= (async () => {
        const serverClosed = closeServer(server);
        await Promise.all([...listeners.map((l) => l.stop()), ...[...timers.values()].map((t) => t.stop())]);
        await Promise.allSettled([...adminRuns]);
        await serverClosed;
      })();
      return closing;
    },
  };
}
