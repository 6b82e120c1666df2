/**
 * Parsing of the `TableRight` and `FieldRight` masks that SuperOffice puts on every entity
 * (docs/superoffice.md §5.2). Pure functions; an unreadable mask is *unknown*, never "no rights".
 *
 * The masks are SuperOffice's `[Flags]` enums, with the values of SuperOffice's own reference:
 * - `ETableRight` — https://docs.superoffice.com/en/api/reference/netserver/core/SuperOffice.Data.ETableRight.html
 *   None 0, Select 1 (= R), Update 2, Insert 4, Delete 8, Filtering 16 (= F), RestrictedUpdate 32, Unused1 64,
 *   Uninitialized 128; combined names UR 3, RI 5, URI 7, UDR 11, FULL 15 (Select, Update, Insert, Delete —
 *   no Filtering), RF 17, FI 20, URU 34 (Update, RestrictedUpdate — no Select), WRITE 38 (Update, Insert,
 *   RestrictedUpdate — no Select, no Delete).
 * - `EFieldRight` — https://docs.superoffice.com/en/api/reference/netserver/core/SuperOffice.Data.EFieldRight.html
 *   None 0, Read 1, Write 2, Update 3 (= FULL, Read + Write), Unused1..3 4/8/16, Unused4 32 (= Nullable),
 *   UIHintMandatory 64, UIHintReadOnly 128, UIHints 192; the SOAP WSDL (Services88 `EFieldRight`) also names
 *   bit 256 `UndefinedValue256`. Nullable, the unused members and the UI hints say nothing about read/write.
 *
 * The Web API writes them with Newtonsoft's `StringEnumConverter`, which formats a `[Flags]` value as the
 * names of members taken greedily from the highest value and joined with ", " (`"FULL"`, `"Update, RF"`,
 * `"FULL, UIHintMandatory"`), `"None"` for 0, and — when bits no member covers are left over — the bare
 * number (`EnumUtils.InternalFlagsFormat` and `StringEnumConverter.WriteJson` in
 * https://github.com/JamesNK/Newtonsoft.Json, Src/Newtonsoft.Json/Utilities/EnumUtils.cs and
 * Src/Newtonsoft.Json/Converters/StringEnumConverter.cs). So this parser reads every member name (any case,
 * any mix in a comma list) and an integer (a JSON number or a string of digits), ORs the values, and reads
 * the flags from the bits.
 *
 * - Unknown (never "denied"): `{}`, `null`, a missing `TableRight`/`Mask`, a boolean/object/fractional or
 *   negative `Mask`, an empty `Mask` or list item, an unrecognised name, `Uninitialized` (bit 128), and a
 *   number with bits the enum does not define.
 * - `None` (0) is a known mask with no rights.
 * - `RestrictedUpdate` (only some fields may be updated) does not by itself grant `update`.
 */

export const TABLE_RIGHT_FLAGS = ['Select', 'Update', 'Insert', 'Delete', 'Filtering', 'RestrictedUpdate'] as const;
export type TableRightFlag = (typeof TABLE_RIGHT_FLAGS)[number];

export const FIELD_RIGHT_FLAGS = ['Read', 'Write'] as const;
export type FieldRightFlag = (typeof FIELD_RIGHT_FLAGS)[number];

/** The bit of each TableRight flag (`ETableRight`). */
export const TABLE_RIGHT_FLAG_BITS: { readonly [F in TableRightFlag]: number } = Object.freeze({
  Select: 1,
  Update: 2,
  Insert: 4,
  Delete: 8,
  Filtering: 16,
  RestrictedUpdate: 32,
});

/** The bit of each FieldRight flag that a rights check reads (`EFieldRight`). */
export const FIELD_RIGHT_FLAG_BITS: { readonly [F in FieldRightFlag]: number } = Object.freeze({ Read: 1, Write: 2 });

/** `ETableRight.Uninitialized`: "magic value to indicate not [initialised]" — the mask says nothing. */
const TABLE_RIGHT_UNINITIALIZED = 128;

