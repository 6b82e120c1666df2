import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createMemorySecretStore, type MemorySecretStore } from '../../../shared/secrets/memoryStore.js';
import { connectionSecretName } from '../../../shared/secrets/names.js';
import { Secret } from '../../../shared/secrets/secret.js';
import type { SecretStore } from '../../../shared/secrets/store.js';
import type { RevocationOutcome, TokenEndpointOutcome, TokenGrant } from '../../../shared/superoffice/oauth.js';
import { UpstreamTransportError } from '../../../shared/superoffice/upstream.js';
import { refreshReason } from '../../../shared/tokens/refreshDecision.js';
import { TokenService, type TokenServiceOptions } from '../../../shared/tokens/tokenService.js';
import { MemoryConnectionStore } from '../../support/memoryConnections.js';

type Outcome = TokenEndpointOutcome | 'network' | 'hang';
const SUBJECT = { env: 'sod', ctx: 'Cust1', associateId: '5' } as const;

function tokens(at = 'AT-1', expiresInSec = 3600, refreshToken?: string): TokenEndpointOutcome {
  return { kind: 'tokens', tokens: { accessToken: new Secret(at), expiresInSec, refreshToken: refreshToken ? new Secret(refreshToken) : undefined, idToken: undefined } };
}

type Revocation = RevocationOutcome | 'network';

class FakeTokenClient {
  calls: Array<{ secret: string; grant: TokenGrant }> = [];
  revocations: Array<{ secret: string; token: string }> = [];
  revocationScript: Revocation[] = [];
  script: Outcome[] = [];
  fallback: Outcome = tokens();
  gate: Promise<void> | undefined;

  async token(_clientId: string, secret: Secret, grant: TokenGrant, options: { signal?: AbortSignal } = {}): Promise<TokenEndpointOutcome & { response: { status: number } }> {
    this.calls.push({ secret: secret.reveal(), grant });
    if (this.gate) await this.gate;
    const next = this.script.shift() ?? this.fallback;
    if (next === 'network') throw new UpstreamTransportError('upstream_unavailable', { method: 'POST', host: 'h', path: '/p' }, true, new Error('reset'));
    if (next === 'hang') {
      await new Promise((_, reject) => options.signal?.addEventListener('abort', () => reject(new UpstreamTransportError('upstream_timeout', { method: 'POST', host: 'h', path: '/p' }, true, new Error('t')))));
    }
    const status = next === 'hang' ? 0 : next.kind === 'tokens' ? 200 : 'status' in next ? next.status : 200;
    return { ...(next as TokenEndpointOutcome), response: { status } };
  }

  async revoke(_clientId: string, secret: Secret, token: Secret): Promise<RevocationOutcome> {
    this.revocations.push({ secret: secret.reveal(), token: token.reveal() });
    const next = this.revocationScript.shift() ?? { kind: 'revoked' };
    if (next === 'network') throw new UpstreamTransportError('upstream_unavailable', { method: 'POST', host: 'h', path: '/revoke' }, false, new Error('refused'));
    return next;
  }
}

let now = 1_000_000;
let secrets: MemorySecretStore;
let client: FakeTokenClient;
let connections: MemoryConnectionStore;
let secretReads: number;
let clientSecretReads: { fresh: number; cached: number };

function service(overrides: Partial<TokenServiceOptions> = {}): TokenService {
  const counting: SecretStore = {
    get: (name, o) => { secretReads++; return secrets.get(name, o); },
    set: (name, v, o) => secrets.set(name, v, o),
    disable: (name, o) => secrets.disable(name, o),
  };
  return new TokenService({
    clientId: 'cid',
    environment: 'sod',
    secrets: counting,
    credentials: { clientSecret: async (o = {}) => { if (o.fresh) clientSecretReads.fresh++; else clientSecretReads.cached++; return new Secret(o.fresh ? 'cs-new' : 'cs-old'); } },
    client,
    connections,
    tenants: { requireRunning: async () => ({ ctx: 'Cust1', state: 'Running', isRunning: true, api: 'https://sod2.superoffice.com/Cust1/api/', validUntil: now + 60_000 }) },
    logger: createLogger({ sink: () => undefined }),
    clock: () => now,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    ...overrides,
  });
}

const request = (o: Partial<Parameters<TokenService['getUserToken']>[0]> = {}) => ({ ctx: 'Cust1', associateId: '5', deadline: Date.now() + 10_000, ...o });

