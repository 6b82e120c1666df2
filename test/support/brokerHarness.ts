import { randomBytes } from 'node:crypto';
import { HttpRequest, InvocationContext, type HttpHandler, type HttpResponseInit } from '@azure/functions';
import { startAzurite, type Azurite } from '../../dev/azurite.js';
import { startKeyVaultServer, type KeyVaultServer } from '../../dev/keyvault/server.js';
import { DEMO_APP, DEMO_REDIRECT_URI, demoApp } from '../../dev/superoffice/seed.js';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../dev/superoffice/simulator.js';
import { generateSystemUserKeyPair } from '../../dev/superoffice/systemUser.js';
import { loadConfig, type Config } from '../../shared/config/config.js';
import type { Caller } from '../../shared/identity/caller.js';
import { OPERATION_ROLES } from '../../shared/identity/operations.js';
import { createLogger } from '../../shared/log/logger.js';
import { SECRET_NAMES, connectionSecretName, systemUserSecretName } from '../../shared/secrets/names.js';
import { Secret } from '../../shared/secrets/secret.js';
import { createRuntime, setRuntime, type RequestGuard, type Runtime, type RuntimeOverrides } from '../../shared/runtime/runtime.js';
import { validateIdToken } from '../../shared/superoffice/idToken.js';
import { signIn } from '../dev/superoffice/helpers.js';
import { testEnv } from './config.js';

/**
 * Integration harness: Azurite, the Key Vault server and the SuperOffice simulator on loopback, and a
 * real runtime (Key Vault store, Table Storage, audit recorder, token service) with a test guard that
 * accepts the caller named in `x-test-caller` (identity is tested separately with the dev issuer).
 */

export const TEST_TENANT = '11111111-1111-4111-8111-111111111111';
export const CALLERS = {
  integration: { tid: TEST_TENANT, oid: 'aaaaaaaa-0000-4000-8000-000000000001', azp: 'aaaaaaaa-0000-4000-8000-0000000000a1' },
  outsider: { tid: TEST_TENANT, oid: 'aaaaaaaa-0000-4000-8000-000000000002', azp: 'aaaaaaaa-0000-4000-8000-0000000000a2' },
  /** A webhook subscriber: may proxy for user 5 only, so acting as anyone else needs an event grant. */
  subscriber: { tid: TEST_TENANT, oid: 'aaaaaaaa-0000-4000-8000-000000000003', azp: 'aaaaaaaa-0000-4000-8000-0000000000a3' },
} as const;

export const TEST_POLICY = {
  version: 1,
  callers: [
    {
      name: 'integration',
      tid: CALLERS.integration.tid,
      oid: CALLERS.integration.oid,
      operations: ['tokens', 'proxy', 'customerSessions', 'rights', 'connections.admin', 'audit.read'],
      superOffice: [{ env: 'sod', ctx: 'Cust12345', users: '*', webApi: ['GET v1/User/currentPrincipal', 'GET,PATCH v1/Contact/*', 'GET,PATCH v1/Person/*', 'GET v1/Ticket/*', 'POST v1/Agents/CRMScript/*', 'PUT,DELETE v1/Webhook/*', 'GET,POST v1/Webhook'] }],
      systemUser: true,
    },
    {
      name: 'subscriber',
      tid: CALLERS.subscriber.tid,
      oid: CALLERS.subscriber.oid,
      operations: ['proxy'],
      superOffice: [{ env: 'sod', ctx: 'Cust12345', users: ['5'], webApi: ['GET v1/User/currentPrincipal'] }],
      systemUser: false,
    },
    {
      name: 'outsider',
      tid: CALLERS.outsider.tid,
      oid: CALLERS.outsider.oid,
      operations: ['tokens'],
      superOffice: [{ env: 'sod', ctx: 'Cust54321', users: '*' }],
      systemUser: false,
    },
  ],
};

export interface BrokerHarness {
  readonly azurite: Azurite;
  readonly vault: KeyVaultServer;
  readonly sim: SuperOfficeSimulator;
  readonly config: Config;
  readonly runtime: Runtime;
  readonly logLines: string[];
  readonly rsaPrivateKeyPem: string;
  /** Calls a registered HTTP handler as the named caller (or anonymously). */
  call(handler: HttpHandler, init: { method?: string; path: string; body?: unknown; caller?: keyof typeof CALLERS | null; headers?: Record<string, string>; params?: Record<string, string> }): Promise<HarnessResponse>;
  /** Signs the user in at the simulator and stores the connection as the consent flow would. */
  connect(associateId: number, options?: { ctx?: string }): Promise<{ refreshToken: string }>;
  stop(): Promise<void>;
}

export interface HarnessResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown>;
  /** Cookies the handler set, as `name=value; attributes` strings. */
  readonly cookies: readonly string[];
}

export interface HarnessOptions {
  readonly env?: Record<string, string | undefined>;
  /** The app's client_secret in the simulator and the vault (default: the demo app's). */
  readonly clientSecret?: string;
  readonly overrides?: (base: { config: Config }) => RuntimeOverrides;
}

