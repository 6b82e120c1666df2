/**
 * docs/superoffice.md §8 "/{ctx}/api/v1/Agents/CRMScript/… (optional, restricted)" and §5.3/§5.4: our rights-check
 * script run through ExecuteScriptByUniqueId, as the calling user, answering a JSON string.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { TENANT_CUST12345, demoApp } from '../../../dev/superoffice/seed.js';
import { api, bearer, signIn, soTicket, systemUserTicket } from './helpers.js';

const SCRIPT_ID = 'tokenbroker-rights-check-v1';
const NO_AGENT_APP = demoApp({
  clientId: 'cccc0000cccc0000cccc0000cccc0000',
  clientSecret: 'dddd1111dddd1111dddd1111dddd1111',
  name: 'No Agents',
  crmScriptAgentAllowed: false,
  webhookAgentAllowed: false,
});

let sim: SuperOfficeSimulator;
let systemKey: KeyObject;
const tokens = new Map<number, string>();

beforeAll(async () => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  systemKey = pair.privateKey;
  sim = await startSuperOfficeSimulator({
    apps: [demoApp({ systemUserPublicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() }), NO_AGENT_APP],
  });
  for (const id of [5, 6, 7, 8]) tokens.set(id, (await signIn(sim, { associateId: id })).access_token);
});
afterAll(async () => {
  await sim.close();
});

async function execute(headers: Record<string, string>, body: unknown, ctx = 'Cust12345') {
  return api(sim.url, `/${ctx}/api/v1/Agents/CRMScript/ExecuteScriptByUniqueId`, { method: 'POST', headers, body });
}

/** Runs the rights check as a user and parses the printed JSON text. */
async function run(associateId: number, params: Record<string, string>): Promise<Record<string, unknown>> {
  const res = await execute(bearer(tokens.get(associateId) ?? ''), { CRMScriptUniqueId: SCRIPT_ID, Parameters: params });
  expect(res.status).toBe(200);
  expect(typeof res.body).toBe('string');
  return JSON.parse(res.body as string) as Record<string, unknown>;
}

describe('§8 CRMScript agent: refused calls', () => {
  it('403 "not available in Online" when the app has no CRMScript agent access', async () => {
    const { access_token } = await signIn(sim, { associateId: 6, clientId: NO_AGENT_APP.clientId, clientSecret: NO_AGENT_APP.clientSecret });
    const res = await execute(bearer(access_token), { CRMScriptUniqueId: SCRIPT_ID, Parameters: { op: 'isAdministrator' } });
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).toMatch(/CRMScript agent is not available in Online/);
  });

  it('404 for a script that is not installed (unknown id, or a tenant without it)', async () => {
    expect((await execute(bearer(tokens.get(6) ?? ''), { CRMScriptUniqueId: 'nope', Parameters: {} })).status).toBe(404);
    const other = await signIn(sim, { associateId: 6, tenant: 'Cust54321' });
    expect((await execute(bearer(other.access_token), { CRMScriptUniqueId: SCRIPT_ID, Parameters: { op: 'isAdministrator' } }, 'Cust54321')).status).toBe(404);
  });

  it('400 for a malformed body, non-string parameters or a missing unique id; 405 for GET', async () => {
    const h = bearer(tokens.get(6) ?? '');
    expect((await execute(h, '[]')).status).toBe(400);
    expect((await execute(h, { CRMScriptUniqueId: SCRIPT_ID, Parameters: { op: 1 } })).status).toBe(400);
    expect((await execute(h, { Parameters: {} })).status).toBe(400);
    expect((await api(sim.url, '/Cust12345/api/v1/Agents/CRMScript/ExecuteScriptByUniqueId', { headers: h })).status).toBe(405);
  });

  it('403 for a user without a licence and 401 without credentials', async () => {
    expect((await execute(bearer(tokens.get(8) ?? ''), { CRMScriptUniqueId: SCRIPT_ID, Parameters: { op: 'isAdministrator' } })).status).toBe(403);
    expect((await execute({}, { CRMScriptUniqueId: SCRIPT_ID, Parameters: { op: 'isAdministrator' } })).status).toBe(401);
  });

  it('answers {"ok":false,"error":…} for bad parameters, never echoing them', async () => {
    const cases: Record<string, string>[] = [
      { op: '<script>' },
      { op: 'hasTicketAccess', ticketId: 'x', level: '1' },
      { op: 'hasTicketAccess', ticketId: '301', level: '3' },
      { op: 'isLoggedIn', origin: '3' },
      { op: 'checkTableRights', table: 'sale', right: 'select' },
      { op: 'checkTableRights', table: 'contact', right: 'delete' },
      { op: 'checkTableRights', table: 'contact', right: 'select', id: '-1' },
      { op: 'checkTableRights', table: 'contact', right: 'select', id: '999' },
      { op: 'checkFieldRights', table: 'contact', field: '<b>', right: 'read' },
      { op: 'checkFieldRights', table: 'contact', field: 'name', right: 'execute' },
    ];
    for (const params of cases) {
      const out = await run(6, params);
      expect(out['ok']).toBe(false);
      expect(typeof out['error']).toBe('string');
      expect(JSON.stringify(out)).not.toMatch(/<script>|<b>/);
    }
  });
});

