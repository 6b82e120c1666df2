import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { odata, TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HttpHandler } from '@azure/functions';
import { createActionHandler } from '../../../functions/actions.js';
import { rightsTableHandler } from '../../../functions/rights.js';
import { superofficeProxyHandlers } from '../../../functions/superoffice.js';
import { tokensHandler } from '../../../functions/tokens.js';
import { callerIssuerSettings, startCallerIssuer, type CallerIssuer } from '../../../dev/entra/issuer.js';
import { ACTIONS_HMAC_KEY_NAME } from '../../../shared/actions/hmacKey.js';
import { ACTION_RESULTS_TABLE } from '../../../shared/actions/actionStore.js';
import { createAuditRecorder } from '../../../shared/audit/recorder.js';
import { loadConfig } from '../../../shared/config/config.js';
import { createCallerVerifier } from '../../../shared/identity/callerVerifier.js';
import { createRequestGuard } from '../../../shared/identity/guard.js';
import { OPERATION_ROLES } from '../../../shared/identity/operations.js';
import { parsePolicy } from '../../../shared/identity/policy.js';
import { createQueueSender } from '../../../shared/events/queueSender.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createRuntime, setRuntime, type Runtime, type RuntimeOverrides } from '../../../shared/runtime/runtime.js';
import { connectionSecretName } from '../../../shared/secrets/names.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { StorageClients } from '../../../shared/storage/storage.js';
import { CALLERS, startBrokerHarness, TEST_POLICY, TEST_TENANT, type BrokerHarness, type HarnessResponse } from '../../support/brokerHarness.js';

/**
 * The fault matrix (docs/faults.md, issue 15 point 3): for each dependency fault, what the broker answers
 * (status, code, Retry-After), what is retried, and what the audit trail records — and that no access
 * token leaves without its audit record and no refresh token is lost. Every test runs on a new broker
 * instance (empty caches, closed breakers) against the same Azurite, Key Vault server and SuperOffice
 * simulator. docs/faults.md names each test by its title.
 */

let h: BrokerHarness;
const CTX = 'Cust12345';
const NORA = 6;
/** Error log lines of the current test (the audit rows of docs/faults.md name some). */
const errorLog: string[] = [];
const quiet = createLogger({ level: 'error', sink: (l) => {
  errorLog.push(l);
  if (process.env['FAULTS_DEBUG']) process.stdout.write(`LOG ${l}\n`);
} });
const logged = (event: string): boolean => errorLog.some((line) => line.includes(`"${event}"`));

// The integration caller may also run actions (the queue row) in this file's policy.
const POLICY = {
  ...TEST_POLICY,
  callers: TEST_POLICY.callers.map((c) => (c.name === 'integration'
    ? { ...c, operations: [...new Set([...c.operations, 'actions'])] }
    : c)),
};

beforeAll(async () => {
  h = await startBrokerHarness({ env: { BROKER_POLICY: JSON.stringify(POLICY) } });
  await h.runtime.secrets.set(ACTIONS_HMAC_KEY_NAME, new Secret(randomBytes(32).toString('base64')));
  await h.connect(NORA);
}, 60_000);
afterAll(async () => h?.stop());

let instance: Runtime;
beforeEach(() => {
  errorLog.length = 0;
  h.sim.control.clearFaults();
  h.sim.control.setTenantState(CTX, 'Running');
  h.vault.faults.clear();
  h.sim.counters.reset();
  instance = newInstance();
});

/** A new broker instance on the same stack (a fresh runtime: empty caches, closed breakers); it becomes the current one. */
function newInstance(overrides: (base: Runtime) => RuntimeOverrides = () => ({})): Runtime {
  const base = createRuntime(h.config, { guard: h.runtime.guard, logger: quiet });
  const runtime = createRuntime(h.config, { guard: h.runtime.guard, logger: quiet, ...overrides(base) });
  setRuntime(runtime);
  return runtime;
}

