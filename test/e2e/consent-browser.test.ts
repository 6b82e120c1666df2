import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite } from '../../dev/azurite.js';
import { startCallerIssuer } from '../../dev/entra/issuer.js';
import { startKeyVaultServer } from '../../dev/keyvault/server.js';
import { startLocalStack, type LocalStack } from '../../dev/stack.js';
import { startSuperOfficeSimulator } from '../../dev/superoffice/simulator.js';
import { createRequestGuardFromConfig } from '../../shared/identity/guard.js';
import { createLogger } from '../../shared/log/logger.js';
import { createRuntime, getRuntime } from '../../shared/runtime/runtime.js';
import { createKeyVaultSecretStore } from '../../shared/secrets/keyVaultStore.js';
import { connectionSecretName, systemUserSecretName } from '../../shared/secrets/names.js';
import { launchChromium } from '../support/browser.js';

/**
 * The consent flow in a real browser (docs/architecture.md §7): the local stack (Azurite, dev Key Vault,
 * SuperOffice simulator, caller issuer, dev host on an ephemeral port, whose real port is the
 * simulator app's registered redirect URI) and headless Chromium driven by playwright-core (found by
 * test/support/browser.ts: a system Chromium, else the one the dev dependency @sparticuz/chromium ships).
 * A demo caller mints a consent link; the browser opens it, chooses a user on the simulator's page,
 * approves, and lands on the broker's success page; then the connection and the vaulted RT are checked.
 */

let stack: LocalStack;
let browser: Browser;

beforeAll(async () => {
  const logger = createLogger({ level: 'error', sink: () => undefined });
  stack = await startLocalStack({
    env: {},
    port: 0,
    log: () => undefined,
    starters: {
      startAzurite: (options) => startAzurite(options),
      startKeyVault: (options) => startKeyVaultServer(options),
      startSimulator: (options) => startSuperOfficeSimulator(options),
      startIssuer: (options) => startCallerIssuer(options),
    },
    // Caller authentication with the real guard against the dev issuer (the default runtime denies every caller until the lead composes it).
    createRuntime: (config) => createRuntime(config, { logger, guard: createRequestGuardFromConfig(config, logger) }),
  });
  // Playwright gives the browser a fresh temporary profile; every test also uses its own new context.
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
}, 60_000);

