import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { DEFAULT_AUDIT_PAGE, auditFilter } from '../../../shared/audit/query.js';
import { AuditQuerySchema, toAuditQuery } from '../../../shared/audit/querySchema.js';
import { CALLER_ID } from './fixtures.js';

describe('audit query filters (the parameters themselves are validated by querySchema.ts)', () => {
  it('builds an escaped Table filter that never matches lane registry rows', () => {
    const filter = auditFilter({ caller: 'anonymous', ctx: 'C', operation: 'tokens', from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', limit: 1 });
    expect(filter).toBe("RowKey le '999999999999' and caller_id eq 'anonymous' and subject_ctx eq 'C' and action eq 'tokens' and time lt '2026-01-02T00:00:00.000Z' and time ge '2026-01-01T00:00:00.000Z'");
    expect(auditFilter({ ctx: "O'Brien", limit: 1, visible: { tenants: ['CustA'], self: 'me' } })).toBe("RowKey le '999999999999' and subject_ctx eq 'O''Brien' and (subject_ctx eq 'CustA' or caller_id eq 'me')");
  });
});

describe('the audit query schema (GET /api/audit)', () => {
  const parse = (query: string) => z.safeParse(AuditQuerySchema, Object.fromEntries(new URLSearchParams(query)));
  it.each([
    ['nope=1'],
    ['caller=x'],
    ["ctx=Cust'1"],
    ['ctx=' + 'a'.repeat(65)],
    ['operation=a%0Ab'],
    ['from=yesterday'],
    ['from=2026-01-01T00:00:00'],
    ['to=2026-13-01T00:00:00Z'],
    ['from=2026-02-30'],
    ['limit=0'],
    ['limit=201'],
    ['limit=ten'],
    ['continuation=a%20b'],
  ])('refuses %s', (query) => {
    expect(parse(query).success).toBe(false);
  });

  it('accepts and normalises valid filters', () => {
    const parsed = parse(`caller=${CALLER_ID.toUpperCase()}&ctx=Cust12345&operation=audit.read&from=2026-01-01&to=2026-01-02T01:00:00%2B01:00&limit=200`);
    expect(parsed.success).toBe(true);
    if (!parsed.success) return;
    expect(toAuditQuery(parsed.data)).toEqual({ caller: CALLER_ID, ctx: 'Cust12345', operation: 'audit.read', from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', limit: 200 });
    const empty = parse('');
    expect(empty.success && toAuditQuery(empty.data)).toEqual({ limit: DEFAULT_AUDIT_PAGE });
  });
});
