import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startKeyVaultServer } from '../../../dev/keyvault/server.js';
import { planLocalServices, seedLocalVault, startLocalStack, type LocalStack } from '../../../dev/stack.js';
import { ConfigError } from '../../../shared/config/config.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createRuntime, getRuntime, setRuntime } from '../../../shared/runtime/runtime.js';
import { createKeyVaultSecretStore } from '../../../shared/secrets/keyVaultStore.js';
import { SECRET_NAMES } from '../../../shared/secrets/names.js';
import { testEnv } from '../../support/config.js';
import { httpFunction } from '../../support/devHostFunctions.js';
import { FAKE_AUDIENCE, FAKE_RSA_PRIVATE_KEY, FAKE_TENANT_ID, fakeStarters } from '../../support/fakeStackServers.js';

const quietRuntime = (config: Parameters<typeof createRuntime>[0]) => createRuntime(config, { logger: createLogger({ sink: () => undefined }) });
const ping = httpFunction('ping', 'ping', ['GET'], async () => ({ jsonBody: { pong: true } }));

describe('local stack', () => {
  let stack: LocalStack | undefined;

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it('stops at a bad setting with a ConfigError naming it, before starting anything', async () => {
    const { starters, record } = fakeStarters();
    const attempt = startLocalStack({ starters, env: { REQUEST_DEADLINE_MS: 'abc' }, port: 0, functions: [], log: () => undefined });
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(startLocalStack({ starters, env: { REQUEST_DEADLINE_MS: 'abc' }, port: 0, functions: [], log: () => undefined }))
      .rejects.toThrow('Invalid configuration: REQUEST_DEADLINE_MS must be an integer from 1000 to 30000');
    await expect(startLocalStack({ starters, env: { KEY_VAULT_URL: 'http://vault.example.com' }, port: 0, functions: [], log: () => undefined }))
      .rejects.toThrow(/KEY_VAULT_URL must be an https URL/);
    // The simulator plays sod: an unknown environment is an error, not silently replaced by sod; so is another real one.
    await expect(startLocalStack({ starters, env: { SUPEROFFICE_ENVIRONMENT: 'prod' }, port: 0, functions: [], log: () => undefined }))
      .rejects.toThrow(new ConfigError('SUPEROFFICE_ENVIRONMENT', 'one of sod, qaonline, online'));
    await expect(startLocalStack({ starters, env: { SUPEROFFICE_ENVIRONMENT: 'online' }, port: 0, functions: [], log: () => undefined }))
      .rejects.toThrow('Invalid configuration: SUPEROFFICE_ENVIRONMENT must be sod or unset while the local SuperOffice simulator runs (set SUPEROFFICE_CLIENT_ID to use a real app)');
    expect(record.events).toEqual([]);
  });

  it('stops what it started when a later service fails, and rethrows', async () => {
    const { starters, record, seedVault } = fakeStarters({ fail: 'issuer' });
    await expect(startLocalStack({ starters, seedVault, env: {}, port: 0, functions: [ping], log: () => undefined, createRuntime: quietRuntime }))
      .rejects.toThrow('fake issuer failed');
    const started = record.events.filter((e) => e.startsWith('start ')).map((e) => e.slice(6)).sort();
    const stopped = record.events.filter((e) => e.startsWith('stop ')).map((e) => e.slice(5)).sort();
    expect(started).toEqual(['azurite', 'keyVault', 'simulator']);
    expect(stopped).toEqual(started);
  });

  it('names the setting to use when a local server is not available', async () => {
    const { starters, seedVault } = fakeStarters();
    const { startIssuer: _omitted, ...withoutIssuer } = starters;
    await expect(startLocalStack({ starters: withoutIssuer, seedVault, env: {}, port: 0, functions: [], log: () => undefined, createRuntime: quietRuntime }))
      .rejects.toThrow('No local caller-token issuer to start: set ENTRA_TENANT_IDS to use an existing one');
  });

  it('starts every local service, wires the broker settings, seeds the vault, sets the runtime and serves', async () => {
    const { starters, record, seedVault } = fakeStarters();
    const previous = getRuntimeOrUndefined();
    stack = await startLocalStack({
      starters,
      seedVault,
      env: {},
      port: 0,
      localDir: '/tmp/broker-local-test',
      functions: [ping],
      log: () => undefined,
      createRuntime: quietRuntime,
    });
    expect(stack.plan).toEqual({ keyVault: 'local', storage: 'local', superOffice: 'local', entra: 'local' });
    expect(record.azuriteOptions).toEqual([{ location: join('/tmp/broker-local-test', 'azurite') }]);
    expect(record.keyVaultOptions).toEqual([{ storageFile: join('/tmp/broker-local-test', 'keyvault.json') }]);
    expect(record.issuerOptions).toEqual([{ keyFile: join('/tmp/broker-local-test', 'issuer-keys.json') }]);
    expect(record.seeds).toEqual([{ url: stack.keyVault?.url, wanted: {} }]);

    const s = stack.settings;
    expect(s['KEY_VAULT_URL']).toBe(stack.keyVault?.url);
    expect(s['AzureWebJobsStorage']).toBe(stack.azurite?.connectionString);
    expect(s['SUPEROFFICE_BASE_URL']).toBe(stack.simulator?.url);
    expect(s['SUPEROFFICE_API_HOSTS']).toBe(new URL(stack.simulator!.apiHostUrl).host);
    expect(s['SUPEROFFICE_REDIRECT_URI']).toBe(`${stack.host.apiUrl}/consent/callback`);
    expect(s['ENTRA_TENANT_IDS']).toBe(FAKE_TENANT_ID);
    expect(s['ENTRA_AUDIENCE']).toBe(FAKE_AUDIENCE);
    expect(s['ENTRA_APP_ID_URI']).toBe(`api://${FAKE_AUDIENCE}`);
    expect(s['ENTRA_AUTHORITY_HOST']).toBe(stack.issuer?.url);
    expect(JSON.parse(s['BROKER_POLICY'] ?? '')).toMatchObject({ version: 1 });
    expect(stack.config.superOffice).toMatchObject({ isSimulated: true, environment: 'sod' });
    expect(stack.config.keyVault.isLoopback).toBe(true);

    // The simulator knows the app by the vault's client_secret and the public half of the vault's RSA key.
    const [app] = record.simulatorApps[0] ?? [];
    expect(app?.clientSecret).toBe('fake-client-secret-0001');
    expect(app?.clientId).toBe(s['SUPEROFFICE_CLIENT_ID']);
    expect(app?.redirectUris).toEqual([s['SUPEROFFICE_REDIRECT_URI']]);
    const expectedPublic = createPublicKey(FAKE_RSA_PRIVATE_KEY).export({ type: 'spki', format: 'pem' }).toString();
    expect(app?.systemUserPublicKeyPem).toBe(expectedPublic);

    expect(getRuntime().config).toBe(stack.config);
    expect(await (await fetch(`${stack.host.apiUrl}/ping`)).json()).toEqual({ pong: true });
    expect(await stack.issuer?.mint('integration')).toBe('fake-token-for-integration');

    record.events.length = 0;
    await stack.stop();
    await stack.stop();
    stack = undefined;
    // Reverse order: the dev host first (not recorded), the issuer, simulator and vault, Azurite last or near it.
    expect(record.events.filter((e) => e.startsWith('stop ')).sort()).toEqual(['stop azurite', 'stop issuer', 'stop keyVault', 'stop simulator']);
    expect(record.events.indexOf('stop simulator')).toBeLessThan(record.events.indexOf('stop keyVault'));
    expect(getRuntimeOrUndefined()).toBe(previous);
  });

  it('uses services configured in the environment instead of starting them', async () => {
    const { starters, record, seedVault } = fakeStarters();
    const env = testEnv({ KEY_VAULT_URL: 'https://broker-kv.vault.azure.net', SUPEROFFICE_BASE_URL: undefined, ENTRA_AUTHORITY_HOST: undefined });
    stack = await startLocalStack({ starters, seedVault, env, port: 0, functions: [ping], log: () => undefined, createRuntime: quietRuntime });
    expect(stack.plan).toEqual({ keyVault: 'environment', storage: 'environment', superOffice: 'environment', entra: 'environment' });
    expect(record.events).toEqual([]);
    expect(stack.config.keyVault.url).toBe('https://broker-kv.vault.azure.net');
    expect(stack.config.superOffice.baseUrl).toBe('https://sod.superoffice.com');
    expect(stack.config.entra.authorityHost).toBe('https://login.microsoftonline.com');
    expect(stack.settings['BROKER_POLICY']).toBe(env['BROKER_POLICY']);
    expect((await fetch(`${stack.host.apiUrl}/ping`)).status).toBe(200);
  });

  it('mixes: a real Key Vault from the environment, everything else local', async () => {
    const { starters, record, seedVault } = fakeStarters();
    stack = await startLocalStack({
      starters,
      seedVault,
      env: { KEY_VAULT_URL: 'https://broker-kv.vault.azure.net' },
      port: 0,
      functions: [],
      log: () => undefined,
      createRuntime: quietRuntime,
    });
    expect(stack.plan).toEqual({ keyVault: 'environment', storage: 'local', superOffice: 'local', entra: 'local' });
    expect(record.keyVaultOptions).toEqual([]);
    expect(record.seeds).toEqual([]);
    expect(stack.keyVault).toBeUndefined();
    expect(record.azuriteOptions).toEqual([{}]);
  });

  it('writes the broker settings into process.env when asked', async () => {
    const { starters, seedVault } = fakeStarters();
    const saved = { ...process.env };
    try {
      stack = await startLocalStack({ starters, seedVault, env: {}, port: 0, functions: [], log: () => undefined, createRuntime: quietRuntime, applyToProcessEnv: true });
      expect(process.env['KEY_VAULT_URL']).toBe(stack.keyVault?.url);
      expect(process.env['ENTRA_TENANT_IDS']).toBe(FAKE_TENANT_ID);
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });
});

describe('local stack service plan', () => {
  it('takes a service from the environment exactly when its settings are present', () => {
    expect(planLocalServices({})).toEqual({ keyVault: 'local', storage: 'local', superOffice: 'local', entra: 'local' });
    expect(planLocalServices({ KEY_VAULT_URL: 'https://x.vault.azure.net', AzureWebJobsStorage__accountName: 'acct', SUPEROFFICE_CLIENT_ID: 'abc', ENTRA_TENANT_IDS: 'x' }))
      .toEqual({ keyVault: 'environment', storage: 'environment', superOffice: 'environment', entra: 'environment' });
    expect(planLocalServices({ KEY_VAULT_URL: '  ', AzureWebJobsStorage: 'UseDevelopmentStorage=true' }))
      .toMatchObject({ keyVault: 'local', storage: 'environment' });
  });
});

describe('seeding the local vault (dev Key Vault server)', () => {
  it('writes the four app secrets once and keeps them on the next start', async () => {
    const server = await startKeyVaultServer();
    try {
      const first = await seedLocalVault(server.url, {});
      expect(first.clientSecret).toMatch(/^[0-9a-f]{32}$/);
      expect(createPublicKey(first.rsaPrivateKeyPem).asymmetricKeyType).toBe('rsa');
      const store = createKeyVaultSecretStore({ config: { keyVault: { url: server.url, isLoopback: true } }, logger: createLogger({ sink: () => undefined }) });
      for (const name of Object.values(SECRET_NAMES)) {
        expect((await store.get(name)).value.reveal().length, name).toBeGreaterThanOrEqual(32);
      }
      const versions = await Promise.all(Object.values(SECRET_NAMES).map(async (n) => (await store.get(n, { fresh: true })).version));

      const second = await seedLocalVault(server.url, {});
      expect(second).toEqual(first);
      const after = await Promise.all(Object.values(SECRET_NAMES).map(async (n) => (await store.get(n, { fresh: true })).version));
      expect(after).toEqual(versions);

      // Dev-only credentials of a real SuperOffice app replace the generated ones.
      const third = await seedLocalVault(server.url, { clientSecret: 'real-app-secret', rsaPrivateKeyPem: FAKE_RSA_PRIVATE_KEY });
      expect(third).toEqual({ clientSecret: 'real-app-secret', rsaPrivateKeyPem: FAKE_RSA_PRIVATE_KEY });
    } finally {
      await server.close();
    }
  });
});

function getRuntimeOrUndefined(): ReturnType<typeof getRuntime> | undefined {
  const current = setRuntime(undefined);
  setRuntime(current);
  return current;
}
