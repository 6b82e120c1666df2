import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import {
  ACCEPTED_VALUES,
  MAX_BATCH_CHECKS,
  describeCheck,
  orThrow,
  parseBatch,
  parseCheck,
  parseId,
  validationError,
  type RightsCheck,
} from '../../../shared/rights/checks.js';
import { fieldNamesOf, findField } from '../../../shared/rights/vocabulary.js';

/** Bad input is a 400 `validation_failed` that lists what the parameter accepts (issue 6, item 6). */

function failure(check: unknown, values: Record<string, unknown>): { param: string; message: string; accepted: readonly string[] }[] {
  const parsed = parseCheck(check, values);
  if (parsed.ok) throw new Error(`expected issues, got ${JSON.stringify(parsed.value)}`);
  return parsed.issues.map((i) => ({ param: i.param, message: i.message, accepted: i.accepted }));
}

function success(check: unknown, values: Record<string, unknown>): RightsCheck {
  const parsed = parseCheck(check, values);
  if (!parsed.ok) throw new Error(`expected a check, got ${JSON.stringify(parsed.issues)}`);
  return parsed.value;
}

describe('parseCheck: refused input names the parameter and lists accepted values', () => {
  const cases: Array<[string, unknown, Record<string, unknown>, string, readonly string[]]> = [
    ['missing check', undefined, {}, 'check', ACCEPTED_VALUES.check],
    ['unknown check', 'isSuperUser', {}, 'check', ACCEPTED_VALUES.check],
    ['check not a string', 5, {}, 'check', ACCEPTED_VALUES.check],
    ['unknown table', 'checkTableRights', { table: 'sale', right: 'select' }, 'table', ACCEPTED_VALUES.table],
    ['table missing', 'checkTableRights', { right: 'select' }, 'table', ACCEPTED_VALUES.table],
    ['table a number', 'checkTableRights', { table: 7, right: 'select' }, 'table', ACCEPTED_VALUES.table],
    ['unknown table right', 'checkTableRights', { table: 'contact', right: 'delete' }, 'right', ACCEPTED_VALUES.tableRight],
    ['table right missing', 'checkTableRights', { table: 'contact' }, 'right', ACCEPTED_VALUES.tableRight],
    ['field right on a table check', 'checkTableRights', { table: 'contact', right: 'read' }, 'right', ACCEPTED_VALUES.tableRight],
    ['non-numeric recordId', 'checkTableRights', { table: 'contact', right: 'select', recordId: 'abc' }, 'recordId', ACCEPTED_VALUES.id],
    ['negative recordId', 'checkTableRights', { table: 'contact', right: 'select', recordId: -5 }, 'recordId', ACCEPTED_VALUES.id],
    ['zero recordId', 'checkTableRights', { table: 'contact', right: 'select', recordId: '0' }, 'recordId', ACCEPTED_VALUES.id],
    ['fractional recordId', 'checkTableRights', { table: 'contact', right: 'select', recordId: 1.5 }, 'recordId', ACCEPTED_VALUES.id],
    ['recordId beyond 32 bits', 'checkTableRights', { table: 'contact', right: 'select', recordId: '2147483648' }, 'recordId', ACCEPTED_VALUES.id],
    ['recordId with a sign', 'checkTableRights', { table: 'contact', right: 'select', recordId: '+5' }, 'recordId', ACCEPTED_VALUES.id],
    ['recordId in hex', 'checkTableRights', { table: 'contact', right: 'select', recordId: '0x10' }, 'recordId', ACCEPTED_VALUES.id],
    ['unknown field', 'checkFieldRights', { table: 'contact', field: 'salary', right: 'read' }, 'field', fieldNamesOf('contact')],
    ['field of another table', 'checkFieldRights', { table: 'contact', field: 'firstname', right: 'read' }, 'field', fieldNamesOf('contact')],
    ['field missing', 'checkFieldRights', { table: 'person', right: 'read' }, 'field', fieldNamesOf('person')],
    ['field not a string', 'checkFieldRights', { table: 'person', field: 3, right: 'read' }, 'field', fieldNamesOf('person')],
    ['unknown field right', 'checkFieldRights', { table: 'contact', field: 'name', right: 'delete' }, 'right', ACCEPTED_VALUES.fieldRight],
    ['table right on a field check', 'checkFieldRights', { table: 'contact', field: 'name', right: 'update' }, 'right', ACCEPTED_VALUES.fieldRight],
    ['unknown level', 'hasTicketAccess', { ticketId: 1, level: 3 }, 'level', ACCEPTED_VALUES.level],
    ['level by an unknown name', 'hasTicketAccess', { ticketId: 1, level: 'admin' }, 'level', ACCEPTED_VALUES.level],
    ['level missing', 'hasTicketAccess', { ticketId: 1 }, 'level', ACCEPTED_VALUES.level],
    ['negative level', 'hasTicketAccess', { ticketId: 1, level: -1 }, 'level', ACCEPTED_VALUES.level],
    ['non-numeric ticketId', 'hasTicketAccess', { ticketId: 'x1', level: 1 }, 'ticketId', ACCEPTED_VALUES.id],
    ['ticketId missing', 'hasTicketAccess', { level: 1 }, 'ticketId', ACCEPTED_VALUES.id],
    ['unknown origin', 'isLoggedIn', { origin: 3 }, 'origin', ACCEPTED_VALUES.origin],
    ['origin 0', 'isLoggedIn', { origin: '0' }, 'origin', ACCEPTED_VALUES.origin],
    ['origin by an unknown name', 'isLoggedIn', { origin: 'rest' }, 'origin', ACCEPTED_VALUES.origin],
    ['origin missing', 'isLoggedIn', {}, 'origin', ACCEPTED_VALUES.origin],
  ];
  for (const [title, check, values, param, accepted] of cases) {
    it(`${title} -> issue on ${param}`, () => {
      const issues = failure(check, values);
      const found = issues.find((i) => i.param === param);
      expect(found, JSON.stringify(issues)).toBeDefined();
      expect(found?.accepted).toEqual(accepted);
    });
  }

  it('reports every bad parameter of one check, not only the first', () => {
    const issues = failure('checkTableRights', { table: 'sale', right: 'delete', recordId: 'x' });
    expect(issues.map((i) => i.param).sort()).toEqual(['recordId', 'right', 'table']);
  });

  it('lists the accepted values', () => {
    expect(ACCEPTED_VALUES.table).toEqual(['contact', 'company', 'person', 'customer', 'ticket']);
    expect(ACCEPTED_VALUES.level).toEqual(['0', '1', '2', 'list', 'read', 'edit']);
    expect(ACCEPTED_VALUES.origin).toEqual(['1', '2', 'soap', 'web']);
    expect(ACCEPTED_VALUES.tableRight).toEqual(['select', 'update', 'insert']);
    expect(ACCEPTED_VALUES.fieldRight).toEqual(['read', 'write']);
  });
});

