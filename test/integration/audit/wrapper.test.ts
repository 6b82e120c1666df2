import type { HttpRequestInit } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Azurite, startAzurite } from '../../../dev/azurite.js';
import { healthHandler } from '../../../functions/health.js';
import { MAX_RECORD_ROW_KEY } from '../../../shared/audit/canonical.js';
import { AUDIT_HMAC_KEY_NAME } from '../../../shared/audit/fingerprint.js';
import { parseLaneId } from '../../../shared/audit/lanes.js';
import { AUDIT_RECORD_FIELDS, fingerprintsOf } from '../../../shared/audit/record.js';
import { createAuditRecorder, type BrokerAuditRecorder } from '../../../shared/audit/recorder.js';
import { createTableAuditSink } from '../../../shared/audit/tableSink.js';
import { verifyChain } from '../../../shared/audit/verify.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { httpRoute, type RouteOptions } from '../../../shared/http/wrapper.js';
import { callerId } from '../../../shared/identity/caller.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createRuntime, setRuntime, type Runtime } from '../../../shared/runtime/runtime.js';
import { testConfig } from '../../support/config.js';
import { FakeSecretStore } from '../../unit/audit/fakeSecrets.js';
import {
  allEntities, call, callerNo, canaryForms, closedPortConnectionString, fakeGuard, laneRecordsOf, startTogglingProxy, storageFor, type TogglingProxy,
} from './support.js';

const AT_CANARY = 'at-canary-3f9a1c0e7b5d4e2f8a6c';
const RAW_MISTAKE_CANARY = 'raw-token-passed-by-mistake-canary-77';
const HMAC_KEY_CANARY = 'hmac-key-canary-5b7e2d9c1f3a4e6b8d0c';
const WRITE_BUDGET_MS = 1500;

let azurite: Azurite;
let proxy: TogglingProxy;
let direct: string;
let proxied: string;
const logs: string[] = [];

function makeRecorder(connectionString: string, sinks?: 'two' | 'one-down' | 'all-down', closed?: string): BrokerAuditRecorder {
  const logger = createLogger({ sink: (l) => logs.push(l) });
  const base = { config: testConfig({ AzureWebJobsStorage: connectionString, WEBSITE_INSTANCE_ID: 'itest-instance' }), storage: storageFor(connectionString), secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: HMAC_KEY_CANARY }), logger };
  if (sinks === undefined) return createAuditRecorder({ ...base, table: { writeBudgetMs: WRITE_BUDGET_MS } });
  const live = createTableAuditSink({ storage: storageFor(connectionString), logger, writeBudgetMs: WRITE_BUDGET_MS });
  const liveSecond = createTableAuditSink({ storage: storageFor(connectionString), logger, tableName: 'auditcopy', writeBudgetMs: WRITE_BUDGET_MS });
  const dead = () => createTableAuditSink({ storage: storageFor(closed ?? ''), logger, writeBudgetMs: WRITE_BUDGET_MS });
  const list = sinks === 'two' ? [live, liveSecond] : sinks === 'one-down' ? [dead(), live] : [dead(), dead()];
  return createAuditRecorder({ ...base, sinks: list });
}

function makeRuntime(recorder: BrokerAuditRecorder, connectionString: string): Runtime {
  return createRuntime(testConfig({ AzureWebJobsStorage: connectionString, WEBSITE_INSTANCE_ID: 'itest-instance' }), {
    audit: recorder,
    guard: fakeGuard,
    logger: createLogger({ sink: (l) => logs.push(l) }),
  });
}

/** A token-issuing route: fail-closed, annotates subject, upstream status, fingerprints and flags. */
function tokenRoute(runtime: Runtime, recorder: BrokerAuditRecorder, options: Partial<RouteOptions> = {}) {
  return httpRoute(
    { name: 'tokens', access: { kind: 'caller', operation: 'tokens' }, failClosedAudit: true, ...options },
    async (scope) => {
      if (scope.request.query.get('fail') === '1') throw new BrokerError('upstream_unavailable');
      scope.annotate({
        subject: { env: 'sod', ctx: scope.request.query.get('ctx') ?? 'Cust12345', associateId: '7' },
        upstreamStatus: 200,
        tokenFingerprints: [await recorder.fingerprint(AT_CANARY), RAW_MISTAKE_CANARY],
        flags: ['served_cached'],
      });
      return { status: 200, jsonBody: { access_token: AT_CANARY, token_type: 'Bearer', expires_in: 3600 } };
    },
    () => runtime,
  );
}

/** A caller's records over all its lanes (each test's recorder is a new writer, so a new lane). */
async function recordsOf(caller: string, table = 'audit'): Promise<Record<string, unknown>[]> {
  return laneRecordsOf(direct, caller, table);
}

