/**
 * Audit trail benchmarks (requirements 57–60; docs/audit.md "Throughput"): append throughput of the
 * Table Storage lanes on Azurite, for one caller and for many callers, against raw inserts of the same
 * entities; one caller's throughput and failed appends as the broker scales out to 1, 2, 4, 8 and 16
 * instances (each with its own storage clients and lane state, 16 appends in flight, as Flex
 * Consumption runs 16 requests per instance by default); and the latency the audit adds to a request
 * through the real HTTP wrapper, against the same route with a no-op recorder. Loopback only; starts
 * and stops its own Azurite; every phase is bounded in time.
 *
 * `AUDIT_BENCH=instances npm run bench -- audit` runs only the scale-out section.
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

// A default import: the package is a CommonJS bundle whose named exports native ESM cannot see (docs/azure.md §2).
const { HttpRequest, InvocationContext } = azureFunctions;

const PHASE_MS = 3_000;
const HTTP_SECONDS = 4;
const HTTP_CONNECTIONS = 10;
const MANY_CALLERS = 50;
const CONCURRENCY = 64;
const INSTANCE_COUNTS = [1, 2, 4, 8, 16] as const;
const IN_FLIGHT_PER_INSTANCE = 16;
const SCALE_PHASE_MS = 4_000;
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

/**
 * One caller, K simulated instances, 16 appends in flight each. After one warm-up record per instance
 * (its lane's start: the tables and the registry row), every instance appends for `SCALE_PHASE_MS`;
 * a rejected append is counted as failed (a fail-closed route would have answered 503).
 */
async function scaleOut(azurite: Azurite): Promise<BenchResult[]> {
  const caller = callerNo(7000);
  const rows: { instances: number; perSecond: number; appended: number; failed: number; p99: number }[] = [];
  for (const k of INSTANCE_COUNTS) {
    const instances = Array.from({ length: k }, (_, i) => recorderFor(azurite, `scale-${k}-${i}`));
    let failed = 0;
    await Promise.all(instances.map((r, i) => r.record(entry({ caller, correlationId: `warm-${k}-${i}` })).catch(() => failed++)));
    const latencies: number[] = [];
    let appended = 0;
    const started = performance.now();
    const until = started + SCALE_PHASE_MS;
    await Promise.all(instances.flatMap((r, i) => Array.from({ length: IN_FLIGHT_PER_INSTANCE }, async (_, w) => {
      for (let n = 0; performance.now() < until; n++) {
        const t = performance.now();
        try {
          await r.record(entry({ caller, correlationId: `s${k}-${i}-${w}-${n}` }));
          appended++;
          latencies.push(performance.now() - t);
        } catch {
          failed++;
        }
      }
    })));
    const elapsed = (performance.now() - started) / 1000;
    rows.push({ instances: k, perSecond: appended / elapsed, appended, failed, p99: quantile(latencies, 0.99) });
  }
  const one = rows[0]!.perSecond;
  return rows.map((r) => result(
    `audit append, one caller, ${r.instances} instance${r.instances === 1 ? '' : 's'} x ${IN_FLIGHT_PER_INSTANCE} in flight`,
    r.perSecond,
    one,
    'records/s',
    `appended ${r.appended}, failed ${r.failed}; p99 ${r.p99.toFixed(1)} ms; baseline: 1 instance`,
  ));
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

/** The audit benchmarks; about 75 s in all (`AUDIT_BENCH=instances`: the scale-out section only, about 25 s). */
export async function run(): Promise<BenchResult[]> {
  const only = process.env['AUDIT_BENCH'];
  const azurite = await startAzurite();
  try {
    if (only === 'instances') return await scaleOut(azurite);
    return [...(await throughput(azurite)), ...(await scaleOut(azurite)), ...(await latency(azurite))];
  } finally {
    await azurite.stop();
  }
}
