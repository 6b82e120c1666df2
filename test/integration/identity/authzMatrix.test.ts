import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CALLERS, DEMO_CALLER_NAMES, type DemoCallerName } from '../../../dev/entra/demoCallers.js';
import type { HttpHandler } from '@azure/functions';
import { auditHandler } from '../../../functions/audit.js';
import { listConnectionsHandler, revokeConnectionHandler } from '../../../functions/connections.js';
import { consentLinksHandler } from '../../../functions/consentLinks.js';
import { meHandler } from '../../../functions/me.js';
import { rightsAdministratorHandler } from '../../../functions/rights.js';
import { rightsChecksHandler } from '../../../functions/rightsChecks.js';
import { tokensHandler } from '../../../functions/tokens.js';
import { OPERATIONS, OPERATION_ROLES, type Operation } from '../../../shared/identity/operations.js';
import { decideOperation, decideSubject, type SubjectRequest } from '../../../shared/identity/policy.js';
import { setRuntime } from '../../../shared/runtime/runtime.js';
import { call, startHarness, subjectProbe, type CallOptions, type Harness } from './harness.js';

/**
 * Requirement 15: one generated test per cell of `test/fixtures/authz-matrix.json` (demo caller ×
 * operation × subject, plus `GET /api/me`). Each cell is checked twice: with the pure decision
 * functions (role, tenant allowlist, `decideOperation` / `decideSubject`) and end to end through the
 * real HTTP wrapper and guard with a token from the dev issuer. A missing or unknown cell fails.
 */

type Expectation = 'allow' | 'deny';

interface MatrixFile {
  readonly subjects: Readonly<Record<string, SubjectRequest | null>>;
  readonly matrix: Readonly<Record<string, Readonly<Record<string, Expectation | Readonly<Record<string, Expectation>>>>>>;
}

const MATRIX_PATH = fileURLToPath(new URL('../../fixtures/authz-matrix.json', import.meta.url));
const file = JSON.parse(readFileSync(MATRIX_PATH, 'utf8')) as MatrixFile;
const SUBJECT_KEYS = Object.keys(file.subjects);
const COLUMNS = ['me', ...OPERATIONS] as const;

/** Every cell the matrix must have, and what it says (undefined: missing). */
function cells(): { caller: DemoCallerName; column: (typeof COLUMNS)[number]; subject: string | null; expected: unknown }[] {
  const out: { caller: DemoCallerName; column: (typeof COLUMNS)[number]; subject: string | null; expected: unknown }[] = [];
  for (const caller of DEMO_CALLER_NAMES) {
    const row = file.matrix[caller];
    out.push({ caller, column: 'me', subject: null, expected: row?.['me'] });
    for (const operation of OPERATIONS) {
      const cellRow = row?.[operation];
      for (const subject of SUBJECT_KEYS) {
        out.push({ caller, column: operation, subject, expected: typeof cellRow === 'object' ? cellRow[subject] : undefined });
      }
    }
  }
  return out;
}

function queryOf(subject: SubjectRequest | null): Record<string, string> {
  if (subject === null) return {};
  return {
    env: subject.env,
    ctx: subject.ctx,
    ...(subject.associateId === undefined ? {} : { associateId: subject.associateId }),
    ...(subject.systemUser === true ? { systemUser: 'true' } : {}),
  };
}

let h: Harness;
const tokens = new Map<DemoCallerName, string>();

beforeAll(async () => {
  h = await startHarness();
  setRuntime(h.runtime);
  for (const name of DEMO_CALLER_NAMES) tokens.set(name, await h.issuer.mint(name));
});

afterAll(async () => {
  setRuntime(undefined);
  await h.close();
});

function tokenOf(caller: DemoCallerName): string {
  const token = tokens.get(caller);
  if (token === undefined) throw new Error(`no token for ${caller}`);
  return token;
}

/** The status a denied cell must get: 401 when the caller's tenant is not allowlisted, else 403. */
function denyStatus(caller: DemoCallerName): number {
  return h.config.entra.tenantIds.includes(DEMO_CALLERS[caller].tid) ? 403 : 401;
}

describe('requirement 15: the matrix file is complete', () => {
  it('req 15: has a cell for every demo caller × (me + operation) × subject, and nothing else', () => {
    const missing = cells().filter((c) => c.expected !== 'allow' && c.expected !== 'deny').map((c) => `${c.caller} × ${c.column}${c.subject === null ? '' : ` × ${c.subject}`}`);
    expect(missing, 'missing or invalid cells in test/fixtures/authz-matrix.json').toEqual([]);
    const unknown: string[] = [];
    for (const [caller, row] of Object.entries(file.matrix)) {
      if (!(DEMO_CALLER_NAMES as readonly string[]).includes(caller)) unknown.push(caller);
      for (const [column, cellRow] of Object.entries(row)) {
        if (!(COLUMNS as readonly string[]).includes(column)) unknown.push(`${caller} × ${column}`);
        if (typeof cellRow === 'object') for (const s of Object.keys(cellRow)) if (!SUBJECT_KEYS.includes(s)) unknown.push(`${caller} × ${column} × ${s}`);
      }
    }
    expect(unknown, 'cells for unknown callers, operations or subjects').toEqual([]);
  });

  it('req 15: every operation is allowed for at least one demo caller, and every subject is tried (no dead rows)', () => {
    for (const operation of OPERATIONS) {
      expect(DEMO_CALLER_NAMES.some((c) => (file.matrix[c]?.[operation] as Record<string, Expectation> | undefined)?.['-'] === 'allow'), operation).toBe(true);
    }
  });
});

