/**
 * Test helpers for the SuperOffice simulator tests: PKCE, the HTTP-level consent flow (what a browser does,
 * without one), token exchange, an independent system-user signer and a loopback receiver for redirects
 * and webhooks. Nothing here imports the simulator's signing or HMAC code.
 */
import { createHash, createPrivateKey, randomBytes, sign, constants, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { DEMO_APP, DEMO_REDIRECT_URI } from '../../../dev/superoffice/seed.js';

export const CLAIM = 'http://schemes.superoffice.net/identity/';

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface AuthorizeParams {
  readonly clientId?: string;
  readonly redirectUri?: string;
  readonly tenant?: string | undefined;
  readonly state?: string;
  readonly nonce?: string;
  readonly challenge?: string;
  readonly method?: string | undefined;
  readonly extra?: Record<string, string>;
}

export function authorizeUrl(sim: SuperOfficeSimulator, p: AuthorizeParams = {}): string {
  const u = new URL(`${sim.url}/login/common/oauth/authorize`);
  u.searchParams.set('client_id', p.clientId ?? DEMO_APP.clientId);
  u.searchParams.set('redirect_uri', p.redirectUri ?? DEMO_REDIRECT_URI);
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('scope', 'openid');
  if (p.state !== undefined) u.searchParams.set('state', p.state);
  if (p.nonce !== undefined) u.searchParams.set('nonce', p.nonce);
  if (p.challenge !== undefined) u.searchParams.set('code_challenge', p.challenge);
  if (p.method !== undefined) u.searchParams.set('code_challenge_method', p.method);
  if (p.tenant !== undefined) u.searchParams.set('acr_values', `tenant:${p.tenant}`);
  for (const [k, v] of Object.entries(p.extra ?? {})) u.searchParams.set(k, v);
  return u.toString();
}

export function requestIdOf(html: string): string {
  const m = /name="request_id" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error('no request_id in page');
  return m[1];
}

export async function postForm(url: string, form: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
    redirect: 'manual',
  });
}

/** Drives the login page over HTTP: returns the redirect Location after Approve (or Deny). */
export async function consent(
  sim: SuperOfficeSimulator,
  p: AuthorizeParams & { associateId: number; decision?: 'approve' | 'deny' },
): Promise<URL> {
  const first = await fetch(authorizeUrl(sim, p), { redirect: 'manual' });
  if (first.status !== 200) throw new Error(`authorize answered ${first.status}: ${await first.text()}`);
  let html = await first.text();
  if (html.includes('id="tenant-form"')) {
    const picked = await postForm(`${sim.url}/login/common/oauth/authorize/tenant`, {
      request_id: requestIdOf(html),
      tenant: p.tenant ?? 'Cust12345',
    });
    html = await picked.text();
  }
  const decided = await postForm(`${sim.url}/login/common/oauth/authorize/decision`, {
    request_id: requestIdOf(html),
    decision: p.decision ?? 'approve',
    associate_id: String(p.associateId),
  });
  const location = decided.headers.get('location');
  if (decided.status !== 302 || location === null) throw new Error(`decision answered ${decided.status}`);
  return new URL(location);
}