describe('parseCheck: accepted forms, normalised', () => {
  const cases: Array<[string, unknown, Record<string, unknown>, RightsCheck]> = [
    ['isAdministrator', 'isAdministrator', {}, { check: 'isAdministrator' }],
    ['check name in any case', 'ISADMINISTRATOR', {}, { check: 'isAdministrator' }],
    ['table right without a record', 'checkTableRights', { table: 'contact', right: 'update' }, { check: 'checkTableRights', table: 'contact', right: 'update' }],
    ['table right with a numeric record id', 'checkTableRights', { table: 'person', right: 'insert', recordId: 5 }, { check: 'checkTableRights', table: 'person', right: 'insert', recordId: 5 }],
    ['record id as a string', 'checkTableRights', { table: 'person', right: 'select', recordId: '201' }, { check: 'checkTableRights', table: 'person', right: 'select', recordId: 201 }],
    ['largest record id', 'checkTableRights', { table: 'ticket', right: 'select', recordId: 2147483647 }, { check: 'checkTableRights', table: 'ticket', right: 'select', recordId: 2147483647 }],
    ['CRMScript Company = contact', 'checkTableRights', { table: 'Company', right: 'SELECT' }, { check: 'checkTableRights', table: 'contact', right: 'select' }],
    ['CRMScript Customer = person', 'checkTableRights', { table: 'customer', right: 'select' }, { check: 'checkTableRights', table: 'person', right: 'select' }],
    ['empty recordId means none', 'checkTableRights', { table: 'contact', right: 'select', recordId: '' }, { check: 'checkTableRights', table: 'contact', right: 'select' }],
    ['field by key', 'checkFieldRights', { table: 'contact', field: 'orgNr', right: 'write', recordId: 101 }, { check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'write', recordId: 101 }],
    ['field by property (capitalised)', 'checkFieldRights', { table: 'contact', field: 'OrgNr', right: 'read' }, { check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'read' }],
    ['field by column', 'checkFieldRights', { table: 'person', field: 'person_number', right: 'read' }, { check: 'checkFieldRights', table: 'person', field: 'personNumber', right: 'read' }],
    ['ticket field', 'checkFieldRights', { table: 'ticket', field: 'title', right: 'write', recordId: 301 }, { check: 'checkFieldRights', table: 'ticket', field: 'title', right: 'write', recordId: 301 }],
    ['level by number', 'hasTicketAccess', { ticketId: 301, level: 2 }, { check: 'hasTicketAccess', ticketId: 301, level: 2 }],
    ['level as a string', 'hasTicketAccess', { ticketId: '301', level: '0' }, { check: 'hasTicketAccess', ticketId: 301, level: 0 }],
    ['level List', 'hasTicketAccess', { ticketId: 1, level: 'List' }, { check: 'hasTicketAccess', ticketId: 1, level: 0 }],
    ['level Read', 'hasTicketAccess', { ticketId: 1, level: 'read' }, { check: 'hasTicketAccess', ticketId: 1, level: 1 }],
    ['level Edit', 'hasTicketAccess', { ticketId: 1, level: 'EDIT' }, { check: 'hasTicketAccess', ticketId: 1, level: 2 }],
    ['origin by number', 'isLoggedIn', { origin: 1 }, { check: 'isLoggedIn', origin: 1 }],
    ['origin SOAP', 'isLoggedIn', { origin: 'SOAP' }, { check: 'isLoggedIn', origin: 1 }],
    ['origin web', 'isLoggedIn', { origin: 'web' }, { check: 'isLoggedIn', origin: 2 }],
  ];
  for (const [title, check, values, expected] of cases) {
    it(title, () => {
      expect(success(check, values)).toEqual(expected);
    });
  }
});

