import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { describeIssue, inputErrors } from '../../../shared/http/validation.js';
import { MAX_BATCH_CHECKS, describeCheck, type RightsCheck } from '../../../shared/rights/checks.js';
import { RightsBatchBody, RightsRequests, fieldCheck } from '../../../shared/rights/endpoint.js';
import { fieldNamesOf, findField } from '../../../shared/rights/vocabulary.js';

/**
 * The rights inputs as declared (shared/rights/endpoint.ts): bad input is refused naming the member
 * and saying what it accepts (issue 6, item 6); good input is normalised into a `RightsCheck`.
 */

function batchErrors(body: unknown): { name: string; message: string }[] {
  const result = z.safeParse(RightsBatchBody, body, { error: describeIssue });
  if (result.success) throw new Error(`expected issues, got ${JSON.stringify(result.data)}`);
  return inputErrors('body', result.error.issues).map(({ name, message }) => ({ name, message }));
}

function one(check: Record<string, unknown>): RightsCheck {
  const result = z.safeParse(RightsBatchBody, { checks: [check] }, { error: describeIssue });
  if (!result.success) throw new Error(`expected a check, got ${JSON.stringify(result.error.issues)}`);
  return result.data.checks[0] as RightsCheck;
}

describe('a batch check: refused input names the member and says what it accepts', () => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['missing check', {}, '/checks/0/check', /^is required$/],
    ['unknown check', { check: 'isSuperUser' }, '/checks/0/check', /isAdministrator.*checkTableRights.*isLoggedIn/],
    ['check in another case (names are exact)', { check: 'ISADMINISTRATOR' }, '/checks/0/check', /must be one of/],
    ['unknown table', { check: 'checkTableRights', table: 'sale', right: 'select' }, '/checks/0/table', /contact, company, person, customer, ticket/],
    ['table missing', { check: 'checkTableRights', right: 'select' }, '/checks/0/table', /^is required$/],
    ['table a number', { check: 'checkTableRights', table: 7, right: 'select' }, '/checks/0/table', /must be a table/],
    ['table in another case', { check: 'checkTableRights', table: 'Company', right: 'select' }, '/checks/0/table', /must be a table/],
    ['unknown table right', { check: 'checkTableRights', table: 'contact', right: 'delete' }, '/checks/0/right', /select, update, insert/],
    ['field right on a table check', { check: 'checkTableRights', table: 'contact', right: 'read' }, '/checks/0/right', /select, update, insert/],
    ['non-numeric recordId', { check: 'checkTableRights', table: 'contact', right: 'select', recordId: 'abc' }, '/checks/0/recordId', /1-2147483647/],
    ['negative recordId', { check: 'checkTableRights', table: 'contact', right: 'select', recordId: -5 }, '/checks/0/recordId', /1-2147483647/],
    ['zero recordId', { check: 'checkTableRights', table: 'contact', right: 'select', recordId: '0' }, '/checks/0/recordId', /1-2147483647/],
    ['fractional recordId', { check: 'checkTableRights', table: 'contact', right: 'select', recordId: 1.5 }, '/checks/0/recordId', /1-2147483647/],
    ['recordId beyond 32 bits', { check: 'checkTableRights', table: 'contact', right: 'select', recordId: '2147483648' }, '/checks/0/recordId', /1-2147483647/],
    ['recordId with a sign', { check: 'checkTableRights', table: 'contact', right: 'select', recordId: '+5' }, '/checks/0/recordId', /1-2147483647/],
    ['empty recordId', { check: 'checkTableRights', table: 'contact', right: 'select', recordId: '' }, '/checks/0/recordId', /1-2147483647/],
    ['a person field on contact', { check: 'checkFieldRights', table: 'contact', field: 'firstname', right: 'read' }, '/checks/0/field', /a field of the contact table: contactId, name/],
    ['unknown field right', { check: 'checkFieldRights', table: 'contact', field: 'name', right: 'delete' }, '/checks/0/right', /read, write/],
    ['unknown table of a field check', { check: 'checkFieldRights', table: 'sale', field: 'name', right: 'read' }, '/checks/0/table', /contact.*company.*person.*customer.*ticket/],
    ['unknown level', { check: 'hasTicketAccess', ticketId: 1, level: 3 }, '/checks/0/level', /0, 1, 2 or one of 0, 1, 2, list, read, edit/],
    ['level by an unknown name', { check: 'hasTicketAccess', ticketId: 1, level: 'admin' }, '/checks/0/level', /list, read, edit/],
    ['level missing', { check: 'hasTicketAccess', ticketId: 1 }, '/checks/0/level', /^is required$/],
    ['non-numeric ticketId', { check: 'hasTicketAccess', ticketId: 'x1', level: 1 }, '/checks/0/ticketId', /1-2147483647/],
    ['unknown origin', { check: 'isLoggedIn', origin: 3 }, '/checks/0/origin', /soap, web/],
    ['origin by an unknown name', { check: 'isLoggedIn', origin: 'rest' }, '/checks/0/origin', /soap, web/],
    ['a misspelt parameter', { check: 'checkTableRights', table: 'contact', right: 'update', recordID: 5 }, '/checks/0/recordID', /is not a member/],
    ['a parameter of another check', { check: 'isLoggedIn', origin: 1, level: 2 }, '/checks/0/level', /is not a member/],
  ];
  for (const [title, check, name, message] of cases) {
    it(`${title} -> ${name}`, () => {
      const errors = batchErrors({ checks: [check] });
      const found = errors.find((e) => e.name === name);
      expect(found, JSON.stringify(errors)).toBeDefined();
      expect(found?.message).toMatch(message);
    });
  }

  it('reports every bad parameter of one check, not only the first', () => {
    const errors = batchErrors({ checks: [{ check: 'checkTableRights', table: 'sale', right: 'delete', recordId: 'x' }] });
    expect(errors.map((e) => e.name).sort()).toEqual(['/checks/0/recordId', '/checks/0/right', '/checks/0/table']);
  });

  it('never echoes the refused value', () => {
    const canary = 'CANARY-<script>';
    expect(JSON.stringify(batchErrors({ checks: [{ check: 'checkFieldRights', table: 'contact', field: canary, right: canary }] }))).not.toContain('CANARY');
  });
});