function testGuard(): RequestGuard {
  return {
    async authenticate(request, operation) {
      const name = request.headers.get('x-test-caller') as keyof typeof CALLERS | null;
      const ids = name ? CALLERS[name] : undefined;
      if (!ids) {
        const { BrokerError } = await import('../../shared/errors/errors.js');
        throw new BrokerError('unauthenticated');
      }
      const role = operation ? OPERATION_ROLES[operation] : 'Tokens.Request';
      const caller: Caller = { ...ids, idtyp: 'app', roles: Object.values(OPERATION_ROLES), tokenVersion: '2.0' };
      return { caller, roleUsed: role };
    },
  };
}

export async function startBrokerHarness(options: HarnessOptions = {}): Promise<BrokerHarness> {
  const keys = generateSystemUserKeyPair();
  const [azurite, vault, sim] = await Promise.all([
    startAzurite(),
    startKeyVaultServer(),
    startSuperOfficeSimulator({ apps: [demoApp({ systemUserPublicKeyPem: keys.publicKeyPem, ...(options.clientSecret ? { clientSecret: options.clientSecret } : {}) })] }),
  ]);
  const apiHost = new URL(sim.apiHostUrl).host;
  const config = loadConfig(testEnv({
    KEY_VAULT_URL: vault.url,
    AzureWebJobsStorage: azurite.connectionString,
    SUPEROFFICE_CLIENT_ID: DEMO_APP.clientId,
    SUPEROFFICE_REDIRECT_URI: DEMO_REDIRECT_URI,
    SUPEROFFICE_BASE_URL: sim.url,
    SUPEROFFICE_API_HOSTS: apiHost,
    BROKER_POLICY: JSON.stringify(TEST_POLICY),
    ...options.env,
  }));
  const logLines: string[] = [];
  const runtime = createRuntime(config, {
    logger: createLogger({ level: 'debug', sink: (line) => logLines.push(line) }),
    guard: testGuard(),
    // Every answer an endpoint gives is checked against its declaration (a mismatch is a 500).
    validateResponses: true,
    ...options.overrides?.({ config }),
  });
  // Function handlers use the instance runtime; this harness's runtime is it until stop().
  const previousRuntime = setRuntime(runtime);
  await runtime.secrets.set(SECRET_NAMES.clientSecret, new Secret(options.clientSecret ?? DEMO_APP.clientSecret));
  await runtime.secrets.set(SECRET_NAMES.rsaPrivateKey, new Secret(keys.privateKeyPem));
  await runtime.secrets.set(SECRET_NAMES.auditHmacKey, new Secret(randomBytes(32).toString('base64')));
  await runtime.secrets.set(SECRET_NAMES.auditHeadsKey, new Secret(randomBytes(32).toString('base64')));
  await runtime.secrets.set(SECRET_NAMES.stateCookieKey, new Secret(randomBytes(32).toString('base64')));

  const harness: BrokerHarness = {
    azurite, vault, sim, config, runtime, logLines, rsaPrivateKeyPem: keys.privateKeyPem,
    async call(handler, init) {
      const headers: Record<string, string> = { ...init.headers };
      if (init.caller) headers['x-test-caller'] = init.caller;
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      const request = new HttpRequest({
        method: init.method ?? 'GET',
        url: `http://127.0.0.1:7071${init.path}`,
        headers,
        ...(init.params ? { params: init.params } : {}),
        ...(init.body !== undefined ? { body: { string: JSON.stringify(init.body) } } : {}),
      });
      const response = (await handler(request, new InvocationContext({ functionName: 'test' }))) as HttpResponseInit;
      const text = typeof response.body === 'string' ? response.body : response.jsonBody !== undefined ? JSON.stringify(response.jsonBody) : '';
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = {};
      }
      const cookies = (response.cookies ?? []).map((c) => [`${c.name}=${c.value}`, c.maxAge !== undefined ? `Max-Age=${c.maxAge}` : '', c.path ? `Path=${c.path}` : '', c.secure ? 'Secure' : '', c.httpOnly ? 'HttpOnly' : '', c.sameSite ? `SameSite=${c.sameSite}` : ''].filter(Boolean).join('; '));
      return { status: response.status ?? 200, headers: new Headers(response.headers), text, json, cookies };
    },
    async connect(associateId, connectOptions = {}) {
      const ctx = connectOptions.ctx ?? 'Cust12345';
      const tokens = await signIn(sim, { associateId, tenant: ctx, nonce: 'n-harness' });
      const identity = await validateIdToken(tokens.id_token, {
        issuer: config.superOffice.baseUrl, clientId: config.superOffice.clientId, nonce: 'n-harness',
        keys: runtime.superOffice.keys, allowedApiHosts: config.superOffice.allowedApiHosts,
      });
      await runtime.secrets.set(connectionSecretName('sod', ctx, String(associateId)), new Secret(tokens.refresh_token));
      if (identity.isAdministrator && identity.systemToken) {
        await runtime.secrets.set(systemUserSecretName('sod', ctx), new Secret(identity.systemToken));
      }
      await runtime.connections.saveConsent({
        env: 'sod', ctx, associateId: String(associateId), webApiUrl: identity.webApiUrl, isAdministrator: identity.isAdministrator,
        systemUserStored: Boolean(identity.isAdministrator && identity.systemToken), consentedAt: new Date().toISOString(), consentedBy: 'harness',
      });
      return { refreshToken: tokens.refresh_token };
    },
    async stop() {
      setRuntime(previousRuntime);
      await Promise.allSettled([azurite.stop(), vault.close(), sim.close()]);
    },
  };
  return harness;
}
