/**
 * A bench-only recorder of the broker's outbound I/O: every HTTP call the process makes (the Azure SDK
 * through `node:http`, `fetch` through undici) is seen on Node's diagnostics channels, attributed to a
 * dependency by its origin (Table Storage, Key Vault, SuperOffice, Entra issuer), and timed from the
 * request's start to its response headers. Nothing in `shared/` knows about it.
 */
import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';

export interface DependencyIo {
  /** Outbound calls seen. */
  readonly calls: number;
  /** Sum of each call's time to response headers, ms. */
  readonly totalMs: number;
}

export interface IoRecorder {
  /** Starts a new window; returns what was recorded since the last `take()` (or the start). */
  take(): Readonly<Record<string, DependencyIo>>;
  stop(): void;
}

interface Started {
  readonly dependency: string;
  /** `table/<table name> <METHOD>` for Table Storage calls (`table/$batch POST` for entity group transactions). */
  readonly detail: string | undefined;
  readonly at: number;
}

/** The table a Table Storage request addresses: the first path segment, without `(keys)` or query. */
function tableOf(path: string): string {
  const first = path.split('?')[0]!.split('/').filter(Boolean)[0] ?? '';
  return decodeURIComponent(first.replace(/\(.*$/, '')) || '(service)';
}

/**
 * Records outbound calls to the given origins (e.g. `{ table: 'http://127.0.0.1:53001' }`); calls to other
 * origins count as `other`. Calls to the `table` origin are also counted per table and method as
 * `table/<name> <METHOD>`.
 */
export function recordOutboundIo(origins: Readonly<Record<string, string>>): IoRecorder {
  const byHost = new Map<string, { name: string; basePath: string }>();
  for (const [name, origin] of Object.entries(origins)) {
    const url = new URL(origin);
    const target = { name, basePath: url.pathname.replace(/\/$/, '') };
    byHost.set(`${url.hostname}:${url.port}`, target);
    if (url.hostname === 'localhost') byHost.set(`127.0.0.1:${url.port}`, target);
    if (url.hostname === '127.0.0.1') byHost.set(`localhost:${url.port}`, target);
  }
  let window = new Map<string, { calls: number; totalMs: number }>();
  const add = (started: Started) => {
    const ms = performance.now() - started.at;
    for (const name of started.detail === undefined ? [started.dependency] : [started.dependency, started.detail]) {
      const entry = window.get(name) ?? { calls: 0, totalMs: 0 };
      entry.calls += 1;
      entry.totalMs += ms;
      window.set(name, entry);
    }
  };
  /** A call to `hostPort` + `path` starting now. */
  const started = (hostPort: string, method: string, path: string): Started => {
    const target = byHost.get(hostPort);
    const dependency = target?.name ?? 'other';
    const rest = target !== undefined && path.startsWith(target.basePath) ? path.slice(target.basePath.length) : path;
    return { dependency, detail: dependency === 'table' ? `table/${tableOf(rest)} ${method.toUpperCase()}` : undefined, at: performance.now() };
  };

  const httpStarted = new WeakMap<ClientRequest, Started>();
  const onHttpStart = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    const host = String(request.getHeader('host') ?? `${request.host}`);
    httpStarted.set(request, started(host.includes(':') ? host : `${host}:80`, request.method, request.path));
  };
  const onHttpFinish = (message: unknown) => {
    const { request } = message as { request: ClientRequest; response: IncomingMessage };
    const entry = httpStarted.get(request);
    if (entry === undefined) return;
    httpStarted.delete(request);
    add(entry);
  };

  const fetchStarted = new WeakMap<object, Started>();
  const onFetchCreate = (message: unknown) => {
    const request = (message as { request: { origin: string | URL; method: string; path: string } }).request;
    const url = new URL(String(request.origin));
    fetchStarted.set(request, started(`${url.hostname}:${url.port || '80'}`, request.method, request.path));
  };
  const onFetchHeaders = (message: unknown) => {
    const request = (message as { request: object }).request;
    const entry = fetchStarted.get(request);
    if (entry === undefined) return;
    fetchStarted.delete(request);
    add(entry);
  };

  const subscriptions: [string, (message: unknown) => void][] = [
    ['http.client.request.start', onHttpStart],
    ['http.client.response.finish', onHttpFinish],
    ['undici:request:create', onFetchCreate],
    ['undici:request:headers', onFetchHeaders],
  ];
  for (const [name, listener] of subscriptions) diagnostics.subscribe(name, listener);

  return {
    take() {
      const out = Object.fromEntries([...window].map(([k, v]) => [k, { ...v }]));
      window = new Map();
      return out;
    },
    stop() {
      for (const [name, listener] of subscriptions) diagnostics.unsubscribe(name, listener);
    },
  };
}
