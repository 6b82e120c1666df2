/**
 * TableRight / FieldRight masks as SuperOffice's REST API serialises them (superoffice.md §5.2).
 *
 * The bit values and the letters of the named combos are UNCONFIRMED. The simulator follows the LIKELY reading
 * in §5.2: .NET `[Flags]` enums serialised by name, which yields one name when the value equals a named member
 * (`"FULL"`, `"URI"`, `"R"`, `"None"`) and a comma-and-space list otherwise (`"Select, Update, Insert, Delete"`).
 * Letters: R = Select (read), U = Update, I = Insert, D = Delete, F = Filtering. Lists here hold single flags
 * only, in ascending bit order. (Real .NET could also mix a combo into a list, e.g. `"Delete, RF"`; a robust
 * parser accepts that too.)
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

/** Named combinations, checked before falling back to a list. */
export const TABLE_RIGHT_COMBOS: ReadonlyArray<readonly [string, number]> = [
  ['FULL', 1 | 2 | 4 | 8 | 16],
  ['WRITE', 2 | 4 | 8],
  ['URU', 1 | 2 | 32],
  ['UDR', 1 | 2 | 8],
  ['URI', 1 | 2 | 4],
  ['UR', 1 | 2],
  ['RI', 1 | 4],
  ['RF', 1 | 16],
  ['FI', 16 | 4],
  ['R', 1],
  ['F', 16],
];

export type FieldRightFlag = 'Read' | 'Write' | 'UIHintMandatory' | 'UIHintReadOnly';

export const FIELD_RIGHT_BITS: Readonly<Record<FieldRightFlag, number>> = {
  Read: 1,
  Write: 2,
  UIHintMandatory: 64,
  UIHintReadOnly: 128,
};

export const FIELD_RIGHT_COMBOS: ReadonlyArray<readonly [string, number]> = [['FULL', 1 | 2]];

/** The JSON object SuperOffice puts in `TableRight` and `FieldRight`. */
export interface RightMask {
  readonly Mask: string;
  readonly Reason: string;
}

export function tableRightBits(flags: readonly TableRightFlag[]): number {
  let bits = 0;
  for (const flag of flags) bits |= TABLE_RIGHT_BITS[flag];
  return bits;
}

function formatMask(
  bits: number,
  combos: ReadonlyArray<readonly [string, number]>,
  singles: Readonly<Record<string, number>>,
): string {
  if (bits === 0) return 'None';
  for (const [name, value] of combos) if (value === bits) return name;
  const names = Object.entries(singles)
    .filter(([, value]) => (bits & value) === value)
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name);
  return names.join(', ');
}

/** Serialises TableRight bits: a named combo when one matches exactly, otherwise a flag list. */
export function formatTableRight(bits: number): string {
  return formatMask(bits, TABLE_RIGHT_COMBOS, TABLE_RIGHT_BITS);
}

/** Serialises FieldRight bits (`FULL` for Read+Write, otherwise a flag list). */
export function formatFieldRight(bits: number): string {
  return formatMask(bits, FIELD_RIGHT_COMBOS, FIELD_RIGHT_BITS);
}

export function hasBits(bits: number, flag: number): boolean {
  return (bits & flag) === flag;
}
