import * as z from 'zod/mini';

/**
 * The SuperOffice identifiers the broker accepts, each defined once as a zod schema: every endpoint,
 * the published OpenAPI document (generated from these schemas), the policy, the id_token check, the
 * audit filters and the configuration use them, so none of them can accept an identifier another refuses.
 */

/** The rule of a tenant id (context identifier), e.g. `Cust12345`: a letter, then 1–63 letters or digits. */
export const CTX_PATTERN = /^[A-Za-z][A-Za-z0-9]{1,63}$/;

/** The rule of an associate id: a positive integer written without leading zeros (id_tokens carry `"5"`). */
export const ASSOCIATE_ID_PATTERN = /^[1-9][0-9]{0,9}$/;

/** SuperOffice primary keys (records, tickets) are positive 32-bit integers. */
export const MAX_SUPEROFFICE_ID = 2_147_483_647;

/**
 * A zod error text: "is required" for a missing value, otherwise "must be <what>". Validation errors
 * never echo the refused value.
 */
export function mustBe(what: string): (issue: { readonly input?: unknown }) => string {
  return (issue) => (issue.input === undefined ? 'is required' : `must be ${what}`);
}

/**
 * The regular expression of the decimal integers 1…`max` written without sign or leading zeros, so
 * that a string parameter's published pattern says exactly which ids are accepted.
 */
export function positiveUpTo(max: number): RegExp {
  const digits = String(max);
  const alternatives = digits.length > 1 ? [`[1-9][0-9]{0,${digits.length - 2}}`] : [];
  for (let i = 0; i < digits.length; i++) {
    const digit = Number(digits[i]);
    const lowest = i === 0 ? 1 : 0;
    const last = i === digits.length - 1;
    // Same length as max: equal to max up to position i, then a smaller digit (or, last, up to it), then anything.
    const top = last ? digit : digit - 1;
    if (top >= lowest) alternatives.push(`${digits.slice(0, i)}[${lowest}-${top}]${last ? '' : `[0-9]{${digits.length - i - 1}}`}`);
  }
  return new RegExp(`^(?:${alternatives.join('|')})$`);
}

const TENANT_TEXT = 'a SuperOffice tenant id such as Cust12345 (a letter, then 1-63 letters or digits)';
const ASSOCIATE_TEXT = 'a SuperOffice associate id: a positive integer as a string of digits, e.g. "5"';
const ID_TEXT = `a positive integer (1-${MAX_SUPEROFFICE_ID})`;

/** A tenant id (`ctx`). */
export const TenantId = z
  .string({ error: mustBe(TENANT_TEXT) })
  .check(z.regex(CTX_PATTERN, { error: mustBe(TENANT_TEXT) }))
  .register(z.globalRegistry, { description: 'A SuperOffice tenant id (context identifier).', examples: ['Cust12345'] });

/** An associate (user) id, as a string of digits. */
export const AssociateId = z
  .string({ error: mustBe(ASSOCIATE_TEXT) })
  .check(z.regex(ASSOCIATE_ID_PATTERN, { error: mustBe(ASSOCIATE_TEXT) }))
  .register(z.globalRegistry, { description: 'A SuperOffice associate (user) id, as a string of digits.', examples: ['5'] });

/** An associate id in a JSON body: a string of digits or a positive integer; always a string afterwards. */
const ASSOCIATE_INPUT_TEXT = `${ASSOCIATE_TEXT}, or a positive integer`;
export const AssociateIdInput = z.pipe(
  z.union(
    [
      z.string({ error: mustBe(ASSOCIATE_INPUT_TEXT) }).check(z.regex(ASSOCIATE_ID_PATTERN, { error: mustBe(ASSOCIATE_INPUT_TEXT) })),
      z.int({ error: mustBe(ASSOCIATE_INPUT_TEXT) }).check(z.positive({ error: mustBe(ASSOCIATE_INPUT_TEXT) }), z.lte(9_999_999_999, { error: mustBe(ASSOCIATE_INPUT_TEXT) })),
    ],
    { error: mustBe(ASSOCIATE_INPUT_TEXT) },
  ),
  z.transform(String),
);

const ID_DIGITS = positiveUpTo(MAX_SUPEROFFICE_ID);

/** A record or ticket id in a path or query string: digits, 1…2147483647; a number afterwards. */
export const RecordIdText = z.pipe(
  z.string({ error: mustBe(ID_TEXT) }).check(z.regex(ID_DIGITS, { error: mustBe(ID_TEXT) })),
  z.transform(Number),
);

/** A record or ticket id in a JSON body: a positive 32-bit integer, or the same as a string of digits; a number afterwards. */
const ID_INPUT_TEXT = `${ID_TEXT}, as a number or a string of digits`;
export const RecordIdInput = z.pipe(
  z.union(
    [
      z.int({ error: mustBe(ID_INPUT_TEXT) }).check(z.gte(1, { error: mustBe(ID_INPUT_TEXT) }), z.lte(MAX_SUPEROFFICE_ID, { error: mustBe(ID_INPUT_TEXT) })),
      z.string({ error: mustBe(ID_INPUT_TEXT) }).check(z.regex(ID_DIGITS, { error: mustBe(ID_INPUT_TEXT) })),
    ],
    { error: mustBe(ID_INPUT_TEXT) },
  ),
  z.transform(Number),
);

/** Whether `value` is a tenant id (for code outside the HTTP layer: configuration, the id_token check). */
export function isTenantId(value: unknown): value is string {
  return TenantId.safeParse(value).success;
}

/** Whether `value` is an associate id written as a string of digits. */
export function isAssociateId(value: unknown): value is string {
  return AssociateId.safeParse(value).success;
}
