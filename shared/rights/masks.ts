/**
 * Parsing of the `TableRight` and `FieldRight` masks that SuperOffice puts on every entity
 * (superoffice.md §5.2). Pure functions; an unreadable mask is *unknown*, never "no rights".
 *
 * - A mask is a .NET `[Flags]` enum serialised by name: one name when the value equals a named member
 *   (`"FULL"`, `"URI"`, `"Select"`, `"None"`), otherwise a comma-and-space list (`"Select, Update"`);
 *   real .NET may also mix a combo into a list (`"Delete, RF"`). Names match without regard to case.
 * - Named TableRight combos (letters UNCONFIRMED, read as R = Select, U = Update, I = Insert,
 *   D = Delete, F = Filtering, the same reading as the simulator): see `TABLE_RIGHT_COMBOS`.
 * - `{}`, `null`, a missing `TableRight`/`Mask`, a non-string or empty `Mask`, `Uninitialized`, a
 *   number, an empty list item or any unrecognised name make the whole mask unknown.
 * - FieldRight: `Read`, `Write`, `FULL` (= Read + Write) and `None` decide; the UI hints
 *   (`UIHintMandatory`, `UIHintReadOnly`) and the placeholder members (`Unused1`…`Unused4`,
 *   `UndefinedValue256`) are recognised but carry no read/write meaning. `Unused1` is likewise
 *   ignored in a TableRight.
 * - `RestrictedUpdate` (only some fields may be updated) does not by itself grant `update`.
 */

export const TABLE_RIGHT_FLAGS = ['Select', 'Update', 'Insert', 'Delete', 'Filtering', 'RestrictedUpdate'] as const;
export type TableRightFlag = (typeof TABLE_RIGHT_FLAGS)[number];

export const FIELD_RIGHT_FLAGS = ['Read', 'Write'] as const;
export type FieldRightFlag = (typeof FIELD_RIGHT_FLAGS)[number];

/** Named TableRight combinations and the flags each stands for. */
export const TABLE_RIGHT_COMBOS: Readonly<Record<string, readonly TableRightFlag[]>> = Object.freeze({
  FULL: ['Select', 'Update', 'Insert', 'Delete', 'Filtering'],
  WRITE: ['Update', 'Insert', 'Delete'],
  URU: ['Select', 'Update', 'RestrictedUpdate'],
  UDR: ['Select', 'Update', 'Delete'],
  URI: ['Select', 'Update', 'Insert'],
  UR: ['Select', 'Update'],
  RI: ['Select', 'Insert'],
  RF: ['Select', 'Filtering'],
  FI: ['Filtering', 'Insert'],
  R: ['Select'],
  F: ['Filtering'],
  NONE: [],
});

/** Named FieldRight combinations. */
export const FIELD_RIGHT_COMBOS: Readonly<Record<string, readonly FieldRightFlag[]>> = Object.freeze({
  FULL: ['Read', 'Write'],
  NONE: [],
});

/** Members that are valid names but grant nothing that a rights check asks about. */
const TABLE_RIGHT_IGNORED: ReadonlySet<string> = new Set(['UNUSED1']);
const FIELD_RIGHT_IGNORED: ReadonlySet<string> = new Set([
  'UNUSED1', 'UNUSED2', 'UNUSED3', 'UNUSED4', 'UIHINTMANDATORY', 'UIHINTREADONLY', 'UNDEFINEDVALUE256',
]);

/** Why a mask could not be read. */
export type MaskProblem =
  | 'missing'
  | 'null'
  | 'empty_object'
  | 'not_an_object'
  | 'mask_not_a_string'
  | 'mask_empty'
  | 'uninitialized'
  | 'unrecognised_name';

export type MaskReading<F extends string> =
  | { readonly known: true; readonly flags: ReadonlySet<F> }
  | { readonly known: false; readonly problem: MaskProblem };

interface MaskGrammar<F extends string> {
  readonly singles: readonly F[];
  readonly combos: Readonly<Record<string, readonly F[]>>;
  readonly ignored: ReadonlySet<string>;
}

