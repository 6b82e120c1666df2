/**
 * Serialises ContactEntity / PersonEntity / TicketEntity and SoPrincipalCarrier the way the REST API does,
 * with `TableRight` and `FieldProperties` computed for the calling principal (docs/superoffice.md §5).
 * Field values the caller may not read are blanked (`null`), as the sentry would hide them.
 * Records flagged `rightsUnknown` carry `TableRight: null` (each `FieldRight: null`) or `TableRight: {}` with
 * `FieldProperties: {}`, to exercise "unknown" handling.
 * `FieldProperties` keys are the entity property names in lower camel case (`orgNr`, `personNumber`); the real
 * casing is UNCONFIRMED (the docs only show a placeholder `fieldName`), so clients should match keys without
 * regard to case.
 * Shapes follow the REST reference (a subset of each entity's properties): PersonEntity's `Emails` is an array of
 * `{ Value, StrippedValue, Description }`; TicketEntity has `BaseStatus` (a string), `Status` (a TicketStatusEntity)
 * and `Priority` (a TicketPriorityEntity) —
 * https://docs.superoffice.com/en/api/reference/restful/rest/Person/v1PersonEntity_GetPersonEntity.html,
 * https://docs.superoffice.com/en/api/reference/restful/rest/Ticket/v1TicketEntity_GetTicketEntity.html.
 * `GET v1/{Entity}/default` serialises a new, unsaved entity with the rights of a record the caller would create.
 */
import { FIELD_RIGHT_BITS, TABLE_RIGHT_BITS, formatFieldRight, formatTableRight, hasBits } from './masks.js';
import {
  FIELD_CATALOG,
  fieldRightBits,
  newRecordTableRight,
  newTicketTableRight,
  recordTableRight,
  ticketTableRight,
  type RightsSubject,
  type TableRightResult,
} from './rights.js';
import type { ContactSeed, PersonSeed, RightsTable, RightsUnknownStyle, TicketPrioritySeed, TicketSeed, TicketStatusSeed, UserSeed } from './seed.js';
import type { Mutable, TenantRuntime } from './store.js';

type Json = Record<string, unknown>;

function associateSummary(tenant: TenantRuntime, associateId: number): Json | null {
  const user = tenant.seed.users.find((u) => u.associateId === associateId);
  if (!user) return null;
  return { AssociateId: user.associateId, Name: user.userName, FullName: user.fullName, PersonId: user.personId };
}

/** Builds the rights part and masks the values of unreadable fields. */
function withRights(
  subject: RightsSubject,
  table: RightsTable,
  values: Json,
  right: TableRightResult,
  unknown: RightsUnknownStyle | undefined,
): Json {
  const masked: Json = { ...values };
  const fieldProperties: Json = {};
  for (const field of FIELD_CATALOG[table]) {
    const bits = fieldRightBits(subject, table, field, right.bits);
    if (!hasBits(bits, FIELD_RIGHT_BITS.Read)) masked[field.prop] = null;
    fieldProperties[field.key] = {
      FieldRight: unknown === 'null' ? null : { Mask: formatFieldRight(bits), Reason: '' },
      FieldType: field.type,
      FieldLength: field.length,
    };
  }
  if (unknown === 'emptyObject') return { ...masked, TableRight: {}, FieldProperties: {} };
  if (unknown === 'null') return { ...masked, TableRight: null, FieldProperties: fieldProperties };
  return { ...masked, TableRight: { Mask: formatTableRight(right.bits), Reason: right.reason }, FieldProperties: fieldProperties };
}

export function contactEntity(subject: RightsSubject, tenant: TenantRuntime, contact: Mutable<ContactSeed>): Json {
  const values: Json = {
    ContactId: contact.contactId,
    Name: contact.name,
    Department: contact.department,
    OrgNr: contact.orgNr,
    Number1: contact.number1,
    Number2: contact.number2,
    CreatedDate: contact.createdDate,
    UpdatedDate: contact.updatedDate,
    Emails: [],
    Associate: associateSummary(tenant, contact.ownerAssociateId),
    Group: tenant.seed.groups.find((g) => g.groupId === contact.groupId) ?? null,
  };
  const right = recordTableRight(subject, 'contact', contact);
  if (!hasBits(right.bits, TABLE_RIGHT_BITS.Select)) {
    values['Associate'] = null;
    values['Group'] = null;
  }
  return withRights(subject, 'contact', values, right, contact.rightsUnknown);
}

