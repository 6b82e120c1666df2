import type { HttpRequestInit } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { auditHandler } from '../../../functions/audit.js';
import { AUDIT_HMAC_KEY_NAME } from '../../../shared/audit/fingerprint.js';
import { buildAuditRecord, newEventId } from '../../../shared/audit/record.js';
import { createAuditRecorder, type BrokerAuditRecorder } from '../../../shared/audit/recorder.js';
import { createTableAuditSink } from '../../../shared/audit/tableSink.js';
import { httpRoute } from '../../../shared/http/wrapper.js';
import { callerId } from '../../../shared/identity/caller.js';
import { createLogger } from '../../../shared/log/logger.js';
import { listFunctions } from '../../../shared/runtime/registry.js';
import { createRuntime, setRuntime, type Runtime } from '../../../shared/runtime/runtime.js';
import { testConfig } from '../../support/config.js';
import { FakeSecretStore } from '../../unit/audit/fakeSecrets.js';
import { entry } from '../../unit/audit/fixtures.js';
import { call, callerNo, canaryForms, fakeGuard, laneRecordsOf, storageFor } from './support.js';

const TOKEN_CANARY = 'audit-fn-token-canary-8d2c6a4e';
/** Caller 9 reads the audit trail of tenants CustA and CustB (tenant-wide grants); caller 8 may read only CustA. */
const READER_POLICY = JSON.stringify({
  version: 1,
  callers: [
    { name: 'reader', tid: callerNo(9).tid, oid: callerNo(9).oid, operations: ['audit.read'], superOffice: [{ env: 'sod', ctx: 'CustA', users: '*' }, { env: 'sod', ctx: 'CustB', users: '*' }] },
    { name: 'reader-a', tid: callerNo(8).tid, oid: callerNo(8).oid, operations: ['audit.read'], superOffice: [{ env: 'sod', ctx: 'CustA', users: '*' }] },
  ],
});
let azurite: Azurite;
let runtime: Runtime;
let recorder: BrokerAuditRecorder;

const req = (query: string, auth = 'Bearer caller-9'): HttpRequestInit => ({ method: 'GET', url: `http://127.0.0.1/api/audit${query}`, headers: { authorization: auth } });
const json = (text: string) => JSON.parse(text) as { records: Record<string, unknown>[]; continuation?: string; code?: string; errors?: { location: string; name: string; message: string }[]; detail?: string };

beforeAll(async () => {
  azurite = await startAzurite();
  const cs = azurite.connectionString;
  recorder = createAuditRecorder({
    config: testConfig({ AzureWebJobsStorage: cs }),
    storage: storageFor(cs),
    secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: 'audit-function-test-hmac-key-01234' }),
    logger: createLogger({ sink: () => undefined }),
  });
  runtime = createRuntime(testConfig({ AzureWebJobsStorage: cs, BROKER_POLICY: READER_POLICY }), { audit: recorder, guard: fakeGuard, logger: createLogger({ sink: () => undefined }) });
  setRuntime(runtime);
  const tokens = httpRoute({ name: 'tokens', access: { kind: 'caller', operation: 'tokens' }, failClosedAudit: true }, async (scope) => {
    scope.annotate({ subject: { env: 'sod', ctx: scope.request.query.get('ctx') ?? 'CustA', associateId: '1' }, tokenFingerprints: [await recorder.fingerprint(TOKEN_CANARY)] });
    return { status: 200, jsonBody: { access_token: TOKEN_CANARY } };
  }, () => runtime);
  for (let i = 0; i < 5; i++) await call(tokens, { method: 'POST', url: 'http://127.0.0.1/api/tokens?ctx=CustA', headers: { authorization: 'Bearer caller-1' } });
  for (let i = 0; i < 3; i++) await call(tokens, { method: 'POST', url: 'http://127.0.0.1/api/tokens?ctx=CustB', headers: { authorization: 'Bearer caller-2' } });
});

afterAll(async () => {
  setRuntime(undefined);
  await azurite?.stop();
});

