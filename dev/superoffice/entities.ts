/**
 * Serialises ContactEntity / PersonEntity / TicketEntity and SoPrincipalCarrier the way the REST API does,
 * with `TableRight` and `FieldProperties` computed for the calling principal (superoffice.md §5).
 * Field values the caller may not read are blanked (`null`), as the sentry would hide them.
 * Records flagged `rightsUnknown` carry `TableRight: null` (each `FieldRight: null`) or `TableRight: {}` with
 * `FieldProperties: {}`, to exercise "unknown" handling.
 * `FieldProperties` keys are the entity property names in lower camel case (`orgNr`, `birthDate`); the real
 * casing is UNCONFIRMED (the docs only show a placeholder `fieldName`), so clients should match keys without
 * regard to case.
 */
import { FIELD_RIGHT_BITS, TABLE_RIGHT_BITS, formatFieldRight, formatTableRight, hasBits } from './masks.js';
import {
  FIELD_CATALOG,
  fieldRightBits,
  recordTableRight,
  ticketTableRight,
  type RightsSubject,
  type TableRightResult,
} from './rights.js';
import type { ContactSeed, PersonSeed, RightsTable, RightsUnknownStyle, TicketSeed, UserSeed } from './seed.js';
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
    Title: person.title,
    Email: person.email,
    BirthDate: person.birthDate,
    CreatedDate: person.createdDate,
    UpdatedDate: person.updatedDate,
    Contact: contact ? { ContactId: contact.contactId, Name: contact.name } : null,
    Associate: associateSummary(tenant, person.ownerAssociateId),
  };
  const right = recordTableRight(subject, 'person', person);
  if (!hasBits(right.bits, TABLE_RIGHT_BITS.Select)) {
    values['Contact'] = null;
    values['Associate'] = null;
  }
  return withRights(subject, 'person', values, right, person.rightsUnknown);
}

/** The ticket entity, or undefined when the subject has no access to the ticket's category. */
export function ticketEntity(subject: RightsSubject, tenant: TenantRuntime, ticket: TicketSeed): Json | undefined {
  const right = ticketTableRight(subject, ticket);
  if (!right) return undefined;
  const category = tenant.seed.ticketCategories.find((c) => c.categoryId === ticket.categoryId);
  const person = tenant.persons.get(ticket.personId);
  const values: Json = {
    TicketId: ticket.ticketId,
    Title: ticket.title,
    Status: ticket.status,
    Priority: ticket.priority,
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

function sortedOrdinal(values: Iterable<string>): string[] {
  return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** SoPrincipalCarrier for a normal user (superoffice.md §5.1; FunctionRights sorted ordinally). */
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
