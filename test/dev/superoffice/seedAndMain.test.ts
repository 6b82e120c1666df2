/**
 * The seed fixture is consistent (every reference resolves; the user kinds the checklist needs exist), and
 * `dev/superoffice/main.ts` starts a working simulator.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SEED, DEMO_APP, DEMO_REDIRECT_URI, TENANT_CUST12345 } from '../../../dev/superoffice/seed.js';
import { FIELD_CATALOG } from '../../../dev/superoffice/rights.js';

describe('seed fixture', () => {
  it('has at least two tenants with unique context identifiers and serials', () => {
    const ids = DEFAULT_SEED.tenants.map((t) => t.contextIdentifier);
    expect(ids).toEqual(['Cust12345', 'Cust54321']);
    expect(new Set(DEFAULT_SEED.tenants.map((t) => t.serial)).size).toBe(DEFAULT_SEED.tenants.length);
  });

  it('resolves every role, group, contact, person, owner, category and field reference', () => {
    for (const t of DEFAULT_SEED.tenants) {
      const roles = new Set(t.roles.map((r) => r.roleId));
      const groups = new Set(t.groups.map((g) => g.groupId));
      const users = new Set(t.users.map((u) => u.associateId));
      const categories = new Set(t.ticketCategories.map((c) => c.categoryId));
      expect(users.has(t.systemUser.associateId)).toBe(false);
      for (const u of t.users) {
        expect(roles.has(u.roleId)).toBe(true);
        expect(groups.has(u.groupId)).toBe(true);
        for (const g of u.secondaryGroups) expect(groups.has(g)).toBe(true);
        for (const c of Object.keys(u.ticketAccess)) expect(categories.has(Number(c))).toBe(true);
      }
      for (const c of t.contacts) {
        expect(users.has(c.ownerAssociateId)).toBe(true);
        expect(groups.has(c.groupId)).toBe(true);
      }
      const contacts = new Set(t.contacts.map((c) => c.contactId));
      const persons = new Set(t.persons.map((p) => p.personId));
      for (const p of t.persons) expect(contacts.has(p.contactId)).toBe(true);
      for (const k of t.tickets) {
        expect(categories.has(k.categoryId)).toBe(true);
        expect(persons.has(k.personId)).toBe(true);
        expect(users.has(k.ownedByAssociateId)).toBe(true);
      }
      for (const role of t.roles) {
        for (const [table, fields] of Object.entries(role.fieldRestrictions)) {
          for (const key of Object.keys(fields ?? {})) {
            expect(FIELD_CATALOG[table as keyof typeof FIELD_CATALOG].some((f) => f.key === key)).toBe(true);
          }
        }
      }
    }
  });

  it('Cust12345 has an administrator, a normal user, a restricted user and an unlicensed user, and the rights script', () => {
    const users = TENANT_CUST12345.users;
    expect(users.some((u) => u.isAdministrator)).toBe(true);
    expect(users.some((u) => !u.isAdministrator && u.roleId === 2 && u.licensed)).toBe(true);
    expect(users.some((u) => u.roleId === 3)).toBe(true);
    expect(users.some((u) => !u.licensed)).toBe(true);
    expect(TENANT_CUST12345.contacts.some((c) => c.rightsUnknown !== undefined)).toBe(true);
    expect(TENANT_CUST12345.crmScripts[0]?.kind).toBe('rightsCheck');
  });

  it('registers the demo app "Token Broker Dev" with the local broker callback', () => {
    expect(DEMO_APP).toMatchObject({ name: 'Token Broker Dev', redirectUris: ['http://127.0.0.1:7071/api/consent/callback'] });
    expect(DEMO_REDIRECT_URI).toBe('http://127.0.0.1:7071/api/consent/callback');
    expect(DEMO_APP.clientId).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('dev/superoffice/main.ts', () => {
  it('starts the simulator, prints its URL and stops on SIGTERM', async () => {
    const script = fileURLToPath(new URL('../../../dev/superoffice/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 20_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /SuperOffice simulator: (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m?.[1]) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`exited ${String(code)}: ${out}`));
        });
      });
      const res = await fetch(`${url}/login/.well-known/openid-configuration`);
      expect(((await res.json()) as Record<string, unknown>)['issuer']).toBe(url);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      }
    }
  });
});