/** The audit records (not lane registry rows) of a table. */
async function allRecords(table = 'audit'): Promise<Record<string, unknown>[]> {
  return (await allEntities(direct, table).catch(() => [])).filter((e) => String(e['rowKey']) <= MAX_RECORD_ROW_KEY);
}

const get = (url: string, auth?: string): HttpRequestInit => ({ method: 'GET', url: `http://127.0.0.1/api/${url}`, headers: auth === undefined ? {} : { authorization: auth } });

beforeAll(async () => {
  azurite = await startAzurite();
  direct = azurite.connectionString;
  proxy = await startTogglingProxy(azurite.tableEndpoint);
  proxied = proxy.route(direct);
});

afterAll(async () => {
  setRuntime(undefined);
  await proxy?.close();
  await azurite?.stop();
});

describe('audit trail through the real HTTP wrapper and Table Storage (Azurite)', () => {
  it('requirement 57: every request, allowed, denied or failed, produces exactly one complete record', async () => {
    const recorder = makeRecorder(direct);
    const runtime = makeRuntime(recorder, direct);
    const route = tokenRoute(runtime, recorder);
    const before = (await allRecords()).length;

    const ok = await call(route, { ...get('tokens'), headers: { authorization: 'Bearer caller-1', 'x-request-id': 'corr-57-ok' } });
    const denied = await call(route, get('tokens', 'Bearer deny'));
    const unauthenticated = await call(route, get('tokens'));
    const failed = await call(route, { ...get('tokens?fail=1'), headers: { authorization: 'Bearer caller-1' } });
    expect([ok.status, denied.status, unauthenticated.status, failed.status]).toEqual([200, 403, 401, 503]);

    const after = await allRecords();
    expect(after.length - before).toBe(4);

    const mine = await recordsOf(callerId(callerNo(1)));
    expect(mine).toHaveLength(2);
    expect(verifyChain(mine)).toEqual([]);
    const [allowed, error] = mine;
    for (const field of AUDIT_RECORD_FIELDS) expect(allowed, field).toHaveProperty(field);
    expect(allowed).toMatchObject({
      seq: 1, correlation_id: 'corr-57-ok', caller_id: callerId(callerNo(1)), caller_tid: callerNo(1).tid, caller_oid: callerNo(1).oid,
      caller_azp: callerNo(1).azp, caller_idtyp: 'app', caller_role: 'Tokens.Request', subject_env: 'sod', subject_ctx: 'Cust12345',
      subject_associate_id: '7', action: 'tokens', target: 'GET /api/tokens', outcome: 'allow', reason: 'ok', http_status: 200,
      upstream_status: 200, function_name: 'tokens', broker_version: '0.1.0', instance_id: 'itest-instance', flags: 'served_cached',
      rowKey: '000000000001', fingerprint_key_version: '1',
    });
    expect(allowed!['partitionKey']).toBe(`${callerId(callerNo(1))}~${String(allowed!['lane'])}`);
    expect(parseLaneId(String(allowed!['lane']))?.writer).toMatch(/^itestins-/);
    expect(allowed!['time']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(allowed!['event_id']).toMatch(/^[0-9a-f]{32}$/);
    expect(typeof allowed!['latency_ms']).toBe('number');
    expect(error).toMatchObject({ seq: 2, outcome: 'error', reason: 'upstream_unavailable', http_status: 503 });

    const anonymous = await recordsOf('anonymous');
    expect(anonymous.map((r) => [r['outcome'], r['reason'], r['http_status']])).toEqual([['deny', 'forbidden', 403], ['deny', 'unauthenticated', 401]]);
    expect(verifyChain(anonymous)).toEqual([]);
  });

  it('requirement 59: no token, secret or key canary in any stored record, in any form; fingerprints are recomputable', async () => {
    const recorder = makeRecorder(direct);
    const runtime = makeRuntime(recorder, direct);
    const route = tokenRoute(runtime, recorder);
    const response = await call(route, get('tokens', 'Bearer caller-2'));
    expect(response.text).toContain(AT_CANARY); // the one allowed place: the token-issuing response body

    const stored = JSON.stringify([...(await allEntities(direct, 'audit')), ...(await allEntities(direct, 'auditheads'))]);
    for (const canary of [AT_CANARY, RAW_MISTAKE_CANARY, HMAC_KEY_CANARY]) {
      for (const form of canaryForms(canary)) expect(stored).not.toContain(form);
    }
    for (const form of [AT_CANARY, HMAC_KEY_CANARY, RAW_MISTAKE_CANARY]) expect(logs.join('\n')).not.toContain(form);

    // A known token's fingerprint, recomputed (even by a fresh recorder with the same key), finds its records.
    const known = await makeRecorder(direct).fingerprint(AT_CANARY);
    const hits = (await recordsOf(callerId(callerNo(2)))).filter((r) => fingerprintsOf(r).includes(known));
    expect(hits).toHaveLength(1);
    expect(fingerprintsOf(hits[0]!)).toEqual([known, await recorder.fingerprint(RAW_MISTAKE_CANARY)]);
  });

  it('requirement 58: with the audit store down, a fail-closed route answers 503 audit_unavailable and releases nothing; health still answers; recovery needs no restart', async () => {
    const recorder = makeRecorder(proxied);
    const runtime = makeRuntime(recorder, proxied);
    setRuntime(runtime);
    const route = tokenRoute(runtime, recorder);
    const partition = callerId(callerNo(3));

    expect((await call(route, get('tokens', 'Bearer caller-3'))).status).toBe(200);
    await proxy.down();
    try {
      const refused = await call(route, get('tokens', 'Bearer caller-3'));
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.text)).toMatchObject({ code: 'audit_unavailable', status: 503 });
      expect(refused.headers.get('retry-after')).toBe('5');
      for (const form of canaryForms(AT_CANARY)) {
        expect(refused.text).not.toContain(form);
        expect([...refused.headers.values()].join('\n')).not.toContain(form);
      }
      const health = await call(healthHandler, get('health'));
      expect(health.status).toBe(200);
    } finally {
      await proxy.up();
    }
    // The first request after the outage is refused before acting, and its audit write succeeds: that
    // re-opens fail-closed routes, so the next request is served (no restart).
    const probe = await call(route, get('tokens', 'Bearer caller-3'));
    expect(probe.status).toBe(503);
    expect(probe.text).not.toContain(AT_CANARY);
    const again = await call(route, get('tokens', 'Bearer caller-3'));
    expect(again.status).toBe(200);
    expect(again.text).toContain(AT_CANARY);

    const records = await recordsOf(partition);
    expect(records.map((r) => r['seq'])).toEqual([1, 2, 3]);
    expect(records[1]).toMatchObject({ reason: 'audit_unavailable', http_status: 503 });
    expect(verifyChain(records)).toEqual([]);
  });

  it('requirement 58: two sinks with one failing still answer; all sinks failing refuse with 503', async () => {
    const closed = await closedPortConnectionString(direct);
    const oneDown = makeRecorder(direct, 'one-down', closed);
    const okResponse = await call(tokenRoute(makeRuntime(oneDown, direct), oneDown), get('tokens', 'Bearer caller-4'));
    expect(okResponse.status).toBe(200);
    expect(await recordsOf(callerId(callerNo(4)))).toHaveLength(1);

    const allDown = makeRecorder(direct, 'all-down', closed);
    const refused = await call(tokenRoute(makeRuntime(allDown, direct), allDown), get('tokens', 'Bearer caller-4'));
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.text)).toMatchObject({ code: 'audit_unavailable' });
    expect(refused.text).not.toContain(AT_CANARY);
    expect(await recordsOf(callerId(callerNo(4)))).toHaveLength(1);

    // Both sinks healthy: each keeps its own chain.
    const two = makeRecorder(direct, 'two');
    expect((await call(tokenRoute(makeRuntime(two, direct), two), get('tokens', 'Bearer caller-5'))).status).toBe(200);
    const a = await recordsOf(callerId(callerNo(5)));
    const b = await recordsOf(callerId(callerNo(5)), 'auditcopy');
    expect([a.length, b.length]).toEqual([1, 1]);
    expect(a[0]!['event_id']).toBe(b[0]!['event_id']);
  });

  it('requirement 62: CR/LF and control characters sent by a caller cannot forge a record or a line', async () => {
    const recorder = makeRecorder(direct);
    const runtime = makeRuntime(recorder, direct);
    const forged = 'Cust1\r\n{"seq":1,"caller_id":"anonymous","outcome":"allow"}\u2028\u0000';
    const response = await call(tokenRoute(runtime, recorder), { ...get(`tokens?ctx=${encodeURIComponent(forged)}`), headers: { authorization: 'Bearer caller-6', 'x-request-id': 'bad\tid' } });
    expect(response.status).toBe(200);
    const records = await recordsOf(callerId(callerNo(6)));
    expect(records).toHaveLength(1);
    const record = records[0]!;
    expect(record['subject_ctx']).toBe('Cust1\\u000d\\u000a{"seq":1,"caller_id":"anonymous","outcome":"allow"}\\u2028\\u0000');
    expect(record['seq']).toBe(1);
    expect(record['caller_id']).toBe(callerId(callerNo(6)));
    expect(record['correlation_id']).not.toContain('\n');
    for (const value of Object.values(record)) {
      if (typeof value !== 'string') continue;
      expect(value).not.toMatch(/[\r\n\u2028]/);
      expect(value).not.toContain('\u0000');
    }
    for (const line of logs) expect(line).not.toMatch(/[\r\n]/);
  });
});
