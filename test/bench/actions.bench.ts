/**
 * Issue 13 benchmark on the local stack (Azurite queues and tables through the dev host's queue trigger,
 * the Key Vault server, the SuperOffice simulator): actions completed per second — accepted by the
 * actions service, signed onto the `actions` queue, executed by `actionsExecute`, result stored —
 * against a baseline of the same Web API calls made directly through the proxy's call path in the same run.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { startAzurite } from '../../dev/azurite.js';
import { startDevHost } from '../../dev/host/index.js';
import { startKeyVaultServer } from '../../dev/keyvault/server.js';
import { DEMO_APP, DEMO_REDIRECT_URI, demoApp } from '../../dev/superoffice/seed.js';
import { startSuperOfficeSimulator } from '../../dev/superoffice/simulator.js';
import '../../functions/actions.js';
import { loadConfig } from '../../shared/config/config.js';
import type { Caller } from '../../shared/identity/caller.js';
import { createLogger } from '../../shared/log/logger.js';
import { parseProxyPath } from '../../shared/proxy/path.js';
import { listFunctions } from '../../shared/runtime/registry.js';
import { createRuntime, setRuntime } from '../../shared/runtime/runtime.js';
import { SECRET_NAMES, connectionSecretName } from '../../shared/secrets/names.js';
import { Secret } from '../../shared/secrets/secret.js';
import { signIn } from '../dev/superoffice/helpers.js';
import { testEnv } from '../support/config.js';
import { result, type BenchResult } from './types.js';

const ACTIONS = 200;
const CONCURRENCY = 16;
const TID = '11111111-1111-4111-8111-111111111111';
const CALLER: Caller = { tid: TID, oid: 'aaaaaaaa-0000-4000-8000-000000000001', azp: 'aaaaaaaa-0000-4000-8000-0000000000a1', idtyp: 'app', roles: ['Actions.Run'], tokenVersion: '2.0' };

async function inParallel(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await work(next++);
  }));
}

export async function run(): Promise<BenchResult[]> {
  const [azurite, vault, sim] = await Promise.all([startAzurite(), startKeyVaultServer(), startSuperOfficeSimulator({ apps: [demoApp()] })]);
  try {
    const policy = { version: 1, callers: [{ name: 'bench', tid: TID, oid: CALLER.oid, operations: ['actions', 'proxy'], superOffice: [{ env: 'sod', ctx: 'Cust12345', users: '*', webApi: ['GET v1/Contact/*'] }] }] };
    const config = loadConfig(testEnv({
      KEY_VAULT_URL: vault.url, AzureWebJobsStorage: azurite.connectionString, SUPEROFFICE_CLIENT_ID: DEMO_APP.clientId,
      SUPEROFFICE_REDIRECT_URI: DEMO_REDIRECT_URI, SUPEROFFICE_BASE_URL: sim.url, SUPEROFFICE_API_HOSTS: new URL(sim.apiHostUrl).host,
      BROKER_POLICY: JSON.stringify(policy), LOG_LEVEL: 'error',
    }));
    const runtime = createRuntime(config, { logger: createLogger({ level: 'error', sink: () => undefined }) });
    setRuntime(runtime);
    for (const [name, value] of [[SECRET_NAMES.clientSecret, DEMO_APP.clientSecret], [SECRET_NAMES.auditHmacKey, randomBytes(32).toString('base64')], [SECRET_NAMES.actionsHmacKey, randomBytes(32).toString('base64')]] as const) {
      await runtime.secrets.set(name, new Secret(value));
    }
    const tokens = await signIn(sim, { associateId: 6, tenant: 'Cust12345' });
    await runtime.secrets.set(connectionSecretName('sod', 'Cust12345', '6'), new Secret(tokens.refresh_token));
    await runtime.connections.saveConsent({ env: 'sod', ctx: 'Cust12345', associateId: '6', webApiUrl: `${sim.url}/Cust12345/api/`, isAdministrator: false, systemUserStored: false, consentedAt: new Date().toISOString(), consentedBy: 'bench' });

    // Baseline: the same GET through the proxy's call path, directly.
    const direct = async (): Promise<void> => {
      const answer = await runtime.proxy.call({
        ctx: 'Cust12345', actAs: { kind: 'user', associateId: '6' }, method: 'GET', path: parseProxyPath('v1/Contact/101'), headers: new Headers({ accept: 'application/json' }),
        proxyPrefix: '/api/superoffice/Cust12345/6/', deadline: Date.now() + 10_000, signal: new AbortController().signal,
      });
      if (answer.status !== 200) throw new Error(`direct call answered ${answer.status}`);
    };
    await direct();
    const baseStart = performance.now();
    await inParallel(ACTIONS, CONCURRENCY, direct);
    const directPerSec = ACTIONS / ((performance.now() - baseStart) / 1000);

    const host = await startDevHost({ functions: listFunctions().filter((f) => f.name === 'actionsExecute'), port: 0, storageConnectionString: azurite.connectionString, queuePollMs: 100, log: () => undefined });
    try {
      const input = { ctx: 'Cust12345', actAs: '6', request: { method: 'GET' as const, path: 'v1/Contact/101' } };
      await runtime.actions.create(CALLER, randomUUID(), input); // warm the tables, queue and key
      const ids: string[] = [];
      const webApiBefore = sim.counters.get('webapi');
      const started = performance.now();
      await inParallel(ACTIONS, CONCURRENCY, async () => {
        ids.push((await runtime.actions.create(CALLER, randomUUID(), input)).id);
      });
      const accepted = performance.now();
      const pending = new Set(ids);
      let failed = 0;
      while (pending.size > 0 && performance.now() - started < 120_000) {
        for (const id of [...pending]) {
          const view = await runtime.actions.get(CALLER, id);
          if (view.state === 'succeeded' || view.state === 'failed') {
            pending.delete(id);
            if (view.state === 'failed') failed++;
          }
        }
        if (pending.size > 0) await new Promise((r) => setTimeout(r, 100));
      }
      const seconds = (performance.now() - started) / 1000;
      const perSec = (ACTIONS - pending.size) / seconds;
      const note = `${ACTIONS} GET actions, ${CONCURRENCY} producers; accepted in ${((accepted - started) / 1000).toFixed(1)} s; failed ${failed}, unfinished ${pending.size}; Web API calls ${sim.counters.get('webapi') - webApiBefore}; host.json batchSize ${host.settings.queues.batchSize}`;
      return [result('actions completed through Azurite + simulator', perSec, directPerSec, 'actions/s', `${note}; baseline: direct proxied calls/s`)];
    } finally {
      await host.close();
      setRuntime(undefined);
    }
  } finally {
    await Promise.allSettled([azurite.stop(), vault.close(), sim.close()]);
  }
}
