/**
 * Token path benchmarks (issues 5 and 14), on the real local stack (Azurite, Key Vault server,
 * SuperOffice simulator, dev caller issuer) served by the dev host:
 *  (a) cached token requests through the full path (caller JWT check, policy, connection status,
 *      token cache, fingerprint, audit) — req/s, p50, p99 — against a baseline route on the same host
 *      that only verifies the caller JWT and inserts one audit row. Baseline and full path alternate
 *      (B F F B) so that load from elsewhere on the machine falls on both alike; latencies are merged;
 *      both paths are warmed first. Also: outbound calls per request by dependency, and a CPU profile
 *      of each path split into the request's steps (ms per request). And the proxy's overhead: a proxied
 *      GET against the same GET sent directly, at several Web API service times (`BENCH_PROXY_MS`), each on
 *      a fresh stack with the broker in its own process (`proxyOverhead`).
 *  (b) 1,000 concurrent requests for one user with a cold cache: upstream refreshes per instance;
 *  (c) Key Vault reads and writes, SuperOffice token calls and Table calls per user per token lifetime,
 *      which feed (d) the scale model (docs/scale.md): per user per hour at 1, 10 and 100 instances,
 *      and the number of connected users at which each limit is reached.
 * `BENCH_SECONDS` (default 5) sets the measured seconds per path; `BENCH_PROFILE=<dir>` keeps the profiles.
 */
import autocannon from 'autocannon';
import azureFunctions, { type HttpResponseInit } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { startDevHost, type DevHost } from '../../dev/host/index.js';
import { ACCESS_TOKEN_TTL_S } from '../../dev/superoffice/store.js';
import { tokensHandler } from '../../functions/tokens.js';
import { CachedConnectionStore } from '../../shared/connections/statusCache.js';
import { callerId } from '../../shared/identity/caller.js';
import { createCallerVerifier } from '../../shared/identity/callerVerifier.js';
import type { HttpFunctionDefinition } from '../../shared/runtime/registry.js';
import { setRuntime, type Runtime } from '../../shared/runtime/runtime.js';
import { KEY_VAULT_STORE_DEFAULTS } from '../../shared/secrets/keyVaultStore.js';
import { TOKEN_SERVICE_DEFAULTS } from '../../shared/tokens/tokenService.js';
import { startBenchChild, startBrokerProcess, type BenchChild } from './brokerProcess.js';
import { recordOutboundIo, type DependencyIo, type IoRecorder } from './io.js';
import { isBenchOverhead, profiled, saveProfile, steps } from './profile.js';
import { scaleModel, type MeasuredCosts } from './scale.js';
import { BENCH_TENANT, startBenchStack, type BenchStack } from './stack.js';
import { quantile, result, textTable, type BenchReport, type BenchResult } from './types.js';

const { HttpRequest, InvocationContext } = azureFunctions;
const SECONDS = Math.max(1, Number(process.env['BENCH_SECONDS'] ?? 5));
const WARM_SECONDS = Math.max(1, Math.round(SECONDS / 2));
const PROFILE_SECONDS = Math.max(1, Math.round(SECONDS / 2));
const CONNECTIONS = 16;
/** Requests sent along each proxy-bench path before anything is measured (`proxyOverhead`). */
const WARM_REQUESTS = Math.max(0, Number(process.env['BENCH_WARM_REQUESTS'] ?? 6000));
const COLD_REQUESTS = 1000;
const USERS = [5, 6, 7, 8];
const REQUESTS_PER_USER = 50;
/** Web API service times (ms) at which the proxy is compared with direct calls; `BENCH_PROXY_MS=0,50` overrides. */
const PROXY_SERVICE_TIMES_MS = (process.env['BENCH_PROXY_MS'] ?? '0,25,50,100').split(',').map((v) => Number(v.trim())).filter((v) => Number.isInteger(v) && v >= 0 && v <= 10_000);
const DEPENDENCIES = ['table', 'keyVault', 'superOffice', 'superOfficeApi', 'entra', 'other'] as const;

interface Load {
  readonly requests: number;
  readonly seconds: number;
  readonly latencies: number[];
  readonly failures: number;
}

