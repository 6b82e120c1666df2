import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FIELD_RIGHT_FLAGS,
  TABLE_RIGHT_COMBOS,
  TABLE_RIGHT_FLAGS,
  maskHas,
  parseFieldRight,
  parseFieldRightMask,
  parseTableRight,
  parseTableRightMask,
  type MaskReading,
  type TableRightFlag,
} from '../../../shared/rights/masks.js';
import { E_FIELD_RIGHT_REFERENCE, E_TABLE_RIGHT_REFERENCE, fieldFlagsOfBits, tableFlagsOfBits } from './maskReference.js';

/**
 * docs/superoffice.md §5.2: the masks are SuperOffice's ETableRight / EFieldRight [Flags] enums, written by name
 * (any member, alone or in a comma list) or, with bits no member covers, as a number; anything unreadable is
 * unknown, never "no rights".
 */

function flagsOf<F extends string>(reading: MaskReading<F>): F[] {
  if (!reading.known) throw new Error(`expected a known mask, got ${reading.problem}`);
  return [...reading.flags].sort();
}

describe('parseTableRight: unreadable masks are unknown, never "no rights"', () => {
  const cases: Array<[string, unknown, string]> = [
    ['TableRight missing', undefined, 'missing'],
    ['TableRight null', null, 'null'],
    ['TableRight {}', {}, 'empty_object'],
    ['TableRight an array', [], 'not_an_object'],
    ['TableRight a string', 'FULL', 'not_an_object'],
    ['TableRight a number', 31, 'not_an_object'],
    ['Mask missing', { Reason: '' }, 'missing'],
    ['Mask null', { Mask: null, Reason: '' }, 'null'],
    ['Mask a boolean', { Mask: true }, 'mask_not_a_string'],
    ['Mask an object', { Mask: { value: 3 } }, 'mask_not_a_string'],
    ['Mask a fraction', { Mask: 1.5 }, 'mask_invalid_number'],
    ['Mask negative', { Mask: -1 }, 'mask_invalid_number'],
    ['Mask a huge digit string', { Mask: '99999999999' }, 'mask_invalid_number'],
    ['Mask a number with an undefined bit (256)', { Mask: 259 }, 'undefined_bits'],
    ['Mask a digit string with an undefined bit', { Mask: '512' }, 'undefined_bits'],
    ['Mask the number 128 (Uninitialized)', { Mask: 128 }, 'uninitialized'],
    ['Mask empty', { Mask: '' }, 'mask_empty'],
    ['Mask blank', { Mask: '   ' }, 'mask_empty'],
    ['Mask Uninitialized', { Mask: 'Uninitialized' }, 'uninitialized'],
    ['Uninitialized inside a list', { Mask: 'Select, Uninitialized' }, 'uninitialized'],
    ['unrecognised name', { Mask: 'Everything' }, 'unrecognised_name'],
    ['a number inside a list', { Mask: 'Select, 64' }, 'unrecognised_name'],
    ['one bad name in a list', { Mask: 'Select, Frobnicate' }, 'unrecognised_name'],
    ['an empty list item', { Mask: 'Select,,Update' }, 'unrecognised_name'],
    ['a trailing comma', { Mask: 'Select,' }, 'unrecognised_name'],
    ['a FieldRight name in a TableRight', { Mask: 'Read' }, 'unrecognised_name'],
    ['a UI hint in a TableRight', { Mask: 'UIHintReadOnly' }, 'unrecognised_name'],
    ['a pipe-separated list', { Mask: 'Select|Update' }, 'unrecognised_name'],
  ];
  for (const [title, value, problem] of cases) {
    it(`${title} -> unknown (${problem})`, () => {
      const reading = parseTableRight(value);
      expect(reading).toEqual({ known: false, problem });
      expect(maskHas(reading, 'Select')).toBeUndefined();
    });
  }
});

describe('parseTableRightMask: every ETableRight member reads as its value in SuperOffice’s reference', () => {
  for (const [name, value] of E_TABLE_RIGHT_REFERENCE) {
    if (name === 'Uninitialized') continue;
    it(`${name} = ${value} -> ${tableFlagsOfBits(value).join(', ') || '(none)'}`, () => {
      expect(flagsOf(parseTableRightMask(name))).toEqual(tableFlagsOfBits(value));
      expect(flagsOf(parseTableRightMask(name.toLowerCase()))).toEqual(tableFlagsOfBits(value));
    });
  }
  it('covers every combined name the parser exports', () => {
    const combined = E_TABLE_RIGHT_REFERENCE.filter(([name]) => name === 'None' || name === name.toUpperCase()).map(([n]) => n.toUpperCase());
    expect(Object.keys(TABLE_RIGHT_COMBOS).sort()).toEqual(combined.sort());
    for (const name of combined) expect(TABLE_RIGHT_COMBOS[name]).toEqual(flagsOf(parseTableRightMask(name)).sort((a, b) => TABLE_RIGHT_FLAGS.indexOf(a) - TABLE_RIGHT_FLAGS.indexOf(b)));
  });
});

