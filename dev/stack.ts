import { createPublicKey, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ConfigError, loadConfig, SETTINGS, superOfficeEnvironment, type Config } from '../shared/config/config.js';
import { createLogger } from '../shared/log/logger.js';
import type { FunctionDefinition } from '../shared/runtime/registry.js';
import { listFunctions } from '../shared/runtime/registry.js';
import { createRuntime, setRuntime, type Runtime } from '../shared/runtime/runtime.js';
import { SecretNotFoundError } from '../shared/secrets/errors.js';
import { createKeyVaultSecretStore } from '../shared/secrets/keyVaultStore.js';
import { ACTIONS_HMAC_KEY_NAME } from '../shared/actions/hmacKey.js';
import { SECRET_NAMES } from '../shared/secrets/names.js';
import { Secret } from '../shared/secrets/secret.js';
import { toRsaPrivateKeyPem } from '../shared/superoffice/rsaXmlKey.js';
import type { Azurite, AzuriteOptions } from './azurite.js';
import type { DemoCallerName } from './entra/demoCallers.js';
import { readDevPolicy } from './entra/issuer.js';
import { startDevHost, type DevHost, type DevHostLog } from './host/index.js';
import { loadHostSettings } from './host/hostSettings.js';
import { demoApp, type AppRegistration } from './superoffice/seed.js';
import { generateSystemUserKeyPair } from './superoffice/systemUser.js';

/**
 * The local stack behind `npm start` (docs/architecture.md §7): Azurite, the dev Key Vault, the
 * SuperOffice simulator and the caller-token issuer, each on loopback, wired into the broker's
 * settings; the local vault seeded with the app's secrets; the runtime set; the dev host started.
 * Any service whose settings are already in the environment (a real vault, storage account,
 * SuperOffice app or Entra tenant) is used as it is and not started.
 *
 * The servers are injected (`LocalStackStarters`) so that tests can run the stack with small fakes.
 */

/** A started dev Key Vault (`startKeyVaultServer` in dev/keyvault/server.ts). */
export interface LocalKeyVault {
  readonly url: string;
  close(): Promise<void>;
}

/** A started SuperOffice simulator (`startSuperOfficeSimulator` in dev/superoffice/simulator.ts). */
export interface LocalSimulator {
  /** Issuer and auth host, the broker's `SUPEROFFICE_BASE_URL`. */
  readonly url: string;
  /** The Web API host. */
  readonly apiHostUrl: string;
  close(): Promise<void>;
}

/** A started caller-token issuer (`startCallerIssuer` in dev/entra/issuer.ts). */
export interface LocalIssuer {
  readonly url: string;
  readonly tenantId: string;
  readonly audience: string;
  mint(caller: DemoCallerName): Promise<string>;
  close(): Promise<void>;
}