describe('requirement 15: one test per cell', () => {
  for (const cell of cells()) {
    const label = `req 15: ${cell.caller} × ${cell.column}${cell.subject === null ? '' : ` × ${cell.subject}`} → ${String(cell.expected)}`;
    if (cell.expected !== 'allow' && cell.expected !== 'deny') {
      it(label, () => {
        throw new Error(`missing cell in test/fixtures/authz-matrix.json: ${cell.caller} × ${cell.column} × ${cell.subject ?? ''}`);
      });
      continue;
    }
    const expected = cell.expected;
    const demo = DEMO_CALLERS[cell.caller];

    if (cell.column === 'me') {
      it(label, async () => {
        const result = await call(meHandler, { token: tokenOf(cell.caller) });
        expect(result.status).toBe(expected === 'allow' ? 200 : denyStatus(cell.caller));
        expect(h.audit.at(-1)).toMatchObject({ action: 'me', outcome: expected });
      });
      continue;
    }

    const operation: Operation = cell.column;
    const subject = file.subjects[cell.subject ?? '-'] ?? null;
    it(label, async () => {
      // Pure: the decisions the guard and the services compose (role, tenant allowlist, policy).
      const caller = { ...demo, idtyp: 'app', tokenVersion: '2.0' as const };
      const hasRole = demo.roles.includes(OPERATION_ROLES[operation]);
      const tenantAllowed = h.config.entra.tenantIds.includes(demo.tid);
      const decision = subject === null ? decideOperation(h.policy, caller, operation) : decideSubject(h.policy, caller, operation, subject);
      expect(hasRole && tenantAllowed && decision.allowed, 'pure decision').toBe(expected === 'allow');

      // End to end: real wrapper, guard and verifier, a dev-issuer token.
      const before = h.audit.length;
      const result = await call(subjectProbe(h, operation), { token: tokenOf(cell.caller), path: operation, query: queryOf(subject) });
      expect(result.status, 'HTTP status').toBe(expected === 'allow' ? 200 : denyStatus(cell.caller));
      expect(h.audit.length).toBe(before + 1);
      expect(h.audit.at(-1)).toMatchObject({ action: operation, outcome: expected });
    });
  }
});

/**
 * The operation endpoints that exist today, through their real handlers. Each request is one the
 * handler refuses with a 4xx after authorization (no body, no tenant, unknown parameter), so an allowed
 * caller gets a validation error and never reaches a backend, while a denied one gets 401/403 first.
 */
const ENDPOINTS: readonly { readonly name: string; readonly operation: Operation; readonly handler: HttpHandler; readonly request: CallOptions }[] = [
  { name: 'POST /api/tokens', operation: 'tokens', handler: tokensHandler, request: { method: 'POST', path: 'tokens' } },
  { name: 'GET /api/rights/{ctx}/{associateId}/administrator', operation: 'rights', handler: rightsAdministratorHandler, request: { path: 'rights/administrator' } },
  { name: 'POST /api/rights/{ctx}/{associateId}/checks', operation: 'rights', handler: rightsChecksHandler, request: { method: 'POST', path: 'rights/checks' } },
  { name: 'GET /api/connections', operation: 'connections.admin', handler: listConnectionsHandler, request: { path: 'connections' } },
  { name: 'POST /api/connections/{ctx}/{associateId}/revoke', operation: 'connections.admin', handler: revokeConnectionHandler, request: { method: 'POST', path: 'connections/revoke' } },
  { name: 'POST /api/consent-links', operation: 'connections.admin', handler: consentLinksHandler, request: { method: 'POST', path: 'consent-links' } },
  { name: 'GET /api/audit', operation: 'audit.read', handler: auditHandler, request: { path: 'audit', query: { unknownParameter: '1' } } },
];

describe('requirement 15: the operation cells through the real endpoints', () => {
  for (const endpoint of ENDPOINTS) {
    for (const caller of DEMO_CALLER_NAMES) {
      const row = file.matrix[caller]?.[endpoint.operation];
      const expected = typeof row === 'object' ? row['-'] : undefined;
      it(`req 15: ${caller} × ${endpoint.operation} × - via ${endpoint.name} → ${String(expected)}`, async () => {
        expect(expected === 'allow' || expected === 'deny', 'cell present').toBe(true);
        const result = await call(endpoint.handler, { ...endpoint.request, token: tokenOf(caller) });
        if (expected === 'allow') {
          // Past the guard: the handler itself refused the deliberately incomplete request.
          expect([400, 404, 415]).toContain(result.status);
        } else {
          expect(result.status).toBe(denyStatus(caller));
        }
        expect(h.audit.at(-1)).toMatchObject({ outcome: 'deny', httpStatus: result.status });
      });
    }
  }
});
