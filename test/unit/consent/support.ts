import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { SignJWT, createLocalJWKSet, exportJWK, type JWK } from 'jose';
import type { Config } from '../../../shared/config/config.js';
import type { Connection, ConnectionStore } from '../../../shared/connections/connection.js';
import { ConsentService, type ConsentServiceDeps } from '../../../shared/connections/consent/consentService.js';
import { MemoryRedemptionStore } from '../../../shared/connections/consent/redemptions.js';
import { CONSENT_COOKIE_NAME } from '../../../shared/connections/consent/transactionCookie.js';
import type { Caller } from '../../../shared/identity/caller.js';
import { createMemorySecretStore, type MemorySecretStore } from '../../../shared/secrets/memoryStore.js';
import { SECRET_NAMES } from '../../../shared/secrets/names.js';
import type { Secret } from '../../../shared/secrets/secret.js';
import { CLAIM } from '../../../shared/superoffice/idToken.js';
import { classifyTokenResponse, superOfficeEndpoints, type TokenGrant } from '../../../shared/superoffice/oauth.js';
import { secretOf } from '../../../shared/superoffice/appCredentials.js';
import type { UpstreamResponse } from '../../../shared/superoffice/upstream.js';
import { testConfig } from '../../support/config.js';

/** Unit-test wiring for the consent flow: memory stores, a fake SuperOffice authorization server with PKCE, a fake clock. */

export const T0 = Date.parse('2026-03-02T09:00:00Z');
export const BASE_URL = 'http://127.0.0.1:2';
export const CLIENT_ID = 'test-client-id-0001';
export const CLIENT_SECRET = 'canary-client-secret-7f3a9c';
export const STATE_COOKIE_KEY = randomBytes(32).toString('base64');

export const ADMIN_CALLER: Caller = {
  tid: '11111111-1111-4111-8111-111111111111',
  oid: '33333333-3333-4333-8333-333333333333',
  azp: '44444444-4444-4444-8444-444444444444',
  idtyp: 'app',
  roles: ['Connections.Admin'],
  tokenVersion: '2.0',
};

export const POLICY = {
  version: 1,
  callers: [
    {
      name: 'ops',
      tid: ADMIN_CALLER.tid,
      oid: ADMIN_CALLER.oid,
      operations: ['connections.admin'],
      superOffice: [
        { env: 'sod', ctx: 'Cust12345', users: '*' },
        { env: 'sod', ctx: 'Cust54321', users: ['5'] },
      ],
    },
  ],
};

export function consentConfig(overrides: Record<string, string | undefined> = {}): Config {
  return testConfig({ SUPEROFFICE_BASE_URL: BASE_URL, SUPEROFFICE_CLIENT_ID: CLIENT_ID, BROKER_POLICY: JSON.stringify(POLICY), ...overrides });
}

export interface FakeClock {
  now(this: void): number;
  advance(ms: number): void;
}

export function fakeClock(start = T0): FakeClock {
  let current = start;
  return { now: () => current, advance: (ms) => void (current += ms) };
}

export interface SimUser {
  readonly associateId: string;
  readonly isAdministrator: boolean;
  readonly ctx?: string;
}

interface IssuedCode {
  readonly user: SimUser;
  readonly nonce: string;
  readonly challenge: string;
  readonly redirectUri: string;
  used: boolean;
}

/** One RSA key per test file: generating one per harness would dominate the run time. */
const SIGNING_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 });
let signingJwk: Promise<JWK> | undefined;

export type TokenBehaviour = (grant: TokenGrant, call: number) => Promise<UpstreamResponse> | UpstreamResponse | undefined;

