/**
 * docs/superoffice.md §8 authorize, end to end in headless Chromium: the real HTML login page (tenant picker, user
 * choice, Approve/Deny) redirects to a loopback receiver, and the code is exchanged at the token endpoint.
 * The browser is found by test/support/browser.ts (a system Chromium, else the one @sparticuz/chromium ships).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { demoApp } from '../../../dev/superoffice/seed.js';
import { launchChromium } from '../../support/browser.js';
import { CLAIM, authorizeUrl, decodeJwtPayload, pkce, startReceiver, tokenRequest, type Receiver } from './helpers.js';

let sim: SuperOfficeSimulator;
let receiver: Receiver;
let browser: Browser;
let redirectUri: string;
const app = { clientId: '0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f', clientSecret: '1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e' };

beforeAll(async () => {
  receiver = await startReceiver();
  redirectUri = `${receiver.url}/api/consent/callback`;
  sim = await startSuperOfficeSimulator({ apps: [demoApp({ ...app, redirectUris: [redirectUri] })] });
  browser = await launchChromium();
}, 180_000);
afterAll(async () => {
  await browser?.close();
  await sim?.close();
  await receiver?.close();
});

describe('§8 authorize in a real browser', () => {
  it('Deny on the login page lands on the redirect URI with error=access_denied', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(authorizeUrl(sim, { clientId: app.clientId, redirectUri, tenant: 'Cust12345', state: 'deny-me' }));
      await page.click('#deny');
      await page.waitForURL((u) => u.toString().startsWith(redirectUri));
      const landed = new URL(page.url());
      expect(landed.searchParams.get('error')).toBe('access_denied');
      expect(landed.searchParams.get('state')).toBe('deny-me');
    } finally {
      await page.close();
    }
  });

  it('picks a tenant and a user, approves, lands on the receiver with code+state, and the code is exchanged', async () => {
    const { verifier, challenge } = pkce();
    const page = await browser.newPage();
    try {
      await page.goto(authorizeUrl(sim, { clientId: app.clientId, redirectUri, state: 'browser-state', nonce: 'browser-nonce', challenge, method: 'S256' }));
      await page.selectOption('#tenant-select', 'Cust12345');
      await page.click('#tenant-continue');
      await page.waitForSelector('#consent-form');
      expect(await page.textContent('#app-name')).toBe('Token Broker Dev');
      expect(await page.textContent('#tenant-name')).toContain('Cust12345');
      await page.check('#user-6');
      await page.click('#approve');
      await page.waitForURL((u) => u.toString().startsWith(redirectUri));
      const landed = new URL(page.url());
      expect(landed.searchParams.get('state')).toBe('browser-state');
      const code = landed.searchParams.get('code');
      expect(code).not.toBeNull();
      expect(receiver.requests.some((r) => r.url.startsWith('/api/consent/callback?'))).toBe(true);

      const res = await tokenRequest(sim, {
        grant_type: 'authorization_code',
        code: code ?? '',
        redirect_uri: redirectUri,
        client_id: app.clientId,
        client_secret: app.clientSecret,
        code_verifier: verifier,
      });
      expect(res.status).toBe(200);
      const claims = decodeJwtPayload(String(res.json['id_token']));
      expect(claims['nonce']).toBe('browser-nonce');
      expect(claims[`${CLAIM}associateid`]).toBe('6');
      expect(claims[`${CLAIM}ctx`]).toBe('Cust12345');
    } finally {
      await page.close();
    }
  });
});
