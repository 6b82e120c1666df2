/**
 * The local stack the fuzzer runs against (issue 15 point 1): what `npm start` runs — Azurite, the Key
 * Vault server, the SuperOffice simulator, the caller-token issuer and the dev host serving every
 * registered function over HTTP — started in this process on OS-chosen loopback ports, in memory. Some
 * users are connected (their refresh tokens in the vault) so that valid requests reach the token and
 * rights paths, and the secrets that must never appear in a response are collected as canaries.
 */
import { startAzurite } from '../../dev/azurite.js';
import { DEMO_CALLERS, type DemoCallerName } from '../../dev/entra/demoCallers.js';
import { startCallerIssuer, type CallerIssuer } from '../../dev/entra/issuer.js';
import { startKeyVaultServer } from '../../dev/keyvault/server.js';
import { startLocalStack, type LocalStack } from '../../dev/stack.js';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../dev/superoffice/simulator.js';
import { createRuntime, getRuntime, setRuntime } from '../../shared/runtime/runtime.js';
import { SECRET_NAMES, connectionSecretName } from '../../shared/secrets/names.js';
import { Secret } from '../../shared/secrets/secret.js';
import { createHash, randomBytes } from 'node:crypto';
import { consent, tokenRequest } from '../dev/superoffice/helpers.js';

export interface FuzzStack {
  readonly stack: LocalStack;
  /** The dev host, e.g. http://127.0.0.1:PORT (routes under /api). */
  readonly hostUrl: string;
  readonly issuer: CallerIssuer;
  /** Secrets that must never appear in a response, by name (refresh tokens of every connection made so far). */
  readonly canaries: ReadonlyMap<string, string>;
  /** Connects the users again (a fuzzed revocation revoked their refresh tokens). */
  reconnect(): Promise<void>;
  /**
   * Replaces the broker instance (a new runtime: new caches and a new audit writer, so new audit lanes), as
   * a scale-out or restart would. Azurite slows down as one table partition grows (about 2,000 inserts/s at
   * 10,000 rows, under 200/s at 40,000), so one instance per endpoint keeps every lane small.
   */
  newInstance(): void;
  stop(): Promise<void>;
}

/** The tenant whose webhook events the fuzz subscriber gets (`webhooks.ts`), and the subscriber's queue. */
export const FUZZ_WEBHOOK_CTX = 'Cust12345';
export const FUZZ_SUBSCRIBER_QUEUE = 'events-fuzz';
/** Every event of that tenant goes to the fuzz subscriber (an identity no caller has: its grants stay unused). */
const EVENT_SUBSCRIBERS = {
  subscribers: { fuzz: { queue: FUZZ_SUBSCRIBER_QUEUE, tid: '11111111-1111-4111-8111-111111111111', oid: 'fafafafa-0000-4000-8000-000000000001' } },
  rules: [{ ctx: FUZZ_WEBHOOK_CTX, events: ['*'], subscribers: ['fuzz'] }],
};

/** Users connected before the run, per tenant. */
const CONNECTED: ReadonlyArray<readonly [string, number]> = [['Cust12345', 5], ['Cust12345', 6], ['Cust12345', 7], ['Cust54321', 5], ['Cust54321', 6]];

/** Consent and code exchange at the simulator for the stack's app and redirect URI; returns the refresh token. */
async function signInAt(sim: SuperOfficeSimulator, clientId: string, clientSecret: string, redirectUri: string, tenant: string, associateId: number): Promise<{ refresh_token: string }> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const location = await consent(sim, { associateId, tenant, clientId, redirectUri, challenge, method: 'S256', state: 's', nonce: 'n' });
  const code = location.searchParams.get('code');
  if (code === null) throw new Error(`no code for ${tenant}/${associateId}`);
  const res = await tokenRequest(sim, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, client_secret: clientSecret, code_verifier: verifier });
  if (res.status !== 200 || typeof res.json['refresh_token'] !== 'string') throw new Error(`the code exchange for ${tenant}/${associateId} answered ${res.status}`);
  return { refresh_token: res.json['refresh_token'] };
}

export async function startFuzzStack(): Promise<FuzzStack> {
  const quiet = () => undefined;
  const stack = await startLocalStack({
    starters: { startAzurite, startKeyVault: startKeyVaultServer, startSimulator: startSuperOfficeSimulator, startIssuer: startCallerIssuer },
    port: 0,
    env: { LOG_LEVEL: 'error', EVENT_SUBSCRIBERS: JSON.stringify(EVENT_SUBSCRIBERS) },
    log: quiet,
  });
  try {
    let runtime = getRuntime();
    const simulator = stack.simulator as unknown as SuperOfficeSimulator;
    const canaries = new Map<string, string>();
    const clientSecret = (await runtime.secrets.get(SECRET_NAMES.clientSecret, { fresh: true })).value.reveal();
    canaries.set('client_secret', clientSecret);
    const pem = (await runtime.secrets.get(SECRET_NAMES.rsaPrivateKey, { fresh: true })).value.reveal();
    canaries.set('RSA private key', pem.split('\n').slice(1, -2).join(''));
    for (const name of [SECRET_NAMES.auditHmacKey, SECRET_NAMES.auditHeadsKey, SECRET_NAMES.stateCookieKey]) {
      canaries.set(name, (await runtime.secrets.get(name, { fresh: true })).value.reveal());
    }
    let round = 0;
    const reconnect = async (): Promise<void> => {
      round += 1;
      for (const [ctx, associateId] of CONNECTED) {
        const tokens = await signInAt(simulator, stack.config.superOffice.clientId, clientSecret, stack.config.superOffice.redirectUri, ctx, associateId);
        await runtime.secrets.set(connectionSecretName('sod', ctx, String(associateId)), new Secret(tokens.refresh_token));
        await runtime.connections.saveConsent({
          env: 'sod', ctx, associateId: String(associateId), webApiUrl: `${simulator.apiHostUrl}/${ctx}/api/`,
          isAdministrator: associateId === 5, systemUserStored: false, consentedAt: new Date().toISOString(), consentedBy: 'fuzz',
        });
        runtime.tokens.forget(ctx, String(associateId));
        canaries.set(`refresh token ${ctx}/${associateId} #${round}`, tokens.refresh_token);
      }
    };
    await reconnect();
    return {
      stack,
      hostUrl: stack.host.url,
      issuer: stack.issuer as unknown as CallerIssuer,
      canaries,
      reconnect,
      newInstance() {
        runtime = createRuntime(stack.config);
        setRuntime(runtime);
      },
      stop: () => stack.stop(),
    };
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

export { DEMO_CALLERS, type DemoCallerName };