describe('§5.3 rights-check ops as the calling user', () => {
  it('isAdministrator', async () => {
    expect(await run(5, { op: 'isAdministrator' })).toEqual({ ok: true, result: true });
    expect(await run(6, { op: 'isAdministrator' })).toEqual({ ok: true, result: false });
    expect(await run(7, { op: 'isAdministrator' })).toEqual({ ok: true, result: false });
  });

  it('hasTicketAccess with levels 0 List, 1 Read, 2 Edit', async () => {
    const check = async (user: number, ticketId: string, level: string) =>
      (await run(user, { op: 'hasTicketAccess', ticketId, level }))['result'];
    expect(await check(6, '301', '2')).toBe(true);
    expect(await check(6, '302', '2')).toBe(false);
    expect(await check(6, '302', '1')).toBe(true);
    expect(await check(6, '303', '0')).toBe(false);
    expect(await check(7, '302', '0')).toBe(true);
    expect(await check(7, '302', '1')).toBe(false);
    expect(await check(5, '303', '2')).toBe(true);
    expect(await check(6, '999', '0')).toBe(false);
  });

  it('isLoggedIn per origin (1 SOAP, 2 web), changed with setLoggedIn and the control surface', async () => {
    expect((await run(6, { op: 'isLoggedIn', origin: '1' }))['result']).toBe(true);
    expect((await run(6, { op: 'isLoggedIn', origin: '2' }))['result']).toBe(true);
    expect((await run(7, { op: 'isLoggedIn', origin: '2' }))['result']).toBe(false);
    sim.control.setLoggedIn('Cust12345', 7, 2, true);
    expect((await run(7, { op: 'isLoggedIn', origin: '2' }))['result']).toBe(true);
    expect((await run(7, { op: 'isLoggedIn', origin: '1' }))['result']).toBe(false);
    const res = await fetch(`${sim.url}/__sim/logged-in`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ctx: 'Cust12345', associateId: 7, origin: 2, loggedIn: false }),
    });
    expect(res.status).toBe(200);
    expect((await run(7, { op: 'isLoggedIn', origin: '2' }))['result']).toBe(false);
    expect(() => sim.control.setLoggedIn('Cust12345', 999, 1, true)).toThrow(RangeError);
  });

  it('checkTableRights on records and on a new record', async () => {
    const check = async (user: number, params: Record<string, string>) => (await run(user, { op: 'checkTableRights', ...params }))['result'];
    expect(await check(6, { table: 'contact', id: '104', right: 'select' })).toBe(true);
    expect(await check(6, { table: 'contact', id: '104', right: 'update' })).toBe(false);
    expect(await check(7, { table: 'contact', id: '101', right: 'select' })).toBe(false);
    expect(await check(7, { table: 'company', id: '103', right: 'update' })).toBe(true);
    expect(await check(6, { table: 'contact', right: 'insert' })).toBe(true);
    expect(await check(7, { table: 'contact', right: 'insert' })).toBe(false);
    expect(await check(7, { table: 'customer', id: '201', right: 'select' })).toBe(false);
    expect(await check(6, { table: 'person', id: '202', right: 'update' })).toBe(true);
  });

  it('checkFieldRights read/write, by DB column or property name', async () => {
    const check = async (user: number, params: Record<string, string>) => (await run(user, { op: 'checkFieldRights', ...params }))['result'];
    expect(await check(7, { table: 'contact', id: '103', field: 'orgnr', right: 'read' })).toBe(true);
    expect(await check(7, { table: 'contact', id: '103', field: 'orgnr', right: 'write' })).toBe(false);
    expect(await check(7, { table: 'contact', id: '103', field: 'Department', right: 'write' })).toBe(true);
    expect(await check(7, { table: 'person', id: '202', field: 'person_number', right: 'read' })).toBe(false);
    expect(await check(6, { table: 'person', id: '202', field: 'person_number', right: 'read' })).toBe(true);
    expect(await check(7, { table: 'person', id: '202', field: 'title', right: 'write' })).toBe(false);
    // No such column in SuperOffice's person table (issue 10, item 4): e-mail and birth date are not fields here.
    expect(await run(6, { op: 'checkFieldRights', table: 'person', id: '202', field: 'email', right: 'read' })).toEqual({ ok: false, error: 'unknown field' });
    expect(await run(6, { op: 'checkFieldRights', table: 'person', id: '202', field: 'birthdate', right: 'read' })).toEqual({ ok: false, error: 'unknown field' });
    expect(await check(6, { table: 'contact', id: '104', field: 'name', right: 'write' })).toBe(false);
  });

  it('runs as the system user with SOTicket: every rights check passes, never logged in', async () => {
    const ticket = await systemUserTicket(sim, systemKey);
    const runSystem = async (params: Record<string, string>) => {
      const res = await execute(soTicket(ticket), { CRMScriptUniqueId: SCRIPT_ID, Parameters: params });
      return JSON.parse(res.body as string) as Record<string, unknown>;
    };
    expect(await runSystem({ op: 'isAdministrator' })).toEqual({ ok: true, result: true });
    expect((await runSystem({ op: 'hasTicketAccess', ticketId: '303', level: '2' }))['result']).toBe(true);
    expect((await runSystem({ op: 'checkTableRights', table: 'contact', id: '104', right: 'update' }))['result']).toBe(true);
    expect((await runSystem({ op: 'isLoggedIn', origin: '2' }))['result']).toBe(false);
  });

  it('counts CRMScript calls separately from other Web API calls', () => {
    expect(sim.counters.get('crmscript')).toBeGreaterThan(20);
  });
});