describe('the batch envelope', () => {
  const bad: Array<[string, unknown, string]> = [
    ['not an object', [1, 2], ''],
    ['checks missing', {}, '/checks'],
    ['checks empty', { checks: [] }, '/checks'],
    ['checks not an array', { checks: { check: 'isAdministrator' } }, '/checks'],
    [`more than ${MAX_BATCH_CHECKS} checks`, { checks: Array.from({ length: MAX_BATCH_CHECKS + 1 }, () => ({ check: 'isAdministrator' })) }, '/checks'],
    ['an unknown envelope member', { checks: [{ check: 'isAdministrator' }], strategy: 'crmscript' }, '/strategy'],
    ['an item that is not an object', { checks: ['isAdministrator'] }, '/checks/0'],
    ['a bad value in the third check', { checks: [{ check: 'isAdministrator' }, { check: 'isLoggedIn', origin: 2 }, { check: 'hasTicketAccess', ticketId: 1, level: 9 }] }, '/checks/2/level'],
  ];
  for (const [title, body, name] of bad) {
    it(`${title} -> error at "${name}"`, () => {
      expect(batchErrors(body).map((e) => e.name)).toContain(name);
    });
  }

  it(`accepts ${MAX_BATCH_CHECKS} checks, normalised, in order`, () => {
    const checks = Array.from({ length: MAX_BATCH_CHECKS }, (_, i) => ({ check: 'checkTableRights', table: 'company', right: 'update', recordId: String(i + 1) }));
    const parsed = z.parse(RightsBatchBody, { checks });
    expect(parsed.checks).toHaveLength(MAX_BATCH_CHECKS);
    expect(parsed.checks[49]).toEqual({ check: 'checkTableRights', table: 'contact', right: 'update', recordId: 50 });
  });
});

describe('accepted forms, normalised into a RightsCheck', () => {
  const cases: Array<[string, Record<string, unknown>, RightsCheck]> = [
    ['isAdministrator', { check: 'isAdministrator' }, { check: 'isAdministrator' }],
    ['table right without a record', { check: 'checkTableRights', table: 'contact', right: 'update' }, { check: 'checkTableRights', table: 'contact', right: 'update' }],
    ['table right with a numeric record id', { check: 'checkTableRights', table: 'person', right: 'insert', recordId: 5 }, { check: 'checkTableRights', table: 'person', right: 'insert', recordId: 5 }],
    ['record id as a string', { check: 'checkTableRights', table: 'person', right: 'select', recordId: '201' }, { check: 'checkTableRights', table: 'person', right: 'select', recordId: 201 }],
    ['largest record id', { check: 'checkTableRights', table: 'ticket', right: 'select', recordId: 2147483647 }, { check: 'checkTableRights', table: 'ticket', right: 'select', recordId: 2147483647 }],
    ['CRMScript Company = contact', { check: 'checkTableRights', table: 'company', right: 'select' }, { check: 'checkTableRights', table: 'contact', right: 'select' }],
    ['CRMScript Customer = person', { check: 'checkTableRights', table: 'customer', right: 'select' }, { check: 'checkTableRights', table: 'person', right: 'select' }],
    ['field by key', { check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'write', recordId: 101 }, { check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'write', recordId: 101 }],
    ['field by property (capitalised)', { check: 'checkFieldRights', table: 'contact', field: 'OrgNr', right: 'read' }, { check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'read' }],
    ['field by column', { check: 'checkFieldRights', table: 'person', field: 'person_number', right: 'read' }, { check: 'checkFieldRights', table: 'person', field: 'personNumber', right: 'read' }],
    ['field of an alias table', { check: 'checkFieldRights', table: 'customer', field: 'firstname', right: 'read' }, { check: 'checkFieldRights', table: 'person', field: 'firstname', right: 'read' }],
    ['ticket field', { check: 'checkFieldRights', table: 'ticket', field: 'title', right: 'write', recordId: 301 }, { check: 'checkFieldRights', table: 'ticket', field: 'title', right: 'write', recordId: 301 }],
    ['level by number', { check: 'hasTicketAccess', ticketId: 301, level: 2 }, { check: 'hasTicketAccess', ticketId: 301, level: 2 }],
    ['level as a string', { check: 'hasTicketAccess', ticketId: '301', level: '0' }, { check: 'hasTicketAccess', ticketId: 301, level: 0 }],
    ['level list', { check: 'hasTicketAccess', ticketId: 1, level: 'list' }, { check: 'hasTicketAccess', ticketId: 1, level: 0 }],
    ['level edit', { check: 'hasTicketAccess', ticketId: 1, level: 'edit' }, { check: 'hasTicketAccess', ticketId: 1, level: 2 }],
    ['origin by number', { check: 'isLoggedIn', origin: 1 }, { check: 'isLoggedIn', origin: 1 }],
    ['origin soap', { check: 'isLoggedIn', origin: 'soap' }, { check: 'isLoggedIn', origin: 1 }],
    ['origin web', { check: 'isLoggedIn', origin: 'web' }, { check: 'isLoggedIn', origin: 2 }],
  ];
  for (const [title, check, expected] of cases) {
    it(title, () => {
      expect(one(check)).toEqual(expected);
    });
  }
});

