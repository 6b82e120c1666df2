/**
 * Audit trail benchmarks (security.md §7 F; azure.md §5): append throughput of the Table Storage
 * hash chain on Azurite, for one caller's chain and for many callers, against raw inserts of the same
 * entities; and the latency the audit adds to a request through the real HTTP wrapper, against the
 * same route with a no-op recorder. Loopback only; starts and stops its own Azurite; every phase is
 * bounded in time.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import azureFunctions, { type HttpHandler, type HttpResponseInit } from '@azure/functions';
import { TableClient } from '@azure/data-tables';
import autocannon from 'autocannon';
import { startAzurite, type Azurite } from '../../dev/azurite.js';
import { rowKeyOf } from '../../shared/audit/canonical.js';
import { AUDIT_HMAC_KEY_NAME } from '../../shared/audit/fingerprint.js';
import { buildAuditRecord, newEventId } from '../../shared/audit/record.js';
import { createAuditRecorder, type BrokerAuditRecorder } from '../../shared/audit/recorder.js';
import { httpRoute } from '../../shared/http/wrapper.js';
import { createLogger } from '../../shared/log/logger.js';
import { createRuntime, type Runtime } from '../../shared/runtime/runtime.js';
import { callerNo, fakeGuard, storageFor } from '../integration/audit/support.js';
import { testConfig } from '../support/config.js';
import { FakeSecretStore } from '../unit/audit/fakeSecrets.js';
import { entry } from '../unit/audit/fixtures.js';
import { quantile, result, type BenchResult } from './types.js';

// A default import: the package is a CommonJS bundle whose named exports native ESM cannot see (azure.md §2).
const { HttpRequest, InvocationContext } = azureFunctions;

const PHASE_MS = 3_000;
const HTTP_SECONDS = 4;
const HTTP_CONNECTIONS = 10;
const MANY_CALLERS = 50;
const CONCURRENCY = 64;
const silent = createLogger({ level: 'error', sink: () => undefined });

/** Runs `op` from `concurrency` workers until `ms` pass; returns completions per second and per-op latencies. */
async function measureFor(ms: number, concurrency: number, op: (i: number) => Promise<void>): Promise<{ perSecond: number; latencies: number[] }> {
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + ms;
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const i = next++;
      const t = performance.now();
      await op(i);
      latencies.push(performance.now() - t);
    }
  }));
  return { perSecond: latencies.length / ((performance.now() - started) / 1000), latencies };
}

function recorderFor(azurite: Azurite, name: string): BrokerAuditRecorder {
  return createAuditRecorder({
    config: testConfig({ AzureWebJobsStorage: azurite.connectionString, WEBSITE_INSTANCE_ID: name }),
    storage: storageFor(azurite.connectionString),
    secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: 'bench-audit-hmac-key-0123456789abcdef' }),
    logger: silent,
  });
}

const noopRecorder: BrokerAuditRecorder = { record: async () => undefined, fingerprint: async () => `fp1_${'A'.repeat(43)}` };

async function throughput(azurite: Azurite): Promise<BenchResult[]> {
  const raw = TableClient.fromConnectionString(azurite.connectionString, 'benchraw', { allowInsecureConnection: true });
  await raw.createTable();
  const body = buildAuditRecord(entry(), { eventId: newEventId(), now: Date.now(), brokerVersion: '0.1.0', instanceId: 'bench' }).body;
  let rawSeq = 0;
  const rawInsert = (partition: string) => raw.createEntity({ ...body, partitionKey: partition, rowKey: rowKeyOf(++rawSeq), seq: rawSeq, prev_hash: '0'.repeat(64) }).then(() => undefined);
  const out: BenchResult[] = [];

  const phases: { name: string; concurrency: number; caller: (i: number) => number }[] = [
    { name: 'audit append, one caller, 1 in flight', concurrency: 1, caller: () => 1 },
    { name: `audit append, one caller, ${CONCURRENCY} in flight`, concurrency: CONCURRENCY, caller: () => 2 },
    { name: `audit append, ${MANY_CALLERS} callers, ${CONCURRENCY} in flight`, concurrency: CONCURRENCY, caller: (i) => 100 + (i % MANY_CALLERS) },
  ];
  for (const [p, phase] of phases.entries()) {
    const base = await measureFor(PHASE_MS, phase.concurrency, (i) => rawInsert(`raw-${p}-${phase.caller(i)}`));
    const recorder = recorderFor(azurite, `bench-${p}`);
    const chained = await measureFor(PHASE_MS, phase.concurrency, (i) => recorder.record(entry({ caller: callerNo(phase.caller(i)), correlationId: `b${i}` })));
    out.push(result(phase.name, chained.perSecond, base.perSecond, 'records/s', `baseline: raw createEntity, same concurrency; p99 ${quantile(chained.latencies, 0.99).toFixed(1)} ms`));
  }
  return out;
}

