import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CTX, SCRIPT_ID, call, rightsPath, startRightsStack, type RightsStack } from './harness.js';

/**
 * `POST /api/rights/{ctx}/{associateId}/checks`: answers in order, and a batch of checks on one record
 * costs one Web API read of that record (issue 6, item 5), counted by the simulator.
 */

let stack: RightsStack;

beforeAll(async () => {
  stack = await startRightsStack();
  await stack.connect(6);
  await stack.connect(7);
});

afterAll(async () => {
  await stack?.close();
});

beforeEach(async () => {
  // Warm the user's token so the counters below count only rights traffic.
  for (const strategy of ['webapi', 'crmscript'] as const) {
    const warm = await call(stack, 'GET', rightsPath(6, 'administrator'), { strategy });
    expect(warm.status).toBe(200);
  }
  stack.simulator.counters.reset();
});

const NORA_BATCH = [
  { check: 'checkTableRights', table: 'contact', right: 'select', recordId: 101 },
  { check: 'checkTableRights', table: 'contact', right: 'update', recordId: 101 },
  { check: 'checkTableRights', table: 'contact', right: 'insert', recordId: 101 },
  { check: 'checkFieldRights', table: 'contact', field: 'name', right: 'write', recordId: 101 },
  { check: 'checkFieldRights', table: 'contact', field: 'createdDate', right: 'write', recordId: 101 },
  { check: 'checkTableRights', table: 'contact', right: 'update', recordId: 104 },
  { check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'read', recordId: 104 },
  { check: 'checkTableRights', table: 'person', right: 'update', recordId: 201 },
  { check: 'checkFieldRights', table: 'person', field: 'title', right: 'write', recordId: 201 },
  { check: 'hasTicketAccess', ticketId: 302, level: 'read' },
  { check: 'hasTicketAccess', ticketId: 302, level: 1 },
  { check: 'checkTableRights', table: 'ticket', right: 'select', recordId: 302 },
  { check: 'isAdministrator' },
  { check: 'isLoggedIn', origin: 'soap' },
] as const;

type Result = { check: Record<string, unknown>; allowed: unknown; source: string; reason?: string };

describe('webapi strategy', () => {
  it('answers in order and reads each distinct record once (4 records -> 4 Web API reads for 14 checks)', async () => {
    const response = await call(stack, 'POST', rightsPath(6, 'checks'), { body: { checks: NORA_BATCH } });
    expect(response.status, JSON.stringify(response.json)).toBe(200);
    expect(response.json).toMatchObject({ env: 'sod', ctx: CTX, associateId: '6', strategy: 'webapi' });
    const results = response.json['results'] as Result[];
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, false, false, true, true, true, true, true, true, false, 'unknown']);
    expect(results[9]?.check).toEqual({ check: 'hasTicketAccess', ticketId: 302, level: 1 });
    expect(results[12]?.source).toBe('id_token');
    expect(results[13]?.reason).toBe('login_state_not_available');
    expect(stack.simulator.counters.get('webapi')).toBe(4);
    expect(stack.simulator.counters.get('crmscript')).toBe(0);
  });

  it('fifty checks on one record cost one read', async () => {
    const checks = Array.from({ length: 50 }, (_, i) => ({ check: 'checkTableRights', table: 'contact', right: ['select', 'update', 'insert'][i % 3], recordId: 103 }));
    const response = await call(stack, 'POST', rightsPath(6, 'checks'), { body: { checks } });
    expect(response.status).toBe(200);
    expect((response.json['results'] as Result[]).map((r) => r.allowed).slice(0, 3)).toEqual([true, true, false]);
    expect(stack.simulator.counters.get('webapi')).toBe(1);
  });

  it('the cache lives for one request: a second request reads again', async () => {
    const body = { checks: [{ check: 'checkTableRights', table: 'contact', right: 'select', recordId: 101 }] };
    await call(stack, 'POST', rightsPath(6, 'checks'), { body });
    await call(stack, 'POST', rightsPath(6, 'checks'), { body });
    expect(stack.simulator.counters.get('webapi')).toBe(2);
  });

  it('the audit record names the batch, the strategy and the upstream status', async () => {
    stack.audits.length = 0;
    await call(stack, 'POST', rightsPath(6, 'checks'), { body: { checks: NORA_BATCH } });
    expect(stack.audits).toHaveLength(1);
    expect(stack.audits[0]).toMatchObject({
      action: 'rights',
      functionName: 'rightsChecks',
      target: `rights checks(${NORA_BATCH.length})`,
      subject: { env: 'sod', ctx: CTX, associateId: '6' },
      outcome: 'allow',
      httpStatus: 200,
      upstreamStatus: 200,
      flags: ['strategy_webapi'],
      roleUsed: 'Rights.Check',
    });
  });
});

