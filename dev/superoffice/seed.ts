/**
 * The SuperOffice simulator's seed fixture: tenants, users with a per-user rights model, CRM records and
 * the default demo application. Everything here is fake, dev-only data (no real secrets).
 *
 * Rights model (see rights.ts for the evaluation):
 * - A role gives *data rights* per table in SuperOffice's "Me / My group / Other groups" matrix
 *   (`own` = records the user owns, `group` = records of the user's primary or secondary groups,
 *   `other` = everything else), as lists of TableRight flags.
 * - `fieldRestrictions` narrow single fields ('read' = no write, 'none' = hidden).
 * - A record may carry per-user `overrides` (e.g. a protected record) and `rightsUnknown`, which makes the
 *   Web API serialise `TableRight`/`FieldRight` as `null` or `{}` (docs/superoffice.md §5.2 "unknown").
 * - Ticket access is per category: 0 List, 1 Read, 2 Edit; a category missing from the map = no access.
 */

/** Tenant states with their numbers (docs/superoffice.md §4). */
export const TENANT_STATES = {
  Unknown: 0,
  Provisioning: 1,
  Running: 2,
  Deleted: 3,
  Suspended: 4,
  OnlineMaintenance: 5,
  OfflineMaintenance: 6,
  ProvisioningFailed: 8,
  Deleting: 10,
  DeleteFailed: 11,
  MigrationPending: 12,
} as const;

export type TenantStateName = keyof typeof TENANT_STATES;

/** True for the states in which SuperOffice reports `IsRunning: true`. */
export function isRunningState(state: TenantStateName): boolean {
  return state === 'Running' || state === 'OnlineMaintenance';
}

export type TableRightFlag = 'Select' | 'Update' | 'Insert' | 'Delete' | 'Filtering' | 'RestrictedUpdate';
export type RightsTable = 'contact' | 'person' | 'ticket';
export type DataRightsTable = 'contact' | 'person';
export type FieldRestriction = 'read' | 'none';
export type TicketAccessLevel = 0 | 1 | 2;
export type RightsUnknownStyle = 'null' | 'emptyObject';

export interface DataRightsSeed {
  readonly own: readonly TableRightFlag[];
  readonly group: readonly TableRightFlag[];
  readonly other: readonly TableRightFlag[];
}

export interface RoleSeed {
  readonly roleId: number;
  readonly name: string;
  readonly description: string;
  readonly dataRights: Readonly<Record<DataRightsTable, DataRightsSeed>>;
  /** Table rights on a ticket the user may edit (access level 2). */
  readonly ticketEditRights: readonly TableRightFlag[];
  /** Keys are FieldProperties keys (see rights.ts FIELD_CATALOG). */
  readonly fieldRestrictions: Readonly<Partial<Record<RightsTable, Readonly<Record<string, FieldRestriction>>>>>;
  readonly functionRights: readonly string[];
}

export interface LicenseSeed {
  readonly moduleId: number;
  readonly name: string;
  readonly description: string;
}

export interface UserSeed {
  readonly associateId: number;
  readonly personId: number;
  readonly ejUserId: number;
  /** Associate (logon) name. */
  readonly userName: string;
  readonly fullName: string;
  readonly initials: string;
  /** SuperID user name = e-mail; also `sub`/`upn`/`email` in the id_token. */
  readonly email: string;
  readonly isAdministrator: boolean;
  readonly roleId: number;
  readonly groupId: number;
  readonly secondaryGroups: readonly number[];
  /** False = no user licence: sign-in and token exchange work, the Web API answers 403. */
  readonly licensed: boolean;
  readonly licenses: readonly LicenseSeed[];
  readonly ticketAccess: Readonly<Record<number, TicketAccessLevel>>;
  /** Initial `activeuser` state: origin 1 = SOAP interface, 2 = web pages (CRMScript `User.isLoggedIn`). */
  readonly loggedIn: { readonly soap: boolean; readonly web: boolean };
}

export interface RecordOverrideSeed {
  readonly associateId: number;
  readonly tableRight: readonly TableRightFlag[];
  readonly reason: string;
}