interface Outcome {
  readonly res: HarnessResponse;
  /** The audit record written for the request (found by its correlation id), if any. */
  readonly audit: Record<string, unknown> | undefined;
  readonly ms: number;
}

async function requestToken(associateId = NORA, headers: Record<string, string> = {}): Promise<Outcome> {
  return callAudited(tokensHandler, { method: 'POST', path: '/api/tokens', caller: 'integration', body: { ctx: CTX, associateId: String(associateId) }, headers });
}

/** Calls an endpoint with a fresh request id and returns the answer with its audit record. */
async function callAudited(handler: HttpHandler, init: Parameters<BrokerHarness['call']>[1]): Promise<Outcome> {
  const id = `fault-${randomUUID()}`;
  const started = Date.now();
  const res = await h.call(handler, { ...init, headers: { ...init.headers, 'x-request-id': id } });
  return { res, audit: await auditOf(id), ms: Date.now() - started };
}

/** `GET v1/Contact/101` through the proxy, as Nora. */
function proxyGet(): Promise<Outcome> {
  return callAudited(superofficeProxyHandlers['GET']!, { path: `/api/superoffice/${CTX}/${NORA}/v1/Contact/101`, params: { ctx: CTX, actAs: String(NORA), path: 'v1/Contact/101' }, caller: 'integration' });
}

/** Nora's right to update contact 101 (the Web API strategy). */
function rightsCheck(): Promise<Outcome> {
  return callAudited(rightsTableHandler, { path: `/api/rights/${CTX}/${NORA}/tables/contact?right=update&recordId=101`, params: { ctx: CTX, associateId: String(NORA), table: 'contact' }, caller: 'integration' });
}

async function auditOf(correlationId: string): Promise<Record<string, unknown> | undefined> {
  const table = TableClient.fromConnectionString(h.azurite.connectionString, 'audit', { allowInsecureConnection: true });
  for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`correlation_id eq ${correlationId}` } })) return row;
  return undefined;
}

async function storedRefreshToken(associateId = NORA): Promise<string> {
  return (await h.runtime.secrets.get(connectionSecretName('sod', CTX, String(associateId)), { fresh: true })).value.reveal();
}

/**
 * The invariants of every row: a token only with its allow record (`releases`: the answer carries an access
 * token, as `POST /api/tokens` does; the proxy and rights answers never do); the refresh token still in the vault.
 */
async function expectInvariants(outcome: Outcome, refreshTokenBefore: string, releases = true): Promise<void> {
  if (!releases) expect(outcome.res.text).not.toMatch(/8A:Cust12345\./);
  if (outcome.res.status === 200 && releases) {
    expect(outcome.audit).toMatchObject({ outcome: 'allow', http_status: 200 });
    expect(String(outcome.audit?.['token_fingerprints'])).toMatch(/^fp1_/);
  } else {
    expect(outcome.res.text).not.toContain('accessToken');
    expect(outcome.res.text).not.toMatch(/8A:Cust12345\./);
  }
  expect(await storedRefreshToken()).toBe(refreshTokenBefore);
}

function expectProblem(outcome: Outcome, status: number, code: string, retryAfter?: number | 'any'): void {
  expect(outcome.res.status).toBe(status);
  expect(outcome.res.json['code']).toBe(code);
  if (retryAfter === 'any') expect(Number(outcome.res.headers.get('retry-after'))).toBeGreaterThan(0);
  else if (retryAfter !== undefined) expect(outcome.res.headers.get('retry-after')).toBe(String(retryAfter));
  // A refusal the caller can act on (4xx) is recorded as `deny`, a failure (5xx) as `error`.
  expect(outcome.audit).toMatchObject({ outcome: status < 500 ? 'deny' : 'error', reason: code, http_status: status });
}

