import * as z from 'zod/mini';
import type { RightsStrategy } from '../config/config.js';
import { BrokerError, type ErrorCode } from '../errors/errors.js';
import type { ResponseDeclaration } from '../http/endpoint.js';
import { described, Environment } from '../http/schemas.js';
import type { RequestScope } from '../http/wrapper.js';
import { AssociateId, mustBe, RecordIdInput, RecordIdText, TenantId } from '../superoffice/identifiers.js';
import { UNKNOWN_DETAILS, type RightsAnswer, type RightsSource, type UnknownReason } from './answers.js';
import { describeCheck, MAX_BATCH_CHECKS, type RightsCheck } from './checks.js';
import type { RightsResult } from './rightsService.js';
import {
  FIELD_RIGHTS,
  LOGIN_ORIGIN_NAMES,
  MAX_RECORD_ID,
  RIGHTS_TABLES,
  TABLE_FIELDS,
  TABLE_NAMES,
  TABLE_RIGHTS,
  TICKET_LEVEL_NAMES,
  findField,
  type FieldRightName,
  type RightsTable,
} from './vocabulary.js';

/**
 * What the rights endpoints share (issue 6; shared/rights/README.md): the schemas of their inputs
 * (tables, fields, rights, levels and origins from the vocabulary, ids from the SuperOffice
 * identifiers) and answers, running the service with audit annotations, and the response bodies.
 * Inputs are exact: names as listed (no other case), ids as positive 32-bit integers.
 */

type NonEmpty<T> = [T, ...T[]];
const nonEmpty = <T>(values: readonly T[]): NonEmpty<T> => values as NonEmpty<T>;
const unique = (values: readonly string[]): string[] => [...new Set(values)];
const capitalised = (key: string): string => `${key.charAt(0).toUpperCase()}${key.slice(1)}`;

/** The names a table accepts: its name and its CRMScript alias (`company` = contact, `customer` = person). */
const tableNamesOf = (table: RightsTable): string[] => Object.keys(TABLE_NAMES).filter((name) => TABLE_NAMES[name] === table);
/** The names a field accepts: its key, its entity property (the key with a capital) and its column. */
const fieldNamesOf = (table: RightsTable): string[] => unique(TABLE_FIELDS[table].flatMap((f) => [f.key, capitalised(f.key), f.dbName]));

const TABLE_TEXT = `a table: ${Object.keys(TABLE_NAMES).join(', ')} (company = contact, customer = person)`;
const FIELDS_PER_TABLE = RIGHTS_TABLES.map((t) => `${t}: ${TABLE_FIELDS[t].map((f) => f.key).join(', ')}`).join('; ');

/** A table by name or alias; the canonical table afterwards. */
const TableName = z.pipe(z.enum(nonEmpty(Object.keys(TABLE_NAMES)), { error: mustBe(TABLE_TEXT) }), z.transform((name): RightsTable => TABLE_NAMES[name] as RightsTable));

/** A field of any table, by key, property or column (whether the table has it is checked by the endpoint). */
const AnyFieldName = z.enum(nonEmpty(unique(RIGHTS_TABLES.flatMap(fieldNamesOf))), { error: mustBe(`a field (${FIELDS_PER_TABLE}), by key, property or column name`) });

const TableRight = z.enum(TABLE_RIGHTS, { error: mustBe(`one of ${TABLE_RIGHTS.join(', ')}`) });
const FieldRight = z.enum(FIELD_RIGHTS, { error: mustBe(`one of ${FIELD_RIGHTS.join(', ')}`) });

const LEVEL_NAMES = Object.keys(TICKET_LEVEL_NAMES);
const ORIGIN_NAMES = Object.keys(LOGIN_ORIGIN_NAMES);
const LEVEL_TEXT = `one of ${LEVEL_NAMES.join(', ')} (0 = list, 1 = read, 2 = edit)`;
const ORIGIN_TEXT = `one of ${ORIGIN_NAMES.join(', ')} (1 = soap, 2 = web)`;
const levelOf = (name: string | number) => TICKET_LEVEL_NAMES[String(name)] ?? 0;
const originOf = (name: string | number) => LOGIN_ORIGIN_NAMES[String(name)] ?? 1;

/** A ticket access level in a query string. */
const LevelText = z.pipe(z.enum(nonEmpty(LEVEL_NAMES), { error: mustBe(LEVEL_TEXT) }), z.transform((v: string) => levelOf(v)));
/** A login origin in a query string. */
const OriginText = z.pipe(z.enum(nonEmpty(ORIGIN_NAMES), { error: mustBe(ORIGIN_TEXT) }), z.transform((v: string) => originOf(v)));
/** A level in a JSON body: 0, 1 or 2, or one of the names. */
const LevelInput = z.pipe(z.union([z.literal([0, 1, 2]), z.enum(nonEmpty(LEVEL_NAMES))], { error: mustBe(`0, 1, 2 or ${LEVEL_TEXT}`) }), z.transform((v: string | 0 | 1 | 2) => levelOf(v)));
const OriginInput = z.pipe(z.union([z.literal([1, 2]), z.enum(nonEmpty(ORIGIN_NAMES))], { error: mustBe(`1, 2 or ${ORIGIN_TEXT}`) }), z.transform((v: string | 1 | 2) => originOf(v)));

