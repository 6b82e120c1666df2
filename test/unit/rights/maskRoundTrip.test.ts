import { describe, expect, it } from 'vitest';
import { E_FIELD_RIGHT, E_TABLE_RIGHT, formatFieldRight, formatFlags, formatTableRight } from '../../../dev/superoffice/masks.js';
import { parseFieldRightMask, parseTableRightMask } from '../../../shared/rights/masks.js';
import { E_FIELD_RIGHT_REFERENCE, E_TABLE_RIGHT_REFERENCE, fieldFlagsOfBits, tableFlagsOfBits } from './maskReference.js';

/**
 * Issue 10, item 3: the simulator writes masks from their numeric value the way SuperOffice's Web API does
 * (Newtonsoft StringEnumConverter on a [Flags] enum), and the broker reads every such spelling back to the same
 * bits: over every TableRight value 0..63 and every FieldRight value 0..255, 0 wrong and 0 unknown.
 */

describe('the simulator formats masks like Newtonsoft’s StringEnumConverter', () => {
  it('holds SuperOffice’s enums, values and declaration order as in the reference', () => {
    expect(E_TABLE_RIGHT).toEqual(E_TABLE_RIGHT_REFERENCE);
    expect(E_FIELD_RIGHT).toEqual(E_FIELD_RIGHT_REFERENCE);
  });

  const tableCases: Array<[number, string | number]> = [
    [0, 'None'],
    [1, 'R'],
    [2, 'Update'],
    [3, 'UR'],
    [7, 'URI'],
    [15, 'FULL'],
    [16, 'F'],
    [17, 'RF'],
    [19, 'Update, RF'],
    [31, 'UDR, FI'],
    [34, 'URU'],
    [38, 'WRITE'],
    [63, 'Delete, RF, WRITE'],
    [64, 'Unused1'],
    [128, 'Uninitialized'],
    // Bits no member covers: the converter writes the number.
    [256, 256],
    [259, 259],
  ];
  for (const [value, text] of tableCases) {
    it(`TableRight ${value} -> ${JSON.stringify(text)}`, () => {
      expect(formatTableRight(value)).toBe(text);
    });
  }

  const fieldCases: Array<[number, string | number]> = [
    [0, 'None'],
    [1, 'Read'],
    [2, 'Write'],
    [3, 'FULL'],
    [32, 'Nullable'],
    [35, 'FULL, Nullable'],
    [65, 'Read, UIHintMandatory'],
    [67, 'FULL, UIHintMandatory'],
    [129, 'Read, UIHintReadOnly'],
    [192, 'UIHints'],
    [255, 'FULL, Unused1, Unused2, Unused3, Nullable, UIHints'],
    [256, 256],
  ];
  for (const [value, text] of fieldCases) {
    it(`FieldRight ${value} -> ${JSON.stringify(text)}`, () => {
      expect(formatFieldRight(value)).toBe(text);
    });
  }

  it('an enum without a zero member writes 0 as the number', () => {
    expect(formatFlags(0, [['A', 1], ['B', 2]])).toBe(0);
    expect(formatFlags(3, [['A', 1], ['B', 2]])).toBe('A, B');
    expect(formatFlags(4, [['A', 1], ['B', 2]])).toBe(4);
  });
});

describe('round trip: format every value, parse it with the broker, compare with the bits', () => {
  it('TableRight 0..63: 0 wrong, 0 unknown', () => {
    const wrong: string[] = [];
    const unknown: string[] = [];
    for (let value = 0; value <= 63; value++) {
      const text = formatTableRight(value);
      expect(typeof text).toBe('string');
      const reading = parseTableRightMask(text);
      if (!reading.known) unknown.push(`${value}: ${String(text)} (${reading.problem})`);
      else if (JSON.stringify([...reading.flags].sort()) !== JSON.stringify(tableFlagsOfBits(value))) wrong.push(`${value}: ${String(text)}`);
    }
    expect({ wrong, unknown }).toEqual({ wrong: [], unknown: [] });
  });

  it('FieldRight 0..255: 0 wrong, 0 unknown', () => {
    const wrong: string[] = [];
    const unknown: string[] = [];
    for (let value = 0; value <= 255; value++) {
      const text = formatFieldRight(value);
      expect(typeof text).toBe('string');
      const reading = parseFieldRightMask(text);
      if (!reading.known) unknown.push(`${value}: ${String(text)} (${reading.problem})`);
      else if (JSON.stringify([...reading.flags].sort()) !== JSON.stringify(fieldFlagsOfBits(value))) wrong.push(`${value}: ${String(text)}`);
    }
    expect({ wrong, unknown }).toEqual({ wrong: [], unknown: [] });
  });

  it('a value with bits no member covers is written as a number, and the broker reads it as unknown', () => {
    expect(parseTableRightMask(formatTableRight(256 | 3))).toEqual({ known: false, problem: 'undefined_bits' });
    expect(parseFieldRightMask(formatFieldRight(512 | 1))).toEqual({ known: false, problem: 'undefined_bits' });
  });
});