beforeEach(async () => {
  now = 1_000_000;
  secrets = createMemorySecretStore();
  await secrets.set(connectionSecretName('sod', 'Cust1', '5'), new Secret('RT-1'));
  client = new FakeTokenClient();
  connections = new MemoryConnectionStore();
  connections.add(SUBJECT);
  secretReads = 0;
  clientSecretReads = { fresh: 0, cached: 0 };
});
afterEach(() => undefined);

async function errorOf(p: Promise<unknown>): Promise<BrokerError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(BrokerError);
  return e as BrokerError;
}

describe('refreshReason (pure)', () => {
  it('decides absent, expired, refresh_ahead and fresh at the boundaries', () => {
    const base = { now: 0, safetyMarginMs: 60_000, minValidityMs: 0, refreshAheadMs: 300_000 };
    expect(refreshReason({ ...base, expiresAt: undefined })).toBe('absent');
    expect(refreshReason({ ...base, expiresAt: 60_000 })).toBe('expired');
    expect(refreshReason({ ...base, expiresAt: 60_001 })).toBe('refresh_ahead');
    expect(refreshReason({ ...base, expiresAt: 360_000 })).toBe('refresh_ahead');
    expect(refreshReason({ ...base, expiresAt: 360_001 })).toBe('fresh');
    expect(refreshReason({ ...base, minValidityMs: 600_000, expiresAt: 600_000 })).toBe('expired');
  });
});

