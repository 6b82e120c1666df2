import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEMO_CALLERS, DEMO_CALLER_NAMES } from '../../../dev/entra/demoCallers.js';
import { ConfigError } from '../../../shared/config/config.js';
import type { Caller } from '../../../shared/identity/caller.js';
import { describeCallerAccess } from '../../../shared/identity/callerAccess.js';
import { CallerDeniedError } from '../../../shared/identity/denial.js';
import { OPERATIONS } from '../../../shared/identity/operations.js';
import {
  assertSubject,
  decideOperation,
  decideSubject,
  parsePolicy,
  policyEntriesFor,
  type Policy,
  type SubjectRequest,
} from '../../../shared/identity/policy.js';
import { createRuntime } from '../../../shared/runtime/runtime.js';
import { testConfig } from '../../support/config.js';

/** The policy: parsing (one-line errors naming the JSON path) and the pure decisions (requirements 8, 15, 16). */

const TID = '7d2e4f6a-1b3c-4d5e-8f9a-0b1c2d3e4f5a';
const OID = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
const APP = 'f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f';

const entry = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'svc',
  tid: TID,
  oid: OID,
  operations: ['tokens'],
  superOffice: [{ env: 'sod', ctx: 'Cust12345', users: '*' }],
  ...overrides,
});

const doc = (...callers: Record<string, unknown>[]): Record<string, unknown> => ({ version: 1, callers });