interface RecordSeedBase {
  readonly ownerAssociateId: number;
  readonly groupId: number;
  readonly createdDate: string;
  readonly updatedDate: string;
  readonly overrides?: readonly RecordOverrideSeed[];
  readonly rightsUnknown?: RightsUnknownStyle;
}

export interface ContactSeed extends RecordSeedBase {
  readonly contactId: number;
  readonly name: string;
  readonly department: string;
  readonly orgNr: string;
  readonly number1: string;
  readonly number2: string;
}

export interface PersonSeed extends RecordSeedBase {
  readonly personId: number;
  readonly contactId: number;
  readonly firstname: string;
  readonly middleName: string;
  readonly lastname: string;
  /** `mrmrs` column, `Mrmrs` property (e.g. "Mrs"). */
  readonly mrmrs: string;
  readonly title: string;
  /** `person_number` column, `PersonNumber` property (alphanumeric user field). */
  readonly personNumber: string;
  /** The entity's `Emails` collection (the addresses live in the `email` table, not in `person`). */
  readonly emails: readonly string[];
  /** The entity's `BirthDate` (kept in the `year_of_birth`/`month_of_birth`/`day_of_birth` columns). */
  readonly birthDate: string;
}

/** The classic ticket status (`TicketBaseStatus`; TicketEntity `BaseStatus`, column `ticket.status`). */
export type TicketBaseStatus = 'Active' | 'Closed' | 'Postponed';

/** A user-defined ticket status (`ticket_status` table; TicketStatusEntity). */
export interface TicketStatusSeed {
  readonly statusId: number;
  readonly name: string;
  readonly baseStatus: TicketBaseStatus;
}

/** A ticket priority (`ticket_priority` table; TicketPriorityEntity). */
export interface TicketPrioritySeed {
  readonly priorityId: number;
  readonly name: string;
  readonly sortOrder: number;
}

export interface TicketSeed {
  readonly ticketId: number;
  readonly title: string;
  readonly categoryId: number;
  /** A `ticketStatuses` entry of the tenant (TicketEntity `Status`; its base status is `BaseStatus`). */
  readonly statusId: number;
  /** A `ticketPriorities` entry of the tenant (TicketEntity `Priority`). */
  readonly priorityId: number;
  readonly personId: number;
  readonly ownedByAssociateId: number;
  readonly createdAt: string;
  readonly lastChanged: string;
  readonly rightsUnknown?: RightsUnknownStyle;
}

export interface CrmScriptSeed {
  readonly uniqueId: string;
  readonly name: string;
  /** Which built-in behaviour the simulator runs: our rights-check or customer-session script. */
  readonly kind: 'rightsCheck' | 'customerSession';
}

export interface TenantSeed {
  readonly contextIdentifier: string;
  readonly serial: string;
  readonly companyName: string;
  readonly state: TenantStateName;
  /** The tenant's own company (ContactId of the associates' persons). */
  readonly ownContactId: number;
  readonly countryId: number;
  /** Required for the system user (docs/superoffice.md §7). */
  readonly developmentToolsLicense: boolean;
  readonly systemUser: { readonly associateId: number; readonly userName: string; readonly fullName: string };
  readonly groups: readonly { readonly groupId: number; readonly name: string }[];
  readonly ticketCategories: readonly { readonly categoryId: number; readonly name: string }[];
  readonly ticketStatuses: readonly TicketStatusSeed[];
  readonly ticketPriorities: readonly TicketPrioritySeed[];
  readonly roles: readonly RoleSeed[];
  readonly users: readonly UserSeed[];
  readonly contacts: readonly ContactSeed[];
  readonly persons: readonly PersonSeed[];
  readonly tickets: readonly TicketSeed[];
  readonly crmScripts: readonly CrmScriptSeed[];
}