export interface LocalStackStarters {
  readonly startKeyVault?: (options: { port?: number; storageFile?: string }) => Promise<LocalKeyVault>;
  readonly startSimulator?: (options: { port?: number; apps?: readonly AppRegistration[] }) => Promise<LocalSimulator>;
  readonly startIssuer?: (options: { port?: number; keyFile?: string }) => Promise<LocalIssuer>;
  readonly startAzurite?: (options: AzuriteOptions) => Promise<Azurite>;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Writes the app's secrets into a freshly started local vault; returns the values now stored. */
export type VaultSeeder = (vaultUrl: string, wanted: VaultSeed) => Promise<SeededSecrets>;

/** Values for the vault: `undefined` keeps what the vault holds, or generates one when it holds nothing. */
export interface VaultSeed {
  readonly clientSecret?: string;
  readonly rsaPrivateKeyPem?: string;
}

export interface SeededSecrets {
  readonly clientSecret: string;
  readonly rsaPrivateKeyPem: string;
}

export interface LocalStackOptions {
  readonly starters: LocalStackStarters;
  /** Settings that select real services (see `planLocalServices`); default `process.env`. */
  readonly env?: Env;
  /** Dev host port; default 7071; 0 picks a free one. */
  readonly port?: number;
  /** Folder for persistent local data (Azurite, vault file, issuer keys); omit to keep everything in memory. */
  readonly localDir?: string;
  /** The functions to serve; default: import `functions/index.ts` (after the runtime is set) and serve the registry. */
  readonly functions?: readonly FunctionDefinition[] | (() => Promise<readonly FunctionDefinition[]>);
  /** Builds the runtime from the stack's configuration; default `createRuntime(config)`. */
  readonly createRuntime?: (config: Config) => Runtime;
  /** Also write the broker settings into `process.env` (npm start), so code that reads them later agrees. */
  readonly applyToProcessEnv?: boolean;
  readonly seedVault?: VaultSeeder;
  /** The authorization policy when `BROKER_POLICY` is not set; default dev/policy.dev.json. */
  readonly policy?: unknown;
  readonly hostJson?: string | object;
  readonly log?: DevHostLog;
  readonly queuePollMs?: number;
}

export type ServiceOrigin = 'local' | 'environment';

export interface LocalServicePlan {
  readonly keyVault: ServiceOrigin;
  readonly storage: ServiceOrigin;
  readonly superOffice: ServiceOrigin;
  readonly entra: ServiceOrigin;
}

export interface LocalStack {
  readonly host: DevHost;
  readonly config: Config;
  readonly plan: LocalServicePlan;
  /** The broker settings the stack runs with (settings only; no secret is among them). */
  readonly settings: Readonly<Record<string, string>>;
  readonly azurite: Azurite | undefined;
  readonly keyVault: LocalKeyVault | undefined;
  readonly simulator: LocalSimulator | undefined;
  readonly issuer: LocalIssuer | undefined;
  /** Stops everything in reverse order of start; safe to call twice. */
  stop(): Promise<void>;
}

/** The SuperOffice environment the simulator plays. */
const LOCAL_SUPEROFFICE_ENVIRONMENT = 'sod';
/** Dev-only variables (never read by the broker): the real app's client_secret and RSA key for a local vault. */
export const DEV_CLIENT_SECRET_VARIABLE = 'DEV_SUPEROFFICE_CLIENT_SECRET';
export const DEV_RSA_KEY_FILE_VARIABLE = 'DEV_SUPEROFFICE_RSA_KEY_FILE';

function isSet(env: Env, name: string): boolean {
  return (env[name]?.trim() ?? '') !== '';
}

/** Which services come from the environment (their settings are present) and which the stack starts. */
export function planLocalServices(env: Env): LocalServicePlan {
  return {
    keyVault: isSet(env, 'KEY_VAULT_URL') ? 'environment' : 'local',
    storage: isSet(env, 'AzureWebJobsStorage') || isSet(env, 'AzureWebJobsStorage__accountName') ? 'environment' : 'local',
    superOffice: isSet(env, 'SUPEROFFICE_CLIENT_ID') ? 'environment' : 'local',
    entra: isSet(env, 'ENTRA_TENANT_IDS') ? 'environment' : 'local',
  };
}

interface LocalEndpoints {
  readonly keyVaultUrl: string;
  readonly storageConnectionString: string;
  readonly superOffice: { readonly baseUrl: string; readonly apiHostUrl: string; readonly clientId: string; readonly redirectUri: string };
  readonly entra: { readonly url: string; readonly tenantId: string; readonly audience: string };
}

/**
 * The broker environment: `env` with the settings of each locally started service laid over it. A
 * `SUPEROFFICE_ENVIRONMENT` the user set is checked, never replaced: with the simulator it must be the one
 * the simulator plays (or unset); throws `ConfigError`.
 */
export function brokerEnvironment(env: Env, plan: LocalServicePlan, local: LocalEndpoints, policy: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  if (plan.keyVault === 'local') out['KEY_VAULT_URL'] = local.keyVaultUrl;
  if (plan.storage === 'local') out['AzureWebJobsStorage'] = local.storageConnectionString;
  if (plan.superOffice === 'local') {
    if (isSet(env, 'SUPEROFFICE_ENVIRONMENT') && superOfficeEnvironment(env) !== LOCAL_SUPEROFFICE_ENVIRONMENT) {
      throw new ConfigError('SUPEROFFICE_ENVIRONMENT', `${LOCAL_SUPEROFFICE_ENVIRONMENT} or unset while the local SuperOffice simulator runs (set SUPEROFFICE_CLIENT_ID to use a real app)`);
    }
    out['SUPEROFFICE_ENVIRONMENT'] = LOCAL_SUPEROFFICE_ENVIRONMENT;
    out['SUPEROFFICE_CLIENT_ID'] = local.superOffice.clientId;
    out['SUPEROFFICE_REDIRECT_URI'] = local.superOffice.redirectUri;
    out['SUPEROFFICE_BASE_URL'] = local.superOffice.baseUrl;
    out['SUPEROFFICE_API_HOSTS'] = new URL(local.superOffice.apiHostUrl).host;
  }
  if (plan.entra === 'local') {
    out['ENTRA_TENANT_IDS'] = local.entra.tenantId;
    out['ENTRA_AUDIENCE'] = local.entra.audience;
    out['ENTRA_APP_ID_URI'] = `api://${local.entra.audience}`;
    out['ENTRA_AUTHORITY_HOST'] = local.entra.url;
  }
  if (!isSet(env, 'BROKER_POLICY')) out['BROKER_POLICY'] = policy;
  return out;
}

/** Stand-ins with the right shapes, to validate the user's own settings before anything starts. */
const PLACEHOLDER_ENDPOINTS: LocalEndpoints = {
  keyVaultUrl: 'http://127.0.0.1:1',
  storageConnectionString: 'UseDevelopmentStorage=true',
  superOffice: { baseUrl: 'http://127.0.0.1:1', apiHostUrl: 'http://localhost:1', clientId: 'placeholder-client', redirectUri: 'http://127.0.0.1:1/api/consent/callback' },
  entra: { url: 'http://127.0.0.1:1', tenantId: '00000000-0000-4000-8000-000000000000', audience: '00000000-0000-4000-8000-000000000001' },
};

/** A free loopback port (needed before the dev host starts: the simulator registers its redirect URI). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function randomKey(): string {
  return randomBytes(32).toString('base64url');
}

/** The default seeder: the broker's own Key Vault store against the loopback vault; existing values are kept. */
export const seedLocalVault: VaultSeeder = async (vaultUrl, wanted) => {
  const store = createKeyVaultSecretStore({
    config: { keyVault: { url: vaultUrl, isLoopback: true } },
    logger: createLogger({ sink: () => undefined }),
  });
  const ensure = async (name: string, wantedValue: string | undefined, generate: () => string): Promise<string> => {
    let current: string | undefined;
    try {
      current = (await store.get(name, { fresh: true })).value.reveal();
    } catch (error) {
      if (!(error instanceof SecretNotFoundError)) throw error;
    }
    const value = wantedValue ?? current ?? generate();
    if (value !== current) await store.set(name, new Secret(value));
    return value;
  };
  const clientSecret = await ensure(SECRET_NAMES.clientSecret, wanted.clientSecret, () => randomBytes(16).toString('hex'));
  const rsaPrivateKeyPem = await ensure(SECRET_NAMES.rsaPrivateKey, wanted.rsaPrivateKeyPem, () => generateSystemUserKeyPair().privateKeyPem);
  await ensure(SECRET_NAMES.auditHmacKey, undefined, randomKey);
  await ensure(SECRET_NAMES.auditHeadsKey, undefined, randomKey);
  await ensure(ACTIONS_HMAC_KEY_NAME, undefined, randomKey);
  await ensure(SECRET_NAMES.stateCookieKey, undefined, randomKey);
  return { clientSecret, rsaPrivateKeyPem };
};

/** The real app's credentials for a local vault, from the dev-only variables (when SuperOffice is real). */
async function wantedVaultSeed(env: Env): Promise<VaultSeed> {
  const clientSecret = env[DEV_CLIENT_SECRET_VARIABLE]?.trim();
  const keyFile = env[DEV_RSA_KEY_FILE_VARIABLE]?.trim();
  let rsaPrivateKeyPem: string | undefined;
  if (keyFile) {
    const { readFile } = await import('node:fs/promises');
    rsaPrivateKeyPem = toRsaPrivateKeyPem(await readFile(keyFile, 'utf8'));
  }
  return { ...(clientSecret ? { clientSecret } : {}), ...(rsaPrivateKeyPem ? { rsaPrivateKeyPem } : {}) };
}

function policyText(options: LocalStackOptions): string {
  return options.policy === undefined ? readDevPolicy() : JSON.stringify(options.policy);
}

function required<T>(starter: T | undefined, service: string, setting: string): T {
  if (starter === undefined) throw new Error(`No local ${service} to start: set ${setting} to use an existing one`);
  return starter;
}

async function defaultFunctions(): Promise<readonly FunctionDefinition[]> {
  await import('../functions/index.js');
  return listFunctions();
}

/**
 * Starts the local stack. Throws `ConfigError` (before starting anything) for a bad setting in the
 * environment; on any later failure stops what it started and rethrows.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const plan = planLocalServices(env);
  const policy = policyText(options);
  // Validate the user's own settings first, so a bad one costs no start-up and prints one line.
  loadConfig(brokerEnvironment(env, plan, PLACEHOLDER_ENDPOINTS, policy));

  const { starters, localDir } = options;
  const stops: { name: string; stop: () => Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const { name, stop } of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        log(`stopping ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };

  try {
    const hostSettings = loadHostSettings(options.hostJson);
    const port = options.port === 0 ? await freePort() : options.port ?? 7071;
    const apiBase = `http://127.0.0.1:${port}${hostSettings.routePrefix === '' ? '' : `/${hostSettings.routePrefix}`}`;

    /** Starts one service and registers its stop as soon as it runs, so a failure elsewhere stops it. */
    const launch = async <T>(name: string, start: () => Promise<T>, stop: (service: T) => Promise<void>): Promise<T> => {
      const service = await start();
      stops.push({ name, stop: () => stop(service) });
      return service;
    };
    const app = demoApp({ redirectUris: [`${apiBase}/consent/callback`] });

