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

/** superoffice.md §5.2: masks are flag names, comma lists or named combos; anything unreadable is unknown. */

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
    ['Mask a number (bit values are UNCONFIRMED)', { Mask: 3 }, 'mask_not_a_string'],
    ['Mask a boolean', { Mask: true }, 'mask_not_a_string'],
    ['Mask empty', { Mask: '' }, 'mask_empty'],
    ['Mask blank', { Mask: '   ' }, 'mask_empty'],
    ['Mask Uninitialized', { Mask: 'Uninitialized' }, 'uninitialized'],
    ['Uninitialized inside a list', { Mask: 'Select, Uninitialized' }, 'uninitialized'],
    ['unrecognised name', { Mask: 'Everything' }, 'unrecognised_name'],
    ['a numeric string', { Mask: '64' }, 'unrecognised_name'],
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

describe('parseTableRightMask: single flags', () => {
  for (const flag of TABLE_RIGHT_FLAGS) {
    it(`${flag} -> {${flag}}`, () => {
      expect(flagsOf(parseTableRightMask(flag))).toEqual([flag]);
    });
  }
  it('None -> known, no flags (denied, not unknown)', () => {
    const reading = parseTableRightMask('None');
    expect(flagsOf(reading)).toEqual([]);
    expect(maskHas(reading, 'Select')).toBe(false);
  });
  it('Unused1 is recognised and grants nothing', () => {
    expect(flagsOf(parseTableRightMask('Unused1'))).toEqual([]);
    expect(flagsOf(parseTableRightMask('Select, Unused1'))).toEqual(['Select']);
  });
});

describe('parseTableRightMask: every named combo (letters per superoffice.md §5.2, UNCONFIRMED)', () => {
  const expected: Record<string, TableRightFlag[]> = {
    FULL: ['Delete', 'Filtering', 'Insert', 'Select', 'Update'],
    WRITE: ['Delete', 'Insert', 'Update'],
    URU: ['RestrictedUpdate', 'Select', 'Update'],
    UDR: ['Delete', 'Select', 'Update'],
    URI: ['Insert', 'Select', 'Update'],
    UR: ['Select', 'Update'],
    RI: ['Insert', 'Select'],
    RF: ['Filtering', 'Select'],
    FI: ['Filtering', 'Insert'],
    R: ['Select'],
    F: ['Filtering'],
    None: [],
  };
  for (const [name, flags] of Object.entries(expected)) {
    it(`${name} -> ${flags.join(', ') || '(none)'}`, () => {
      expect(flagsOf(parseTableRightMask(name))).toEqual(flags);
    });
  }
  it('covers every combo the parser knows', () => {
    expect(Object.keys(TABLE_RIGHT_COMBOS).sort()).toEqual(Object.keys(expected).map((k) => k.toUpperCase()).sort());
  });
});

describe('parseTableRightMask: lists, mixtures, case and spacing', () => {
  const cases: Array<[string, TableRightFlag[]]> = [
    ['Select, Update', ['Select', 'Update']],
    ['Select,Update', ['Select', 'Update']],
    ['  Select ,  Insert  ', ['Insert', 'Select']],
    ['select, update', ['Select', 'Update']],
    ['SELECT', ['Select']],
    ['full', ['Delete', 'Filtering', 'Insert', 'Select', 'Update']],
    ['uri', ['Insert', 'Select', 'Update']],
    ['Delete, RF', ['Delete', 'Filtering', 'Select']],
    ['R, Delete', ['Delete', 'Select']],
    ['Select, Select', ['Select']],
    ['write', ['Delete', 'Insert', 'Update']],
    ['None, Select', ['Select']],
    ['Select, Update, Insert, Delete', ['Delete', 'Insert', 'Select', 'Update']],
    ['RestrictedUpdate', ['RestrictedUpdate']],
    ['Filtering, Insert', ['Filtering', 'Insert']],
  ];
  for (const [mask, flags] of cases) {
    it(`"${mask}" -> ${flags.join(', ')}`, () => {
      expect(flagsOf(parseTableRightMask(mask))).toEqual(flags);
    });
  }
  it('reads the TableRight object and ignores Reason', () => {
    expect(flagsOf(parseTableRight({ Mask: 'URI', Reason: 'Record belongs to another group' }))).toEqual(['Insert', 'Select', 'Update']);
  });
  it('RestrictedUpdate alone does not grant Update', () => {
    expect(maskHas(parseTableRightMask('RestrictedUpdate'), 'Update')).toBe(false);
    expect(maskHas(parseTableRightMask('URU'), 'Update')).toBe(true);
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
  it('a name that is not a flag, combo or known member always makes the mask unknown', () => {
    const names = new Set([...TABLE_RIGHT_FLAGS, ...Object.keys(TABLE_RIGHT_COMBOS), 'UNUSED1', 'UNINITIALIZED'].map((n) => n.toUpperCase()));
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9]{1,12}$/).filter((s) => !names.has(s.toUpperCase())), (name) => {
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
    ['Mask a number', { Mask: 3 }, 'mask_not_a_string'],
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

  const knownCases: Array<[string, string[]]> = [
    ['Read', ['Read']],
    ['Write', ['Write']],
    ['FULL', ['Read', 'Write']],
    ['full', ['Read', 'Write']],
    ['Read, Write', ['Read', 'Write']],
    ['None', []],
    ['Read, UIHintReadOnly', ['Read']],
    ['Read, Write, UIHintMandatory', ['Read', 'Write']],
    ['UIHintMandatory', []],
    ['UIHintReadOnly', []],
    ['Unused1, Unused2, Unused3, Unused4', []],
    ['Write, UndefinedValue256', ['Write']],
    ['FULL, UIHintMandatory', ['Read', 'Write']],
  ];
  for (const [mask, flags] of knownCases) {
    it(`"${mask}" -> ${flags.join(', ') || '(none)'} (UI hints ignored for read/write)`, () => {
      expect(flagsOf(parseFieldRightMask(mask))).toEqual(flags);
      expect(flagsOf(parseFieldRight({ Mask: mask, Reason: '' }))).toEqual(flags);
    });
  }

  it('any subset of Read/Write with UI hints reads as exactly the Read/Write part', () => {
    const hints = ['UIHintMandatory', 'UIHintReadOnly', 'Unused1', 'UndefinedValue256'];
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