/** An application registered in the (simulated) Developer Portal. */
export interface AppRegistration {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly name: string;
  readonly redirectUris: readonly string[];
  /** PEM (SPKI or PKCS#1) public key of the app's system-user RSA key pair; enables `system_token`. */
  readonly systemUserPublicKeyPem?: string;
  readonly crmScriptAgentAllowed?: boolean;
  readonly webhookAgentAllowed?: boolean;
}

export interface SeedFixture {
  readonly tenants: readonly TenantSeed[];
}

/** ETableRight.FULL (15): Select, Update, Insert, Delete — no Filtering. */
const FULL: readonly TableRightFlag[] = ['Select', 'Update', 'Insert', 'Delete'];

/** The ticket statuses and priorities every demo tenant has. */
const TICKET_STATUSES: readonly TicketStatusSeed[] = [
  { statusId: 1, name: 'Open', baseStatus: 'Active' },
  { statusId: 2, name: 'Closed', baseStatus: 'Closed' },
  { statusId: 3, name: 'Postponed', baseStatus: 'Postponed' },
];
const TICKET_PRIORITIES: readonly TicketPrioritySeed[] = [
  { priorityId: 1, name: 'High', sortOrder: 1 },
  { priorityId: 2, name: 'Medium', sortOrder: 2 },
  { priorityId: 3, name: 'Low', sortOrder: 3 },
];

const USER_LICENSE: LicenseSeed = { moduleId: 101, name: 'superoffice.crm.user', description: 'SuperOffice CRM user plan' };
const SERVICE_LICENSE: LicenseSeed = { moduleId: 102, name: 'superoffice.service.user', description: 'SuperOffice Service user' };

const ADMIN_ROLE: RoleSeed = {
  roleId: 1,
  name: 'Administrator',
  description: 'Full access to all data and settings',
  dataRights: {
    contact: { own: FULL, group: FULL, other: FULL },
    person: { own: FULL, group: FULL, other: FULL },
  },
  ticketEditRights: FULL,
  fieldRestrictions: {},
  functionRights: ['admin-all', 'allow-crmscript', 'allow-webhooks', 'ticket-edit-all', 'user-admin', 'export-data'],
};

const SALES_ROLE: RoleSeed = {
  roleId: 2,
  name: 'Sales user',
  description: 'Edits own and own-group records, reads and updates others',
  dataRights: {
    contact: {
      own: FULL,
      group: ['Select', 'Update', 'Insert', 'Delete'],
      // Some fields of other groups' records may be hidden (Filtering): written "Update, RF".
      other: ['Select', 'Update', 'Filtering'],
    },
    person: {
      own: FULL,
      group: ['Select', 'Update', 'Insert', 'Delete'],
      other: ['Select', 'Update'],
    },
  },
  ticketEditRights: ['Select', 'Update', 'Insert'],
  fieldRestrictions: {},
  functionRights: ['export-data', 'ticket-edit-own'],
};

const RESTRICTED_ROLE: RoleSeed = {
  roleId: 3,
  name: 'Restricted user',
  description: 'Reads own group, may only list other groups',
  dataRights: {
    contact: { own: ['Select', 'Update'], group: ['Select'], other: ['Filtering'] },
    person: { own: ['Select', 'Update'], group: ['Select', 'Filtering'], other: ['Filtering'] },
  },
  ticketEditRights: ['Select', 'Update'],
  fieldRestrictions: {
    contact: { orgNr: 'read' },
    person: { personNumber: 'none', title: 'read' },
  },
  functionRights: ['ticket-edit-own'],
};

