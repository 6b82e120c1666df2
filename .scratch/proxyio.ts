import autocannon from 'autocannon';
import { startDevHost } from '../dev/host/index.js';
import { superofficeProxyHandlers } from '../functions/superoffice.js';
import type { HttpFunctionDefinition } from '../shared/runtime/registry.js';
import { setRuntime } from '../shared/runtime/runtime.js';
import { recordOutboundIo } from '../test/bench/io.js';
import { BENCH_TENANT, startBenchStack } from '../test/bench/stack.js';

const stack = await startBenchStack([6]);
const io = recordOutboundIo(stack.origins);
const runtime = stack.newRuntime();
setRuntime(runtime);
const proxyDef: HttpFunctionDefinition = { kind: 'http', name: 'superofficeGet', route: 'superoffice/{ctx}/{actAs}/{*path}', methods: ['GET'], handler: superofficeProxyHandlers['GET']! };
const host = await startDevHost({ functions: [proxyDef], port: 0, log: () => undefined });
const url = `${host.url}/api/superoffice/${BENCH_TENANT}/6/v1/Contact/101`;
stack.sim.control.setFault('webapi', { kind: 'delay', ms: Number(process.env['L'] ?? 50) });
for (const c of [1, 4, 16]) {
  await autocannon({ url, connections: c, duration: 2, headers: { authorization: stack.bearer } });
  io.take();
  const r = await autocannon({ url, connections: c, duration: 4, headers: { authorization: stack.bearer } });
  const t = io.take();
  console.log(`C=${c} req/s ${r.requests.average} p50 ${r.latency.p50} non2xx ${r.non2xx}`);
  for (const [k, v] of Object.entries(t)) console.log(`   ${k}: ${(v.calls / r.requests.total).toFixed(2)} calls/req, ${(v.totalMs / v.calls).toFixed(1)} ms`);
}
await host.close();
io.stop();
await stack.stop();
