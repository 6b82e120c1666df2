/**
 * The simulator's rights model, evaluated per calling principal (pure functions).
 *
 * - Contact/person table rights: the role's data rights for own / own-group / other-group records
 *   (SuperOffice's "Me / My group / Other groups" matrix), replaced by a per-record override for that user.
 * - Ticket table rights: by the user's access level for the ticket's category:
 *   none → the ticket is invisible (the Web API answers 404, like a record the sentry hides);
 *   0 List → `F` (can be listed; only list columns are readable, other values are blanked);
 *   1 Read → `R`; 2 Edit → the role's ticket edit rights.
 * - Field rights: Read if the table right has Select, Write if it has Update and the field is editable,
 *   narrowed by the role's field restrictions; writable mandatory fields also get `UIHintMandatory`.
 * - New records (`GET v1/{Entity}/default`, CRMScript checks without a record id): the role's `own` rights for a
 *   contact/person; for a ticket, the role's ticket edit rights if the user may edit tickets in some category.
 * - The system user (SOTicket) ignores all of this and gets FULL (15) everywhere (docs/superoffice.md §3.9).
 */
import { FIELD_RIGHT_BITS, TABLE_RIGHT_BITS, hasBits, tableRightBits } from './masks.js';
import type {
  ContactSeed,
  DataRightsTable,
  PersonSeed,
  RightsTable,
  RoleSeed,
  TicketAccessLevel,
  TicketSeed,
  UserSeed,
} from './seed.js';

export interface FieldDef {
  /** Key in `FieldProperties` (the entity property in lower camel case). */
  readonly key: string;
  /** Entity property name in the JSON body. */
  readonly prop: string;
  /** Database column (used in webhook `Changes` and accepted by the CRMScript field checks). */
  readonly dbName: string;
  readonly type: 'System.Int32' | 'System.String' | 'System.DateTime';
  readonly length: number;
  readonly readOnly?: boolean;
  readonly mandatory?: boolean;
  /** Visible with ticket List access (level 0). */
  readonly listColumn?: boolean;
}

/**
 * Fields per table: what the entity endpoints serialise and the rights checks accept. Each exists as a property
 * of the REST entity and as a column of its table in SuperOffice's reference (lengths from the table reference):
 * ContactEntity / `contact` (https://docs.superoffice.com/en/database/tables/contact.html), PersonEntity / `person`
 * (https://docs.superoffice.com/en/database/tables/person.html), TicketEntity / `ticket`
 * (https://docs.superoffice.com/en/database/tables/ticket.html). The person's e-mail addresses (entity `Emails`, the
 * `email` table) and birth date (entity `BirthDate`, three columns) are served but have no single column, so they
 * are not rights-checkable fields. `FieldType` of the ticket's status and priority (foreign keys) is UNCONFIRMED.
 */
export const FIELD_CATALOG: Readonly<Record<RightsTable, readonly FieldDef[]>> = {
  contact: [
    { key: 'contactId', prop: 'ContactId', dbName: 'contact_id', type: 'System.Int32', length: 4, readOnly: true },
    { key: 'name', prop: 'Name', dbName: 'name', type: 'System.String', length: 219, mandatory: true },
    { key: 'department', prop: 'Department', dbName: 'department', type: 'System.String', length: 219 },
    { key: 'orgNr', prop: 'OrgNr', dbName: 'orgNr', type: 'System.String', length: 49 },
    { key: 'number1', prop: 'Number1', dbName: 'number1', type: 'System.String', length: 49 },
    { key: 'number2', prop: 'Number2', dbName: 'number2', type: 'System.String', length: 49 },
    { key: 'createdDate', prop: 'CreatedDate', dbName: 'registered', type: 'System.DateTime', length: 8, readOnly: true },
    { key: 'updatedDate', prop: 'UpdatedDate', dbName: 'updated', type: 'System.DateTime', length: 8, readOnly: true },
  ],
  person: [
    { key: 'personId', prop: 'PersonId', dbName: 'person_id', type: 'System.Int32', length: 4, readOnly: true },
    { key: 'firstname', prop: 'Firstname', dbName: 'firstname', type: 'System.String', length: 99 },
    { key: 'middleName', prop: 'MiddleName', dbName: 'middleName', type: 'System.String', length: 99 },
    { key: 'lastname', prop: 'Lastname', dbName: 'lastname', type: 'System.String', length: 99, mandatory: true },
    { key: 'mrmrs', prop: 'Mrmrs', dbName: 'mrmrs', type: 'System.String', length: 239 },
    { key: 'title', prop: 'Title', dbName: 'title', type: 'System.String', length: 239 },
    { key: 'personNumber', prop: 'PersonNumber', dbName: 'person_number', type: 'System.String', length: 49 },
    { key: 'createdDate', prop: 'CreatedDate', dbName: 'registered', type: 'System.DateTime', length: 8, readOnly: true },
    { key: 'updatedDate', prop: 'UpdatedDate', dbName: 'updated', type: 'System.DateTime', length: 8, readOnly: true },
  ],
  ticket: [
    { key: 'ticketId', prop: 'TicketId', dbName: 'id', type: 'System.Int32', length: 4, readOnly: true, listColumn: true },
    { key: 'title', prop: 'Title', dbName: 'title', type: 'System.String', length: 255, mandatory: true, listColumn: true },
    { key: 'baseStatus', prop: 'BaseStatus', dbName: 'status', type: 'System.Int32', length: 4, listColumn: true },
    { key: 'status', prop: 'Status', dbName: 'ticket_status', type: 'System.Int32', length: 4, listColumn: true },
    { key: 'priority', prop: 'Priority', dbName: 'priority', type: 'System.Int32', length: 4 },
    { key: 'createdAt', prop: 'CreatedAt', dbName: 'created_at', type: 'System.DateTime', length: 8, readOnly: true, listColumn: true },
    { key: 'lastChanged', prop: 'LastChanged', dbName: 'last_changed', type: 'System.DateTime', length: 8, readOnly: true },
  ],
};