/** Tenant Cust12345: the main demo tenant (Running, rights-check script installed). */
export const TENANT_CUST12345: TenantSeed = {
  contextIdentifier: 'Cust12345',
  serial: '2384715901',
  companyName: 'Nordic Demo AS',
  state: 'Running',
  ownContactId: 1,
  countryId: 578,
  developmentToolsLicense: true,
  systemUser: { associateId: 9, userName: 'SYSTEM', fullName: 'System User' },
  groups: [
    { groupId: 1, name: 'Sales' },
    { groupId: 2, name: 'Support' },
    { groupId: 3, name: 'Management' },
  ],
  ticketCategories: [
    { categoryId: 1, name: 'Support' },
    { categoryId: 2, name: 'Billing' },
    { categoryId: 3, name: 'Internal' },
  ],
  ticketStatuses: TICKET_STATUSES,
  ticketPriorities: TICKET_PRIORITIES,
  roles: [ADMIN_ROLE, SALES_ROLE, RESTRICTED_ROLE],
  users: [
    {
      associateId: 5,
      personId: 1005,
      ejUserId: 105,
      userName: 'ADA',
      fullName: 'Ada Admin',
      initials: 'AA',
      email: 'ada.admin@nordic-demo.example',
      isAdministrator: true,
      roleId: 1,
      groupId: 3,
      secondaryGroups: [1, 2],
      licensed: true,
      licenses: [USER_LICENSE, SERVICE_LICENSE],
      ticketAccess: { 1: 2, 2: 2, 3: 2 },
      loggedIn: { soap: false, web: true },
    },
    {
      associateId: 6,
      personId: 1006,
      ejUserId: 106,
      userName: 'NORA',
      fullName: 'Nora Normal',
      initials: 'NN',
      email: 'nora.normal@nordic-demo.example',
      isAdministrator: false,
      roleId: 2,
      groupId: 1,
      secondaryGroups: [],
      licensed: true,
      licenses: [USER_LICENSE, SERVICE_LICENSE],
      ticketAccess: { 1: 2, 2: 1 },
      loggedIn: { soap: true, web: true },
    },
    {
      associateId: 7,
      personId: 1007,
      ejUserId: 107,
      userName: 'RICK',
      fullName: 'Rick Restricted',
      initials: 'RR',
      email: 'rick.restricted@nordic-demo.example',
      isAdministrator: false,
      roleId: 3,
      groupId: 2,
      secondaryGroups: [],
      licensed: true,
      licenses: [USER_LICENSE],
      ticketAccess: { 1: 1, 2: 0 },
      loggedIn: { soap: false, web: false },
    },
    {
      associateId: 8,
      personId: 1008,
      ejUserId: 108,
      userName: 'ULF',
      fullName: 'Ulf Unlicensed',
      initials: 'UU',
      email: 'ulf.unlicensed@nordic-demo.example',
      isAdministrator: false,
      roleId: 2,
      groupId: 1,
      secondaryGroups: [],
      licensed: false,
      licenses: [],
      ticketAccess: {},
      loggedIn: { soap: false, web: false },
    },
  ],
  contacts: [
    {
      contactId: 101, name: 'Fjord Shipping AS', department: 'Logistics', orgNr: '912345670', number1: 'C-101', number2: '',
      ownerAssociateId: 6, groupId: 1, createdDate: '2021-03-04T09:15:00', updatedDate: '2024-01-10T14:02:00',
    },
    {
      contactId: 102, name: 'Bergen Bakery', department: '', orgNr: '923456781', number1: 'C-102', number2: '',
      ownerAssociateId: 5, groupId: 1, createdDate: '2021-05-11T10:00:00', updatedDate: '2023-11-02T08:30:00',
    },
    {
      contactId: 103, name: 'Oslo Consulting', department: 'Advisory', orgNr: '934567892', number1: 'C-103', number2: 'X',
      ownerAssociateId: 7, groupId: 2, createdDate: '2022-02-01T12:00:00', updatedDate: '2024-02-20T16:45:00',
    },
    {
      contactId: 104, name: 'Board Room Holding', department: 'Board', orgNr: '945678903', number1: 'C-104', number2: '',
      ownerAssociateId: 5, groupId: 3, createdDate: '2020-08-08T08:08:00', updatedDate: '2024-03-01T07:00:00',
      overrides: [{ associateId: 6, tableRight: ['Select'], reason: 'Record is protected by its owner' }],
    },
    {
      contactId: 105, name: 'Mystery Imports', department: '', orgNr: '956789014', number1: 'C-105', number2: '',
      ownerAssociateId: 6, groupId: 1, createdDate: '2023-06-06T06:06:00', updatedDate: '2023-06-06T06:06:00',
      rightsUnknown: 'emptyObject',
    },
  ],
  persons: [
    {
      personId: 201, contactId: 101, firstname: 'Kari', middleName: '', lastname: 'Nordmann', title: 'CEO', personNumber: 'P-001',
      mrmrs: 'Mrs', emails: ['kari@fjord-shipping.example'], birthDate: '1980-04-01T00:00:00',
      ownerAssociateId: 6, groupId: 1, createdDate: '2021-03-04T09:20:00', updatedDate: '2024-01-10T14:05:00',
    },
    {
      personId: 202, contactId: 103, firstname: 'Ola', middleName: 'K.', lastname: 'Hansen', title: 'Partner', personNumber: 'P-002',
      mrmrs: 'Mr', emails: ['ola@oslo-consulting.example'], birthDate: '1975-09-12T00:00:00',
      ownerAssociateId: 7, groupId: 2, createdDate: '2022-02-01T12:05:00', updatedDate: '2024-02-20T16:50:00',
    },
    {
      personId: 203, contactId: 104, firstname: 'Per', middleName: '', lastname: 'Styre', title: 'Chairman', personNumber: 'P-003',
      mrmrs: 'Mr', emails: ['per@boardroom.example'], birthDate: '1960-01-30T00:00:00',
      ownerAssociateId: 5, groupId: 3, createdDate: '2020-08-08T08:10:00', updatedDate: '2024-03-01T07:05:00',
    },
    {
      personId: 204, contactId: 102, firstname: 'Siri', middleName: '', lastname: 'Bakke', title: 'Owner', personNumber: 'P-004',
      mrmrs: 'Mrs', emails: ['siri@bergen-bakery.example'], birthDate: '1990-12-24T00:00:00',
      ownerAssociateId: 5, groupId: 1, createdDate: '2021-05-11T10:05:00', updatedDate: '2023-11-02T08:35:00',
    },
    {
      personId: 205, contactId: 105, firstname: 'Ukjent', middleName: '', lastname: 'Person', title: '', personNumber: 'P-005',
      mrmrs: '', emails: ['ukjent@mystery.example'], birthDate: '1985-05-05T00:00:00',
      ownerAssociateId: 6, groupId: 1, createdDate: '2023-06-06T06:10:00', updatedDate: '2023-06-06T06:10:00',
      rightsUnknown: 'null',
    },
  ],
  tickets: [
    {
      ticketId: 301, title: 'Cannot log in to the portal', categoryId: 1, statusId: 1, priorityId: 1,
      personId: 201, ownedByAssociateId: 6, createdAt: '2024-02-01T08:00:00', lastChanged: '2024-02-02T09:00:00',
    },
    {
      ticketId: 302, title: 'Invoice 1187 has the wrong amount', categoryId: 2, statusId: 1, priorityId: 2,
      personId: 204, ownedByAssociateId: 5, createdAt: '2024-02-05T10:30:00', lastChanged: '2024-02-06T11:00:00',
    },
    {
      ticketId: 303, title: 'Internal salary review', categoryId: 3, statusId: 3, priorityId: 3,
      personId: 203, ownedByAssociateId: 5, createdAt: '2024-01-15T13:00:00', lastChanged: '2024-01-16T13:00:00',
    },
    {
      ticketId: 304, title: 'Printer on fire', categoryId: 1, statusId: 2, priorityId: 1,
      personId: 202, ownedByAssociateId: 7, createdAt: '2023-12-24T18:00:00', lastChanged: '2023-12-24T18:30:00',
      rightsUnknown: 'null',
    },
  ],
  crmScripts: [
    { uniqueId: 'tokenbroker-rights-check-v1', name: 'Token broker rights check', kind: 'rightsCheck' },
    { uniqueId: 'tokenbroker-customer-session-v1', name: 'Token broker customer sessions', kind: 'customerSession' },
  ],
};