async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('fault matrix: Key Vault', () => {
  it('Key Vault down (5xx): 503 secret_store_unavailable with Retry-After, audited, no token', async () => {
    const rt = await storedRefreshToken();
    h.vault.faults.inject({ status: 503, times: Infinity });
    const outcome = await requestToken();
    expectProblem(outcome, 503, 'secret_store_unavailable', 5);
    h.vault.faults.clear();
    await expectInvariants(outcome, rt);
  });

  it('Key Vault unreachable (connection reset): 503 secret_store_unavailable with Retry-After', async () => {
    const rt = await storedRefreshToken();
    h.vault.faults.inject({ reset: true, times: Infinity });
    const outcome = await requestToken();
    expectProblem(outcome, 503, 'secret_store_unavailable', 5);
    h.vault.faults.clear();
    await expectInvariants(outcome, rt);
  });

  it('Key Vault 429 with Retry-After 60: 503 secret_store_throttled passing Retry-After 60, within the 4 s budget', async () => {
    const rt = await storedRefreshToken();
    h.vault.faults.inject({ status: 429, retryAfterSec: 60, times: Infinity });
    const outcome = await requestToken();
    expectProblem(outcome, 503, 'secret_store_throttled', 60);
    expect(outcome.ms).toBeLessThan(5_000);
    h.vault.faults.clear();
    await expectInvariants(outcome, rt);
  });

  it('Key Vault slow (6 s per call): 503 secret_store_unavailable after the 4 s call budget, within the deadline', async () => {
    const rt = await storedRefreshToken();
    h.vault.faults.latency(6_000);
    const outcome = await requestToken();
    h.vault.faults.latency(0);
    expectProblem(outcome, 503, 'secret_store_unavailable', 5);
    expect(outcome.ms).toBeGreaterThanOrEqual(3_500);
    expect(outcome.ms).toBeLessThan(h.config.requestDeadlineMs);
    await expectInvariants(outcome, rt);
  });

  it('Key Vault down while the access token is cached: 200 from the cache, no Key Vault call, audited allow', async () => {
    const rt = await storedRefreshToken();
    expect((await requestToken()).res.status).toBe(200);
    h.vault.faults.inject({ status: 503, times: Infinity });
    const served = await requestToken();
    expect(served.res.status).toBe(200);
    expect(served.audit).toMatchObject({ outcome: 'allow', upstream_status: 0 });
    h.vault.faults.clear();
    await expectInvariants(served, rt);
  });
});

describe('fault matrix: Table Storage', () => {
  it('Table Storage down: 503 audit_unavailable with Retry-After, no token (fail-closed: nothing is released without its record)', async () => {
    const rt = await storedRefreshToken();
    const dead = h.azurite.connectionString.replace(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+/, `TableEndpoint=http://127.0.0.1:${await closedPort()}`);
    instance = newInstance(() => ({ storage: new StorageClients({ kind: 'connectionString', connectionString: dead }, () => { throw new Error('no credential'); }) }));
    const outcome = await requestToken();
    expect(outcome.res.status).toBe(503);
    expect(outcome.res.json['code']).toBe('audit_unavailable');
    expect(outcome.res.headers.get('retry-after')).toBe('5');
    // The record could not be written anywhere: that is exactly why nothing was released.
    expect(outcome.audit).toBeUndefined();
    expect(logged('audit.all_sinks_failed')).toBe(true);
    expect(logged('audit.write_failed')).toBe(true);
    await expectInvariants(outcome, rt);
  });

  it('Table Storage slow (audit writes past their 5 s budget): 503 audit_unavailable, no token', async () => {
    const rt = await storedRefreshToken();
    const proxy = await startDelayingProxy(new URL(h.azurite.tableEndpoint), 6_000);
    try {
      const slow = h.azurite.connectionString.replace(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+/, `TableEndpoint=http://127.0.0.1:${proxy.port}`);
      const storage = new StorageClients({ kind: 'connectionString', connectionString: slow }, () => { throw new Error('no credential'); });
      instance = newInstance((base) => ({ audit: createAuditRecorder({ config: h.config, storage, secrets: base.secrets, logger: quiet }) }));
      const outcome = await requestToken();
      expect(outcome.res.status).toBe(503);
      expect(outcome.res.json['code']).toBe('audit_unavailable');
      expect(outcome.res.headers.get('retry-after')).toBe('5');
      expect(outcome.ms).toBeLessThan(h.config.requestDeadlineMs + 1_000);
      expect(logged('audit.write_failed')).toBe(true);
      await expectInvariants(outcome, rt);
    } finally {
      await proxy.close();
    }
  }, 30_000);
});

