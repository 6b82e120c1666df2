import { randomBytes } from 'node:crypto';
import { HttpRequest, InvocationContext, type Cookie, type HttpHandler, type HttpResponseInit } from '@azure/functions';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { callerIssuerSettings, readDevPolicy, startCallerIssuer, type CallerIssuer } from '../../../dev/entra/issuer.js';
import { startKeyVaultServer, type KeyVaultServer } from '../../../dev/keyvault/server.js';
import { DEMO_APP, demoApp } from '../../../dev/superoffice/seed.js';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { generateSystemUserKeyPair } from '../../../dev/superoffice/systemUser.js';
import { consentCallbackHandler } from '../../../functions/consentCallback.js';
import { consentDoneHandler } from '../../../functions/consentDone.js';
import { consentLinksHandler } from '../../../functions/consentLinks.js';
import { consentStartHandler } from '../../../functions/consentStart.js';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import { AUDIT_HMAC_KEY_NAME, createTokenFingerprinter } from '../../../shared/audit/fingerprint.js';
import { loadConfig, type Config } from '../../../shared/config/config.js';
import { createRequestGuardFromConfig } from '../../../shared/identity/guard.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createRuntime, setRuntime, type Runtime } from '../../../shared/runtime/runtime.js';
import { createKeyVaultSecretStore, type KeyVaultSecretStore } from '../../../shared/secrets/keyVaultStore.js';
import { SECRET_NAMES } from '../../../shared/secrets/names.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { SuperOfficeClient } from '../../../shared/superoffice/client.js';

/**
 * The consent integration stack: Azurite (tables), the dev Key Vault server through the real
 * `KeyVaultSecretStore`, the SuperOffice simulator (with a system-user key so admin consents carry
 * `system_token`), the dev caller issuer with the real request guard and the dev policy, and the four
 * consent functions called in-process through the real HTTP wrapper. The browser is played by hand:
 * the broker's responses are followed over HTTP to the simulator, whose consent form is POSTed.
 */

/** The registered redirect URI (in-process broker; the port is never dialled). */
export const REDIRECT_URI = 'http://127.0.0.1:7071/api/consent/callback';
export const BROKER_ORIGIN = 'http://127.0.0.1:7071';

export interface OutboundCall {
  readonly method: string;
  readonly url: string;
  readonly body: string | undefined;
}

/** Every broker response seen by the suite (for the canary scan, requirements 38 and 69). */
export interface SeenResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
  readonly cookies: readonly Cookie[];
}

export interface ConsentStack {
  readonly azurite: Azurite;
  readonly vault: KeyVaultServer;
  readonly simulator: SuperOfficeSimulator;
  readonly issuer: CallerIssuer;
  readonly config: Config;
  readonly runtime: Runtime;
  /** A second store on the same vault, read with `fresh` to see what the broker wrote. */
  readonly vaultReader: KeyVaultSecretStore;
  readonly stateCookieKey: string;
  readonly audits: AuditEntry[];
  readonly outbound: OutboundCall[];
  readonly responses: SeenResponse[];
  /** Outbound token requests that fail before being sent (connection refused) remaining. */
  failTokenPreSend: number;
  close(): Promise<void>;
}

export async function startConsentStack(): Promise<ConsentStack> {
  const [azurite, vault, issuer] = await Promise.all([startAzurite(), startKeyVaultServer(), startCallerIssuer()]);
  const { publicKeyPem } = generateSystemUserKeyPair();
  const simulator = await startSuperOfficeSimulator({ apps: [demoApp({ redirectUris: [REDIRECT_URI], systemUserPublicKeyPem: publicKeyPem })] });
  const config = loadConfig({
    KEY_VAULT_URL: vault.url,
    AzureWebJobsStorage: azurite.connectionString,
    SUPEROFFICE_ENVIRONMENT: 'sod',
    SUPEROFFICE_CLIENT_ID: DEMO_APP.clientId,
    SUPEROFFICE_REDIRECT_URI: REDIRECT_URI,
    SUPEROFFICE_BASE_URL: simulator.url,
    ...callerIssuerSettings(issuer),
    BROKER_POLICY: readDevPolicy(),
    LOG_LEVEL: 'error',
  });
  const logger = createLogger({ level: 'error', sink: () => undefined });
  const secrets = createKeyVaultSecretStore({ config, logger });
  const vaultReader = createKeyVaultSecretStore({ config, logger, cache: { ttlMs: 1 } });
  const stateCookieKey = randomBytes(32).toString('base64');
  await secrets.set(SECRET_NAMES.stateCookieKey, new Secret(stateCookieKey));
  await secrets.set(SECRET_NAMES.clientSecret, new Secret(DEMO_APP.clientSecret));
  await secrets.set(AUDIT_HMAC_KEY_NAME, new Secret(randomBytes(32).toString('base64')));
  const fingerprinter = createTokenFingerprinter({ secrets });

  const outbound: OutboundCall[] = [];
  const audits: AuditEntry[] = [];
  const responses: SeenResponse[] = [];
  const stack: { failTokenPreSend: number } = { failTokenPreSend: 0 };
  const recordingFetch: typeof fetch = async (input, init) => {
    const url = input instanceof URL ? input.href : typeof input === 'string' ? input : input.url;
    outbound.push({ method: init?.method ?? 'GET', url, body: typeof init?.body === 'string' ? init.body : undefined });
    if (stack.failTokenPreSend > 0 && new URL(url).pathname === '/login/common/oauth/tokens') {
      stack.failTokenPreSend -= 1;
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1'), { code: 'ECONNREFUSED' }) });
    }
    return fetch(input, init);
  };
  const runtime = createRuntime(config, {
      validateResponses: true,
    logger,
    secrets,
    superOffice: new SuperOfficeClient({ config, fetch: recordingFetch }),
    guard: createRequestGuardFromConfig(config, logger),
    audit: {
      record: async (entry) => {
        audits.push(entry);
      },
      fingerprint: (token) => fingerprinter.fingerprint(token),
    },
  });
  setRuntime(runtime);

  return Object.assign(stack, {
    azurite,
    vault,
    simulator,
    issuer,
    config,
    runtime,
    vaultReader,
    stateCookieKey,
    audits,
    outbound,
    responses,
    async close() {
      setRuntime(undefined);
      await Promise.allSettled([simulator.close(), vault.close(), issuer.close(), azurite.stop()]);
    },
  });
}