/** Runs autocannon for `seconds` against `path`, keeping every response time. */
async function load(host: DevHost, stack: BenchStack, path: string, seconds: number): Promise<Load> {
  return loadUrl(`${host.url}${path}`, seconds, {
    method: 'POST',
    headers: { authorization: stack.bearer, 'content-type': 'application/json' },
    body: JSON.stringify({ ctx: BENCH_TENANT, associateId: '6' }),
  });
}

/** Runs autocannon for `seconds` (or until `{ amount }` responses) against `url` with one request shape, keeping every response time. */
async function loadUrl(url: string, limit: number | { readonly amount: number }, request: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }): Promise<Load> {
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  const instance = autocannon({
    url, connections: CONNECTIONS, ...(typeof limit === 'number' ? { duration: limit } : { amount: limit.amount }), method: request.method, headers: request.headers,
    ...(request.body !== undefined ? { body: request.body } : {}),
  });
  (instance as unknown as NodeJS.EventEmitter).on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    latencies.push(ms);
    if (status !== 200) failures++;
  });
  const r = await instance;
  return { requests: latencies.length, seconds: (performance.now() - started) / 1000, latencies, failures: failures + r.errors };
}

function merge(loads: readonly Load[]): Load {
  return {
    requests: loads.reduce((n, l) => n + l.requests, 0),
    seconds: loads.reduce((n, l) => n + l.seconds, 0),
    latencies: loads.flatMap((l) => l.latencies),
    failures: loads.reduce((n, l) => n + l.failures, 0),
  };
}

function addIo(into: Map<string, { calls: number; totalMs: number }>, io: Readonly<Record<string, DependencyIo>>): void {
  for (const [k, v] of Object.entries(io)) {
    const e = into.get(k) ?? { calls: 0, totalMs: 0 };
    into.set(k, { calls: e.calls + v.calls, totalMs: e.totalMs + v.totalMs });
  }
}