describe('TokenService', () => {
  it('refuses a user without a connection, and a revoked one, with not_connected', async () => {
    expect((await errorOf(service().getUserToken(request({ associateId: '6' })))).code).toBe('not_connected');
    connections.add(SUBJECT, 'revoked');
    expect((await errorOf(service().getUserToken(request()))).code).toBe('not_connected');
    expect(client.calls).toHaveLength(0);
  });

  it('refreshes once, then serves from cache; one Key Vault read per token lifetime', async () => {
    const s = service();
    const first = await s.getUserToken(request());
    const second = await s.getUserToken(request());
    expect(first.accessToken.reveal()).toBe('AT-1');
    expect(second.accessToken.reveal()).toBe('AT-1');
    expect(first.expiresAt).toBe(now + 3600_000);
    expect(first.webApiUrl).toBe('https://sod2.superoffice.com/Cust1/api/');
    expect(client.calls).toHaveLength(1);
    expect(client.calls[0]!.grant).toMatchObject({ grantType: 'refresh_token' });
    expect(secretReads).toBe(1);
  });

  it('requirement 44: never serves a token below the safety margin, and honours the caller minimum', async () => {
    const s = service();
    await s.getUserToken(request());
    now += 3600_000 - 60_000;
    client.fallback = tokens('AT-2');
    expect((await s.getUserToken(request())).accessToken.reveal()).toBe('AT-2');
    expect(client.calls).toHaveLength(2);
    client.fallback = tokens('AT-3');
    expect((await s.getUserToken(request({ minValiditySec: 3000 }))).accessToken.reveal()).toBe('AT-2');
    now += 700_000; // AT-2 has 2,900 s left: not enough for a 3,000 s minimum
    expect((await s.getUserToken(request({ minValiditySec: 3000 }))).accessToken.reveal()).toBe('AT-3');
    expect(client.calls).toHaveLength(3);
  });

  it('requirement 45: 100 concurrent requests with an empty cache make one upstream refresh', async () => {
    const s = service();
    let open!: () => void;
    client.gate = new Promise((r) => { open = r; });
    const all = Promise.all(Array.from({ length: 100 }, () => s.getUserToken(request())));
    await new Promise((r) => setTimeout(r, 10));
    open();
    const results = await all;
    expect(client.calls).toHaveLength(1);
    expect(new Set(results.map((r) => r.accessToken.reveal()))).toEqual(new Set(['AT-1']));
  });

  it('requirement 45: fast-check scheduler interleavings keep one refresh per instance', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 2, max: 20 }), async (scheduler, n) => {
        const c = new FakeTokenClient();
        const original = c.token.bind(c);
        c.token = (...args) => scheduler.schedule(original(...args));
        const s = service({ client: c });
        const pending = Promise.all(Array.from({ length: n }, () => s.getUserToken(request())));
        await scheduler.waitFor(pending);
        expect(c.calls).toHaveLength(1);
      }),
      { numRuns: 100 },
    );
  });

  it('requirement 39: a rotated refresh token is stored before the access token is returned', async () => {
    client.script = [tokens('AT-1', 3600, 'RT-2')];
    await service().getUserToken(request());
    expect((await secrets.get(connectionSecretName('sod', 'Cust1', '5'))).value.reveal()).toBe('RT-2');
  });

  it('requirement 39: if storing the rotated refresh token fails, nothing is released (503)', async () => {
    client.script = [tokens('AT-1', 3600, 'RT-2')];
    const s = service({ secrets: { get: (n, o) => secrets.get(n, o), set: async () => { throw new Error('kv down'); }, disable: async () => undefined } });
    const error = await errorOf(s.getUserToken(request()));
    expect(error.code).toBe('secret_store_unavailable');
    expect(error.extensions).toMatchObject({ reason: 'rt_persist_failed' });
    expect(s.cache.size).toBe(0);
  });

  for (const oauth of ['invalid_grant', 'unauthorized_client', 'invalid_request'] as const) {
    it(`requirement 40: ${oauth} makes exactly one upstream call and marks the connection reauth_required`, async () => {
      client.script = [{ kind: 'oauth_error', error: oauth, status: 400 }];
      const error = await errorOf(service().getUserToken(request()));
      expect(error.code).toBe('reauth_required');
      expect(error.status).toBe(409);
      expect(error.extensions).toMatchObject({ consentRequired: true });
      expect(client.calls).toHaveLength(1);
      expect((await connections.get(SUBJECT))?.status).toBe('reauth_required');
    });
  }

  it('a failed reauth_required write is logged, and the caller still gets reauth_required', async () => {
    const lines: string[] = [];
    connections.setStatus = async () => {
      throw new BrokerError('internal', 'table down');
    };
    client.script = [{ kind: 'oauth_error', error: 'invalid_grant', status: 400 }];
    const error = await errorOf(service({ logger: createLogger({ sink: (line) => lines.push(line) }) }).getUserToken(request()));
    expect(error.code).toBe('reauth_required');
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['event'] === 'tokens.connection_update_failed');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'warn', errorCode: 'internal' });
  });

  it('requirement 41: after invalid_grant, requests within the negative TTL make no upstream call', async () => {
    const s = service();
    client.script = [{ kind: 'oauth_error', error: 'invalid_grant', status: 400 }];
    await errorOf(s.getUserToken(request()));
    connections.add(SUBJECT, 'active'); // even if the record were reset, the negative cache holds
    expect((await errorOf(s.getUserToken(request()))).code).toBe('reauth_required');
    expect(client.calls).toHaveLength(1);
    now += 60_001;
    client.fallback = tokens('AT-9');
    expect((await s.getUserToken(request())).accessToken.reveal()).toBe('AT-9');
  });

  it('requirement 42: invalid_client re-reads the client_secret once and retries once', async () => {
    client.script = [{ kind: 'oauth_error', error: 'invalid_client', status: 401 }, tokens('AT-7')];
    expect((await service().getUserToken(request())).accessToken.reveal()).toBe('AT-7');
    expect(client.calls.map((c) => c.secret)).toEqual(['cs-old', 'cs-new']);
    expect(clientSecretReads.fresh).toBe(1);
  });

  it('requirement 42: a second invalid_client fails without marking the user', async () => {
    client.script = [{ kind: 'oauth_error', error: 'invalid_client', status: 401 }, { kind: 'oauth_error', error: 'invalid_client', status: 401 }];
    const error = await errorOf(service().getUserToken(request()));
    expect(error.code).toBe('upstream_unavailable');
    expect(client.calls).toHaveLength(2);
    expect((await connections.get(SUBJECT))?.status).toBe('active');
  });

  it('requirement 50: transient failures are retried at most 3 attempts, then 503 with Retry-After', async () => {
    client.fallback = { kind: 'transient', status: 503, retryAfterSec: undefined };
    const error = await errorOf(service().getUserToken(request()));
    expect(error.code).toBe('upstream_unavailable');
    expect(error.retryAfterSec).toBeGreaterThan(0);
    expect(client.calls).toHaveLength(3);
  });

  it('issue 15 point 6: a 503 from the token endpoint marks the tenant state stale; a 500 or a network error does not', async () => {
    const invalidated: string[] = [];
    const tenants = {
      requireRunning: async () => ({ ctx: 'Cust1', state: 'Running' as const, isRunning: true, api: 'https://sod2.superoffice.com/Cust1/api/', validUntil: now + 60_000 }),
      invalidate: (ctx: string) => { invalidated.push(ctx); return true; },
    };
    client.fallback = { kind: 'transient', status: 500, retryAfterSec: undefined };
    await errorOf(service({ tenants }).getUserToken(request()));
    client.fallback = 'network';
    await errorOf(service({ tenants }).getUserToken(request()));
    expect(invalidated).toEqual([]);
    client.fallback = { kind: 'transient', status: 503, retryAfterSec: undefined };
    expect((await errorOf(service({ tenants }).getUserToken(request()))).code).toBe('upstream_unavailable');
    expect(invalidated).toEqual(['Cust1']);
  });

  it('requirement 50: a network error then success', async () => {
    client.script = ['network', tokens('AT-5')];
    expect((await service().getUserToken(request())).accessToken.reveal()).toBe('AT-5');
    expect(client.calls).toHaveLength(2);
  });

  it('requirement 51: a Retry-After beyond the deadline stops retrying and answers in time', async () => {
    client.fallback = { kind: 'transient', status: 429, retryAfterSec: 60 };
    const started = Date.now();
    const error = await errorOf(service().getUserToken(request({ deadline: Date.now() + 2000 })));
    expect(error.code).toBe('upstream_unavailable');
    expect(client.calls).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('requirement 52: other 4xx give exactly one call and 502', async () => {
    client.script = [{ kind: 'rejected', status: 403 }];
    expect((await errorOf(service().getUserToken(request()))).code).toBe('upstream_bad_response');
    expect(client.calls).toHaveLength(1);
  });

  it('requirement 55: a malformed answer gives 502 and nothing is cached', async () => {
    client.script = [{ kind: 'malformed', status: 200, problem: 'access_token missing' }];
    const s = service();
    expect((await errorOf(s.getUserToken(request()))).code).toBe('upstream_bad_response');
    expect(s.cache.size).toBe(0);
  });

  it('requirement 46: while the upstream fails, a cached token above the margin is served with served_cached', async () => {
    const s = service({ refreshAheadMs: 10 * 60_000 });
    await s.getUserToken(request());
    now += 3600_000 - 5 * 60_000; // 5 minutes left: must refresh for a 10-minute minimum
    client.fallback = { kind: 'transient', status: 503, retryAfterSec: undefined };
    const served = await s.getUserToken(request({ minValiditySec: 600 }));
    expect(served.flags).toEqual(['served_cached']);
    expect(served.accessToken.reveal()).toBe('AT-1');
    now += 4 * 60_000 + 1; // below the 60 s safety margin: never served
    expect((await errorOf(s.getUserToken(request()))).code).toBe('upstream_unavailable');
  });

  it('requirement 53: the breaker opens after 5 consecutive failures and then fails fast without calls', async () => {
    const s = service({ maxAttempts: 1, breakerHalfOpenAfterMs: 200 });
    client.fallback = { kind: 'transient', status: 500, retryAfterSec: undefined };
    for (let i = 0; i < 5; i++) await errorOf(s.getUserToken(request()));
    expect(client.calls).toHaveLength(5);
    expect((await errorOf(s.getUserToken(request()))).code).toBe('upstream_unavailable');
    expect(client.calls).toHaveLength(5);
    await new Promise((r) => setTimeout(r, 250));
    client.fallback = tokens('AT-back');
    expect((await s.getUserToken(request())).accessToken.reveal()).toBe('AT-back');
    expect(client.calls).toHaveLength(6);
    expect(s.breakerState).toBe('0');
  });

  it('requirement 47: refreshes beyond the bulkhead and its queue are shed with 503', async () => {
    const s = service({ maxConcurrentRefreshes: 1, maxQueuedRefreshes: 1 });
    for (const id of ['6', '7', '8']) {
      connections.add({ ...SUBJECT, associateId: id });
      await secrets.set(connectionSecretName('sod', 'Cust1', id), new Secret(`RT-${id}`));
    }
    let open!: () => void;
    client.gate = new Promise((r) => { open = r; });
    const results = Promise.allSettled(['5', '6', '7', '8'].map((id) => s.getUserToken(request({ associateId: id }))));
    await new Promise((r) => setTimeout(r, 10));
    open();
    const settled = await results;
    const shed = settled.filter((r) => r.status === 'rejected' && (r.reason as BrokerError).code === 'overloaded');
    expect(shed.length).toBe(2);
  });

  it('records is_administrator from the refresh id_token on the connection', async () => {
    client.script = [{ kind: 'tokens', tokens: { accessToken: new Secret('AT-1'), expiresInSec: 3600, refreshToken: undefined, idToken: 'id.token.here' } }];
    const seen: string[] = [];
    await service({ administratorFromIdToken: async (idToken) => { seen.push(idToken); return true; } }).getUserToken(request());
    await new Promise((r) => setTimeout(r, 5));
    expect(seen).toEqual(['id.token.here']);
    expect((await connections.get(SUBJECT))?.isAdministrator).toBe(true);
  });

  it('requirement 43: the cache is keyed by an HMAC and bounded by max', async () => {
    const s = service({ cacheMax: 2 });
    for (const id of ['6', '7']) {
      connections.add({ ...SUBJECT, associateId: id });
      await secrets.set(connectionSecretName('sod', 'Cust1', id), new Secret(`RT-${id}`));
    }
    await s.getUserToken(request({ associateId: '5' }));
    await s.getUserToken(request({ associateId: '6' }));
    await s.getUserToken(request({ associateId: '7' }));
    expect(s.cache.size).toBe(2);
    const key = s.cache.keyOf(SUBJECT);
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(key).not.toContain('Cust1');
    expect(s.cache.get(key)).toBeUndefined(); // the least recently used entry was evicted
  });

  it('requirement 49: a hanging token endpoint is cut at the deadline', async () => {
    client.fallback = 'hang';
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const error = await errorOf(service().getUserToken(request({ signal: controller.signal, deadline: Date.now() + 300 })));
    expect(['upstream_timeout', 'upstream_unavailable']).toContain(error.code);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('TokenService.revokeRefreshTokens (issue 10 point 11)', () => {
  const rts = [new Secret('RT-a'), new Secret('RT-b')];

  it('a refused revocation is one call and reports failed', async () => {
    client.revocationScript = [{ kind: 'refused', status: 400, error: 'unsupported_token_type' }];
    expect(await service().revokeRefreshTokens(rts)).toBe('failed');
    expect(client.revocations).toHaveLength(1);
  });

  it('an unreadable client_secret is logged once and reports failed without calling SuperOffice', async () => {
    const lines: string[] = [];
    const s = service({
      logger: createLogger({ sink: (line) => lines.push(line) }),
      credentials: { clientSecret: async () => { throw new BrokerError('secret_store_unavailable'); } },
    });
    expect(await s.revokeRefreshTokens(rts)).toBe('failed');
    expect(client.revocations).toHaveLength(0);
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['event'] === 'tokens.revocation_failed');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ errorCode: 'secret_store_unavailable' });
  });

  it('transient failures stop after 3 attempts and report failed', async () => {
    client.revocationScript = ['network', { kind: 'transient', status: 503, retryAfterSec: 0 }, { kind: 'transient', status: 503, retryAfterSec: undefined }];
    expect(await service().revokeRefreshTokens(rts)).toBe('failed');
    expect(client.revocations).toHaveLength(3);
  });

  it('no revocation endpoint in discovery reports unsupported', async () => {
    client.revocationScript = [{ kind: 'unsupported' }];
    expect(await service().revokeRefreshTokens(rts)).toBe('unsupported');
  });

  it('revokes every token, retrying a transient failure, and re-reads the client_secret once on invalid_client', async () => {
    client.revocationScript = [{ kind: 'transient', status: 503, retryAfterSec: 0 }, { kind: 'revoked' }, { kind: 'refused', status: 401, error: 'invalid_client' }, { kind: 'revoked' }];
    expect(await service().revokeRefreshTokens(rts)).toBe('revoked');
    expect(client.revocations).toEqual([
      { secret: 'cs-old', token: 'RT-a' }, { secret: 'cs-old', token: 'RT-a' }, { secret: 'cs-old', token: 'RT-b' }, { secret: 'cs-new', token: 'RT-b' },
    ]);
  });
});
