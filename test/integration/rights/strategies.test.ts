import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CTX, call, rightsPath, startRightsStack, type RightsStack, type Strategy } from './harness.js';

/**
 * Every check, for the administrator, the normal user, the restricted user and the user without a
 * licence, under both strategies, against the simulator's rights model (dev/superoffice/seed.ts):
 * - Ada (5): administrator, FULL data rights, Edit on every ticket category, logged in on the web.
 * - Nora (6): sales role, group 1; own FULL, group S/U/I/D (= FULL), other contacts S/U/F ("Update, RF"), other persons
 *   S/U; contact 104 overridden to Select; ticket edit rights S/U/I;
 *   ticket categories 1 = Edit, 2 = Read, 3 = none; logged in via SOAP and web.
 * - Rick (7): restricted role, group 2; own S/U, group S, other F; contact.orgNr read-only,
 *   person.personNumber hidden, person.title read-only; ticket categories 1 = Read, 2 = List; not logged in.
 * - Ulf (8): no licence: the Web API answers 403 to everything he asks.
 * Records 105 (TableRight {}), 205 and 304 (TableRight null) exercise "unknown". Checks without a recordId read
 * `GET v1/{Entity}/default` (a record the user would create) under webapi, as the script does without an id.
 *
 * Expected values: `true` / `false`, or `unknown:<reason>`. Each row: [path after /api/rights/{ctx}/{id}/,
 * webapi answer, crmscript answer].
 */

type Expected = boolean | `unknown:${string}`;
type Row = readonly [string, Expected, Expected];

const U = (reason: string): Expected => `unknown:${reason}`;

const ADA: readonly Row[] = [
  ['administrator', true, true],
  ['tables/contact?right=update&recordId=103', true, true],
  ['tables/person?right=insert&recordId=202', true, true],
  ['tables/contact?right=insert', true, true],
  ['tables/ticket?right=insert', true, true],
  ['tables/company?right=select&recordId=104', true, true],
  ['fields/contact/orgNr?right=write&recordId=103', true, true],
  ['fields/customer/person_number?right=read&recordId=202', true, true],
  ['tickets/303?level=edit', true, true],
  ['tickets/303?level=list', true, true],
  ['tables/ticket?right=update&recordId=302', true, true],
  ['logged-in?origin=web', U('login_state_not_available'), true],
  ['logged-in?origin=soap', U('login_state_not_available'), false],
];

const NORA: readonly Row[] = [
  ['administrator', false, false],
  ['tables/contact?right=update&recordId=101', true, true],
  ['tables/contact?right=insert&recordId=102', true, true],
  ['tables/contact?right=insert&recordId=103', false, false],
  ['tables/contact?right=update&recordId=103', true, true],
  ['tables/contact?right=select&recordId=104', true, true],
  ['tables/contact?right=update&recordId=104', false, false],
  ['tables/contact?right=select&recordId=105', U('rights_mask_unknown'), true],
  ['tables/person?right=update&recordId=205', U('rights_mask_unknown'), true],
  ['tables/contact?right=select&recordId=999', U('record_not_found'), U('record_not_found')],
  ['tables/person?right=insert', true, true],
  ['tables/ticket?right=insert', true, true],
  ['tables/contact?right=select&recordId=103', true, true],
  ['fields/contact/name?right=read&recordId=103', true, true],
  ['fields/contact/name?right=write', true, true],
  ['fields/contact/createdDate?right=write&recordId=101', false, false],
  ['fields/contact/createdDate?right=read&recordId=101', true, true],
  ['fields/contact/name?right=read&recordId=105', U('field_rights_unknown'), true],
  ['fields/person/title?right=write&recordId=205', U('field_rights_unknown'), true],
  ['tickets/301?level=edit', true, true],
  ['tickets/302?level=read', true, true],
  ['tickets/302?level=edit', U('edit_access_not_derivable'), false],
  ['tickets/303?level=list', U('list_access_not_derivable'), false],
  ['tickets/303?level=read', false, false],
  ['tickets/304?level=read', U('rights_mask_unknown'), true],
  ['tickets/999?level=read', false, false],
  ['tables/ticket?right=select&recordId=303', false, false],
  ['tables/ticket?right=insert&recordId=303', U('insert_not_derivable'), U('insert_not_derivable')],
  ['fields/ticket/title?right=write&recordId=301', true, true],
  ['logged-in?origin=soap', U('login_state_not_available'), true],
  ['logged-in?origin=2', U('login_state_not_available'), true],
];