export interface CallInit {
  readonly method?: string;
  /** Path and query on the broker, or an absolute URL on the broker origin. */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Calls a consent function in-process as the Functions host would, and remembers the response. */
export async function callBroker(stack: ConsentStack, handler: HttpHandler, init: CallInit): Promise<SeenResponse> {
  const url = new URL(init.url, BROKER_ORIGIN);
  const request = new HttpRequest({
    method: init.method ?? 'GET',
    url: url.href,
    headers: { ...init.headers },
    ...(init.body !== undefined ? { body: { string: init.body } } : {}),
  });
  const response = (await handler(request, new InvocationContext({ functionName: 'test' }))) as HttpResponseInit;
  const body = typeof response.body === 'string' ? response.body : response.jsonBody !== undefined ? JSON.stringify(response.jsonBody) : '';
  const seen: SeenResponse = { status: response.status ?? 200, headers: new Headers(response.headers), body, cookies: response.cookies ?? [] };
  stack.responses.push(seen);
  return seen;
}

/** `POST /api/consent-links` as the given demo caller. */
export async function mintLink(stack: ConsentStack, body: unknown, caller: 'ops-admin' | 'integration' = 'ops-admin'): Promise<SeenResponse> {
  const token = await stack.issuer.mint(caller);
  return callBroker(stack, consentLinksHandler, {
    method: 'POST',
    url: '/api/consent-links',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export interface BrowserAtSuperOffice {
  /** The authorize URL the broker redirected to. */
  readonly authorizeUrl: string;
  /** `Cookie` header value the browser would send back to the broker. */
  readonly cookieHeader: string;
  readonly cookie: Cookie;
  /** The start response. */
  readonly start: SeenResponse;
}

/** Mints a link and opens it: the browser now stands at SuperOffice's authorize URL with the transaction cookie. */
export async function openLink(stack: ConsentStack, body: unknown = { ctx: 'Cust12345' }): Promise<BrowserAtSuperOffice> {
  const link = await mintLink(stack, body);
  if (link.status !== 201) throw new Error(`mint failed: ${link.status} ${link.body}`);
  const { url } = JSON.parse(link.body) as { url: string };
  const start = await callBroker(stack, consentStartHandler, { url });
  if (start.status !== 303 || start.cookies.length !== 1) throw new Error(`start failed: ${start.status}`);
  const cookie = start.cookies[0]!;
  return { authorizeUrl: start.headers.get('location')!, cookieHeader: `${cookie.name}=${cookie.value}`, cookie, start };
}

/**
 * Plays the user at the simulator: GET the authorize URL (login page), POST the consent form for
 * `associateId` with `decision`; returns the callback URL SuperOffice redirects the browser to.
 */
export async function consentAtSuperOffice(authorizeUrl: string, associateId: number, decision: 'approve' | 'deny' = 'approve'): Promise<URL> {
  const page = await fetch(authorizeUrl, { redirect: 'manual' });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`authorize page answered ${page.status}: ${html.slice(0, 300)}`);
  const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1];
  if (requestId === undefined) throw new Error('no request_id on the simulator login page');
  const decisionUrl = new URL('/login/common/oauth/authorize/decision', authorizeUrl);
  const answer = await fetch(decisionUrl, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ request_id: requestId, associate_id: String(associateId), decision }).toString(),
  });
  const location = answer.headers.get('location');
  await answer.arrayBuffer();
  if (answer.status !== 302 || location === null) throw new Error(`decision answered ${answer.status}`);
  return new URL(location);
}

/** Sends the browser back to the broker's callback with (or without) the cookie. */
export async function returnToBroker(stack: ConsentStack, callbackUrl: URL, cookieHeader: string | undefined): Promise<SeenResponse> {
  return callBroker(stack, consentCallbackHandler, {
    url: `${callbackUrl.pathname}${callbackUrl.search}`,
    headers: cookieHeader === undefined ? {} : { cookie: cookieHeader },
  });
}

export { consentDoneHandler, consentStartHandler, consentCallbackHandler };