describe('fault matrix: queue', () => {
  it('queue down: POST /api/actions answers 503 upstream_unavailable with Retry-After; the action is kept and re-sent by the same Idempotency-Key', async () => {
    const deadQueue = h.azurite.connectionString.replace(/QueueEndpoint=http:\/\/127\.0\.0\.1:\d+/, `QueueEndpoint=http://127.0.0.1:${await closedPort()}`);
    instance = newInstance(() => ({ queueSend: createQueueSender({ kind: 'connectionString', connectionString: deadQueue }, () => { throw new Error('no credential'); }) }));
    const key = randomUUID();
    const body = { ctx: CTX, actAs: String(NORA), request: { method: 'GET', path: 'v1/Contact/101' }, notify: false };
    const id = `fault-${randomUUID()}`;
    const refused = await h.call(createActionHandler, { method: 'POST', path: '/api/actions', caller: 'integration', body, headers: { 'idempotency-key': key, 'x-request-id': id } });
    expect(refused.status).toBe(503);
    expect(refused.json['code']).toBe('upstream_unavailable');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await auditOf(id)).toMatchObject({ outcome: 'error', reason: 'upstream_unavailable', http_status: 503 });
    // The action was stored before the send: its idempotency row names the id it will keep.
    const keys = TableClient.fromConnectionString(h.azurite.connectionString, ACTION_RESULTS_TABLE, { allowInsecureConnection: true });
    const claimed: string[] = [];
    for await (const row of keys.listEntities<{ actionId?: string }>({ queryOptions: { filter: odata`PartitionKey ge ${'key_'} and PartitionKey lt ${'key`'} and RowKey eq ${createHash('sha256').update(key).digest('hex')}` } })) {
      if (typeof row.actionId === 'string') claimed.push(row.actionId);
    }
    expect(claimed).toHaveLength(1);
    // The queue is back: the same key is accepted (the stored action is sent now), with that one id, and again.
    instance = newInstance();
    const accepted = await h.call(createActionHandler, { method: 'POST', path: '/api/actions', caller: 'integration', body, headers: { 'idempotency-key': key } });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('location')).toBe(`/api/actions/${claimed[0]}`);
    const again = await h.call(createActionHandler, { method: 'POST', path: '/api/actions', caller: 'integration', body, headers: { 'idempotency-key': key } });
    expect(again.headers.get('location')).toBe(`/api/actions/${claimed[0]}`);
  });
});

describe('fault matrix: SuperOffice token endpoint', () => {
  it('token endpoint 5xx: retried (3 attempts) then 503 upstream_unavailable with Retry-After, audited, no token', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.setFault('tokens', { status: 503, retryAfter: 1 });
    const outcome = await requestToken();
    expectProblem(outcome, 503, 'upstream_unavailable', 1);
    expect(h.sim.counters.get('tokens')).toBe(3);
    await expectInvariants(outcome, rt);
  });

  it('token endpoint 429 with Retry-After: retried after it within the deadline, then 503 upstream_unavailable passing it on', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.setFault('tokens', { status: 429, retryAfter: 2 });
    const outcome = await requestToken();
    expectProblem(outcome, 503, 'upstream_unavailable', 2);
    expect(h.sim.counters.get('tokens')).toBeGreaterThanOrEqual(2);
    expect(outcome.ms).toBeLessThan(h.config.requestDeadlineMs);
    await expectInvariants(outcome, rt);
  });

  it('token endpoint timeout (never answers): each attempt cut after 5 s, then 504 deadline_exceeded at the 10 s request deadline', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.setFault('tokens', { kind: 'hang' });
    const outcome = await requestToken();
    expectProblem(outcome, 504, 'deadline_exceeded');
    expect(h.sim.counters.get('tokens')).toBe(2);
    expect(outcome.ms).toBeGreaterThanOrEqual(h.config.requestDeadlineMs - 100);
    expect(outcome.ms).toBeLessThan(h.config.requestDeadlineMs + 1_000);
    await expectInvariants(outcome, rt);
  }, 30_000);

  it('token endpoint malformed answer: 502 upstream_bad_response after one call, nothing cached', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.setFault('tokens', { kind: 'malformed', times: 1 });
    const outcome = await requestToken();
    expectProblem(outcome, 502, 'upstream_bad_response');
    expect(h.sim.counters.get('tokens')).toBe(1);
    expect(instance.tokens.cache.size).toBe(0);
    await expectInvariants(outcome, rt);
  });

  it('token endpoint keeps failing: the breaker opens after 5 failures and the next request fails fast (no call) with Retry-After 30', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.setFault('tokens', { status: 500 });
    for (let i = 0; i < 3; i++) await requestToken();
    const before = h.sim.counters.get('tokens');
    expect(before).toBeGreaterThanOrEqual(5);
    const fast = await requestToken();
    expectProblem(fast, 503, 'upstream_unavailable', 30);
    expect(h.sim.counters.get('tokens')).toBe(before);
    await expectInvariants(fast, rt);
  });

  it('token endpoint invalid_grant (consent revoked): 409 reauth_required after one call, connection marked, refresh token kept', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.revokeConsent(CTX, NORA);
    try {
      const outcome = await requestToken();
      expectProblem(outcome, 409, 'reauth_required');
      expect(outcome.res.json['consentRequired']).toBe(true);
      expect(h.sim.counters.get('tokens')).toBe(1);
      expect((await h.runtime.connections.get({ env: 'sod', ctx: CTX, associateId: String(NORA) }))?.status).toBe('reauth_required');
      // Not deleted: the dead grant stays in the vault (revocation and audit can still name it).
      expect(await storedRefreshToken()).toBe(rt);
      const again = await requestToken();
      expectProblem(again, 409, 'reauth_required');
      expect(h.sim.counters.get('tokens')).toBe(1);
    } finally {
      await h.connect(NORA);
    }
  });
});