/** A minimal SuperOffice authorization server: authorize → code bound to nonce, PKCE challenge and redirect_uri; token → id_token. */
export class FakeSuperOffice {
  readonly endpoints = superOfficeEndpoints(BASE_URL);
  readonly tokenCalls: TokenGrant[] = [];
  readonly clientSecretsSeen: string[] = [];
  /** Runs before the normal answer; return a response, or throw, to override it. */
  behaviour: TokenBehaviour | undefined;
  /** Claim overrides for the next id_tokens. */
  idTokenOverrides: Record<string, unknown> = {};
  refreshTokenOf = (user: SimUser): string => `canary-rt-${user.ctx ?? 'Cust12345'}-${user.associateId}-${randomBytes(6).toString('hex')}`;
  readonly issuedRefreshTokens: string[] = [];
  private readonly codes = new Map<string, IssuedCode>();
  private readonly privateKey = SIGNING_KEY.privateKey;
  keys: ReturnType<typeof createLocalJWKSet>;

  constructor(private readonly clock: FakeClock) {
    this.keys = createLocalJWKSet({ keys: [] });
  }

  async ready(): Promise<this> {
    signingJwk ??= exportJWK(SIGNING_KEY.publicKey).then((jwk) => ({ ...jwk, kid: 'sim-1', alg: 'RS256', use: 'sig' }));
    this.keys = createLocalJWKSet({ keys: [await signingJwk] });
    return this;
  }

  /** Plays the user approving at SuperOffice: returns the callback query for the authorize URL. */
  approve(authorizeUrl: string, user: SimUser): URLSearchParams {
    const url = new URL(authorizeUrl);
    const q = url.searchParams;
    const code = `canary-code-${randomBytes(12).toString('hex')}`;
    this.codes.set(code, {
      user,
      nonce: q.get('nonce') ?? '',
      challenge: q.get('code_challenge') ?? '',
      redirectUri: q.get('redirect_uri') ?? '',
      used: false,
    });
    return new URLSearchParams({ code, state: q.get('state') ?? '' });
  }

  async idToken(user: SimUser, nonce: string): Promise<string> {
    const iat = Math.floor(this.clock.now() / 1000);
    const ctx = user.ctx ?? 'Cust12345';
    const claims: Record<string, unknown> = {
      sub: `user${user.associateId}@example.com`,
      iss: BASE_URL,
      aud: CLIENT_ID,
      iat: String(iat),
      nbf: iat - 60,
      exp: iat + 300,
      nonce,
      [`${CLAIM}ctx`]: ctx,
      [`${CLAIM}associateid`]: user.associateId,
      [`${CLAIM}is_administrator`]: user.isAdministrator ? 'True' : 'False',
      [`${CLAIM}webapi_url`]: `${BASE_URL}/${ctx}/api/`,
      [`${CLAIM}serial`]: '1801550193',
      ...(user.isAdministrator ? { [`${CLAIM}system_token`]: `canary-system-token-${ctx}` } : {}),
      ...this.idTokenOverrides,
    };
    const payload = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'sim-1' }).sign(this.privateKey);
  }

  token = async (clientId: string, clientSecret: Secret, grant: TokenGrant): Promise<ReturnType<typeof classifyTokenResponse> & { response: UpstreamResponse }> => {
    this.tokenCalls.push(grant);
    this.clientSecretsSeen.push(clientSecret.reveal());
    const custom = await this.behaviour?.(grant, this.tokenCalls.length);
    const response = custom ?? (await this.answer(clientId, clientSecret, grant));
    return { ...classifyTokenResponse(response, secretOf), response };
  };

  private async answer(clientId: string, clientSecret: Secret, grant: TokenGrant): Promise<UpstreamResponse> {
    const error = (status: number, code: string): UpstreamResponse => jsonResponse(status, { error: code });
    if (clientId !== CLIENT_ID || clientSecret.reveal() !== CLIENT_SECRET) return error(401, 'invalid_client');
    if (grant.grantType !== 'authorization_code') return error(400, 'unsupported_grant_type');
    const issued = this.codes.get(grant.code.reveal());
    if (issued === undefined || issued.used) return error(400, 'invalid_grant');
    issued.used = true;
    if (grant.redirectUri !== issued.redirectUri) return error(400, 'invalid_grant');
    const computed = createHash('sha256').update(grant.codeVerifier.reveal(), 'ascii').digest('base64url');
    if (computed !== issued.challenge) return error(400, 'invalid_grant');
    const refreshToken = this.refreshTokenOf(issued.user);
    this.issuedRefreshTokens.push(refreshToken);
    return jsonResponse(200, {
      token_type: 'Bearer',
      access_token: `8A:Cust12345.canary-at-${randomBytes(6).toString('hex')}`,
      expires_in: 3600,
      refresh_token: refreshToken,
      id_token: await this.idToken(issued.user, issued.nonce),
    });
  }
}