    // Independent services start side by side (Azurite alone takes seconds); the simulator waits for the
    // vault because it registers the app with the credentials the vault holds.
    const azuriteStarted = plan.storage === 'local'
      ? launch('Azurite', () => required(starters.startAzurite, 'storage emulator', 'AzureWebJobsStorage')(
        localDir === undefined ? {} : { location: join(localDir, 'azurite') }), (a) => a.stop())
      : Promise.resolve(undefined);
    const vaultStarted = plan.keyVault === 'local'
      ? launch('Key Vault', () => required(starters.startKeyVault, 'Key Vault server', 'KEY_VAULT_URL')(
        localDir === undefined ? {} : { storageFile: join(localDir, 'keyvault.json') }), (kv) => kv.close())
        .then(async (keyVault) => {
          const wanted = plan.superOffice === 'environment' ? await wantedVaultSeed(env) : {};
          return { keyVault, seeded: await (options.seedVault ?? seedLocalVault)(keyVault.url, wanted) };
        })
      : Promise.resolve(undefined);
    const simulatorStarted = plan.superOffice === 'local'
      ? vaultStarted.then((vault) => {
        // The simulator knows the app by the credentials in the local vault (persisted across restarts); with a
        // vault from the environment it gets the demo app, and that vault must hold the same client_secret.
        const registered: AppRegistration = vault === undefined
          ? app
          : { ...app, clientSecret: vault.seeded.clientSecret, systemUserPublicKeyPem: publicKeyPem(vault.seeded.rsaPrivateKeyPem) };
        return launch('SuperOffice simulator', () => required(starters.startSimulator, 'SuperOffice simulator', 'SUPEROFFICE_CLIENT_ID')(
          { apps: [registered] }), (sim) => sim.close());
      })
      : Promise.resolve(undefined);
    const issuerStarted = plan.entra === 'local'
      ? launch('caller-token issuer', () => required(starters.startIssuer, 'caller-token issuer', 'ENTRA_TENANT_IDS')(
        localDir === undefined ? {} : { keyFile: join(localDir, 'issuer-keys.json') }), (i) => i.close())
      : Promise.resolve(undefined);
    const outcomes = await Promise.allSettled([azuriteStarted, vaultStarted, simulatorStarted, issuerStarted]);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const azurite = await azuriteStarted;
    const keyVault = (await vaultStarted)?.keyVault;
    const simulator = await simulatorStarted;
    const issuer = await issuerStarted;
    if (azurite) log(`Azurite: ${azurite.queueEndpoint} (pid ${azurite.pid ?? '?'})`);
    if (keyVault) log(`Key Vault: ${keyVault.url}`);
    if (simulator) log(`SuperOffice simulator: ${simulator.url} (Web API ${simulator.apiHostUrl})`);
    if (issuer) log(`Caller-token issuer: ${issuer.url} (tenant ${issuer.tenantId})`);

