import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Azurite, AzuriteOptions } from '../../dev/azurite.js';
import type { DemoCallerName } from '../../dev/entra/demoCallers.js';
import type { LocalIssuer, LocalKeyVault, LocalSimulator, LocalStackStarters, SeededSecrets, VaultSeed } from '../../dev/stack.js';
import type { AppRegistration } from '../../dev/superoffice/seed.js';

/**
 * Tiny stand-ins for the local stack's servers: each is a loopback HTTP server that answers 200 to
 * everything (so health probes see it), and records how it was started and stopped.
 */

export interface FakeStackRecord {
  readonly events: string[];
  readonly keyVaultOptions: { port?: number; storageFile?: string }[];
  readonly simulatorApps: (readonly AppRegistration[])[];
  readonly issuerOptions: { port?: number; keyFile?: string }[];
  readonly azuriteOptions: AzuriteOptions[];
  readonly seeds: { url: string; wanted: VaultSeed }[];
}

async function tinyServer(): Promise<{ url: string; close(this: void): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

export const FAKE_TENANT_ID = '5a5a5a5a-1111-4222-8333-444455556666';
export const FAKE_AUDIENCE = '6b6b6b6b-1111-4222-8333-444455556666';

/** Starters for `startLocalStack` plus a record of what happened; `fail` makes one starter throw. */
export function fakeStarters(options: { fail?: 'keyVault' | 'simulator' | 'issuer' | 'azurite' } = {}): {
  starters: Required<LocalStackStarters>;
  record: FakeStackRecord;
  seedVault: (url: string, wanted: VaultSeed) => Promise<SeededSecrets>;
} {
  const record: FakeStackRecord = { events: [], keyVaultOptions: [], simulatorApps: [], issuerOptions: [], azuriteOptions: [], seeds: [] };
  const closing = (name: string, close: () => Promise<void>) => async (): Promise<void> => {
    record.events.push(`stop ${name}`);
    await close();
  };
  const starters: Required<LocalStackStarters> = {
    async startKeyVault(o): Promise<LocalKeyVault> {
      record.keyVaultOptions.push(o);
      if (options.fail === 'keyVault') throw new Error('fake Key Vault failed');
      const server = await tinyServer();
      record.events.push('start keyVault');
      return { url: server.url, close: closing('keyVault', server.close) };
    },
    async startSimulator(o): Promise<LocalSimulator> {
      record.simulatorApps.push(o.apps ?? []);
      if (options.fail === 'simulator') throw new Error('fake simulator failed');
      const server = await tinyServer();
      record.events.push('start simulator');
      return { url: server.url, apiHostUrl: server.url.replace('127.0.0.1', 'localhost'), close: closing('simulator', server.close) };
    },
    async startIssuer(o): Promise<LocalIssuer> {
      record.issuerOptions.push(o);
      if (options.fail === 'issuer') throw new Error('fake issuer failed');
      const server = await tinyServer();
      record.events.push('start issuer');
      return {
        url: server.url,
        tenantId: FAKE_TENANT_ID,
        audience: FAKE_AUDIENCE,
        mint: async (caller: DemoCallerName) => `fake-token-for-${caller}`,
        close: closing('issuer', server.close),
      };
    },
    async startAzurite(o): Promise<Azurite> {
      record.azuriteOptions.push(o);
      if (options.fail === 'azurite') throw new Error('fake Azurite failed');
      const server = await tinyServer();
      record.events.push('start azurite');
      const endpoint = `${server.url}/devstoreaccount1`;
      return {
        blobEndpoint: endpoint,
        queueEndpoint: endpoint,
        tableEndpoint: endpoint,
        connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;QueueEndpoint=${endpoint};TableEndpoint=${endpoint};BlobEndpoint=${endpoint};`,
        pid: undefined,
        stop: closing('azurite', server.close),
      };
    },
  };
  const seedVault = async (url: string, wanted: VaultSeed): Promise<SeededSecrets> => {
    record.seeds.push({ url, wanted });
    record.events.push('seed');
    return { clientSecret: wanted.clientSecret ?? 'fake-client-secret-0001', rsaPrivateKeyPem: wanted.rsaPrivateKeyPem ?? FAKE_RSA_PRIVATE_KEY };
  };
  return { starters, record, seedVault };
}

/** A throwaway 1024-bit RSA key (tests only; never used for anything but deriving a public key). */
export const FAKE_RSA_PRIVATE_KEY = generateKeyPairSync('rsa', { modulusLength: 1024 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
