/**
 * The fuzzer (issue 15 point 1): for every HTTP endpoint the functions declare, requests generated from
 * its published OpenAPI operation (`inputs.ts`), sent by valid and invalid callers (`callers.ts`) over
 * HTTP to the local stack's dev host, every response checked (`check.ts`). The stack runs on this
 * thread; the clients that generate, send and check run in worker threads (`client.ts`), each with its
 * share of every endpoint's requests. Generation is deterministic for a seed and a worker count.
 */
import { Worker } from 'node:worker_threads';
import { listEndpoints } from '../../shared/http/endpoint.js';
import { openApiDocument } from '../../shared/http/openapi.js';
import { fuzzCallers } from './callers.js';
import type { ViolationKind } from './check.js';
import { EXAMPLES_PER_KIND, emptyViolations, type ClientInput, type ClientResult, type EndpointStats, type EndpointTarget, type ViolationExample } from './client.js';
import type { Operation } from './inputs.js';
import type { FuzzStack } from './stack.js';

export type { EndpointStats, ViolationExample } from './client.js';

export interface FuzzOptions {
  /** Requests per endpoint. */
  readonly runs: number;
  readonly seed: number;
  /** Requests in flight at once, over all workers. */
  readonly concurrency?: number;
  /** Client threads; default 1. */
  readonly workers?: number;
  /** Only endpoints whose name matches. */
  readonly only?: RegExp;
  readonly timeoutMs?: number;
  /** Called after each endpoint with its statistics and the time since the run started. */
  readonly onEndpoint?: (stats: EndpointStats, elapsedMs: number) => void;
}

export interface FuzzSummary {
  readonly seed: number;
  readonly requests: number;
  readonly endpoints: number;
  /** Responses with a 5xx other than a declared 503 with Retry-After. */
  readonly serverErrors: number;
  readonly violations: Readonly<Record<ViolationKind, number>>;
  /** Up to 10 examples per kind. */
  readonly examples: readonly ViolationExample[];
  readonly byEndpoint: readonly EndpointStats[];
  readonly durationMs: number;
}

/** A client thread: sends it an endpoint, resolves with its result. */
interface ClientThread {
  run(endpoint: EndpointTarget): Promise<ClientResult>;
  stop(): Promise<void>;
}

function startClientThread(input: ClientInput): ClientThread {
  const worker = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: input });
  let pending: { resolve: (r: ClientResult) => void; reject: (e: Error) => void } | undefined;
  let failure: Error | undefined;
  const fail = (error: Error): void => {
    failure ??= error;
    pending?.reject(error);
    pending = undefined;
  };
  worker.on('message', (result: ClientResult) => {
    pending?.resolve(result);
    pending = undefined;
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`a fuzzer client thread exited (code ${code})`)));
  return {
    run(endpoint) {
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
        worker.postMessage(endpoint);
      });
    },
    async stop() {
      worker.postMessage(null);
      await worker.terminate();
    },
  };
}

/**
 * Runs the fuzzer against a started stack; resolves to the summary (it never throws for a failed check).
 * Each endpoint is fuzzed on a new broker instance (`FuzzStack.newInstance`), with the stack's users
 * connected again, so that an endpoint fuzzed earlier (a revocation) does not keep later ones from reaching
 * their handlers.
 */
export async function runFuzz(stack: FuzzStack, options: FuzzOptions): Promise<FuzzSummary> {
  const started = performance.now();
  const all = listEndpoints();
  const endpoints = all.filter((e) => options.only === undefined || options.only.test(e.name));
  const document = openApiDocument(all) as { paths: Record<string, Record<string, Operation>> };
  const callers = await fuzzCallers(stack.issuer);
  const workers = Math.max(1, options.workers ?? 1);
  const concurrency = Math.max(workers, options.concurrency ?? 64);
  const routes = all.map((e) => {
    // The document names a catch-all `{*path}` as `{path}`.
    const operation = document.paths[`/api/${e.route.replace(/\{\*/g, '{')}`]?.[e.method.toLowerCase()];
    if (operation === undefined) throw new Error(`${e.name} is not in the OpenAPI document`);
    return { name: e.name, route: e.route, method: e.method, operation };
  });
  const threads = Array.from({ length: workers }, () => startClientThread({
    hostUrl: stack.hostUrl,
    routes,
    callers,
    concurrency: Math.ceil(concurrency / workers),
    timeoutMs: options.timeoutMs ?? 30_000,
  }));

  const violations = emptyViolations();
  const examples: ViolationExample[] = [];
  const byEndpoint = new Map<string, EndpointStats>();
  let requests = 0;
  let serverErrors = 0;
  try {
    for (const [index, endpoint] of endpoints.entries()) {
      const operation = routes.find((r) => r.name === endpoint.name)!.operation;
      const accepted = (operation as { 'x-required-role'?: readonly string[] | null })['x-required-role'] ?? [];
      const preferred = callers.flatMap((c, i) => (c.valid && c.roles.some((r) => accepted.includes(r)) ? [i] : []));
      stack.newInstance();
      await stack.reconnect();
      const results = await Promise.all(threads.map((thread, w) => thread.run({
        name: endpoint.name, method: endpoint.method, route: endpoint.route, operation, preferred, canaries: [...stack.canaries],
        runs: Math.floor(options.runs / workers) + (w < options.runs % workers ? 1 : 0),
        seed: (options.seed + index * 7919 + w * 104_729) % 2 ** 31,
      })));
      for (const result of results) {
        requests += result.requests;
        serverErrors += result.serverErrors;
        for (const [kind, n] of Object.entries(result.violations) as [ViolationKind, number][]) violations[kind] += n;
        for (const example of result.examples) if (examples.filter((e) => e.kind === example.kind).length < EXAMPLES_PER_KIND) examples.push(example);
        for (const stats of result.byEndpoint) {
          const into = byEndpoint.get(stats.name) ?? { name: stats.name, method: stats.method, route: stats.route, requests: 0, statuses: {} };
          into.requests += stats.requests;
          for (const [status, n] of Object.entries(stats.statuses)) into.statuses[status] = (into.statuses[status] ?? 0) + n;
          byEndpoint.set(stats.name, into);
        }
      }
      const done = byEndpoint.get(endpoint.name);
      if (done !== undefined) options.onEndpoint?.(done, performance.now() - started);
    }
  } finally {
    await Promise.all(threads.map((t) => t.stop()));
  }
  return { seed: options.seed, requests, endpoints: byEndpoint.size, serverErrors, violations, examples, byEndpoint: [...byEndpoint.values()], durationMs: performance.now() - started };
}

/** The one summary line of issue 15. */
export function summaryLine(summary: FuzzSummary): string {
  return `fuzz: ${summary.requests} requests over ${summary.endpoints} endpoints, ${summary.serverErrors} server errors`;
}