describe('fault matrix: tenant, audit sink, restart', () => {
  it('tenant in maintenance: 503 tenant_unavailable with Retry-After and the tenant state, no token call', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.setTenantState(CTX, 'OfflineMaintenance');
    const outcome = await requestToken();
    expectProblem(outcome, 503, 'tenant_unavailable', 'any');
    expect(outcome.res.json['tenantState']).toBe('OfflineMaintenance');
    expect(h.sim.counters.get('tokens')).toBe(0);
    await expectInvariants(outcome, rt);
  });

  it('audit sink down: 503 audit_unavailable with Retry-After 5 and no token, although the refresh succeeded', async () => {
    const rt = await storedRefreshToken();
    const dead = h.azurite.connectionString.replace(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+/, `TableEndpoint=http://127.0.0.1:${await closedPort()}`);
    const storage = new StorageClients({ kind: 'connectionString', connectionString: dead }, () => { throw new Error('no credential'); });
    instance = newInstance((base) => ({ audit: createAuditRecorder({ config: h.config, storage, secrets: base.secrets, logger: quiet }) }));
    const outcome = await requestToken();
    expect(outcome.res.status).toBe(503);
    expect(outcome.res.json['code']).toBe('audit_unavailable');
    expect(outcome.res.headers.get('retry-after')).toBe('5');
    expect(h.sim.counters.get('tokens')).toBe(1);
    expect(outcome.audit).toBeUndefined();
    expect(logged('audit.all_sinks_failed')).toBe(true);
    await expectInvariants(outcome, rt);
  });

  it('instance restart mid-refresh: the next instance refreshes with the stored refresh token; every token has its record', async () => {
    const rt = await storedRefreshToken();
    // The first instance's refresh hangs at SuperOffice; the instance is then replaced (as a restart would).
    h.sim.control.setFault('tokens', { kind: 'delay', ms: 3_000, times: 1 });
    const dying = requestToken();
    await new Promise((resolve) => setTimeout(resolve, 300));
    instance = newInstance();
    const next = await requestToken();
    expect(next.res.status).toBe(200);
    expect(next.audit).toMatchObject({ outcome: 'allow' });
    await expectInvariants(next, rt);
    // The abandoned request still ends with its own record (allow with a token, or an error without one).
    const abandoned = await dying;
    expect(abandoned.audit).toBeDefined();
    await expectInvariants(abandoned, rt);
    expect((await h.runtime.connections.get({ env: 'sod', ctx: CTX, associateId: String(NORA) }))?.status).toBe('active');
  }, 30_000);
});