describe('parseTableRightMask: the combined names are read as SuperOffice defines them (issue 10, item 1)', () => {
  // Before: FULL included Filtering, WRITE included Delete, and URU included Select, so a "URU" record read
  // as selectable and a "WRITE" record as deletable where SuperOffice says no.
  it('URU (34) = Update + RestrictedUpdate: no Select', () => {
    expect(flagsOf(parseTableRightMask('URU'))).toEqual(['RestrictedUpdate', 'Update']);
    expect(maskHas(parseTableRightMask('URU'), 'Select')).toBe(false);
    expect(maskHas(parseTableRightMask('Delete, URU'), 'Select')).toBe(false);
    expect(maskHas(parseTableRightMask('Filtering, URU'), 'Select')).toBe(false);
    expect(maskHas(parseTableRightMask('URU'), 'Update')).toBe(true);
  });
  it('WRITE (38) = Update + Insert + RestrictedUpdate: no Select, no Delete', () => {
    expect(flagsOf(parseTableRightMask('WRITE'))).toEqual(['Insert', 'RestrictedUpdate', 'Update']);
  });
  it('FULL (15) = Select + Update + Insert + Delete: no Filtering', () => {
    expect(flagsOf(parseTableRightMask('FULL'))).toEqual(['Delete', 'Insert', 'Select', 'Update']);
  });
  it('None is a known mask with no rights (denied, not unknown)', () => {
    const reading = parseTableRightMask('None');
    expect(flagsOf(reading)).toEqual([]);
    expect(maskHas(reading, 'Select')).toBe(false);
  });
  it('Unused1 (64) is a member and grants nothing', () => {
    expect(flagsOf(parseTableRightMask('Unused1'))).toEqual([]);
    expect(flagsOf(parseTableRightMask('Select, Unused1'))).toEqual(['Select']);
  });
});

describe('parseTableRightMask: lists, mixtures, numbers, case and spacing', () => {
  const cases: Array<[unknown, TableRightFlag[]]> = [
    ['Select, Update', ['Select', 'Update']],
    ['Select,Update', ['Select', 'Update']],
    ['  Select ,  Insert  ', ['Insert', 'Select']],
    ['select, update', ['Select', 'Update']],
    ['SELECT', ['Select']],
    ['Update, RF', ['Filtering', 'Select', 'Update']],
    ['UDR, FI', ['Delete', 'Filtering', 'Insert', 'Select', 'Update']],
    ['Delete, RF, WRITE', ['Delete', 'Filtering', 'Insert', 'RestrictedUpdate', 'Select', 'Update']],
    ['R, Delete', ['Delete', 'Select']],
    ['Select, Select', ['Select']],
    ['None, Select', ['Select']],
    ['Select, Update, Insert, Delete', ['Delete', 'Insert', 'Select', 'Update']],
    ['RestrictedUpdate', ['RestrictedUpdate']],
    ['Filtering, Insert', ['Filtering', 'Insert']],
    [3, ['Select', 'Update']],
    [0, []],
    [64, []],
    ['7', ['Insert', 'Select', 'Update']],
    [' 17 ', ['Filtering', 'Select']],
  ];
  for (const [mask, flags] of cases) {
    it(`${JSON.stringify(mask)} -> ${flags.join(', ') || '(none)'}`, () => {
      expect(flagsOf(parseTableRightMask(mask))).toEqual(flags);
    });
  }
  it('reads the TableRight object and ignores Reason', () => {
    expect(flagsOf(parseTableRight({ Mask: 'URI', Reason: 'Record belongs to another group' }))).toEqual(['Insert', 'Select', 'Update']);
  });
  it('RestrictedUpdate alone does not grant Update', () => {
    expect(maskHas(parseTableRightMask('RestrictedUpdate'), 'Update')).toBe(false);
  });
});