/** A token-issuing route as the services will write it: fingerprints the token and annotates the audit record. */
function route(runtime: Runtime, recorder: BrokerAuditRecorder): HttpHandler {
  return httpRoute({ name: 'tokens', access: { kind: 'caller', operation: 'tokens' }, failClosedAudit: true }, async (scope) => {
    scope.annotate({ subject: { env: 'sod', ctx: 'Cust12345', associateId: '5' }, upstreamStatus: 200, tokenFingerprints: [await recorder.fingerprint('bench-access-token')] });
    return { status: 200, jsonBody: { access_token: 'bench-access-token', expires_in: 3600 } };
  }, () => runtime);
}

function runtimeWith(azurite: Azurite, recorder: BrokerAuditRecorder): Runtime {
  return createRuntime(testConfig({ AzureWebJobsStorage: azurite.connectionString }), { audit: recorder, guard: fakeGuard, logger: silent });
}

async function inProcessLatency(handler: HttpHandler, caller: number): Promise<number[]> {
  const call = () => Promise.resolve(handler(new HttpRequest({ method: 'POST', url: 'http://127.0.0.1/api/tokens', headers: { authorization: `Bearer caller-${caller}` } }), new InvocationContext({ functionName: 'tokens' })));
  for (let i = 0; i < 20; i++) await call();
  return (await measureFor(PHASE_MS, 1, () => call().then(() => undefined))).latencies;
}

/** Serves one handler over loopback HTTP (the minimum of a dev host) for autocannon. */
async function serve(handler: HttpHandler): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    req.resume();
    req.on('end', () => {
      Promise.resolve(handler(new HttpRequest({ method: req.method ?? 'GET', url: `http://127.0.0.1${req.url ?? '/'}`, headers }), new InvocationContext({ functionName: 'tokens' })))
        .then((response) => {
          const r = response as HttpResponseInit;
          const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.jsonBody ?? null);
          res.writeHead(r.status ?? 200, { ...(r.headers as Record<string, string> | undefined), 'content-type': 'application/json' });
          res.end(body);
        })
        .catch(() => {
          res.writeHead(500);
          res.end();
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/api/tokens`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function httpLoad(handler: HttpHandler, callers: number): Promise<{ p50: number; p99: number; rps: number; non2xx: number }> {
  const server = await serve(handler);
  try {
    let n = 0;
    const result = await autocannon({
      url: server.url,
      connections: HTTP_CONNECTIONS,
      duration: HTTP_SECONDS,
      requests: [{ method: 'POST', setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: `Bearer caller-${1000 + (n++ % callers)}` } }) }],
    });
    return { p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average, non2xx: result.non2xx + result.errors };
  } finally {
    await server.close();
  }
}

async function latency(azurite: Azurite): Promise<BenchResult[]> {
  const real = recorderFor(azurite, 'bench-latency');
  const withAudit = route(runtimeWith(azurite, real), real);
  const withoutAudit = route(runtimeWith(azurite, noopRecorder), noopRecorder);
  const out: BenchResult[] = [];

  const base = await inProcessLatency(withoutAudit, 500);
  const audited = await inProcessLatency(withAudit, 500);
  for (const [label, q] of [['p50', 0.5], ['p99', 0.99]] as const) {
    const v = quantile(audited, q);
    const b = quantile(base, q);
    out.push(result(`request latency ${label}, in-process, sequential`, v, b, 'ms', `audit adds ${(v - b).toFixed(2)} ms; ${audited.length} requests`));
  }

  const httpBase = await httpLoad(withoutAudit, 1);
  const httpOne = await httpLoad(withAudit, 1);
  const httpMany = await httpLoad(withAudit, MANY_CALLERS);
  const c = `${HTTP_CONNECTIONS} connections, ${HTTP_SECONDS} s`;
  out.push(result(`HTTP latency p50, one caller (${c})`, httpOne.p50, httpBase.p50, 'ms', `non-2xx+errors ${httpOne.non2xx}`));
  out.push(result(`HTTP latency p99, one caller (${c})`, httpOne.p99, httpBase.p99, 'ms'));
  out.push(result(`HTTP latency p50, ${MANY_CALLERS} callers (${c})`, httpMany.p50, httpBase.p50, 'ms', `non-2xx+errors ${httpMany.non2xx}`));
  out.push(result(`HTTP latency p99, ${MANY_CALLERS} callers (${c})`, httpMany.p99, httpBase.p99, 'ms'));
  out.push(result(`HTTP requests/s, one caller (${c})`, httpOne.rps, httpBase.rps, 'req/s'));
  out.push(result(`HTTP requests/s, ${MANY_CALLERS} callers (${c})`, httpMany.rps, httpBase.rps, 'req/s', `baseline non-2xx+errors ${httpBase.non2xx}`));
  return out;
}

/** The audit benchmarks; about 45 s in all. */
export async function run(): Promise<BenchResult[]> {
  const azurite = await startAzurite();
  try {
    return [...(await throughput(azurite)), ...(await latency(azurite))];
  } finally {
    await azurite.stop();
  }
}
