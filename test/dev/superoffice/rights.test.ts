/**
 * docs/superoffice.md §8 "Entities carry TableRight and FieldProperties" (§5.2): masks computed per user from the seed's
 * rights model (role data rights own/group/other, per-record overrides, field restrictions, ticket access levels),
 * named combos vs comma lists, unknown rights as {} / null, and PATCH that respects the rights.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import { formatFieldRight, formatTableRight, tableRightBits } from '../../../dev/superoffice/masks.js';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { demoApp } from '../../../dev/superoffice/seed.js';
import { api, bearer, signIn, soTicket, systemUserTicket } from './helpers.js';

type Entity = Record<string, unknown> & {
  TableRight: { Mask: string; Reason: string } | null | Record<string, never>;
  FieldProperties: Record<string, { FieldRight: { Mask: string; Reason: string } | null; FieldType: string; FieldLength: number }>;
};

let sim: SuperOfficeSimulator;
let systemKey: KeyObject;
const tokens = new Map<number, string>();

beforeAll(async () => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  systemKey = pair.privateKey;
  sim = await startSuperOfficeSimulator({
    apps: [demoApp({ systemUserPublicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() })],
  });
  for (const id of [5, 6, 7]) tokens.set(id, (await signIn(sim, { associateId: id })).access_token);
});
afterAll(async () => {
  await sim.close();
});

async function get(associateId: number, path: string): Promise<{ status: number; body: Entity }> {
  const res = await api(sim.url, `/Cust12345/api/v1/${path}`, { headers: bearer(tokens.get(associateId) ?? '') });
  return { status: res.status, body: res.body as Entity };
}

function mask(e: Entity): string | undefined {
  return (e.TableRight as { Mask?: string } | null)?.Mask;
}

describe('mask serialisation (from the numeric value, as SuperOffice’s Web API writes it)', () => {
  it('formats table rights with SuperOffice’s names (FULL is 15, without Filtering)', () => {
    expect(formatTableRight(0)).toBe('None');
    expect(formatTableRight(tableRightBits(['Select', 'Update', 'Insert', 'Delete']))).toBe('FULL');
    expect(formatTableRight(tableRightBits(['Select', 'Update', 'Insert', 'Delete', 'Filtering']))).toBe('UDR, FI');
    expect(formatTableRight(tableRightBits(['Select', 'Update', 'Insert']))).toBe('URI');
    expect(formatTableRight(tableRightBits(['Select', 'Update']))).toBe('UR');
    expect(formatTableRight(tableRightBits(['Select']))).toBe('R');
    expect(formatTableRight(tableRightBits(['Filtering']))).toBe('F');
    expect(formatTableRight(tableRightBits(['Select', 'Filtering']))).toBe('RF');
    expect(formatTableRight(tableRightBits(['Update', 'Insert', 'RestrictedUpdate']))).toBe('WRITE');
    expect(formatTableRight(tableRightBits(['Update', 'RestrictedUpdate']))).toBe('URU');
    expect(formatTableRight(tableRightBits(['Update', 'Insert', 'Delete']))).toBe('Update, Insert, Delete');
    expect(formatTableRight(tableRightBits(['Update']))).toBe('Update');
    expect(formatTableRight(tableRightBits(['Filtering', 'Select', 'Update']))).toBe('Update, RF');
  });

  it('formats field rights (Read + Write is FULL)', () => {
    expect(formatFieldRight(0)).toBe('None');
    expect(formatFieldRight(1)).toBe('Read');
    expect(formatFieldRight(3)).toBe('FULL');
    expect(formatFieldRight(1 | 2 | 64)).toBe('FULL, UIHintMandatory');
  });
});

describe('§8 Contact TableRight/FieldProperties per user', () => {
  it('an other-group contact for the restricted user: F only, values blanked', async () => {
    const { status, body } = await get(7, 'Contact/101');
    expect(status).toBe(200);
    expect(body.TableRight).toEqual({ Mask: 'F', Reason: 'Record belongs to another group' });
    expect(body['Name']).toBeNull();
    expect(body['Associate']).toBeNull();
    expect(body.FieldProperties['name']?.FieldRight?.Mask).toBe('None');
    expect(body['ContactId']).toBeNull();
  });

  it('a protected record (per-record override): R with the override reason', async () => {
    const { body } = await get(6, 'Contact/104');
    expect(body.TableRight).toEqual({ Mask: 'R', Reason: 'Record is protected by its owner' });
    expect(body['Name']).toBe('Board Room Holding');
    expect(body.FieldProperties['name']?.FieldRight?.Mask).toBe('Read');
    expect(body.FieldProperties['department']?.FieldRight?.Mask).toBe('Read');
  });

  it('own record and own group: FULL; other group: a mixed list "Update, RF" (sales user)', async () => {
    expect(mask((await get(6, 'Contact/101')).body)).toBe('FULL');
    expect(mask((await get(6, 'Contact/102')).body)).toBe('FULL');
    expect((await get(6, 'Contact/103')).body.TableRight).toEqual({ Mask: 'Update, RF', Reason: 'Record belongs to another group' });
    expect(mask((await get(6, 'Person/202')).body)).toBe('UR');
  });

  it('field rights: read-only ids, writable mandatory name, FULL department; types and lengths', async () => {
    const { body } = await get(6, 'Contact/101');
    expect(body.FieldProperties['contactId']).toEqual({ FieldRight: { Mask: 'Read', Reason: '' }, FieldType: 'System.Int32', FieldLength: 4 });
    expect(body.FieldProperties['name']).toEqual({
      FieldRight: { Mask: 'FULL, UIHintMandatory', Reason: '' },
      FieldType: 'System.String',
      FieldLength: 219,
    });
    expect(body.FieldProperties['department']?.FieldRight?.Mask).toBe('FULL');
    expect(body.FieldProperties['updatedDate']?.FieldType).toBe('System.DateTime');
  });

  it('a field restriction of the role: orgNr read-only for the restricted user on his own contact', async () => {
    const { body } = await get(7, 'Contact/103');
    expect(mask(body)).toBe('UR');
    expect(body.FieldProperties['orgNr']?.FieldRight?.Mask).toBe('Read');
    expect(body.FieldProperties['department']?.FieldRight?.Mask).toBe('FULL');
  });

  it('the administrator gets FULL everywhere', async () => {
    for (const id of [101, 102, 103, 104]) expect(mask((await get(5, `Contact/${id}`)).body)).toBe('FULL');
  });

  it('a record flagged "rights unknown" carries TableRight {} and FieldProperties {}', async () => {
    const { status, body } = await get(6, 'Contact/105');
    expect(status).toBe(200);
    expect(body.TableRight).toEqual({});
    expect(body.FieldProperties).toEqual({});
    expect(body['Name']).toBe('Mystery Imports');
  });
});

describe('§8 Person TableRight/FieldProperties per user', () => {
  it('hidden field (personNumber: none) and read-only field (title) for the restricted user', async () => {
    const { body } = await get(7, 'Person/202');
    expect(mask(body)).toBe('UR');
    expect(body.FieldProperties['personNumber']?.FieldRight?.Mask).toBe('None');
    expect(body['PersonNumber']).toBeNull();
    expect(body.FieldProperties['title']?.FieldRight?.Mask).toBe('Read');
    expect(body['Title']).toBe('Partner');
  });

  it('follows the PersonEntity reference: Emails collection, Mrmrs, BirthDate; FieldProperties only for fields with a column', async () => {
    const { body } = await get(6, 'Person/201');
    expect(body['Emails']).toEqual([{ Value: 'kari@fjord-shipping.example', StrippedValue: 'kari@fjord-shipping.example', Description: '' }]);
    expect(body['Mrmrs']).toBe('Mrs');
    expect(body['BirthDate']).toBe('1980-04-01T00:00:00');
    expect(body).not.toHaveProperty('Email');
    expect(Object.keys(body.FieldProperties)).toEqual([
      'personId', 'firstname', 'middleName', 'lastname', 'mrmrs', 'title', 'personNumber', 'createdDate', 'updatedDate',
    ]);
  });

  it('a person flagged "rights unknown" carries TableRight null and FieldRight null per field', async () => {
    const { body } = await get(6, 'Person/205');
    expect(body.TableRight).toBeNull();
    expect(body.FieldProperties['firstname']).toEqual({ FieldRight: null, FieldType: 'System.String', FieldLength: 99 });
  });

  it('includes the contact summary when readable', async () => {
    const { body } = await get(6, 'Person/201');
    expect(mask(body)).toBe('FULL');
    expect(body['Contact']).toEqual({ ContactId: 101, Name: 'Fjord Shipping AS' });
  });
});

describe('§8 Ticket rights by category access level (0 List, 1 Read, 2 Edit, none → 404)', () => {
  it('no access to the category → 404', async () => {
    expect((await get(6, 'Ticket/303')).status).toBe(404);
    expect((await get(7, 'Ticket/303')).status).toBe(404);
  });

  it('List (0) → F; only list columns readable', async () => {
    const { status, body } = await get(7, 'Ticket/302');
    expect(status).toBe(200);
    expect(body.TableRight).toEqual({ Mask: 'F', Reason: 'List access only' });
    expect(body['Title']).toBe('Invoice 1187 has the wrong amount');
    expect(body['Priority']).toBeNull();
    expect(body['Person']).toBeNull();
    expect(body.FieldProperties['title']?.FieldRight?.Mask).toBe('Read');
    expect(body.FieldProperties['priority']?.FieldRight?.Mask).toBe('None');
  });

  it('Read (1) → R; Edit (2) → the role’s ticket rights (URI for sales, FULL for admin)', async () => {
    expect((await get(7, 'Ticket/301')).body.TableRight).toEqual({ Mask: 'R', Reason: 'Read access only' });
    expect(mask((await get(6, 'Ticket/302')).body)).toBe('R');
    expect(mask((await get(6, 'Ticket/301')).body)).toBe('URI');
    expect(mask((await get(5, 'Ticket/303')).body)).toBe('FULL');
  });

  it('follows the TicketEntity reference: BaseStatus string, Status a TicketStatusEntity, Priority a TicketPriorityEntity', async () => {
    const { body } = await get(6, 'Ticket/301');
    expect(body['BaseStatus']).toBe('Active');
    expect(body['Status']).toEqual({ TicketStatusId: 1, Name: 'Open', Status: 'Active', NoEmailReopen: false, IsDefault: true, UsedInQueue: true });
    expect(body['Priority']).toEqual({ TicketPriorityId: 1, Name: 'High', Status: 'Normal', SortOrder: 1 });
    expect(Object.keys(body.FieldProperties)).toEqual(['ticketId', 'title', 'baseStatus', 'status', 'priority', 'createdAt', 'lastChanged']);
  });

  it('a ticket flagged "rights unknown" → TableRight null', async () => {
    expect((await get(6, 'Ticket/304')).body.TableRight).toBeNull();
  });
});

describe('§8 PATCH respects table and field rights', () => {
  async function patch(associateId: number, path: string, body: unknown, contentType = 'application/json') {
    return api(sim.url, `/Cust12345/api/v1/${path}`, { method: 'PATCH', headers: bearer(tokens.get(associateId) ?? ''), body, contentType });
  }

  it('403 without Update on the record, 403 for a read-only field, 400 for unknown/read-only properties and bad values', async () => {
    expect((await patch(6, 'Contact/104', { Name: 'X' })).status).toBe(403);
    expect((await patch(7, 'Contact/101', { Name: 'X' })).status).toBe(403);
    expect((await patch(7, 'Contact/103', { OrgNr: '1' })).status).toBe(403);
    expect((await patch(6, 'Contact/101', { Nope: '1' })).status).toBe(400);
    expect((await patch(6, 'Contact/101', { ContactId: '5' })).status).toBe(400);
    expect((await patch(6, 'Contact/101', { Name: 5 })).status).toBe(400);
    expect((await patch(6, 'Contact/101', { Name: '' })).status).toBe(400);
    expect((await patch(6, 'Contact/101', 'not json')).status).toBe(400);
    expect((await api(sim.url, '/Cust12345/api/v1/Ticket/301', { method: 'PATCH', headers: bearer(tokens.get(5) ?? ''), body: {} })).status).toBe(405);
  });

  it('applies a merge patch and a JSON Patch the user may write', async () => {
    const merge = await patch(7, 'Contact/103', { Department: 'Strategy' });
    expect(merge.status).toBe(200);
    expect((merge.body as Record<string, unknown>)['Department']).toBe('Strategy');
    const jsonPatch = await patch(6, 'Person/201', [{ op: 'replace', path: '/Title', value: 'Chair' }], 'application/json-patch+json');
    expect(jsonPatch.status).toBe(200);
    expect((jsonPatch.body as Record<string, unknown>)['Title']).toBe('Chair');
    expect(((await get(6, 'Person/201')).body)['Title']).toBe('Chair');
  });
});

describe('§8 the system user (SOTicket) sees everything with FULL', () => {
  it('gets FULL on records and tickets the users cannot see', async () => {
    const ticket = await systemUserTicket(sim, systemKey);
    for (const path of ['Contact/104', 'Contact/103', 'Person/202', 'Ticket/303', 'Ticket/302']) {
      const res = await api(sim.url, `/Cust12345/api/v1/${path}`, { headers: soTicket(ticket) });
      expect(res.status).toBe(200);
      expect((res.body as Entity).TableRight).toEqual({ Mask: 'FULL', Reason: '' });
    }
    const person = (await api(sim.url, '/Cust12345/api/v1/Person/202', { headers: soTicket(ticket) })).body as Entity;
    expect(person.FieldProperties['personNumber']?.FieldRight?.Mask).toBe('FULL');
    expect(person['PersonNumber']).toBe('P-002');
  });
});

describe('§5 GET v1/{Entity}/default: a new entity with the caller’s rights for a record they would create (issue 10, item 5)', () => {
  it('Contact/default and Person/default carry the role’s rights for own records', async () => {
    const nora = await get(6, 'Contact/default');
    expect(nora.status).toBe(200);
    expect(nora.body.TableRight).toEqual({ Mask: 'FULL', Reason: '' });
    expect(nora.body['ContactId']).toBe(0);
    expect(nora.body['Associate']).toMatchObject({ AssociateId: 6 });
    expect(nora.body.FieldProperties['name']?.FieldRight?.Mask).toBe('FULL, UIHintMandatory');
    expect(nora.body.FieldProperties['contactId']?.FieldRight?.Mask).toBe('Read');

    const rick = await get(7, 'Contact/default');
    expect(rick.body.TableRight).toEqual({ Mask: 'UR', Reason: '' });
    expect(rick.body.FieldProperties['orgNr']?.FieldRight?.Mask).toBe('Read');
    const rickPerson = await get(7, 'Person/default');
    expect(rickPerson.body.TableRight).toEqual({ Mask: 'UR', Reason: '' });
    expect(rickPerson.body.FieldProperties['personNumber']?.FieldRight?.Mask).toBe('None');
    expect(rickPerson.body['Emails']).toEqual([]);
  });

  it('Ticket/default: the role’s ticket edit rights where the user may edit some category, otherwise none', async () => {
    expect((await get(5, 'Ticket/default')).body.TableRight).toEqual({ Mask: 'FULL', Reason: '' });
    expect((await get(6, 'Ticket/default')).body.TableRight).toEqual({ Mask: 'URI', Reason: '' });
    const rick = await get(7, 'Ticket/default');
    expect(rick.status).toBe(200);
    expect(rick.body.TableRight).toEqual({ Mask: 'None', Reason: 'No ticket category the user may edit' });
    expect(rick.body['BaseStatus']).toBeNull();
    expect((await get(6, 'Ticket/default')).body['BaseStatus']).toBe('Active');
  });

  it('the system user gets FULL; only GET is allowed; the path is matched without regard to case', async () => {
    const ticket = await systemUserTicket(sim, systemKey);
    for (const path of ['Contact/default', 'Person/default', 'Ticket/default']) {
      const res = await api(sim.url, `/Cust12345/api/v1/${path}`, { headers: soTicket(ticket) });
      expect(res.status).toBe(200);
      expect((res.body as Entity).TableRight).toEqual({ Mask: 'FULL', Reason: '' });
    }
    expect((await get(6, 'contact/DEFAULT')).status).toBe(200);
    const post = await api(sim.url, '/Cust12345/api/v1/Contact/default', { method: 'PATCH', headers: bearer(tokens.get(6) ?? ''), body: {} });
    expect(post.status).toBe(405);
  });
});
