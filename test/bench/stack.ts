/**
 * The local stack the token benchmarks run on: Azurite (a child process), the Key Vault server, the
 * SuperOffice simulator and the dev caller issuer (in this process), seeded with the app's secrets and
 * connected users, and the broker's settings for them (for a runtime here or a child process).
 */
import { randomBytes } from 'node:crypto';
import { startAzurite, type Azurite } from '../../dev/azurite.js';
import { DEMO_CALLERS } from '../../dev/entra/demoCallers.js';
import { callerIssuerSettings, readDevPolicy, startCallerIssuer, type CallerIssuer } from '../../dev/entra/issuer.js';
import { startKeyVaultServer, type KeyVaultServer } from '../../dev/keyvault/server.js';
import { DEMO_APP, DEMO_REDIRECT_URI, demoApp } from '../../dev/superoffice/seed.js';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../dev/superoffice/simulator.js';
import { loadConfig, type Config } from '../../shared/config/config.js';
import { createLogger, type Logger } from '../../shared/log/logger.js';
import { createRuntime, type Runtime } from '../../shared/runtime/runtime.js';
import { SECRET_NAMES, connectionSecretName } from '../../shared/secrets/names.js';
import { Secret } from '../../shared/secrets/secret.js';
import { signIn } from '../dev/superoffice/helpers.js';
import { testEnv } from '../support/config.js';

export const BENCH_TENANT = 'Cust12345';

export interface BenchStack {
  readonly azurite: Azurite;
  readonly vault: KeyVaultServer;
  readonly sim: SuperOfficeSimulator;
  readonly issuer: CallerIssuer;
  /** The broker's settings for this stack (also for a child process). */
  readonly env: Readonly<Record<string, string>>;
  readonly config: Config;
  readonly quiet: Logger;
  /** `Bearer <token>` of the demo `integration` caller, valid for an hour. */
  readonly bearer: string;
  /** Origins of the dependencies, for `recordOutboundIo`. */
  readonly origins: Readonly<Record<string, string>>;
  /** A new runtime (a new instance: empty caches) on this stack. */
  newRuntime(): Runtime;
  stop(): Promise<void>;
}

/** Starts the stack and connects `users` (associate ids) of the bench tenant. */
export async function startBenchStack(users: readonly number[]): Promise<BenchStack> {
  const [azurite, vault, sim, issuer] = await Promise.all([startAzurite(), startKeyVaultServer(), startSuperOfficeSimulator({ apps: [demoApp()] }), startCallerIssuer()]);
  try {
    const env = testEnv({
      KEY_VAULT_URL: vault.url,
      AzureWebJobsStorage: azurite.connectionString,
      SUPEROFFICE_CLIENT_ID: DEMO_APP.clientId,
      SUPEROFFICE_REDIRECT_URI: DEMO_REDIRECT_URI,
      SUPEROFFICE_BASE_URL: sim.url,
      SUPEROFFICE_API_HOSTS: new URL(sim.apiHostUrl).host,
      BROKER_POLICY: readDevPolicy(),
      LOG_LEVEL: 'error',
      // `CONNECTION_STATUS_CACHE_MS=0 npm run bench` measures the token path without the status cache.
      ...(process.env['CONNECTION_STATUS_CACHE_MS'] === undefined ? {} : { CONNECTION_STATUS_CACHE_MS: process.env['CONNECTION_STATUS_CACHE_MS'] }),
      // `AUDIT_WRITERS=1 npm run bench` measures with one audit writer per instance.
      ...(process.env['AUDIT_WRITERS'] === undefined ? {} : { AUDIT_WRITERS: process.env['AUDIT_WRITERS'] }),
      ...callerIssuerSettings(issuer),
    }) as Record<string, string>;
    const config = loadConfig(env);
    const quiet = createLogger({ level: 'error', sink: () => undefined });
    const seed = createRuntime(config, { logger: quiet });
    for (const [name, value] of [[SECRET_NAMES.clientSecret, DEMO_APP.clientSecret], [SECRET_NAMES.auditHmacKey, randomBytes(32).toString('base64')]] as const) {
      await seed.secrets.set(name, new Secret(value));
    }
    for (const associateId of users) {
      const tokens = await signIn(sim, { associateId, tenant: BENCH_TENANT });
      await seed.secrets.set(connectionSecretName('sod', BENCH_TENANT, String(associateId)), new Secret(tokens.refresh_token));
      await seed.connections.saveConsent({ env: 'sod', ctx: BENCH_TENANT, associateId: String(associateId), webApiUrl: `${sim.url}/${BENCH_TENANT}/api/`, isAdministrator: false, systemUserStored: false, consentedAt: new Date().toISOString(), consentedBy: 'bench' });
    }
    const bearer = `Bearer ${await issuer.mint(DEMO_CALLERS.integration, { lifetimeSec: 3600 })}`;
    return {
      azurite, vault, sim, issuer, env, config, quiet, bearer,
      origins: { table: azurite.tableEndpoint, keyVault: vault.url, superOffice: sim.url, superOfficeApi: sim.apiHostUrl, entra: issuer.url },
      newRuntime: () => createRuntime(config, { logger: quiet }),
      async stop() {
        await Promise.allSettled([azurite.stop(), vault.close(), sim.close(), issuer.close()]);
      },
    };
  } catch (error) {
    await Promise.allSettled([azurite.stop(), vault.close(), sim.close(), issuer.close()]);
    throw error;
  }
}