/** `POST /api/consent-links` as the demo caller `ops-admin`; returns the link to open. */
async function mintConsentLink(body: { ctx: string; associateId?: string }): Promise<string> {
  const token = await stack.issuer!.mint('ops-admin');
  const response = await fetch(`${stack.host.apiUrl}/consent-links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  expect(response.status, text).toBe(201);
  return (JSON.parse(text) as { url: string }).url;
}

/** Opens the link in a fresh browser context, signs in as `associateId` at the simulator and approves; returns the final URL and page text. */
async function consentInBrowser(link: string, associateId: number): Promise<{ url: string; heading: string; connected: { tenant: string | null; user: string | null }; cookies: number; context: BrowserContext }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const thirdParty: string[] = [];
  page.on('request', (request) => {
    const origin = new URL(request.url()).origin;
    if (origin !== new URL(stack.host.url).origin && origin !== stack.config.superOffice.baseUrl) thirdParty.push(origin);
  });
  await page.goto(link);
  // The broker redirected to the simulator's login/consent page.
  await page.waitForSelector('#consent-form');
  expect(new URL(page.url()).origin).toBe(stack.config.superOffice.baseUrl);
  await page.check(`#user-${associateId}`);
  await Promise.all([page.waitForURL((url) => url.pathname === '/api/consent/done'), page.click('#approve')]);
  const heading = (await page.textContent('h1')) ?? '';
  const connected = { tenant: await page.textContent('#consent-tenant'), user: await page.textContent('#consent-user') };
  const cookies = (await context.cookies()).filter((c) => c.name.startsWith('__Host-')).length;
  expect(thirdParty).toEqual([]);
  return { url: page.url(), heading, connected, cookies, context };
}

/** A fresh read from the dev vault (what the broker wrote), or undefined. */
async function vaultValue(name: string): Promise<string | undefined> {
  const store = createKeyVaultSecretStore({ config: stack.config, logger: createLogger({ sink: () => undefined }) });
  try {
    return (await store.get(name, { fresh: true })).value.reveal();
  } catch (error) {
    if ((error as { code?: string }).code === 'secret_not_found') return undefined;
    throw error;
  }
}

/**
 * Asks the broker for the consented user's access token as the demo caller `integration` and calls
 * the simulator's Web API with it (issue 5 item 7).
 */
async function requestUserTokenAndCallWebApi(subject: { ctx: string; associateId: string }): Promise<{ tokenStatus: number; webApiStatus: number | undefined; associateId?: number }> {
  const caller = await stack.issuer!.mint('integration');
  const tokenResponse = await fetch(`${stack.host.apiUrl}/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/json' },
    body: JSON.stringify(subject),
  });
  if (tokenResponse.status !== 200) return { tokenStatus: tokenResponse.status, webApiStatus: undefined };
  const token = (await tokenResponse.json()) as { accessToken: string; webApiUrl: string };
  const principal = await fetch(new URL('v1/User/currentPrincipal', token.webApiUrl), { headers: { authorization: `Bearer ${token.accessToken}`, accept: 'application/json' } });
  const body = (await principal.json()) as { AssociateId?: number };
  return { tokenStatus: tokenResponse.status, webApiStatus: principal.status, ...(body.AssociateId !== undefined ? { associateId: body.AssociateId } : {}) };
}

describe('consent in a real browser (headless Chromium)', () => {
  it('a normal user approves at SuperOffice and lands on the success page; the connection and the RT exist', async () => {
    const link = await mintConsentLink({ ctx: 'Cust12345', associateId: '6' });
    expect(new URL(link).origin).toBe(stack.host.url);
    const result = await consentInBrowser(link, 6);
    expect(new URL(result.url).pathname).toBe('/api/consent/done');
    // Requirement 35: no code or state; only the sealed notice naming who was connected.
    expect([...new URL(result.url).searchParams.keys()]).toEqual(['connected']);
    expect(result.heading).toBe('SuperOffice access granted');
    expect(result.connected).toEqual({ tenant: 'Cust12345', user: '6' });
    // Requirement 25: the transaction cookie was cleared on the callback.
    expect(result.cookies).toBe(0);
    await result.context.close();

    const connection = await getRuntime().connections.get({ env: 'sod', ctx: 'Cust12345', associateId: '6' });
    expect(connection).toMatchObject({ status: 'active', isAdministrator: false, systemUserStored: false });
    const rt = await vaultValue(connectionSecretName('sod', 'Cust12345', '6'));
    expect(rt).toBeDefined();
    expect(rt!.length).toBeGreaterThan(20);

    // Issue 5 item 7: a token request for that user succeeds, and the token works at the Web API as that user.
    expect(await requestUserTokenAndCallWebApi({ ctx: 'Cust12345', associateId: '6' })).toEqual({ tokenStatus: 200, webApiStatus: 200, associateId: 6 });

    // Issue 12: the same call through the proxy, as the integration caller, answers as Nora, with no token in sight.
    const caller = await stack.issuer!.mint('integration');
    const proxied = await fetch(`${stack.host.apiUrl}/superoffice/Cust12345/6/v1/User/currentPrincipal`, { headers: { authorization: `Bearer ${caller}`, accept: 'application/json' } });
    const text = await proxied.text();
    expect(proxied.status, text.slice(0, 300)).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ AssociateId: 6, Associate: 'NORA' });
    expect(text).not.toMatch(/8A:|7T:|access_token|refresh_token/i);
    expect([...proxied.headers.keys()].filter((h) => h === 'set-cookie' || h === 'authorization')).toEqual([]);
  }, 120_000);

  it('an administrator\'s consent in the browser also stores the system-user token', async () => {
    const link = await mintConsentLink({ ctx: 'Cust54321' });
    const result = await consentInBrowser(link, 5);
    expect(result.heading).toBe('SuperOffice access granted');
    expect(result.connected).toEqual({ tenant: 'Cust54321', user: '5' });
    await result.context.close();
    expect(await getRuntime().connections.get({ env: 'sod', ctx: 'Cust54321', associateId: '5' })).toMatchObject({ isAdministrator: true, systemUserStored: true });
    expect(await vaultValue(systemUserSecretName('sod', 'Cust54321'))).toMatch(/.+/);
  }, 120_000);

  it('reopening a used link shows the "already used" page', async () => {
    const link = await mintConsentLink({ ctx: 'Cust12345' });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(link);
    await page.waitForSelector('#consent-form');
    const again = await page.goto(link);
    expect(again?.status()).toBe(400);
    expect(await page.textContent('#consent-error')).toBe('This consent link was already used');
    await context.close();
  }, 60_000);
});