/** Every `ETableRight` member (upper-cased name → value). */
const TABLE_RIGHT_MEMBERS: ReadonlyMap<string, number> = new Map([
  ['NONE', 0], ['SELECT', 1], ['UPDATE', 2], ['INSERT', 4], ['DELETE', 8], ['FILTERING', 16],
  ['RESTRICTEDUPDATE', 32], ['UNUSED1', 64], ['UNINITIALIZED', 128],
  ['FULL', 15], ['WRITE', 38], ['URU', 34], ['UDR', 11], ['UR', 3], ['URI', 7], ['R', 1], ['RI', 5], ['RF', 17],
  ['F', 16], ['FI', 20],
]);

/** Every `EFieldRight` member (upper-cased name → value), plus the WSDL's `UndefinedValue256`. */
const FIELD_RIGHT_MEMBERS: ReadonlyMap<string, number> = new Map([
  ['NONE', 0], ['READ', 1], ['WRITE', 2], ['UPDATE', 3], ['FULL', 3], ['UNUSED1', 4], ['UNUSED2', 8], ['UNUSED3', 16],
  ['UNUSED4', 32], ['NULLABLE', 32], ['UIHINTMANDATORY', 64], ['UIHINTREADONLY', 128], ['UIHINTS', 192],
  ['UNDEFINEDVALUE256', 256],
]);

/** Named TableRight combinations and the flags each stands for (derived from the member values). */
export const TABLE_RIGHT_COMBOS: Readonly<Record<string, readonly TableRightFlag[]>> = Object.freeze(
  Object.fromEntries(
    ['FULL', 'WRITE', 'URU', 'UDR', 'UR', 'URI', 'R', 'RI', 'RF', 'F', 'FI', 'NONE'].map((name) => [
      name,
      Object.freeze(flagsOfBits(TABLE_RIGHT_MEMBERS.get(name) ?? 0, TABLE_RIGHT_FLAG_BITS)),
    ]),
  ),
);

/** Named FieldRight combinations (derived from the member values). */
export const FIELD_RIGHT_COMBOS: Readonly<Record<string, readonly FieldRightFlag[]>> = Object.freeze(
  Object.fromEntries(
    ['FULL', 'UPDATE', 'UIHINTS', 'NONE'].map((name) => [name, Object.freeze(flagsOfBits(FIELD_RIGHT_MEMBERS.get(name) ?? 0, FIELD_RIGHT_FLAG_BITS))]),
  ),
);

/** Why a mask could not be read. */
export type MaskProblem =
  | 'missing'
  | 'null'
  | 'empty_object'
  | 'not_an_object'
  | 'mask_not_a_string'
  | 'mask_empty'
  | 'mask_invalid_number'
  | 'uninitialized'
  | 'undefined_bits'
  | 'unrecognised_name';

export type MaskReading<F extends string> =
  | { readonly known: true; readonly flags: ReadonlySet<F>; readonly bits: number }
  | { readonly known: false; readonly problem: MaskProblem };

interface MaskGrammar<F extends string> {
  readonly members: ReadonlyMap<string, number>;
  readonly flagBits: { readonly [K in F]: number };
  /** Every bit some member stands for; a number with other bits is unknown. */
  readonly definedBits: number;
  /** Bits that make the whole mask unknown (TableRight `Uninitialized`). */
  readonly unknownBits: number;
}

function unionOf(members: ReadonlyMap<string, number>): number {
  let bits = 0;
  for (const value of members.values()) bits |= value;
  return bits;
}

const TABLE_GRAMMAR: MaskGrammar<TableRightFlag> = {
  members: TABLE_RIGHT_MEMBERS,
  flagBits: TABLE_RIGHT_FLAG_BITS,
  definedBits: unionOf(TABLE_RIGHT_MEMBERS),
  unknownBits: TABLE_RIGHT_UNINITIALIZED,
};
const FIELD_GRAMMAR: MaskGrammar<FieldRightFlag> = {
  members: FIELD_RIGHT_MEMBERS,
  flagBits: FIELD_RIGHT_FLAG_BITS,
  definedBits: unionOf(FIELD_RIGHT_MEMBERS),
  unknownBits: 0,
};

function flagsOfBits<F extends string>(bits: number, flagBits: { readonly [K in F]: number }): F[] {
  return (Object.keys(flagBits) as F[]).filter((flag) => (bits & flagBits[flag]) === flagBits[flag]);
}

