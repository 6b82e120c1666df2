/**
 * TableRight / FieldRight masks as SuperOffice's REST API serialises them (docs/superoffice.md §5.2): the
 * simulator keeps rights as numbers and writes them the way the real Web API does, from the numeric value.
 *
 * The enums, transcribed with their values and in their declaration order from SuperOffice's reference:
 * - `ETableRight` — https://docs.superoffice.com/en/api/reference/netserver/core/SuperOffice.Data.ETableRight.html
 *   (declaration order as in the CRMScript reference, CRMScript.NetServer.ETableRight).
 * - `EFieldRight` — https://docs.superoffice.com/en/api/reference/netserver/core/SuperOffice.Data.EFieldRight.html
 *   (declaration order as in CRMScript.NetServer.EFieldRight).
 *
 * Formatting follows Newtonsoft.Json's `StringEnumConverter` for a `[Flags]` enum (`EnumUtils.InternalFlagsFormat`,
 * https://github.com/JamesNK/Newtonsoft.Json/blob/master/Src/Newtonsoft.Json/Utilities/EnumUtils.cs):
 * - the members are ordered by value (`Enum.GetNames`); members with equal values keep their declaration order
 *   (.NET sorts enum metadata with a stable insertion sort — `RuntimeType.GetEnumData` in the .NET Framework
 *   reference source), so of two aliases the later-declared one is met first below (`R` before `Select`, `F`
 *   before `Filtering`, `FULL` before `Update`, `Nullable` before `Unused4`);
 * - walking from the highest value down, every member whose bits are all still in the value is taken and its
 *   bits removed; the names taken are joined with ", " in ascending order;
 * - 0 is the name of the zero member (`None`);
 * - if bits are left over that no member covers, the converter writes the number itself (a JSON number).
 * Which alias real SuperOffice writes for a tied value is UNCONFIRMED; the broker accepts every member name.
 */
import type { TableRightFlag } from './seed.js';

export const TABLE_RIGHT_BITS: Readonly<Record<TableRightFlag, number>> = {
  Select: 1,
  Update: 2,
  Insert: 4,
  Delete: 8,
  Filtering: 16,
  RestrictedUpdate: 32,
};

export type FieldRightFlag = 'Read' | 'Write' | 'UIHintMandatory' | 'UIHintReadOnly';

export const FIELD_RIGHT_BITS: Readonly<Record<FieldRightFlag, number>> = {
  Read: 1,
  Write: 2,
  UIHintMandatory: 64,
  UIHintReadOnly: 128,
};

/** A `[Flags]` enum: its members as [name, value], in declaration order. */
export type FlagsEnum = ReadonlyArray<readonly [string, number]>;

/** `SuperOffice.Data.ETableRight`, in declaration order. */
export const E_TABLE_RIGHT: FlagsEnum = [
  ['None', 0],
  ['Select', 1],
  ['Update', 2],
  ['Insert', 4],
  ['Delete', 8],
  ['Filtering', 16],
  ['RestrictedUpdate', 32],
  ['Unused1', 64],
  ['Uninitialized', 128],
  ['FULL', 15],
  ['WRITE', 38],
  ['URU', 34],
  ['UDR', 11],
  ['UR', 3],
  ['URI', 7],
  ['R', 1],
  ['RI', 5],
  ['RF', 17],
  ['F', 16],
  ['FI', 20],
];

/** `SuperOffice.Data.EFieldRight`, in declaration order. */
export const E_FIELD_RIGHT: FlagsEnum = [
  ['None', 0],
  ['Read', 1],
  ['Write', 2],
  ['Update', 3],
  ['Unused1', 4],
  ['Unused2', 8],
  ['Unused3', 16],
  ['Unused4', 32],
  ['Nullable', 32],
  ['UIHintMandatory', 64],
  ['UIHintReadOnly', 128],
  ['FULL', 3],
  ['UIHints', 192],
];

/** The JSON object SuperOffice puts in `TableRight` and `FieldRight`. */
export interface RightMask {
  /** The formatted value; a number only when bits are left that no member names. */
  readonly Mask: string | number;
  readonly Reason: string;
}

export function tableRightBits(flags: readonly TableRightFlag[]): number {
  let bits = 0;
  for (const flag of flags) bits |= TABLE_RIGHT_BITS[flag];
  return bits;
}

/** Members ordered by value, ties in declaration order (a stable sort), as `Enum.GetNames` returns them. */
function byValue(members: FlagsEnum): FlagsEnum {
  return members.map((member, index) => ({ member, index }))
    .sort((a, b) => a.member[1] - b.member[1] || a.index - b.index)
    .map(({ member }) => member);
}

/**
 * Formats `value` of a `[Flags]` enum as Newtonsoft's StringEnumConverter does (see the module comment):
 * the member names, or the number when no combination of members makes up the value.
 */
export function formatFlags(value: number, members: FlagsEnum): string | number {
  const sorted = byValue(members);
  if (value === 0) return sorted[0]?.[1] === 0 ? sorted[0][0] : 0;
  let rest = value;
  const taken: string[] = [];
  for (let index = sorted.length - 1; index >= 0; index--) {
    const [name, bits] = sorted[index] as readonly [string, number];
    if (index === 0 && bits === 0) break;
    if ((rest & bits) === bits) {
      rest -= bits;
      taken.unshift(name);
    }
  }
  return rest === 0 ? taken.join(', ') : value;
}

const E_TABLE_RIGHT_BY_VALUE = byValue(E_TABLE_RIGHT);
const E_FIELD_RIGHT_BY_VALUE = byValue(E_FIELD_RIGHT);

/** Serialises TableRight bits (e.g. 7 → `"URI"`, 19 → `"Update, RF"`). */
export function formatTableRight(bits: number): string | number {
  return formatFlags(bits, E_TABLE_RIGHT_BY_VALUE);
}

/** Serialises FieldRight bits (e.g. 3 → `"FULL"`, 67 → `"FULL, UIHintMandatory"`). */
export function formatFieldRight(bits: number): string | number {
  return formatFlags(bits, E_FIELD_RIGHT_BY_VALUE);
}

export function hasBits(bits: number, flag: number): boolean {
  return (bits & flag) === flag;
}