    const settingsEnv = brokerEnvironment(env, plan, {
      keyVaultUrl: keyVault?.url ?? PLACEHOLDER_ENDPOINTS.keyVaultUrl,
      storageConnectionString: azurite?.connectionString ?? PLACEHOLDER_ENDPOINTS.storageConnectionString,
      superOffice: {
        baseUrl: simulator?.url ?? PLACEHOLDER_ENDPOINTS.superOffice.baseUrl,
        apiHostUrl: simulator?.apiHostUrl ?? PLACEHOLDER_ENDPOINTS.superOffice.apiHostUrl,
        clientId: app.clientId,
        redirectUri: app.redirectUris[0]!,
      },
      entra: issuer ?? PLACEHOLDER_ENDPOINTS.entra,
    }, policy);
    const config = loadConfig(settingsEnv);
    const settings = brokerSettingsOnly(settingsEnv);
    if (options.applyToProcessEnv) Object.assign(process.env, settings);
    const previousRuntime = setRuntime((options.createRuntime ?? createRuntime)(config));
    stops.push({ name: 'runtime', stop: async () => void setRuntime(previousRuntime) });

    const functions = typeof options.functions === 'function'
      ? await options.functions()
      : options.functions ?? (await defaultFunctions());
    const host = await startDevHost({
      functions,
      port,
      log,
      env: settingsEnv,
      ...(options.hostJson !== undefined ? { hostJson: options.hostJson } : {}),
      ...(options.queuePollMs !== undefined ? { queuePollMs: options.queuePollMs } : {}),
    });
    stops.push({ name: 'dev host', stop: () => host.close() });

    let stopping: Promise<void> | undefined;
    return {
      host,
      config,
      plan,
      settings,
      azurite,
      keyVault,
      simulator,
      issuer,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function publicKeyPem(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
}

/** Only the broker's own settings (the names shared/config reads), for process.env and `LocalStack.settings`. */
function brokerSettingsOnly(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { name } of SETTINGS) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
