/**
 * The fuzzer's client side (issue 15 point 1): generates the requests of some endpoints from their
 * published OpenAPI operations (`inputs.ts`), sends them over HTTP to the dev host with a bounded number
 * in flight, and checks every response (`check.ts`). It runs in worker threads (`worker.ts`) so that
 * generating and checking do not compete with the stack for the main thread.
 */
import { request as httpRequest, Agent } from 'node:http';
import fc from 'fast-check';
import type { FuzzCaller } from './callers.js';
import { createChecker, type FuzzResponse, type Violation, type ViolationKind } from './check.js';
import { requestsFor, type FuzzRequest, type Operation } from './inputs.js';
import { buildRouteTable, resolveRoute } from '../../dev/host/httpTrigger.js';
import type { HttpFunctionDefinition } from '../../shared/runtime/registry.js';

export interface EndpointTarget {
  readonly name: string;
  readonly method: string;
  readonly route: string;
  readonly operation: Operation;
  /** This client's share of the endpoint's requests, and the seed to generate them from. */
  readonly runs: number;
  readonly seed: number;
  /** Callers whose roles the operation accepts. */
  readonly preferred: readonly number[];
  /** The secrets that must not appear in a response, as of now. */
  readonly canaries: readonly (readonly [string, string])[];
}

/** A function of the host's route table, and its operation. */
export interface RoutedOperation {
  readonly name: string;
  readonly route: string;
  readonly method: string;
  readonly operation: Operation;
}

export interface ClientInput {
  readonly hostUrl: string;
  /** Every HTTP function, so that a response can be checked against the operation the host routed it to. */
  readonly routes: readonly RoutedOperation[];
  readonly callers: readonly FuzzCaller[];
  readonly concurrency: number;
  readonly timeoutMs: number;
}

export interface EndpointStats {
  readonly name: string;
  readonly method: string;
  readonly route: string;
  requests: number;
  readonly statuses: Record<string, number>;
}

export interface ViolationExample extends Violation {
  readonly endpoint: string;
  readonly request: string;
}

export interface ClientResult {
  readonly requests: number;
  readonly serverErrors: number;
  readonly violations: Record<ViolationKind, number>;
  readonly examples: ViolationExample[];
  readonly byEndpoint: EndpointStats[];
}

export const EXAMPLES_PER_KIND = 10;
const MAX_BODY = 4 * 1024 * 1024;
/** Node's (and so the dev host's) header limit; the broker's body limit is 64 KiB. */
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_REQUEST_BODY_BYTES = 64 * 1024;

export function emptyViolations(): Record<ViolationKind, number> {
  return { server_error: 0, undeclared_status: 0, problem_shape: 0, reflected_html: 0, secret_leak: 0, host_status: 0, security_headers: 0, transport_error: 0 };
}

/**
 * A request over a documented size limit may be refused by closing the connection (Node answers 431 and
 * closes; a server that answered 413 closes instead of reading the rest of the body), so the client may see
 * a reset instead of the status: that is a refusal, not a failure.
 */
function oversized(req: FuzzRequest, caller: FuzzCaller): boolean {
  const headerBytes = [...Object.entries(req.headers), ['authorization', caller.authorization ?? ''] as const]
    .reduce((n, [k, v]) => n + k.length + (typeof v === 'string' ? v.length : v.join('').length) + 4, req.target.length + 16);
  return headerBytes > MAX_HEADER_BYTES || (req.body?.length ?? 0) > MAX_REQUEST_BODY_BYTES;
}

function send(agent: Agent, base: URL, req: FuzzRequest, caller: FuzzCaller, timeoutMs: number): Promise<FuzzResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = typeof v === 'string' ? v : [...v];
    if (caller.authorization !== undefined) headers['authorization'] = typeof caller.authorization === 'string' ? caller.authorization : [...caller.authorization];
    // Node sends a body of DELETE or OPTIONS without a length unless told, which a keep-alive server then
    // reads as the start of the next request.
    if (req.body !== undefined) headers['content-length'] = String(req.body.length);
    const outgoing = httpRequest({ host: base.hostname, port: base.port, method: req.method, path: req.target, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY) chunks.push(chunk);
      });
      res.on('end', () => {
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end(req.body);
  });
}