describe('GET /api/audit', () => {
  it('is registered as the audit function', () => {
    expect(listFunctions().find((f) => f.name === 'audit')).toMatchObject({ kind: 'http', route: 'audit', methods: ['GET'] });
  });

  it('refuses callers without a token or without audit.read', async () => {
    expect((await call(auditHandler, { method: 'GET', url: 'http://127.0.0.1/api/audit' })).status).toBe(401);
    expect((await call(auditHandler, req('', 'Bearer deny'))).status).toBe(403);
  });

  it('answers 400 validation_failed listing the problems and what is accepted', async () => {
    const response = await call(auditHandler, req('?limit=500&caller=nobody&from=soon&foo=1'));
    expect(response.status).toBe(400);
    const body = json(response.text);
    expect(body.code).toBe('validation_failed');
    expect(body.errors?.map((e) => e.name).sort()).toEqual(['caller', 'foo', 'from', 'limit']);
    expect(body.errors?.every((e) => e.location === 'query' && /^(must be |is not a parameter)/.test(e.message))).toBe(true);
    expect(body.errors?.find((e) => e.name === 'limit')?.message).toBe('must be an integer from 1 to 200');
  });

  it('filters by caller and pages with an opaque continuation bound to the filters', async () => {
    const caller = callerId(callerNo(1));
    const first = await call(auditHandler, req(`?caller=${caller}&limit=2`));
    expect(first.status).toBe(200);
    const page1 = json(first.text);
    expect(page1.records.map((r) => r['seq'])).toEqual([1, 2]);
    expect(page1.continuation).toMatch(/^[A-Za-z0-9_-]+$/);

    const rest = json((await call(auditHandler, req(`?caller=${caller}&limit=200&continuation=${page1.continuation}`))).text);
    expect(rest.records.map((r) => r['seq'])).toEqual([3, 4, 5]);
    expect(rest.continuation).toBeUndefined();

    const foreign = await call(auditHandler, req(`?caller=${callerId(callerNo(2))}&continuation=${page1.continuation}`));
    expect(foreign.status).toBe(400);
    expect(json(foreign.text)).toMatchObject({ code: 'bad_request', detail: 'The continuation was not issued for these filters' });
  });

  it('pages one caller\'s records across lanes (several instances, earlier hours, equal times) in time order, without gaps or duplicates', async () => {
    const caller = callerNo(7);
    const id = callerId(caller);
    const cs = azurite.connectionString;
    const logger = createLogger({ sink: () => undefined });
    const instances = ['fn-a', 'fn-b', 'fn-c'].map((name) => createAuditRecorder({
      config: testConfig({ AzureWebJobsStorage: cs, WEBSITE_INSTANCE_ID: name }),
      storage: storageFor(cs),
      secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: 'audit-function-test-hmac-key-01234' }),
      logger,
    }));
    const sinks = [0, 1].map(() => createTableAuditSink({ storage: storageFor(cs), logger }));
    const body = (tag: string, now: number) => buildAuditRecord(entry({ caller, correlationId: tag, subject: { env: 'sod', ctx: 'CustA' } }), { eventId: newEventId(), now, brokerVersion: '0.1.0', instanceId: 'sink' }).body;
    const hour = Date.UTC(2026, 5, 1, 10);
    // Two earlier hours, written by two writers; some records of both at the very same millisecond.
    for (let i = 0; i < 6; i++) {
      await sinks[0]!.append(body(`h0-${i}`, hour + i * 1000));
      await sinks[1]!.append(body(`h0b-${i}`, hour + i * 1000));
    }
    for (let i = 0; i < 4; i++) await sinks[i % 2]!.append(body(`h1-${i}`, hour + 3_600_000 + i));
    // Now: three instances at once.
    await Promise.all(instances.flatMap((r, ri) => Array.from({ length: 12 }, (_, i) => r.record(entry({ caller, correlationId: `now-${ri}-${i}`, subject: { env: 'sod', ctx: 'CustA' } })))));

    const key = (r: Record<string, unknown>) => `${String(r['time'])}|${String(r['partitionKey'])}|${String(r['seq']).padStart(12, '0')}`;
    const stored = (await laneRecordsOf(cs, id)).sort((a, b) => (key(a) < key(b) ? -1 : 1));
    expect(stored).toHaveLength(52);
    expect(new Set(stored.map((r) => String(r['partitionKey']))).size).toBeGreaterThanOrEqual(7);

    const pageAll = async (query: string, limit: number, between?: () => Promise<void>) => {
      const seen: Record<string, unknown>[] = [];
      let continuation: string | undefined;
      let pages = 0;
      do {
        const response = await call(auditHandler, req(`?caller=${id}&limit=${limit}${query}${continuation === undefined ? '' : `&continuation=${continuation}`}`));
        expect(response.status).toBe(200);
        const page = json(response.text);
        expect(page.records.length).toBeLessThanOrEqual(limit);
        seen.push(...page.records);
        continuation = page.continuation;
        if (pages++ === 1) await between?.();
      } while (continuation !== undefined && pages < 100);
      return seen;
    };
    const ids = (records: readonly Record<string, unknown>[]) => records.map((r) => r['event_id']);

    const paged = await pageAll('', 5);
    expect(ids(paged)).toEqual(ids(stored));
    expect(new Set(ids(paged)).size).toBe(52);
    for (const r of paged) expect(r).not.toHaveProperty('partitionKey');

    // Filters apply across lanes too; and records written while paging appear once, after the cursor.
    const from = new Date(hour + 3_000).toISOString();
    expect(ids(await pageAll(`&from=${from}&to=${new Date(hour + 3_600_000 + 2).toISOString()}`, 3))).toEqual(ids(stored.filter((r) => String(r['time']) >= from && String(r['time']) < new Date(hour + 3_600_000 + 2).toISOString())));
    const late = await pageAll('', 7, async () => {
      await instances[0]!.record(entry({ caller, correlationId: 'late', subject: { env: 'sod', ctx: 'CustA' } }));
    });
    expect(late).toHaveLength(53);
    expect(new Set(ids(late)).size).toBe(53);
    expect(late.at(-1)).toMatchObject({ correlation_id: 'late' });
  });

  it('filters by ctx, operation and time, and returns records without Table system fields or secrets', async () => {
    const byCtx = json((await call(auditHandler, req('?ctx=CustB'))).text);
    expect(byCtx.records).toHaveLength(3);
    expect(new Set(byCtx.records.map((r) => r['caller_id']))).toEqual(new Set([callerId(callerNo(2))]));
    for (const record of byCtx.records) {
      expect(Object.keys(record)).not.toEqual(expect.arrayContaining(['etag']));
      expect(record).not.toHaveProperty('timestamp');
      expect(record).not.toHaveProperty('partitionKey');
    }
    const text = JSON.stringify(byCtx);
    for (const form of canaryForms(TOKEN_CANARY)) expect(text).not.toContain(form);

    const future = json((await call(auditHandler, req('?from=2999-01-01'))).text);
    expect(future.records).toEqual([]);
    const past = json((await call(auditHandler, req(`?caller=${callerId(callerNo(1))}&to=2000-01-01T00:00:00Z`))).text);
    expect(past.records).toEqual([]);
  });

  it('scopes reads to the tenants the policy grants for audit.read, plus the reader\'s own records', async () => {
    expect((await call(auditHandler, req('?ctx=CustB', 'Bearer caller-8'))).status).toBe(403);
    const a = json((await call(auditHandler, req('?ctx=CustA', 'Bearer caller-8'))).text);
    expect(a.records.length).toBeGreaterThan(0);
    const unfiltered = json((await call(auditHandler, req('?limit=200', 'Bearer caller-8'))).text);
    expect(unfiltered.records.length).toBeGreaterThan(0);
    for (const r of unfiltered.records) expect(r['subject_ctx'] === 'CustA' || r['caller_id'] === callerId(callerNo(8))).toBe(true);
    // CustB appears only in the reader's own (refused) request record, never in other callers' records.
    expect(unfiltered.records.some((r) => r['subject_ctx'] === 'CustB' && r['caller_id'] !== callerId(callerNo(8)))).toBe(false);
    expect(json((await call(auditHandler, req('?limit=200'))).text).records.some((r) => r['subject_ctx'] === 'CustB' && r['caller_id'] !== callerId(callerNo(8)))).toBe(true);
  });

  it('is audited itself: each read leaves an audit.read record of the reader', async () => {
    const reader = callerId(callerNo(9));
    const reads = json((await call(auditHandler, req(`?caller=${reader}&operation=audit.read&limit=200`))).text);
    expect(reads.records.length).toBeGreaterThan(0);
    for (const r of reads.records) expect(r).toMatchObject({ action: 'audit.read', function_name: 'audit', caller_role: 'Audit.Read', caller_id: reader });
    expect(reads.records.some((r) => r['http_status'] === 400 && r['reason'] === 'validation_failed')).toBe(true);
  });
});