describe('crmscript strategy', () => {
  it('asks the script once per distinct question; ticket table rights still cost one record read', async () => {
    const response = await call(stack, 'POST', rightsPath(6, 'checks'), { strategy: 'crmscript', body: { checks: NORA_BATCH } });
    expect(response.status, JSON.stringify(response.json)).toBe(200);
    expect(response.json['strategy']).toBe('crmscript');
    const results = response.json['results'] as Result[];
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, false, false, true, true, true, true, true, true, false, true]);
    expect(results.map((r) => r.source)).toEqual([...Array<string>(11).fill('crmscript'), 'webapi_rights_mask', 'crmscript', 'crmscript']);
    // 14 checks, of which the two hasTicketAccess(302, read) are one question and the ticket table right is a record read.
    expect(stack.simulator.counters.get('crmscript')).toBe(12);
    expect(stack.simulator.counters.get('webapi')).toBe(1);
  });

  it('runs as the user: the same batch answers differently for the restricted user', async () => {
    const checks = [
      { check: 'checkTableRights', table: 'contact', right: 'select', recordId: 101 },
      { check: 'hasTicketAccess', ticketId: 302, level: 'list' },
      { check: 'hasTicketAccess', ticketId: 302, level: 'read' },
      { check: 'isAdministrator' },
    ];
    const nora = await call(stack, 'POST', rightsPath(6, 'checks'), { strategy: 'crmscript', body: { checks } });
    const rick = await call(stack, 'POST', rightsPath(7, 'checks'), { strategy: 'crmscript', body: { checks } });
    expect((nora.json['results'] as Result[]).map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect((rick.json['results'] as Result[]).map((r) => r.allowed)).toEqual([false, true, false, false]);
  });

  it(`uses the configured script (${SCRIPT_ID})`, async () => {
    const response = await call(stack, 'GET', rightsPath(6, 'administrator'), { strategy: 'crmscript' });
    expect(response.json['source']).toBe('crmscript');
    expect(stack.simulator.counters.get('crmscript')).toBe(1);
  });
});

describe('batch input', () => {
  it('more than 50 checks -> 400 saying what is accepted, with no upstream call', async () => {
    const checks = Array.from({ length: 51 }, () => ({ check: 'isAdministrator' }));
    const response = await call(stack, 'POST', rightsPath(6, 'checks'), { body: { checks } });
    expect(response.status).toBe(400);
    expect(response.json['code']).toBe('validation_failed');
    expect(response.json['errors']).toEqual([{ location: 'body', name: '/checks', message: 'must hold at most 50 items' }]);
    expect(stack.simulator.counters.snapshot()).toEqual({});
  });

  it('one bad check rejects the batch, naming its index and the accepted values', async () => {
    const response = await call(stack, 'POST', rightsPath(6, 'checks'), {
      body: { checks: [{ check: 'isAdministrator' }, { check: 'checkFieldRights', table: 'contact', field: 'salary', right: 'read' }, { check: 'isLoggedIn', origin: 'fax' }] },
    });
    expect(response.status).toBe(400);
    expect(response.json['errors']).toEqual([
      { location: 'body', name: '/checks/1/field', message: expect.stringContaining('a field of the contact table: contactId, name, department, orgNr, number1, number2, createdDate, updatedDate') },
      { location: 'body', name: '/checks/2/origin', message: 'must be 1, 2 or one of 1, 2, soap, web (1 = soap, 2 = web)' },
    ]);
    expect(stack.simulator.counters.snapshot()).toEqual({});
  });

  it('a body that is not JSON -> 400 invalid_json; no content type -> 415', async () => {
    expect((await call(stack, 'POST', rightsPath(6, 'checks'), { body: '{"checks": [' })).json['code']).toBe('invalid_json');
    const noType = await call(stack, 'POST', rightsPath(6, 'checks'), {});
    expect(noType.status).toBe(415);
  });
});