describe('parseTableRightMask: properties', () => {
  it('any subset of flag names, in any order and case, joined by commas, reads as exactly that subset', () => {
    fc.assert(
      fc.property(fc.subarray([...TABLE_RIGHT_FLAGS], { minLength: 1 }), fc.boolean(), fc.boolean(), (flags, lower, tight) => {
        const text = flags.map((f) => (lower ? f.toLowerCase() : f)).join(tight ? ',' : ', ');
        expect(flagsOf(parseTableRightMask(text))).toEqual([...flags].sort());
      }),
      { numRuns: 1000 },
    );
  });
  it('any list of member names reads as the OR of their values', () => {
    const members = E_TABLE_RIGHT_REFERENCE.filter(([name]) => name !== 'Uninitialized');
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...members), { minLength: 1, maxLength: 6 }), (picked) => {
        const bits = picked.reduce((acc, [, value]) => acc | value, 0);
        expect(flagsOf(parseTableRightMask(picked.map(([n]) => n).join(', ')))).toEqual(tableFlagsOfBits(bits));
      }),
      { numRuns: 1000 },
    );
  });
  it('never throws, and any input is either known or unknown with a problem', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const reading = parseTableRight(value);
        expect(typeof reading.known).toBe('boolean');
        if (!reading.known) expect(reading.problem).toMatch(/^[a-z_]+$/);
      }),
      { numRuns: 1000 },
    );
  });
  it('a name that is not a member always makes the mask unknown', () => {
    const names = new Set(E_TABLE_RIGHT_REFERENCE.map(([n]) => n.toUpperCase()));
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,11}$/).filter((s) => !names.has(s.toUpperCase())), (name) => {
        expect(parseTableRightMask(`Select, ${name}`)).toEqual({ known: false, problem: 'unrecognised_name' });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parseFieldRight', () => {
  const unknownCases: Array<[string, unknown, string]> = [
    ['FieldRight missing', undefined, 'missing'],
    ['FieldRight null', null, 'null'],
    ['FieldRight {}', {}, 'empty_object'],
    ['Mask missing', { Reason: '' }, 'missing'],
    ['Mask empty', { Mask: '' }, 'mask_empty'],
    ['Mask a boolean', { Mask: false }, 'mask_not_a_string'],
    ['Mask a number with an undefined bit (512)', { Mask: 515 }, 'undefined_bits'],
    ['a TableRight name', { Mask: 'Select' }, 'unrecognised_name'],
    ['a TableRight combo', { Mask: 'URI' }, 'unrecognised_name'],
    ['unrecognised name', { Mask: 'ReadWrite' }, 'unrecognised_name'],
    ['Uninitialized', { Mask: 'Uninitialized' }, 'uninitialized'],
  ];
  for (const [title, value, problem] of unknownCases) {
    it(`${title} -> unknown (${problem})`, () => {
      expect(parseFieldRight(value)).toEqual({ known: false, problem });
    });
  }

  describe('every EFieldRight member reads as its value in SuperOffice’s reference (issue 10, item 2)', () => {
    // Before: Update, Nullable and UIHints were not recognised, so e.g. "Update" or "Read, Nullable" was unknown.
    for (const [name, value] of E_FIELD_RIGHT_REFERENCE) {
      it(`${name} = ${value} -> ${fieldFlagsOfBits(value).join(', ') || '(none)'}`, () => {
        expect(flagsOf(parseFieldRightMask(name))).toEqual(fieldFlagsOfBits(value));
      });
    }
  });

  const knownCases: Array<[unknown, string[]]> = [
    ['Update', ['Read', 'Write']],
    ['FULL', ['Read', 'Write']],
    ['full', ['Read', 'Write']],
    ['Read, Write', ['Read', 'Write']],
    ['None', []],
    ['Read, Nullable', ['Read']],
    ['Update, Nullable, UIHintMandatory', ['Read', 'Write']],
    ['FULL, UIHints', ['Read', 'Write']],
    ['Read, UIHintReadOnly', ['Read']],
    ['UIHints', []],
    ['Unused1, Unused2, Unused3, Unused4', []],
    ['Write, UndefinedValue256', ['Write']],
    [67, ['Read', 'Write']],
    ['129', ['Read']],
    [256, []],
  ];
  for (const [mask, flags] of knownCases) {
    it(`${JSON.stringify(mask)} -> ${flags.join(', ') || '(none)'} (Nullable and UI hints say nothing about read/write)`, () => {
      expect(flagsOf(parseFieldRightMask(mask))).toEqual(flags);
      expect(flagsOf(parseFieldRight({ Mask: mask, Reason: '' }))).toEqual(flags);
    });
  }

  it('any subset of Read/Write with hints and Nullable reads as exactly the Read/Write part', () => {
    const hints = ['UIHintMandatory', 'UIHintReadOnly', 'UIHints', 'Nullable', 'Unused1', 'UndefinedValue256'];
    fc.assert(
      fc.property(
        fc.tuple(fc.subarray([...FIELD_RIGHT_FLAGS]), fc.subarray(hints))
          .filter(([flags, extra]) => flags.length + extra.length > 0)
          .chain(([flags, extra]) => fc.tuple(fc.constant(flags), fc.shuffledSubarray([...flags, ...extra], { minLength: flags.length + extra.length }))),
        ([flags, names]) => {
          expect(flagsOf(parseFieldRightMask(names.join(', ')))).toEqual([...flags].sort());
        },
      ),
      { numRuns: 1000 },
    );
  });
});
