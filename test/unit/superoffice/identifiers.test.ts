import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import {
  AssociateId,
  AssociateIdInput,
  MAX_SUPEROFFICE_ID,
  RecordIdInput,
  RecordIdText,
  TenantId,
  isAssociateId,
  isTenantId,
  positiveUpTo,
} from '../../../shared/superoffice/identifiers.js';

/** The one definition of each SuperOffice identifier, and the id-range pattern its published schema carries. */

describe('positiveUpTo: the decimal integers 1…max, no sign, no leading zero', () => {
  const at = (max: number) => positiveUpTo(max);

  it('refuses zero, leading zeros, signs, spaces, exponents and values above max', () => {
    for (const bad of ['', '0', '00', '01', '+1', '-1', ' 1', '1 ', '1e3', '1.0', '2147483648', '2147483650', '3000000000', '9999999999', '21474836470']) {
      expect(at(MAX_SUPEROFFICE_ID).test(bad), bad).toBe(false);
    }
  });

  it('accepts 1 and max and everything between, for several maxima (fast-check)', () => {
    for (const max of [1, 9, 10, 200, 1000, 1999, MAX_SUPEROFFICE_ID]) {
      const pattern = at(max);
      expect(pattern.test('1') && pattern.test(String(max)) && !pattern.test(String(max + 1))).toBe(true);
      fc.assert(fc.property(fc.integer({ min: -10, max: max * 3 + 10 }), (n) => pattern.test(String(n)) === (n >= 1 && n <= max)), { numRuns: 2000 });
    }
  });
});

describe('the identifier schemas', () => {
  it('TenantId: a letter, then 1-63 letters or digits', () => {
    for (const good of ['Cust12345', 'C1', `C${'a'.repeat(63)}`]) expect(isTenantId(good), good).toBe(true);
    for (const bad of ['', 'C', '1Cust', 'Cust-1', 'Cust 1', 'Cust_1', `C${'a'.repeat(64)}`, 5, null]) expect(isTenantId(bad), String(bad)).toBe(false);
  });

  it('AssociateId: a positive integer as digits without a leading zero; a number becomes its digits in a body', () => {
    for (const bad of ['', '0', '05', '-5', '5.0', '12345678901', 5]) expect(isAssociateId(bad), String(bad)).toBe(false);
    expect(isAssociateId('9999999999')).toBe(true);
    expect(z.parse(AssociateIdInput, 5)).toBe('5');
    expect(z.parse(AssociateIdInput, '5')).toBe('5');
    for (const bad of [0, -1, 1.5, 10_000_000_000, '05', true]) expect(z.safeParse(AssociateIdInput, bad).success, String(bad)).toBe(false);
  });

  it('record ids: 1…2147483647, as text in a path or query, as a number or digits in a body; numbers afterwards', () => {
    expect(z.parse(RecordIdText, '2147483647')).toBe(MAX_SUPEROFFICE_ID);
    expect(z.safeParse(RecordIdText, '2147483648').success).toBe(false);
    expect(z.parse(RecordIdInput, 7)).toBe(7);
    expect(z.parse(RecordIdInput, '7')).toBe(7);
    for (const bad of [0, 2147483648, 1.5, '07', '', null]) expect(z.safeParse(RecordIdInput, bad).success, String(bad)).toBe(false);
  });

  it('the published JSON Schema of each is exactly its rule', () => {
    expect(z.toJSONSchema(TenantId)).toMatchObject({ type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]{1,63}$' });
    expect(z.toJSONSchema(AssociateId)).toMatchObject({ type: 'string', pattern: '^[1-9][0-9]{0,9}$' });
    expect(z.toJSONSchema(RecordIdText, { io: 'input' })).toMatchObject({ type: 'string', pattern: positiveUpTo(MAX_SUPEROFFICE_ID).source });
  });

  it('error texts say what is expected, or that the value is missing', () => {
    const issue = (value: unknown) => z.safeParse(z.strictObject({ ctx: TenantId }), { ctx: value }).error?.issues[0]?.message;
    expect(issue(undefined)).toBe('is required');
    expect(issue('x')).toMatch(/^must be a SuperOffice tenant id/);
  });
});