function parseError(raw: unknown): string {
  try {
    parsePolicy(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a ConfigError');
}

const caller = (overrides: Partial<Caller> = {}): Caller => ({
  tid: TID,
  oid: OID,
  azp: APP,
  idtyp: 'app',
  roles: [],
  tokenVersion: '2.0',
  ...overrides,
});

describe('parsePolicy: malformed documents', () => {
  const cases: readonly [string, unknown, string][] = [
    ['not an object', 'policy', 'BROKER_POLICY must be a JSON object {"version": 1, "callers": [...]}'],
    ['null', null, 'BROKER_POLICY must be a JSON object'],
    ['a missing version', { callers: [] }, 'BROKER_POLICY.version must be set (1)'],
    ['version 2', { version: 2, callers: [] }, 'BROKER_POLICY.version must be 1'],
    ['missing callers', { version: 1 }, 'BROKER_POLICY.callers must be set (an array of caller entries)'],
    ['an unknown top-level member', { version: 1, callers: [], allowAll: true }, 'BROKER_POLICY.allowAll must be absent (unknown member)'],
    ['a tid that is no GUID', doc(entry({ tid: 'contoso' })), 'BROKER_POLICY.callers[0].tid must be a GUID'],
    ['a missing tid', doc(entry({ tid: undefined })), 'BROKER_POLICY.callers[0].tid must be set (a GUID)'],
    ['neither oid nor appId', doc(entry({ oid: undefined })), 'BROKER_POLICY.callers[0].oid must be set (an object id GUID), or appId must be set'],
    ['a bad appId', doc(entry({ appId: 'app' })), 'BROKER_POLICY.callers[0].appId must be a GUID'],
    ['an unknown operation', doc(entry({ operations: ['tokens', 'everything'] })), 'BROKER_POLICY.callers[0].operations[1] must be one of tokens, proxy'],
    ['a repeated operation', doc(entry({ operations: ['tokens', 'tokens'] })), 'BROKER_POLICY.callers[0].operations[1] must be listed once'],
    ['an unknown env', doc(entry({ superOffice: [{ env: 'prod', ctx: 'Cust1', users: '*' }] })), 'BROKER_POLICY.callers[0].superOffice[0].env must be one of sod, qaonline, online'],
    ['a bad ctx', doc(entry({ superOffice: [{ env: 'sod', ctx: 'Cust 1', users: '*' }] })), 'BROKER_POLICY.callers[0].superOffice[0].ctx must be a SuperOffice tenant id'],
    ['users as numbers', doc(entry({ superOffice: [{ env: 'sod', ctx: 'Cust1', users: [5] }] })), 'BROKER_POLICY.callers[0].superOffice[0].users must be'],
    ['users "all"', doc(entry({ superOffice: [{ env: 'sod', ctx: 'Cust1', users: 'all' }] })), 'BROKER_POLICY.callers[0].superOffice[0].users must be'],
    ['an empty user list', doc(entry({ superOffice: [{ env: 'sod', ctx: 'Cust1', users: [] }] })), 'BROKER_POLICY.callers[0].superOffice[0].users must be'],
    ['repeated users', doc(entry({ superOffice: [{ env: 'sod', ctx: 'Cust1', users: ['5', '5'] }] })), 'BROKER_POLICY.callers[0].superOffice[0].users must be an array without repeated'],
    ['a repeated tenant', doc(entry({ superOffice: [{ env: 'sod', ctx: 'C1', users: '*' }, { env: 'sod', ctx: 'C1', users: ['5'] }] })), 'BROKER_POLICY.callers[0].superOffice[1] must be listed once'],
    ['an unknown grant member', doc(entry({ superOffice: [{ env: 'sod', ctx: 'C1', users: '*', admin: true }] })), 'BROKER_POLICY.callers[0].superOffice[0].admin must be absent (unknown member)'],
    ['a misspelt caller member', doc(entry({ operation: ['tokens'] })), 'BROKER_POLICY.callers[0].operation must be absent (unknown member)'],
    ['systemUser as a string', doc(entry({ systemUser: 'yes' })), 'BROKER_POLICY.callers[0].systemUser must be true or false'],
    ['a repeated name', doc(entry(), entry({ oid: APP })), 'BROKER_POLICY.callers[1].name must be unique'],
    ['a repeated identity', doc(entry(), entry({ name: 'twin' })), 'BROKER_POLICY.callers[1] must be an identity (tid + oid/appId) not listed twice'],
    ['a bad name', doc(entry({ name: 'has space' })), 'BROKER_POLICY.callers[0].name must be a name of 1-64'],
  ];
  for (const [name, raw, message] of cases) {
    it(`refuses ${name} with a one-line message naming the path`, () => {
      expect(parseError(raw)).toContain(message);
    });
  }

  it('does not confuse a repeated identity written in another letter case', () => {
    expect(parseError(doc(entry(), entry({ name: 'twin', oid: OID.toUpperCase() })))).toContain('callers[1] must be an identity');
  });
});

describe('parsePolicy: valid documents', () => {
  it('returns a deeply frozen policy with lower-cased GUIDs and defaults', () => {
    const policy = parsePolicy(doc(entry({ tid: TID.toUpperCase(), superOffice: undefined, systemUser: undefined })));
    expect(policy.callers[0]).toMatchObject({ tid: TID, oid: OID, appId: undefined, superOffice: [], systemUser: false });
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.callers)).toBe(true);
    expect(Object.isFrozen(policy.callers[0])).toBe(true);
    expect(Object.isFrozen(policy.callers[0]?.operations)).toBe(true);
  });

  it('accepts the empty policy (everything denied) and $comment', () => {
    expect(parsePolicy({ $comment: 'x', version: 1, callers: [] }).callers).toEqual([]);
  });

  it('parses dev/policy.dev.json, which lists every demo caller with its fixed identity', () => {
    const raw = JSON.parse(readFileSync(fileURLToPath(new URL('../../../dev/policy.dev.json', import.meta.url)), 'utf8')) as unknown;
    const policy = parsePolicy(raw);
    expect(policy.callers.map((c) => c.name).sort()).toEqual([...DEMO_CALLER_NAMES].sort());
    for (const name of DEMO_CALLER_NAMES) {
      const demo = DEMO_CALLERS[name];
      const matched = policyEntriesFor(policy, { ...demo, idtyp: 'app', tokenVersion: '2.0' });
      expect(matched.map((m) => m.name)).toEqual([name]);
    }
  });

  it('is parsed once per runtime (a runtime member, not a module cache), and again for another runtime', () => {
    const config = testConfig({ BROKER_POLICY: JSON.stringify(doc(entry())) });
    const runtime = createRuntime(config);
    expect(runtime.policy).toBe(runtime.policy);
    expect(runtime.policy.callers.map((c) => c.name)).toEqual(['svc']);
    expect(createRuntime(config).policy).not.toBe(runtime.policy);
  });

  it('tenant ids and associate ids follow the one SuperOffice identifier rule', () => {
    const grant = (superOffice: unknown) => () => parsePolicy(doc(entry({ superOffice: [superOffice] })));
    expect(grant({ env: 'sod', ctx: 'Cust-1', users: '*' })).toThrow(/ctx must be a SuperOffice tenant id/);
    expect(grant({ env: 'sod', ctx: '9Cust', users: '*' })).toThrow(ConfigError);
    expect(grant({ env: 'sod', ctx: 'Cust1', users: ['05'] })).toThrow(/users\[0\] must be an associate id/);
    expect(grant({ env: 'sod', ctx: 'Cust1', users: ['5'] })).not.toThrow();
  });
});