const unknownMask = (problem: MaskProblem): { readonly known: false; readonly problem: MaskProblem } => Object.freeze({ known: false, problem });

/** The reading of a value whose bits are all known to be members. */
function fromBits<F extends string>(bits: number, grammar: MaskGrammar<F>): MaskReading<F> {
  if ((bits & ~grammar.definedBits) !== 0) return unknownMask('undefined_bits');
  if ((bits & grammar.unknownBits) !== 0) return unknownMask('uninitialized');
  return Object.freeze({ known: true, flags: new Set(flagsOfBits(bits, grammar.flagBits)), bits });
}

/** Largest mask value read as a number (the enums are 32-bit). */
const MAX_MASK_NUMBER = 0x7fff_ffff;

function parseMaskValue<F extends string>(mask: unknown, grammar: MaskGrammar<F>): MaskReading<F> {
  if (mask === undefined) return unknownMask('missing');
  if (mask === null) return unknownMask('null');
  if (typeof mask === 'number') {
    // StringEnumConverter writes a number when bits no member covers are left over.
    if (!Number.isInteger(mask) || mask < 0 || mask > MAX_MASK_NUMBER) return unknownMask('mask_invalid_number');
    return fromBits(mask, grammar);
  }
  if (typeof mask !== 'string') return unknownMask('mask_not_a_string');
  const text = mask.trim();
  if (text === '') return unknownMask('mask_empty');
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    return value > MAX_MASK_NUMBER ? unknownMask('mask_invalid_number') : fromBits(value, grammar);
  }
  let bits = 0;
  for (const raw of text.split(',')) {
    const name = raw.trim().toUpperCase();
    if (name === '') return unknownMask('unrecognised_name');
    if (name === 'UNINITIALIZED') return unknownMask('uninitialized');
    const value = grammar.members.get(name);
    if (value === undefined) return unknownMask('unrecognised_name');
    bits |= value;
  }
  return fromBits(bits, grammar);
}

function parseRightObject<F extends string>(value: unknown, grammar: MaskGrammar<F>): MaskReading<F> {
  if (value === undefined) return unknownMask('missing');
  if (value === null) return unknownMask('null');
  if (typeof value !== 'object' || Array.isArray(value)) return unknownMask('not_an_object');
  if (Object.keys(value).length === 0) return unknownMask('empty_object');
  return parseMaskValue((value as Record<string, unknown>)['Mask'], grammar);
}

/** Reads a TableRight `Mask`, e.g. `"URI"`, `"Update, RF"` or a number. */
export function parseTableRightMask(mask: unknown): MaskReading<TableRightFlag> {
  return parseMaskValue(mask, TABLE_GRAMMAR);
}

/** Reads an entity's `TableRight` member (`{ "Mask": …, "Reason": … }`, `{}`, `null` or absent). */
export function parseTableRight(value: unknown): MaskReading<TableRightFlag> {
  return parseRightObject(value, TABLE_GRAMMAR);
}

/** Reads a FieldRight `Mask`, e.g. `"FULL"`, `"Update"` or `"FULL, UIHintMandatory"`. */
export function parseFieldRightMask(mask: unknown): MaskReading<FieldRightFlag> {
  return parseMaskValue(mask, FIELD_GRAMMAR);
}

/** Reads a field's `FieldRight` member (`{ "Mask": …, "Reason": … }`, `{}`, `null` or absent). */
export function parseFieldRight(value: unknown): MaskReading<FieldRightFlag> {
  return parseRightObject(value, FIELD_GRAMMAR);
}

/** CRMScript `checkTableRights` names and the flag each needs (docs/superoffice.md §5.2). */
export const TABLE_RIGHT_FLAG_OF = Object.freeze({ select: 'Select', update: 'Update', insert: 'Insert' } as const);

/** CRMScript `checkFieldRights` names and the flag each needs. */
export const FIELD_RIGHT_FLAG_OF = Object.freeze({ read: 'Read', write: 'Write' } as const);

/** Whether a known mask holds `flag`; `undefined` when the mask is unknown. */
export function maskHas<F extends string>(reading: MaskReading<F>, flag: F): boolean | undefined {
  return reading.known ? reading.flags.has(flag) : undefined;
}