const RecordQuery = described(z.optional(RecordIdText), 'The record to ask about; without it, a new record (Web API strategy: its default entity).');

// --- Requests -------------------------------------------------------------------------------------

/** `{ctx}/{associateId}` of every rights route. */
export const RightsPath = { ctx: TenantId, associateId: AssociateId };

export const RightsRequests = {
  administrator: { path: z.strictObject(RightsPath) },
  table: {
    path: z.strictObject({ ...RightsPath, table: described(TableName, 'The table (`company` = `contact`, `customer` = `person`).') }),
    query: z.strictObject({ right: described(TableRight, 'The table right.'), recordId: RecordQuery }),
  },
  field: {
    path: z.strictObject({
      ...RightsPath,
      table: described(TableName, 'The table (`company` = `contact`, `customer` = `person`).'),
      field: described(AnyFieldName, `A field of the table, by key, property or column name (${FIELDS_PER_TABLE}); a field of another table is 404.`),
    }),
    query: z.strictObject({ right: described(FieldRight, 'The field right.'), recordId: RecordQuery }),
  },
  ticket: {
    path: z.strictObject({ ...RightsPath, ticketId: described(RecordIdText, 'The ticket.') }),
    query: z.strictObject({ level: described(LevelText, 'The access level: 0 or list, 1 or read, 2 or edit.') }),
  },
  loggedIn: {
    path: z.strictObject(RightsPath),
    query: z.strictObject({ origin: described(OriginText, 'The origin: 1 or soap, 2 or web.') }),
  },
} as const;

/** The field check of one table: the table by name or alias, one of its fields, the right. */
function fieldCheckOf(table: RightsTable) {
  return z.strictObject({
    check: z.literal('checkFieldRights'),
    table: z.pipe(z.enum(nonEmpty(tableNamesOf(table))), z.transform(() => table)),
    field: z.pipe(z.enum(nonEmpty(fieldNamesOf(table)), { error: mustBe(`a field of the ${table} table: ${TABLE_FIELDS[table].map((f) => f.key).join(', ')}`) }), z.transform((name) => findField(table, name)?.key ?? name)),
    right: FieldRight,
    recordId: z.optional(RecordIdInput),
  });
}

/** One question of a batch: `check` and its parameters; unknown members are refused. */
const CheckInput = z.discriminatedUnion('check', [
  z.strictObject({ check: z.literal('isAdministrator') }),
  z.strictObject({ check: z.literal('checkTableRights'), table: TableName, right: TableRight, recordId: z.optional(RecordIdInput) }),
  z.discriminatedUnion('table', [fieldCheckOf('contact'), fieldCheckOf('person'), fieldCheckOf('ticket')]),
  z.strictObject({ check: z.literal('hasTicketAccess'), ticketId: RecordIdInput, level: LevelInput }),
  z.strictObject({ check: z.literal('isLoggedIn'), origin: OriginInput }),
]);

/** The body of `POST /api/rights/{ctx}/{associateId}/checks`. */
export const RightsBatchBody = z.strictObject({
  checks: described(z.array(CheckInput).check(z.minLength(1), z.maxLength(MAX_BATCH_CHECKS)), `1 to ${MAX_BATCH_CHECKS} checks, answered in order.`),
});

/** The check a single route asks, with the values from its path and query (404 for a field the table does not have). */
export function fieldCheck(table: RightsTable, name: string, right: FieldRightName, recordId: number | undefined): RightsCheck {
  const field = findField(table, name);
  if (field === undefined) throw new BrokerError('not_found', `The ${table} table has no field ${name}; its fields are ${TABLE_FIELDS[table].map((f) => f.key).join(', ')}`);
  return { check: 'checkFieldRights', table, field: field.key, right, ...(recordId !== undefined ? { recordId } : {}) };
}

// --- Answers --------------------------------------------------------------------------------------

const RecordId = z.int().check(z.gte(1), z.lte(MAX_RECORD_ID));
const Source = z.enum(['id_token', 'webapi_rights_mask', 'crmscript'] as const satisfies readonly RightsSource[]);
const Strategy = z.enum(['webapi', 'crmscript'] as const satisfies readonly RightsStrategy[]);
const ALL_FIELD_KEYS = unique(RIGHTS_TABLES.flatMap((t) => TABLE_FIELDS[t].map((f) => f.key)));