describe('decideOperation (default deny)', () => {
  const policy: Policy = parsePolicy(doc(entry({ operations: ['tokens', 'rights'] })));

  it('denies a caller not in the policy: other oid, other tenant, same oid in another tenant', () => {
    expect(decideOperation(policy, caller({ oid: APP }), 'tokens')).toEqual({ allowed: false, reason: 'caller_not_in_policy' });
    expect(decideOperation(policy, caller({ tid: APP }), 'tokens')).toEqual({ allowed: false, reason: 'caller_not_in_policy' });
  });

  it('denies every operation of an empty policy', () => {
    const empty = parsePolicy({ version: 1, callers: [] });
    for (const operation of OPERATIONS) expect(decideOperation(empty, caller(), operation).allowed).toBe(false);
  });

  it('allows exactly the listed operations', () => {
    for (const operation of OPERATIONS) {
      expect(decideOperation(policy, caller(), operation)).toEqual(
        operation === 'tokens' || operation === 'rights' ? { allowed: true } : { allowed: false, reason: 'operation_not_granted' },
      );
    }
  });

  it('matches appId entries on azp, and oid+appId entries on both', () => {
    const byApp = parsePolicy(doc(entry({ oid: undefined, appId: APP })));
    expect(decideOperation(byApp, caller({ oid: '99999999-9999-4999-8999-999999999999' }), 'tokens').allowed).toBe(true);
    expect(decideOperation(byApp, caller({ azp: OID }), 'tokens').allowed).toBe(false);
    const both = parsePolicy(doc(entry({ appId: APP })));
    expect(decideOperation(both, caller(), 'tokens').allowed).toBe(true);
    expect(decideOperation(both, caller({ azp: OID }), 'tokens').allowed).toBe(false);
  });

  it('compares caller GUIDs case-insensitively', () => {
    expect(decideOperation(policy, caller({ oid: OID.toUpperCase(), tid: TID.toUpperCase() }), 'tokens').allowed).toBe(true);
  });
});

