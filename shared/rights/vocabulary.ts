/**
 * The words of a rights question (CRMScript semantics, docs/superoffice.md §5.3): the checks, the tables
 * and their fields, the table and field rights, ticket access levels and login origins, with the
 * names callers may use for each. Pure constants and look-ups.
 */

/** The checks, named as the CRMScript functions they mirror. */
export const CHECK_NAMES = ['isAdministrator', 'checkTableRights', 'checkFieldRights', 'hasTicketAccess', 'isLoggedIn'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export const RIGHTS_TABLES = ['contact', 'person', 'ticket'] as const;
export type RightsTable = (typeof RIGHTS_TABLES)[number];

/**
 * Accepted table names. CRMScript's classes are `Company` (the contact table) and `Customer` (the
 * person table), so `company` and `customer` are accepted as aliases (the shipped script maps them
 * the same way).
 */
export const TABLE_NAMES: Readonly<Record<string, RightsTable>> = Object.freeze({
  contact: 'contact',
  company: 'contact',
  person: 'person',
  customer: 'person',
  ticket: 'ticket',
});

/** The REST entity of each table (`GET v1/{Entity}/{id}`, `GET v1/{Entity}/default`). */
export const TABLE_ENTITIES: { readonly [T in RightsTable]: string } = Object.freeze({
  contact: 'Contact',
  person: 'Person',
  ticket: 'Ticket',
});

export const TABLE_RIGHTS = ['select', 'update', 'insert'] as const;
export type TableRightName = (typeof TABLE_RIGHTS)[number];

export const FIELD_RIGHTS = ['read', 'write'] as const;
export type FieldRightName = (typeof FIELD_RIGHTS)[number];

export type TicketAccessLevel = 0 | 1 | 2;
/** `User.hasTicketAccess(ticketId, level)`: 0 = List, 1 = Read, 2 = Edit. */
export const TICKET_LEVEL_NAMES: Readonly<Record<string, TicketAccessLevel>> = Object.freeze({
  '0': 0, '1': 1, '2': 2, list: 0, read: 1, edit: 2,
});

export type LoginOrigin = 1 | 2;
/** `User.isLoggedIn(origin)`: 1 = SOAP interface, 2 = web pages. */
export const LOGIN_ORIGIN_NAMES: Readonly<Record<string, LoginOrigin>> = Object.freeze({
  '1': 1, '2': 2, soap: 1, web: 2,
});

export interface FieldSpec {
  /** The `FieldProperties` key (entity property in lower camel case); the canonical name in answers. */
  readonly key: string;
  /** The database column, which CRMScript's `checkFieldRights` is given. */
  readonly dbName: string;
}

/**
 * The fields each table accepts. A name outside this list is a 400 (the list is known), a listed
 * name that the entity's `FieldProperties` lacks is answered unknown. Names match the key, the
 * entity property (the key with a capital) or the column, without regard to case; a key wins over a
 * column of another field (the ticket's `status` is the `Status` property, a TicketStatusEntity in
 * column `ticket_status`; the column `status` is the `BaseStatus` property).
 *
 * Every field exists both as a property of the REST entity and as a column of its table in
 * SuperOffice's reference (issue 10, item 4):
 * - ContactEntity — https://docs.superoffice.com/en/api/reference/restful/rest/Contact/v1ContactEntity_GetContactEntity.html;
 *   contact table — https://docs.superoffice.com/en/database/tables/contact.html (the VAT number column is `orgNr`).
 * - PersonEntity — https://docs.superoffice.com/en/api/reference/restful/rest/Person/v1PersonEntity_GetPersonEntity.html;
 *   person table — https://docs.superoffice.com/en/database/tables/person.html. Not offered: e-mail (the entity has
 *   an `Emails` collection, the addresses live in the `email` table) and birth date (the entity's `BirthDate` is
 *   kept in three columns, `year_of_birth`, `month_of_birth`, `day_of_birth`), so neither has one column that
 *   CRMScript's `checkFieldRights` could be asked about.
 * - TicketEntity — https://docs.superoffice.com/en/api/reference/restful/rest/Ticket/v1TicketEntity_GetTicketEntity.html;
 *   ticket table — https://docs.superoffice.com/en/database/tables/ticket.html.
 * The real casing of the `FieldProperties` keys is UNCONFIRMED (the reference samples show a placeholder
 * `fieldName`), so keys are matched without regard to case.
 */
export const TABLE_FIELDS: { readonly [T in RightsTable]: readonly FieldSpec[] } = Object.freeze({
  contact: [
    { key: 'contactId', dbName: 'contact_id' },
    { key: 'name', dbName: 'name' },
    { key: 'department', dbName: 'department' },
    { key: 'orgNr', dbName: 'orgNr' },
    { key: 'number1', dbName: 'number1' },
    { key: 'number2', dbName: 'number2' },
    { key: 'createdDate', dbName: 'registered' },
    { key: 'updatedDate', dbName: 'updated' },
  ],
  person: [
    { key: 'personId', dbName: 'person_id' },
    { key: 'firstname', dbName: 'firstname' },
    { key: 'middleName', dbName: 'middleName' },
    { key: 'lastname', dbName: 'lastname' },
    { key: 'mrmrs', dbName: 'mrmrs' },
    { key: 'title', dbName: 'title' },
    { key: 'personNumber', dbName: 'person_number' },
    { key: 'createdDate', dbName: 'registered' },
    { key: 'updatedDate', dbName: 'updated' },
  ],
  ticket: [
    { key: 'ticketId', dbName: 'id' },
    { key: 'title', dbName: 'title' },
    { key: 'baseStatus', dbName: 'status' },
    { key: 'status', dbName: 'ticket_status' },
    { key: 'priority', dbName: 'priority' },
    { key: 'createdAt', dbName: 'created_at' },
    { key: 'lastChanged', dbName: 'last_changed' },
  ],
});

/** Record ids are positive 32-bit integers (SuperOffice primary keys). */
export const MAX_RECORD_ID = 2_147_483_647;

/** The field of `table` called `name` (key, property or column; a key first), if listed. */
export function findField(table: RightsTable, name: string): FieldSpec | undefined {
  const wanted = name.toLowerCase();
  const fields = TABLE_FIELDS[table];
  return fields.find((f) => f.key.toLowerCase() === wanted) ?? fields.find((f) => f.dbName.toLowerCase() === wanted);
}

/** The accepted field names of a table, for error messages. */
export function fieldNamesOf(table: RightsTable): string[] {
  return TABLE_FIELDS[table].map((f) => f.key);
}