export async function run(): Promise<BenchReport> {
  const stack = await startBenchStack(USERS);
  const out: BenchResult[] = [];
  const sections: { title: string; text: string }[] = [];
  const io: IoRecorder = recordOutboundIo(stack.origins);
  try {
    const runtime = stack.newRuntime();
    setRuntime(runtime);

    // Baseline: the same host, one route that only verifies the caller JWT and inserts one audit row.
    const verifier = createCallerVerifier({ entra: stack.config.entra, logger: stack.quiet });
    const baselineTable = runtime.storage.table('benchbaseline');
    await baselineTable.createTable();
    const baseline: HttpFunctionDefinition = {
      kind: 'http', name: 'benchBaseline', route: 'bench-baseline', methods: ['POST'],
      handler: async (request) => {
        const token = (request.headers.get('authorization') ?? '').replace(/^Bearer /, '');
        const verified = await verifier.verify(token);
        await baselineTable.createEntity({ partitionKey: callerId(verified.caller), rowKey: randomUUID(), action: 'baseline', at: new Date().toISOString() });
        return { status: 200, jsonBody: { ok: true } };
      },
    };
    const tokensDef: HttpFunctionDefinition = { kind: 'http', name: 'tokens', route: 'tokens', methods: ['POST'], handler: tokensHandler };
        const host = await startDevHost({ functions: [tokensDef, baseline], port: 0, log: () => undefined });
    try {
      const warm = await fetch(`${host.url}/api/tokens`, { method: 'POST', headers: { authorization: stack.bearer, 'content-type': 'application/json' }, body: JSON.stringify({ ctx: BENCH_TENANT, associateId: '6' }) });
      if (warm.status !== 200) throw new Error(`warm-up token request answered ${warm.status}: ${await warm.text()}`);
      await load(host, stack, '/api/bench-baseline', WARM_SECONDS);
      await load(host, stack, '/api/tokens', WARM_SECONDS);

      const half = Math.max(1, Math.round(SECONDS / 2));
      const ioBase = new Map<string, { calls: number; totalMs: number }>();
      const ioFull = new Map<string, { calls: number; totalMs: number }>();
      const vaultBefore = stack.vault.requests.length;
      const refreshesBefore = stack.sim.counters.get('tokens');
      const baseLoads: Load[] = [];
      const fullLoads: Load[] = [];
      for (const which of ['base', 'full', 'full', 'base'] as const) {
        io.take();
        const l = await load(host, stack, which === 'base' ? '/api/bench-baseline' : '/api/tokens', half);
        addIo(which === 'base' ? ioBase : ioFull, io.take());
        (which === 'base' ? baseLoads : fullLoads).push(l);
      }
      const base = merge(baseLoads);
      const full = merge(fullLoads);
      const refreshes = stack.sim.counters.get('tokens') - refreshesBefore;
      const vaultCalls = stack.vault.requests.length - vaultBefore;
      const rps = (l: Load) => l.requests / l.seconds;
      const note = `${CONNECTIONS} connections, B F F B ${half} s each; non-2xx/errors ${full.failures} (baseline ${base.failures}); upstream refreshes ${refreshes}, Key Vault calls ${vaultCalls}`;
      out.push(result('(a) cached token requests, full path', rps(full), rps(base), 'req/s', note));
      out.push(result('(a) cached token requests, p50', quantile(full.latencies, 0.5), quantile(base.latencies, 0.5), 'ms', 'baseline: JWT check + one audit insert'));
      const tail = (l: Load) => `p90 ${quantile(l.latencies, 0.9).toFixed(0)}, p99.9 ${quantile(l.latencies, 0.999).toFixed(0)}, max ${l.latencies.reduce((m, x) => Math.max(m, x), 0).toFixed(0)}`;
      out.push(result('(a) cached token requests, p99', quantile(full.latencies, 0.99), quantile(base.latencies, 0.99), 'ms', `full: ${tail(full)}; baseline: ${tail(base)} ms`));
      const perRequest = (m: Map<string, { calls: number; totalMs: number }>, l: Load, dep: string) => (m.get(dep)?.calls ?? 0) / Math.max(1, l.requests);
      const meanMs = (m: Map<string, { calls: number; totalMs: number }>, dep: string) => { const e = m.get(dep); return e && e.calls > 0 ? e.totalMs / e.calls : 0; };
      const tableRows = DEPENDENCIES.filter((d) => ioFull.has(d) || ioBase.has(d));
      for (const dep of tableRows) {
        out.push(result(`(a) ${dep} calls per request`, perRequest(ioFull, full, dep), perRequest(ioBase, base, dep), 'calls', `mean ${meanMs(ioFull, dep).toFixed(1)} ms per call (baseline ${meanMs(ioBase, dep).toFixed(1)} ms)`));
      }

      // CPU profiles of each path, split into the request's steps.
      const profiles = new Map<'base' | 'full', { perStep: Map<string, number>; requests: number }>();
      for (const [which, path] of [['base', '/api/bench-baseline'], ['full', '/api/tokens']] as const) {
        const { value, profile } = await profiled(() => load(host, stack, path, PROFILE_SECONDS));
        profiles.set(which, { perStep: steps(profile), requests: value.requests });
        if (process.env['BENCH_PROFILE']) saveProfile(process.env['BENCH_PROFILE'], `tokens-${which}`, profile);
      }
      const fullProfile = profiles.get('full')!;
      const stepNames = [...new Set([...fullProfile.perStep.keys(), ...profiles.get('base')!.perStep.keys()])]
        .sort((x, y) => (fullProfile.perStep.get(y) ?? 0) - (fullProfile.perStep.get(x) ?? 0));
      const perReq = (which: 'base' | 'full', step: string) => (profiles.get(which)!.perStep.get(step) ?? 0) / Math.max(1, profiles.get(which)!.requests);
      const brokerSteps = stepNames.filter((s) => !isBenchOverhead(s));
      const stepRows = brokerSteps.map((s) => [s, perReq('full', s).toFixed(3), perReq('base', s).toFixed(3)]);
      const total = (which: 'base' | 'full') => brokerSteps.reduce((n, s) => n + perReq(which, s), 0);
      stepRows.push(['total CPU per request (bench machinery and idle left out)', total('full').toFixed(3), total('base').toFixed(3)]);
      const ioKeys = [...new Set([...ioFull.keys(), ...ioBase.keys()])].sort();
      const ioRows = ioKeys.map((dep) => [`${dep.startsWith('table/') ? `  ${dep}` : dep}: calls per request (mean ms per call)`, `${perRequest(ioFull, full, dep).toFixed(2)} (${meanMs(ioFull, dep).toFixed(1)})`, `${perRequest(ioBase, base, dep).toFixed(2)} (${meanMs(ioBase, dep).toFixed(1)})`]);
      sections.push({
        title: `(a) where a cached token request's time goes — CPU ms per request in the bench process (profiled ${PROFILE_SECONDS} s per path; Azurite runs in its own process, its time is in the awaited I/O below)`,
        text: `${textTable([['step', 'full path', 'baseline'], ...stepRows])}\n\n${textTable([['awaited outbound I/O (measured runs)', 'full path', 'baseline'], ...ioRows])}`,
      });
    } finally {
      await host.close();
    }

    // (b) A new instance (cold cache): 1,000 concurrent requests for one user.
    const cold = stack.newRuntime();
    setRuntime(cold);
    const before = stack.sim.counters.get('tokens');
    const request = (associateId: string) => new HttpRequest({ method: 'POST', url: 'http://127.0.0.1/api/tokens', headers: { authorization: stack.bearer, 'content-type': 'application/json' }, body: { string: JSON.stringify({ ctx: BENCH_TENANT, associateId }) } });
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: COLD_REQUESTS }, async () => ((await tokensHandler(request('7'), new InvocationContext({ functionName: 'tokens' }))) as HttpResponseInit).status));
    const coldRefreshes = stack.sim.counters.get('tokens') - before;
    const failed = answers.filter((s) => s !== 200).length;
    out.push(result('(b) upstream refreshes for 1,000 concurrent cold requests', coldRefreshes, COLD_REQUESTS, 'refreshes', `target 1 per instance; baseline = one refresh per request; non-200 ${failed}; ${Date.now() - started} ms`));

    // (c) A new instance: what one token lifetime costs per user (Key Vault, SuperOffice, Table).
    const fresh: Runtime = stack.newRuntime();
    setRuntime(fresh);
    const isRtRead = (r: { method: string; authenticated: boolean; secretName?: string | undefined }) => r.method === 'GET' && r.authenticated && (r.secretName?.toLowerCase().startsWith('so-rt-') ?? false);
    const isOtherRead = (r: { method: string; authenticated: boolean; secretName?: string | undefined }) => r.method === 'GET' && r.authenticated && !isRtRead(r);
    const isWrite = (r: { method: string; authenticated: boolean }) => r.authenticated && (r.method === 'PUT' || r.method === 'PATCH');
    const vaultFrom = stack.vault.requests.length;
    const tokenCallsBefore = stack.sim.counters.get('tokens');
    const tenantCallsBefore = stack.sim.counters.get('state');
    io.take();
    for (const associateId of USERS) {
      for (let i = 0; i < REQUESTS_PER_USER; i++) await tokensHandler(request(String(associateId)), new InvocationContext({ functionName: 'tokens' }));
    }
    const lifetimeIo = io.take();
    const vaultSeen = stack.vault.requests.slice(vaultFrom);
    const requests = USERS.length * REQUESTS_PER_USER;
    const tableCalls = (prefix: string) => Object.entries(lifetimeIo).filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v.calls, 0);
    const costs: MeasuredCosts = {
      keyVaultReadsPerRefresh: vaultSeen.filter(isRtRead).length / USERS.length,
      keyVaultWritesPerRefresh: vaultSeen.filter(isWrite).length / USERS.length,
      keyVaultInstanceReads: vaultSeen.filter(isOtherRead).length,
      superOfficeTokenCallsPerRefresh: (stack.sim.counters.get('tokens') - tokenCallsBefore) / USERS.length,
      superOfficeTenantStateCalls: stack.sim.counters.get('state') - tenantCallsBefore,
      auditTableCallsPerRequest: (tableCalls('table/audit') + tableCalls('table/$batch')) / requests,
      connectionWritesPerRefresh: (tableCalls('table/connections MERGE') + tableCalls('table/connections PUT') + tableCalls('table/connections PATCH')) / USERS.length,
      statusCacheMs: stack.config.connectionStatusCacheMs,
      statusCacheOn: fresh.connections instanceof CachedConnectionStore,
      tokenLifetimeSec: ACCESS_TOKEN_TTL_S,
      refreshAheadSec: TOKEN_SERVICE_DEFAULTS.refreshAheadMs / 1000,
      secretCacheTtlSec: KEY_VAULT_STORE_DEFAULTS.cacheTtlMs / 1000,
    };
    const connectionReads = tableCalls('table/connections GET') / USERS.length;
    out.push(result('(c) Key Vault reads per user per token lifetime', costs.keyVaultReadsPerRefresh, REQUESTS_PER_USER, 'reads/user', `target 1; baseline = one read per request (${REQUESTS_PER_USER} requests per user, ${USERS.length} users); writes ${costs.keyVaultWritesPerRefresh}/user; app secrets read by a new instance: ${costs.keyVaultInstanceReads}`));
    out.push(result('(c) SuperOffice token calls per user per token lifetime', costs.superOfficeTokenCallsPerRefresh, REQUESTS_PER_USER, 'calls/user', `target 1; tenant-state calls ${costs.superOfficeTenantStateCalls} for the tenant`));
    out.push(result('(c) connection reads per user per token lifetime', connectionReads, REQUESTS_PER_USER, 'reads/user', `status cache ${costs.statusCacheOn ? `${costs.statusCacheMs} ms` : 'off'}; baseline = one read per request; plus ${costs.connectionWritesPerRefresh} write(s) per refresh, audit ${costs.auditTableCallsPerRequest.toFixed(2)} Table calls per request`));

    const model = scaleModel(costs);
    sections.push({ title: '(d) scale model (docs/scale.md), from the counts measured in (c)', text: model.text });
    setRuntime(undefined);
  } finally {
    io.stop();
    await stack.stop();
  }
  for (const serviceMs of PROXY_SERVICE_TIMES_MS) out.push(...(await proxyOverhead(serviceMs)));
  return { results: out, sections };
}