describe('decideSubject and assertSubject (requirement 16)', () => {
  const policy = parsePolicy(
    doc(
      entry({
        operations: ['tokens', 'proxy'],
        superOffice: [
          { env: 'sod', ctx: 'Cust12345', users: '*' },
          { env: 'sod', ctx: 'Cust54321', users: ['5', '7'] },
          { env: 'online', ctx: 'Cust777', users: ['1'] },
        ],
        systemUser: true,
      }),
      entry({ name: 'auditing', oid: undefined, appId: APP, operations: ['audit.read'], superOffice: [{ env: 'sod', ctx: 'Cust99', users: '*' }] }),
    ),
  );

  const table: readonly [string, SubjectRequest, string | true][] = [
    ['a granted tenant, any user', { env: 'sod', ctx: 'Cust12345', associateId: '42' }, true],
    ['a granted tenant, tenant-wide', { env: 'sod', ctx: 'Cust12345' }, true],
    ['a listed user', { env: 'sod', ctx: 'Cust54321', associateId: '7' }, true],
    ['an unlisted user', { env: 'sod', ctx: 'Cust54321', associateId: '6' }, 'user_not_granted'],
    ['tenant-wide where only users are listed', { env: 'sod', ctx: 'Cust54321' }, 'tenant_scope_not_granted'],
    ['the system user of a granted tenant', { env: 'sod', ctx: 'Cust54321', systemUser: true }, true],
    ['an unlisted tenant', { env: 'sod', ctx: 'Cust00000', associateId: '5' }, 'tenant_not_granted'],
    ['a tenant id in another letter case', { env: 'sod', ctx: 'cust12345', associateId: '5' }, 'tenant_not_granted'],
    ['a granted tenant in another environment', { env: 'qaonline', ctx: 'Cust12345', associateId: '5' }, 'environment_not_granted'],
    ['a user id that only prefixes a listed one', { env: 'sod', ctx: 'Cust54321', associateId: '77' }, 'user_not_granted'],
    ['an empty ctx', { env: 'sod', ctx: '' }, 'subject_invalid'],
    ['system user and a user at once', { env: 'sod', ctx: 'Cust12345', associateId: '5', systemUser: true }, 'subject_invalid'],
    ['an empty associate id', { env: 'sod', ctx: 'Cust12345', associateId: '' }, 'subject_invalid'],
  ];
  for (const [name, subject, expected] of table) {
    it(`req 16: ${expected === true ? 'allows' : 'denies'} ${name}`, () => {
      expect(decideSubject(policy, caller(), 'tokens', subject)).toEqual(expected === true ? { allowed: true } : { allowed: false, reason: expected });
    });
  }

  it('req 16: denies a subject for an operation the entry does not grant', () => {
    expect(decideSubject(policy, caller(), 'rights', { env: 'sod', ctx: 'Cust12345', associateId: '5' })).toEqual({
      allowed: false,
      reason: 'operation_not_granted',
    });
  });

  it('req 16: an operation and its subject must come from the same entry', () => {
    // The second entry (matched by appId) grants audit.read over Cust99; the first grants tokens elsewhere.
    expect(decideSubject(policy, caller(), 'audit.read', { env: 'sod', ctx: 'Cust99' }).allowed).toBe(true);
    expect(decideSubject(policy, caller(), 'tokens', { env: 'sod', ctx: 'Cust99', associateId: '1' })).toEqual({ allowed: false, reason: 'tenant_not_granted' });
    expect(decideSubject(policy, caller(), 'audit.read', { env: 'sod', ctx: 'Cust12345' })).toEqual({ allowed: false, reason: 'tenant_not_granted' });
  });

  it('req 16: denies the system user to an entry without systemUser', () => {
    const noSystem = parsePolicy(doc(entry()));
    expect(decideSubject(noSystem, caller(), 'tokens', { env: 'sod', ctx: 'Cust12345', systemUser: true })).toEqual({
      allowed: false,
      reason: 'system_user_not_granted',
    });
  });

  it('req 16: a caller not in the policy is denied every subject', () => {
    expect(decideSubject(policy, caller({ oid: '12345678-1234-4234-8234-123456789012', azp: OID }), 'tokens', { env: 'sod', ctx: 'Cust12345' })).toEqual({
      allowed: false,
      reason: 'caller_not_in_policy',
    });
  });

  it('req 16: assertSubject throws 403 forbidden carrying the reason and the caller; passes when allowed', () => {
    expect(() => assertSubject(policy, caller(), 'tokens', { env: 'sod', ctx: 'Cust12345', associateId: '5' })).not.toThrow();
    try {
      assertSubject(policy, caller(), 'tokens', { env: 'sod', ctx: 'Cust54321', associateId: '6' });
      throw new Error('expected a denial');
    } catch (error) {
      expect(error).toBeInstanceOf(CallerDeniedError);
      const denied = error as CallerDeniedError;
      expect([denied.code, denied.status, denied.reason, denied.message]).toEqual(['forbidden', 403, 'user_not_granted', 'Forbidden']);
      expect(denied.caller?.oid).toBe(OID);
    }
  });
});