describe('the single routes', () => {
  it('path and query values are text, normalised the same way', () => {
    expect(z.parse(RightsRequests.ticket.query, { level: 'read' })).toEqual({ level: 1 });
    expect(z.parse(RightsRequests.loggedIn.query, { origin: '2' })).toEqual({ origin: 2 });
    expect(z.parse(RightsRequests.table.path, { ctx: 'Cust1', associateId: '5', table: 'customer' })).toEqual({ ctx: 'Cust1', associateId: '5', table: 'person' });
    expect(z.parse(RightsRequests.ticket.path, { ctx: 'Cust1', associateId: '5', ticketId: '42' })).toMatchObject({ ticketId: 42 });
    expect(z.safeParse(RightsRequests.table.query, { right: 'select', recordId: '0' }).success).toBe(false);
    expect(z.safeParse(RightsRequests.table.query, { right: 'select', recordid: '5' }).success).toBe(false);
  });

  it('a field of another table is 404 not_found naming the fields the table has', () => {
    expect(fieldCheck('person', 'PersonNumber', 'read', 3)).toEqual({ check: 'checkFieldRights', table: 'person', field: 'personNumber', right: 'read', recordId: 3 });
    expect(() => fieldCheck('contact', 'firstname', 'read', undefined)).toThrow(expect.objectContaining({ code: 'not_found', message: expect.stringContaining('contactId, name') }));
  });
});

describe('helpers', () => {
  it('findField matches key and column without regard to case; a key wins over another field’s column', () => {
    expect(findField('person', 'PERSON_NUMBER')?.key).toBe('personNumber');
    expect(findField('contact', 'orgnr')).toEqual({ key: 'orgNr', dbName: 'orgNr' });
    expect(findField('ticket', 'created_at')?.key).toBe('createdAt');
    expect(findField('ticket', 'status')?.key).toBe('status');
    expect(findField('ticket', 'ticket_status')?.key).toBe('status');
    expect(findField('ticket', 'BaseStatus')?.key).toBe('baseStatus');
    expect(findField('contact', 'nope')).toBeUndefined();
  });
  it('offers only fields that exist as entity property and table column in SuperOffice (issue 10, item 4)', () => {
    // PersonEntity has an Emails collection and a BirthDate kept in year_of_birth/month_of_birth/day_of_birth;
    // the person table has neither an email nor a birthdate column.
    for (const name of ['email', 'Email', 'birthDate', 'birthdate', 'Emails']) expect(findField('person', name)).toBeUndefined();
    expect(() => fieldCheck('person', 'email', 'read', 1)).toThrow(/no field email/);
    expect(fieldNamesOf('person')).toEqual(['personId', 'firstname', 'middleName', 'lastname', 'mrmrs', 'title', 'personNumber', 'createdDate', 'updatedDate']);
    expect(fieldNamesOf('ticket')).toEqual(['ticketId', 'title', 'baseStatus', 'status', 'priority', 'createdAt', 'lastChanged']);
  });
  it('describeCheck is short and carries no free text', () => {
    expect(describeCheck({ check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'write', recordId: 5 })).toBe('checkFieldRights contact#5.orgNr write');
    expect(describeCheck({ check: 'hasTicketAccess', ticketId: 3, level: 2 })).toBe('hasTicketAccess ticket#3 level 2');
    expect(describeCheck({ check: 'isLoggedIn', origin: 1 })).toBe('isLoggedIn origin 1');
    expect(describeCheck({ check: 'checkTableRights', table: 'person', right: 'insert' })).toBe('checkTableRights person insert');
  });
});