export function jsonResponse(status: number, body: unknown): UpstreamResponse {
  return { status, headers: new Headers({ 'content-type': 'application/json' }), text: JSON.stringify(body), retryAfterSec: undefined };
}

/** A ConnectionStore that records saved consents. */
export class FakeConnections implements Pick<ConnectionStore, 'saveConsent'> {
  readonly saved: Connection[] = [];
  async saveConsent(connection: Omit<Connection, 'status' | 'lastRefreshAt' | 'lastProbeAt' | 'lastErrorCode' | 'updatedAt'>): Promise<Connection> {
    const record: Connection = { ...connection, status: 'active', lastRefreshAt: connection.consentedAt, lastProbeAt: undefined, lastErrorCode: undefined, updatedAt: connection.consentedAt };
    this.saved.push(record);
    return record;
  }
}

export interface ConsentHarness {
  readonly config: Config;
  readonly clock: FakeClock;
  readonly secrets: MemorySecretStore;
  readonly redemptions: MemoryRedemptionStore;
  readonly connections: FakeConnections;
  readonly superOffice: FakeSuperOffice;
  readonly service: ConsentService;
  /** Mints a link, starts it and returns the authorize URL and the browser's cookie header. */
  begin(request?: { ctx?: string; associateId?: string; returnTo?: string }): Promise<{ authorizeUrl: string; cookieHeader: string; ticket: string }>;
  /** Number of secrets written (across names). */
  secretWrites(): number;
}

export async function consentHarness(options: { config?: Config; deps?: Partial<ConsentServiceDeps> } = {}): Promise<ConsentHarness> {
  const config = options.config ?? consentConfig();
  const clock = fakeClock();
  const secrets = createMemorySecretStore({ clock: clock.now });
  await secrets.seed(SECRET_NAMES.stateCookieKey, STATE_COOKIE_KEY);
  await secrets.seed(SECRET_NAMES.clientSecret, CLIENT_SECRET);
  const baseline = new Set([SECRET_NAMES.stateCookieKey, SECRET_NAMES.clientSecret]);
  const redemptions = new MemoryRedemptionStore();
  const connections = new FakeConnections();
  const superOffice = await new FakeSuperOffice(clock).ready();
  let writes = 0;
  const countingSecrets = new Proxy(secrets, {
    get(target, property, receiver) {
      if (property === 'set') {
        return async (...args: Parameters<MemorySecretStore['set']>) => {
          if (!baseline.has(args[0] as never)) writes++;
          return target.set(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const service = new ConsentService({
    config,
    secrets: countingSecrets,
    appCredentials: { clientSecret: async () => (await secrets.get(SECRET_NAMES.clientSecret)).value },
    superOffice,
    connections,
    redemptions,
    clock: clock.now,
    exchangeRetryDelayMs: 1,
    fingerprint: async (token) => `fp1_${createHash('sha256').update(`audit-key|${token.reveal()}`).digest('base64url')}`,
    ...options.deps,
  });
  return {
    config,
    clock,
    secrets,
    redemptions,
    connections,
    superOffice,
    service,
    secretWrites: () => writes,
    async begin(request = {}) {
      const link = await service.createLink(ADMIN_CALLER, { ctx: request.ctx ?? 'Cust12345', associateId: request.associateId, returnTo: request.returnTo });
      const ticket = new URL(link.url).searchParams.get('ticket') ?? '';
      const started = await service.start(ticket);
      if (started.kind !== 'redirect') throw new Error(`start failed: ${started.reason}`);
      return { authorizeUrl: started.location, cookieHeader: `${CONSENT_COOKIE_NAME}=${started.cookie.value}`, ticket };
    },
  };
}
