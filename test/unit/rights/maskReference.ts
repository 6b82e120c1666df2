/**
 * SuperOffice's ETableRight and EFieldRight, transcribed for the tests from SuperOffice's own reference (kept
 * apart from the broker's parser and the simulator's formatter so that a slip in either shows up here):
 * - https://docs.superoffice.com/en/api/reference/netserver/core/SuperOffice.Data.ETableRight.html
 * - https://docs.superoffice.com/en/api/reference/netserver/core/SuperOffice.Data.EFieldRight.html
 * Declaration order as in the CRMScript reference (CRMScript.NetServer.ETableRight / EFieldRight).
 */
import type { FieldRightFlag, TableRightFlag } from '../../../shared/rights/masks.js';

export const E_TABLE_RIGHT_REFERENCE: ReadonlyArray<readonly [string, number]> = [
  ['None', 0], ['Select', 1], ['Update', 2], ['Insert', 4], ['Delete', 8], ['Filtering', 16], ['RestrictedUpdate', 32],
  ['Unused1', 64], ['Uninitialized', 128], ['FULL', 15], ['WRITE', 38], ['URU', 34], ['UDR', 11], ['UR', 3], ['URI', 7],
  ['R', 1], ['RI', 5], ['RF', 17], ['F', 16], ['FI', 20],
];

export const E_FIELD_RIGHT_REFERENCE: ReadonlyArray<readonly [string, number]> = [
  ['None', 0], ['Read', 1], ['Write', 2], ['Update', 3], ['Unused1', 4], ['Unused2', 8], ['Unused3', 16], ['Unused4', 32],
  ['Nullable', 32], ['UIHintMandatory', 64], ['UIHintReadOnly', 128], ['FULL', 3], ['UIHints', 192],
];

const TABLE_BITS: ReadonlyArray<readonly [TableRightFlag, number]> = [
  ['Select', 1], ['Update', 2], ['Insert', 4], ['Delete', 8], ['Filtering', 16], ['RestrictedUpdate', 32],
];

/** The TableRight flags of a value, sorted by name (as the tests compare them). */
export function tableFlagsOfBits(bits: number): TableRightFlag[] {
  return TABLE_BITS.filter(([, bit]) => (bits & bit) !== 0).map(([flag]) => flag).sort();
}

/** The Read/Write flags of a FieldRight value, sorted by name. */
export function fieldFlagsOfBits(bits: number): FieldRightFlag[] {
  const flags: FieldRightFlag[] = [];
  if ((bits & 1) !== 0) flags.push('Read');
  if ((bits & 2) !== 0) flags.push('Write');
  return flags;
}