function describeRequest(req: FuzzRequest, caller: FuzzCaller): string {
  const body = req.body === undefined ? '' : ` body(${req.body.length})=${JSON.stringify(req.body.subarray(0, 160).toString('utf8'))}`;
  const headers = Object.entries(req.headers).map(([k, v]) => `${k}=${JSON.stringify(typeof v === 'string' && v.length > 80 ? `${v.slice(0, 40)}…(${v.length})` : v)}`).join(' ');
  return `${req.method} ${req.target.slice(0, 300)} as ${caller.name}${headers === '' ? '' : ` ${headers}`}${body}`;
}

export interface Client {
  /** Fuzzes one endpoint; never throws for a failed check. */
  run(endpoint: EndpointTarget): Promise<ClientResult>;
  close(): void;
}

export function createClient(input: ClientInput): Client {
  const base = new URL(input.hostUrl);
  const table = buildRouteTable(input.routes.map((r) => ({ kind: 'http', name: r.name, route: r.route, methods: [r.method], authLevel: 'anonymous' }) as unknown as HttpFunctionDefinition), 'api');
  const operations = new Map(input.routes.map((r) => [r.name, r.operation]));
  const routed = (method: string, target: string): Operation | undefined => {
    const resolution = resolveRoute(table, method, new URL(target, 'http://h').pathname);
    return resolution.kind === 'found' ? operations.get(resolution.route.definition.name) : undefined;
  };
  const agent = new Agent({ keepAlive: true, maxSockets: input.concurrency });
  return {
    run: (endpoint) => runEndpoint(input, createChecker(new Map(endpoint.canaries)), base, agent, endpoint, routed),
    close: () => agent.destroy(),
  };
}

async function runEndpoint(
  input: ClientInput, checker: ReturnType<typeof createChecker>, base: URL, agent: Agent, endpoint: EndpointTarget,
  routed: (method: string, target: string) => Operation | undefined,
): Promise<ClientResult> {
  const violations = emptyViolations();
  const examples: ViolationExample[] = [];
  const byEndpoint: EndpointStats[] = [];
  let requests = 0;
  let serverErrors = 0;

  const record = (endpoint: string, request: string, found: readonly Violation[]): void => {
    for (const v of found) {
      violations[v.kind] += 1;
      if (v.kind === 'server_error') serverErrors += 1;
      if (examples.filter((e) => e.kind === v.kind).length < EXAMPLES_PER_KIND) examples.push({ ...v, endpoint, request });
    }
  };

  const stats: EndpointStats = { name: endpoint.name, method: endpoint.method, route: endpoint.route, requests: 0, statuses: {} };
  byEndpoint.push(stats);
  const samples = fc.sample(requestsFor(endpoint.route, endpoint.method, endpoint.operation, input.callers.length, endpoint.preferred), { numRuns: endpoint.runs, seed: endpoint.seed });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < samples.length) {
      const req = samples[next++]!;
      const caller = input.callers[req.caller]!;
      let response: FuzzResponse;
      try {
        response = await send(agent, base, req, caller, input.timeoutMs);
      } catch (error) {
        requests += 1;
        stats.requests += 1;
        const refused = oversized(req, caller);
        stats.statuses[refused ? 'closed' : 'error'] = (stats.statuses[refused ? 'closed' : 'error'] ?? 0) + 1;
        if (!refused) record(endpoint.name, describeRequest(req, caller), [{ kind: 'transport_error', detail: error instanceof Error ? error.message : String(error) }]);
        continue;
      }
      requests += 1;
      stats.requests += 1;
      stats.statuses[String(response.status)] = (stats.statuses[String(response.status)] ?? 0) + 1;
      const found = checker.check({ operation: routed(req.method, req.target), response });
      if (found.length > 0) record(endpoint.name, describeRequest(req, caller), found);
    }
  };
  await Promise.all(Array.from({ length: input.concurrency }, worker));
  return { requests, serverErrors, violations, examples, byEndpoint };
}
