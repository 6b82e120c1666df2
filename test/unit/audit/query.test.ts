import { describe, expect, it } from 'vitest';
import { AUDIT_QUERY_PARAMETERS, DEFAULT_AUDIT_PAGE, auditFilter, parseAuditQuery } from '../../../shared/audit/query.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { CALLER_ID } from './fixtures.js';

function rejects(query: string): { parameter: string; message: string }[] {
  try {
    parseAuditQuery(new URLSearchParams(query));
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerError);
    const e = error as BrokerError;
    expect(e.code).toBe('validation_failed');
    expect(e.extensions?.['accepted']).toEqual(AUDIT_QUERY_PARAMETERS);
    return e.extensions?.['errors'] as { parameter: string; message: string }[];
  }
  throw new Error(`accepted ${query}`);
}

describe('audit query parameters', () => {
  it.each([
    ['nope=1', 'nope'],
    ['caller=x', 'caller'],
    [`caller=${CALLER_ID}&caller=anonymous`, 'caller'],
    ["ctx=Cust'1", 'ctx'],
    ['ctx=' + 'a'.repeat(65), 'ctx'],
    ['operation=a%0Ab', 'operation'],
    ['from=yesterday', 'from'],
    ['from=2026-01-01T00:00:00', 'from'],
    ['to=2026-13-01T00:00:00Z', 'to'],
    ['from=2026-01-02&to=2026-01-01', 'to'],
    ['limit=0', 'limit'],
    ['limit=201', 'limit'],
    ['limit=ten', 'limit'],
    ['continuation=a%20b', 'continuation'],
  ])('rejects %s', (query, parameter) => {
    expect(rejects(query).map((e) => e.parameter)).toContain(parameter);
  });

  it('lists every problem at once, and neutralises unknown parameter names', () => {
    const errors = rejects('limit=0&ctx=%0A&x%0Ay=1');
    expect(errors.map((e) => e.parameter).sort()).toEqual(['ctx', 'limit', 'x?y']);
  });

  it('accepts and normalises valid filters', () => {
    expect(parseAuditQuery(new URLSearchParams(''))).toEqual({ limit: DEFAULT_AUDIT_PAGE });
    const q = parseAuditQuery(new URLSearchParams(`caller=${CALLER_ID.toUpperCase()}&ctx=Cust12345&operation=audit.read&from=2026-01-01&to=2026-01-02T01:00:00%2B01:00&limit=200`));
    expect(q).toMatchObject({ caller: CALLER_ID, ctx: 'Cust12345', operation: 'audit.read', from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', limit: 200 });
  });

  it('builds an escaped Table filter that never matches lane registry rows', () => {
    const filter = auditFilter({ caller: 'anonymous', ctx: 'C', operation: 'tokens', from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', limit: 1 });
    expect(filter).toBe("RowKey le '999999999999' and caller_id eq 'anonymous' and subject_ctx eq 'C' and action eq 'tokens' and time lt '2026-01-02T00:00:00.000Z' and time ge '2026-01-01T00:00:00.000Z'");
    expect(auditFilter({ ctx: "O'Brien", limit: 1, visible: { tenants: ['CustA'], self: 'me' } })).toBe("RowKey le '999999999999' and subject_ctx eq 'O''Brien' and (subject_ctx eq 'CustA' or caller_id eq 'me')");
  });
});