/** Tenant Cust54321: a second, smaller tenant (cross-tenant tests; no CRMScript installed). */
export const TENANT_CUST54321: TenantSeed = {
  contextIdentifier: 'Cust54321',
  serial: '9876543210',
  companyName: 'Southern Test GmbH',
  state: 'Running',
  ownContactId: 1,
  countryId: 276,
  developmentToolsLicense: true,
  systemUser: { associateId: 3, userName: 'SYSTEM', fullName: 'System User' },
  groups: [{ groupId: 1, name: 'Alle' }],
  ticketCategories: [{ categoryId: 1, name: 'Anfragen' }],
  ticketStatuses: TICKET_STATUSES,
  ticketPriorities: TICKET_PRIORITIES,
  roles: [ADMIN_ROLE, SALES_ROLE],
  users: [
    {
      associateId: 5,
      personId: 2005,
      ejUserId: 205,
      userName: 'GRETA',
      fullName: 'Greta Admin',
      initials: 'GA',
      email: 'greta.admin@southern-test.example',
      isAdministrator: true,
      roleId: 1,
      groupId: 1,
      secondaryGroups: [],
      licensed: true,
      licenses: [USER_LICENSE],
      ticketAccess: { 1: 2 },
      loggedIn: { soap: false, web: true },
    },
    {
      associateId: 6,
      personId: 2006,
      ejUserId: 206,
      userName: 'HANS',
      fullName: 'Hans Normal',
      initials: 'HN',
      email: 'hans.normal@southern-test.example',
      isAdministrator: false,
      roleId: 2,
      groupId: 1,
      secondaryGroups: [],
      licensed: true,
      licenses: [USER_LICENSE],
      ticketAccess: { 1: 1 },
      loggedIn: { soap: false, web: false },
    },
  ],
  contacts: [
    {
      contactId: 101, name: 'Alpen Maschinenbau GmbH', department: 'Einkauf', orgNr: 'DE123456789', number1: 'S-101', number2: '',
      ownerAssociateId: 6, groupId: 1, createdDate: '2022-07-07T07:07:00', updatedDate: '2024-04-04T04:04:00',
    },
  ],
  persons: [
    {
      personId: 201, contactId: 101, firstname: 'Jonas', middleName: '', lastname: 'Berg', title: 'Einkaufsleiter', personNumber: 'P-006',
      mrmrs: 'Herr', emails: ['jonas@alpen.example'], birthDate: '1970-07-07T00:00:00',
      ownerAssociateId: 6, groupId: 1, createdDate: '2022-07-07T07:10:00', updatedDate: '2024-04-04T04:05:00',
    },
  ],
  tickets: [
    {
      ticketId: 301, title: 'Lieferung verspätet', categoryId: 1, statusId: 1, priorityId: 2,
      personId: 201, ownedByAssociateId: 6, createdAt: '2024-03-03T09:00:00', lastChanged: '2024-03-03T10:00:00',
    },
  ],
  crmScripts: [],
};

/** The default seed: both tenants. */
export const DEFAULT_SEED: SeedFixture = { tenants: [TENANT_CUST12345, TENANT_CUST54321] };

/** The registered redirect URI of the local broker (Azure Functions default port 7071). */
export const DEMO_REDIRECT_URI = 'http://127.0.0.1:7071/api/consent/callback';

/**
 * The default demo application "Token Broker Dev" (32-hex client id and secret, like the Developer Portal's).
 * It has no system-user key unless one is passed in; see `generateSystemUserKeyPair()` in systemUser.ts.
 */
export const DEMO_APP: AppRegistration = {
  clientId: '7d1c5e9a3b2f4e6d8a0b1c2d3e4f5a6b',
  clientSecret: 'f0e1d2c3b4a5968778695a4b3c2d1e0f',
  name: 'Token Broker Dev',
  redirectUris: [DEMO_REDIRECT_URI],
  crmScriptAgentAllowed: true,
  webhookAgentAllowed: true,
};

/** The demo app with overrides (e.g. a system-user public key or extra redirect URIs). */
export function demoApp(overrides: Partial<AppRegistration> = {}): AppRegistration {
  return { ...DEMO_APP, ...overrides };
}