/** The question as the broker understood it (normalised: canonical table, field key, numeric level and origin). */
const CheckAnswered = z.discriminatedUnion('check', [
  z.strictObject({ check: z.literal('isAdministrator') }),
  z.strictObject({ check: z.literal('checkTableRights'), table: z.enum(RIGHTS_TABLES), right: TableRight, recordId: z.optional(RecordId) }),
  z.strictObject({ check: z.literal('checkFieldRights'), table: z.enum(RIGHTS_TABLES), field: z.enum(nonEmpty(ALL_FIELD_KEYS)), right: FieldRight, recordId: z.optional(RecordId) }),
  z.strictObject({ check: z.literal('hasTicketAccess'), ticketId: RecordId, level: z.literal([0, 1, 2]) }),
  z.strictObject({ check: z.literal('isLoggedIn'), origin: z.literal([1, 2]) }),
]);

const Known = { allowed: z.boolean(), source: Source };
const Unknown = {
  allowed: z.literal('unknown'),
  source: Source,
  reason: z.enum(nonEmpty(Object.keys(UNKNOWN_DETAILS) as UnknownReason[])),
  detail: z.string(),
};
const Subject = { env: Environment, ctx: TenantId, associateId: AssociateId, strategy: Strategy };

/** The answer of a single route: `allowed` is true, false or "unknown" (with `reason` and `detail`). */
export const RightsSingleAnswer = z.union([
  z.strictObject({ ...Subject, check: CheckAnswered, ...Known }),
  z.strictObject({ ...Subject, check: CheckAnswered, ...Unknown }),
]);

/** The answer of the batch route: one result per check, in order. */
export const RightsBatchAnswer = z.strictObject({
  ...Subject,
  results: z.array(z.union([z.strictObject({ check: CheckAnswered, ...Known }), z.strictObject({ check: CheckAnswered, ...Unknown })])).check(z.minLength(1), z.maxLength(MAX_BATCH_CHECKS)),
});

/** The problem codes a rights route can answer besides the wrapper's. */
export const RIGHTS_ERRORS: readonly ErrorCode[] = [
  'not_found', 'not_connected', 'reauth_required', 'upstream_bad_response', 'upstream_unavailable', 'tenant_unavailable',
  'secret_store_unavailable', 'secret_store_throttled', 'overloaded', 'upstream_timeout',
];

export const RIGHTS_NOTE =
  "Asked as that user (their token, never the system user), with the tenant's strategy. The tenant and user are checked against the policy first (403), then the parameters (400; unknown query parameters are refused), then the connection (404 `not_connected`, 409 `reauth_required`, 503 `tenant_unavailable`).";

export const singleAnswer = (description: string): Readonly<Record<number, ResponseDeclaration>> => ({ 200: { description, body: RightsSingleAnswer } });

// --- Running --------------------------------------------------------------------------------------

export interface RightsSubject {
  readonly env: string;
  readonly ctx: string;
  readonly associateId: string;
}

/** The subject of a rights route (the policy checked it before the handler ran). */
export function rightsSubject(scope: RequestScope, path: { readonly ctx: string; readonly associateId: string }): RightsSubject {
  return { env: scope.runtime.config.superOffice.environment, ctx: path.ctx, associateId: path.associateId };
}

/** Runs the checks as the user and adds the audit facts (target, upstream status, flags). */
export async function runRightsChecks(scope: RequestScope, subject: RightsSubject, checks: readonly RightsCheck[]): Promise<RightsResult> {
  const service = scope.runtime.rights;
  const strategy = service.strategyOf(subject.ctx);
  const target = checks.length === 1 && checks[0] !== undefined ? describeCheck(checks[0]) : `checks(${checks.length})`;
  scope.annotate({ target: `rights ${target}`, flags: [`strategy_${strategy}`] });
  const result = await service.evaluate({
    ctx: subject.ctx,
    associateId: subject.associateId,
    checks,
    deadline: scope.deadline,
    signal: scope.signal,
    correlationId: scope.requestId,
    onUpstreamStatus: (upstreamStatus) => scope.annotate({ upstreamStatus }),
  });
  scope.annotate({
    flags: [`strategy_${strategy}`, ...result.flags],
    ...(result.upstreamStatus !== undefined ? { upstreamStatus: result.upstreamStatus } : {}),
  });
  return result;
}

/** One result: the normalised check and its answer. */
export type RightsResultItem = { readonly check: RightsCheck } & RightsAnswer;

function item(check: RightsCheck, answer: RightsAnswer | undefined): RightsResultItem {
  // evaluate() returns one answer per check; a missing one would be a bug, and is never shown as an answer.
  if (answer === undefined) throw new Error('rights: missing answer');
  return { check, ...answer };
}

/** Body of the single-check routes. */
export function singleBody(subject: RightsSubject, check: RightsCheck, result: RightsResult): Record<string, unknown> {
  return { env: subject.env, ctx: subject.ctx, associateId: subject.associateId, strategy: result.strategy, ...item(check, result.answers[0]) };
}

/** Body of the batch route. */
export function batchBody(subject: RightsSubject, checks: readonly RightsCheck[], result: RightsResult): Record<string, unknown> {
  return {
    env: subject.env,
    ctx: subject.ctx,
    associateId: subject.associateId,
    strategy: result.strategy,
    results: checks.map((check, i) => item(check, result.answers[i])),
  };
}