describe('fault matrix: SuperOffice Web API', () => {
  it('Web API 401 once (proxy): the user token is renewed once and the call repeated, 200, the audit says retried, refresh token kept', async () => {
    const rt = await storedRefreshToken();
    expect((await proxyGet()).res.status).toBe(200);
    h.sim.counters.reset();
    h.sim.control.setFault('webapi', { kind: 'malformed', status: 401, times: 1 });
    const outcome = await proxyGet();
    expect(outcome.res.status).toBe(200);
    expect(h.sim.counters.get('tokens')).toBe(1);
    expect(h.sim.counters.get('webapi')).toBe(2);
    expect(outcome.audit).toMatchObject({ outcome: 'allow', http_status: 200, action: 'proxy' });
    expect(String(outcome.audit?.['flags'])).toContain('retried');
    await expectInvariants(outcome, rt, false);
  });

  it('Web API 401 again after the renewal (proxy): 409 reauth_required, connection marked, refresh token kept, no loop', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.setFault('webapi', { kind: 'malformed', status: 401 });
    try {
      const outcome = await proxyGet();
      expectProblem(outcome, 409, 'reauth_required');
      expect(h.sim.counters.get('webapi')).toBe(2);
      expect((await instance.connections.get({ env: 'sod', ctx: CTX, associateId: String(NORA) }))?.status).toBe('reauth_required');
      expect(await storedRefreshToken()).toBe(rt);
      await expectInvariants(outcome, rt, false);
    } finally {
      h.sim.control.clearFaults();
      await h.connect(NORA);
    }
  });

  it('Web API 401 again after the renewal (rights): 502 upstream_bad_response after one renewal, no loop', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.setFault('webapi', { kind: 'malformed', status: 401 });
    const outcome = await rightsCheck();
    expectProblem(outcome, 502, 'upstream_bad_response');
    expect(h.sim.counters.get('webapi')).toBe(2);
    await expectInvariants(outcome, rt, false);
  });

  it('Web API 5xx (rights): retried, 3 attempts, then 503 upstream_unavailable with its Retry-After, audited', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.setFault('webapi', { status: 503, retryAfter: 2 });
    const outcome = await rightsCheck();
    expectProblem(outcome, 503, 'upstream_unavailable', 2);
    expect(h.sim.counters.get('webapi')).toBe(3);
    expect(outcome.audit).toMatchObject({ action: 'rights', upstream_status: 503 });
    await expectInvariants(outcome, rt, false);
  });

  it('Web API 5xx (proxy): SuperOffice\'s status and Retry-After pass through, one call, audited with the upstream status', async () => {
    const rt = await storedRefreshToken();
    h.sim.control.setFault('webapi', { status: 503, retryAfter: 7 });
    const outcome = await proxyGet();
    expect(outcome.res.status).toBe(503);
    expect(outcome.res.headers.get('retry-after')).toBe('7');
    expect(h.sim.counters.get('webapi')).toBe(1);
    expect(outcome.audit).toMatchObject({ action: 'proxy', http_status: 503, upstream_status: 503 });
    await expectInvariants(outcome, rt, false);
  });
});