/**
 * Finds a field by FieldProperties key, entity property or DB column, without regard to case; a key or property
 * wins over another field's column (the ticket's `status` is the Status property, not the `status` column).
 */
export function findField(table: RightsTable, name: string): FieldDef | undefined {
  const n = name.toLowerCase();
  const fields = FIELD_CATALOG[table];
  return fields.find((f) => f.key.toLowerCase() === n || f.prop.toLowerCase() === n) ?? fields.find((f) => f.dbName.toLowerCase() === n);
}

/** Who is asking: a normal user (Bearer) or the tenant's system user (SOTicket). */
export type RightsSubject =
  | { readonly kind: 'user'; readonly user: UserSeed; readonly role: RoleSeed | undefined }
  | { readonly kind: 'system' };

export interface TableRightResult {
  readonly bits: number;
  readonly reason: string;
}

/** ETableRight.FULL (15): Select, Update, Insert, Delete — no Filtering. */
const FULL_BITS = tableRightBits(['Select', 'Update', 'Insert', 'Delete']);

type OwnedRecord = Pick<ContactSeed | PersonSeed, 'ownerAssociateId' | 'groupId' | 'overrides'>;

/** Table right on an existing contact/person record. */
export function recordTableRight(subject: RightsSubject, table: DataRightsTable, record: OwnedRecord): TableRightResult {
  if (subject.kind === 'system') return { bits: FULL_BITS, reason: '' };
  const { user, role } = subject;
  const override = record.overrides?.find((o) => o.associateId === user.associateId);
  if (override) return { bits: tableRightBits(override.tableRight), reason: override.reason };
  if (!role) return { bits: 0, reason: 'User has no role' };
  const rights = role.dataRights[table];
  if (record.ownerAssociateId === user.associateId) return { bits: tableRightBits(rights.own), reason: '' };
  if (record.groupId === user.groupId || user.secondaryGroups.includes(record.groupId)) {
    return { bits: tableRightBits(rights.group), reason: '' };
  }
  const bits = tableRightBits(rights.other);
  return { bits, reason: bits === FULL_BITS ? '' : 'Record belongs to another group' };
}

/** Table right for a new record the user would own (CRMScript checkTableRights without a record id). */
export function newRecordTableRight(subject: RightsSubject, table: DataRightsTable): TableRightResult {
  if (subject.kind === 'system') return { bits: FULL_BITS, reason: '' };
  if (!subject.role) return { bits: 0, reason: 'User has no role' };
  return { bits: tableRightBits(subject.role.dataRights[table].own), reason: '' };
}

/**
 * Table right for a new ticket (`GET v1/Ticket/default`): the role's ticket edit rights (with Select) when the user
 * may edit tickets in at least one category, otherwise none.
 */
export function newTicketTableRight(subject: RightsSubject): TableRightResult {
  if (subject.kind === 'system') return { bits: FULL_BITS, reason: '' };
  if (!subject.role) return { bits: 0, reason: 'User has no role' };
  const mayEdit = Object.values(subject.user.ticketAccess).some((level) => level === 2);
  if (!mayEdit) return { bits: 0, reason: 'No ticket category the user may edit' };
  return { bits: tableRightBits(subject.role.ticketEditRights) | TABLE_RIGHT_BITS.Select, reason: '' };
}

/** The user's access level for a ticket, or undefined for no access. The system user has Edit. */
export function ticketAccessLevel(subject: RightsSubject, ticket: TicketSeed): TicketAccessLevel | undefined {
  if (subject.kind === 'system') return 2;
  return subject.user.ticketAccess[ticket.categoryId];
}

/** Ticket table right, or undefined when the ticket is invisible to the subject. */
export function ticketTableRight(subject: RightsSubject, ticket: TicketSeed): TableRightResult | undefined {
  if (subject.kind === 'system') return { bits: FULL_BITS, reason: '' };
  const level = ticketAccessLevel(subject, ticket);
  switch (level) {
    case undefined:
      return undefined;
    case 0:
      return { bits: TABLE_RIGHT_BITS.Filtering, reason: 'List access only' };
    case 1:
      return { bits: TABLE_RIGHT_BITS.Select, reason: 'Read access only' };
    case 2: {
      const bits = subject.role ? tableRightBits(subject.role.ticketEditRights) | TABLE_RIGHT_BITS.Select : TABLE_RIGHT_BITS.Select;
      return { bits, reason: '' };
    }
  }
}

/** Field right bits for one field given the record's table right bits. */
export function fieldRightBits(subject: RightsSubject, table: RightsTable, field: FieldDef, tableBits: number): number {
  let read = hasBits(tableBits, TABLE_RIGHT_BITS.Select);
  if (!read && table === 'ticket' && field.listColumn === true && hasBits(tableBits, TABLE_RIGHT_BITS.Filtering)) {
    read = true;
  }
  let write = read && hasBits(tableBits, TABLE_RIGHT_BITS.Update) && field.readOnly !== true;
  if (subject.kind === 'user') {
    const restriction = subject.role?.fieldRestrictions[table]?.[field.key];
    if (restriction === 'read') write = false;
    if (restriction === 'none') {
      read = false;
      write = false;
    }
  }
  let bits = 0;
  if (read) bits |= FIELD_RIGHT_BITS.Read;
  if (write) bits |= FIELD_RIGHT_BITS.Write;
  if (write && field.mandatory === true) bits |= FIELD_RIGHT_BITS.UIHintMandatory;
  return bits;
}