export function personEntity(subject: RightsSubject, tenant: TenantRuntime, person: Mutable<PersonSeed>): Json {
  const contact = tenant.contacts.get(person.contactId);
  const values: Json = {
    PersonId: person.personId,
    Firstname: person.firstname,
    MiddleName: person.middleName,
    Lastname: person.lastname,
    Mrmrs: person.mrmrs,
    Title: person.title,
    PersonNumber: person.personNumber,
    BirthDate: person.birthDate,
    Emails: person.emails.map(emailElement),
    CreatedDate: person.createdDate,
    UpdatedDate: person.updatedDate,
    Contact: contact ? { ContactId: contact.contactId, Name: contact.name } : null,
    Associate: associateSummary(tenant, person.ownerAssociateId),
  };
  const right = recordTableRight(subject, 'person', person);
  if (!hasBits(right.bits, TABLE_RIGHT_BITS.Select)) {
    values['Contact'] = null;
    values['Associate'] = null;
    values['BirthDate'] = null;
    values['Emails'] = [];
  }
  return withRights(subject, 'person', values, right, person.rightsUnknown);
}

/** The ticket entity, or undefined when the subject has no access to the ticket's category. */
export function ticketEntity(subject: RightsSubject, tenant: TenantRuntime, ticket: TicketSeed): Json | undefined {
  const right = ticketTableRight(subject, ticket);
  if (!right) return undefined;
  const category = tenant.seed.ticketCategories.find((c) => c.categoryId === ticket.categoryId);
  const person = tenant.persons.get(ticket.personId);
  const status = tenant.seed.ticketStatuses.find((t) => t.statusId === ticket.statusId);
  const priority = tenant.seed.ticketPriorities.find((p) => p.priorityId === ticket.priorityId);
  const values: Json = {
    TicketId: ticket.ticketId,
    Title: ticket.title,
    BaseStatus: status?.baseStatus ?? null,
    Status: status ? ticketStatusEntity(status) : null,
    Priority: priority ? ticketPriorityEntity(priority) : null,
    CreatedAt: ticket.createdAt,
    LastChanged: ticket.lastChanged,
    Category: category ? { TicketCategoryId: category.categoryId, Name: category.name } : null,
    Person: person ? { PersonId: person.personId, FullName: `${person.firstname} ${person.lastname}` } : null,
    OwnedBy: associateSummary(tenant, ticket.ownedByAssociateId),
  };
  // Related objects are not list columns (the category is): hide them with List access only.
  if (!hasBits(right.bits, TABLE_RIGHT_BITS.Select)) {
    values['Person'] = null;
    values['OwnedBy'] = null;
  }
  return withRights(subject, 'ticket', values, right, ticket.rightsUnknown);
}

/** An `EntityElement` of an e-mail collection (`Emails`). */
function emailElement(address: string): Json {
  return { Value: address, StrippedValue: address, Description: '' };
}

/** TicketStatusEntity (a subset of its reference properties). */
function ticketStatusEntity(status: TicketStatusSeed): Json {
  return { TicketStatusId: status.statusId, Name: status.name, Status: status.baseStatus, NoEmailReopen: false, IsDefault: true, UsedInQueue: status.baseStatus === 'Active' };
}

/** TicketPriorityEntity (a subset of its reference properties). */
function ticketPriorityEntity(priority: TicketPrioritySeed): Json {
  return { TicketPriorityId: priority.priorityId, Name: priority.name, Status: 'Normal', SortOrder: priority.sortOrder };
}

/** .NET `DateTime.MinValue`, the value of a date a new entity does not have yet. */
const NO_DATE = '0001-01-01T00:00:00';

/** The subject's associate id (the owner of a record it creates), if a user. */
function ownerOf(subject: RightsSubject): number | undefined {
  return subject.kind === 'user' ? subject.user.associateId : undefined;
}

/** `GET v1/Contact/default`: a new ContactEntity, with the rights of a contact the caller would own. */
export function defaultContactEntity(subject: RightsSubject, tenant: TenantRuntime): Json {
  const owner = ownerOf(subject);
  const values: Json = {
    ContactId: 0, Name: '', Department: '', OrgNr: '', Number1: '', Number2: '', CreatedDate: NO_DATE, UpdatedDate: NO_DATE,
    Emails: [], Associate: owner === undefined ? null : associateSummary(tenant, owner), Group: null,
  };
  return withRights(subject, 'contact', values, newRecordTableRight(subject, 'contact'), undefined);
}

/** `GET v1/Person/default`: a new PersonEntity, with the rights of a person the caller would own. */
export function defaultPersonEntity(subject: RightsSubject, tenant: TenantRuntime): Json {
  const owner = ownerOf(subject);
  const values: Json = {
    PersonId: 0, Firstname: '', MiddleName: '', Lastname: '', Mrmrs: '', Title: '', PersonNumber: '', BirthDate: NO_DATE,
    Emails: [], CreatedDate: NO_DATE, UpdatedDate: NO_DATE, Contact: null,
    Associate: owner === undefined ? null : associateSummary(tenant, owner),
  };
  return withRights(subject, 'person', values, newRecordTableRight(subject, 'person'), undefined);
}