describe('fault matrix: Entra JWKS', () => {
  let issuer: CallerIssuer;
  let now = Date.now();
  const clock = (): number => now;

  beforeAll(async () => {
    issuer = await startCallerIssuer({ tenantId: TEST_TENANT, clock });
  });
  afterAll(async () => issuer?.close());

  /** A broker instance whose guard verifies real Entra tokens from the dev issuer (on this file's clock). */
  function verifyingInstance(): void {
    const entra = loadConfig({
      KEY_VAULT_URL: 'http://127.0.0.1:9', AzureWebJobsStorage: 'UseDevelopmentStorage=true', SUPEROFFICE_ENVIRONMENT: 'sod', SUPEROFFICE_CLIENT_ID: 'dev-client-0001',
      SUPEROFFICE_REDIRECT_URI: 'http://127.0.0.1:7071/api/consent/callback', BROKER_POLICY: JSON.stringify(POLICY), ...callerIssuerSettings(issuer),
    }).entra;
    const config = { ...h.config, entra };
    const verifier = createCallerVerifier({ entra, logger: quiet, clock });
    instance = newInstance(() => ({ guard: createRequestGuard({ config, policy: parsePolicy(h.config.policy), verifier, logger: quiet }) }));
  }

  const mint = (kid?: string): Promise<string> => issuer.mint({ oid: CALLERS.integration.oid, azp: CALLERS.integration.azp, roles: Object.values(OPERATION_ROLES) }, kid !== undefined ? { signingKid: kid } : {});
  const withToken = (token: string): Promise<Outcome> => requestToken(NORA, { authorization: `Bearer ${token}` });

  beforeEach(() => {
    now = Date.now();
    issuer.reset();
    verifyingInstance();
  });

  it('Entra JWKS down: a token signed with a known key still validates (200, allow); an unknown kid is 401 with the reason only in the record; no token released', async () => {
    const rt = await storedRefreshToken();
    const known = await mint();
    expect((await withToken(known)).res.status).toBe(200);
    issuer.setJwksDown(true);
    await issuer.rotateKey();
    now += 31_000;
    const served = await withToken(known);
    expect(served.res.status).toBe(200);
    expect(served.audit).toMatchObject({ outcome: 'allow', http_status: 200 });
    await expectInvariants(served, rt);
    const tokenCalls = h.sim.counters.get('tokens');
    const refused = await withToken(await mint());
    expect(refused.res.status).toBe(401);
    expect(refused.res.json['code']).toBe('unauthenticated');
    expect(refused.res.text).not.toContain('kid_unknown');
    expect(refused.audit).toMatchObject({ outcome: 'deny', reason: 'kid_unknown', http_status: 401 });
    expect(h.sim.counters.get('tokens')).toBe(tokenCalls);
    await expectInvariants(refused, rt);
  });

  it('Entra JWKS rotated: a token signed with a newly published key validates without a restart; a withdrawn key stops validating after the next refresh', async () => {
    const rt = await storedRefreshToken();
    const oldKid = (await issuer.publishedKids()).at(-1)!;
    const before = await mint();
    expect((await withToken(before)).res.status).toBe(200);
    await issuer.rotateKey({ retainPrevious: false });
    now += 31_000;
    const rotated = await withToken(await mint());
    expect(rotated.res.status).toBe(200);
    expect(rotated.audit).toMatchObject({ outcome: 'allow', http_status: 200 });
    await expectInvariants(rotated, rt);
    expect(await issuer.publishedKids()).not.toContain(oldKid);
    const withdrawn = await withToken(before);
    expect(withdrawn.res.status).toBe(401);
    expect(withdrawn.audit).toMatchObject({ outcome: 'deny', http_status: 401 });
    await expectInvariants(withdrawn, rt);
  });
});

/** A loopback TCP forwarder that holds every chunk from the client for `delayMs` before passing it on. */
async function startDelayingProxy(target: URL, delayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const { connect } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => setTimeout(() => upstream.write(chunk), delayMs));
    upstream.pipe(client);
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