describe('shared/rights/rights-check.crmscript is the script the simulator mirrors', () => {
  const source = readFileSync(new URL('../../../shared/rights/rights-check.crmscript', import.meta.url), 'utf8');

  it('is installed in the seed under the unique id the script documents', () => {
    expect(TENANT_CUST12345.crmScripts.map((s) => s.uniqueId)).toContain(SCRIPT_ID);
    expect(source).toContain(SCRIPT_ID);
  });

  it('implements every op and prints the same fixed error texts', () => {
    expect(source.startsWith('#setLanguageLevel 3;')).toBe(true);
    for (const op of ['isAdministrator', 'hasTicketAccess', 'isLoggedIn', 'checkTableRights', 'checkFieldRights']) {
      expect(source).toContain(`op == "${op}"`);
    }
    for (const message of [
      'unknown op',
      'ticketId must be a positive integer',
      'level must be 0, 1 or 2',
      'origin must be 1 (SOAP) or 2 (web)',
      'table must be contact or person',
      'right must be select, update or insert',
      'right must be read or write',
      'id must be a positive integer',
      'record not found',
      'unknown field',
    ]) {
      expect(source).toContain(`"${message}"`);
    }
  });
});

describe('§5.4 our customer-session script (Customer.login / logout as the caller)', () => {
  const SESSION_ID = 'tokenbroker-customer-session-v1';
  async function session(headers: Record<string, string>, params: Record<string, string>): Promise<Record<string, unknown>> {
    const res = await execute(headers, { CRMScriptUniqueId: SESSION_ID, Parameters: params });
    expect(res.status).toBe(200);
    expect(typeof res.body).toBe('string');
    return JSON.parse(res.body as string) as Record<string, unknown>;
  }

  it('refuses bad parameters and unknown customers with fixed texts', async () => {
    const user = bearer(tokens.get(5) ?? '');
    expect(await session(user, { op: 'steal', customerId: '201' })).toEqual({ ok: false, error: 'op must be login or logout' });
    expect(await session(user, { op: 'login', customerId: '0201' })).toEqual({ ok: false, error: 'customerId must be a positive integer' });
    expect(await session(user, { op: 'login' })).toEqual({ ok: false, error: 'customerId must be a positive integer' });
    expect(await session(user, { op: 'login', customerId: '999' })).toEqual({ ok: false, error: 'customer not found' });
  });

  it('logs in exactly the customers the user may select, each with a fresh key; logout answers ok', async () => {
    // (8 is unlicensed: every Web API call of theirs is 403, as the refused-calls tests show.)
    let refused = 0;
    for (const associateId of [5, 6, 7]) {
      for (const personId of [201, 202, 203, 204, 205]) {
        const canSelect = await run(associateId, { op: 'checkTableRights', table: 'person', right: 'select', id: String(personId) });
        const login = await session(bearer(tokens.get(associateId) ?? ''), { op: 'login', customerId: String(personId) });
        if (canSelect['result'] === true) {
          expect(login).toEqual({ ok: true, sessionKey: expect.stringMatching(/^[A-Za-z0-9_-]{16,}$/) });
        } else {
          refused++;
          expect(login).toEqual({ ok: false, error: 'customer not accessible' });
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
    const first = await session(bearer(tokens.get(5) ?? ''), { op: 'login', customerId: '201' });
    const second = await session(bearer(tokens.get(5) ?? ''), { op: 'login', customerId: '201' });
    expect(first['sessionKey']).not.toBe(second['sessionKey']);
    expect(await session(bearer(tokens.get(5) ?? ''), { op: 'logout', customerId: '201' })).toEqual({ ok: true });
  });

  it('the system user logs in any customer', async () => {
    const ticket = await systemUserTicket(sim, systemKey);
    for (const personId of [201, 202, 203, 204, 205]) {
      expect(await session(soTicket(ticket), { op: 'login', customerId: String(personId) })).toMatchObject({ ok: true });
    }
  });
});