/** `GET v1/Ticket/default`: a new TicketEntity, with the rights of a ticket the caller would create. */
export function defaultTicketEntity(subject: RightsSubject, tenant: TenantRuntime): Json {
  const owner = ownerOf(subject);
  const status = tenant.seed.ticketStatuses.find((t) => t.baseStatus === 'Active');
  const priority = tenant.seed.ticketPriorities[0];
  const values: Json = {
    TicketId: 0, Title: '', BaseStatus: 'Active', Status: status ? ticketStatusEntity(status) : null,
    Priority: priority ? ticketPriorityEntity(priority) : null, CreatedAt: NO_DATE, LastChanged: NO_DATE, Category: null, Person: null,
    OwnedBy: owner === undefined ? null : associateSummary(tenant, owner),
  };
  return withRights(subject, 'ticket', values, newTicketTableRight(subject), undefined);
}

function sortedOrdinal(values: Iterable<string>): string[] {
  return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** SoPrincipalCarrier for a normal user (docs/superoffice.md §5.1; FunctionRights sorted ordinally). */
export function userPrincipal(tenant: TenantRuntime, user: UserSeed, subject: RightsSubject): Json {
  const role = subject.kind === 'user' ? subject.role : undefined;
  return {
    UserType: 'InternalAssociate',
    Associate: user.userName,
    AssociateId: user.associateId,
    IsPerson: true,
    PersonId: user.personId,
    CountryId: tenant.seed.countryId,
    HomeCountryId: tenant.seed.countryId,
    ContactId: tenant.seed.ownContactId,
    GroupId: user.groupId,
    BusinessId: 0,
    CategoryId: 0,
    ContactOwner: 0,
    RoleId: role?.roleId ?? 0,
    RoleName: role?.name ?? '',
    RoleDescription: role?.description ?? '',
    RoleType: 'Employee',
    Licenses: user.licenses.map((l, i) => ({
      OwnerId: 1,
      OwnerName: 'SuperOffice',
      OwnerDescription: 'SuperOffice AS',
      ModuleId: l.moduleId,
      Name: l.name,
      Description: l.description,
      Version: '1',
      LicenseType: 'UserLicense',
      ExtraFlags: 0,
      ExtraInfo: '',
      SortOrder: i,
      LicenseNumber: 1,
      IsHidden: false,
      IsUnrestricted: false,
      ExpiryDate: '2099-12-31T00:00:00',
    })),
    FullName: user.fullName,
    EMailAddress: user.email,
    FunctionRights: sortedOrdinal(role?.functionRights ?? []),
    EjUserId: user.ejUserId,
    EjAccessLevel: user.isAdministrator ? 2 : 1,
    EjUserStatus: 'Normal',
    ProvidedCredentials: [{ Type: 'Ticket', SearchName: user.email, DisplayName: 'SuperID', CredentialId: 0 }],
    SecondaryGroups: [...user.secondaryGroups],
    DatabaseContextIdentifier: tenant.seed.contextIdentifier,
    UserName: user.email,
  };
}

/** SoPrincipalCarrier for the tenant's system user (UserType `SystemAssociate`, every function right). */
export function systemPrincipal(tenant: TenantRuntime): Json {
  const sys = tenant.seed.systemUser;
  return {
    UserType: 'SystemAssociate',
    Associate: sys.userName,
    AssociateId: sys.associateId,
    IsPerson: false,
    PersonId: 0,
    CountryId: tenant.seed.countryId,
    HomeCountryId: tenant.seed.countryId,
    ContactId: tenant.seed.ownContactId,
    GroupId: 0,
    BusinessId: 0,
    CategoryId: 0,
    ContactOwner: 0,
    RoleId: 0,
    RoleName: 'System user',
    RoleDescription: 'Unrestricted system user (ignores roles and data rights)',
    RoleType: 'SystemUser',
    Licenses: [],
    FullName: sys.fullName,
    EMailAddress: '',
    FunctionRights: sortedOrdinal(tenant.seed.roles.flatMap((r) => r.functionRights)),
    EjUserId: 0,
    EjAccessLevel: 0,
    EjUserStatus: 'Normal',
    ProvidedCredentials: [],
    SecondaryGroups: [],
    DatabaseContextIdentifier: tenant.seed.contextIdentifier,
    UserName: sys.userName,
  };
}