const RICK: readonly Row[] = [
  ['administrator', false, false],
  ['tables/contact?right=update&recordId=103', true, true],
  ['tables/contact?right=insert&recordId=103', false, false],
  ['tables/contact?right=select&recordId=101', false, false],
  ['tables/contact?right=update', true, true],
  ['tables/contact?right=insert', false, false],
  ['tables/ticket?right=insert', false, false],
  ['fields/person/personNumber?right=read', false, false],
  ['fields/contact/orgNr?right=write&recordId=103', false, false],
  ['fields/contact/orgNr?right=read&recordId=103', true, true],
  ['fields/contact/name?right=read&recordId=101', false, false],
  ['fields/person/personNumber?right=read&recordId=202', false, false],
  ['fields/person/title?right=write&recordId=202', false, false],
  ['fields/person/title?right=read&recordId=202', true, true],
  ['tickets/301?level=list', true, true],
  ['tickets/301?level=read', true, true],
  ['tickets/301?level=edit', U('edit_access_not_derivable'), false],
  ['tickets/302?level=list', U('list_access_not_derivable'), true],
  ['tickets/302?level=read', false, false],
  ['tickets/303?level=list', U('list_access_not_derivable'), false],
  ['tickets/304?level=read', U('rights_mask_unknown'), true],
  ['tickets/304?level=edit', U('rights_mask_unknown'), false],
  ['fields/ticket/title?right=read&recordId=302', true, true],
  ['fields/ticket/priority?right=read&recordId=302', false, false],
  ['logged-in?origin=web', U('login_state_not_available'), false],
  ['logged-in?origin=1', U('login_state_not_available'), false],
];

const ULF: readonly Row[] = [
  ['administrator', false, U('upstream_forbidden')],
  ['tables/contact?right=select&recordId=101', U('upstream_forbidden'), U('upstream_forbidden')],
  ['tables/contact?right=insert', U('upstream_forbidden'), U('upstream_forbidden')],
  ['fields/contact/name?right=read&recordId=101', U('upstream_forbidden'), U('upstream_forbidden')],
  ['tickets/301?level=read', U('upstream_forbidden'), U('upstream_forbidden')],
  ['logged-in?origin=web', U('login_state_not_available'), U('upstream_forbidden')],
];

const USERS: ReadonlyArray<readonly [string, number, readonly Row[]]> = [
  ['administrator Ada', 5, ADA],
  ['normal user Nora', 6, NORA],
  ['restricted user Rick', 7, RICK],
  ['user without a licence Ulf', 8, ULF],
];

let stack: RightsStack;

beforeAll(async () => {
  stack = await startRightsStack();
  for (const [, id] of USERS) await stack.connect(id);
});

afterAll(async () => {
  await stack?.close();
});

async function answer(associateId: number, path: string, strategy: Strategy): Promise<{ value: Expected; body: Record<string, unknown> }> {
  const response = await call(stack, 'GET', rightsPath(associateId, path), { strategy });
  expect(response.status, JSON.stringify(response.json)).toBe(200);
  const body = response.json;
  const value = body['allowed'] === 'unknown' ? U(String(body['reason'])) : (body['allowed'] as boolean);
  return { value, body };
}

for (const [title, id, rows] of USERS) {
  for (const strategy of ['webapi', 'crmscript'] as const) {
    describe(`${title} (${id}), ${strategy} strategy`, () => {
      for (const [path, webapi, crmscript] of rows) {
        const expected = strategy === 'webapi' ? webapi : crmscript;
        it(`${path} -> ${String(expected)}`, async () => {
          const { value, body } = await answer(id, path, strategy);
          expect(value).toBe(expected);
          expect(body).toMatchObject({ env: 'sod', ctx: CTX, associateId: String(id), strategy });
          const source = body['source'];
          if (path === 'administrator' && strategy === 'webapi') expect(source).toBe('id_token');
          else if (strategy === 'crmscript' && !path.includes('ticket?') && !path.startsWith('fields/ticket')) expect(source).toBe('crmscript');
          else expect(source).toBe('webapi_rights_mask');
          if (typeof value === 'string') expect(typeof body['detail']).toBe('string');
        });
      }
    });
  }
}

describe('answers follow the live state in SuperOffice', () => {
  it('isLoggedIn (crmscript) changes when the user logs in on the web', async () => {
    expect((await answer(7, 'logged-in?origin=web', 'crmscript')).value).toBe(false);
    stack.simulator.control.setLoggedIn(CTX, 7, 2, true);
    try {
      expect((await answer(7, 'logged-in?origin=web', 'crmscript')).value).toBe(true);
      expect((await answer(7, 'logged-in?origin=soap', 'crmscript')).value).toBe(false);
    } finally {
      stack.simulator.control.setLoggedIn(CTX, 7, 2, false);
    }
  });

  it('the response echoes the normalised check (names accepted for level and origin, CRMScript table aliases, field by property or column)', async () => {
    const ticket = await answer(6, 'tickets/301?level=edit', 'webapi');
    expect(ticket.body['check']).toEqual({ check: 'hasTicketAccess', ticketId: 301, level: 2 });
    const table = await answer(6, 'tables/company?right=update&recordId=101', 'webapi');
    expect(table.body['check']).toEqual({ check: 'checkTableRights', table: 'contact', right: 'update', recordId: 101 });
    const field = await answer(6, 'fields/customer/person_number?right=read&recordId=201', 'webapi');
    expect(field.body['check']).toEqual({ check: 'checkFieldRights', table: 'person', field: 'personNumber', right: 'read', recordId: 201 });
    expect(field.value).toBe(true);
  });
});