const TABLE_GRAMMAR: MaskGrammar<TableRightFlag> = { singles: TABLE_RIGHT_FLAGS, combos: TABLE_RIGHT_COMBOS, ignored: TABLE_RIGHT_IGNORED };
const FIELD_GRAMMAR: MaskGrammar<FieldRightFlag> = { singles: FIELD_RIGHT_FLAGS, combos: FIELD_RIGHT_COMBOS, ignored: FIELD_RIGHT_IGNORED };

const unknownMask = (problem: MaskProblem): { readonly known: false; readonly problem: MaskProblem } => Object.freeze({ known: false, problem });

function parseMaskText<F extends string>(mask: unknown, grammar: MaskGrammar<F>): MaskReading<F> {
  if (mask === undefined) return unknownMask('missing');
  if (mask === null) return unknownMask('null');
  if (typeof mask !== 'string') return unknownMask('mask_not_a_string');
  if (mask.trim() === '') return unknownMask('mask_empty');
  const flags = new Set<F>();
  for (const raw of mask.split(',')) {
    const name = raw.trim().toUpperCase();
    if (name === '') return unknownMask('unrecognised_name');
    if (name === 'UNINITIALIZED') return unknownMask('uninitialized');
    const single = grammar.singles.find((flag) => flag.toUpperCase() === name);
    if (single !== undefined) {
      flags.add(single);
      continue;
    }
    const combo = Object.hasOwn(grammar.combos, name) ? grammar.combos[name] : undefined;
    if (combo !== undefined) {
      for (const flag of combo) flags.add(flag);
      continue;
    }
    if (grammar.ignored.has(name)) continue;
    return unknownMask('unrecognised_name');
  }
  return Object.freeze({ known: true, flags });
}

function parseRightObject<F extends string>(value: unknown, grammar: MaskGrammar<F>): MaskReading<F> {
  if (value === undefined) return unknownMask('missing');
  if (value === null) return unknownMask('null');
  if (typeof value !== 'object' || Array.isArray(value)) return unknownMask('not_an_object');
  if (Object.keys(value).length === 0) return unknownMask('empty_object');
  return parseMaskText((value as Record<string, unknown>)['Mask'], grammar);
}

/** Reads a TableRight `Mask` string, e.g. `"URI"` or `"Select, Update"`. */
export function parseTableRightMask(mask: unknown): MaskReading<TableRightFlag> {
  return parseMaskText(mask, TABLE_GRAMMAR);
}

/** Reads an entity's `TableRight` member (`{ "Mask": …, "Reason": … }`, `{}`, `null` or absent). */
export function parseTableRight(value: unknown): MaskReading<TableRightFlag> {
  return parseRightObject(value, TABLE_GRAMMAR);
}

/** Reads a FieldRight `Mask` string, e.g. `"FULL"` or `"Read, UIHintReadOnly"`. */
export function parseFieldRightMask(mask: unknown): MaskReading<FieldRightFlag> {
  return parseMaskText(mask, FIELD_GRAMMAR);
}

/** Reads a field's `FieldRight` member (`{ "Mask": …, "Reason": … }`, `{}`, `null` or absent). */
export function parseFieldRight(value: unknown): MaskReading<FieldRightFlag> {
  return parseRightObject(value, FIELD_GRAMMAR);
}

/** CRMScript `checkTableRights` names and the flag each needs (superoffice.md §5.2). */
export const TABLE_RIGHT_FLAG_OF = Object.freeze({ select: 'Select', update: 'Update', insert: 'Insert' } as const);

/** CRMScript `checkFieldRights` names and the flag each needs. */
export const FIELD_RIGHT_FLAG_OF = Object.freeze({ read: 'Read', write: 'Write' } as const);

/** Whether a known mask holds `flag`; `undefined` when the mask is unknown. */
export function maskHas<F extends string>(reading: MaskReading<F>, flag: F): boolean | undefined {
  return reading.known ? reading.flags.has(flag) : undefined;
}
