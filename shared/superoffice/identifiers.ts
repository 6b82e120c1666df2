/**
 * The two SuperOffice identifiers every endpoint accepts, defined once so that all of them (and the
 * OpenAPI document, the policy and the id_token check) agree.
 */

/** A tenant (context identifier), e.g. `Cust12345`: a letter, then 1–63 letters or digits. */
export const CTX_PATTERN = /^[A-Za-z][A-Za-z0-9]{1,63}$/;

/** An associate id: a positive integer written without leading zeros (id_tokens carry `"5"`). */
export const ASSOCIATE_ID_PATTERN = /^[1-9][0-9]{0,9}$/;