/**
 * The proxy: a proxied GET (caller JWT, policy, cached user token, the Web API call, one audit record)
 * against the same GET sent straight to the simulator with the user's cached token (the irreducible
 * upstream call), at one Web API service time. The simulator answers in-process in well under a
 * millisecond; SuperOffice Online is a network round trip plus NetServer's own work away, so the Web API
 * waits `serviceMs` (the simulator's `delay` fault, so all paths wait alike); 0 ms is the broker's raw
 * cost. The broker runs in a process of its own, as in production, so that the load generator and the
 * simulator do not take its CPU. Each service time gets a fresh stack, so that one run's rows do not
 * slow the next.
 *
 * Two reference relays (`relayChild.ts`), each in its own process too, are measured in the same run: a
 * bare relay (what any proxy does, nothing of the broker's) and the same with one Table insert per call
 * before the answer (the least a fail-closed record costs). Their ratios are the ceilings any proxy, and
 * any proxy that records each call durably, reaches on this machine at that service time.
 */
async function proxyOverhead(serviceMs: number): Promise<BenchResult[]> {
  const stack = await startBenchStack([6]);
  const token = await stack.newRuntime().tokens.getUserToken({ ctx: BENCH_TENANT, associateId: '6', deadline: Date.now() + 10_000 });
  const webApiUrl = new URL('v1/Contact/101', token.webApiUrl).href;
  const userBearer = `Bearer ${token.accessToken.reveal()}`;
  const relayEnv = { RELAY_TARGET: webApiUrl, RELAY_AUTHORIZATION: userBearer, RELAY_STORAGE: stack.azurite.connectionString };
  const children = await Promise.allSettled([
    startBrokerProcess(stack.env, ['superofficeGet']),
    startBenchChild('test/bench/relayChild.ts', { ...relayEnv, RELAY_MODE: 'relay' }),
    startBenchChild('test/bench/relayChild.ts', { ...relayEnv, RELAY_MODE: 'relay+insert' }),
  ]);
  try {
    const [broker, relay, relayInsert] = children.map((c) => {
      if (c.status === 'rejected') throw c.reason;
      return c.value;
    }) as [BenchChild, BenchChild, BenchChild];
    const getAs = (authorization: string) => ({ method: 'GET' as const, headers: { authorization, accept: 'application/json' } });
    const paths = {
      direct: { url: webApiUrl, request: getAs(userBearer) },
      proxied: { url: `${broker.url}/api/superoffice/${BENCH_TENANT}/6/v1/Contact/101`, request: getAs(stack.bearer) },
      relay: { url: `${relay.url}/v1/Contact/101`, request: getAs('none') },
      relayInsert: { url: `${relayInsert.url}/v1/Contact/101`, request: getAs('none') },
    };
    type Path = keyof typeof paths;
    const order: readonly Path[] = ['direct', 'proxied', 'relay', 'relayInsert'];
    // Steady state first. The broker, the relays, the simulator and Azurite are fresh processes whose code
    // V8 compiles as it runs: the broker's CPU per proxied GET falls from about 5 ms in its first second to
    // about 1.5 ms after some 3,000 requests, which would otherwise be measured as proxy overhead (a
    // production instance serves far more than that between cold starts, and cold start has a bench of its
    // own). The warm-up is a number of requests, sent with the Web API answering at once so that it is quick
    // at every service time.
    if (WARM_REQUESTS > 0) {
      for (const path of order) await loadUrl(paths[path].url, { amount: WARM_REQUESTS }, paths[path].request);
    }
    if (serviceMs > 0) stack.sim.control.setFault('webapi', { kind: 'delay', ms: serviceMs });
    for (const path of order) await loadUrl(paths[path].url, WARM_SECONDS, paths[path].request);
    // `SECONDS` * 2 per path, in four phases of `SECONDS` / 2 in a symmetric order (B P R I I R P B, twice),
    // so that the machine's pauses (and its drift during the run) fall on every path alike.
    const loads: Record<Path, Load[]> = { direct: [], proxied: [], relay: [], relayInsert: [] };
    let brokerCpuMs = 0;
    const cycle = [...order, ...[...order].reverse()];
    for (const path of [...cycle, ...cycle]) {
      const cpuBefore = broker.cpuMs();
      loads[path].push(await loadUrl(paths[path].url, SECONDS / 2, paths[path].request));
      const cpuAfter = broker.cpuMs();
      if (path === 'proxied' && cpuBefore !== undefined && cpuAfter !== undefined) brokerCpuMs += cpuAfter - cpuBefore;
    }
    const [d, p, r, ri] = order.map((path) => merge(loads[path])) as [Load, Load, Load, Load];
    const rps = (l: Load) => l.requests / l.seconds;
    const label = serviceMs === 0 ? 'simulator answers at once' : `Web API takes ${serviceMs} ms`;
    const same = `${CONNECTIONS} connections, ${SECONDS * 2} s per path in phases of ${SECONDS / 2} s (B P R I I R P B, twice) on a fresh stack after ${WARM_REQUESTS} warm-up requests per path`;
    return [
      result(`(a) proxy overhead, ${label}: proxied GET throughput`, rps(p), rps(d), 'req/s', `goal >= 0.80x; baseline: the same GET v1/Contact/101 sent to the simulator directly with the cached token; ${same}; broker in its own process, ${(brokerCpuMs / Math.max(1, p.requests)).toFixed(2)} ms CPU per proxied GET; non-2xx ${p.failures} (direct ${d.failures})`),
      result(`(a) proxy overhead, ${label}: p50 added by the broker`, quantile(p.latencies, 0.5) - quantile(d.latencies, 0.5), quantile(d.latencies, 0.5), 'ms', `p99 ${quantile(p.latencies, 0.99).toFixed(1)} vs ${quantile(d.latencies, 0.99).toFixed(1)} ms direct`),
      result(`(a) proxy overhead, ${label}: reference, bare relay`, rps(r), rps(d), 'req/s', `ceiling for any proxy here: the GET relayed with the token and nothing else (test/bench/relayChild.ts); non-2xx ${r.failures}`),
      result(`(a) proxy overhead, ${label}: reference, relay + one Table insert`, rps(ri), rps(d), 'req/s', `ceiling for a proxy that records each call durably before answering; non-2xx ${ri.failures}`),
    ];
  } finally {
    await Promise.allSettled(children.map(async (c) => (c.status === 'fulfilled' ? c.value.stop() : undefined)));
    await stack.stop();
  }
}