export async function tokenRequest(
  sim: SuperOfficeSimulator,
  form: Record<string, string>,
  init: { query?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const u = new URL(`${sim.url}/login/common/oauth/tokens`);
  for (const [k, v] of Object.entries(init.query ?? {})) u.searchParams.set(k, v);
  const res = await fetch(u, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json', ...init.headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

export interface Tokens {
  readonly access_token: string;
  readonly refresh_token: string;
  readonly id_token: string;
  readonly expires_in: number;
  readonly token_type: string;
}

/** Full consent + code exchange for a user (demo app unless clientId/secret given). */
export async function signIn(
  sim: SuperOfficeSimulator,
  opts: { associateId: number; tenant?: string; clientId?: string; clientSecret?: string; nonce?: string },
): Promise<Tokens> {
  const { verifier, challenge } = pkce();
  const loc = await consent(sim, {
    associateId: opts.associateId,
    tenant: opts.tenant ?? 'Cust12345',
    clientId: opts.clientId,
    challenge,
    method: 'S256',
    state: 's',
    nonce: opts.nonce ?? 'n',
  });
  const code = loc.searchParams.get('code');
  if (code === null) throw new Error(`no code: ${loc.toString()}`);
  const res = await tokenRequest(sim, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: DEMO_REDIRECT_URI,
    client_id: opts.clientId ?? DEMO_APP.clientId,
    client_secret: opts.clientSecret ?? DEMO_APP.clientSecret,
    code_verifier: verifier,
  });
  if (res.status !== 200) throw new Error(`token exchange failed: ${JSON.stringify(res.json)}`);
  return res.json as unknown as Tokens;
}

export function decodeJwtPayload(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[1];
  if (part === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function decodeJwtHeader(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[0];
  if (part === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** yyyyMMddHHmm in UTC, written out independently of the simulator. */
export function utcStamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}`;
}

/** The documented signing algorithm (docs/superoffice.md §3.3), implemented here with node:crypto only. */
export function signSystemToken(token: string, privateKey: KeyObject | string, date: Date): string {
  const data = `${token}.${utcStamp(date)}`;
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const signature = sign('sha256', Buffer.from(data, 'utf8'), { key, padding: constants.RSA_PKCS1_PADDING });
  return `${data}.${signature.toString('base64')}`;
}

export async function api(
  base: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown; contentType?: string } = {},
): Promise<{ status: number; body: unknown; headers: Headers; text: string }> {
  const headers: Record<string, string> = { Accept: 'application/json', ...init.headers };
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    headers['Content-Type'] = init.contentType ?? 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method: init.method ?? 'GET', headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, headers: res.headers, text };
}

export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly raw: Buffer;
}

export interface Receiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Status to answer per request (called with the request index). */
  respond: (index: number, req: ReceivedRequest) => number;
  close(): Promise<void>;
}

/** A loopback HTTP receiver that records raw request bodies. */
export async function startReceiver(respond: (index: number, req: ReceivedRequest) => number = () => 200): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const receiver: { respond: (index: number, req: ReceivedRequest) => number } = { respond };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks) };
      const index = requests.length;
      requests.push(rec);
      res.writeHead(receiver.respond(index, rec), { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get respond() {
      return receiver.respond;
    },
    set respond(fn) {
      receiver.respond = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Admin consent → system_token → signed exchange → the `7T:` ticket (app must have the matching public key). */
export async function systemUserTicket(
  sim: SuperOfficeSimulator,
  privateKey: KeyObject,
  opts: { tenant?: string; clientSecret?: string; adminAssociateId?: number } = {},
): Promise<string> {
  const tenant = opts.tenant ?? 'Cust12345';
  const { id_token } = await signIn(sim, { associateId: opts.adminAssociateId ?? 5, tenant });
  const systemToken = decodeJwtPayload(id_token)[`${CLAIM}system_token`];
  if (typeof systemToken !== 'string') throw new Error('no system_token claim');
  const res = await fetch(`${sim.url}/Login/api/PartnerSystemUser/Authenticate`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({
      SignedSystemToken: signSystemToken(systemToken, privateKey, new Date()),
      ApplicationToken: opts.clientSecret ?? DEMO_APP.clientSecret,
      ContextIdentifier: tenant,
      ReturnTokenType: 'JWT',
    }),
  });
  const result = (await res.json()) as { IsSuccessful: boolean; Token: string | null; ErrorMessage: string | null };
  if (!result.IsSuccessful || result.Token === null) throw new Error(`system user failed: ${result.ErrorMessage ?? ''}`);
  const ticket = decodeJwtPayload(result.Token)[`${CLAIM}ticket`];
  if (typeof ticket !== 'string') throw new Error('no ticket claim');
  return ticket;
}

export function soTicket(ticket: string, appToken: string = DEMO_APP.clientSecret): Record<string, string> {
  return { Authorization: `SOTicket ${ticket}`, 'SO-AppToken': appToken };
}