describe('describeCallerAccess (GET /api/me)', () => {
  it('lists roles, policy grants and SuperOffice grants per operation', () => {
    const policy = parsePolicy(doc(entry({ operations: ['tokens', 'audit.read'] })));
    const report = describeCallerAccess(policy, caller({ roles: ['Tokens.Request', 'Rights.Check'] }));
    expect(report.policyEntries).toEqual(['svc']);
    expect(report.caller).toMatchObject({ id: `${TID}_${OID}`, idtyp: 'app', tokenVersion: '2.0' });
    const byOp = Object.fromEntries(report.operations.map((o) => [o.operation, o]));
    expect(byOp['tokens']).toMatchObject({ hasRole: true, grantedByPolicy: true, allowed: true });
    expect(byOp['rights']).toMatchObject({ hasRole: true, grantedByPolicy: false, allowed: false, deniedBecause: 'operation_not_granted' });
    expect(byOp['audit.read']).toMatchObject({ hasRole: false, grantedByPolicy: true, allowed: false, deniedBecause: 'role_missing' });
    expect(report.superOffice).toEqual([{ env: 'sod', ctx: 'Cust12345', users: '*', webApi: [], systemUser: false, operations: ['tokens', 'audit.read'] }]);
  });

  it('reports an unknown caller with no grants', () => {
    const report = describeCallerAccess(parsePolicy({ version: 1, callers: [] }), caller());
    expect(report.policyEntries).toEqual([]);
    expect(report.superOffice).toEqual([]);
    expect(report.operations.every((o) => !o.allowed)).toBe(true);
  });
});

describe('Web API rules on grants (proxy and actions)', () => {
  it('refuses a malformed rule with a one-line error naming it', () => {
    const grant = (webApi: unknown) => doc(entry({ superOffice: [{ env: 'sod', ctx: 'Cust1', users: '*', webApi }] }));
    expect(parseError(grant('GET v1/Contact/*'))).toMatch(/superOffice\[0\]\.webApi must be an array of Web API rules/);
    expect(parseError(grant(['GET v1/../tokens']))).toMatch(/superOffice\[0\]\.webApi\[0\] must be a Web API rule that has an empty, "\." or "\.\." segment/);
    expect(parseError(grant(['FETCH v1/Contact']))).toMatch(/webApi\[0\] must be a Web API rule that has an unknown method/);
    expect(parseError(grant(['GET /v1/Contact']))).toMatch(/webApi\[0\] must be a Web API rule that must have a path pattern starting with v1\//);
    expect(parseError(grant([7]))).toMatch(/webApi\[0\] must be a rule such as "GET v1\/Contact\/\*"/);
  });

  const policy = parsePolicy(doc(entry({
    operations: ['proxy'],
    superOffice: [
      { env: 'sod', ctx: 'Cust12345', users: ['5'], webApi: ['GET v1/Contact/*', 'PATCH,GET v1/Person/**'] },
      { env: 'sod', ctx: 'Cust54321', users: '*' },
    ],
    systemUser: true,
  })));
  const call = (method: string, path: string) => ({ method, segments: path.split('/') });

  const table: readonly [string, SubjectRequest, string | true][] = [
    ['a listed call as a listed user', { env: 'sod', ctx: 'Cust12345', associateId: '5', webApi: call('GET', 'v1/Contact/7') }, true],
    ['a deeper path under **', { env: 'sod', ctx: 'Cust12345', associateId: '5', webApi: call('PATCH', 'v1/Person/7/Emails') }, true],
    ['a listed call as the system user', { env: 'sod', ctx: 'Cust12345', systemUser: true, webApi: call('GET', 'v1/contact/7') }, true],
    ['an unlisted method', { env: 'sod', ctx: 'Cust12345', associateId: '5', webApi: call('DELETE', 'v1/Contact/7') }, 'web_api_not_granted'],
    ['an unlisted path', { env: 'sod', ctx: 'Cust12345', associateId: '5', webApi: call('GET', 'v1/Ticket/7') }, 'web_api_not_granted'],
    ['a listed call as an unlisted user', { env: 'sod', ctx: 'Cust12345', associateId: '6', webApi: call('GET', 'v1/Contact/7') }, 'user_not_granted'],
    ['a tenant whose grant has no rules (default deny)', { env: 'sod', ctx: 'Cust54321', associateId: '5', webApi: call('GET', 'v1/Contact/7') }, 'web_api_not_granted'],
  ];
  for (const [name, subject, expected] of table) {
    it(`${expected === true ? 'allows' : 'denies'} ${name}`, () => {
      expect(decideSubject(policy, caller(), 'proxy', subject)).toEqual(expected === true ? { allowed: true } : { allowed: false, reason: expected });
    });
  }

  it('/api/me lists the rules as written', () => {
    expect(describeCallerAccess(policy, caller()).superOffice[0]?.webApi).toEqual(['GET v1/Contact/*', 'PATCH,GET v1/Person/**']);
  });
});