describe('parseBatch', () => {
  const bad: Array<[string, unknown, string]> = [
    ['not an object', [1, 2], 'checks'],
    ['null', null, 'checks'],
    ['checks missing', {}, 'checks'],
    ['checks empty', { checks: [] }, 'checks'],
    ['checks not an array', { checks: { check: 'isAdministrator' } }, 'checks'],
    [`more than ${MAX_BATCH_CHECKS} checks`, { checks: Array.from({ length: MAX_BATCH_CHECKS + 1 }, () => ({ check: 'isAdministrator' })) }, 'checks'],
    ['an unknown envelope member', { checks: [{ check: 'isAdministrator' }], strategy: 'crmscript' }, 'strategy'],
    ['an item that is not an object', { checks: ['isAdministrator'] }, 'checks.0'],
    ['a misspelt parameter', { checks: [{ check: 'checkTableRights', table: 'contact', right: 'update', recordID: 5 }] }, 'checks.0.recordID'],
    ['a parameter of another check', { checks: [{ check: 'isLoggedIn', origin: 1, level: 2 }] }, 'checks.0.level'],
    ['a bad value in the third check', { checks: [{ check: 'isAdministrator' }, { check: 'isLoggedIn', origin: 2 }, { check: 'hasTicketAccess', ticketId: 1, level: 9 }] }, 'checks.2.level'],
  ];
  for (const [title, body, path] of bad) {
    it(`${title} -> issue at ${path}`, () => {
      const parsed = parseBatch(body);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.issues.map((i) => i.path)).toContain(path);
    });
  }

  it(`accepts ${MAX_BATCH_CHECKS} checks, normalised, in order`, () => {
    const checks = Array.from({ length: MAX_BATCH_CHECKS }, (_, i) => ({ check: 'checkTableRights', table: 'company', right: 'Update', recordId: String(i + 1) }));
    const parsed = parseBatch({ checks });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(parsed.value).toHaveLength(MAX_BATCH_CHECKS);
      expect(parsed.value[49]).toEqual({ check: 'checkTableRights', table: 'contact', right: 'update', recordId: 50 });
    }
  });
});

describe('validationError', () => {
  it('is a 400 validation_failed with errors and accepted values per parameter', () => {
    const parsed = parseBatch({ checks: [{ check: 'hasTicketAccess', ticketId: 'x', level: 7 }, { check: 'isLoggedIn', origin: 'fax' }] });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const error = validationError(parsed.issues);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.status).toBe(400);
    expect(error.code).toBe('validation_failed');
    expect(error.extensions?.['accepted']).toEqual({ ticketId: ACCEPTED_VALUES.id, level: ACCEPTED_VALUES.level, origin: ACCEPTED_VALUES.origin });
    expect(error.extensions?.['errors']).toEqual([
      { path: 'checks.0.ticketId', message: expect.any(String), accepted: ACCEPTED_VALUES.id },
      { path: 'checks.0.level', message: expect.any(String), accepted: ACCEPTED_VALUES.level },
      { path: 'checks.1.origin', message: expect.any(String), accepted: ACCEPTED_VALUES.origin },
    ]);
  });

  it('never echoes the rejected value', () => {
    const canary = 'CANARY-<script>';
    const parsed = parseBatch({ checks: [{ check: 'checkFieldRights', table: 'contact', field: canary, right: canary }] });
    if (parsed.ok) throw new Error('expected issues');
    expect(JSON.stringify({ message: validationError(parsed.issues).message, ext: validationError(parsed.issues).extensions })).not.toContain('CANARY');
  });

  it('shows at most 20 issues', () => {
    const checks = Array.from({ length: 30 }, () => ({ check: 'isLoggedIn', origin: 9 }));
    const parsed = parseBatch({ checks });
    if (parsed.ok) throw new Error('expected issues');
    expect((validationError(parsed.issues).extensions?.['errors'] as unknown[]).length).toBe(20);
  });

  it('orThrow returns the value or throws the problem', () => {
    expect(orThrow({ ok: true, value: 1 })).toBe(1);
    expect(() => orThrow(parseCheck('nope', {}))).toThrow(BrokerError);
  });
});

describe('helpers', () => {
  it('parseId accepts positive 32-bit integers only', () => {
    expect([parseId(1), parseId('42'), parseId(2147483647)]).toEqual([1, 42, 2147483647]);
    for (const bad of [0, -1, 1.5, '01', ' 1', '1e3', 2147483648, '', null, undefined, true, Number.NaN]) expect(parseId(bad)).toBeUndefined();
  });
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
    const parsed = parseCheck('checkFieldRights', { table: 'person', field: 'email', right: 'read', recordId: '1' });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues[0]).toMatchObject({ path: 'field', accepted: fieldNamesOf('person') });
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
