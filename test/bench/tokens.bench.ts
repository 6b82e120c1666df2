/**
 * Issue 5 benchmarks, on the real local stack (Azurite, Key Vault server, SuperOffice simulator, dev
 * caller issuer) served by the dev host:
 *  (a) cached token requests through the full path (caller JWT check, policy, audit, cache) — req/s,
 *      p50, p99 — against a baseline route on the same host that only verifies the caller JWT and
 *      inserts one audit row;
 *  (b) 1,000 concurrent requests for one user with a cold cache: upstream refreshes per instance;
 *  (c) Key Vault reads of refresh tokens per user per token lifetime.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import azureFunctions, { type HttpResponseInit } from '@azure/functions';
import { startAzurite } from '../../dev/azurite.js';
import { DEMO_CALLERS } from '../../dev/entra/demoCallers.js';
import { callerIssuerSettings, readDevPolicy, startCallerIssuer } from '../../dev/entra/issuer.js';
import { startDevHost } from '../../dev/host/index.js';
import { startKeyVaultServer } from '../../dev/keyvault/server.js';
import { DEMO_APP, DEMO_REDIRECT_URI, demoApp } from '../../dev/superoffice/seed.js';
import { startSuperOfficeSimulator } from '../../dev/superoffice/simulator.js';
import { tokensHandler } from '../../functions/tokens.js';
import { loadConfig } from '../../shared/config/config.js';
import { callerId } from '../../shared/identity/caller.js';
import { createCallerVerifier } from '../../shared/identity/callerVerifier.js';
import { createLogger } from '../../shared/log/logger.js';
import type { HttpFunctionDefinition } from '../../shared/runtime/registry.js';
import { createRuntime, setRuntime } from '../../shared/runtime/runtime.js';
import { SECRET_NAMES, connectionSecretName } from '../../shared/secrets/names.js';
import { Secret } from '../../shared/secrets/secret.js';
import { signIn } from '../dev/superoffice/helpers.js';
import { testEnv } from '../support/config.js';
import { result, type BenchResult } from './types.js';

const { HttpRequest, InvocationContext } = azureFunctions;
const SECONDS = 5;
const CONNECTIONS = 16;
const COLD_REQUESTS = 1000;
const USERS = [5, 6, 7, 8];
const REQUESTS_PER_USER = 50;

export async function run(): Promise<BenchResult[]> {
  const [azurite, vault, sim, issuer] = await Promise.all([startAzurite(), startKeyVaultServer(), startSuperOfficeSimulator({ apps: [demoApp()] }), startCallerIssuer()]);
  const out: BenchResult[] = [];
  try {
    const config = loadConfig(testEnv({
      KEY_VAULT_URL: vault.url,
      AzureWebJobsStorage: azurite.connectionString,
      SUPEROFFICE_CLIENT_ID: DEMO_APP.clientId,
      SUPEROFFICE_REDIRECT_URI: DEMO_REDIRECT_URI,
      SUPEROFFICE_BASE_URL: sim.url,
      SUPEROFFICE_API_HOSTS: new URL(sim.apiHostUrl).host,
      BROKER_POLICY: readDevPolicy(),
      LOG_LEVEL: 'error',
      ...callerIssuerSettings(issuer),
    }));
    const quiet = createLogger({ level: 'error', sink: () => undefined });
    const runtime = createRuntime(config, { logger: quiet });
    setRuntime(runtime);
    for (const [name, value] of [[SECRET_NAMES.clientSecret, DEMO_APP.clientSecret], [SECRET_NAMES.auditHmacKey, randomBytes(32).toString('base64')]] as const) {
      await runtime.secrets.set(name, new Secret(value));
    }
    for (const associateId of USERS) {
      const tokens = await signIn(sim, { associateId, tenant: 'Cust12345' });
      await runtime.secrets.set(connectionSecretName('sod', 'Cust12345', String(associateId)), new Secret(tokens.refresh_token));
      await runtime.connections.saveConsent({ env: 'sod', ctx: 'Cust12345', associateId: String(associateId), webApiUrl: `${sim.url}/Cust12345/api/`, isAdministrator: false, systemUserStored: false, consentedAt: new Date().toISOString(), consentedBy: 'bench' });
    }
    const bearer = `Bearer ${await issuer.mint(DEMO_CALLERS.integration, { lifetimeSec: 3600 })}`;

    // Baseline: the same host, one route that only verifies the caller JWT and inserts one audit row.
    const verifier = createCallerVerifier({ entra: config.entra, logger: quiet });
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
      const body = JSON.stringify({ ctx: 'Cust12345', associateId: '6' });
      const load = async (path: string) => {
        const r = await autocannon({ url: `${host.url}${path}`, connections: CONNECTIONS, duration: SECONDS, method: 'POST', headers: { authorization: bearer, 'content-type': 'application/json' }, body } as Parameters<typeof autocannon>[0]);
        return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx + r.errors };
      };
      const warm = await fetch(`${host.url}/api/tokens`, { method: 'POST', headers: { authorization: bearer, 'content-type': 'application/json' }, body });
      if (warm.status !== 200) throw new Error(`warm-up token request answered ${warm.status}: ${await warm.text()}`);
      await load('/api/bench-baseline'); // warm both paths once
      const base = await load('/api/bench-baseline');
      const refreshesBefore = sim.counters.get('tokens');
      const full = await load('/api/tokens');
      const refreshes = sim.counters.get('tokens') - refreshesBefore;
      const note = `${CONNECTIONS} connections, ${SECONDS} s; non-2xx/errors ${full.non2xx} (baseline ${base.non2xx}); upstream refreshes during load ${refreshes}`;
      out.push(result('(a) cached token requests, full path', full.rps, base.rps, 'req/s', note));
      out.push(result('(a) cached token requests, p50', full.p50, base.p50, 'ms', 'baseline: JWT check + one audit insert'));
      out.push(result('(a) cached token requests, p99', full.p99, base.p99, 'ms', 'baseline: JWT check + one audit insert'));
    } finally {
      await host.close();
    }

    // (b) A new instance (cold cache): 1,000 concurrent requests for one user.
    const cold = createRuntime(config, { logger: quiet });
    setRuntime(cold);
    const before = sim.counters.get('tokens');
    const request = () => new HttpRequest({ method: 'POST', url: 'http://127.0.0.1/api/tokens', headers: { authorization: bearer, 'content-type': 'application/json' }, body: { string: JSON.stringify({ ctx: 'Cust12345', associateId: '7' }) } });
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: COLD_REQUESTS }, async () => ((await tokensHandler(request(), new InvocationContext({ functionName: 'tokens' }))) as HttpResponseInit).status));
    const refreshes = sim.counters.get('tokens') - before;
    const failed = answers.filter((s) => s !== 200).length;
    out.push(result('(b) upstream refreshes for 1,000 concurrent cold requests', refreshes, COLD_REQUESTS, 'refreshes', `target 1 per instance; baseline = one refresh per request; non-200 ${failed}; ${Date.now() - started} ms`));

    // (c) A new instance: Key Vault reads of refresh tokens per user over a token lifetime.
    const fresh = createRuntime(config, { logger: quiet });
    setRuntime(fresh);
    const rtReadsBefore = vault.requests.filter((r) => r.method === 'GET' && r.authenticated && r.secretName?.toLowerCase().startsWith('so-rt-')).length;
    for (const associateId of USERS) {
      for (let i = 0; i < REQUESTS_PER_USER; i++) {
        const r = request();
        const req = new HttpRequest({ method: 'POST', url: r.url, headers: { authorization: bearer, 'content-type': 'application/json' }, body: { string: JSON.stringify({ ctx: 'Cust12345', associateId: String(associateId) }) } });
        await tokensHandler(req, new InvocationContext({ functionName: 'tokens' }));
      }
    }
    const rtReads = vault.requests.filter((r) => r.method === 'GET' && r.authenticated && r.secretName?.toLowerCase().startsWith('so-rt-')).length - rtReadsBefore;
    out.push(result('(c) Key Vault reads per user per token lifetime', rtReads / USERS.length, REQUESTS_PER_USER, 'reads/user', `target 1; baseline = one read per request (${REQUESTS_PER_USER} requests per user, ${USERS.length} users)`));
    setRuntime(undefined);
    return out;
  } finally {
    await Promise.allSettled([azurite.stop(), vault.close(), sim.close(), issuer.close()]);
  }
}
